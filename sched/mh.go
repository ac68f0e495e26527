package sched

// newMH builds IPVS Maglev hashing (mh): the client address (and port, with mh-port)
// hashes to a slot of a Maglev lookup table of M slots (M prime, 65537 by
// default) and the slot's real server gets the flow. Adding or removing one
// real server moves few clients between the others. When the client's real
// server is quiesced the flow gets no real server, unless mh-fallback sends
// it to another one.
func newMH(b *base, m uint32, port, fallback bool) *srcHash {
	s := &srcHash{base: *b, port: port, fallback: fallback}
	perm := canonical(b.backends)
	keys := make([][3]uint64, len(perm))
	lw := make([]uint64, len(perm))
	for c, i := range perm {
		be := &b.backends[i]
		hi, lo, third := keyWords(be.Addr.Addr(), be.Addr.Port())
		keys[c] = [3]uint64{hi, lo, third}
		lw[c] = be.layoutWeight()
	}
	s.t = newHashTable(b, perm, maglevTable(keys, maglevTurns(lw), uint64(m)))
	return s
}
