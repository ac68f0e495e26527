package sched

import (
	"math/rand/v2"
	"sort"
	"sync/atomic"
)

// wrr is IPVS interleaved weighted round robin. With weights divided by
// their greatest common divisor and U the largest, IPVS makes U passes over
// the real servers in list order; pass p (from 0) takes every real server
// whose weight is at least U-p. A cycle is therefore sum(weights) picks long
// and interleaves heavy and light real servers (weights 4,3,2 give
// a a b a b c a b c).
//
// IPVS walks that sequence under a lock; wrr instead turns one atomic
// counter into a position in the cycle. When the cycle is at most
// wrrTableMax picks long (any sane weights) the whole cycle is a table of
// real server indices. Otherwise the passes are grouped by the set of real
// servers they take (the set only changes at a distinct weight) and the
// position is found by binary search over the groups. Weight sets too large
// for either form (cycles of 2^32 picks or more) are scaled down by a power
// of two first, which keeps the proportions approximately.
//
// As rr, a new wrr starts at a random position in its cycle.
type wrr struct {
	base
	mod fastMod
	seq []uint16 // table form: the cycle, as real server indices
	// group form: group j covers cycle positions [groupEnd[j-1], groupEnd[j])
	// and takes members[groupStart[j]:groupStart[j+1]] round robin.
	groupEnd   []uint64
	groupStart []uint32
	members    []uint16 // real server indices
	_          cacheLinePad
	pos        atomic.Uint32 // position in the cycle; written by every worker
	_          cacheLinePad
}

// Limits of the two forms: a cycle table of 2 MiB, a group table of 8 MiB.
const (
	wrrTableMax   = 1 << 20
	wrrMembersMax = 1 << 22
)

func newWRR(b *base) *wrr { return newWRRLimit(b, wrrTableMax) }

// newWRRLimit builds wrr in table form if the cycle has at most tableMax
// picks.
func newWRRLimit(b *base, tableMax uint64) *wrr {
	s := &wrr{base: *b}
	if len(s.up) == 0 {
		return s
	}
	var g uint64
	for _, w := range s.upWeight {
		g = gcd(w, g)
	}
	w := make([]uint64, len(s.upWeight))
	for shift := uint(0); ; shift++ {
		for i, uw := range s.upWeight {
			w[i] = max(uw/g>>shift, 1)
		}
		if s.build(w, tableMax) {
			break
		}
	}
	s.pos.Store(rand.Uint32())
	return s
}

// build lays out the cycle for the normalised weights w (of the up real
// servers, in list order), in table form when the cycle has at most
// tableMax picks. It fails when neither form fits.
func (s *wrr) build(w []uint64, tableMax uint64) bool {
	var length uint64
	for _, x := range w {
		length += x
	}
	if length >= 1<<32 {
		return false
	}
	// Positions in up by weight descending, list order among equals.
	byWeight := make([]int, len(w))
	for i := range byWeight {
		byWeight[i] = i
	}
	sort.SliceStable(byWeight, func(x, y int) bool { return w[byWeight[x]] > w[byWeight[y]] })
	var membersLen uint64
	for i := range byWeight {
		if i+1 == len(byWeight) || w[byWeight[i+1]] != w[byWeight[i]] {
			membersLen += uint64(i + 1)
		}
	}
	if length > tableMax && membersLen > wrrMembersMax {
		return false
	}
	// Group j: the passes with threshold in (next distinct weight, u_j],
	// taking every real server of weight >= u_j, in list order.
	var set []int // positions in up, list order
	var groupEnd []uint64
	var groupStart []uint32
	var members []uint16
	var end uint64
	for i := 0; i < len(byWeight); {
		u := w[byWeight[i]]
		j := i
		for j < len(byWeight) && w[byWeight[j]] == u {
			j++
		}
		set = mergeSorted(set, byWeight[i:j])
		var next uint64
		if j < len(byWeight) {
			next = w[byWeight[j]]
		}
		groupStart = append(groupStart, uint32(len(members)))
		for _, p := range set {
			members = append(members, s.up[p])
		}
		end += (u - next) * uint64(len(set))
		groupEnd = append(groupEnd, end)
		i = j
	}
	groupStart = append(groupStart, uint32(len(members)))
	s.mod = newFastMod(uint32(length))
	if length <= tableMax {
		s.seq = make([]uint16, 0, length)
		var prev uint64
		for g, gEnd := range groupEnd {
			m := members[groupStart[g]:groupStart[g+1]]
			for range (gEnd - prev) / uint64(len(m)) {
				s.seq = append(s.seq, m...)
			}
			prev = gEnd
		}
		return true
	}
	s.groupEnd, s.groupStart, s.members = groupEnd, groupStart, members
	return true
}

// mergeSorted merges the ascending add (list order within equal weights)
// into the ascending set.
func mergeSorted(set, add []int) []int {
	out := make([]int, 0, len(set)+len(add))
	i, j := 0, 0
	for i < len(set) && j < len(add) {
		if set[i] < add[j] {
			out = append(out, set[i])
			i++
		} else {
			out = append(out, add[j])
			j++
		}
	}
	out = append(out, set[i:]...)
	return append(out, add[j:]...)
}

func (s *wrr) Pick(Flow) (int, bool) {
	if len(s.up) == 0 {
		return -1, false
	}
	k := s.mod.mod(s.pos.Add(1) - 1)
	if s.seq != nil {
		return int(s.seq[k]), true
	}
	return s.pickGroup(uint64(k)), true
}

func (s *wrr) pickGroup(k uint64) int {
	lo, hi := 0, len(s.groupEnd)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s.groupEnd[mid] > k {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	var start uint64
	if lo > 0 {
		start = s.groupEnd[lo-1]
	}
	m := s.members[s.groupStart[lo]:s.groupStart[lo+1]]
	return int(m[(k-start)%uint64(len(m))])
}
