package forward

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Test addresses: 198.18.0.0/15 and 2001:db8::/32 only.
var (
	pktMACBalancer = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	pktMACClient   = [6]byte{0x02, 0, 0, 0, 0, 0x02}
	pktMACReal     = [6]byte{0x02, 0, 0, 0, 0, 0x03}

	pktClient4 = netip.MustParseAddr("198.18.0.10")
	pktVIP4    = netip.MustParseAddr("198.19.0.1")
	pktLB4     = netip.MustParseAddr("198.18.1.1")
	pktReal4   = netip.MustParseAddr("198.18.2.2")
	pktClient6 = netip.MustParseAddr("2001:db8::10")
	pktVIP6    = netip.MustParseAddr("2001:db8:1::1")
)

// pktSpec describes a test frame. build makes its bytes with consistent
// lengths and checksums, computed by the reference implementation refSum,
// independent of csum.go. Malformed frames are built valid, then mutated.
type pktSpec struct {
	v6           bool
	proto        uint8
	src, dst     netip.Addr // default client and VIP of the family
	sport, dport uint16
	tcpFlags     uint8
	tcpOpts      []byte // a multiple of 4 bytes
	payload      []byte
	ttl          uint8 // default 64
	tos          uint8
	df           bool
	id           uint16
	ipOpts       []byte  // IPv4 options, a multiple of 4 bytes
	ext          []uint8 // IPv6 extension header types, in order
	extPad       int     // extra 8-byte units in each non-fragment extension header
	fragOff      uint16  // fragment offset in 8-byte units (IPv4 or IPv6 fragment header)
	mf           bool
	fragID       uint32
	udpLen       int // UDP length field if not 0 (first fragments)
	pad          int // Ethernet padding after the IP packet (filled with 0xee)
}

