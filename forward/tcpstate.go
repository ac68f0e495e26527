package forward

import (
	"fmt"
	"strconv"
	"time"
)

// ConnState is the state of a connection table entry: one of IPVS's TCP
// states, or UDP's single state. The TCP states are IPVS's (IP_VS_TCP_S_*
// in the kernel's include/net/ip_vs.h) in the kernel's order, one higher so
// that the zero value is invalid.
type ConnState uint8

const (
	_              ConnState = iota
	TCPNone                  // NONE: created, no flag seen yet
	TCPEstablished           // ESTABLISHED
	TCPSynSent               // SYN_SENT: not reachable from client packets alone
	TCPSynRecv               // SYN_RECV: the client's SYN was seen
	TCPFinWait               // FIN_WAIT: the client's FIN was seen
	TCPTimeWait              // TIME_WAIT
	TCPClose                 // CLOSE: an RST was seen, or a packet without SYN, FIN, ACK or RST
	TCPCloseWait             // CLOSE_WAIT: not reachable from client packets alone
	TCPLastAck               // LAST_ACK: not reachable from client packets alone
	TCPListen                // LISTEN: not reachable from client packets alone
	TCPSynAck                // SYNACK: not reachable from client packets alone
	UDPNormal                // UDP's one state ("UDP" in ipvsadm -lc)
	numConnStates
)

var connStateNames = [numConnStates]string{
	TCPNone:        "NONE",
	TCPEstablished: "ESTABLISHED",
	TCPSynSent:     "SYN_SENT",
	TCPSynRecv:     "SYN_RECV",
	TCPFinWait:     "FIN_WAIT",
	TCPTimeWait:    "TIME_WAIT",
	TCPClose:       "CLOSE",
	TCPCloseWait:   "CLOSE_WAIT",
	TCPLastAck:     "LAST_ACK",
	TCPListen:      "LISTEN",
	TCPSynAck:      "SYNACK",
	UDPNormal:      "UDP",
}

// String returns the state's name as ipvsadm -lc prints it.
func (s ConnState) String() string {
	if s.valid() {
		return connStateNames[s]
	}
	return "connstate(" + strconv.Itoa(int(s)) + ")"
}

func (s ConnState) valid() bool { return s-1 < numConnStates-1 }

// connActiveStates are the states IPVS counts in a real server's active
// connections (tcp_state_active_table in net/netfilter/ipvs/ip_vs_proto_tcp.c):
// ESTABLISHED and the three SYN states. Every other TCP state, and UDP,
// counts as inactive.
const connActiveStates = 1<<TCPEstablished | 1<<TCPSynSent | 1<<TCPSynRecv | 1<<TCPSynAck

// Active reports whether a connection in state s counts in its real
// server's active connections (sched.Counters.Active) rather than the
// inactive ones.
func (s ConnState) Active() bool { return uint16(connActiveStates)>>s&1 != 0 }

// connNext is IPVS's "INPUT-ONLY" TCP state table: the rows of tcp_states[]
// in net/netfilter/ipvs/ip_vs_proto_tcp.c at offset TCP_DIR_INPUT_ONLY, used
// for connections flagged IP_VS_CONN_F_NOOUTPUT, which are those of direct
// routing and tunnelling real servers: the balancer sees only the client's
// packets. secure_tcp (tcp_states_dos) is not implemented.
//
// The kernel's rows, columns sNO sES sSS sSR sFW sTW sCL sCW sLA sLI sSA:
//
//	/*syn*/ {{sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR }},
//	/*fin*/ {{sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW }},
//	/*ack*/ {{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES }},
//	/*rst*/ {{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL }},
//
// A fifth row is set_tcp_state's fallback for a segment with none of the
// four flags: CLOSE. UDP stays UDP. Column 0 (the invalid state) is never
// read.
var connNext = [connRows][numConnStates]ConnState{
	connRowSyn:  {0, TCPSynRecv, TCPEstablished, TCPEstablished, TCPSynRecv, TCPSynRecv, TCPSynRecv, TCPSynRecv, TCPSynRecv, TCPSynRecv, TCPSynRecv, TCPSynRecv, UDPNormal},
	connRowFin:  {0, TCPClose, TCPFinWait, TCPSynSent, TCPTimeWait, TCPFinWait, TCPTimeWait, TCPClose, TCPCloseWait, TCPLastAck, TCPListen, TCPTimeWait, UDPNormal},
	connRowAck:  {0, TCPEstablished, TCPEstablished, TCPSynSent, TCPEstablished, TCPFinWait, TCPTimeWait, TCPClose, TCPCloseWait, TCPClose, TCPListen, TCPEstablished, UDPNormal},
	connRowRst:  {0, TCPClose, TCPClose, TCPClose, TCPSynRecv, TCPClose, TCPClose, TCPClose, TCPClose, TCPLastAck, TCPListen, TCPClose, UDPNormal},
	connRowNone: {0, TCPClose, TCPClose, TCPClose, TCPClose, TCPClose, TCPClose, TCPClose, TCPClose, TCPClose, TCPClose, TCPClose, UDPNormal},
}

// Rows of connNext.
const (
	connRowSyn = iota
	connRowFin
	connRowAck
	connRowRst
	connRowNone
	connRows
)

