package forward

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// TestCsumPartial compares the 64-bit summing with the one-word-at-a-time
// reference over every length up to 300 bytes and random lengths beyond, at
// every alignment, on random bytes and on all-ones (every add carries).
func TestCsumPartial(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 70000)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	ones := bytes.Repeat([]byte{0xff}, 70000)
	lengths := make([]int, 0, 400)
	for n := range 300 {
		lengths = append(lengths, n)
	}
	for range 60 {
		lengths = append(lengths, rng.IntN(len(buf)-8))
	}
	lengths = append(lengths, 1500, 9000, 65535, 65536+7)
	for _, data := range []struct {
		name string
		b    []byte
	}{{"random", buf}, {"ones", ones}, {"zeros", make([]byte, 70000)}} {
		for _, n := range lengths {
			for align := range 8 {
				b := data.b[align : align+n]
				if got, want := csumPartial(b), uint16(refSum(b)); got != want {
					t.Fatalf("%s: csumPartial(%d bytes at +%d) = %#04x, want %#04x", data.name, n, align, got, want)
				}
			}
		}
	}
}

func TestCsumAdd(t *testing.T) {
	tests := []struct{ a, b, want uint16 }{
		{0, 0, 0},
		{1, 2, 3},
		{0xffff, 1, 1},
		{0xffff, 0xffff, 0xffff},
		{0x8000, 0x8000, 1},
		{0xfffe, 1, 0xffff},
	}
	for _, tt := range tests {
		if got := csumAdd(tt.a, tt.b); got != tt.want {
			t.Errorf("csumAdd(%#x, %#x) = %#x, want %#x", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestIPv4HeaderChecksum(t *testing.T) {
	opts := specTCP4(TCPSyn)
	opts.ipOpts = []byte{0x94, 4, 0, 0, 1, 1, 1, 0}
	opts.tos, opts.ttl, opts.id = 0xb8, 3, 0xffff
	for _, tt := range []struct {
		name string
		hdr  []byte
	}{
		{"plain", specTCP4(TCPSyn).build()[14:34]},
		{"options", opts.build()[14:42]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := binary.BigEndian.Uint16(tt.hdr[10:])
			tt.hdr[10], tt.hdr[11] = 0x5a, 0xa5 // the field's value is ignored
			if got := IPv4HeaderChecksum(tt.hdr); got != want {
				t.Errorf("IPv4HeaderChecksum() = %#04x, want %#04x", got, want)
			}
		})
	}
}

// csumFrames returns parsed whole packets of all families, protocols and odd
// and even lengths, with garbage Ethernet padding that must not be summed.
func csumFrames() map[string][]byte {
	ext6 := specTCP6(TCPAck)
	ext6.ext, ext6.payload = []uint8{ip6HopByHop, ip6DestOpts}, []byte("seven b")
	opts4 := specUDP4(3)
	opts4.ipOpts = []byte{0x94, 4, 0, 0}
	fs := map[string][]byte{
		"tcp4 syn":             specTCP4(TCPSyn).build(),
		"tcp6 extension hdrs":  ext6.build(),
		"udp4 ip options":      opts4.build(),
		"udp6 empty":           specUDP6(0).build(),
		"tcp4 jumbo":           specTCP4Payload(8947).build(),
		"tcp4 65535":           specTCP4Payload(65535 - 40).build(),
		"tcp4 1 byte, padded":  func() []byte { s := specTCP4Payload(1); s.pad = 5; return s.build() }(),
		"udp6 odd, padded":     func() []byte { s := specUDP6(1001); s.pad = 3; return s.build() }(),
		"udp4 odd":             specUDP4(1471).build(),
		"tcp6 1440":            func() []byte { s := specTCP6(TCPAck); s.payload = bytes.Repeat([]byte{0xab}, 1440); return s.build() }(),
		"udp4 zero payload 64": specUDP4(64).build(),
	}
	return fs
}

// TestL4Checksum checks the from-scratch checksum against the reference the
// frame builder stored, whatever the field holds.
func TestL4Checksum(t *testing.T) {
	for name, f := range csumFrames() {
		t.Run(name, func(t *testing.T) {
			var p Packet
			if v := ParseFrame(f, &p); v != Forwarded {
				t.Fatalf("ParseFrame() = %v", v)
			}
			off, _ := l4CsumOffset(&p)
			field := f[p.L4+off : p.L4+off+2]
			want := binary.BigEndian.Uint16(field)
			field[0], field[1] = 0x12, 0x34
			if got := L4Checksum(&p); got != want {
				t.Errorf("L4Checksum() = %#04x, want %#04x", got, want)
			}
		})
	}
}

// TestCompleteChecksum builds CHECKSUM_PARTIAL frames as the kernel hands
// them over (the field holds the pseudo-header sum, not complemented) and
// completes them.
func TestCompleteChecksum(t *testing.T) {
	for name, f := range csumFrames() {
		for _, how := range []string{"offsets", "parsed"} {
			t.Run(name+" "+how, func(t *testing.T) {
				f := bytes.Clone(f)
				var p Packet
				if v := ParseFrame(f, &p); v != Forwarded {
					t.Fatalf("ParseFrame() = %v", v)
				}
				off, _ := l4CsumOffset(&p)
				field := f[p.L4+off : p.L4+off+2]
				want := binary.BigEndian.Uint16(field)
				src, dst := p.Key.Src.Addr(), p.Key.Dst.Addr()
				binary.BigEndian.PutUint16(field, uint16(refSum(refPseudo(src, dst, p.Key.Proto, p.End-p.L4))))
				var ok bool
				if how == "offsets" {
					ok = CompleteChecksum(f, p.L4, off, p.End, p.Key.Proto == protoNumUDP)
				} else {
					ok = CompleteL4Checksum(&p)
				}
				if !ok {
					t.Fatalf("completion refused")
				}
				if got := binary.BigEndian.Uint16(field); got != want {
					t.Errorf("completed checksum %#04x, want %#04x", got, want)
				}
			})
		}
	}
}

// TestUDPChecksumZero builds a UDP datagram whose checksum computes to 0,
// which goes on the wire as 0xffff, and a TCP segment likewise, which keeps 0.
func TestUDPChecksumZero(t *testing.T) {
	for _, tt := range []struct {
		name string
		s    pktSpec
		want uint16
	}{
		{"udp4", specUDP4(6), 0xffff},
		{"udp6", specUDP6(6), 0xffff},
		{"tcp4", specTCP4Payload(6), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.s.build()
			var p Packet
			ParseFrame(f, &p)
			off, _ := l4CsumOffset(&p)
			field := f[p.L4+off : p.L4+off+2]
			// The last payload word, at an even offset, set to the checksum
			// of the datagram with it zeroed, makes the sum 0xffff.
			last := f[p.End-2 : p.End]
			last[0], last[1] = 0, 0
			binary.BigEndian.PutUint16(last, L4Checksum(&p))
			if got := L4Checksum(&p); got != tt.want {
				t.Fatalf("L4Checksum() = %#04x, want %#04x", got, tt.want)
			}
			binary.BigEndian.PutUint16(field, uint16(refSum(refPseudo(p.Key.Src.Addr(), p.Key.Dst.Addr(), p.Key.Proto, p.End-p.L4))))
			CompleteL4Checksum(&p)
			if got := binary.BigEndian.Uint16(field); got != tt.want {
				t.Errorf("CompleteL4Checksum() stored %#04x, want %#04x", got, tt.want)
			}
		})
	}
}

func TestCompleteChecksumRefuses(t *testing.T) {
	f := specTCP4(TCPSyn).build() // L4 at 34, 54 bytes
	tests := []struct {
		name            string
		start, off, end int
		wantOK          bool
	}{
		{name: "valid", start: 34, off: 16, end: 54, wantOK: true},
		{name: "field at the very end", start: 34, off: 18, end: 54, wantOK: true},
		{name: "field past end", start: 34, off: 19, end: 54},
		{name: "end past frame", start: 34, off: 16, end: 55},
		{name: "negative start", start: -1, off: 16, end: 54},
		{name: "negative offset", start: 34, off: -2, end: 54},
		{name: "start past end", start: 60, off: 0, end: 54},
		{name: "end before start", start: 34, off: 0, end: 30},
		{name: "offset overflows", start: 34, off: math.MaxInt, end: 54},
		{name: "start and offset overflow", start: math.MaxInt, off: 1, end: 54},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(f)
			if got := CompleteChecksum(b, tt.start, tt.off, tt.end, false); got != tt.wantOK {
				t.Errorf("CompleteChecksum() = %v, want %v", got, tt.wantOK)
			}
			if !tt.wantOK && !bytes.Equal(b, f) {
				t.Errorf("refused completion changed the frame")
			}
		})
	}
	var p Packet
	later := specUDP4(0)
	later.fragOff, later.payload = 3, make([]byte, 16)
	if v := ParseFrame(later.build(), &p); v != Forwarded {
		t.Fatalf("ParseFrame(later fragment) = %v", v)
	}
	if CompleteL4Checksum(&p) || L4Checksum(&p) != 0 {
		t.Errorf("a later fragment has no L4 checksum to compute")
	}
}
