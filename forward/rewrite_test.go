package forward

import (
	"bytes"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func TestSetMACs(t *testing.T) {
	f := specTCP4(TCPSyn).build()
	want := bytes.Clone(f)
	copy(want[0:6], pktMACReal[:])
	copy(want[6:12], pktMACBalancer[:])
	SetMACs(f, pktMACReal, pktMACBalancer)
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("SetMACs() frame mismatch (-want +got):\n%s", diff)
	}
}

// encapFields is what a test asserts of an IPIP frame, as gopacket decodes it.
type encapFields struct {
	DstMAC, SrcMAC net.HardwareAddr
	EtherType      layers.EthernetType
	TOS            uint8
	Length, ID     uint16
	Flags          layers.IPv4Flag
	FragOffset     uint16
	TTL            uint8
	Protocol       layers.IPProtocol
	Src, Dst       string
	InnerSrc       string
	InnerDst       string
	Ports          [2]uint16
}

func TestEncapIPIP(t *testing.T) {
	dfTOS := specTCP4(TCPSyn)
	dfTOS.tos, dfTOS.ttl = 0xb9, 17 // DSCP 46 and ECN CE: copied whole
	noDF := specUDP4(201)
	noDF.ttl, noDF.pad = 250, 9 // Ethernet padding is not the packet's
	opts := specTCP4Payload(1000)
	opts.ipOpts = []byte{0x94, 4, 0, 0}

	tests := []struct {
		name string
		s    pktSpec
		id   uint16
		want encapFields
	}{
		{
			name: "tcp4 DF, TOS and TTL copied",
			s:    dfTOS,
			id:   0xfeed,
			want: encapFields{TOS: 0xb9, Length: 20 + 40, ID: 0xfeed, Flags: layers.IPv4DontFragment, TTL: 17,
				InnerDst: pktVIP4.String(), Ports: [2]uint16{40000, 80}},
		},
		{
			name: "udp4 without DF, padded",
			s:    noDF,
			id:   1,
			want: encapFields{Length: 20 + 20 + 8 + 201, ID: 1, TTL: 250, InnerDst: pktVIP4.String(), Ports: [2]uint16{5353, 53}},
		},
		{
			name: "tcp4 with IP options",
			s:    opts,
			want: encapFields{Length: 20 + 24 + 20 + 1000, Flags: layers.IPv4DontFragment, TTL: 64,
				InnerDst: pktVIP4.String(), Ports: [2]uint16{40000, 80}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.s.build()
			var p Packet
			if v := ParseFrame(f, &p); v != Forwarded {
				t.Fatalf("ParseFrame() = %v", v)
			}
			orig := bytes.Clone(f)
			out := make([]byte, 2048)
			n := EncapIPIP(out, &p, pktMACReal, pktMACBalancer, pktLB4.As4(), pktReal4.As4(), tt.id)
			if want := int(tt.want.Length) + ethHdrLen; n != want {
				t.Fatalf("EncapIPIP() = %d, want %d", n, want)
			}
			if !bytes.Equal(f, orig) {
				t.Errorf("EncapIPIP() changed the original frame")
			}
			pkt := gopacket.NewPacket(out[:n], layers.LayerTypeEthernet, gopacket.Default)
			if el := pkt.ErrorLayer(); el != nil {
				t.Fatalf("gopacket: %v", el.Error())
			}
			ls := pkt.Layers()
			if len(ls) < 4 {
				t.Fatalf("gopacket decoded %d layers, want Ethernet, IPv4, IPv4, TCP or UDP", len(ls))
			}
			eth, outer, inner := ls[0].(*layers.Ethernet), ls[1].(*layers.IPv4), ls[2].(*layers.IPv4)
			got := encapFields{
				DstMAC: eth.DstMAC, SrcMAC: eth.SrcMAC, EtherType: eth.EthernetType,
				TOS: outer.TOS, Length: outer.Length, ID: outer.Id, Flags: outer.Flags, FragOffset: outer.FragOffset,
				TTL: outer.TTL, Protocol: outer.Protocol, Src: outer.SrcIP.String(), Dst: outer.DstIP.String(),
				InnerSrc: inner.SrcIP.String(), InnerDst: inner.DstIP.String(),
			}
			switch l := ls[3].(type) {
			case *layers.TCP:
				got.Ports = [2]uint16{uint16(l.SrcPort), uint16(l.DstPort)}
			case *layers.UDP:
				got.Ports = [2]uint16{uint16(l.SrcPort), uint16(l.DstPort)}
			}
			want := tt.want
			want.DstMAC, want.SrcMAC, want.EtherType = pktMACReal[:], pktMACBalancer[:], layers.EthernetTypeIPv4
			want.Protocol, want.Src, want.Dst = layers.IPProtocolIPv4, pktLB4.String(), pktReal4.String()
			want.InnerSrc = pktClient4.String()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("EncapIPIP() outer headers mismatch (-want +got):\n%s", diff)
			}
			// gopacket recomputes the outer header checksum.
			sent := outer.Checksum
			if err := outer.SerializeTo(gopacket.NewSerializeBuffer(), gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
				t.Fatal(err)
			}
			if sent != outer.Checksum {
				t.Errorf("outer header checksum %#04x, gopacket computes %#04x", sent, outer.Checksum)
			}
			if !bytes.Equal(out[ethHdrLen+ipv4HdrLen:n], f[p.L3:p.End]) {
				t.Errorf("inner packet changed in transit")
			}
		})
	}
}

func TestEncapIPIPRefuses(t *testing.T) {
	var p4, p6, big Packet
	ParseFrame(specTCP4(TCPSyn).build(), &p4)
	ParseFrame(specTCP6(TCPSyn).build(), &p6)
	if v := ParseFrame(specTCP4Payload(65535-40).build(), &big); v != Forwarded {
		t.Fatalf("ParseFrame(65535-byte packet) = %v", v)
	}
	tests := []struct {
		name string
		out  []byte
		p    *Packet
		want int
	}{
		{"fits exactly", make([]byte, 74), &p4, 74},
		{"out one byte short", make([]byte, 73), &p4, 0},
		{"ipv6 (TUN is IPv4 only)", make([]byte, 2048), &p6, 0},
		{"outer total length over 65535", make([]byte, 1<<17), &big, 0},
		{"not parsed", make([]byte, 2048), &Packet{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EncapIPIP(tt.out, tt.p, pktMACReal, pktMACBalancer, pktLB4.As4(), pktReal4.As4(), 1); got != tt.want {
				t.Errorf("EncapIPIP() = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestEncapIPIPInPlace encapsulates into the buffer that holds the frame,
// as a caller with headroom-less rings might: the same bytes come out.
func TestEncapIPIPInPlace(t *testing.T) {
	f := specTCP4Payload(333).build()
	var p Packet
	ParseFrame(f, &p)
	want := make([]byte, 2048)
	n := EncapIPIP(want, &p, pktMACReal, pktMACBalancer, pktLB4.As4(), pktReal4.As4(), 9)

	for _, shift := range []int{0, 6, 20, 34, 40} {
		buf := make([]byte, 2048)
		copy(buf[shift:], f)
		ParseFrame(buf[shift:shift+len(f)], &p)
		if got := EncapIPIP(buf, &p, pktMACReal, pktMACBalancer, pktLB4.As4(), pktReal4.As4(), 9); got != n {
			t.Fatalf("shift %d: EncapIPIP() = %d, want %d", shift, got, n)
		}
		if diff := cmp.Diff(want[:n], buf[:n]); diff != "" {
			t.Errorf("shift %d: in-place result mismatch (-want +got):\n%s", shift, diff)
		}
	}
}