func (s pktSpec) build() []byte {
	src, dst := s.src, s.dst
	if !src.IsValid() {
		src, dst = pktClient4, pktVIP4
		if s.v6 {
			src, dst = pktClient6, pktVIP6
		}
	}
	ttl := s.ttl
	if ttl == 0 {
		ttl = 64
	}
	// L4, absent from a later fragment.
	var l4 []byte
	switch {
	case s.fragOff != 0:
		l4 = append(l4, s.payload...)
	case s.proto == protoNumTCP:
		l4 = make([]byte, 20+len(s.tcpOpts))
		binary.BigEndian.PutUint16(l4[0:], s.sport)
		binary.BigEndian.PutUint16(l4[2:], s.dport)
		binary.BigEndian.PutUint32(l4[4:], 0x01020304)
		l4[12] = byte(len(l4)/4) << 4
		l4[13] = s.tcpFlags
		binary.BigEndian.PutUint16(l4[14:], 64240)
		copy(l4[20:], s.tcpOpts)
		l4 = append(l4, s.payload...)
	case s.proto == protoNumUDP:
		l4 = make([]byte, 8, 8+len(s.payload))
		binary.BigEndian.PutUint16(l4[0:], s.sport)
		binary.BigEndian.PutUint16(l4[2:], s.dport)
		l4 = append(l4, s.payload...)
		n := len(l4)
		if s.udpLen != 0 {
			n = s.udpLen
		}
		binary.BigEndian.PutUint16(l4[4:], uint16(n))
	default:
		l4 = append(l4, s.payload...)
	}

	var l3 []byte
	if !s.v6 {
		l3 = make([]byte, 20+len(s.ipOpts))
		l3[0] = 0x40 | byte(len(l3)/4)
		l3[1] = s.tos
		binary.BigEndian.PutUint16(l3[2:], uint16(len(l3)+len(l4)))
		binary.BigEndian.PutUint16(l3[4:], s.id)
		fo := s.fragOff
		if s.mf {
			fo |= 0x2000
		}
		if s.df {
			fo |= 0x4000
		}
		binary.BigEndian.PutUint16(l3[6:], fo)
		l3[8] = ttl
		l3[9] = s.proto
		a, b := src.As4(), dst.As4()
		copy(l3[12:], a[:])
		copy(l3[16:], b[:])
		copy(l3[20:], s.ipOpts)
		binary.BigEndian.PutUint16(l3[10:], ^uint16(refSum(l3)))
	} else {
		l3 = make([]byte, 40)
		l3[0] = 0x60 | s.tos>>4
		l3[1] = s.tos << 4
		l3[7] = ttl
		a, b := src.As16(), dst.As16()
		copy(l3[8:], a[:])
		copy(l3[24:], b[:])
		types := append(append([]uint8(nil), s.ext...), s.proto)
		l3[6] = types[0]
		for i, t := range s.ext {
			var x []byte
			if t == ip6Fragment {
				x = make([]byte, 8)
				fo := s.fragOff << 3
				if s.mf {
					fo |= 1
				}
				binary.BigEndian.PutUint16(x[2:], fo)
				binary.BigEndian.PutUint32(x[4:], s.fragID)
			} else {
				x = make([]byte, 8*(1+s.extPad))
				x[1] = byte(s.extPad)
				if t == ip6Routing {
					x[2] = 253 // experimental routing type, segments left 0
				} else {
					x[2], x[3] = 1, byte(len(x)-4) // PadN
				}
			}
			x[0] = types[i+1]
			l3 = append(l3, x...)
		}
		binary.BigEndian.PutUint16(l3[4:], uint16(len(l3)-40+len(l4)))
	}

	// TCP and UDP checksums of whole packets.
	if s.fragOff == 0 && !s.mf && (s.proto == protoNumTCP || s.proto == protoNumUDP) {
		off := 16
		if s.proto == protoNumUDP {
			off = 6
		}
		c := ^uint16(refSum(refPseudo(src, dst, s.proto, len(l4)), l4))
		if c == 0 && s.proto == protoNumUDP {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(l4[off:], c)
	}

	f := make([]byte, 0, 14+len(l3)+len(l4)+s.pad)
	f = append(f, pktMACBalancer[:]...)
	f = append(f, pktMACClient[:]...)
	if s.v6 {
		f = append(f, 0x86, 0xdd)
	} else {
		f = append(f, 0x08, 0x00)
	}
	f = append(f, l3...)
	f = append(f, l4...)
	for range s.pad {
		f = append(f, 0xee)
	}
	return f
}

// refSum is the reference ones' complement sum: 16-bit big-endian words, one
// at a time, folded.
func refSum(bs ...[]byte) uint32 {
	var s uint64
	for _, b := range bs {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint64(b[i])<<8 | uint64(b[i+1])
		}
		if len(b)%2 == 1 {
			s += uint64(b[len(b)-1]) << 8
		}
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint32(s)
}

// refPseudo returns a TCP/UDP pseudo-header's bytes.
func refPseudo(src, dst netip.Addr, proto uint8, n int) []byte {
	var b []byte
	if src.Is4() {
		b = append(src.AsSlice(), dst.AsSlice()...)
		return append(b, 0, proto, byte(n>>8), byte(n))
	}
	b = append(src.AsSlice(), dst.AsSlice()...)
	return append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n), 0, 0, 0, proto)
}

// mutate returns f after applying fn to it.
func pktMutate(f []byte, fn func(b []byte)) []byte {
	fn(f)
	return f
}

func specTCP4(flags uint8) pktSpec {
	return pktSpec{proto: protoNumTCP, sport: 40000, dport: 80, tcpFlags: flags, df: true}
}

func specUDP4(n int) pktSpec {
	return pktSpec{proto: protoNumUDP, sport: 5353, dport: 53, payload: make([]byte, n)}
}

func specTCP6(flags uint8) pktSpec {
	return pktSpec{v6: true, proto: protoNumTCP, sport: 40000, dport: 443, tcpFlags: flags}
}

func specUDP6(n int) pktSpec {
	return pktSpec{v6: true, proto: protoNumUDP, sport: 5353, dport: 53, payload: make([]byte, n)}
}

