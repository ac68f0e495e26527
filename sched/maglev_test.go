package sched_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/govs-lb/govs/internal/schedtest"
	"github.com/govs-lb/govs/sched"
)

// mhTable builds an mh scheduler and returns its lookup table mapped to
// real server addresses.
func mhTable(t testing.TB, bs []sched.Backend, m int) (sched.Scheduler, []netip.AddrPort) {
	t.Helper()
	s, err := sched.New(sched.MH, bs, &sched.Options{MHTableSize: m})
	if err != nil {
		t.Fatalf("New(mh): %v", err)
	}
	slots, perm := sched.Slots(s)
	out := make([]netip.AddrPort, len(slots))
	for i, c := range slots {
		out[i] = s.Backend(int(perm[c])).Addr
	}
	return s, out
}

func tableDigest(slots []uint16) string {
	b := make([]byte, 2*len(slots))
	for i, v := range slots {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestMaglevGolden pins the Maglev table of a fixed set of real servers: a
// change here moves clients between real servers on a rolling upgrade, so it
// must never happen by accident.
func TestMaglevGolden(t *testing.T) {
	tests := []struct {
		name   string
		m      int
		sha256 string
		first  []uint16
	}{
		{"M=251", 251, "f6cb2e1044c681956abadeec55cee22b86ec48a63fb94d915d65dc4004af434f",
			[]uint16{1, 0, 2, 9, 1, 7, 2, 7, 9, 8, 3, 2, 6, 9, 4, 1}},
		{"M=65537", 65537, "49e603061fcf48ff70c4b99b935ee8f8e5b306194257b87e7630221ae09f74c9",
			[]uint16{5, 6, 2, 7, 1, 3, 9, 2, 6, 8, 0, 0, 3, 8, 6, 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// 198.18.0.1:80 to 198.18.0.10:80, weight 1.
			s, err := sched.New(sched.MH, schedtest.Backends(10, 1), &sched.Options{MHTableSize: tt.m})
			if err != nil {
				t.Fatal(err)
			}
			slots, _ := sched.Slots(s)
			if diff := cmp.Diff(tt.first, slots[:16]); diff != "" {
				t.Errorf("first 16 entries (-want +got):\n%s", diff)
			}
			if got := tableDigest(slots); got != tt.sha256 {
				t.Errorf("table sha256 = %s, want %s", got, tt.sha256)
			}
		})
	}
}

// TestMaglevOrderIndependent: two load balancers given the same real servers
// in different orders build byte-identical tables and pick the same real
// server for every client.
func TestMaglevOrderIndependent(t *testing.T) {
	bs := schedtest.Backends(100, 0)
	for i := range bs {
		bs[i].Weight = uint32(1 + i%7)
	}
	bs = append(bs, schedtest.Backends6(20, 3)...)
	s0, _ := mhTable(t, bs, 65537)
	want, _ := sched.Slots(s0)
	flows := schedtest.Flows(2000, 1)
	for seed := uint64(1); seed <= 5; seed++ {
		s, _ := mhTable(t, schedtest.Shuffled(bs, seed), 65537)
		got, _ := sched.Slots(s)
		if tableDigest(got) != tableDigest(want) {
			t.Fatalf("seed %d: table differs from the table built in the original order", seed)
		}
		for _, f := range flows {
			i0, _ := s0.Pick(f)
			i, _ := s.Pick(f)
			if s0.Backend(i0).Addr != s.Backend(i).Addr {
				t.Fatalf("seed %d: %v goes to %v, want %v", seed, f.Src, s.Backend(i).Addr, s0.Backend(i0).Addr)
			}
		}
	}
}

// TestMaglevDisruption: removing one of 100 real servers changes fewer than
// 2% of the entries that pointed at the other 99.
func TestMaglevDisruption(t *testing.T) {
	bs := schedtest.Backends(100, 1)
	_, before := mhTable(t, bs, 65537)
	for _, removed := range []int{0, 37, 99} {
		rest := append(append([]sched.Backend(nil), bs[:removed]...), bs[removed+1:]...)
		_, after := mhTable(t, rest, 65537)
		gone := bs[removed].Addr
		var others, moved int
		for i := range before {
			if before[i] == gone {
				continue
			}
			others++
			if after[i] != before[i] {
				moved++
			}
		}
		frac := float64(moved) / float64(others)
		t.Logf("removing %v moved %d of %d entries of the others (%.3f%%)", gone, moved, others, 100*frac)
		if frac >= 0.02 {
			t.Errorf("removing %v moved %.3f%% of the other real servers' entries, want < 2%%", gone, 100*frac)
		}
	}
}

// TestMaglevWeights: table shares follow weights within 1% (relative).
func TestMaglevWeights(t *testing.T) {
	tests := []struct {
		name    string
		weights []uint32
	}{
		{"equal", []uint32{1, 1, 1, 1, 1, 1, 1}},
		{"1..10", []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"common divisor", []uint32{100, 200, 300, 400}},
		{"skewed", []uint32{1, 50, 25, 10, 63}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, table := mhTable(t, schedtest.Weighted(tt.weights...), 65537)
			counts := map[netip.AddrPort]int{}
			for _, a := range table {
				counts[a]++
			}
			var total uint32
			for _, w := range tt.weights {
				total += w
			}
			for i, w := range tt.weights {
				want := float64(len(table)) * float64(w) / float64(total)
				got := float64(counts[schedtest.Weighted(tt.weights...)[i].Addr])
				if d := (got - want) / want; d > 0.01 || d < -0.01 {
					t.Errorf("weight %d: %v entries, want %.0f (off by %.2f%%)", w, got, want, 100*d)
				}
			}
		})
	}
}

// TestMaglevTurns checks IPVS mh's weight reduction: weights divided by
// their gcd, shifted right until the largest fits 6 bits, at least 1.
func TestMaglevTurns(t *testing.T) {
	tests := []struct {
		in, want []uint64
	}{
		{[]uint64{1, 1, 1}, []uint64{1, 1, 1}},
		{[]uint64{100, 200, 0}, []uint64{1, 2, 0}},
		{[]uint64{63, 1}, []uint64{63, 1}},
		{[]uint64{64, 1}, []uint64{32, 1}},   // bitlen(64) = 7: shift 1
		{[]uint64{1000, 3}, []uint64{62, 1}}, // shift 4: 3>>4 = 0 becomes 1
		{[]uint64{0, 0}, []uint64{0, 0}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, sched.MaglevTurns(tt.in)); diff != "" {
			t.Errorf("turns %v (-want +got):\n%s", tt.in, diff)
		}
	}
}

// TestMHQuiesce: a real server with weight 0 but its last weight keeps its
// slots (IPVS last_weight), so no other client moves; its own clients get no
// real server without mh-fallback and some other real server with it.
func TestMHQuiesce(t *testing.T) {
	bs := schedtest.Backends(20, 5)
	for i := range bs {
		bs[i].LastWeight = 5
	}
	s0, err := sched.New(sched.MH, bs, nil)
	if err != nil {
		t.Fatal(err)
	}
	bs[3].Weight = 0
	plain, _ := sched.New(sched.MH, bs, nil)
	fallback, _ := sched.New(sched.MH, bs, &sched.Options{MHFallback: true})
	var own int
	for _, f := range schedtest.Flows(20000, 2) {
		i0, _ := s0.Pick(f)
		ip, okp := plain.Pick(f)
		ifb, okf := fallback.Pick(f)
		if !okf || bs[ifb].Weight == 0 {
			t.Fatalf("mh-fallback: %v got %d %v", f.Src, ifb, okf)
		}
		if i0 != 3 {
			if !okp || ip != i0 || ifb != i0 {
				t.Fatalf("%v moved from %d to %d (fallback %d) when another real server was quiesced", f.Src, i0, ip, ifb)
			}
			continue
		}
		own++
		if okp {
			t.Fatalf("%v: quiesced real server's client got %d without mh-fallback", f.Src, ip)
		}
	}
	if own == 0 {
		t.Fatal("no client of the quiesced real server in the sample")
	}
}

// TestMHPort: mh-port spreads one client's flows by source port.
func TestMHPort(t *testing.T) {
	bs := schedtest.Backends(10, 1)
	noPort, _ := sched.New(sched.MH, bs, nil)
	port, _ := sched.New(sched.MH, bs, &sched.Options{MHPort: true})
	client := schedtest.Client4(7)
	seen := map[int]bool{}
	i0, _ := noPort.Pick(schedtest.Flow(client, 1000))
	for p := uint16(1000); p < 1100; p++ {
		if i, _ := noPort.Pick(schedtest.Flow(client, p)); i != i0 {
			t.Fatalf("without mh-port, port %d moved the client to %d from %d", p, i, i0)
		}
		i, _ := port.Pick(schedtest.Flow(client, p))
		seen[i] = true
	}
	if len(seen) < 5 {
		t.Errorf("with mh-port 100 ports reached %d real servers, want most of 10", len(seen))
	}
	// Non-port protocols hash port 0, as IPVS.
	icmp := schedtest.Flow(client, 1000)
	icmp.Proto = 1
	a, _ := port.Pick(icmp)
	icmp.SrcPort = 2000
	if b, _ := port.Pick(icmp); a != b {
		t.Errorf("mh-port hashed the port of a non-port protocol")
	}
}

func TestMHOptions(t *testing.T) {
	tests := []struct {
		name    string
		m, n    int
		wantErr string
	}{
		{"default", 0, 10, ""},
		{"ipvs prime", 4093, 10, ""},
		{"small prime", 251, 251, ""},
		{"not prime", 65536, 10, "not a prime"},
		{"too small", 241, 10, "not a prime from 251"},
		{"too large", 16777259, 10, "not a prime from 251"},
		{"more servers than slots", 251, 252, "do not fit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sched.New(sched.MH, schedtest.Backends(tt.n, 1), &sched.Options{MHTableSize: tt.m})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("New: error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
