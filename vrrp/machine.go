package vrrp

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/govs-lb/govs/config"
)

// Machine is the VRRP state machine of a whole configuration: every
// vrrp_instance, its sync group and what it tracks. It is pure: no socket,
// no clock, no goroutine. The caller feeds it events with the current time
// (Receive, Tick, SetInterface, ScriptResult, Stop), waits until Next, and
// the Machine acts through Effects. It is not safe for concurrent use.
type Machine struct {
	fx  Effects
	log *slog.Logger

	nodes   []*node
	byName  map[string]*node
	groups  []*group
	scripts map[string]*scriptState
	ifUp    map[string]bool

	startDelayUntil time.Time
	started         bool
	stopped         bool

	peerLog peerLimiter
	// unknownVRID counts adverts for no instance, by interface.
	unknownVRID map[string]uint64
}

// MachineConfig is what a Machine needs besides the configuration.
type MachineConfig struct {
	// Source returns the address adverts of an instance come from:
	// unicast_src_ip or mcast_src_ip, else the interface's primary IPv4
	// address. An invalid address puts the instance in FAULT, as
	// keepalived does when the interface has no address.
	Source func(in *config.Instance) netip.Addr
	// InterfaceUp reports a tracked interface's state at start.
	InterfaceUp func(name string) bool
	Effects     Effects
	Logger      *slog.Logger
}

