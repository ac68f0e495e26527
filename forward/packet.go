package forward

import "encoding/binary"

// Wire constants of the frames the data plane parses and builds.
const (
	ethHdrLen    = 14
	ethTypeIPv4  = 0x0800
	ethTypeIPv6  = 0x86dd
	ipv4HdrLen   = 20 // without options
	ipv6HdrLen   = 40
	tcpHdrLen    = 20 // without options
	udpHdrLen    = 8
	protoNumICMP = 1
	protoNumIPIP = 4
	protoNumTCP  = 6
	protoNumUDP  = 17

	// IPv6 extension headers that ParseFrame walks (RFC 8200 section 4).
	ip6HopByHop = 0
	ip6Routing  = 43
	ip6Fragment = 44
	ip6DestOpts = 60
	// maxIPv6ExtHeaders bounds the extension header walk. RFC 8200 allows
	// each header once (destination options twice); more is an attack.
	maxIPv6ExtHeaders = 8
)

// ParseFrame parses an Ethernet frame into p (reusing p, no allocation) and
// returns Forwarded when the frame is a well-formed IPv4 or IPv6 TCP or UDP
// packet, or an IP fragment of one, else the drop reason. Forwarded here only
// means "parsed OK, continue". p.Frame is frame; all of p's other fields are
// reset, and are meaningful only when the result is Forwarded.
//
// Only Ethernet II without VLAN tags is accepted: govs binds untagged
// interfaces, so a tagged frame (802.1Q, 802.1ad) is DropNotIP, like ARP.
// Bytes after the IP packet (Ethernet padding) are ignored: p.End is L3 plus
// the IP total length. The IPv4 header checksum is not verified: a corrupt
// header is forwarded as is and the real server drops it.
func ParseFrame(frame []byte, p *Packet) Verdict {
	*p = Packet{Frame: frame}
	if len(frame) < ethHdrLen {
		return DropRunt
	}
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case ethTypeIPv4:
		// IPv4, the common case, is parsed right here, and TCP and UDP
		// headers by inlined helpers: no call on the hot path.
	case ethTypeIPv6:
		return parseIPv6(frame, p)
	default:
		return DropNotIP
	}
	const l3 = ethHdrLen
	if len(frame) < l3+ipv4HdrLen {
		return DropRunt
	}
	h := frame[l3 : l3+ipv4HdrLen]
	if h[0]>>4 != 4 {
		return DropBadIP
	}
	ihl := int(h[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(h[2:4]))
	if ihl < ipv4HdrLen || total < ihl || total > len(frame)-l3 {
		return DropBadIP
	}
	end := l3 + total
	p.L3, p.End = l3, end
	p.Family = 4
	p.IPOptions = ihl > ipv4HdrLen
	fo := binary.BigEndian.Uint16(h[6:8])
	p.DF = fo&0x4000 != 0
	p.HopLimit = h[8]
	proto := h[9]
	p.Key.Proto = proto
	// The IPv4-mapped form, in two 8-byte stores each: later 8-byte
	// loads of the key (hashes, compares) forward from them instead of
	// stalling on a dozen byte-sized stores.
	binary.LittleEndian.PutUint64(p.Key.Src[0:8], 0)
	binary.LittleEndian.PutUint64(p.Key.Src[8:16], 0xffff<<16|uint64(binary.LittleEndian.Uint32(h[12:16]))<<32)
	binary.LittleEndian.PutUint64(p.Key.Dst[0:8], 0)
	binary.LittleEndian.PutUint64(p.Key.Dst[8:16], 0xffff<<16|uint64(binary.LittleEndian.Uint32(h[16:20]))<<32)
	if fo&0x3fff != 0 { // MF or a fragment offset
		p.FragID = uint32(binary.BigEndian.Uint16(h[4:6]))
		if fo&0x1fff != 0 {
			p.Frag = FragLater
			if proto != protoNumTCP && proto != protoNumUDP {
				return DropBadL4
			}
			return Forwarded
		}
		p.Frag = FragFirst
	}
	switch proto {
	case protoNumTCP:
		return parseTCP(frame, p, l3+ihl, end)
	case protoNumUDP:
		return parseUDP(frame, p, l3+ihl, end)
	}
	return DropBadL4
}

