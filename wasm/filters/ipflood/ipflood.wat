;; ipflood: clickagg filter ABI v1 example in WAT (wasm/ABI.md).
;;
;; Flags a click with reason 20 when its IP has clicked more than 30 times in the
;; current minute (by the click's TimeMs): score 500 at the 31st click, +25 per
;; click after, at most 1000, and the label fraud=ip_burst. Clicks with the unknown
;; (all-zero) IP are accepted without counting.
;;
;; The counts live in guest memory, so they are per instance: with a pool of P
;; instances an IP's clicks spread over up to P tables and the effective threshold
;; is up to P times higher. Run it with PoolSize 1 (it costs ~0.2 µs a call) or treat
;; it as an example of per-instance state; exact counting belongs to the core.
;; A replaced instance (after any failure) starts with empty counts.
;;
;; Build: wat2wasm ipflood.wat -o ipflood.wasm
;;
;; Memory (one 64 KiB page):
;;   64..     label key "fraud", 80.. label value "ip_burst"
;;   1024..   input buffer (clickagg_input), 2048 bytes
;;   4096..   1024 slots of 32 bytes, indexed by a hash of the IP; a colliding IP
;;            takes the slot over (counts restart, which errs toward not flagging):
;;              +0  ip        16 bytes
;;              +16 minute    i64, TimeMs / 60000
;;              +24 count     i32
(module
  (import "clickagg" "label" (func $label (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "fraud")
  (data (i32.const 80) "ip_burst")

  (global $input i32 (i32.const 1024))
  (global $table i32 (i32.const 4096))
  (global $threshold i32 (i32.const 30))

  (func (export "clickagg_abi_version") (result i32) (i32.const 1))
  (func (export "clickagg_input") (result i32) (global.get $input))

  ;; $slot returns the address of the slot for the IP at input+28 (16 bytes).
  (func $slot (result i32)
    (local $h i32)
    (local.set $h (i32.mul (i32.load offset=28 (global.get $input)) (i32.const 0x9e3779b1)))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.load offset=32 (global.get $input))) (i32.const 0x9e3779b1)))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.load offset=36 (global.get $input))) (i32.const 0x9e3779b1)))
    (local.set $h (i32.mul (i32.xor (local.get $h) (i32.load offset=40 (global.get $input))) (i32.const 0x9e3779b1)))
    (i32.add (global.get $table) (i32.shl (i32.shr_u (local.get $h) (i32.const 22)) (i32.const 5))))

  (func (export "clickagg_filter") (param $n i32) (result i64)
    (local $s i32) (local $minute i64) (local $count i32) (local $score i32)
    (local $ip0 i64) (local $ip1 i64)
    (local.set $ip0 (i64.load offset=28 (global.get $input)))
    (local.set $ip1 (i64.load offset=36 (global.get $input)))
    (if (i64.eqz (i64.or (local.get $ip0) (local.get $ip1)))
      (then (return (i64.const 0))))
    (local.set $minute (i64.div_s (i64.load (global.get $input)) (i64.const 60000)))
    (local.set $s (call $slot))
    (if (i32.and
          (i32.and
            (i64.eq (i64.load (local.get $s)) (local.get $ip0))
            (i64.eq (i64.load offset=8 (local.get $s)) (local.get $ip1)))
          (i64.eq (i64.load offset=16 (local.get $s)) (local.get $minute)))
      (then
        (local.set $count (i32.add (i32.load offset=24 (local.get $s)) (i32.const 1))))
      (else
        (i64.store (local.get $s) (local.get $ip0))
        (i64.store offset=8 (local.get $s) (local.get $ip1))
        (i64.store offset=16 (local.get $s) (local.get $minute))
        (local.set $count (i32.const 1))))
    (i32.store offset=24 (local.get $s) (local.get $count))
    (if (i32.le_u (local.get $count) (global.get $threshold))
      (then (return (i64.const 0))))
    ;; score = min(1000, 500 + 25 * (count - threshold - 1)), without overflow
    (local.set $score (i32.sub (local.get $count) (i32.add (global.get $threshold) (i32.const 1))))
    (if (i32.ge_u (local.get $score) (i32.const 20))
      (then (local.set $score (i32.const 1000)))
      (else (local.set $score (i32.add (i32.const 500) (i32.mul (i32.const 25) (local.get $score))))))
    (drop (call $label (i32.const 64) (i32.const 5) (i32.const 80) (i32.const 8)))
    ;; (20 << 32) | (score << 16) | 2
    (i64.or
      (i64.const 0x0000001400000002)
      (i64.shl (i64.extend_i32_u (local.get $score)) (i64.const 16))))
)
