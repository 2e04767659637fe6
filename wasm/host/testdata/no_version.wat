;; no_version: does not export clickagg_abi_version (refused: ErrExport).
;; Build: wat2wasm no_version.wat -o no_version.wasm
(module
  (memory (export "memory") 1)
  (func (export "clickagg_input") (result i32) (i32.const 1024))
  (func (export "clickagg_filter") (param i32) (result i64) (i64.const 0))
)
