package forward

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// icmpFields is what a test asserts of a "fragmentation needed" frame, as
// gopacket decodes it.
type icmpFields struct {
	DstMAC, SrcMAC net.HardwareAddr
	TOS            uint8
	Length, ID     uint16
	Flags          layers.IPv4Flag
	TTL            uint8
	Protocol       layers.IPProtocol
	Src, Dst       string
	TypeCode       layers.ICMPv4TypeCode
	Unused, MTU    uint16 // gopacket's Id and Seq: the second word
	Quote          []byte
}

func TestFragNeeded(t *testing.T) {
	big := specTCP4Payload(1480) // 1520 bytes of IP, DF
	big.tos = 0xb9               // precedence and ECN bits are not echoed
	opts := specUDP4(1472)
	opts.df, opts.ipOpts, opts.pad = true, []byte{0x94, 4, 0, 0, 1, 1, 1, 0}, 4
	first := specUDP4(1600)
	first.df, first.mf, first.udpLen = true, true, 3000
	tests := []struct {
		name     string
		s        pktSpec
		mtu      uint16
		wantTOS  uint8
		quoteLen int
	}{
		{"tcp4 1520 bytes", big, 1480, 0xc0 | 0x18, 28},
		{"udp4 with IP options, padded", opts, 1480, 0xc0, 36},
		{"first fragment", first, 1400, 0xc0, 28},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.s.build()
			var p Packet
			if v := ParseFrame(f, &p); v != Forwarded {
				t.Fatalf("ParseFrame() = %v", v)
			}
			out := make([]byte, 256)
			n := FragNeeded(out, &p, pktMACBalancer, pktVIP4.As4(), tt.mtu)
			if want := ethHdrLen + ipv4HdrLen + icmpHdrLen + tt.quoteLen; n != want {
				t.Fatalf("FragNeeded() = %d, want %d", n, want)
			}
			pkt := gopacket.NewPacket(out[:n], layers.LayerTypeEthernet, gopacket.Default)
			eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			icmp, _ := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
			if eth == nil || ip == nil || icmp == nil {
				t.Fatalf("gopacket decoded %v", pkt.Layers())
			}
			got := icmpFields{
				DstMAC: eth.DstMAC, SrcMAC: eth.SrcMAC,
				TOS: ip.TOS, Length: ip.Length, ID: ip.Id, Flags: ip.Flags, TTL: ip.TTL, Protocol: ip.Protocol,
				Src: ip.SrcIP.String(), Dst: ip.DstIP.String(),
				TypeCode: icmp.TypeCode, Unused: icmp.Id, MTU: icmp.Seq, Quote: icmp.Payload,
			}
			want := icmpFields{
				DstMAC: pktMACClient[:], SrcMAC: pktMACBalancer[:],
				TOS: tt.wantTOS, Length: uint16(n - ethHdrLen), Flags: layers.IPv4DontFragment, TTL: 64,
				Protocol: layers.IPProtocolICMPv4, Src: pktVIP4.String(), Dst: pktClient4.String(),
				TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeFragmentationNeeded),
				MTU:      tt.mtu, Quote: f[p.L3 : p.L3+tt.quoteLen],
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("FragNeeded() mismatch (-want +got):\n%s", diff)
			}
			// Checksums, recomputed by gopacket.
			sentIP, sentICMP := ip.Checksum, icmp.Checksum
			opts := gopacket.SerializeOptions{ComputeChecksums: true}
			if err := ip.SerializeTo(gopacket.NewSerializeBuffer(), opts); err != nil {
				t.Fatal(err)
			}
			buf := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(buf, opts, icmp, gopacket.Payload(icmp.Payload)); err != nil {
				t.Fatal(err)
			}
			if sentIP != ip.Checksum || sentICMP != icmp.Checksum {
				t.Errorf("checksums IP %#04x ICMP %#04x, gopacket computes %#04x %#04x", sentIP, sentICMP, ip.Checksum, icmp.Checksum)
			}
			// The quoted header lets the client match the message to its
			// socket: the quote parses as the original IP packet's start.
			quoted, _ := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
			if !bytes.Equal(quoted.Payload[12:20], f[p.L3+12:p.L3+20]) {
				t.Errorf("quoted addresses %v, want %v", quoted.Payload[12:20], f[p.L3+12:p.L3+20])
			}
		})
	}
}

func TestFragNeededRefuses(t *testing.T) {
	parse := func(s pktSpec) *Packet {
		var p Packet
		if v := ParseFrame(s.build(), &p); v != Forwarded {
			t.Fatalf("ParseFrame() = %v", v)
		}
		return &p
	}
	from := func(a string) *Packet {
		s := specTCP4Payload(1500)
		s.src = netip.MustParseAddr(a)
		s.dst = pktVIP4
		return parse(s)
	}
	later := specUDP4(0)
	later.df, later.fragOff, later.payload = true, 100, make([]byte, 1480)
	tests := []struct {
		name string
		p    *Packet
		out  int
		want int
	}{
		{"fits exactly", parse(specTCP4Payload(1500)), 70, 70},
		{"out one byte short", parse(specTCP4Payload(1500)), 69, 0},
		{"later fragment", parse(later), 256, 0},
		{"ipv6", parse(specTCP6(TCPAck)), 256, 0},
		{"not parsed", &Packet{}, 256, 0},
		// Sources that name no single host (RFC 1122 3.2.2): the only
		// addresses outside the test ranges in these tests, and no traffic.
		{"from 0.0.0.0", from("0.0.0.0"), 256, 0},
		{"from loopback", from("127.0.0.1"), 256, 0},
		{"from multicast", from("224.0.0.1"), 256, 0},
		{"from broadcast", from("255.255.255.255"), 256, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FragNeeded(make([]byte, tt.out), tt.p, pktMACBalancer, pktVIP4.As4(), 1480); got != tt.want {
				t.Errorf("FragNeeded() = %d, want %d", got, tt.want)
			}
		})
	}
}