// key returns a FlowKey.
func pktKey(src, dst netip.Addr, proto uint8, sport, dport uint16) FlowKey {
	return FlowKey{Src: Addr16From(src), Dst: Addr16From(dst), Proto: proto, SrcPort: sport, DstPort: dport}
}

// pktCmpOpts print addresses readably and skip the frame itself.
var pktCmpOpts = cmp.Options{
	cmpopts.IgnoreFields(Packet{}, "Frame"),
	cmpopts.IgnoreUnexported(FlowKey{}),
	cmp.Transformer("Addr16", func(a Addr16) string { return a.Addr().String() }),
}

func TestParseFrameFields(t *testing.T) {
	k4 := pktKey(pktClient4, pktVIP4, protoNumTCP, 40000, 80)
	k6 := pktKey(pktClient6, pktVIP6, protoNumTCP, 40000, 443)
	u4 := pktKey(pktClient4, pktVIP4, protoNumUDP, 5353, 53)
	u6 := pktKey(pktClient6, pktVIP6, protoNumUDP, 5353, 53)

	withOpts := specTCP4(TCPSyn)
	withOpts.ipOpts = []byte{0x94, 0x04, 0, 0} // router alert
	withOpts.tcpOpts = []byte{2, 4, 0x05, 0xb4}

	frag4First := specUDP4(100)
	frag4First.mf, frag4First.id, frag4First.udpLen = true, 0x1234, 3000
	frag4Later := specUDP4(0)
	frag4Later.fragOff, frag4Later.mf, frag4Later.id, frag4Later.payload = 13, true, 0x1234, make([]byte, 104)
	frag4Last := specTCP4(0)
	frag4Last.fragOff, frag4Last.id, frag4Last.payload = 185, 0xbeef, make([]byte, 20)

	hbhFrag6 := specUDP6(64)
	hbhFrag6.ext, hbhFrag6.mf, hbhFrag6.fragID, hbhFrag6.udpLen = []uint8{ip6HopByHop, ip6Fragment}, true, 0xdeadbeef, 4000
	loneFrag6 := specTCP6(TCPAck)
	loneFrag6.ext, loneFrag6.mf, loneFrag6.fragID = []uint8{ip6Fragment}, true, 7
	later6 := specUDP6(0)
	later6.ext, later6.fragOff, later6.fragID, later6.payload = []uint8{ip6Fragment}, 181, 7, make([]byte, 33)
	atomic6 := specTCP6(TCPSyn)
	atomic6.ext, atomic6.fragID = []uint8{ip6Fragment}, 9
	chain6 := specTCP6(TCPSyn)
	chain6.ext, chain6.extPad = []uint8{ip6HopByHop, ip6DestOpts, ip6Routing, ip6DestOpts}, 2

	padded := specTCP4(TCPSyn)
	padded.pad = 6 // 54 bytes padded to the Ethernet minimum of 60

	tests := []struct {
		name  string
		frame []byte
		want  Packet
	}{
		{
			name:  "tcp4 syn",
			frame: specTCP4(TCPSyn).build(),
			want:  Packet{L3: 14, L4: 34, End: 54, Family: 4, Key: k4, TCPFlags: TCPSyn, DF: true, HopLimit: 64},
		},
		{
			name:  "tcp4 syn with ethernet padding",
			frame: padded.build(),
			want:  Packet{L3: 14, L4: 34, End: 54, Family: 4, Key: k4, TCPFlags: TCPSyn, DF: true, HopLimit: 64},
		},
		{
			name:  "tcp4 ip and tcp options",
			frame: withOpts.build(),
			want:  Packet{L3: 14, L4: 38, End: 62, Family: 4, Key: k4, TCPFlags: TCPSyn, DF: true, HopLimit: 64, IPOptions: true},
		},
		{
			name:  "udp4",
			frame: specUDP4(13).build(),
			want:  Packet{L3: 14, L4: 34, End: 55, Family: 4, Key: u4, HopLimit: 64},
		},
		{
			name:  "udp4 first fragment",
			frame: frag4First.build(),
			want:  Packet{L3: 14, L4: 34, End: 142, Family: 4, Key: u4, HopLimit: 64, Frag: FragFirst, FragID: 0x1234},
		},
		{
			name:  "udp4 later fragment",
			frame: frag4Later.build(),
			want: Packet{L3: 14, End: 138, Family: 4, HopLimit: 64, Frag: FragLater, FragID: 0x1234,
				Key: pktKey(pktClient4, pktVIP4, protoNumUDP, 0, 0)},
		},
		{
			name:  "tcp4 last fragment",
			frame: frag4Last.build(),
			want: Packet{L3: 14, End: 54, Family: 4, HopLimit: 64, Frag: FragLater, FragID: 0xbeef, DF: true,
				Key: pktKey(pktClient4, pktVIP4, protoNumTCP, 0, 0)},
		},
		{
			name:  "tcp6 syn",
			frame: specTCP6(TCPSyn).build(),
			want:  Packet{L3: 14, L4: 54, End: 74, Family: 6, Key: k6, TCPFlags: TCPSyn, DF: true, HopLimit: 64},
		},
		{
			name:  "udp6",
			frame: specUDP6(7).build(),
			want:  Packet{L3: 14, L4: 54, End: 69, Family: 6, Key: u6, DF: true, HopLimit: 64},
		},
		{
			name:  "udp6 hop-by-hop and first fragment",
			frame: hbhFrag6.build(),
			want: Packet{L3: 14, L4: 70, End: 142, Family: 6, Key: u6, DF: true, HopLimit: 64,
				Frag: FragFirst, FragID: 0xdeadbeef, IPOptions: true},
		},
		{
			name:  "tcp6 lone fragment header is no option",
			frame: loneFrag6.build(),
			want: Packet{L3: 14, L4: 62, End: 82, Family: 6, Key: k6, TCPFlags: TCPAck, DF: true, HopLimit: 64,
				Frag: FragFirst, FragID: 7},
		},
		{
			name:  "udp6 later fragment",
			frame: later6.build(),
			want: Packet{L3: 14, End: 95, Family: 6, DF: true, HopLimit: 64, Frag: FragLater, FragID: 7,
				Key: pktKey(pktClient6, pktVIP6, protoNumUDP, 0, 0)},
		},
		{
			name:  "tcp6 atomic fragment is whole",
			frame: atomic6.build(),
			want:  Packet{L3: 14, L4: 62, End: 82, Family: 6, Key: k6, TCPFlags: TCPSyn, DF: true, HopLimit: 64},
		},
		{
			name:  "tcp6 four 24-byte extension headers",
			frame: chain6.build(),
			want: Packet{L3: 14, L4: 150, End: 170, Family: 6, Key: k6, TCPFlags: TCPSyn, DF: true, HopLimit: 64,
				IPOptions: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			if got := ParseFrame(tt.frame, &p); got != Forwarded {
				t.Fatalf("ParseFrame() = %v, want %v", got, Forwarded)
			}
			if diff := cmp.Diff(tt.want, p, pktCmpOpts); diff != "" {
				t.Errorf("ParseFrame() packet mismatch (-want +got):\n%s", diff)
			}
			if &p.Frame[0] != &tt.frame[0] || len(p.Frame) != len(tt.frame) {
				t.Errorf("p.Frame is not the frame")
			}
		})
	}
}

