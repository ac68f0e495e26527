package vrrp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// The wire format below is frozen: it is keepalived 2.2.7's, byte for byte,
// and the tests hold adverts captured from it. Changing it breaks
// interoperation with every keepalived peer.
const (
	// ProtoVRRP and ProtoAH are the IP protocols adverts travel in.
	ProtoVRRP = 112
	ProtoAH   = 51

	ipv4HeaderLen = 20
	ahLen         = 24 // next header, length, reserved, SPI, sequence, 96-bit ICV
	headerLen     = 8  // version/type, VRID, priority, count, auth/interval, checksum
	authLen       = 8  // VRRPv2 authentication data

	// ahPayloadLen is the AH length field for a 96-bit ICV: 24 bytes in
	// 32-bit words minus 2 (RFC 2402).
	ahPayloadLen = 4

	typeAdvert = 1

	// tosNetControl is the TOS keepalived sends with (internetwork control).
	tosNetControl = 0xc0

	// MaxAddrs is the most addresses an advert can carry.
	MaxAddrs = 255
)

// VRRPv2 authentication types, as on the wire (RFC 3768 5.3.6).
const (
	AuthNone uint8 = 0
	AuthPass uint8 = 1
	AuthAH   uint8 = 2
)

// Advert is a VRRP advertisement.
type Advert struct {
	Version  uint8 // 2 or 3
	Type     uint8 // 1, advertisement
	VRID     uint8
	Priority uint8
	// AuthType is VRRPv2's authentication type (AuthNone, AuthPass,
	// AuthAH); 0 in VRRPv3.
	AuthType uint8
	// Interval is the advert interval: whole seconds in VRRPv2,
	// centiseconds in VRRPv3.
	Interval time.Duration
	// Addrs are the virtual addresses (IPv4).
	Addrs []netip.Addr
	// Auth is VRRPv2's authentication data: the password for PASS,
	// zeros otherwise.
	Auth [authLen]byte
	// Checksum is the checksum as received; Marshal computes it.
	Checksum uint16
}

// AH is the IPsec authentication header keepalived puts before a VRRPv2
// advert with auth_type AH: SPI is the sender's address, Seq a counter,
// ICV the HMAC-MD5-96 of the packet (see ah.go).
type AH struct {
	SPI uint32
	Seq uint32
	ICV [12]byte
}

// Packet is an IPv4 packet carrying an advert, possibly inside AH.
type Packet struct {
	TOS uint8
	ID  uint16
	TTL uint8
	Src netip.Addr
	Dst netip.Addr
	// AH is set for auth_type AH (IP protocol 51).
	AH *AH
	Advert

	// raw is the packet as parsed, for the AH check.
	raw []byte
	// ihl is the IP header length of a parsed packet.
	ihl int
}

// Len returns the length of the marshalled packet.
func (p *Packet) Len() int {
	n := ipv4HeaderLen + p.vrrpLen()
	if p.AH != nil {
		n += ahLen
	}
	return n
}

func (p *Packet) vrrpLen() int {
	n := headerLen + 4*len(p.Addrs)
	if p.Version == 2 {
		n += authLen
	}
	return n
}

// Marshal returns the packet as keepalived sends it: IPv4 header with the
// given TOS, ID and TTL, DF clear, checksums filled in, and for AH the ICV
// computed with key (the 8-byte authentication data).
func (p *Packet) Marshal(key []byte) ([]byte, error) {
	if p.Version != 2 && p.Version != 3 {
		return nil, fmt.Errorf("marshal advert: version %d", p.Version)
	}
	if len(p.Addrs) > MaxAddrs {
		return nil, fmt.Errorf("marshal advert: %d addresses, at most %d", len(p.Addrs), MaxAddrs)
	}
	if !p.Src.Is4() || !p.Dst.Is4() {
		return nil, fmt.Errorf("marshal advert: %v > %v is not IPv4", p.Src, p.Dst)
	}
	if p.AH != nil && p.Version != 2 {
		return nil, fmt.Errorf("marshal advert: AH needs VRRPv2")
	}
	b := make([]byte, p.Len())
	proto := byte(ProtoVRRP)
	off := ipv4HeaderLen
	if p.AH != nil {
		proto = ProtoAH
		a := b[off : off+ahLen]
		a[0] = ProtoVRRP
		a[1] = ahPayloadLen
		binary.BigEndian.PutUint32(a[4:], p.AH.SPI)
		binary.BigEndian.PutUint32(a[8:], p.AH.Seq)
		off += ahLen
	}
	putIPv4Header(b, p.TOS, p.ID, p.TTL, proto, p.Src, p.Dst)
	v := b[off:]
	v[0] = p.Version<<4 | typeAdvert
	if p.Type != 0 {
		v[0] = p.Version<<4 | p.Type&0x0f
	}
	v[1] = p.VRID
	v[2] = p.Priority
	v[3] = byte(len(p.Addrs))
	if p.Version == 2 {
		v[4] = p.AuthType
		v[5] = byte(p.Interval / time.Second)
	} else {
		binary.BigEndian.PutUint16(v[4:], uint16(p.Interval/(10*time.Millisecond))&0x0fff)
	}
	for i, a := range p.Addrs {
		if !a.Is4() {
			return nil, fmt.Errorf("marshal advert: %v is not IPv4", a)
		}
		a4 := a.As4()
		copy(v[headerLen+4*i:], a4[:])
	}
	if p.Version == 2 {
		copy(v[headerLen+4*len(p.Addrs):], p.Auth[:])
	}
	var sum uint32
	if p.Version == 3 {
		sum = pseudoHeaderSum(p.Src, p.Dst, len(v))
	}
	p.Checksum = checksum(v, sum)
	binary.BigEndian.PutUint16(v[6:], p.Checksum)
	if p.AH != nil {
		icv := ahICV(b, ipv4HeaderLen, key, !p.Dst.IsMulticast())
		copy(b[ipv4HeaderLen+12:ipv4HeaderLen+ahLen], icv[:])
		p.AH.ICV = icv
	}
	binary.BigEndian.PutUint16(b[10:], checksum(b[:ipv4HeaderLen], 0))
	return b, nil
}

