package sched

// newSH builds IPVS source hashing (sh): the client address (and port, with sh-port)
// hashes to a bucket of a weighted table, and the bucket's real server gets
// the flow. The same client goes to the same real server as long as the set
// of real servers and their layout weights stay the same, on every load
// balancer. When that real server is quiesced the flow gets no real server,
// unless sh-fallback sends it to another one.
func newSH(b *base, port, fallback bool) *srcHash {
	s := &srcHash{base: *b, port: port, fallback: fallback}
	s.t = newLayoutTable(b)
	return s
}

// newLayoutTable builds the sh/dh bucket table over the real servers that
// have a layout weight, in canonical order.
func newLayoutTable(b *base) hashTable {
	perm := canonical(b.backends)
	lw := make([]uint64, len(perm))
	for c, i := range perm {
		lw[c] = b.backends[i].layoutWeight()
	}
	return newHashTable(b, perm, bucketTable(lw))
}
