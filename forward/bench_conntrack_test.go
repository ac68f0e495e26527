package forward

import (
	"fmt"
	"math/bits"
	"runtime"
	"testing"
	"unsafe"
)

// connBenchSizes are the live entries of the benchmark tables.
var connBenchSizes = []struct {
	name string
	n    int
}{{"1k", 1_000}, {"100k", 100_000}, {"1M", 1_000_000}, {"10M", 10_000_000}}

// connBenchLoads are the load factors, in percent of the slots.
var connBenchLoads = []int{50, 90}

// connBenchTable is a table filled to a load factor with testConnKey keys.
type connBenchTable struct {
	ct   *ConnTable
	keys []int32 // testConnKey indices of the entries
}

func newConnBenchTable(b *testing.B, n, load int) *connBenchTable {
	b.Helper()
	ct, err := NewConnTable(&ConnConfig{Capacity: n * 100 / load})
	if err != nil {
		b.Fatal(err)
	}
	bt := &connBenchTable{ct: ct, keys: make([]int32, 0, n)}
	for i := 0; len(bt.keys) < n; i++ {
		k := testConnKey(i)
		if _, ok := ct.Insert(&k, Conn{Backend: uint32(i), State: TCPEstablished}, 0); ok {
			bt.keys = append(bt.keys, int32(i))
		}
	}
	return bt
}

// reportBytes reports the table's memory per live entry and per slot.
func (bt *connBenchTable) reportBytes(b *testing.B) {
	mem := float64(len(bt.ct.buckets)) * float64(unsafe.Sizeof(connBucket{}))
	b.ReportMetric(mem/float64(bt.ct.Len()), "B/entry")
	b.ReportMetric(mem/float64(bt.ct.Slots()), "B/slot")
}

// connRand is xorshift64: a cheap generator for benchmark loops.
type connRand uint64

func (r *connRand) intn(n int) int {
	x := uint64(*r)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*r = connRand(x)
	hi, _ := bits.Mul64(x, uint64(n))
	return int(hi)
}

// forConnBenchTables runs f on a table of each size and load, built once
// for all of f's sub-benchmarks, outside the timer, and only when the
// -bench pattern selects it.
func forConnBenchTables(b *testing.B, f func(b *testing.B, bt *connBenchTable)) {
	for _, size := range connBenchSizes {
		for _, load := range connBenchLoads {
			if testing.Short() && size.n > 1_000_000 {
				continue
			}
			var bt *connBenchTable
			b.Run(fmt.Sprintf("%s/load=%d", size.name, load), func(b *testing.B) {
				if bt == nil {
					bt = newConnBenchTable(b, size.n, load)
				}
				f(b, bt)
			})
			if bt != nil {
				bt = nil
				runtime.GC()
			}
		}
	}
}

// probes returns keys of bt's entries in random order, to look up
// in turn. Reading them is sequential, so it costs the same whatever the
// table's size.
func (bt *connBenchTable) probes(dstPort uint16) []FlowKey {
	keys := make([]FlowKey, 1<<16)
	r := connRand(88172645463325252)
	for i := range keys {
		keys[i] = testConnKey(int(bt.keys[r.intn(len(bt.keys))]))
		keys[i].DstPort = dstPort
	}
	return keys
}

// BenchmarkConnLookup looks up keys in tables of 1k to 10M entries at 50%
// and 90% of their slots:
//
//   - hit: keys drawn at random from the whole table, so large tables miss
//     the CPU caches and TLBs as a production table does;
//   - hit-hot: keys drawn from 1024 entries, whose cache lines stay cached:
//     the probe's own cost, which should not grow with the table;
//   - miss: keys not in the table (another destination port).
func BenchmarkConnLookup(b *testing.B) {
	forConnBenchTables(b, func(b *testing.B, bt *connBenchTable) {
		for _, bm := range []struct {
			name  string
			keys  []FlowKey
			found bool
		}{
			{"hit", bt.probes(80), true},
			{"hit-hot", bt.probes(80)[:1024], true},
			{"miss", bt.probes(81), false},
		} {
			b.Run(bm.name, func(b *testing.B) {
				b.ReportAllocs()
				mask := len(bm.keys) - 1
				for i := 0; b.Loop(); i++ {
					if (bt.ct.Lookup(&bm.keys[i&mask], 1) != nil) != bm.found {
						b.Fatal("wrong lookup result")
					}
				}
				bt.reportBytes(b)
			})
		}
	})
}

// BenchmarkConnInsert measures a new flow and the end of an old one: each
// op inserts a new key and deletes the oldest, so the load stays put.
func BenchmarkConnInsert(b *testing.B) {
	forConnBenchTables(b, func(b *testing.B, bt *connBenchTable) {
		// bt.keys is a ring of the live keys, oldest at old.
		next := int(bt.keys[len(bt.keys)-1]) + 1
		old := 0
		batch := min(1024, len(bt.keys))
		fails := 0
		keys := [2][]FlowKey{make([]FlowKey, batch), make([]FlowKey, batch)} // the next keys to insert, and to delete
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			j := i % batch
			if j == 0 {
				b.StopTimer()
				for x := range batch {
					keys[0][x] = testConnKey(next + x)
					keys[1][x] = testConnKey(int(bt.keys[(old+x)%len(bt.keys)]))
				}
				b.StartTimer()
			}
			bt.ct.Delete(&keys[1][j], 1)
			if _, ok := bt.ct.Insert(&keys[0][j], Conn{Backend: 1, State: TCPSynRecv}, 1); !ok {
				fails++ // the key's later Delete misses
			}
			bt.keys[old] = int32(next + j)
			old = (old + 1) % len(bt.keys)
			if j == batch-1 {
				next += batch
			}
		}
		bt.reportBytes(b)
		b.ReportMetric(float64(fails)/float64(b.N), "fails/op")
	})
}

// BenchmarkConnSweep measures Sweep visiting 64 slots a call in a table
// where nothing expires.
func BenchmarkConnSweep(b *testing.B) {
	forConnBenchTables(b, func(b *testing.B, bt *connBenchTable) {
		b.ReportAllocs()
		for b.Loop() {
			bt.ct.Sweep(1, 64)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/64, "ns/slot")
	})
}

// BenchmarkConnUpdate measures the TCP state machine alone.
func BenchmarkConnUpdate(b *testing.B) {
	st, _ := NewStateTimeouts(Timeouts{})
	flags := [...]uint8{TCPSyn, TCPAck, TCPAck | TCPPsh, TCPAck, TCPFin | TCPAck, TCPAck, TCPRst}
	c := Conn{State: TCPNone}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Update(flags[i%len(flags)], Tick(i), &st)
	}
}

// BenchmarkConnPacket is a packet of a known flow: Lookup, then Update.
func BenchmarkConnPacket(b *testing.B) {
	bt := newConnBenchTable(b, 1_000_000, 50)
	keys := bt.probes(80)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		bt.ct.Lookup(&keys[i&(len(keys)-1)], 1).Update(TCPAck, 1, bt.ct.Timeouts())
	}
	bt.reportBytes(b)
}
