package sched_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/schedtest"
	"github.com/govs-lb/govs/sched"
)

// benchBackends returns 100 real servers with weights 1 to 10 and some
// connections.
func benchBackends() []sched.Backend {
	bs := schedtest.Backends(100, 0)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range bs {
		bs[i].Weight = uint32(1 + i%10)
		bs[i].Counters = new(sched.Counters)
		bs[i].Counters.Active.Store(r.Int64N(1000))
		bs[i].Counters.Inactive.Store(r.Int64N(5000))
	}
	return bs
}

// BenchmarkPick picks for new flows with 100 real servers. Goal: 0
// allocs/op for all, under 20 ns/op for rr, wrr, sh and mh.
func BenchmarkPick(b *testing.B) {
	benchPick(b, supported, schedtest.Flows(1024, 3))
}

// benchPick runs a sub-benchmark of Pick for each of algs over 100 real
// servers, cycling through 1024 flows.
func benchPick(b *testing.B, algs []sched.Algorithm, flows []sched.Flow) {
	bs := benchBackends()
	for _, alg := range algs {
		b.Run(alg.String(), func(b *testing.B) {
			s, err := sched.New(alg, bs, &sched.Options{SHFallback: true, MHFallback: true})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s.Pick(flows[i&1023])
				i++
			}
		})
	}
}

// BenchmarkPickIPv6 is BenchmarkPick for the hashing schedulers with IPv6
// clients.
func BenchmarkPickIPv6(b *testing.B) {
	flows := schedtest.Flows(1024, 3)
	for i := range flows {
		flows[i].Src = schedtest.Client6(i * 7919)
		flows[i].Dst = schedtest.Client6(i)
	}
	benchPick(b, []sched.Algorithm{sched.SH, sched.DH, sched.MH}, flows)
}

// BenchmarkMaglevBuild builds an mh scheduler over 1000 real servers with
// M = 65537. Goal: under 2 ms (the Maglev paper reports 1.8 ms).
func BenchmarkMaglevBuild(b *testing.B) {
	bs := schedtest.Backends(1000, 1)
	for i := range bs {
		bs[i].Weight = uint32(1 + i%4)
		bs[i].Counters = new(sched.Counters) // the data plane's, kept across snapshots
	}
	opts := &sched.Options{MHTableSize: 65537}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sched.New(sched.MH, bs, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPersistLookup picks through a template table holding 1M live
// templates (IPv6 clients, a hit every time) and releases the flow's
// reference, as the data plane does at the flow's end.
func BenchmarkPersistLookup(b *testing.B) {
	const live = 1 << 20
	tm, err := sched.NewTemplates(live)
	if err != nil {
		b.Fatal(err)
	}
	s, err := sched.New(sched.RR, schedtest.Backends(100, 1), nil)
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]sched.TemplateKey, live)
	flows := make([]sched.Flow, live)
	for i := range keys {
		a := schedtest.Client6(i)
		keys[i] = sched.NewTemplateKey(1, a, sched.Granularity{})
		flows[i] = schedtest.Flow(a, 1)
		_, ref, out := tm.Pick(s, keys[i], flows[i], time.Hour, t0)
		if out != sched.Created {
			b.Fatalf("filling, template %d: %v", i, out)
		}
		tm.Release(ref, t0)
	}
	st := tm.Stats(t0)
	if st.Live != live {
		b.Fatalf("%d live templates, want %d", st.Live, live)
	}
	// Visit the clients in a random order, laid out sequentially so that
	// only the table's memory is touched at random.
	perm := rand.New(rand.NewPCG(5, 6)).Perm(live)
	pk := make([]sched.TemplateKey, live)
	pf := make([]sched.Flow, live)
	for i, k := range perm {
		pk[i], pf[i] = keys[k], flows[k]
	}
	keys, flows = pk, pf
	b.ReportMetric(float64(st.Slots*sched.BytesPerSlot)/float64(st.Live), "bytes/template")
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := i & (live - 1)
			_, ref, out := tm.Pick(s, keys[k], flows[k], time.Hour, t0+1)
			if out != sched.Hit {
				b.Fatal(out)
			}
			tm.Release(ref, t0+1)
			i++
		}
		b.ReportMetric(float64(st.Slots*sched.BytesPerSlot)/float64(st.Live), "bytes/template")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(live)
			for pb.Next() {
				k := i & (live - 1)
				_, ref, _ := tm.Pick(s, keys[k], flows[k], time.Hour, t0+1)
				tm.Release(ref, t0+1)
				i++
			}
		})
		b.ReportMetric(float64(st.Slots*sched.BytesPerSlot)/float64(st.Live), "bytes/template")
	})
}
