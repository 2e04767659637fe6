;; start_loop: a start function that never returns (refused under a Timeout: ErrInstantiate).
;; Build: wat2wasm start_loop.wat -o start_loop.wasm
(module
  (memory (export "memory") 1)
  (func (export "clickagg_abi_version") (result i32) (i32.const 1))
  (func (export "clickagg_input") (result i32) (i32.const 1024))
  (func (export "clickagg_filter") (param i32) (result i64) (i64.const 0))
  (func $spin (loop (br 0)))
  (start $spin)
)
