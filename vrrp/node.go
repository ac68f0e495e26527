package vrrp

import (
	"net/netip"
	"slices"
	"time"

	"github.com/govs-lb/govs/config"
)

// node is one vrrp_instance's protocol state. Its methods follow
// keepalived 2.2.7's vrrp.c and vrrp_scheduler.c function by function
// (named in the comments) so that the two behave the same on the wire.
// A node is owned by its Machine and touched by one goroutine.
type node struct {
	m   *Machine
	cfg *config.Instance

	name     string
	vrid     uint8
	version  int
	adverInt time.Duration
	authType uint8
	authKey  []byte // 8 bytes, the password zero padded
	addrs    []netip.Addr
	unicast  bool
	src      netip.Addr // advert source: unicast_src_ip/mcast_src_ip or the interface's address
	owner    bool       // configured priority 255

	// Protocol state.
	state          State
	wantState      State
	basePrio       int
	totalPrio      int
	effPrio        uint8
	masterAdverInt time.Duration
	msDownTimer    time.Duration
	sands          time.Time // next advert (MASTER) or master down (BACKUP); zero: none
	preemptTime    time.Time // end of the preempt delay; zero: not running
	vipSet         bool
	masterAddr     netip.Addr
	masterPrio     uint8
	notifiesSent   bool
	lastTransition time.Time

	// AH anti-replay: one counter for sent and received sequence numbers,
	// as keepalived keeps.
	ahSeq   uint32
	ahCycle bool

	// Gratuitous ARP timers.
	garps        []garpBurst
	garpRefresh  time.Time
	faults       int // tracked objects in fault (keepalived's num_script_if_fault)
	initScripts  int // weight-0 scripts without a first result (num_script_init)
	sync         *group
	trackIfaces  []ifTracker
	trackScripts []scriptTracker

	stats Stats
}

type garpBurst struct {
	at     time.Time
	repeat int
}

// Stats are an instance's counters.
type Stats struct {
	AdvertsSent     uint64
	AdvertsReceived uint64
	BecomeMaster    uint64
	ReleaseMaster   uint64
	PriorityZeroRx  uint64
	PriorityZeroTx  uint64
	// Dropped counts received packets by verdict.
	Dropped map[Verdict]uint64
}

func newNode(m *Machine, in *config.Instance, src netip.Addr) *node {
	n := &node{
		m: m, cfg: in, name: in.Name, vrid: uint8(in.VRID), version: in.Version,
		adverInt: in.AdvertInt, unicast: len(in.UnicastPeers) > 0, src: src,
		owner: in.Priority == 255, basePrio: in.Priority, state: StateInit,
		stats: Stats{Dropped: map[Verdict]uint64{}},
	}
	if in.Auth != nil && in.Version == 2 {
		switch in.Auth.Type {
		case config.AuthPass:
			n.authType = AuthPass
		case config.AuthAH:
			n.authType = AuthAH
		}
		n.authKey = make([]byte, authLen)
		copy(n.authKey, in.Auth.Pass)
	}
	for _, v := range in.VIPs {
		n.addrs = append(n.addrs, v.Prefix.Addr())
	}
	if in.State == config.StateMaster {
		n.wantState = StateMaster
	} else {
		n.wantState = StateBackup
	}
	n.totalPrio = n.basePrio
	n.effPrio = uint8(n.basePrio)
	n.masterAdverInt = n.adverInt
	return n
}

// msDown is VRRP_MS_DOWN_TIMER.
func (n *node) msDown() time.Duration {
	return masterDownInterval(n.version, n.cfg.DownTimerAdverts, n.masterAdverInt, n.effPrio)
}

func (n *node) skew() time.Duration { return skew(n.version, n.masterAdverInt, n.effPrio) }

// initSands is vrrp_init_instance_sands: the next deadline for the state.
func (n *node) initSands(now time.Time) {
	switch n.state {
	case StateMaster:
		n.sands = now.Add(n.adverInt)
	case StateBackup:
		start := now
		if d := n.m.startDelayUntil; now.Before(d) {
			start = d
		}
		n.sands = start.Add(n.msDownTimer)
	default:
		n.sands = time.Time{}
	}
}

