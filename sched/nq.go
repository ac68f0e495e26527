package sched

// nq is IPVS never queue: the first real server in list order with no active
// connection, else as sed the smallest (active+1)/weight.
type nq struct{ base }

func newNQ(b *base) *nq { return &nq{base: *b} }

func (s *nq) Pick(Flow) (int, bool) {
	if len(s.up) == 0 {
		return -1, false
	}
	best := -1
	var loh, lw uint64
	for i, c := range s.upCounter {
		a := c.active()
		if a == 0 {
			return int(s.up[i]), true
		}
		if doh := a + 1; best < 0 || greater128(loh, s.upWeight[i], doh, lw) {
			best, loh, lw = i, doh, s.upWeight[i]
		}
	}
	return int(s.up[best]), true
}