func TestParseFrameVerdicts(t *testing.T) {
	type tc struct {
		name  string
		frame []byte
		want  Verdict
	}
	tests := []tc{
		{"vlan 802.1q", pktMutate(specTCP4(TCPSyn).build(), func(b []byte) { b[12], b[13] = 0x81, 0x00 }), DropNotIP},
		{"vlan 802.1ad", pktMutate(specTCP4(TCPSyn).build(), func(b []byte) { b[12], b[13] = 0x88, 0xa8 }), DropNotIP},
		{"arp", pktMutate(make([]byte, 42), func(b []byte) { b[12], b[13] = 0x08, 0x06 }), DropNotIP},
		{"802.3 length", pktMutate(make([]byte, 60), func(b []byte) { b[12], b[13] = 0x00, 0x2e }), DropNotIP},
		{"ipv4 version 6", pktMutate(specTCP4(TCPSyn).build(), func(b []byte) { b[14] = 0x65 }), DropBadIP},
		{"ipv6 version 4", pktMutate(specTCP6(TCPSyn).build(), func(b []byte) { b[14] = 0x40 }), DropBadIP},
		{"ipv4 ihl 15 > total", pktMutate(specTCP4(TCPSyn).build(), func(b []byte) { b[14] = 0x4f }), DropBadIP},
		{"ipv4 total length 0 (no GSO guessing)", pktMutate(specTCP4(TCPSyn).build(), func(b []byte) { b[16], b[17] = 0, 0 }), DropBadIP},
		{"ipv4 total length > frame", pktMutate(specTCP4(TCPSyn).build(), func(b []byte) { b[17]++ }), DropBadIP},
		{"ipv4 total length < header", pktMutate(specTCP4(TCPSyn).build(), func(b []byte) { b[17] = 19 }), DropBadIP},
		{"ipv4 icmp", pktMutate(specTCP4(0).build(), func(b []byte) { b[23] = protoNumICMP }), DropBadL4},
		{"ipv4 gre", pktMutate(specTCP4(0).build(), func(b []byte) { b[23] = 47 }), DropBadL4},
		{"ipv4 ipip", pktMutate(specTCP4(0).build(), func(b []byte) { b[23] = protoNumIPIP }), DropBadL4},
		{"ipv4 later fragment of gre", func() []byte {
			s := specTCP4(0)
			s.proto, s.fragOff, s.payload = 47, 10, make([]byte, 16)
			return s.build()
		}(), DropBadL4},
		{"ipv4 first fragment with a tiny tcp header", func() []byte {
			s := specTCP4(0)
			s.mf = true
			f := s.build()
			binary.BigEndian.PutUint16(f[16:], 28) // 8 bytes of TCP
			return f[:42]
		}(), DropBadL4},
		{"tcp data offset 15 > segment", pktMutate(specTCP4(TCPSyn).build(), func(b []byte) { b[46] = 0xf0 }), DropBadL4},
		{"tcp data offset 6 > segment", pktMutate(specTCP4(TCPSyn).build(), func(b []byte) { b[46] = 0x60 }), DropBadL4},
		{"udp length 0", pktMutate(specUDP4(10).build(), func(b []byte) { b[38], b[39] = 0, 0 }), DropBadL4},
		{"udp length 7", pktMutate(specUDP4(10).build(), func(b []byte) { b[38], b[39] = 0, 7 }), DropBadL4},
		{"udp length short by one", pktMutate(specUDP4(10).build(), func(b []byte) { b[39]-- }), DropBadL4},
		{"udp length long by one", pktMutate(specUDP4(10).build(), func(b []byte) { b[39]++ }), DropBadL4},
		{"udp6 length long by one", pktMutate(specUDP6(10).build(), func(b []byte) { b[59]++ }), DropBadL4},
		{"udp4 first fragment with udp length < fragment", func() []byte {
			s := specUDP4(100)
			s.mf, s.udpLen = true, 50
			return s.build()
		}(), DropBadL4},
		{"udp no header", pktMutate(specUDP4(0).build(), func(b []byte) { b[17] = 27 }), DropBadL4},
		{"tcp header truncated by total length", pktMutate(specTCP4(0).build(), func(b []byte) { b[17] = 20 + 19 }), DropBadL4},
		{"ipv6 payload length > frame", pktMutate(specTCP6(0).build(), func(b []byte) { b[19]++ }), DropBadIP},
		{"ipv6 jumbogram", func() []byte {
			s := specTCP6(0)
			s.ext = []uint8{ip6HopByHop}
			return pktMutate(s.build(), func(b []byte) {
				b[18], b[19] = 0, 0
				copy(b[56:62], []byte{0xc2, 4, 0, 0, 0, 28}) // jumbo payload option
			})
		}(), DropBadIP},
		{"ipv6 payload length 0 with tcp", pktMutate(specTCP6(0).build(), func(b []byte) { b[18], b[19] = 0, 0 }), DropBadL4},
		{"ipv6 hop-by-hop not first", func() []byte {
			s := specTCP6(0)
			s.ext = []uint8{ip6DestOpts, ip6HopByHop}
			return s.build()
		}(), DropBadIP},
		{"ipv6 routing header with segments left", func() []byte {
			s := specTCP6(0)
			s.ext = []uint8{ip6Routing}
			return pktMutate(s.build(), func(b []byte) { b[57] = 1 })
		}(), DropBadIP},
		{"ipv6 extension header longer than packet", func() []byte {
			s := specTCP6(0)
			s.ext = []uint8{ip6DestOpts}
			return pktMutate(s.build(), func(b []byte) { b[55] = 4 }) // 40 bytes, 28 left
		}(), DropBadIP},
		{"ipv6 extension header truncated", func() []byte {
			s := specUDP6(0)
			s.ext = []uint8{ip6DestOpts}
			f := s.build()
			binary.BigEndian.PutUint16(f[18:], 4)
			return f[:58]
		}(), DropBadIP},
		{"ipv6 two fragment headers", func() []byte {
			s := specTCP6(0)
			s.ext = []uint8{ip6Fragment, ip6Fragment}
			return s.build()
		}(), DropBadIP},
		{"ipv6 eight extension headers", func() []byte {
			s := specTCP6(0)
			s.ext = []uint8{ip6HopByHop, 60, 60, 60, 60, 60, 60, 60}
			return s.build()
		}(), Forwarded},
		{"ipv6 nine extension headers", func() []byte {
			s := specTCP6(0)
			s.ext = []uint8{ip6HopByHop, 60, 60, 60, 60, 60, 60, 60, 60}
			return s.build()
		}(), DropBadIP},
		{"ipv6 later fragment of destination options", func() []byte {
			s := specUDP6(0)
			s.proto, s.ext, s.fragOff, s.payload = ip6DestOpts, []uint8{ip6Fragment}, 3, make([]byte, 16)
			return s.build()
		}(), DropBadL4},
		{"ipv6 esp", func() []byte { s := specUDP6(16); s.proto = 50; return s.build() }(), DropBadL4},
		{"ipv6 ah", func() []byte { s := specUDP6(16); s.proto = 51; return s.build() }(), DropBadL4},
		{"ipv6 no next header", func() []byte { s := specUDP6(0); s.proto = 59; return s.build() }(), DropBadL4},
		{"ipv6 icmpv6", func() []byte { s := specUDP6(8); s.proto = 58; return s.build() }(), DropBadL4},
		{"ipv6 udp after destination options", func() []byte {
			s := specUDP6(3)
			s.ext = []uint8{ip6DestOpts}
			return s.build()
		}(), Forwarded},
		{"ipv6 from an ipv4-mapped address", func() []byte {
			s := specTCP6(TCPSyn)
			s.src, s.dst = netip.AddrFrom16(pktClient4.As16()), pktVIP6
			return s.build()
		}(), DropBadIP},
		{"ipv6 to an ipv4-mapped address (an IPv4 VIP's key)", func() []byte {
			s := specTCP6(TCPSyn)
			s.src, s.dst = pktClient6, netip.AddrFrom16(pktVIP4.As16())
			return s.build()
		}(), DropBadIP},
		{"jumbo frame 9000 bytes", specTCP4Payload(9000 - 54).build(), Forwarded},
		{"gso-sized ipv4 65535 bytes", specTCP4Payload(65535 - 40).build(), Forwarded},
		{"gso-sized ipv6 65535 payload", func() []byte {
			s := specTCP6(TCPAck)
			s.payload = make([]byte, 65535-20)
			return s.build()
		}(), Forwarded},
	}
	for ihl := range 5 {
		tests = append(tests, tc{
			name:  fmt.Sprintf("ipv4 ihl %d", ihl),
			frame: pktMutate(specTCP4(TCPSyn).build(), func(b []byte) { b[14] = 0x40 | byte(ihl) }),
			want:  DropBadIP,
		})
	}
	for doff := range 5 {
		tests = append(tests, tc{
			name:  fmt.Sprintf("tcp data offset %d", doff),
			frame: pktMutate(specTCP4(TCPSyn).build(), func(b []byte) { b[46] = byte(doff) << 4 }),
			want:  DropBadL4,
		})
	}
	for n := range ethHdrLen {
		tests = append(tests, tc{name: fmt.Sprintf("runt %d bytes", n), frame: specTCP4(TCPSyn).build()[:n], want: DropRunt})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			if got := ParseFrame(tt.frame, &p); got != tt.want {
				t.Errorf("ParseFrame() = %v, want %v", got, tt.want)
			}
		})
	}
}