// parseIPv6 parses the IPv6 header at ethHdrLen, walks its extension
// headers and parses what follows.
func parseIPv6(frame []byte, p *Packet) Verdict {
	const l3 = ethHdrLen
	if len(frame) < l3+ipv6HdrLen {
		return DropRunt
	}
	h := frame[l3 : l3+ipv6HdrLen]
	if h[0]>>4 != 6 {
		return DropBadIP
	}
	plen := int(binary.BigEndian.Uint16(h[4:6]))
	nh := h[6]
	// A jumbogram (RFC 2675) has payload length 0 and its real length in a
	// hop-by-hop option; never seen on an Ethernet link govs serves.
	if plen == 0 && nh == ip6HopByHop {
		return DropBadIP
	}
	end := l3 + ipv6HdrLen + plen
	if end > len(frame) {
		return DropBadIP
	}
	p.L3, p.End = l3, end
	p.Family = 6
	p.DF = true
	p.HopLimit = h[7]
	p.Key.Src = Addr16(h[8:24])
	p.Key.Dst = Addr16(h[24:40])
	// IPv4-mapped addresses do not belong on the wire (RFC 4291 section
	// 2.5.5.2; Linux never sends them and its TCP refuses SYNs from them).
	// In a flow key they would pass for IPv4: an IPv6 packet to ::ffff:VIP
	// would match the IPv4 virtual service. So Key.Src.Is4() holds
	// exactly when Family is 4.
	if p.Key.Src.Is4() || p.Key.Dst.Is4() {
		return DropBadIP
	}

	off := l3 + ipv6HdrLen
	sawFrag := false
	for i := 0; ; i++ {
		if nh == protoNumTCP || nh == protoNumUDP {
			break
		}
		if i == maxIPv6ExtHeaders {
			return DropBadIP
		}
		switch nh {
		case ip6HopByHop, ip6Routing, ip6DestOpts:
			// Hop-by-hop options must come first (RFC 8200 section 4.1).
			if nh == ip6HopByHop && i != 0 {
				return DropBadIP
			}
			if end-off < 8 {
				return DropBadIP
			}
			x := frame[off : off+8]
			n := (int(x[1]) + 1) * 8
			if n > end-off {
				return DropBadIP
			}
			// A routing header with segments left names an intermediate
			// node in the destination field, not the virtual service; the
			// kernel would route or refuse it, never deliver it.
			if nh == ip6Routing && x[3] != 0 {
				return DropBadIP
			}
			p.IPOptions = true
			nh = x[0]
			off += n
		case ip6Fragment:
			if end-off < 8 || sawFrag {
				// Truncated, or a second fragment header.
				return DropBadIP
			}
			sawFrag = true
			x := frame[off : off+8]
			fo := binary.BigEndian.Uint16(x[2:4])
			id := binary.BigEndian.Uint32(x[4:8])
			nh = x[0]
			off += 8
			if fo&0xfff8 != 0 {
				// A later fragment: what follows is data, not headers,
				// so the next header must be the upper layer's.
				p.Frag, p.FragID = FragLater, id
				p.Key.Proto = nh
				if nh != protoNumTCP && nh != protoNumUDP {
					return DropBadL4
				}
				return Forwarded
			}
			if fo&1 != 0 {
				p.Frag, p.FragID = FragFirst, id
			}
			// Offset 0 without M is an atomic fragment (RFC 6946): a
			// whole packet.
		default:
			// ESP, AH, no next header, ICMPv6, anything else.
			p.Key.Proto = nh
			return DropBadL4
		}
	}
	p.Key.Proto = nh
	return parseL4(frame, p, off, end, nh)
}

// parseL4 parses the TCP or UDP header at l4 of an IP packet ending at end
// (end <= len(frame)) and fills p's ports, flags and L4.
func parseL4(frame []byte, p *Packet, l4, end int, proto uint8) Verdict {
	switch proto {
	case protoNumTCP:
		return parseTCP(frame, p, l4, end)
	case protoNumUDP:
		return parseUDP(frame, p, l4, end)
	}
	return DropBadL4
}

// parseTCP parses the TCP header at l4 (small enough to inline).
func parseTCP(frame []byte, p *Packet, l4, end int) Verdict {
	if end-l4 < tcpHdrLen {
		return DropBadL4
	}
	t := frame[l4 : l4+tcpHdrLen]
	// A first fragment must carry the whole TCP header (RFC 1858's tiny
	// fragments are dropped).
	if doff := int(t[12]>>4) * 4; doff < tcpHdrLen || doff > end-l4 {
		return DropBadL4
	}
	p.Key.SrcPort = binary.BigEndian.Uint16(t[0:2])
	p.Key.DstPort = binary.BigEndian.Uint16(t[2:4])
	p.TCPFlags = t[13]
	p.L4 = l4
	return Forwarded
}

// parseUDP parses the UDP header at l4.
func parseUDP(frame []byte, p *Packet, l4, end int) Verdict {
	rem := end - l4
	if rem < udpHdrLen {
		return DropBadL4
	}
	u := frame[l4 : l4+udpHdrLen]
	ulen := int(binary.BigEndian.Uint16(u[4:6]))
	// The UDP length covers the whole datagram: exactly the rest of an
	// unfragmented packet, more than the first fragment holds. 0 (only
	// valid in a jumbogram) fails both.
	if p.Frag == FragNone && ulen != rem || p.Frag != FragNone && ulen < rem {
		return DropBadL4
	}
	p.Key.SrcPort = binary.BigEndian.Uint16(u[0:2])
	p.Key.DstPort = binary.BigEndian.Uint16(u[2:4])
	p.L4 = l4
	return Forwarded
}
