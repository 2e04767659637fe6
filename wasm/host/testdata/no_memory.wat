;; no_memory: exports no memory (refused: ErrExport).
;; Build: wat2wasm no_memory.wat -o no_memory.wasm
(module
  (memory 1)
  (func (export "clickagg_abi_version") (result i32) (i32.const 1))
  (func (export "clickagg_input") (result i32) (i32.const 1024))
  (func (export "clickagg_filter") (param i32) (result i64) (i64.const 0))
)
