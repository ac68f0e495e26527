package sched

import (
	"cmp"
	"slices"
)

// hashTable is the lookup side shared by sh, dh and mh: a table of slots
// looked up by a frozen hash. The tables are built with canonical indices
// (the byte-identical form two load balancers agree on) and stored with the
// caller's indices, which is what Pick returns.
type hashTable struct {
	slots []uint16 // caller's index per slot; empty when no real server has a layout weight
	perm  []uint16 // canonical index -> caller's index
	up    []bool   // by caller's index: Weight > 0
	anyUp bool     // some real server in the table has Weight > 0
}

// srcHash is sh and mh, which differ only in how their tables are laid
// out: the client address (and source port, with the port option) hashes
// to a slot, and the slot's real server gets the flow; with fallback, a
// quiesced one's flows go to another.
type srcHash struct {
	base
	t        hashTable
	port     bool
	fallback bool
}

func (s *srcHash) Pick(f Flow) (int, bool) {
	var port uint16
	if s.port {
		port = f.srcPort()
	}
	h := flowHash(f.Src, port)
	if s.fallback {
		return s.t.getFallback(h)
	}
	return s.t.get(h)
}

// fallbackRehashes is how many rehashes a fallback lookup tries before it
// walks the table slot by slot. Frozen: it decides where a quiesced real
// server's clients go.
const fallbackRehashes = 32

// canonical returns the indices of the real servers that have a layout
// weight, sorted by the frozen canonical key: address family, the 16-byte
// address, port. Real servers are distinct, so the order is total.
func canonical(backends []Backend) []uint16 {
	type key struct {
		fam, hi, lo uint64
		port        uint16
		idx         uint16
	}
	keys := make([]key, 0, len(backends))
	for i := range backends {
		if backends[i].layoutWeight() > 0 {
			a := backends[i].Addr
			hi, lo, fam := addrWords(a.Addr())
			keys = append(keys, key{fam, hi, lo, a.Port(), uint16(i)})
		}
	}
	slices.SortFunc(keys, func(x, y key) int {
		if c := cmp.Compare(x.fam, y.fam); c != 0 {
			return c
		}
		if c := cmp.Compare(x.hi, y.hi); c != 0 {
			return c
		}
		if c := cmp.Compare(x.lo, y.lo); c != 0 {
			return c
		}
		return cmp.Compare(x.port, y.port)
	})
	idx := make([]uint16, len(keys))
	for i, k := range keys {
		idx[i] = k.idx
	}
	return idx
}

// newHashTable takes a table of canonical indices and rewrites it in place
// with the caller's indices.
func newHashTable(b *base, perm []uint16, slots []uint16) hashTable {
	for i, c := range slots {
		slots[i] = perm[c]
	}
	t := hashTable{slots: slots, perm: perm, up: make([]bool, len(b.backends))}
	for i := range b.backends {
		t.up[i] = b.backends[i].Weight > 0
	}
	for _, i := range perm {
		t.anyUp = t.anyUp || t.up[i]
	}
	return t
}

// get returns the real server in h's slot if it can take new flows.
func (t *hashTable) get(h uint64) (int, bool) {
	if len(t.slots) == 0 {
		return -1, false
	}
	i := int(t.slots[reduce(h, uint64(len(t.slots)))])
	if !t.up[i] {
		return -1, false
	}
	return i, true
}

// getFallback is get, but when h's real server is quiesced it rehashes up to
// fallbackRehashes times and then walks the table from the last slot tried
// to the first real server that can take the flow. Frozen, like the hash.
// IPVS's mh fallback also rehashes (with an offset); its sh fallback walks
// the table, which piles a quiesced real server's clients onto its table
// neighbour where rehashing spreads them over all the others.
func (t *hashTable) getFallback(h uint64) (int, bool) {
	if i, ok := t.get(h); ok || !t.anyUp {
		return i, ok
	}
	n := uint64(len(t.slots))
	var c uint64
	for k := uint64(1); k <= fallbackRehashes; k++ {
		c = reduce(rehash(h, k), n)
		if i := int(t.slots[c]); t.up[i] {
			return i, true
		}
	}
	for range n {
		if c++; c == n {
			c = 0
		}
		if i := int(t.slots[c]); t.up[i] {
			return i, true
		}
	}
	return -1, false // not reached: anyUp
}
