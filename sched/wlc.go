package sched

// wlc is IPVS weighted least connection: the real server with the smallest
// overhead/weight, overhead being active*256 + inactive connections. Ties go
// to the first in list order.
type wlc struct{ base }

func newWLC(b *base) *wlc { return &wlc{base: *b} }

func (s *wlc) Pick(Flow) (int, bool) {
	return pickLeastRatio(&s.base, false)
}

// pickLeastRatio returns the up real server with the least cost/weight,
// first in list order on ties, comparing cross products as IPVS does
// (loh * w > doh * wl) but in 128 bits. The cost is active*256 + inactive
// (wlc), or active+1 when expected is set (sed).
func pickLeastRatio(b *base, expected bool) (int, bool) {
	if len(b.up) == 0 {
		return -1, false
	}
	cost := func(c *Counters) uint64 {
		if expected {
			return c.active() + 1
		}
		return c.overhead()
	}
	best := 0
	loh := cost(b.upCounter[0])
	lw := b.upWeight[0]
	for i := 1; i < len(b.up); i++ {
		doh := cost(b.upCounter[i])
		if greater128(loh, b.upWeight[i], doh, lw) {
			best, loh, lw = i, doh, b.upWeight[i]
		}
	}
	return int(b.up[best]), true
}
