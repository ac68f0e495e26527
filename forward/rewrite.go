package forward

import "encoding/binary"

// IPIPOverhead is what IPIP tunnelling adds to an IP packet: one IPv4 header
// without options. A packet fits a link of MTU m once encapsulated when
// p.End-p.L3 <= m-IPIPOverhead; m-IPIPOverhead is also the next-hop MTU that
// FragNeeded reports, as IPVS does.
const IPIPOverhead = ipv4HdrLen

// SetMACs rewrites the frame's destination and source MAC addresses: direct
// routing. The source must be rewritten too (to the balancer's own MAC), or
// the switch learns the client's or router's MAC on the balancer's port.
// Nothing else changes: like IPVS's DR, the TTL is not decremented. frame
// must hold at least the two addresses (any frame ParseFrame accepted does).
func SetMACs(frame []byte, dst, src [6]byte) {
	*(*[6]byte)(frame[0:6]) = dst
	*(*[6]byte)(frame[6:12]) = src
}

// EncapIPIP writes into out an Ethernet frame (dstMAC, srcMAC, type IPv4)
// carrying an outer IPv4 header (src, dst, protocol 4) followed by the IP
// packet p.Frame[p.L3:p.End]. It returns the frame's length, or 0 when out is
// too small, p is not IPv4 (govs refuses IPv6 TUN in configuration), or the
// result would exceed IPv4's 65535-byte total length. out may overlap
// p.Frame: the inner packet is moved first. The MTU is the caller's to
// check (see IPIPOverhead).
//
// The outer header follows IPVS (ip_vs_tunnel_xmit and
// ip_vs_prepare_tunneled_skb in net/netfilter/ipvs/ip_vs_xmit.c):
//   - TOS: the inner header's whole TOS byte (ipv4_get_dsfield), ECN bits
//     included.
//   - TTL: the inner header's TTL (*ttl = old_iph->ttl), not the route's
//     default of 64.
//   - DF: copied from the inner header; fragment offset and MF are 0.
//   - ID: id, a per-worker counter of the caller's. The kernel draws one from
//     ip_select_ident, or sets 0 for DF packets; RFC 6864 lets any value
//     do when DF is set.
//   - No options; header checksum computed.
//
// The inner packet is copied unchanged (IPVS recomputes the inner header
// checksum, which govs never changes).
func EncapIPIP(out []byte, p *Packet, dstMAC, srcMAC [6]byte, src, dst [4]byte, id uint16) int {
	if p.Family != 4 || p.L3 < 0 || p.L3+ipv4HdrLen > p.End || p.End > len(p.Frame) {
		return 0
	}
	inner := p.Frame[p.L3:p.End]
	total := ipv4HdrLen + len(inner)
	n := ethHdrLen + total
	if total > 0xffff || len(out) < n {
		return 0
	}
	// Read what the outer header copies before the move may overwrite it.
	tos, ttl := inner[1], inner[8]
	df := binary.BigEndian.Uint16(inner[6:8]) & 0x4000
	copy(out[ethHdrLen+ipv4HdrLen:n], inner)

	eth := out[:ethHdrLen]
	copy(eth[0:6], dstMAC[:])
	copy(eth[6:12], srcMAC[:])
	binary.BigEndian.PutUint16(eth[12:14], ethTypeIPv4)
	h := out[ethHdrLen : ethHdrLen+ipv4HdrLen]
	putIPv4Header(h, tos, uint16(total), id, df, ttl, protoNumIPIP, src, dst)
	return n
}

// putIPv4Header writes a 20-byte IPv4 header without options into h,
// checksum included. flags is the flags and fragment offset field.
func putIPv4Header(h []byte, tos uint8, total, id, flags uint16, ttl, proto uint8, src, dst [4]byte) {
	h = h[:ipv4HdrLen]
	h[0] = 0x45
	h[1] = tos
	binary.BigEndian.PutUint16(h[2:4], total)
	binary.BigEndian.PutUint16(h[4:6], id)
	binary.BigEndian.PutUint16(h[6:8], flags)
	h[8] = ttl
	h[9] = proto
	h[10], h[11] = 0, 0
	copy(h[12:16], src[:])
	copy(h[16:20], dst[:])
	binary.BigEndian.PutUint16(h[10:12], IPv4HeaderChecksum(h))
}
