package netsim

import (
	"encoding/binary"
	"errors"
)

// Internet checksums (RFC 1071) for the userspace forwarders of the lab.

// csumAdd adds b to the one's complement sum s, as 16-bit big-endian words.
func csumAdd(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// csumFold folds a sum to 16 bits and complements it.
func csumFold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// ipv4HeaderChecksum returns the checksum of an IPv4 header whose checksum
// field is zero.
func ipv4HeaderChecksum(h []byte) uint16 {
	return csumFold(csumAdd(0, h))
}

// completeL4Checksum computes the TCP or UDP checksum of an IPv4 packet
// from scratch and stores it. Packets that arrive through veth often carry
// only the pseudo-header sum there (CHECKSUM_PARTIAL, which AF_PACKET
// reports as TP_STATUS_CSUMNOTREADY); a forwarder must finish it or the
// receiver drops the packet. Other protocols are left alone.
func completeL4Checksum(pkt []byte) error {
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		return errors.New("not an IPv4 packet")
	}
	ihl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	if ihl < 20 || total < ihl || total > len(pkt) {
		return errors.New("bad IPv4 lengths")
	}
	if binary.BigEndian.Uint16(pkt[6:])&0x3fff != 0 {
		return errors.New("IPv4 fragment")
	}
	proto := pkt[9]
	seg := pkt[ihl:total]
	var off int
	switch proto {
	case 6: // TCP
		off = 16
	case 17: // UDP
		off = 6
	default:
		return nil
	}
	if len(seg) < off+2 {
		return errors.New("short transport header")
	}
	seg[off], seg[off+1] = 0, 0
	s := csumAdd(0, pkt[12:20]) // source and destination addresses
	s += uint32(proto) + uint32(len(seg))
	c := csumFold(csumAdd(s, seg))
	if proto == 17 && c == 0 {
		c = 0xffff // zero means "no checksum" in UDP
	}
	binary.BigEndian.PutUint16(seg[off:], c)
	return nil
}
