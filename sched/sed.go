package sched

// sed is IPVS shortest expected delay: the real server with the smallest
// (active+1)/weight. Unlike wlc it counts only active connections and
// includes the flow being scheduled. Ties go to the first in list order.
type sed struct{ base }

func newSED(b *base) *sed { return &sed{base: *b} }

func (s *sed) Pick(Flow) (int, bool) {
	return pickLeastRatio(&s.base, true)
}
