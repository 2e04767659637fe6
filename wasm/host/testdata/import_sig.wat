;; import_sig: imports clickagg.log with the wrong signature (refused: ErrImport).
;; Build: wat2wasm import_sig.wat -o import_sig.wasm
(module
  (import "clickagg" "log" (func (param i32)))
  (memory (export "memory") 1)
  (func (export "clickagg_abi_version") (result i32) (i32.const 1))
  (func (export "clickagg_input") (result i32) (i32.const 1024))
  (func (export "clickagg_filter") (param i32) (result i64) (i64.const 0))
)
