package forward

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// pktSeeds returns valid frames of every shape ParseFrame knows, to seed the
// fuzzers.
func pktSeeds() [][]byte {
	opts := specTCP4(TCPSyn)
	opts.ipOpts, opts.tcpOpts = []byte{0x94, 4, 0, 0}, []byte{2, 4, 5, 0xb4}
	first4 := specUDP4(40)
	first4.mf, first4.udpLen = true, 1000
	later4 := specUDP4(0)
	later4.fragOff, later4.payload = 5, make([]byte, 24)
	ext6 := specUDP6(11)
	ext6.ext = []uint8{ip6HopByHop, ip6Routing, ip6DestOpts}
	later6 := specTCP6(0)
	later6.ext, later6.fragOff, later6.payload = []uint8{ip6Fragment}, 2, make([]byte, 9)
	padded := specUDP4(1)
	padded.pad = 17
	seeds := [][]byte{
		specTCP4(TCPSyn).build(),
		specUDP4(33).build(),
		specTCP6(TCPFin | TCPAck).build(),
		specUDP6(0).build(),
		opts.build(),
		first4.build(),
		later4.build(),
		ext6.build(),
		later6.build(),
		specHBHFrag().build(),
		padded.build(),
		specTCP4Payload(1460).build(),
	}
	return seeds
}

// checkParseInvariants parses b and checks what holds for any input: no
// panic, a parse verdict, and for Forwarded, offsets that order and fit the
// frame, with the L4 header inside the IP packet.
func checkParseInvariants(t *testing.T, b []byte) {
	t.Helper()
	var p Packet
	v := ParseFrame(b, &p)
	switch v {
	case DropRunt, DropNotIP, DropBadIP, DropBadL4:
		return
	case Forwarded:
	default:
		t.Fatalf("ParseFrame() = %v, not a parse verdict", v)
	}
	if len(p.Frame) != len(b) || len(b) > 0 && &p.Frame[0] != &b[0] {
		t.Fatalf("p.Frame is not the frame")
	}
	ipHdr := ipv4HdrLen
	if p.Family == 6 {
		ipHdr = ipv6HdrLen
	} else if p.Family != 4 {
		t.Fatalf("Family = %d", p.Family)
	}
	if p.L3 != ethHdrLen || p.End < p.L3+ipHdr || p.End > len(b) {
		t.Fatalf("L3 %d, End %d, frame %d bytes", p.L3, p.End, len(b))
	}
	if p.Key.Src.Is4() != (p.Family == 4) || p.Key.Dst.Is4() != (p.Family == 4) {
		t.Fatalf("family %d with addresses %v, %v", p.Family, p.Key.Src.Addr(), p.Key.Dst.Addr())
	}
	if p.Key.Proto != protoNumTCP && p.Key.Proto != protoNumUDP {
		t.Fatalf("Proto = %d", p.Key.Proto)
	}
	if p.Frag == FragLater {
		if p.L4 != 0 || p.Key.SrcPort != 0 || p.Key.DstPort != 0 || p.TCPFlags != 0 {
			t.Fatalf("later fragment with L4 %d, ports %d %d, flags %#x", p.L4, p.Key.SrcPort, p.Key.DstPort, p.TCPFlags)
		}
		return
	}
	hdr := udpHdrLen
	if p.Key.Proto == protoNumTCP {
		hdr = tcpHdrLen
		if p.L4+tcpHdrLen <= p.End {
			hdr = int(b[p.L4+12]>>4) * 4
		}
	}
	if p.L4 < p.L3+ipHdr || p.L4+hdr > p.End {
		t.Fatalf("L4 %d with a %d-byte header, L3 %d, End %d", p.L4, hdr, p.L3, p.End)
	}
	// Whatever parses can have its L4 checksum computed and completed.
	_ = L4Checksum(&p)
	c := append([]byte(nil), b...)
	var q Packet
	ParseFrame(c, &q)
	if p.Frag == FragNone && !CompleteL4Checksum(&q) {
		t.Fatalf("CompleteL4Checksum() = false for a parsed packet")
	}
}

func FuzzParseFrame(f *testing.F) {
	for _, s := range pktSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkParseInvariants(t, b)
	})
}

// FuzzRewrite encapsulates and answers whatever parses, and checks the
// outer headers field by field: the encapsulated frame must parse as IPv4
// up to its protocol 4 (which ParseFrame then refuses), and the ICMP frame
// as IPv4 up to protocol 1, with valid checksums throughout.
func FuzzRewrite(f *testing.F) {
	for _, s := range pktSeeds() {
		f.Add(s, uint16(7), uint16(1480))
	}
	f.Fuzz(func(t *testing.T, b []byte, id, mtu uint16) {
		var p Packet
		if ParseFrame(b, &p) != Forwarded {
			return
		}
		src, dst := pktLB4.As4(), pktReal4.As4()
		out := make([]byte, 1<<17)
		n := EncapIPIP(out, &p, pktMACReal, pktMACBalancer, src, dst, id)
		inner := b[p.L3:p.End]
		switch {
		case p.Family != 4 || len(inner)+ipv4HdrLen > 0xffff:
			if n != 0 {
				t.Fatalf("EncapIPIP() = %d, want 0", n)
			}
		default:
			checkEncap(t, out[:n], inner, id)
		}
		if p.Family != 4 {
			return
		}
		n = FragNeeded(out, &p, pktMACBalancer, pktVIP4.As4(), mtu)
		client := b[p.L3+12]
		if p.Frag == FragLater || client == 0 || client == 127 || client >= 224 {
			if n != 0 {
				t.Fatalf("FragNeeded() = %d, want 0", n)
			}
			return
		}
		checkFragNeeded(t, out[:n], b, &p, mtu)
	})
}

