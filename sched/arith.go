package sched

import "math/bits"

// fastMod computes x mod d for 32-bit x with two multiplications instead of
// a division (Lemire, Kaser and Kurz, "Faster remainder by direct
// computation", 2019). The zero fastMod is unusable; build it with
// newFastMod.
type fastMod struct {
	m uint64 // ceil(2^64 / d)
	d uint64
}

func newFastMod(d uint32) fastMod {
	return fastMod{m: ^uint64(0)/uint64(d) + 1, d: uint64(d)}
}

func (f fastMod) mod(x uint32) uint32 {
	hi, _ := bits.Mul64(f.m*uint64(x), f.d)
	return uint32(hi)
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// greater128 reports whether a*b > c*d without overflow: the IPVS
// "loh * dest->weight > doh * least->weight" comparisons.
func greater128(a, b, c, d uint64) bool {
	h1, l1 := bits.Mul64(a, b)
	h2, l2 := bits.Mul64(c, d)
	return h1 > h2 || (h1 == h2 && l1 > l2)
}

func isPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	for p := uint64(2); p*p <= n; p++ {
		if n%p == 0 {
			return false
		}
	}
	return true
}
