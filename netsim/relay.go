package netsim

import (
	"encoding/binary"
	"hash/fnv"
	"net"
	"net/netip"
)

// The packet logic of IPIPRelay, free of sockets so that it tests without
// root.

// Hop is where the relay sends a packet: a real server's address, the
// outer destination, and the MAC of the next hop towards it.
type Hop struct {
	Addr netip.Addr
	MAC  net.HardwareAddr
}

// relayVerdict says what the relay did with a frame.
type relayVerdict int

const (
	relayInvalid    relayVerdict = iota
	relayForwarded               // encapsulated and sent
	relayNotMatched              // not for the virtual service
	relayMalformed               // for it, but unparseable
	relayTooBig                  // for it, but the outer packet exceeds the MTU
)

// relayMatch selects the frames the relay takes: IPv4 to vip, protocol
// proto, destination port port.
type relayMatch struct {
	vip   netip.Addr
	proto byte
	port  uint16
}

const (
	etherHeaderLen = 14
	etherTypeIPv4  = 0x0800
	ipv4HeaderLen  = 20
	protoIPIP      = 4
)

// parseFrame returns the IPv4 packet in an Ethernet frame if the relay
// should take it, trimmed to its length, and a hash of its flow (source
// address and port) to choose a real server with.
func parseFrame(frame []byte, m relayMatch) ([]byte, uint32, relayVerdict) {
	if len(frame) < etherHeaderLen+ipv4HeaderLen || binary.BigEndian.Uint16(frame[12:]) != etherTypeIPv4 {
		return nil, 0, relayNotMatched
	}
	pkt := frame[etherHeaderLen:]
	if pkt[0]>>4 != 4 {
		return nil, 0, relayNotMatched
	}
	if netip.AddrFrom4([4]byte(pkt[16:20])) != m.vip || pkt[9] != m.proto {
		return nil, 0, relayNotMatched
	}
	ihl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	if ihl < ipv4HeaderLen || total < ihl+4 || total > len(pkt) {
		return nil, 0, relayMalformed
	}
	if binary.BigEndian.Uint16(pkt[6:])&0x3fff != 0 {
		return nil, 0, relayMalformed // fragments are out of scope
	}
	pkt = pkt[:total]
	if binary.BigEndian.Uint16(pkt[ihl+2:]) != m.port {
		return nil, 0, relayNotMatched
	}
	h := fnv.New32a()
	h.Write(pkt[12:16])    // source address
	h.Write(pkt[ihl:][:2]) // source port
	return pkt, h.Sum32(), relayForwarded
}

// encapIPIP appends to out an Ethernet frame from srcMAC to hop.MAC that
// carries pkt inside an outer IPv4 header from src to hop.Addr (RFC 2003),
// with the inner TOS and TTL 64.
func encapIPIP(out, pkt []byte, srcMAC net.HardwareAddr, src netip.Addr, hop Hop, id uint16) []byte {
	out = append(out, hop.MAC...)
	out = append(out, srcMAC...)
	out = binary.BigEndian.AppendUint16(out, etherTypeIPv4)
	h := len(out)
	out = append(out, 0x45, pkt[1])
	out = binary.BigEndian.AppendUint16(out, uint16(ipv4HeaderLen+len(pkt)))
	out = binary.BigEndian.AppendUint16(out, id)
	out = append(out, 0, 0, 64, protoIPIP, 0, 0) // no flags, TTL, protocol, checksum
	s, d := src.As4(), hop.Addr.As4()
	out = append(out, s[:]...)
	out = append(out, d[:]...)
	binary.BigEndian.PutUint16(out[h+10:], ipv4HeaderChecksum(out[h:h+ipv4HeaderLen]))
	return append(out, pkt...)
}