// checkEncap checks an IPIP frame built by EncapIPIP from inner.
func checkEncap(t *testing.T, f, inner []byte, id uint16) {
	t.Helper()
	if len(f) != ethHdrLen+ipv4HdrLen+len(inner) {
		t.Fatalf("EncapIPIP() = %d, want %d", len(f), ethHdrLen+ipv4HdrLen+len(inner))
	}
	var q Packet
	if v := ParseFrame(f, &q); v != DropBadL4 || q.Key.Proto != protoNumIPIP || q.Family != 4 {
		t.Fatalf("encapsulated frame parses as %v, proto %d, family %d; want bad-l4, 4, 4", v, q.Key.Proto, q.Family)
	}
	h := f[ethHdrLen : ethHdrLen+ipv4HdrLen]
	if [6]byte(f[0:6]) != pktMACReal || [6]byte(f[6:12]) != pktMACBalancer {
		t.Errorf("MACs %x %x", f[0:6], f[6:12])
	}
	if h[0] != 0x45 || h[1] != inner[1] || h[8] != inner[8] {
		t.Errorf("version/IHL %#x TOS %#x TTL %d, inner TOS %#x TTL %d", h[0], h[1], h[8], inner[1], inner[8])
	}
	if got, want := binary.BigEndian.Uint16(h[6:8]), binary.BigEndian.Uint16(inner[6:8])&0x4000; got != want {
		t.Errorf("flags %#x, want %#x", got, want)
	}
	if binary.BigEndian.Uint16(h[4:6]) != id || binary.BigEndian.Uint16(h[2:4]) != uint16(len(f)-ethHdrLen) {
		t.Errorf("ID %d total %d", binary.BigEndian.Uint16(h[4:6]), binary.BigEndian.Uint16(h[2:4]))
	}
	if [4]byte(h[12:16]) != pktLB4.As4() || [4]byte(h[16:20]) != pktReal4.As4() {
		t.Errorf("addresses %v %v", h[12:16], h[16:20])
	}
	if refSum(h) != 0xffff {
		t.Errorf("outer header checksum does not verify")
	}
	if !bytes.Equal(f[ethHdrLen+ipv4HdrLen:], inner) {
		t.Errorf("inner packet changed")
	}
}

// checkFragNeeded checks an ICMP frame built by FragNeeded answering p.
func checkFragNeeded(t *testing.T, f, orig []byte, p *Packet, mtu uint16) {
	t.Helper()
	ip := orig[p.L3:p.End]
	quote := min(int(ip[0]&0xf)*4+8, len(ip))
	if len(f) != ethHdrLen+ipv4HdrLen+icmpHdrLen+quote {
		t.Fatalf("FragNeeded() = %d bytes, want %d", len(f), ethHdrLen+ipv4HdrLen+icmpHdrLen+quote)
	}
	var q Packet
	if v := ParseFrame(f, &q); v != DropBadL4 || q.Key.Proto != protoNumICMP || q.End != len(f) {
		t.Fatalf("ICMP frame parses as %v, proto %d, end %d", v, q.Key.Proto, q.End)
	}
	if [6]byte(f[0:6]) != [6]byte(orig[6:12]) || [6]byte(f[6:12]) != pktMACBalancer {
		t.Errorf("MACs %x %x", f[0:6], f[6:12])
	}
	h := f[ethHdrLen : ethHdrLen+ipv4HdrLen]
	if refSum(h) != 0xffff {
		t.Errorf("IP header checksum does not verify")
	}
	if [4]byte(h[12:16]) != pktVIP4.As4() || [4]byte(h[16:20]) != [4]byte(ip[12:16]) {
		t.Errorf("addresses %v %v", h[12:16], h[16:20])
	}
	icmp := f[ethHdrLen+ipv4HdrLen:]
	if icmp[0] != 3 || icmp[1] != 4 || binary.BigEndian.Uint16(icmp[6:8]) != mtu || icmp[4] != 0 || icmp[5] != 0 {
		t.Errorf("ICMP header %x", icmp[:8])
	}
	if refSum(icmp) != 0xffff {
		t.Errorf("ICMP checksum does not verify")
	}
	if !bytes.Equal(icmp[8:], ip[:quote]) {
		t.Errorf("quote differs from the packet")
	}
}

// FuzzCompleteChecksum completes checksums at arbitrary offsets: no panic,
// and whenever it reports success the range verifies against the
// pseudo-header sum that the field held before: sum + pseudo = 0xffff.
func FuzzCompleteChecksum(f *testing.F) {
	f.Add(specTCP4Payload(101).build(), 34, 16, 155, false)
	f.Add(specUDP6(3).build(), 54, 6, 65, true)
	f.Fuzz(func(t *testing.T, b []byte, start, off, end int, udp bool) {
		var pseudo uint16
		if start >= 0 && off >= 0 && start+off >= 0 && start+off+2 <= len(b) {
			pseudo = binary.BigEndian.Uint16(b[start+off:])
		}
		if !CompleteChecksum(b, start, off, end, udp) {
			return
		}
		if off%2 != 0 {
			return // a field at an odd offset sums byte-swapped: no TCP or UDP
		}
		if got := csumAdd(uint16(refSum(b[start:end])), pseudo); got != 0xffff {
			t.Fatalf("sum after completion + pseudo-header = %#04x, want 0xffff", got)
		}
		if field := binary.BigEndian.Uint16(b[start+off:]); udp && field == 0 {
			t.Fatalf("UDP checksum completed to 0")
		}
	})
}
