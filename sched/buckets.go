package sched

import "sort"

// bucketTable lays out the sh/dh table for real servers in canonical order
// with layout weights lw (all > 0), IPVS style: real servers take turns, each
// filling as many consecutive buckets as its weight, until the table is full.
//
// IPVS uses a fixed 256-bucket table and raw weights, so with many real
// servers, or weights summing past 256, the last real servers get no bucket
// at all. Here weights are first divided by their greatest common divisor
// (and halved while they sum past 4096), the table has a power-of-two size of
// at least 256 and at least 16 buckets per unit of weight (at most 65536),
// and each real server's bucket count is its exact proportional share
// (largest remainder), so shares follow weights to within one bucket.
//
// Frozen: the layout decides which real server each client goes to.
func bucketTable(lw []uint64) []uint16 {
	if len(lw) == 0 {
		return nil
	}
	var g uint64
	for _, w := range lw {
		g = gcd(w, g)
	}
	nw := make([]uint64, len(lw))
	var sum uint64
	for shift := uint(0); ; shift++ {
		sum = 0
		big := false
		for i, w := range lw {
			nw[i] = max(w/g>>shift, 1)
			sum += nw[i]
			big = big || nw[i] > 1
		}
		if sum <= 4096 || !big {
			break
		}
	}
	size := uint64(256)
	for size < 16*sum && size < 1<<16 {
		size <<= 1
	}
	// Largest remainder apportionment of size buckets by nw.
	quota := make([]uint64, len(nw))
	rem := make([]uint64, len(nw))
	var given uint64
	for i, w := range nw {
		quota[i] = size * w / sum
		rem[i] = size * w % sum
		given += quota[i]
	}
	byRem := make([]int, len(nw))
	for i := range byRem {
		byRem[i] = i
	}
	sort.SliceStable(byRem, func(x, y int) bool { return rem[byRem[x]] > rem[byRem[y]] })
	for _, i := range byRem[:size-given] {
		quota[i]++
	}
	table := make([]uint16, 0, size)
	for uint64(len(table)) < size {
		for i, w := range nw {
			take := min(w, quota[i])
			quota[i] -= take
			for range take {
				table = append(table, uint16(i))
			}
		}
	}
	return table
}
