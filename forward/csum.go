package forward

import (
	"encoding/binary"
	"math/bits"
)

// Internet checksums (RFC 1071): the ones' complement of the ones' complement
// sum of 16-bit big-endian words.
//
// The sum is byte-order independent (RFC 1071 section 2(B)): summing the
// same bytes as little-endian words gives the byte-swapped sum. So the hot
// loop loads 64-bit little-endian words, which on amd64 and arm64 are plain
// loads, adds them with carry (math/bits.Add64 compiles to ADC), and swaps
// the two bytes of the folded result once at the end.

// sumLE adds b, as 64-bit little-endian words, to the ones' complement
// accumulator acc and returns the new accumulator. b[0] is taken to sit at
// an even offset. A final odd byte is the high byte of a big-endian word, the
// low byte of a little-endian one.
func sumLE(acc uint64, b []byte) uint64 {
	var c uint64
	for len(b) >= 64 {
		w := b[:64]
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(w[0:8]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(w[8:16]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(w[16:24]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(w[24:32]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(w[32:40]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(w[40:48]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(w[48:56]), c)
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(w[56:64]), c)
		b = b[64:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.LittleEndian.Uint64(b), c)
		b = b[8:]
	}
	// Up to 7 bytes left: assemble them into one little-endian word, each
	// byte at the position it would have in a full load.
	var t uint64
	var s uint
	if len(b) >= 4 {
		t = uint64(binary.LittleEndian.Uint32(b))
		b, s = b[4:], 32
	}
	if len(b) >= 2 {
		t |= uint64(binary.LittleEndian.Uint16(b)) << s
		b, s = b[2:], s+16
	}
	if len(b) == 1 {
		t |= uint64(b[0]) << s
	}
	acc, c = bits.Add64(acc, t, c)
	// End-around carry. If this addition carries, acc is 0 afterwards, so
	// adding the carry back cannot carry again.
	acc, c = bits.Add64(acc, 0, c)
	return acc + c
}

// fold16 folds a 64-bit ones' complement accumulator to 16 bits.
func fold16(acc uint64) uint16 {
	lo, c := bits.Add32(uint32(acc), uint32(acc>>32), 0)
	lo += c // lo <= 2^32-2 when c is 1: no overflow
	s := lo>>16 + lo&0xffff
	s = s>>16 + s&0xffff
	return uint16(s)
}

// csumPartial returns the ones' complement sum, not complemented, of b as
// big-endian 16-bit words (b[0] is the high byte of the first word).
func csumPartial(b []byte) uint16 {
	return bits.ReverseBytes16(fold16(sumLE(0, b)))
}

// csumAdd adds two ones' complement 16-bit sums.
func csumAdd(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s + s>>16)
}

// IPv4HeaderChecksum returns the header checksum that belongs in hdr[10:12]
// for the IPv4 header hdr (options included, so len(hdr) is IHL*4 >= 20),
// ignoring the field's current value. A header is valid when the result
// equals the field.
func IPv4HeaderChecksum(hdr []byte) uint16 {
	return ^csumAdd(csumPartial(hdr[:10]), csumPartial(hdr[12:]))
}

// CompleteChecksum finishes a partial L4 checksum (CHECKSUM_PARTIAL: frames
// from veth or virtio devices whose ring slot says TP_STATUS_CSUMNOTREADY, or
// whose virtio_net_hdr has VIRTIO_NET_HDR_F_NEEDS_CSUM). The checksum field,
// at frame[csumStart+csumOffset:], holds the uncomplemented pseudo-header sum;
// the bytes from csumStart (the L4 header) to end (p.End, the end of the IP
// packet, not the Ethernet padding) are summed, field included, and the
// complement is stored in the field. For UDP a result of 0 is sent as 0xffff
// (RFC 768: 0 means "no checksum").
//
// It reports false, and changes nothing, when the offsets do not fit the
// frame: csumStart, csumOffset and end come from the kernel's metadata and
// are checked rather than trusted.
func CompleteChecksum(frame []byte, csumStart, csumOffset, end int, udp bool) bool {
	if csumStart < 0 || csumOffset < 0 || end > len(frame) || csumStart > end || csumOffset > end-csumStart-2 {
		return false
	}
	field := csumStart + csumOffset
	c := ^csumPartial(frame[csumStart:end])
	if udp && c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(frame[field:field+2], c)
	return true
}

// CompleteL4Checksum completes the partial TCP or UDP checksum of a parsed
// packet whose ring slot said TP_STATUS_CSUMNOTREADY without giving the
// offsets: the sum starts at the L4 header and the field is TCP's or UDP's.
// It reports false for a non-first fragment, which has no L4 header (a
// partially checksummed packet is never fragmented).
func CompleteL4Checksum(p *Packet) bool {
	off, ok := l4CsumOffset(p)
	if !ok {
		return false
	}
	return CompleteChecksum(p.Frame, p.L4, off, p.End, p.Key.Proto == protoNumUDP)
}

// L4Checksum returns the TCP or UDP checksum of p as it belongs on the wire,
// computed from scratch (pseudo-header and segment), ignoring the field's
// current value. p must be a whole packet (FragNone) that ParseFrame
// accepted; for a fragment the result is meaningless, and it is 0 for a
// non-first fragment. A UDP checksum that computes to 0 is returned as 0xffff.
func L4Checksum(p *Packet) uint16 {
	off, ok := l4CsumOffset(p)
	if !ok {
		return 0
	}
	seg := p.Frame[p.L4:p.End]
	// off is even, so the two halves around the field add as they are.
	s := csumAdd(pseudoSum(p, len(seg)), csumPartial(seg[:off]))
	s = csumAdd(s, csumPartial(seg[off+2:]))
	c := ^s
	if c == 0 && p.Key.Proto == protoNumUDP {
		c = 0xffff
	}
	return c
}

// l4CsumOffset returns the offset of p's checksum field from its L4 header,
// and whether the header and field lie within the packet.
func l4CsumOffset(p *Packet) (int, bool) {
	var off int
	switch p.Key.Proto {
	case protoNumTCP:
		off = 16
	case protoNumUDP:
		off = 6
	default:
		return 0, false
	}
	if p.L4 <= 0 || p.L4+off+2 > p.End || p.End > len(p.Frame) {
		return 0, false
	}
	return off, true
}

// pseudoSum returns the uncomplemented sum of p's pseudo-header for an L4
// segment of l4Len bytes: RFC 793/768 for IPv4 (addresses, protocol,
// length), RFC 8200 section 8.1 for IPv6 (addresses, 32-bit length, next
// header). The addresses are the IP header's (an IPv6 routing header with
// segments left is refused by ParseFrame, so the destination is final).
func pseudoSum(p *Packet, l4Len int) uint16 {
	var s uint16
	if p.Family == 4 {
		s = csumAdd(csumPartial(p.Key.Src[12:]), csumPartial(p.Key.Dst[12:]))
	} else {
		s = csumAdd(csumPartial(p.Key.Src[:]), csumPartial(p.Key.Dst[:]))
		s = csumAdd(s, uint16(l4Len>>16))
	}
	s = csumAdd(s, uint16(p.Key.Proto))
	return csumAdd(s, uint16(l4Len))
}
