package sched

// dh is IPVS destination hashing: as sh, but it hashes the flow's
// destination address, so every flow to one destination goes to the same
// real server (cache clusters behind a firewall mark service). It has no
// flags: a flow whose real server is quiesced gets no real server.
type dh struct {
	base
	t hashTable
}

func newDH(b *base) *dh {
	s := &dh{base: *b}
	s.t = newLayoutTable(b)
	return s
}

func (s *dh) Pick(f Flow) (int, bool) {
	return s.t.get(flowHash(f.Dst, 0))
}
