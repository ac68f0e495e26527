package vrrp

import (
	"encoding/binary"
	"net/netip"
)

// checksum returns the Internet checksum (RFC 1071) of b, starting from a
// partial sum. A buffer whose checksum field is right sums to 0.
func checksum(b []byte, sum uint32) uint16 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// pseudoHeaderSum is the partial sum of VRRPv3's IPv4 pseudo-header:
// source, destination, zero, protocol 112, VRRP length.
func pseudoHeaderSum(src, dst netip.Addr, n int) uint32 {
	s, d := src.As4(), dst.As4()
	var sum uint32
	sum += uint32(s[0])<<8 | uint32(s[1])
	sum += uint32(s[2])<<8 | uint32(s[3])
	sum += uint32(d[0])<<8 | uint32(d[1])
	sum += uint32(d[2])<<8 | uint32(d[3])
	sum += ProtoVRRP
	sum += uint32(n)
	return sum
}
