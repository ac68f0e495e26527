package forward

import "strconv"

// Verdict is what became of one packet: forwarded, or why it was dropped.
// Tests assert verdicts; counters count them, one counter per verdict.
type Verdict uint8

const (
	_ Verdict = iota
	// Forwarded: sent to a real server.
	Forwarded
	// DropRunt: shorter than an Ethernet header, or than the IP header
	// that its EtherType announces.
	DropRunt
	// DropTruncated: longer than the receive ring's frames (a jumbo or GSO
	// frame on a ring sized for the MTU); only part of it was captured.
	DropTruncated
	// DropNotIP: the EtherType is not IPv4 or IPv6 (ARP, VLAN tags, ...).
	DropNotIP
	// DropBadIP: IP version, header length or total length do not fit the
	// frame, or a malformed IPv6 extension header.
	DropBadIP
	// DropBadL4: truncated TCP or UDP header, TCP data offset out of range,
	// UDP length wrong, or a protocol other than TCP and UDP.
	DropBadL4
	// DropNoService: no virtual service for the destination, protocol and port.
	DropNoService
	// DropNoBackend: the virtual service has no real server that takes new
	// flows (all down or weight 0).
	DropNoBackend
	// DropUnresolved: the real server's MAC address is not known yet; a
	// resolution was started.
	DropUnresolved
	// DropTooBig: the packet would exceed the MTU once encapsulated; an
	// ICMP "fragmentation needed" went back to the client when DF was set.
	DropTooBig
	// DropTx: the kernel refused to send the frame.
	DropTx
	numVerdicts
)

var verdictNames = [...]string{
	Forwarded:      "forwarded",
	DropRunt:       "runt",
	DropTruncated:  "truncated",
	DropNotIP:      "not-ip",
	DropBadIP:      "bad-ip-header",
	DropBadL4:      "bad-l4-header",
	DropNoService:  "no-service",
	DropNoBackend:  "no-backend",
	DropUnresolved: "unresolved-neighbour",
	DropTooBig:     "too-big",
	DropTx:         "tx-error",
}

func (v Verdict) String() string {
	if v > 0 && v < numVerdicts {
		return verdictNames[v]
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}