// putIPv4Header writes a 20-byte IPv4 header with a zero checksum.
func putIPv4Header(b []byte, tos uint8, id uint16, ttl, proto uint8, src, dst netip.Addr) {
	b[0] = 4<<4 | ipv4HeaderLen/4
	b[1] = tos
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], id)
	// b[6:8]: flags and fragment offset, zero: DF clear, as keepalived.
	b[8] = ttl
	b[9] = proto
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
}

// Parse decodes an IPv4 packet carrying a VRRP advert, directly or inside
// AH, and checks what needs no instance: lengths, versions, type and the
// VRRP checksum. It returns Accepted with the packet, or why it is not an
// advert. Parse keeps b for the AH check: do not reuse it while the packet
// is in use.
func Parse(b []byte) (*Packet, Verdict) {
	if len(b) < ipv4HeaderLen {
		return nil, DropShort
	}
	if b[0]>>4 != 4 {
		return nil, DropIPHeader
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < ipv4HeaderLen {
		return nil, DropIPHeader
	}
	if len(b) < ihl+headerLen {
		return nil, DropShort
	}
	if int(binary.BigEndian.Uint16(b[2:])) != len(b) {
		return nil, DropLength
	}
	if binary.BigEndian.Uint16(b[6:])&0x3fff != 0 { // MF or an offset: a fragment
		return nil, DropIPHeader
	}
	p := &Packet{
		TOS: b[1],
		ID:  binary.BigEndian.Uint16(b[4:]),
		TTL: b[8],
		Src: netip.AddrFrom4([4]byte(b[12:16])),
		Dst: netip.AddrFrom4([4]byte(b[16:20])),
		raw: b,
		ihl: ihl,
	}
	off := ihl
	switch b[9] {
	case ProtoVRRP:
	case ProtoAH:
		if len(b) < ihl+ahLen+headerLen {
			return nil, DropShort
		}
		a := b[ihl : ihl+ahLen]
		if a[0] != ProtoVRRP || a[1] != ahPayloadLen {
			return nil, DropIPHeader
		}
		p.AH = &AH{SPI: binary.BigEndian.Uint32(a[4:]), Seq: binary.BigEndian.Uint32(a[8:])}
		copy(p.AH.ICV[:], a[12:])
		off += ahLen
	default:
		return nil, DropIPHeader
	}
	v := b[off:]
	p.Version = v[0] >> 4
	p.Type = v[0] & 0x0f
	if p.Version != 2 && p.Version != 3 {
		return nil, DropVersion
	}
	if p.Type != typeAdvert {
		return nil, DropType
	}
	p.VRID = v[1]
	p.Priority = v[2]
	n := int(v[3])
	want := headerLen + 4*n
	if p.Version == 2 {
		want += authLen
	}
	if len(v) != want {
		return nil, DropLength
	}
	var sum uint32
	if p.Version == 3 {
		sum = pseudoHeaderSum(p.Src, p.Dst, len(v))
	}
	if checksum(v, sum) != 0 {
		return nil, DropChecksum
	}
	p.Checksum = binary.BigEndian.Uint16(v[6:])
	if p.Version == 2 {
		p.AuthType = v[4]
		p.Interval = time.Duration(v[5]) * time.Second
		copy(p.Auth[:], v[headerLen+4*n:])
	} else {
		p.Interval = time.Duration(binary.BigEndian.Uint16(v[4:])&0x0fff) * 10 * time.Millisecond
	}
	if n > 0 {
		p.Addrs = make([]netip.Addr, n)
		for i := range n {
			p.Addrs[i] = netip.AddrFrom4([4]byte(v[headerLen+4*i:]))
		}
	}
	return p, Accepted
}
