package netsim

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func frame(pkt []byte) []byte {
	f := append(HostMAC(1, 2), HostMAC(1, 1)...)
	f = binary.BigEndian.AppendUint16(f, etherTypeIPv4)
	return append(f, pkt...)
}

func TestParseFrame(t *testing.T) {
	m := relayMatch{vip: netip.MustParseAddr("198.19.0.1"), proto: 6, port: 80}
	base := tcpPacket([]byte("hi"))
	mutate := func(f func(p []byte) []byte) []byte {
		return frame(f(append([]byte(nil), base...)))
	}
	tests := []struct {
		name  string
		frame []byte
		want  relayVerdict
	}{
		{"match", frame(base), relayForwarded},
		{"match with ethernet padding", append(frame(base), 0, 0, 0, 0), relayForwarded},
		{"other port", mutate(func(p []byte) []byte { p[23] = 81; return p }), relayNotMatched},
		{"other address", mutate(func(p []byte) []byte { p[19] = 2; return p }), relayNotMatched},
		{"udp", mutate(func(p []byte) []byte { p[9] = 17; return p }), relayNotMatched},
		{"arp", append(HostMAC(1, 2), append(HostMAC(1, 1), 0x08, 0x06, 0, 1)...), relayNotMatched},
		{"short", frame(base[:10]), relayNotMatched},
		{"fragment", mutate(func(p []byte) []byte { p[6] = 0x20; return p }), relayMalformed},
		{"length beyond frame", mutate(func(p []byte) []byte { p[2] = 0xff; return p }), relayMalformed},
		{"bad header length", mutate(func(p []byte) []byte { p[0] = 0x44; return p }), relayMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt, _, got := parseFrame(tt.frame, m)
			if got != tt.want {
				t.Fatalf("verdict %d, want %d", got, tt.want)
			}
			if got == relayForwarded {
				if diff := cmp.Diff(base, pkt); diff != "" {
					t.Errorf("packet (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestParseFrameHashesFlows checks that a flow keeps its hash and that
// flows spread.
func TestParseFrameHashesFlows(t *testing.T) {
	m := relayMatch{vip: netip.MustParseAddr("198.19.0.1"), proto: 6, port: 80}
	seen := make(map[uint32]bool)
	for port := uint16(40000); port < 40064; port++ {
		p := tcpPacket(nil)
		binary.BigEndian.PutUint16(p[20:], port)
		_, h1, _ := parseFrame(frame(p), m)
		p[33] = 0x10 // another segment of the same flow
		_, h2, _ := parseFrame(frame(p), m)
		if h1 != h2 {
			t.Fatalf("port %d: hash changed within the flow", port)
		}
		seen[h1%2] = true
	}
	if len(seen) != 2 {
		t.Errorf("64 flows all hash to one of two targets")
	}
}

func TestEncapIPIP(t *testing.T) {
	inner := tcpPacket([]byte("hello"))
	hop := Hop{Addr: netip.MustParseAddr("198.18.1.3"), MAC: HostMAC(1, 3)}
	out := encapIPIP(nil, inner, HostMAC(1, 2), netip.MustParseAddr("198.18.1.2"), hop, 7)

	if diff := cmp.Diff("02:67:73:01:03:00", net.HardwareAddr(out[0:6]).String()); diff != "" {
		t.Errorf("destination MAC (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("02:67:73:01:02:00", net.HardwareAddr(out[6:12]).String()); diff != "" {
		t.Errorf("source MAC (-want +got):\n%s", diff)
	}
	outer := out[etherHeaderLen:]
	type header struct {
		EtherType, Version, TotalLen, ID, Proto, TTL int
		Src, Dst                                     string
		ChecksumOK                                   bool
	}
	got := header{
		EtherType:  int(binary.BigEndian.Uint16(out[12:])),
		Version:    int(outer[0]),
		TotalLen:   int(binary.BigEndian.Uint16(outer[2:])),
		ID:         int(binary.BigEndian.Uint16(outer[4:])),
		Proto:      int(outer[9]),
		TTL:        int(outer[8]),
		Src:        netip.AddrFrom4([4]byte(outer[12:16])).String(),
		Dst:        netip.AddrFrom4([4]byte(outer[16:20])).String(),
		ChecksumOK: csumFold(csumAdd(0, outer[:20])) == 0,
	}
	want := header{
		EtherType: 0x0800, Version: 0x45, TotalLen: 20 + len(inner), ID: 7, Proto: 4, TTL: 64,
		Src: "198.18.1.2", Dst: "198.18.1.3", ChecksumOK: true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outer header (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(inner, outer[20:]); diff != "" {
		t.Errorf("inner packet (-want +got):\n%s", diff)
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add(frame(tcpPacket([]byte("hi"))))
	f.Add([]byte{})
	m := relayMatch{vip: netip.MustParseAddr("198.19.0.1"), proto: 6, port: 80}
	f.Fuzz(func(t *testing.T, b []byte) {
		pkt, _, v := parseFrame(b, m)
		if v != relayForwarded {
			return
		}
		// What the relay takes it can checksum and encapsulate.
		if len(pkt) < ipv4HeaderLen+4 || len(pkt) > len(b)-etherHeaderLen {
			t.Fatalf("packet of %d bytes from a frame of %d", len(pkt), len(b))
		}
		completeL4Checksum(pkt)
		encapIPIP(nil, pkt, HostMAC(1, 1), netip.MustParseAddr("198.18.1.1"), Hop{Addr: netip.MustParseAddr("198.18.1.3"), MAC: HostMAC(1, 3)}, 1)
	})
}