func specTCP4Payload(n int) pktSpec {
	s := specTCP4(TCPAck | TCPPsh)
	s.payload = make([]byte, n)
	for i := range s.payload {
		s.payload[i] = byte(i * 7)
	}
	return s
}

// TestParseFrameTruncated cuts valid frames at every length: nothing short
// of the whole IP packet parses, and the verdict says why.
func TestParseFrameTruncated(t *testing.T) {
	hbh := specUDP6(5)
	hbh.ext = []uint8{ip6HopByHop, ip6Fragment}
	for _, tt := range []struct {
		name string
		s    pktSpec
		l3   int // minimal IP header
	}{
		{"tcp4", specTCP4(TCPSyn), 20},
		{"udp4", specUDP4(9), 20},
		{"tcp6", specTCP6(TCPSyn), 40},
		{"udp6 with extension headers", hbh, 40},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.s.build()
			var p Packet
			for n := range len(f) {
				want := DropBadIP // the total or payload length exceeds the frame
				if n < ethHdrLen+tt.l3 {
					want = DropRunt
				}
				if got := ParseFrame(f[:n], &p); got != want {
					t.Errorf("ParseFrame(frame[:%d]) = %v, want %v", n, got, want)
				}
			}
			if got := ParseFrame(f, &p); got != Forwarded {
				t.Errorf("ParseFrame(whole frame) = %v, want %v", got, Forwarded)
			}
		})
	}
}