// nextSeq advances the AH sequence number, as vrrp_update_pkt does.
func (n *node) nextSeq() uint32 {
	if n.authType != AuthAH {
		return 0
	}
	if n.ahSeq > 0xfffffffd {
		n.ahCycle = true
	} else {
		n.ahSeq++
	}
	return n.ahSeq
}

// sendAdvert is vrrp_send_adv.
func (n *node) sendAdvert(prio uint8) {
	n.m.fx.SendAdvert(n.name, prio, n.nextSeq())
	n.stats.AdvertsSent++
	if prio == 0 {
		n.stats.PriorityZeroTx++
	}
}

// sendLinkUpdate is vrrp_send_link_update: gratuitous ARPs while the
// addresses are set.
func (n *node) sendLinkUpdate(repeat int) {
	if !n.vipSet || repeat <= 0 {
		return
	}
	n.m.fx.SendGARPs(n.name, repeat)
}

func (n *node) notify() {
	if n.notifiesSent && n.sync != nil && n.state == n.sync.state {
		return // already notified through the group's state
	}
	n.notifiesSent = true
	n.m.fx.Notify(Notification{Event: EventState, Name: n.name, State: n.state, Priority: n.effPrio})
}

// becomeMaster is vrrp_state_become_master.
func (n *node) becomeMaster(now time.Time) {
	n.stats.BecomeMaster++
	n.masterAdverInt = n.adverInt
	n.m.fx.SetAddrs(n.name, true)
	n.vipSet = true
	g := n.cfg.GARP
	n.sendLinkUpdate(g.MasterRepeat)
	if g.MasterRefresh > 0 {
		n.garpRefresh = now.Add(g.MasterRefresh)
	}
	n.notify()
	n.lastTransition = now
}

// gotoMaster is vrrp_state_goto_master.
func (n *node) gotoMaster(now time.Time) {
	if n.sync != nil && !n.sync.canGotoMaster(n, now) {
		n.wantState = StateMaster
		return
	}
	if n.ahCycle {
		n.ahCycle = false
		n.ahSeq = 0
	}
	n.state = StateMaster
	n.initSands(now)
	n.masterTx(now)
}

// masterTx is vrrp_state_master_tx: the advert first, so that the old
// master removes the addresses before our gratuitous ARPs.
func (n *node) masterTx(now time.Time) {
	n.sendAdvert(n.effPrio)
	if !n.vipSet {
		n.m.log.Info("entering MASTER state", "instance", n.name)
		n.becomeMaster(now)
		if d := n.cfg.GARP.MasterDelay; d > 0 {
			n.garps = append(n.garps, garpBurst{at: now.Add(d), repeat: n.cfg.GARP.MasterRepeat})
		}
		return
	}
	if n.cfg.GARP.MasterRefresh > 0 && now.After(n.garpRefresh) {
		n.sendLinkUpdate(n.cfg.GARP.MasterRefreshRepeat)
		n.garpRefresh = now.Add(n.cfg.GARP.MasterRefresh)
	}
}

// restoreInterface is vrrp_restore_interface: optionally a priority-0
// advert, then the addresses go.
func (n *node) restoreInterface(advF bool) {
	if advF {
		n.sendAdvert(0)
	}
	n.garps = n.garps[:0]
	if n.vipSet {
		n.m.fx.SetAddrs(n.name, false)
		n.vipSet = false
	}
}

// leaveMaster is vrrp_state_leave_master.
func (n *node) leaveMaster(now time.Time, advF bool) {
	switch n.wantState {
	case StateBackup:
		n.m.log.Info("entering BACKUP state", "instance", n.name)
		n.preemptTime = time.Time{}
	case StateFault:
		n.m.log.Info("entering FAULT state", "instance", n.name)
		n.sendAdvert(0)
	default:
		return
	}
	n.restoreInterface(advF)
	n.state = n.wantState
	n.notify()
	n.msDownTimer = n.msDown()
	n.initSands(now)
	n.stats.ReleaseMaster++
	n.lastTransition = now
}

