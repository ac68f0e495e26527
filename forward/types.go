package forward

import "net/netip"

// Addr16 is an IP address in 16 bytes: IPv6 as is, IPv4 in its IPv4-mapped
// form ::ffff:a.b.c.d. Unlike netip.Addr it holds no pointer, so tables of
// them are never scanned by the garbage collector.
type Addr16 [16]byte

// v4Prefix is the first 12 bytes of an IPv4-mapped address.
var v4Prefix = [12]byte{10: 0xff, 11: 0xff}

// Addr16From returns a's 16-byte form.
func Addr16From(a netip.Addr) Addr16 { return Addr16(a.Unmap().As16()) }

// Addr16From4 returns the 16-byte form of an IPv4 address.
func Addr16From4(b [4]byte) Addr16 {
	var a Addr16
	copy(a[:12], v4Prefix[:])
	copy(a[12:], b[:])
	return a
}

// Is4 reports whether a is an IPv4-mapped address.
func (a Addr16) Is4() bool { return [12]byte(a[:12]) == v4Prefix }

// Addr returns a as a netip.Addr, IPv4 unmapped.
func (a Addr16) Addr() netip.Addr {
	if a.Is4() {
		return netip.AddrFrom4([4]byte(a[12:]))
	}
	return netip.AddrFrom16(a)
}

// FlowKey identifies a flow in the client-to-virtual-service direction:
// the only direction a DR or TUN balancer sees. It is 40 bytes, comparable
// and pointer-free.
type FlowKey struct {
	Src     Addr16
	Dst     Addr16
	SrcPort uint16
	DstPort uint16
	Proto   uint8 // IP protocol number: 6 TCP, 17 UDP
	_       [3]byte
}

// Frag says whether a packet is an IP fragment and which.
type Frag uint8

const (
	FragNone  Frag = iota // not a fragment
	FragFirst             // offset 0, more fragments follow: has the L4 header
	FragLater             // offset > 0: no L4 header
)

// Packet is the parsed view of one Ethernet frame, filled in place by
// ParseFrame without allocating. Offsets index Frame.
type Packet struct {
	Frame []byte
	L3    int // offset of the IP header (14 without VLAN tags)
	L4    int // offset of the TCP or UDP header; 0 for FragLater
	End   int // end of the IP packet: L3 + IP total length (Ethernet padding is beyond)

	Family uint8 // 4 or 6
	Key    FlowKey
	// TCPFlags are the TCP header's flag bits (FIN 0x01, SYN 0x02, RST 0x04,
	// PSH 0x08, ACK 0x10, ...); 0 for UDP.
	TCPFlags uint8
	Frag     Frag
	// FragID is the IPv4 identification or IPv6 fragment header's
	// identification, for fragments.
	FragID uint32
	// DF is IPv4's don't-fragment bit (always true for IPv6).
	DF bool
	// HopLimit is the IPv4 TTL or the IPv6 hop limit.
	HopLimit uint8
	// IPOptions reports IPv4 options or IPv6 extension headers (other than
	// one fragment header) before L4.
	IPOptions bool
}

// TCP flag bits.
const (
	TCPFin = 0x01
	TCPSyn = 0x02
	TCPRst = 0x04
	TCPPsh = 0x08
	TCPAck = 0x10
)
