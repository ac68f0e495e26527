package sched

import "math/bits"

// Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable
// Software Network Load Balancer", NSDI 2016, section 3.4), weighted as the
// IPVS mh scheduler weights it.
//
// Each real server, in canonical order, has a permutation of the M table
// slots: offset, offset+skip, offset+2*skip, ... (mod M), where
//
//	offset = reduce(hash3(seedMaglevOffset, k0, k1, k2), M)
//	skip   = reduce(hash3(seedMaglevSkip,   k0, k1, k2), M-1) + 1
//
// and k0, k1, k2 are keyWords(address, port) of the real server. FROZEN: see
// hash.go. Since M is prime, every skip visits every slot. Real servers take
// turns claiming their next free preferred slot until the table is full.
//
// Weights (IPVS mh): with g the greatest common divisor of the layout
// weights and W the largest, a real server claims turns = (weight/g) >>
// shift slots per turn (at least 1), where shift makes W/g fit in 6 bits
// (shift = max(0, bitlen(W/g) - 6)). A real server with layout weight 0 has
// no turns and no slot.

// maglevTurnBits is IPVS's IP_VS_MH_TAB_BITS: turns keep at most this many
// significant bits.
const maglevTurnBits = 6

// maglevTurns returns IPVS mh's per-turn slot counts for layout weights lw.
func maglevTurns(lw []uint64) []uint64 {
	var g, mw uint64
	for _, w := range lw {
		if w > 0 {
			g = gcd(w, g)
			mw = max(mw, w)
		}
	}
	turns := make([]uint64, len(lw))
	if g == 0 {
		return turns
	}
	shift := max(bits.Len64(mw/g)-maglevTurnBits, 0)
	for i, w := range lw {
		if w > 0 {
			turns[i] = max((w/g)>>shift, 1)
		}
	}
	return turns
}

// maglevTable fills the lookup table of prime size m for real servers with
// the given keys (keyWords, canonical order) and turns. Entries are
// canonical indices. It returns nil when no real server has a turn.
func maglevTable(keys [][3]uint64, turns []uint64, m uint64) []uint16 {
	var total uint64
	for _, t := range turns {
		total += t
	}
	if total == 0 {
		return nil
	}
	next := make([]uint64, len(keys)) // each real server's current preferred slot
	skip := make([]uint64, len(keys))
	for i, k := range keys {
		next[i] = reduce(hash3(seedMaglevOffset, k[0], k[1], k[2]), m)
		skip[i] = reduce(hash3(seedMaglevSkip, k[0], k[1], k[2]), m-1) + 1
	}
	table := make([]uint16, m)
	taken := make([]uint64, (m+63)/64)
	var filled uint64
	for {
		for i, t := range turns {
			if t == 0 {
				continue
			}
			// c = (c + step) mod m without a branch: with back = step - m
			// (wrapping), c + back is negative as an int64 exactly when c +
			// step < m, and its sign bit adds m back.
			c, back := next[i], skip[i]-m
			for range t {
				for taken[c>>6]&(1<<(c&63)) != 0 {
					d := c + back
					c = d + m&uint64(int64(d)>>63)
				}
				taken[c>>6] |= 1 << (c & 63)
				table[c] = uint16(i)
				if filled++; filled == m {
					return table
				}
			}
			next[i] = c
		}
	}
}