// leaveFault is vrrp_state_leave_fault.
func (n *node) leaveFault(now time.Time) {
	if n.wantState == StateMaster {
		n.gotoMaster(now)
	} else {
		if n.state != n.wantState {
			n.m.log.Info("entering "+n.wantState.String()+" state", "instance", n.name)
		}
		if n.wantState == StateFault && n.state == StateMaster {
			n.sendAdvert(0)
			n.restoreInterface(false)
		}
		n.state = n.wantState
		n.notify()
		if n.state == StateBackup {
			n.preemptTime = time.Time{}
		}
	}
	n.masterAdverInt = n.adverInt
	n.msDownTimer = n.msDown()
	n.initSands(now)
	n.lastTransition = now
}

// timeout is the timer side of vrrp_dispatcher_read_timeout.
func (n *node) timeout(now time.Time) {
	switch n.state {
	case StateBackup:
		n.wantState = StateMaster
		n.gotoMaster(now)
	case StateMaster:
		n.masterTx(now)
	}
}

// backupRx is vrrp_state_backup, for an advert that passed check.
func (n *node) backupRx(now time.Time, p *Packet) {
	switch {
	case p.Priority == 0:
		n.msDownTimer = n.skew()
		return
	case !n.cfg.Preempt || p.Priority >= n.effPrio ||
		(n.cfg.PreemptDelay > 0 && (n.preemptTime.IsZero() || n.preemptTime.After(now))):
		if n.version == 3 {
			n.masterAdverInt = p.Interval
		}
		n.msDownTimer = n.msDown()
		n.masterAddr = p.Src
		n.masterPrio = p.Priority
		if n.cfg.PreemptDelay > 0 {
			if p.Priority >= n.effPrio {
				n.preemptTime = time.Time{}
			} else if n.preemptTime.IsZero() {
				n.preemptTime = now.Add(n.cfg.PreemptDelay)
			}
		}
		n.wantState = StateBackup
		return
	default:
		n.m.logPeer(now, n, p.Src, "received lower priority advert - discarding", "priority", p.Priority)
		n.masterAddr = p.Src
	}
	n.ignoreAdvert(now)
}

// ignoreAdvert keeps the master down timer running as it was.
func (n *node) ignoreAdvert(now time.Time) {
	n.msDownTimer = max(0, n.sands.Sub(now))
}

// masterRx is vrrp_state_master_rx, for an advert that passed check. It
// returns true when the node must leave MASTER.
func (n *node) masterRx(now time.Time, p *Packet) bool {
	cmp := p.Src.Compare(n.src)
	higher := p.Priority > n.effPrio || (p.Priority == n.effPrio && cmp > 0)
	if p.Priority == 0 || (n.cfg.HigherPrioSendAdvert && higher) {
		n.sendAdvert(n.effPrio)
		if p.Priority == 0 {
			return false
		}
	}
	if p.Priority == n.effPrio && cmp != 0 && n.effPrio == 255 {
		n.m.log.Warn("configuration error: this and a remote instance both have priority 255; lowering ours to 254",
			"instance", n.name, "peer", p.Src)
		n.effPrio, n.basePrio, n.totalPrio = 254, 254, n.totalPrio-1
		cmp = p.Src.Compare(n.src)
		higher = true
	}
	if p.Priority < n.effPrio || (p.Priority == n.effPrio && cmp < 0) {
		n.m.logPeer(now, n, p.Src, "received lower priority advert", "priority", p.Priority, "ours", n.effPrio)
		if n.authType == AuthAH && p.AH != nil {
			n.ahSeq = p.AH.Seq + 1
			n.ahCycle = false
		}
		if !n.cfg.LowerPrioNoAdvert {
			n.sendAdvert(n.effPrio)
		}
		n.lowerPrioGARP(now)
		if n.sync != nil {
			for _, o := range n.sync.members {
				if o != n {
					o.lowerPrioGARP(now)
				}
			}
		}
		n.m.fx.Notify(Notification{Event: EventMasterRxLowerPri, Name: n.name, State: n.state, Priority: n.effPrio})
		return false
	}
	if higher {
		n.m.log.Info("master received higher priority advert", "instance", n.name, "peer", p.Src,
			"priority", p.Priority, "ours", n.effPrio)
		if n.authType == AuthAH {
			n.ahCycle = false
		}
		if n.version == 3 {
			n.masterAdverInt = p.Interval
		}
		n.msDownTimer = n.msDown()
		n.masterPrio = p.Priority
		n.masterAddr = p.Src
		n.wantState = StateBackup
		return true
	}
	n.m.logPeer(now, n, p.Src, "equal priority advert from our own address")
	return false
}

