package netsim

import (
	"encoding/binary"
	"encoding/hex"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIPv4HeaderChecksum(t *testing.T) {
	// A header with its checksum field zeroed, and the checksum it needs.
	h := mustHex(t, "450000730000400040110000c0a80001c0a800c7")
	if got, want := ipv4HeaderChecksum(h), uint16(0xb861); got != want {
		t.Errorf("checksum = %#04x, want %#04x", got, want)
	}
}

// verifyL4 reports whether the transport checksum of an IPv4 packet is
// right: the sum over pseudo-header and segment folds to zero.
func verifyL4(pkt []byte) bool {
	ihl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	seg := pkt[ihl:total]
	s := csumAdd(0, pkt[12:20]) + uint32(pkt[9]) + uint32(len(seg))
	return csumFold(csumAdd(s, seg)) == 0
}

// tcpPacket builds an IPv4 TCP packet with the given payload whose checksum
// field holds only the pseudo-header sum, as CHECKSUM_PARTIAL leaves it.
func tcpPacket(payload []byte) []byte {
	pkt := make([]byte, 40+len(payload))
	pkt[0] = 0x45
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	pkt[8], pkt[9] = 64, 6
	copy(pkt[12:], []byte{198, 18, 1, 1, 198, 19, 0, 1})
	binary.BigEndian.PutUint16(pkt[10:], ipv4HeaderChecksum(pkt[:20]))
	binary.BigEndian.PutUint16(pkt[20:], 40000)
	binary.BigEndian.PutUint16(pkt[22:], 80)
	pkt[32] = 5 << 4
	pkt[33] = 0x18
	copy(pkt[40:], payload)
	partial := ^csumFold(csumAdd(0, pkt[12:20]) + 6 + uint32(len(pkt)-20))
	binary.BigEndian.PutUint16(pkt[36:], partial)
	return pkt
}

func TestCompleteL4Checksum(t *testing.T) {
	tests := []struct {
		name    string
		payload string
	}{
		{"empty", ""},
		{"even", "GET / HTTP/1.0\r\n\r\n"},
		{"odd", "odd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt := tcpPacket([]byte(tt.payload))
			if verifyL4(pkt) {
				t.Fatal("partial checksum already verifies")
			}
			if err := completeL4Checksum(pkt); err != nil {
				t.Fatal(err)
			}
			if !verifyL4(pkt) {
				t.Error("completed checksum does not verify")
			}
		})
	}
}

func TestCompleteL4ChecksumRejects(t *testing.T) {
	frag := tcpPacket(nil)
	binary.BigEndian.PutUint16(frag[6:], 0x2000) // more fragments
	long := tcpPacket(nil)
	binary.BigEndian.PutUint16(long[2:], 1000)
	for name, pkt := range map[string][]byte{
		"short":    {0x45, 0},
		"ipv6":     append([]byte{0x60}, make([]byte, 39)...),
		"fragment": frag,
		"too long": long,
	} {
		if err := completeL4Checksum(pkt); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzCompleteL4Checksum(f *testing.F) {
	f.Add(tcpPacket([]byte("hello")))
	f.Add([]byte{0x45, 0, 0, 20})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if completeL4Checksum(pkt) != nil || len(pkt) < 20 {
			return
		}
		if p := pkt[9]; (p == 6 || p == 17) && !verifyL4(pkt) {
			t.Errorf("checksum does not verify after completion: %x", pkt)
		}
	})
}
