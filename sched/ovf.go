package sched

import "sort"

// ovf is IPVS overflow: new flows go to the real server with the highest
// weight until its active connections exceed its weight, then overflow to the
// next highest weight, and so on (first in list order on equal weights).
// Only active connections count, so it suits TCP better than UDP.
type ovf struct {
	base
	order []int // positions in up, by weight descending then list order
}

func newOVF(b *base) *ovf {
	s := &ovf{base: *b, order: make([]int, len(b.up))}
	for i := range s.order {
		s.order[i] = i
	}
	sort.SliceStable(s.order, func(x, y int) bool {
		return s.upWeight[s.order[x]] > s.upWeight[s.order[y]]
	})
	return s
}

func (s *ovf) Pick(Flow) (int, bool) {
	for _, i := range s.order {
		if s.upCounter[i].active() <= s.upWeight[i] {
			return int(s.up[i]), true
		}
	}
	return -1, false
}
