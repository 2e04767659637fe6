;; import_env: imports from an unknown module (refused: ErrImport).
;; Build: wat2wasm import_env.wat -o import_env.wasm
(module
  (import "env" "abort" (func))
  (memory (export "memory") 1)
  (func (export "clickagg_abi_version") (result i32) (i32.const 1))
  (func (export "clickagg_input") (result i32) (i32.const 1024))
  (func (export "clickagg_filter") (param i32) (result i64) (i64.const 0))
)
