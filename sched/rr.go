package sched

import (
	"math/rand/v2"
	"sync/atomic"
)

// rr is IPVS round robin: each new flow goes to the next real server in
// list order, skipping quiesced ones (weight 0).
//
// IPVS keeps its position across destination changes; a snapshot rebuild
// cannot, so each new rr starts at a random position instead of always at the
// first real server, which would favour it when snapshots change often.
type rr struct {
	base
	mod fastMod
	_   cacheLinePad
	pos atomic.Uint32 // next position in up; written by every worker
	_   cacheLinePad
}

func newRR(b *base) *rr {
	s := &rr{base: *b}
	if len(s.up) > 0 {
		s.mod = newFastMod(uint32(len(s.up)))
	}
	s.pos.Store(rand.Uint32())
	return s
}

func (s *rr) Pick(Flow) (int, bool) {
	if len(s.up) == 0 {
		return -1, false
	}
	k := s.pos.Add(1) - 1
	return int(s.up[s.mod.mod(k)]), true
}