// NewMachine builds the Machine of cfg's instances, sync groups and
// scripts. Call Start to put the instances in their first state.
func NewMachine(cfg *config.Config, mc MachineConfig) (*Machine, error) {
	m := &Machine{
		fx: mc.Effects, log: mc.Logger, byName: map[string]*node{},
		scripts: map[string]*scriptState{}, ifUp: map[string]bool{},
		peerLog: peerLimiter{last: map[peerKey]time.Time{}}, unknownVRID: map[string]uint64{},
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	for _, s := range cfg.VRRPScripts {
		m.scripts[s.Name] = newScriptState(s)
	}
	for _, in := range cfg.Instances {
		if in.Family() != 4 {
			return nil, fmt.Errorf("vrrp_instance %s: IPv6 instances are not supported yet", in.Name)
		}
		var src netip.Addr
		if mc.Source != nil {
			src = mc.Source(in)
		}
		n := newNode(m, in, src)
		m.nodes = append(m.nodes, n)
		m.byName[in.Name] = n
	}
	for _, sg := range cfg.SyncGroups {
		g := &group{name: sg.Name, cfg: sg, state: StateInit, m: m}
		for _, name := range sg.Members {
			if n := m.byName[name]; n != nil && n.sync == nil {
				n.sync = g
				g.members = append(g.members, n)
			}
		}
		if len(g.members) > 0 {
			m.groups = append(m.groups, g)
		}
	}
	for _, n := range m.nodes {
		if err := m.setupTracking(n, mc.InterfaceUp); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// SetStartupDelay delays every instance's first master down timer until
// t (vrrp_startup_delay).
func (m *Machine) SetStartupDelay(t time.Time) { m.startDelayUntil = t }

// Start puts every instance in its first state, as keepalived's
// vrrp_init_state: BACKUP (or FAULT when something tracked is down) with
// the master down timer running, except an address owner (priority 255,
// state MASTER) which becomes MASTER at once.
func (m *Machine) Start(now time.Time) {
	if m.started {
		return
	}
	m.started = true
	m.startNodes(now, m.nodes, m.groups)
}

func (m *Machine) startNodes(now time.Time, nodes []*node, groups []*group) {
	for _, n := range nodes {
		n.initTracking()
	}
	for _, g := range groups {
		g.initState()
	}
	for _, g := range groups {
		if g.state == StateFault || g.state == StateBackup {
			g.notify()
		}
	}
	for _, n := range nodes {
		begin := n.state
		newState := n.wantState
		if n.sync != nil {
			newState = n.sync.state
		}
		up := n.faults == 0
		groupInit := n.sync != nil && n.sync.numInit > 0
		if up && newState == StateMaster && n.initScripts == 0 && !groupInit && n.owner && n.wantState == StateMaster {
			n.state = StateBackup
			n.msDownTimer = time.Microsecond
		} else {
			if newState == StateBackup && n.wantState == StateMaster {
				n.msDownTimer = n.masterAdverInt + skewTime(n.version, n.masterAdverInt, 1)
			} else {
				n.msDownTimer = n.msDown()
			}
			if up && newState != StateFault && n.initScripts == 0 && !groupInit {
				if n.state != StateBackup {
					m.log.Info("entering BACKUP state (init)", "instance", n.name)
					n.state = StateBackup
				}
			} else {
				if begin != StateFault {
					m.log.Info("entering FAULT state (init)", "instance", n.name)
				}
				n.state = StateFault
			}
			if begin != n.state {
				n.lastTransition = now
			}
			if begin != n.state && (n.state != StateFault || n.faults > 0 || n.sync != nil && n.sync.numFault > 0) {
				n.notify()
			}
		}
		n.initSands(now)
	}
}

// Next returns when Tick must next be called: the earliest advert, master
// down or gratuitous ARP deadline. It is zero when nothing is due.
func (m *Machine) Next() time.Time {
	var next time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, n := range m.nodes {
		earlier(n.sands)
		for _, g := range n.garps {
			earlier(g.at)
		}
	}
	return next
}

// Tick runs what is due at now: master down timers (BACKUP to MASTER),
// adverts of masters, delayed gratuitous ARPs.
func (m *Machine) Tick(now time.Time) {
	if m.stopped {
		return
	}
	due := make([]*node, 0, len(m.nodes))
	for _, n := range m.nodes {
		if !n.sands.IsZero() && !n.sands.After(now) {
			due = append(due, n)
		}
	}
	slices.SortStableFunc(due, func(a, b *node) int { return a.sands.Compare(b.sands) })
	for _, n := range due {
		if n.sands.IsZero() || n.sands.After(now) {
			continue // moved by a sync group peer's transition
		}
		prev := n.state
		n.timeout(now)
		m.tsm(prev, n, now)
		n.initSands(now)
	}
	for _, n := range m.nodes {
		kept := n.garps[:0]
		for _, g := range n.garps {
			if g.at.After(now) {
				kept = append(kept, g)
				continue
			}
			if n.state == StateMaster {
				n.sendLinkUpdate(g.repeat)
			}
		}
		n.garps = kept
	}
}

// Receive handles a parsed advert that arrived on interface ifname (""
// for a unicast instance without interface) and returns its verdict. The
// Machine picks the instance by virtual_router_id and, among unicast
// instances sharing one, by the advert's source.
func (m *Machine) Receive(now time.Time, ifname string, p *Packet) Verdict {
	if m.stopped {
		return DropState
	}
	n := m.lookup(ifname, p)
	if n == nil {
		m.unknownVRID[ifname]++
		return DropUnknownVRID
	}
	v := n.receive(now, p)
	if v != Accepted {
		n.stats.Dropped[v]++
		if v != DropState && v != DropOwn {
			m.logPeer(now, n, p.Src, "advert dropped", "reason", v.String())
		}
	}
	return v
}

// Drop counts a packet that never reached Receive (a full queue, or one
// Parse refused) against the instances of ifname with that VRID, or the
// interface.
func (m *Machine) Drop(ifname string, vrid uint8, v Verdict) {
	for _, n := range m.nodes {
		if n.cfg.Interface == ifname && n.vrid == vrid {
			n.stats.Dropped[v]++
			return
		}
	}
	m.unknownVRID[ifname]++
}

func (m *Machine) lookup(ifname string, p *Packet) *node {
	var first *node
	for _, n := range m.nodes {
		if n.vrid != p.VRID || n.cfg.Interface != ifname {
			continue
		}
		if first == nil {
			first = n
		}
		if !n.unicast {
			return n
		}
		for _, u := range n.cfg.UnicastPeers {
			if u.Addr == p.Src {
				return n
			}
		}
	}
	return first
}

// Stop shuts every instance down as keepalived does on SIGTERM: masters
// send a priority-0 advert and remove their addresses, then every
// instance and sync group reports STOP.
func (m *Machine) Stop(now time.Time) {
	if m.stopped {
		return
	}
	for _, n := range m.nodes {
		if n.state == StateMaster {
			n.restoreInterface(true)
		}
	}
	for _, n := range m.nodes {
		n.state = StateStop
		n.sands = time.Time{}
		n.garps = nil
		n.notifiesSent = false
		n.notify()
	}
	for _, g := range m.groups {
		g.state = StateStop
		g.notify()
	}
	m.stopped = true
}

// InstanceState is what the Manager reports of an instance.
type InstanceState struct {
	State    State
	Priority uint8 // effective priority
	// VIPs are the virtual_ipaddress entries, Excluded the
	// virtual_ipaddress_excluded ones; both are on the interface while
	// State is MASTER.
	VIPs     []netip.Prefix
	Excluded []netip.Prefix
	// Master is the address of the last master heard while BACKUP.
	Master netip.Addr
	Since  time.Time
	Stats  Stats
}

// States returns a copy of every instance's state.
func (m *Machine) States() map[string]InstanceState {
	out := make(map[string]InstanceState, len(m.nodes))
	for _, n := range m.nodes {
		st := InstanceState{State: n.state, Priority: n.effPrio, Master: n.masterAddr, Since: n.lastTransition, Stats: n.stats}
		st.Stats.Dropped = make(map[Verdict]uint64, len(n.stats.Dropped))
		for k, v := range n.stats.Dropped {
			st.Stats.Dropped[k] = v
		}
		for _, v := range n.cfg.VIPs {
			st.VIPs = append(st.VIPs, v.Prefix)
		}
		for _, v := range n.cfg.ExcludedVIPs {
			st.Excluded = append(st.Excluded, v.Prefix)
		}
		out[n.name] = st
	}
	return out
}

// UnknownVRID returns how many adverts arrived for no instance, by
// interface.
func (m *Machine) UnknownVRID() map[string]uint64 {
	out := make(map[string]uint64, len(m.unknownVRID))
	for k, v := range m.unknownVRID {
		out[k] = v
	}
	return out
}

// logPeer logs one line per instance, peer and message at most once a
// minute: a flood of bad adverts is counted, not logged.
func (m *Machine) logPeer(now time.Time, n *node, peer netip.Addr, msg string, args ...any) {
	if !m.peerLog.allow(now, peerKey{n.name, peer, msg}) {
		return
	}
	m.log.Info(msg, append([]any{"instance", n.name, "peer", peer}, args...)...)
}

type peerKey struct {
	inst string
	peer netip.Addr
	msg  string
}

// peerLimiter allows one log line per key and interval.
type peerLimiter struct {
	last map[peerKey]time.Time
}

const peerLogInterval = time.Minute

func (l *peerLimiter) allow(now time.Time, k peerKey) bool {
	if t, ok := l.last[k]; ok && now.Sub(t) < peerLogInterval {
		return false
	}
	if len(l.last) > 4096 { // bound the memory a spoofing flood can take
		clear(l.last)
	}
	l.last[k] = now
	return true
}