// TestParseFrameReuse checks that nothing of an earlier parse leaks into the
// next one through the reused Packet.
func TestParseFrameReuse(t *testing.T) {
	frag := specHBHFrag()
	var p Packet
	if v := ParseFrame(frag.build(), &p); v != Forwarded {
		t.Fatalf("ParseFrame(fragment) = %v", v)
	}
	f := specUDP4(4).build()
	if v := ParseFrame(f, &p); v != Forwarded {
		t.Fatalf("ParseFrame(udp4) = %v", v)
	}
	want := Packet{L3: 14, L4: 34, End: 46, Family: 4, Key: pktKey(pktClient4, pktVIP4, protoNumUDP, 5353, 53), HopLimit: 64}
	if diff := cmp.Diff(want, p, pktCmpOpts); diff != "" {
		t.Errorf("reused packet mismatch (-want +got):\n%s", diff)
	}
}

func specHBHFrag() pktSpec {
	s := specTCP6(TCPSyn | TCPAck)
	s.ext, s.mf, s.fragID = []uint8{ip6HopByHop, ip6Fragment}, true, 99
	s.payload = make([]byte, 100)
	return s
}

// TestParseFrameGopacket parses frames that gopacket serialized and compares
// every field with gopacket's decoding, and the checksums gopacket computed
// with L4Checksum.
func TestParseFrameGopacket(t *testing.T) {
	eth4 := &layers.Ethernet{SrcMAC: net.HardwareAddr(pktMACClient[:]), DstMAC: net.HardwareAddr(pktMACBalancer[:]), EthernetType: layers.EthernetTypeIPv4}
	eth6 := &layers.Ethernet{SrcMAC: net.HardwareAddr(pktMACClient[:]), DstMAC: net.HardwareAddr(pktMACBalancer[:]), EthernetType: layers.EthernetTypeIPv6}
	ip4 := func(proto layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 61, TOS: 0x28, Id: 4321, Flags: layers.IPv4DontFragment, Protocol: proto,
			SrcIP: pktClient4.AsSlice(), DstIP: pktVIP4.AsSlice()}
	}
	ip6 := func(proto layers.IPProtocol) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 33, NextHeader: proto, SrcIP: pktClient6.AsSlice(), DstIP: pktVIP6.AsSlice()}
	}
	tcp := func() *layers.TCP {
		return &layers.TCP{SrcPort: 51000, DstPort: 8443, Seq: 7, Ack: 9, SYN: true, ACK: true, ECE: true, Window: 500,
			Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}}}
	}
	udp := func() *layers.UDP { return &layers.UDP{SrcPort: 9999, DstPort: 53} }
	odd := gopacket.Payload([]byte("an odd-sized payload!"))

	build := func(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
		t.Helper()
		for _, l := range ls {
			switch l := l.(type) {
			case *layers.TCP:
				_ = l.SetNetworkLayerForChecksum(ls[1].(gopacket.NetworkLayer))
			case *layers.UDP:
				_ = l.SetNetworkLayerForChecksum(ls[1].(gopacket.NetworkLayer))
			}
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	tests := []struct {
		name   string
		layers []gopacket.SerializableLayer
	}{
		{"tcp4", []gopacket.SerializableLayer{eth4, ip4(layers.IPProtocolTCP), tcp(), odd}},
		{"udp4", []gopacket.SerializableLayer{eth4, ip4(layers.IPProtocolUDP), udp(), odd}},
		{"tcp6", []gopacket.SerializableLayer{eth6, ip6(layers.IPProtocolTCP), tcp(), odd}},
		{"udp6", []gopacket.SerializableLayer{eth6, ip6(layers.IPProtocolUDP), udp(), odd}},
		{"udp6 empty", []gopacket.SerializableLayer{eth6, ip6(layers.IPProtocolUDP), udp()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := build(t, tt.layers...)
			var p Packet
			if v := ParseFrame(f, &p); v != Forwarded {
				t.Fatalf("ParseFrame() = %v", v)
			}
			pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
			want := Packet{L3: 14, End: len(f), DF: true}
			var field uint16
			if l := pkt.Layer(layers.LayerTypeIPv4); l != nil {
				ip := l.(*layers.IPv4)
				want.Family, want.HopLimit = 4, ip.TTL
				want.Key.Src, want.Key.Dst = Addr16From4([4]byte(ip.SrcIP.To4())), Addr16From4([4]byte(ip.DstIP.To4()))
				want.L4 = 14 + int(ip.IHL)*4
				if got := IPv4HeaderChecksum(f[14:34]); got != ip.Checksum {
					t.Errorf("IPv4HeaderChecksum() = %#04x, gopacket computed %#04x", got, ip.Checksum)
				}
			} else {
				ip := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
				want.Family, want.HopLimit = 6, ip.HopLimit
				want.Key.Src, want.Key.Dst = Addr16([16]byte(ip.SrcIP)), Addr16([16]byte(ip.DstIP))
				want.L4 = 54
			}
			if l := pkt.Layer(layers.LayerTypeTCP); l != nil {
				tl := l.(*layers.TCP)
				want.Key.Proto, want.Key.SrcPort, want.Key.DstPort = protoNumTCP, uint16(tl.SrcPort), uint16(tl.DstPort)
				want.TCPFlags = tl.Contents[13]
				field = tl.Checksum
			} else {
				ul := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
				want.Key.Proto, want.Key.SrcPort, want.Key.DstPort = protoNumUDP, uint16(ul.SrcPort), uint16(ul.DstPort)
				field = ul.Checksum
			}
			if diff := cmp.Diff(want, p, pktCmpOpts); diff != "" {
				t.Errorf("ParseFrame() mismatch with gopacket (-want +got):\n%s", diff)
			}
			if got := L4Checksum(&p); got != field {
				t.Errorf("L4Checksum() = %#04x, gopacket computed %#04x", got, field)
			}
		})
	}
}
