;; bigmem: asks for 1000 pages up front, over the 256-page default (refused: ErrLimits).
;; Build: wat2wasm bigmem.wat -o bigmem.wasm
(module
  (memory (export "memory") 1000)
  (func (export "clickagg_abi_version") (result i32) (i32.const 1))
  (func (export "clickagg_input") (result i32) (i32.const 1024))
  (func (export "clickagg_filter") (param i32) (result i64) (i64.const 0))
)