// connFlagRow maps the low five TCP flag bits (FIN, SYN, RST, PSH, ACK) to
// a row of connNext with tcp_state_idx's precedence: RST, then SYN, then
// FIN, then ACK.
var connFlagRow = func() (r [32]uint8) {
	for f := range r {
		switch {
		case f&TCPRst != 0:
			r[f] = connRowRst
		case f&TCPSyn != 0:
			r[f] = connRowSyn
		case f&TCPFin != 0:
			r[f] = connRowFin
		case f&TCPAck != 0:
			r[f] = connRowAck
		default:
			r[f] = connRowNone
		}
	}
	return r
}()

// closing reports whether a TCP entry in state s has seen its connection
// end, as far as a balancer that sees only the client's half can tell:
// FIN_WAIT (the client's FIN; with DR and TUN the balancer sees nothing
// after it), TIME_WAIT or CLOSE. A SYN on such an entry's ports is a new
// connection: IPVS's conn_reuse_mode 1, with its bit for connections
// without output (FIN_WAIT), as DR and TUN connections are.
func (s ConnState) closing() bool {
	return s == TCPFinWait || s == TCPTimeWait || s == TCPClose
}

// Update applies one client-to-server packet with TCP flags flags (0 for
// UDP) to c at time now, as IPVS's set_tcp_state does for a connection
// without output: the state moves by the INPUT-ONLY table and the idle timer
// restarts with the new state's timeout from to. A UDP entry stays UDPNormal
// and its timer restarts. wasActive and isActive say whether c counted as
// active (ConnState.Active) before and after: when they differ the caller
// moves one count between its real server's Active and Inactive counters.
//
// A SYN for an entry in TIME_WAIT or CLOSE moves it to SYN_RECV on the same
// real server, as IPVS with conn_reuse_mode 0. IPVS's default
// (conn_reuse_mode 1) instead ends the old connection and schedules the SYN
// afresh: a caller that wants that checks closing first, deletes the
// entry and inserts a new one.
//
// Update leaves a Conn whose State is invalid unchanged and reports false,
// false.
func (c *Conn) Update(flags uint8, now Tick, to *StateTimeouts) (wasActive, isActive bool) {
	old := c.State
	if !old.valid() {
		return false, false
	}
	next := connNext[connFlagRow[flags&0x1f]][old]
	c.State = next
	c.Expires = now + to.t[next]
	return old.Active(), next.Active()
}

// Timeouts are the idle timeouts that keepalived's lvs_timeouts sets (as
// ipvsadm --set does). A zero field keeps IPVS's default.
type Timeouts struct {
	// TCP is the ESTABLISHED timeout (lvs_timeouts tcp); default 15 min.
	TCP time.Duration
	// TCPFin is the FIN_WAIT timeout (lvs_timeouts tcpfin); default 2 min.
	TCPFin time.Duration
	// UDP is the UDP timeout (lvs_timeouts udp); default 5 min.
	UDP time.Duration
}

// MaxTimeout is the longest timeout a state can have. The table tells a
// live entry from a dead one by how far its deadline lies ahead, which must
// stay below 2^32 ms; see Tick.
const MaxTimeout = 10 * 24 * time.Hour

// connDefaultTimeouts is IPVS's tcp_timeouts[] (ip_vs_proto_tcp.c) and
// udp_timeouts[] (ip_vs_proto_udp.c).
var connDefaultTimeouts = [numConnStates]time.Duration{
	TCPNone:        2 * time.Second,
	TCPEstablished: 15 * time.Minute,
	TCPSynSent:     2 * time.Minute,
	TCPSynRecv:     1 * time.Minute,
	TCPFinWait:     2 * time.Minute,
	TCPTimeWait:    2 * time.Minute,
	TCPClose:       10 * time.Second,
	TCPCloseWait:   60 * time.Second,
	TCPLastAck:     30 * time.Second,
	TCPListen:      2 * time.Minute,
	TCPSynAck:      120 * time.Second,
	UDPNormal:      5 * time.Minute,
}

// StateTimeouts holds the timeout of every ConnState in ticks: IPVS's
// defaults with Timeouts applied. Build one with NewStateTimeouts, or use
// ConnTable.Timeouts; the zero value expires every entry at once.
type StateTimeouts struct {
	t [numConnStates]Tick
}

// NewStateTimeouts returns IPVS's state timeouts with to's overrides. Each
// timeout is rounded up to a whole tick.
func NewStateTimeouts(to Timeouts) (StateTimeouts, error) {
	d := connDefaultTimeouts
	for _, o := range []struct {
		name string
		s    ConnState
		v    time.Duration
	}{{"tcp", TCPEstablished, to.TCP}, {"tcpfin", TCPFinWait, to.TCPFin}, {"udp", UDPNormal, to.UDP}} {
		if o.v < 0 || o.v > MaxTimeout {
			return StateTimeouts{}, fmt.Errorf("connection timeouts: %s %v: expected 0 to %v", o.name, o.v, MaxTimeout)
		}
		if o.v > 0 {
			d[o.s] = o.v
		}
	}
	var st StateTimeouts
	for s := TCPNone; s < numConnStates; s++ {
		st.t[s] = Tick((d[s] + time.Millisecond - 1) / time.Millisecond)
	}
	return st, nil
}

// Of returns the timeout of state s in ticks (0 for an invalid state).
func (st *StateTimeouts) Of(s ConnState) Tick {
	if !s.valid() {
		return 0
	}
	return st.t[s]
}
