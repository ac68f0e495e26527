package sched

import (
	"net/netip"
	"sync/atomic"
)

// Backend is one real server of a virtual service, as a scheduler sees it.
type Backend struct {
	Addr netip.AddrPort
	// Weight is the current weight, 0 to MaxWeight. Weight 0 quiesces the
	// real server: it gets no new flows and keeps its existing ones.
	Weight uint32
	// LastWeight matters only when Weight is 0: it is IPVS's last_weight,
	// the latest non-zero weight of the quiesced real server. sh, dh and mh
	// lay out their tables with Weight, or LastWeight for a quiesced real
	// server, and skip quiesced real servers at lookup time, so quiescing a
	// real server (a failed health check with inhibit_on_failure) moves only
	// its own clients. A real server whose Weight and LastWeight are both 0
	// (added quiesced) is not in those tables.
	LastWeight uint32
	// Counters holds the real server's connection counts. The data plane
	// updates them atomically and passes the same pointer to every snapshot
	// in which the real server appears; New allocates one when nil (read it
	// back with Scheduler.Backend).
	Counters *Counters
}

// MaxWeight is the largest weight, as IPVS (a positive C int).
const MaxWeight = 1<<31 - 1

// MaxBackends is the most real servers one scheduler takes: tables hold
// 16-bit indices.
const MaxBackends = 1<<16 - 1

// Counters are the connection counts of one real server, written by every
// worker with atomic adds and read by lc, wlc, sed, nq, ovf and twos.
//
// Active counts connections IPVS calls active (TCP ESTABLISHED); Inactive
// counts the others (TCP in any other state, UDP). The data plane decides
// when a flow moves between the two; the schedulers only read.
type Counters struct {
	Active   atomic.Int64
	Inactive atomic.Int64
	// Each real server's counters get their own cache line: every worker
	// writes them.
	_ [48]byte
}

// overhead is IPVS's ip_vs_dest_conn_overhead: an active connection costs 256
// times an inactive one.
func (c *Counters) overhead() uint64 {
	return nonNegative(c.Active.Load())<<8 + nonNegative(c.Inactive.Load())
}

// active returns the active count, never negative.
func (c *Counters) active() uint64 { return nonNegative(c.Active.Load()) }

func nonNegative(v int64) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}

// Flow is the part of a new flow's first packet that schedulers read. Pass
// it by value: it is small and copying it never allocates.
type Flow struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8 // IANA protocol number
}

// IANA protocol numbers whose first four transport bytes are the ports.
const (
	protoTCP  = 6
	protoUDP  = 17
	protoSCTP = 132
)

// srcPort is the client port that sh-port and mh-port hash: IPVS reads it
// only for TCP, UDP and SCTP and uses 0 for other protocols.
func (f *Flow) srcPort() uint16 {
	switch f.Proto {
	case protoTCP, protoUDP, protoSCTP:
		return f.SrcPort
	}
	return 0
}
