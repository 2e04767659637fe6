;; init_trap: _initialize traps (refused: ErrInstantiate).
;; Build: wat2wasm init_trap.wat -o init_trap.wasm
(module
  (memory (export "memory") 1)
  (func (export "clickagg_abi_version") (result i32) (i32.const 1))
  (func (export "clickagg_input") (result i32) (i32.const 1024))
  (func (export "clickagg_filter") (param i32) (result i64) (i64.const 0))
  (func (export "_initialize") unreachable)
)