func (n *node) lowerPrioGARP(now time.Time) {
	g := n.cfg.GARP
	if g.LowerPrioRepeat <= 0 {
		return
	}
	n.sendLinkUpdate(g.LowerPrioRepeat)
	if g.LowerPrioDelay > 0 && n.vipSet {
		n.garps = append(n.garps, garpBurst{at: now.Add(g.LowerPrioDelay), repeat: g.LowerPrioRepeat})
	}
}

// receive is vrrp_dispatcher_read for one advert addressed to this node.
func (n *node) receive(now time.Time, p *Packet) Verdict {
	if n.state != StateBackup && n.state != StateMaster {
		return DropState
	}
	checkAddrs := true
	if n.state == StateBackup && n.cfg.SkipCheckAdvAddr && p.Src == n.masterAddr {
		checkAddrs = false
	}
	if v := n.check(p, checkAddrs); v != Accepted {
		if n.state == StateBackup {
			n.ignoreAdvert(now)
		}
		return v
	}
	n.stats.AdvertsReceived++
	if p.Priority == 0 {
		n.stats.PriorityZeroRx++
	}
	prev := n.state
	switch n.state {
	case StateBackup:
		n.backupRx(now, p)
	case StateMaster:
		if n.masterRx(now, p) {
			n.leaveMaster(now, false)
		}
	}
	n.m.tsm(prev, n, now)
	if n.state != StateMaster || !n.cfg.LowerPrioNoAdvert {
		n.initSands(now)
	}
	return Accepted
}

// check is vrrp_check_packet: what keepalived verifies of an advert for
// an instance, in its order. Parse has checked the lengths and checksum.
func (n *node) check(p *Packet, checkAddrs bool) Verdict {
	if p.Src == n.src {
		return DropOwn
	}
	if (p.AH != nil) != (n.authType == AuthAH) {
		return DropAuthType
	}
	if !n.unicast && p.TTL != 255 {
		return DropTTL
	}
	if int(p.Version) != n.version {
		return DropVersion
	}
	if n.version == 2 {
		if p.AuthType > AuthAH || p.AuthType != n.authType {
			return DropAuthType
		}
		switch n.authType {
		case AuthPass:
			if !constantTimeEqual(p.Auth[:], n.authKey) {
				return DropAuth
			}
		case AuthAH:
			if !p.verifyAH(n.authKey, n.unicast) {
				return DropAuth
			}
			if p.AH.Seq <= n.ahSeq {
				return DropAuth // replayed
			}
			n.ahSeq = p.AH.Seq
			if n.state == StateBackup {
				n.ahCycle = false
			}
		}
		if p.Interval != n.adverInt {
			return DropInterval
		}
	}
	if checkAddrs && len(p.Addrs) != len(n.addrs) {
		return DropAddrCount
	}
	if p.Dst.IsMulticast() == n.unicast {
		return DropDestination
	}
	if checkAddrs {
		for _, a := range n.addrs {
			if !slices.Contains(p.Addrs, a) {
				return DropAddrList
			}
		}
		if n.unicast && n.cfg.CheckUnicastSrc {
			i := slices.IndexFunc(n.cfg.UnicastPeers, func(u config.UnicastPeer) bool { return u.Addr == p.Src })
			if i < 0 {
				return DropDestination
			}
			if u := n.cfg.UnicastPeers[i]; int(p.TTL) < u.MinTTL || int(p.TTL) > u.MaxTTL {
				return DropTTL
			}
		}
	}
	return Accepted
}

func constantTimeEqual(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	var d byte
	for i := range a {
		d |= a[i] ^ b[i]
	}
	return d == 0
}
