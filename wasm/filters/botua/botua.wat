;; botua: clickagg filter ABI v1 example in WAT (wasm/ABI.md).
;;
;; Rejects a click with reason 10 when its user agent contains "bot", "crawler" or
;; "spider", ignoring ASCII case; accepts it otherwise. No imports, no state.
;;
;; Build: wat2wasm botua.wat -o botua.wasm
;;
;; Memory (one 64 KiB page):
;;   16..    needles, lower case
;;   1024..  input buffer (clickagg_input), 2048 bytes: the encoded click
;;
;; Cost: one pass over the user agent (at most 512 bytes), 8 bytes per loop
;; iteration, comparing a needle only where its first letter may be. Under a CPU
;; limit wazero leaves the guest at every loop iteration (~30-40 ns) to check it, so
;; fewer iterations matter more than cheaper ones: a byte-per-iteration version of
;; this filter cost ~6.5 µs for a 110-byte user agent, this one ~2.6 µs.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "bot")
  (data (i32.const 24) "crawler")
  (data (i32.const 32) "spider")

  (global $input i32 (i32.const 1024))

  (func (export "clickagg_abi_version") (result i32) (i32.const 1))
  (func (export "clickagg_input") (result i32) (global.get $input))

  ;; $lower returns ASCII byte $b in lower case.
  (func $lower (param $b i32) (result i32)
    (if (result i32)
        (i32.lt_u (i32.sub (local.get $b) (i32.const 65)) (i32.const 26))
      (then (i32.or (local.get $b) (i32.const 32)))
      (else (local.get $b))))

  ;; $at reports whether the lower-case needle [$nee, $nee+$nlen) occurs at $p,
  ;; where $left bytes of the user agent remain.
  (func $at (param $p i32) (param $left i32) (param $nee i32) (param $nlen i32) (result i32)
    (local $j i32)
    (if (i32.lt_u (local.get $left) (local.get $nlen)) (then (return (i32.const 0))))
    (local.set $j (i32.const 1)) ;; the first letter already matched
    (loop $next
      (if (i32.ge_u (local.get $j) (local.get $nlen)) (then (return (i32.const 1))))
      (if (i32.ne
            (call $lower (i32.load8_u (i32.add (local.get $p) (local.get $j))))
            (i32.load8_u (i32.add (local.get $nee) (local.get $j))))
        (then (return (i32.const 0))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $next))
    (i32.const 0))

  ;; $try reports whether a needle starts at $p, before $end.
  (func $try (param $p i32) (param $end i32) (result i32)
    (local $c i32) (local $left i32)
    (if (i32.ge_u (local.get $p) (local.get $end)) (then (return (i32.const 0))))
    (local.set $c (call $lower (i32.load8_u (local.get $p))))
    (local.set $left (i32.sub (local.get $end) (local.get $p)))
    (if (i32.eq (local.get $c) (i32.const 98)) ;; b
      (then (return (call $at (local.get $p) (local.get $left) (i32.const 16) (i32.const 3)))))
    (if (i32.eq (local.get $c) (i32.const 99)) ;; c
      (then (return (call $at (local.get $p) (local.get $left) (i32.const 24) (i32.const 7)))))
    (if (i32.eq (local.get $c) (i32.const 115)) ;; s
      (then (return (call $at (local.get $p) (local.get $left) (i32.const 32) (i32.const 6)))))
    (i32.const 0))

  ;; $has reports whether a byte of $w may equal $t (SWAR zero-byte test: no false
  ;; negatives, rare false positives, which $try then rejects).
  (func $has (param $w i64) (param $t i64) (result i32)
    (local $x i64)
    (local.set $x (i64.xor (local.get $w) (i64.mul (local.get $t) (i64.const 0x0101010101010101))))
    (i64.ne (i64.const 0)
      (i64.and
        (i64.and (i64.sub (local.get $x) (i64.const 0x0101010101010101))
                 (i64.xor (local.get $x) (i64.const -1)))
        (i64.const 0x8080808080808080))))

  ;; clickagg_filter(len) -> packed verdict: 0 accept, (10 << 32) | 1 reject.
  (func (export "clickagg_filter") (param $n i32) (result i64)
    (local $p i32) (local $end i32) (local $w i64)
    ;; The user agent follows the 56-byte header, the token, the ad id and the user
    ;; id; their lengths are u16 at offsets 46, 48 and 50, its own at 52.
    (local.set $p
      (i32.add
        (i32.add (global.get $input) (i32.const 56))
        (i32.add
          (i32.load16_u offset=46 (global.get $input))
          (i32.add
            (i32.load16_u offset=48 (global.get $input))
            (i32.load16_u offset=50 (global.get $input))))))
    (local.set $end (i32.add (local.get $p) (i32.load16_u offset=52 (global.get $input))))
    ;; 8 bytes per iteration: OR 0x20 folds B, C, S onto b, c, s, and a block with
    ;; none of them is skipped. Reading up to 7 bytes past the user agent stays in
    ;; the input buffer (a click is at most 1528 of its 2048 bytes); $try ignores
    ;; them. The 8 tries are unrolled: calls cost no termination check.
    (block $done
      (loop $scan
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $w (i64.or (i64.load (local.get $p)) (i64.const 0x2020202020202020)))
        (if (i32.or (call $has (local.get $w) (i64.const 98))
              (i32.or (call $has (local.get $w) (i64.const 99)) (call $has (local.get $w) (i64.const 115))))
          (then
            (if (i32.or
                  (i32.or
                    (i32.or (call $try (local.get $p) (local.get $end))
                            (call $try (i32.add (local.get $p) (i32.const 1)) (local.get $end)))
                    (i32.or (call $try (i32.add (local.get $p) (i32.const 2)) (local.get $end))
                            (call $try (i32.add (local.get $p) (i32.const 3)) (local.get $end))))
                  (i32.or
                    (i32.or (call $try (i32.add (local.get $p) (i32.const 4)) (local.get $end))
                            (call $try (i32.add (local.get $p) (i32.const 5)) (local.get $end)))
                    (i32.or (call $try (i32.add (local.get $p) (i32.const 6)) (local.get $end))
                            (call $try (i32.add (local.get $p) (i32.const 7)) (local.get $end)))))
              (then (return (i64.const 0x0000000a00000001))))))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (br $scan)))
    (i64.const 0))
)
