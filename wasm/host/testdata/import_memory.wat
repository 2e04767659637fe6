;; import_memory: imports its memory (refused: ErrImport).
;; Build: wat2wasm import_memory.wat -o import_memory.wasm
(module
  (import "env" "memory" (memory 1))
  (export "memory" (memory 0))
  (func (export "clickagg_abi_version") (result i32) (i32.const 1))
  (func (export "clickagg_input") (result i32) (i32.const 1024))
  (func (export "clickagg_filter") (param i32) (result i64) (i64.const 0))
)
