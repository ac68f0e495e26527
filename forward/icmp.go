package forward

import "encoding/binary"

// ICMPv4 "destination unreachable: fragmentation needed and DF set".
const (
	icmpTypeDestUnreach = 3
	icmpCodeFragNeeded  = 4
	icmpHdrLen          = 8
	// icmpQuoteData is how much of the offending packet's payload an ICMP
	// error quotes after its IP header (RFC 792: 64 bits).
	icmpQuoteData = 8
	// icmpTTL is the kernel's net.ipv4.ip_default_ttl, which icmp_send uses.
	icmpTTL = 64
)

// FragNeeded writes into out the Ethernet frame of an ICMPv4 "fragmentation
// needed" (type 3, code 4, RFC 792 and RFC 1191) answering p, from
// srcMAC/srcIP back to the MAC the frame came from (the client's or its
// router's) and p's source address, with next-hop MTU mtu. It returns the
// frame's length, or 0 when out is too small or no answer is due.
//
// This is what IPVS does for a TUN packet with DF set that would exceed the
// route's MTU once encapsulated: icmp_send(skb, ICMP_DEST_UNREACH,
// ICMP_FRAG_NEEDED, htonl(mtu)) with mtu = link MTU - IPIPOverhead, so the
// caller passes that. The kernel sends it from the address its route to the
// client picks; govs has no route lookup on the packet path, and the client
// must accept the message, so the caller should pass the VIP (p's
// destination) as srcIP: a source the client already talks to.
//
// The message quotes the offending packet's IP header, options included,
// and the first 8 bytes of its payload, as RFC 792 and RFC 1191 ask (Linux
// quotes up to 576 bytes; 8 carry the ports, all a host needs to find the
// socket). As icmp_send does, the TOS is the packet's TOS bits with
// precedence "internetwork control" (0xc0), and the TTL is 64. Unlike Linux
// (DF clear, ID from its generator) the message is sent with DF set and ID
// 0: an atomic datagram, whose ID RFC 6864 leaves free, and at most 96
// bytes long, which any IPv4 link carries.
//
// No answer is due (RFC 1122 section 3.2.2, and icmp_send's checks) for a
// non-first fragment, or a packet from an address that names no single host
// (0.0.0.0/8, 127.0.0.0/8, multicast, reserved and broadcast). p must be
// IPv4; out may not overlap p.Frame.
func FragNeeded(out []byte, p *Packet, srcMAC [6]byte, srcIP [4]byte, mtu uint16) int {
	if p.Family != 4 || p.Frag == FragLater || p.L3 < ethHdrLen || p.L3+ipv4HdrLen > p.End || p.End > len(p.Frame) {
		return 0
	}
	f := p.Frame
	orig := f[p.L3:p.End]
	client := [4]byte(orig[12:16])
	if client[0] == 0 || client[0] == 127 || client[0] >= 224 {
		return 0
	}
	quote := int(orig[0]&0x0f)*4 + icmpQuoteData
	if quote > len(orig) {
		quote = len(orig)
	}
	const hdrs = ethHdrLen + ipv4HdrLen + icmpHdrLen
	n := hdrs + quote
	if len(out) < n {
		return 0
	}
	copy(out[hdrs:n], orig[:quote])

	eth := out[:ethHdrLen]
	copy(eth[0:6], f[6:12])
	copy(eth[6:12], srcMAC[:])
	binary.BigEndian.PutUint16(eth[12:14], ethTypeIPv4)

	tos := orig[1]&0x1e | 0xc0
	putIPv4Header(out[ethHdrLen:ethHdrLen+ipv4HdrLen], tos, uint16(n-ethHdrLen), 0, 0x4000, icmpTTL, protoNumICMP, srcIP, client)

	icmp := out[ethHdrLen+ipv4HdrLen : n]
	icmp[0] = icmpTypeDestUnreach
	icmp[1] = icmpCodeFragNeeded
	icmp[2], icmp[3] = 0, 0
	icmp[4], icmp[5] = 0, 0 // unused
	binary.BigEndian.PutUint16(icmp[6:8], mtu)
	binary.BigEndian.PutUint16(icmp[2:4], ^csumPartial(icmp))
	return n
}
