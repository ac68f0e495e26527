package sched_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/govs-lb/govs/internal/schedtest"
	"github.com/govs-lb/govs/sched"
)

// supported lists every scheduler New builds.
var supported = []sched.Algorithm{
	sched.RR, sched.WRR, sched.LC, sched.WLC, sched.SED, sched.NQ, sched.FO,
	sched.OVF, sched.TwoS, sched.SH, sched.DH, sched.MH,
}

func TestNewRejects(t *testing.T) {
	dup := schedtest.Backends(3, 1)
	dup[2].Addr = dup[0].Addr
	noAddr := schedtest.Backends(3, 1)
	noAddr[1].Addr = netip.AddrPort{}
	heavy := schedtest.Backends(2, 1)
	heavy[1].Weight = sched.MaxWeight + 1
	heavyLast := schedtest.Backends(2, 1)
	heavyLast[0].LastWeight = sched.MaxWeight + 1
	tests := []struct {
		name     string
		backends []sched.Backend
		wantErr  string
	}{
		{"duplicate", dup, "new rr scheduler: real server 198.18.0.1:80: given twice (at 0 and 2)"},
		{"no address", noAddr, "new rr scheduler: real server 1: no address"},
		{"weight", heavy, "weight above 2147483647"},
		{"last weight", heavyLast, "weight above 2147483647"},
		{"too many", make([]sched.Backend, sched.MaxBackends+1), "65536 real servers, at most 65535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sched.New(sched.RR, tt.backends, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestIndexAndBackend(t *testing.T) {
	bs := append(schedtest.Backends(50, 1), schedtest.Backends6(50, 2)...)
	shared := new(sched.Counters)
	bs[7].Counters = shared
	for _, alg := range supported {
		s, err := sched.New(alg, bs, nil)
		if err != nil {
			t.Fatalf("New(%s): %v", alg, err)
		}
		if s.Algorithm() != alg || s.Len() != len(bs) {
			t.Fatalf("%s: Algorithm %v Len %d", alg, s.Algorithm(), s.Len())
		}
		for i, b := range bs {
			j, ok := s.Index(b.Addr)
			if !ok || j != i {
				t.Fatalf("%s: Index(%v) = %d, %v; want %d", alg, b.Addr, j, ok, i)
			}
			if s.Backend(i).Counters == nil {
				t.Fatalf("%s: real server %d has no counters", alg, i)
			}
		}
		if s.Backend(7).Counters != shared {
			t.Errorf("%s: New replaced the given counters", alg)
		}
		for _, ap := range []netip.AddrPort{
			netip.AddrPortFrom(schedtest.RealServer4(0), 81),
			netip.AddrPortFrom(schedtest.RealServer4(60), 80),
			netip.AddrPortFrom(netip.AddrFrom16(schedtest.RealServer4(0).As16()), 80),
		} {
			if j, ok := s.Index(ap); ok {
				t.Errorf("%s: Index(%v) = %d, want none", alg, ap, j)
			}
		}
	}
	if bs[0].Counters != nil {
		t.Error("New wrote to the caller's slice")
	}
}

// TestQuiesced: no scheduler ever picks a real server of weight 0, and with
// all real servers quiesced (or none) every scheduler says so.
func TestQuiesced(t *testing.T) {
	bs := schedtest.Backends(20, 3)
	for i := range bs {
		bs[i].LastWeight = 3
		if i%3 == 0 {
			bs[i].Weight = 0
		}
	}
	allZero := schedtest.Backends(5, 0)
	flows := schedtest.Flows(3000, 9)
	for _, alg := range supported {
		t.Run(alg.String(), func(t *testing.T) {
			opts := &sched.Options{SHFallback: true, MHFallback: true}
			s, err := sched.New(alg, bs, opts)
			if err != nil {
				t.Fatal(err)
			}
			var got int
			for _, f := range flows {
				i, ok := s.Pick(f)
				if !ok {
					continue
				}
				got++
				if bs[i].Weight == 0 {
					t.Fatalf("picked quiesced real server %d", i)
				}
			}
			if got != len(flows) && alg != sched.DH { // dh has no fallback
				t.Errorf("%d of %d flows placed", got, len(flows))
			}
			for _, set := range [][]sched.Backend{allZero, nil} {
				s, err := sched.New(alg, set, opts)
				if err != nil {
					t.Fatal(err)
				}
				if i, ok := s.Pick(flows[0]); ok || i != -1 {
					t.Errorf("%d real servers all quiesced: Pick = %d, %v", len(set), i, ok)
				}
			}
		})
	}
}

func TestLeastConnection(t *testing.T) {
	tests := []struct {
		name     string
		alg      sched.Algorithm
		weights  []uint32
		active   []int64
		inactive []int64
		want     int
	}{
		{"lc: one active outweighs 255 inactive", sched.LC, []uint32{1, 1}, []int64{1, 0}, []int64{0, 255}, 1},
		{"lc: ignores weights", sched.LC, []uint32{100, 1}, []int64{2, 1}, []int64{0, 0}, 1},
		{"lc: tie goes first", sched.LC, []uint32{1, 1, 1}, []int64{1, 0, 0}, []int64{0, 0, 0}, 1},
		{"lc: skips weight 0", sched.LC, []uint32{0, 1}, []int64{0, 5}, []int64{0, 0}, 1},
		{"wlc: weight scales", sched.WLC, []uint32{3, 1}, []int64{2, 1}, []int64{0, 0}, 0},
		{"wlc: inactive counts", sched.WLC, []uint32{1, 1}, []int64{1, 1}, []int64{3, 2}, 1},
		{"sed: counts the new flow", sched.SED, []uint32{10, 1}, []int64{1, 0}, []int64{0, 0}, 0},
		{"sed: ignores inactive", sched.SED, []uint32{1, 1}, []int64{1, 1}, []int64{100, 0}, 0},
		{"nq: idle first", sched.NQ, []uint32{10, 1, 1}, []int64{1, 0, 0}, []int64{0, 0, 0}, 1},
		{"nq: else sed", sched.NQ, []uint32{10, 1}, []int64{2, 1}, []int64{0, 0}, 0},
		{"ovf: highest weight under its weight", sched.OVF, []uint32{2, 5, 3}, []int64{0, 5, 0}, []int64{0, 0, 0}, 1},
		{"ovf: overflows", sched.OVF, []uint32{2, 5, 3}, []int64{0, 6, 0}, []int64{0, 0, 0}, 2},
		{"ovf: all overflowing", sched.OVF, []uint32{1, 1}, []int64{2, 2}, []int64{0, 0}, -1},
		{"fo: highest weight", sched.FO, []uint32{2, 5, 5}, []int64{0, 100, 0}, []int64{0, 0, 0}, 1},
		{"negative counts read as 0", sched.LC, []uint32{1, 1}, []int64{-5, 0}, []int64{-1, 1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs := schedtest.Weighted(tt.weights...)
			for i := range bs {
				bs[i].Counters = new(sched.Counters)
				bs[i].Counters.Active.Store(tt.active[i])
				bs[i].Counters.Inactive.Store(tt.inactive[i])
			}
			s, err := sched.New(tt.alg, bs, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := picked(s); got != tt.want {
				t.Errorf("picked %d, want %d", got, tt.want)
			}
		})
	}
}

// TestCountersAreLive: the counting schedulers read the counters the data
// plane updates, through the same pointer.
func TestCountersAreLive(t *testing.T) {
	bs := schedtest.Backends(3, 1)
	s, err := sched.New(sched.LC, bs, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for range 6 {
		i := picked(s)
		got = append(got, i)
		s.Backend(i).Counters.Active.Add(1)
	}
	if diff := cmp.Diff([]int{0, 1, 2, 0, 1, 2}, got); diff != "" {
		t.Errorf("lc with counts going up (-want +got):\n%s", diff)
	}
}

// TestTwoSShares: twos draws real servers in proportion to weight.
func TestTwoSShares(t *testing.T) {
	s, err := sched.New(sched.TwoS, schedtest.Weighted(1, 2, 7), nil)
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, 3)
	const n = 200000
	for range n {
		counts[picked(s)]++
	}
	// With equal (zero) loads the first draw wins: shares are the weights.
	for i, w := range []float64{0.1, 0.2, 0.7} {
		if got := float64(counts[i]) / n; got < w-0.01 || got > w+0.01 {
			t.Errorf("real server %d: share %.3f, want %.2f", i, got, w)
		}
	}
}

func TestRRCycles(t *testing.T) {
	s, err := sched.New(sched.RR, schedtest.Weighted(1, 0, 5, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	first := picked(s)
	want := map[int]int{0: 2, 2: 3, 3: 0}
	got := []int{first}
	for range 5 {
		got = append(got, picked(s))
	}
	for i := 1; i < len(got); i++ {
		if got[i] != want[got[i-1]] {
			t.Fatalf("rr sequence %v: %d follows %d", got, got[i], got[i-1])
		}
	}
}
