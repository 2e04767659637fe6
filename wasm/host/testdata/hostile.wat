;; hostile: a filter that misbehaves on demand, for the host's containment tests.
;; The first byte of the click's user agent picks the misbehaviour; any other user
;; agent gets Accept, and "A..." gets Accept with two valid labels. After each
;; misbehaviour the same filter must go on answering good clicks correctly.
;;
;;   L  infinite loop                     (stopped by Options.Timeout)
;;   G  memory bomb: grow until refused,   then Flag with score = pages held
;;   T  unreachable                        (trap)
;;   Z  integer divide by zero             (trap)
;;   S  unbounded recursion                (trap: stack overflow)
;;   X  proc_exit(3)                       (trap: exit)
;;   O  log with an out-of-bounds pointer  (violation)
;;   H  hmac_verify, mac out of bounds     (violation)
;;   W  hmac_verify, 8-byte mac            (violation)
;;   E  hmac_verify called 9 times         (violation)
;;   P  label pointer that wraps around    (violation)
;;   K  label key of 33 bytes              (violation)
;;   M  label value "a b"                  (violation)
;;   N  5 labels                           (violation)
;;   D  duplicate label key                (violation)
;;   V  verdict with action 7              (violation)
;;   R  Reject with reason 0               (violation)
;;   I  log "hello" 6 times                (fine: 4 logged, 2 dropped)
;;
;; Build: wat2wasm hostile.wat -o hostile.wasm
(module
  (import "clickagg" "hmac_verify" (func $hmac (param i32 i32 i32 i32 i32) (result i32)))
  (import "clickagg" "label" (func $label (param i32 i32 i32 i32) (result i32)))
  (import "clickagg" "log" (func $log (param i32 i32 i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "kindgoodn1")                          ;; kind=good n=1
  (data (i32.const 96) "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")  ;; 33 bytes
  (data (i32.const 160) "a b")
  (data (i32.const 176) "abcde")
  (data (i32.const 200) "hello")

  (global $input i32 (i32.const 1024))

  (func (export "clickagg_abi_version") (result i32) (i32.const 1))
  (func (export "clickagg_input") (result i32) (global.get $input))

  ;; $ua returns the first byte of the user agent, 0 if empty.
  (func $ua (result i32)
    (local $p i32)
    (if (i32.eqz (i32.load16_u offset=52 (global.get $input))) (then (return (i32.const 0))))
    (local.set $p
      (i32.add
        (i32.add (global.get $input) (i32.const 56))
        (i32.add
          (i32.load16_u offset=46 (global.get $input))
          (i32.add
            (i32.load16_u offset=48 (global.get $input))
            (i32.load16_u offset=50 (global.get $input))))))
    (i32.load8_u (local.get $p)))

  (func $recurse (param $x i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get $x) (i32.const 1))) (i32.const 1)))

  (func (export "clickagg_filter") (param $n i32) (result i64)
    (local $c i32) (local $i i32)
    (local.set $c (call $ua))
    (if (i32.eq (local.get $c) (i32.const 76)) ;; L
      (then (loop $forever (br $forever))))
    (if (i32.eq (local.get $c) (i32.const 71)) ;; G
      (then
        (block $refused
          (loop $grow
            (br_if $refused (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))
            (br $grow)))
        (return (i64.or (i64.const 2) (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16))))))
    (if (i32.eq (local.get $c) (i32.const 84)) (then unreachable)) ;; T
    (if (i32.eq (local.get $c) (i32.const 90)) ;; Z
      (then (return (i64.extend_i32_u (i32.div_u (i32.const 1) (i32.sub (local.get $c) (i32.const 90)))))))
    (if (i32.eq (local.get $c) (i32.const 83)) ;; S
      (then (return (i64.extend_i32_u (call $recurse (i32.const 0))))))
    (if (i32.eq (local.get $c) (i32.const 88)) (then (call $exit (i32.const 3)))) ;; X
    (if (i32.eq (local.get $c) (i32.const 79)) ;; O
      (then (call $log (i32.const 1) (i32.const 65500) (i32.const 100))))
    (if (i32.eq (local.get $c) (i32.const 72)) ;; H
      (then (drop (call $hmac (i32.const 1) (i32.const 0) (i32.const 16) (i32.const 65530) (i32.const 16)))))
    (if (i32.eq (local.get $c) (i32.const 87)) ;; W
      (then (drop (call $hmac (i32.const 1) (i32.const 0) (i32.const 16) (i32.const 0) (i32.const 8)))))
    (if (i32.eq (local.get $c) (i32.const 69)) ;; E
      (then
        (loop $again
          (drop (call $hmac (i32.const 1) (i32.const 0) (i32.const 16) (i32.const 0) (i32.const 16)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $again (i32.lt_u (local.get $i) (i32.const 9))))))
    (if (i32.eq (local.get $c) (i32.const 80)) ;; P
      (then (drop (call $label (i32.const -1) (i32.const 2) (i32.const 68) (i32.const 4)))))
    (if (i32.eq (local.get $c) (i32.const 75)) ;; K
      (then (drop (call $label (i32.const 96) (i32.const 33) (i32.const 68) (i32.const 4)))))
    (if (i32.eq (local.get $c) (i32.const 77)) ;; M
      (then (drop (call $label (i32.const 64) (i32.const 4) (i32.const 160) (i32.const 3)))))
    (if (i32.eq (local.get $c) (i32.const 78)) ;; N: keys a, b, c, d, e
      (then
        (loop $more
          (drop (call $label (i32.add (i32.const 176) (local.get $i)) (i32.const 1) (i32.const 68) (i32.const 4)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $more (i32.lt_u (local.get $i) (i32.const 5))))))
    (if (i32.eq (local.get $c) (i32.const 68)) ;; D
      (then
        (drop (call $label (i32.const 64) (i32.const 4) (i32.const 68) (i32.const 4)))
        (drop (call $label (i32.const 64) (i32.const 4) (i32.const 68) (i32.const 4)))))
    (if (i32.eq (local.get $c) (i32.const 86)) (then (return (i64.const 7)))) ;; V
    (if (i32.eq (local.get $c) (i32.const 82)) (then (return (i64.const 1)))) ;; R
    (if (i32.eq (local.get $c) (i32.const 73)) ;; I
      (then
        (loop $again
          (call $log (i32.const 1) (i32.const 200) (i32.const 5))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $again (i32.lt_u (local.get $i) (i32.const 6))))))
    (if (i32.eq (local.get $c) (i32.const 65)) ;; A
      (then
        (drop (call $label (i32.const 64) (i32.const 4) (i32.const 68) (i32.const 4)))
        (drop (call $label (i32.const 72) (i32.const 1) (i32.const 73) (i32.const 1)))))
    (i64.const 0))
)
