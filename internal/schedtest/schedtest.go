package schedtest

import (
	"math/rand/v2"
	"net/netip"

	"github.com/govs-lb/govs/sched"
)

// VIP is the virtual address the flows from Flows go to.
var VIP = netip.MustParseAddr("198.18.255.254")

// RealServer4 returns the i-th IPv4 real server address, 198.18.0.1 onwards
// (i < 65000).
func RealServer4(i int) netip.Addr {
	n := uint32(198)<<24 | uint32(18)<<16 | uint32(i+1)
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// RealServer6 returns the i-th IPv6 real server address, 2001:db8::1 onwards.
func RealServer6(i int) netip.Addr {
	b := [16]byte{0x20, 0x01, 0x0d, 0xb8}
	n := uint32(i + 1)
	b[12], b[13], b[14], b[15] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return netip.AddrFrom16(b)
}

// Client4 returns the i-th IPv4 client address, in 198.19.0.0/16 (i < 65536).
func Client4(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
}

// Client6 returns the i-th IPv6 client address, in 2001:db8:c::/48.
func Client6(i int) netip.Addr {
	b := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0c}
	n := uint64(i)
	for k := range 8 {
		b[15-k] = byte(n >> (8 * k))
	}
	return netip.AddrFrom16(b)
}

// Backends returns n IPv4 real servers on port 80, all of the given weight.
func Backends(n int, weight uint32) []sched.Backend {
	bs := make([]sched.Backend, n)
	for i := range bs {
		bs[i] = sched.Backend{Addr: netip.AddrPortFrom(RealServer4(i), 80), Weight: weight}
	}
	return bs
}

// Backends6 is Backends with IPv6 real servers.
func Backends6(n int, weight uint32) []sched.Backend {
	bs := make([]sched.Backend, n)
	for i := range bs {
		bs[i] = sched.Backend{Addr: netip.AddrPortFrom(RealServer6(i), 80), Weight: weight}
	}
	return bs
}

// Weighted returns IPv4 real servers on port 80 with the given weights.
func Weighted(weights ...uint32) []sched.Backend {
	bs := Backends(len(weights), 0)
	for i, w := range weights {
		bs[i].Weight = w
	}
	return bs
}

// Shuffled returns a copy of bs in a random order fixed by seed.
func Shuffled(bs []sched.Backend, seed uint64) []sched.Backend {
	out := append([]sched.Backend(nil), bs...)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// Flows returns n TCP flows from distinct IPv4 clients (for n <= 65536) with
// random source ports, to VIP port 80, fixed by seed.
func Flows(n int, seed uint64) []sched.Flow {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	fs := make([]sched.Flow, n)
	for i := range fs {
		fs[i] = sched.Flow{
			Src: Client4(i % 65536), Dst: VIP,
			SrcPort: uint16(1024 + r.IntN(60000)), DstPort: 80, Proto: 6,
		}
	}
	return fs
}

// Flow returns a TCP flow from src:port to VIP port 80.
func Flow(src netip.Addr, port uint16) sched.Flow {
	return sched.Flow{Src: src, Dst: VIP, SrcPort: port, DstPort: 80, Proto: 6}
}
