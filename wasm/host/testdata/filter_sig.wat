;; filter_sig: clickagg_filter returns i32 (refused: ErrExport).
;; Build: wat2wasm filter_sig.wat -o filter_sig.wasm
(module
  (memory (export "memory") 1)
  (func (export "clickagg_abi_version") (result i32) (i32.const 1))
  (func (export "clickagg_input") (result i32) (i32.const 1024))
  (func (export "clickagg_filter") (param i32) (result i32) (i32.const 0))
)
