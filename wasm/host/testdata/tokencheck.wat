;; tokencheck: a signature check in WAT, for host tests that need hmac_verify without
;; compiling a Go guest (~1.3 s), and to compare a Go guest's per-call cost with a
;; minimal one. It does not parse the token's fields like sigcheck does: it takes
;; the key id from the click and the last 16 token bytes as the MAC.
;;
;;   token shorter than 17 bytes   Reject 1
;;   hmac_verify: unknown key      Reject 2
;;   hmac_verify: mismatch         Reject 3
;;   otherwise                     Accept
;;
;; Build: wat2wasm tokencheck.wat -o tokencheck.wasm
(module
  (import "clickagg" "hmac_verify" (func $hmac (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $input i32 (i32.const 1024))

  (func (export "clickagg_abi_version") (result i32) (i32.const 1))
  (func (export "clickagg_input") (result i32) (global.get $input))

  (func (export "clickagg_filter") (param $n i32) (result i64)
    (local $tok i32) (local $len i32) (local $r i32)
    (local.set $tok (i32.add (global.get $input) (i32.const 56)))
    (local.set $len (i32.load16_u offset=46 (global.get $input)))
    (if (i32.lt_u (local.get $len) (i32.const 17))
      (then (return (i64.const 0x0000000100000001))))
    (local.set $r
      (call $hmac
        (i32.load offset=8 (global.get $input))
        (local.get $tok)
        (i32.sub (local.get $len) (i32.const 16))
        (i32.add (local.get $tok) (i32.sub (local.get $len) (i32.const 16)))
        (i32.const 16)))
    (if (i32.eqz (local.get $r)) (then (return (i64.const 0))))
    (if (i32.eq (local.get $r) (i32.const 1)) (then (return (i64.const 0x0000000200000001))))
    (i64.const 0x0000000300000001))
)
