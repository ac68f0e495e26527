package sched

import "math/rand/v2"

// twos is IPVS power of two choices: draw two real servers at random with
// probability proportional to weight, and take the one with the smaller
// overhead/weight (overhead = active*256 + inactive); the first draw on ties.
//
// The random source is math/rand/v2's top-level generator, which reads the
// runtime's per-thread ChaCha8 state: no lock, no allocation, no shared
// cache line between workers.
//
// IPVS draws from [0, total weight] inclusive, which gives the first real
// server one share too many; twos draws from [0, total) so shares are exactly
// proportional to weights.
type twos struct {
	base
	cum   []uint64 // cum[i] = sum of upWeight[0..i]
	total uint64
	rnd   func(n uint64) uint64 // uniform in [0, n); tests replace it
}

func newTwoS(b *base) *twos {
	s := &twos{base: *b, cum: make([]uint64, len(b.up)), rnd: rand.Uint64N}
	for i, w := range s.upWeight {
		s.total += w
		s.cum[i] = s.total
	}
	return s
}

// draw maps r in [0, total) to the position in up whose weight interval
// holds it.
func (s *twos) draw(r uint64) int {
	lo, hi := 0, len(s.cum)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s.cum[mid] > r {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

func (s *twos) Pick(Flow) (int, bool) {
	switch len(s.up) {
	case 0:
		return -1, false
	case 1:
		return int(s.up[0]), true
	}
	c1 := s.draw(s.rnd(s.total))
	c2 := s.draw(s.rnd(s.total))
	oh1 := s.upCounter[c1].overhead()
	oh2 := s.upCounter[c2].overhead()
	if greater128(s.upWeight[c2], oh1, s.upWeight[c1], oh2) {
		c1 = c2
	}
	return int(s.up[c1]), true
}
