package vrrp

// Verdict is what became of a received packet: accepted, or why it was
// dropped. It feeds the per-instance counters and the tests.
type Verdict uint8

const (
	_ Verdict = iota
	// Accepted: the advert was valid and the state machine used it.
	Accepted
	// DropShort: shorter than the IPv4, AH and VRRP headers.
	DropShort
	// DropLength: the lengths (IP total length, address count, received
	// bytes) disagree.
	DropLength
	// DropIPHeader: not IPv4, a bad header length, a fragment, or a
	// protocol other than VRRP (112) or AH (51) carrying VRRP.
	DropIPHeader
	// DropVersion: a VRRP version other than 2 or 3, or not the
	// instance's.
	DropVersion
	// DropType: a VRRP type other than advertisement (1).
	DropType
	// DropChecksum: the VRRP checksum is wrong.
	DropChecksum
	// DropTTL: a multicast advert whose TTL is not 255, or a unicast one
	// outside the peer's min_ttl..max_ttl.
	DropTTL
	// DropUnknownVRID: no instance has this virtual_router_id on the
	// interface.
	DropUnknownVRID
	// DropAuthType: the authentication type is not the instance's.
	DropAuthType
	// DropAuth: the password or the AH ICV, SPI or sequence number is
	// wrong.
	DropAuth
	// DropInterval: a VRRPv2 advert interval other than the instance's.
	DropInterval
	// DropAddrCount: the advert's address count is not the instance's.
	DropAddrCount
	// DropAddrList: an address of the instance is missing from the advert.
	DropAddrList
	// DropDestination: multicast on a unicast instance or the reverse, or
	// a unicast source that is no unicast_peer.
	DropDestination
	// DropOwn: an advert we sent ourselves.
	DropOwn
	// DropState: the instance is in FAULT or not started: adverts are
	// ignored, as keepalived does.
	DropState
	// DropQueue: the receive queue was full.
	DropQueue
	numVerdicts
)

var verdictNames = [...]string{
	Accepted: "accepted", DropShort: "too short", DropLength: "bad length",
	DropIPHeader: "bad IP header", DropVersion: "wrong version", DropType: "wrong type",
	DropChecksum: "bad checksum", DropTTL: "bad TTL", DropUnknownVRID: "unknown VRID",
	DropAuthType: "authentication type mismatch", DropAuth: "authentication failure",
	DropInterval: "advert interval mismatch", DropAddrCount: "address count mismatch",
	DropAddrList: "address list mismatch", DropDestination: "wrong destination or source",
	DropOwn: "own advert", DropState: "instance not listening", DropQueue: "receive queue full",
}

func (v Verdict) String() string {
	if v > 0 && v < numVerdicts {
		return verdictNames[v]
	}
	return "invalid"
}
