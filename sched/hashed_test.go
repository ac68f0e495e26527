package sched_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/govs-lb/govs/internal/schedtest"
	"github.com/govs-lb/govs/sched"
)

func TestSHOrderIndependent(t *testing.T) {
	bs := append(schedtest.Weighted(1, 2, 3, 4, 5, 6, 7), schedtest.Backends6(5, 2)...)
	flows := schedtest.Flows(5000, 3)
	for _, alg := range []sched.Algorithm{sched.SH, sched.DH} {
		s0, err := sched.New(alg, bs, nil)
		if err != nil {
			t.Fatal(err)
		}
		slots0, _ := sched.Slots(s0)
		for seed := uint64(1); seed <= 4; seed++ {
			s, _ := sched.New(alg, schedtest.Shuffled(bs, seed), nil)
			slots, _ := sched.Slots(s)
			if tableDigest(slots) != tableDigest(slots0) {
				t.Fatalf("%s seed %d: table differs", alg, seed)
			}
			for _, f := range flows {
				f.Dst = f.Src // dh hashes the destination: vary it
				i0, _ := s0.Pick(f)
				i, _ := s.Pick(f)
				if s.Backend(i).Addr != s0.Backend(i0).Addr {
					t.Fatalf("%s seed %d: %v moved", alg, seed, f.Src)
				}
			}
		}
	}
}

// TestSHShares: each real server's share of buckets follows its weight to
// within one bucket, for sets that IPVS's fixed 256-bucket table cannot
// serve (1000 real servers; weights summing past 256).
func TestSHShares(t *testing.T) {
	tests := []struct {
		name string
		bs   []sched.Backend
	}{
		{"1000 equal", schedtest.Backends(1000, 1)},
		{"1..10", schedtest.Weighted(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)},
		{"100 and 200", schedtest.Weighted(100, 200, 100)},
		{"odd", schedtest.Weighted(7, 13, 1, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sched.New(sched.SH, tt.bs, nil)
			if err != nil {
				t.Fatal(err)
			}
			slots, perm := sched.Slots(s)
			counts := make([]float64, len(tt.bs))
			for _, c := range slots {
				counts[perm[c]]++
			}
			var total float64
			for _, b := range tt.bs {
				total += float64(b.Weight)
			}
			for i, b := range tt.bs {
				want := float64(len(slots)) * float64(b.Weight) / total
				if d := counts[i] - want; d > 1 || d < -1 {
					t.Errorf("real server %d weight %d: %v buckets, want %.1f", i, b.Weight, counts[i], want)
				}
			}
		})
	}
}

func TestSHQuiesceAndFallback(t *testing.T) {
	bs := schedtest.Backends(10, 2)
	for i := range bs {
		bs[i].LastWeight = 2
	}
	s0, _ := sched.New(sched.SH, bs, nil)
	bs[4].Weight = 0
	plain, _ := sched.New(sched.SH, bs, nil)
	fb, _ := sched.New(sched.SH, bs, &sched.Options{SHFallback: true})
	spread := map[int]bool{}
	for _, f := range schedtest.Flows(20000, 4) {
		i0, _ := s0.Pick(f)
		ip, okp := plain.Pick(f)
		ifb, okf := fb.Pick(f)
		if !okf || ifb == 4 {
			t.Fatalf("sh-fallback picked %d, %v", ifb, okf)
		}
		if i0 != 4 {
			if ip != i0 || ifb != i0 {
				t.Fatalf("%v moved from %d to %d/%d", f.Src, i0, ip, ifb)
			}
			continue
		}
		if okp {
			t.Fatalf("quiesced real server's client placed on %d without sh-fallback", ip)
		}
		spread[ifb] = true
	}
	if len(spread) < 5 {
		t.Errorf("sh-fallback sent the quiesced real server's clients to %d real servers, want them spread", len(spread))
	}
}

// TestHashLayoutWeight: with LastWeight 0, a quiesced real server leaves the
// table (IPVS mh with last_weight 0: a real server added at weight 0).
func TestHashLayoutWeight(t *testing.T) {
	bs := schedtest.Backends(4, 1)
	bs[2].Weight = 0
	for _, alg := range []sched.Algorithm{sched.SH, sched.DH, sched.MH} {
		s, err := sched.New(alg, bs, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range schedtest.Flows(2000, 5) {
			f.Dst = f.Src
			if i, ok := s.Pick(f); !ok || i == 2 {
				t.Fatalf("%s: %v placed on %d, %v", alg, f.Src, i, ok)
			}
		}
	}
}

func TestSHPort(t *testing.T) {
	bs := schedtest.Backends(10, 1)
	noPort, _ := sched.New(sched.SH, bs, nil)
	port, _ := sched.New(sched.SH, bs, &sched.Options{SHPort: true})
	client := schedtest.Client4(3)
	i0, _ := noPort.Pick(schedtest.Flow(client, 1))
	seen := map[int]bool{}
	for p := uint16(1); p <= 100; p++ {
		if i, _ := noPort.Pick(schedtest.Flow(client, p)); i != i0 {
			t.Fatalf("without sh-port the client moved with its port")
		}
		i, _ := port.Pick(schedtest.Flow(client, p))
		seen[i] = true
	}
	if len(seen) < 5 {
		t.Errorf("with sh-port 100 ports reached %d real servers", len(seen))
	}
}

func TestDHHashesDestination(t *testing.T) {
	s, _ := sched.New(sched.DH, schedtest.Backends(10, 1), nil)
	f := schedtest.Flow(schedtest.Client4(0), 1)
	i0, _ := s.Pick(f)
	for c := range 100 {
		f.Src = schedtest.Client4(c)
		if i, _ := s.Pick(f); i != i0 {
			t.Fatalf("dh moved a flow by its source")
		}
	}
	seen := map[int]bool{}
	for c := range 100 {
		f.Dst = schedtest.Client6(c)
		i, _ := s.Pick(f)
		seen[i] = true
	}
	if len(seen) < 5 {
		t.Errorf("100 destinations reached %d real servers", len(seen))
	}
}

// TestHashPicksGolden pins the sh bucket layout and where sh and mh send a few
// clients: a change here moves clients on a rolling upgrade.
func TestHashPicksGolden(t *testing.T) {
	s, err := sched.New(sched.SH, schedtest.Weighted(1, 2, 3, 4, 5), nil)
	if err != nil {
		t.Fatal(err)
	}
	slots, _ := sched.Slots(s)
	const wantSH = "248dcf32322ac11086772dfb7010d328c45ec3953273dac18eccaeb8c64fb0be"
	if len(slots) != 256 || tableDigest(slots) != wantSH {
		t.Errorf("sh table: %d buckets, sha256 %s; want 256, %s", len(slots), tableDigest(slots), wantSH)
	}
	if diff := cmp.Diff([]uint16{0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 0}, slots[:16]); diff != "" {
		t.Errorf("sh first buckets (-want +got):\n%s", diff)
	}
	m, err := sched.New(sched.MH, schedtest.Backends(10, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		s    sched.Scheduler
		want []int
	}{
		{s, []int{2, 1, 4, 2, 2, 4, 2, 4}},
		{m, []int{1, 0, 3, 1, 3, 3, 7, 2}},
	} {
		var got []int
		for i := range 8 {
			k, _ := tt.s.Pick(schedtest.Flow(schedtest.Client4(i), 0))
			got = append(got, k)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: clients 198.19.0.0 to .7 (-want +got):\n%s", tt.s.Algorithm(), diff)
		}
	}
}
