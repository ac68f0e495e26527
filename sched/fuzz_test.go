package sched_test

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/govs-lb/govs/internal/schedtest"
	"github.com/govs-lb/govs/sched"
)

func FuzzParseAlgorithm(f *testing.F) {
	for _, s := range []string{"rr", "wrr", "lblc", "twos", "RR", "", "mh\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := sched.ParseAlgorithm(s)
		if err != nil {
			if a != 0 {
				t.Fatalf("error %v with algorithm %v", err, a)
			}
			return
		}
		if a.String() != s {
			t.Fatalf("ParseAlgorithm(%q).String() = %q", s, a)
		}
	})
}

func FuzzParseGranularity(f *testing.F) {
	for _, s := range []string{"255.255.255.0", "0.0.0.0", "64", "128", "0", "255.0.255.0", "1.2.3", "064"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := sched.ParseGranularity(s)
		if err != nil {
			return
		}
		again, err := sched.ParseGranularity(g.String())
		if err != nil || again != g {
			t.Fatalf("%q parsed to %q, which parses to %v, %v", s, g, again, err)
		}
		for _, a := range []string{"198.19.1.2", "2001:db8::1"} {
			addr := netip.MustParseAddr(a)
			m := g.Mask(addr)
			if m.Is4() != addr.Is4() || g.Mask(m) != m {
				t.Fatalf("%q: Mask(%v) = %v", s, addr, m)
			}
		}
	})
}

// decodeBackends turns fuzz bytes into a real server set: 6 bytes each.
func decodeBackends(data []byte) []sched.Backend {
	var bs []sched.Backend
	for len(data) >= 6 && len(bs) < 64 {
		sel := binary.BigEndian.Uint16(data)
		addr := schedtest.RealServer4(int(sel & 0x3ff))
		if sel&0x8000 != 0 {
			addr = schedtest.RealServer6(int(sel & 0x3ff))
		}
		w := uint32(data[3] & 0x7f)
		if data[3]&0x80 != 0 {
			w = uint32(data[3]&0x7f)<<24 | uint32(data[2])<<16 | 0xffff
		}
		b := sched.Backend{
			Addr:       netip.AddrPortFrom(addr, uint16(data[2]%4)),
			Weight:     w,
			LastWeight: uint32(data[4] % 8),
			Counters:   new(sched.Counters),
		}
		b.Counters.Active.Store(int64(data[5]%16) - 1)
		b.Counters.Inactive.Store(int64(data[5] >> 4))
		bs = append(bs, b)
		data = data[6:]
	}
	return bs
}

var fuzzPrimes = []int{251, 509, 1021, 4093, 65537}

// FuzzPick: no backend set makes New panic or Pick return an index out of
// range or a quiesced real server.
func FuzzPick(f *testing.F) {
	f.Add(byte(1), byte(0), []byte{0, 1, 0, 1, 0, 0, 0, 2, 0, 3, 0, 0})
	f.Add(byte(9), byte(0xff), []byte{0x80, 1, 1, 0x81, 7, 0x35, 0, 2, 3, 0, 1, 0, 0, 3, 0, 5, 0, 0})
	f.Add(byte(2), byte(3), []byte{0, 1, 9, 0xff, 0, 0, 0, 2, 9, 0xfe, 0, 0, 0, 3, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, alg, opts byte, data []byte) {
		a := sched.Algorithm(alg % 16)
		o := &sched.Options{
			SHPort: opts&1 != 0, SHFallback: opts&2 != 0,
			MHPort: opts&4 != 0, MHFallback: opts&8 != 0,
			MHTableSize: fuzzPrimes[int(opts>>4)%len(fuzzPrimes)],
		}
		bs := decodeBackends(data)
		s, err := sched.New(a, bs, o)
		if err != nil {
			return
		}
		up := 0
		for _, b := range bs {
			if b.Weight > 0 {
				up++
			}
		}
		for k := range 64 {
			fl := schedtest.Flow(schedtest.Client4(k*977+len(data)), uint16(k*31))
			if k%2 == 1 {
				fl.Src = schedtest.Client6(k)
				fl.Dst = schedtest.Client6(k * 7)
			}
			i, ok := s.Pick(fl)
			if !ok {
				if i != -1 {
					t.Fatalf("%s: Pick = %d, false", a, i)
				}
				continue
			}
			if i < 0 || i >= len(bs) {
				t.Fatalf("%s: Pick = %d of %d real servers", a, i, len(bs))
			}
			if bs[i].Weight == 0 {
				t.Fatalf("%s: picked quiesced real server %d", a, i)
			}
		}
		if up == 0 {
			if i, ok := s.Pick(schedtest.Flow(schedtest.Client4(1), 1)); ok {
				t.Fatalf("%s: picked %d with every real server quiesced", a, i)
			}
		}
	})
}

// FuzzTemplates runs random operations on a small template table against
// random snapshots and checks that references balance.
func FuzzTemplates(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x81, 0x82, 0xc0, 0x40})
	f.Fuzz(func(t *testing.T, ops []byte) {
		tm, err := sched.NewTemplates(4)
		if err != nil {
			t.Fatal(err)
		}
		snaps := []sched.Scheduler{}
		for _, n := range []int{3, 5} {
			bs := schedtest.Backends(n, 1)
			bs[n-1].Weight = 0
			s, err := sched.New(sched.RR, bs, nil)
			if err != nil {
				t.Fatal(err)
			}
			snaps = append(snaps, s)
		}
		var held []sched.Ref
		now := t0
		for _, op := range ops {
			switch op >> 6 {
			case 0, 1: // a new flow of client op%16 on snapshot op>>4&1
				s := snaps[op>>4&1]
				a := schedtest.Client4(int(op % 16))
				i, ref, out := tm.Pick(s, sched.NewTemplateKey(1, a, sched.Granularity{}), schedtest.Flow(a, 1), timeout, now)
				if out != sched.NoBackend && (i < 0 || i >= s.Len() || s.Backend(i).Weight == 0) {
					t.Fatalf("%v on %d", out, i)
				}
				if ref != (sched.Ref{}) {
					held = append(held, ref)
				}
			case 2: // a flow ends
				if len(held) > 0 {
					k := int(op) % len(held)
					tm.Release(held[k], now)
					held = append(held[:k], held[k+1:]...)
				}
			case 3: // time passes
				now += int64(op&0x3f) * int64(timeout) / 16
			}
		}
		if st := tm.Stats(now); st.Refs != len(held) || st.BadReleases != 0 {
			t.Fatalf("stats %+v with %d references held", st, len(held))
		}
		for _, r := range held {
			tm.Release(r, now)
		}
		if st := tm.Stats(now); st.Refs != 0 || st.BadReleases != 0 {
			t.Fatalf("stats after releasing all: %+v", st)
		}
	})
}
