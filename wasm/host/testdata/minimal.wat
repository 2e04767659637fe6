;; minimal: the smallest valid filter; accepts everything (the empty-call baseline).
;; Build: wat2wasm minimal.wat -o minimal.wasm
(module
  (memory (export "memory") 1)
  (func (export "clickagg_abi_version") (result i32) (i32.const 1))
  (func (export "clickagg_input") (result i32) (i32.const 1024))
  (func (export "clickagg_filter") (param i32) (result i64) (i64.const 0))
)
