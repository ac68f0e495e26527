package sched

// fo is IPVS weighted failover: every new flow goes to the real server with
// the highest weight, the first in list order on ties. Weights are fixed for
// a snapshot, so the choice is made once, in New.
type fo struct {
	base
	pick int // -1 when every real server is quiesced
}

func newFO(b *base) *fo {
	s := &fo{base: *b, pick: -1}
	var hw uint64
	for i, w := range s.upWeight {
		if w > hw {
			s.pick, hw = int(s.up[i]), w
		}
	}
	return s
}

func (s *fo) Pick(Flow) (int, bool) { return s.pick, s.pick >= 0 }
