;; input_oob: its input buffer lies past the end of memory (refused: ErrExport).
;; Build: wat2wasm input_oob.wat -o input_oob.wasm
(module
  (memory (export "memory") 1)
  (func (export "clickagg_abi_version") (result i32) (i32.const 1))
  (func (export "clickagg_input") (result i32) (i32.const 65000))
  (func (export "clickagg_filter") (param i32) (result i64) (i64.const 0))
)
