package sched_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/govs-lb/govs/internal/schedtest"
	"github.com/govs-lb/govs/sched"
)

// TestHashGolden pins the frozen hash (hash.go). If this fails, clients
// move between real servers when load balancers run different versions.
func TestHashGolden(t *testing.T) {
	tests := []struct {
		name string
		got  uint64
		want uint64
	}{
		{"hash3(0,0,0,0)", sched.Hash3(0, 0, 0, 0), 0xc8eb23da90d0af4e},
		{"hash3(1,2,3,4)", sched.Hash3(1, 2, 3, 4), 0x22abef6af32711d3},
		{"flow 198.19.0.1", sched.FlowHash(netip.MustParseAddr("198.19.0.1"), 0), 0x5ce2f4412c4b33f5},
		{"flow [2001:db8::1]:443", sched.FlowHash(netip.MustParseAddr("2001:db8::1"), 443), 0x4f2a305e2b233a65},
		{"reduce", sched.Reduce(0x8000000000000000, 65537), 32768},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %#x, want %#x", tt.name, tt.got, tt.want)
		}
	}
}

func TestKeyWords(t *testing.T) {
	hi, lo, third := sched.KeyWords(netip.MustParseAddr("198.18.0.1"), 80)
	if hi != 0 || lo != 0x0000ffffc6120001 || third != 4<<16|80 {
		t.Errorf("IPv4 key words %#x %#x %#x", hi, lo, third)
	}
	hi, lo, third = sched.KeyWords(netip.MustParseAddr("2001:db8::2"), 443)
	if hi != 0x20010db800000000 || lo != 2 || third != 6<<16|443 {
		t.Errorf("IPv6 key words %#x %#x %#x", hi, lo, third)
	}
}

func TestFastMod(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for range 200000 {
		d := uint32(1 + r.IntN(1<<20))
		if r.IntN(4) == 0 {
			d = 1 + r.Uint32()>>1
		}
		x := r.Uint32()
		if got, want := sched.FastMod(d, x), x%d; got != want {
			t.Fatalf("%d mod %d = %d, want %d", x, d, got, want)
		}
	}
	for _, d := range []uint32{1, 2, 3, 65537, 1<<32 - 1} {
		for _, x := range []uint32{0, 1, d - 1, d, 1<<32 - 1} {
			if got, want := sched.FastMod(d, x), x%d; got != want {
				t.Fatalf("%d mod %d = %d, want %d", x, d, got, want)
			}
		}
	}
}

func TestIsPrime(t *testing.T) {
	for n, want := range map[uint64]bool{0: false, 1: false, 2: true, 251: true, 255: false, 65537: true, 65536: false, 16777213: true} {
		if sched.IsPrime(n) != want {
			t.Errorf("IsPrime(%d) = %v", n, !want)
		}
	}
}

// TestFlowHashSpreads: sequential clients (and one client's sequential
// ports) spread evenly over 100 real servers: every count within 20% of the
// mean (4 standard deviations).
func TestFlowHashSpreads(t *testing.T) {
	bs := schedtest.Backends(100, 1)
	mh, _ := sched.New(sched.MH, bs, &sched.Options{MHPort: true})
	sh, _ := sched.New(sched.SH, bs, &sched.Options{SHPort: true})
	const n = 65536
	tests := []struct {
		name string
		flow func(i int) sched.Flow
	}{
		{"IPv4 clients", func(i int) sched.Flow { return schedtest.Flow(schedtest.Client4(i), 0) }},
		{"IPv6 clients", func(i int) sched.Flow { return schedtest.Flow(schedtest.Client6(i), 0) }},
		{"ports", func(i int) sched.Flow { return schedtest.Flow(schedtest.Client4(1), uint16(i)) }},
	}
	for _, tt := range tests {
		for _, s := range []sched.Scheduler{mh, sh} {
			counts := make([]int, len(bs))
			for i := range n {
				k, _ := s.Pick(tt.flow(i))
				counts[k]++
			}
			for k, c := range counts {
				if c < n/100*8/10 || c > n/100*12/10 {
					t.Errorf("%s %s: real server %d got %d of %d flows", s.Algorithm(), tt.name, k, c, n)
				}
			}
		}
	}
}
