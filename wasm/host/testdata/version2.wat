;; version2: declares ABI version 2 (refused: ErrABIVersion).
;; Build: wat2wasm version2.wat -o version2.wasm
(module
  (memory (export "memory") 1)
  (func (export "clickagg_abi_version") (result i32) (i32.const 2))
  (func (export "clickagg_input") (result i32) (i32.const 1024))
  (func (export "clickagg_filter") (param i32) (result i64) (i64.const 0))
)
