package sched

// lc is IPVS least connection: the real server with the smallest overhead,
// active*256 + inactive connections, ignoring weights except that weight 0
// quiesces. Ties go to the first in list order.
type lc struct{ base }

func newLC(b *base) *lc { return &lc{base: *b} }

func (s *lc) Pick(Flow) (int, bool) {
	best := -1
	var least uint64
	for i, c := range s.upCounter {
		if oh := c.overhead(); best < 0 || oh < least {
			best, least = i, oh
		}
	}
	if best < 0 {
		return -1, false
	}
	return int(s.up[best]), true
}
