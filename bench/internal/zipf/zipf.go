// Package zipf draws ranks from a Zipf law, P(k) ∝ k^-s for k in [1, n], with the
// rejection-inversion method of Hörmann and Derflinger ("Rejection-inversion to
// generate variates from monotone discrete distributions", 1996), as Apache Commons
// RNG does. Unlike math/rand's Zipf it takes any exponent s > 0, including the
// classic s = 1 of ad and web popularity; a draw costs O(1) (about 1.1 tries on
// average, a few logs and exps) and no table, so n may be 10 million or more.
package zipf

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Sampler draws Zipf-distributed ranks. It is not safe for concurrent use: give each
// goroutine its own (they are small).
type Sampler struct {
	r        *rand.Rand
	n        float64
	s        float64
	hX1      float64 // hIntegral(1.5) - 1
	hN       float64 // hIntegral(n + 0.5)
	accept   float64 // the squeeze: 2 - hIntegralInverse(hIntegral(2.5) - h(2))
	maxRankI int64
}

// New returns a sampler of ranks in [1, n] with exponent s > 0, drawing from r.
func New(r *rand.Rand, n int64, s float64) (*Sampler, error) {
	if n < 1 {
		return nil, fmt.Errorf("zipf: n must be ≥ 1, got %d", n)
	}
	if !(s > 0) || math.IsInf(s, 0) {
		return nil, fmt.Errorf("zipf: exponent must be > 0, got %v", s)
	}
	z := &Sampler{r: r, n: float64(n), s: s, maxRankI: n}
	z.hX1 = z.hIntegral(1.5) - 1
	z.hN = z.hIntegral(z.n + 0.5)
	z.accept = 2 - z.hIntegralInverse(z.hIntegral(2.5)-z.h(2))
	return z, nil
}

// Rank draws a rank in [1, n]; rank 1 is the most likely.
func (z *Sampler) Rank() int64 {
	for {
		u := z.hN + z.r.Float64()*(z.hX1-z.hN)
		x := z.hIntegralInverse(u)
		k := int64(x + 0.5)
		k = max(1, min(k, z.maxRankI))
		if float64(k)-x <= z.accept || u >= z.hIntegral(float64(k)+0.5)-z.h(float64(k)) {
			return k
		}
	}
}

// h is the (unnormalized) density x^-s.
func (z *Sampler) h(x float64) float64 { return math.Exp(-z.s * math.Log(x)) }

// hIntegral is an antiderivative of h: (x^(1-s) - 1) / (1-s), or log x at s = 1.
func (z *Sampler) hIntegral(x float64) float64 {
	lx := math.Log(x)
	return expm1Over((1-z.s)*lx) * lx
}

// hIntegralInverse inverts hIntegral.
func (z *Sampler) hIntegralInverse(x float64) float64 {
	t := x * (1 - z.s)
	if t < -1 { // rounding can push t just below -1; the limit is the right answer
		t = -1
	}
	return math.Exp(log1pOver(t) * x)
}

// log1pOver is log(1+x)/x, continuous at 0.
func log1pOver(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Log1p(x) / x
	}
	return 1 - x*(0.5-x*(1.0/3-0.25*x))
}

// expm1Over is (e^x - 1)/x, continuous at 0.
func expm1Over(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Expm1(x) / x
	}
	return 1 + x*0.5*(1+x/3*(1+0.25*x))
}
