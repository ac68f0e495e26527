package vrrp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/govs-lb/govs/internal/vrrptest"
)

// ipPayloads returns the IPv4 packets of the captured frames of one file.
func ipPayloads(t testing.TB, file string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, f := range vrrptest.Select(vrrptest.Vectors(t), file) {
		if binary.BigEndian.Uint16(f.Data[12:]) == 0x0800 {
			out = append(out, f.Data[14:])
		}
	}
	if len(out) == 0 {
		t.Fatalf("no IPv4 frames in %s", file)
	}
	return out
}

func key8(s string) []byte {
	k := make([]byte, 8)
	copy(k, s)
	return k
}

// TestVectorsRoundTrip parses every captured advert and marshals it back:
// the bytes must be keepalived's, checksums and AH ICV included.
func TestVectorsRoundTrip(t *testing.T) {
	tests := []struct {
		file string
		key  []byte
	}{
		{"vec-v2-pass-adverts.pcap", key8("kaprobe1")},
		{"vec-v2-pass-prio0.pcap", key8("kaprobe1")},
		{"vec-v2-unicast.pcap", key8("kaprobe1")},
		{"vec-v2-ah.pcap", key8("gvbpass1")},
		{"vec-v3-adverts.pcap", nil},
		{"vec-v3-prio0.pcap", nil},
		{"vec-v3-unicast.pcap", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			for i, raw := range ipPayloads(t, tt.file) {
				p, v := Parse(bytes.Clone(raw))
				if v != Accepted {
					t.Fatalf("packet %d: %v", i, v)
				}
				if p.AH != nil && !p.verifyAH(tt.key, !p.Dst.IsMulticast()) {
					t.Errorf("packet %d: AH does not verify", i)
				}
				got, err := p.Marshal(tt.key)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, raw) {
					t.Errorf("packet %d:\n got %x\nwant %x", i, got, raw)
				}
			}
		})
	}
}

func TestParseFields(t *testing.T) {
	tests := []struct {
		file string
		want Packet
	}{
		{"vec-v2-pass-adverts.pcap", Packet{TOS: 0xc0, ID: 41, TTL: 255,
			Src: netip.MustParseAddr("198.18.1.1"), Dst: netip.MustParseAddr("224.0.0.18"),
			Advert: Advert{Version: 2, Type: 1, VRID: 51, Priority: 150, AuthType: AuthPass, Interval: time.Second,
				Addrs: []netip.Addr{netip.MustParseAddr("198.18.1.100")}, Auth: [8]byte([]byte("kaprobe1")), Checksum: 0xcfeb}}},
		{"vec-v2-ah.pcap", Packet{TOS: 0xc0, ID: 1, TTL: 255,
			Src: netip.MustParseAddr("198.18.7.2"), Dst: netip.MustParseAddr("224.0.0.18"),
			AH: &AH{SPI: 0xc6120702, Seq: 1, ICV: [12]byte{0xf9, 0x49, 0x29, 0xd8, 0x42, 0xa2, 0x51, 0xff, 0xf1, 0x83, 0x3e, 0x99}},
			Advert: Advert{Version: 2, Type: 1, VRID: 77, Priority: 100, AuthType: AuthAH, Interval: time.Second,
				Addrs: []netip.Addr{netip.MustParseAddr("198.18.7.100")}, Checksum: 0xab39}}},
		{"vec-v3-adverts.pcap", Packet{TOS: 0xc0, ID: 1, TTL: 255,
			Src: netip.MustParseAddr("198.18.1.1"), Dst: netip.MustParseAddr("224.0.0.18"),
			Advert: Advert{Version: 3, Type: 1, VRID: 51, Priority: 150, Interval: time.Second,
				Addrs: []netip.Addr{netip.MustParseAddr("198.18.1.100")}, Checksum: 0xc94d}}},
		{"vec-v3-prio0.pcap", Packet{TOS: 0xc0, ID: 3, TTL: 255,
			Src: netip.MustParseAddr("198.18.1.1"), Dst: netip.MustParseAddr("224.0.0.18"),
			Advert: Advert{Version: 3, Type: 1, VRID: 51, Priority: 0, Interval: time.Second,
				Addrs: []netip.Addr{netip.MustParseAddr("198.18.1.100")}, Checksum: 0x5f4e}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p, v := Parse(ipPayloads(t, tt.file)[0])
			if v != Accepted {
				t.Fatal(v)
			}
			if diff := cmp.Diff(&tt.want, p, cmpopts.IgnoreUnexported(Packet{}), cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestMarshalBuildsVector builds the first AH advert from its fields
// alone: keepalived's ICV comes out.
func TestMarshalBuildsVector(t *testing.T) {
	p := &Packet{TOS: tosNetControl, ID: 1, TTL: 255,
		Src: netip.MustParseAddr("198.18.7.2"), Dst: netip.MustParseAddr("224.0.0.18"),
		AH: &AH{SPI: 0xc6120702, Seq: 1},
		Advert: Advert{Version: 2, VRID: 77, Priority: 100, AuthType: AuthAH, Interval: time.Second,
			Addrs: []netip.Addr{netip.MustParseAddr("198.18.7.100")}}}
	got, err := p.Marshal(key8("gvbpass1"))
	if err != nil {
		t.Fatal(err)
	}
	if want := ipPayloads(t, "vec-v2-ah.pcap")[0]; !bytes.Equal(got, want) {
		t.Errorf("\n got %x\nwant %x", got, want)
	}
}

func TestParseRejects(t *testing.T) {
	good := ipPayloads(t, "vec-v2-pass-adverts.pcap")[0]
	goodV3 := ipPayloads(t, "vec-v3-adverts.pcap")[0]
	mod := func(b []byte, f func(b []byte) []byte) []byte { return f(bytes.Clone(b)) }
	tests := []struct {
		name string
		b    []byte
		want Verdict
	}{
		{"empty", nil, DropShort},
		{"ip header only", good[:20], DropShort},
		{"truncated", good[:len(good)-1], DropLength},
		{"ipv6", mod(good, func(b []byte) []byte { b[0] = 0x65; return b }), DropIPHeader},
		{"fragment", mod(good, func(b []byte) []byte { b[6] = 0x20; return b }), DropIPHeader},
		{"udp", mod(good, func(b []byte) []byte { b[9] = 17; return b }), DropIPHeader},
		{"version 4", mod(good, func(b []byte) []byte { b[20] = 0x41; return b }), DropVersion},
		{"type 2", mod(good, func(b []byte) []byte { b[20] = 0x22; return b }), DropType},
		{"address count", mod(good, func(b []byte) []byte { b[23] = 2; return b }), DropLength},
		{"checksum", mod(good, func(b []byte) []byte { b[26] ^= 1; return b }), DropChecksum},
		{"password changes checksum", mod(good, func(b []byte) []byte { b[39] ^= 1; return b }), DropChecksum},
		{"v3 pseudo header", mod(goodV3, func(b []byte) []byte { b[19] = 19; return b }), DropChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, got := Parse(tt.b); got != tt.want {
				t.Errorf("Parse = %v, want %v", got, tt.want)
			}
		})
	}
}
