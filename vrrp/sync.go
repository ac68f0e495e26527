package vrrp

import (
	"time"

	"github.com/govs-lb/govs/config"
)

// group is a vrrp_sync_group: its members change state together
// (keepalived's vrrp_sync.c).
type group struct {
	name     string
	cfg      *config.SyncGroup
	members  []*node
	state    State
	numFault int // members with a fault of their own
	numInit  int // members waiting for a script's first result
	m        *Machine
}

// initState sets the group's first state from its members', as
// vrrp_sync_set_group and vrrp_complete_init do: MASTER only when every
// member is an address owner starting as MASTER, FAULT when a member is
// down, INIT while a member waits for a script.
func (g *group) initState() {
	haveMaster, haveBackup := false, false
	for _, n := range g.members {
		if n.wantState == StateBackup || !n.owner {
			haveBackup = true
		}
		if n.wantState == StateMaster {
			haveMaster = true
		}
	}
	if haveMaster && haveBackup {
		for _, n := range g.members {
			if n.wantState == StateMaster {
				n.wantState = StateBackup
			}
		}
	}
	g.state = StateMaster
	if haveBackup {
		g.state = StateBackup
	}
	g.numFault, g.numInit = 0, 0
	for _, n := range g.members {
		if n.faults > 0 {
			g.numFault++
		}
		if n.initScripts > 0 {
			g.numInit++
		}
	}
	switch {
	case g.numFault > 0:
		g.state = StateFault
	case g.numInit > 0:
		g.state = StateInit
	}
}

func (g *group) notify() {
	g.m.fx.Notify(Notification{Event: EventState, Group: true, Name: g.name, State: g.state})
}

// canGotoMaster is vrrp_sync_can_goto_master: a member becomes MASTER only
// when every other member wants to, so that the group does not thrash.
func (g *group) canGotoMaster(n *node, now time.Time) bool {
	if g.state == StateMaster {
		return true
	}
	for _, o := range g.members {
		if o != n && o.wantState != StateMaster {
			n.msDownTimer = n.msDown()
			n.initSands(now)
			return false
		}
	}
	return true
}

// syncMaster is vrrp_sync_master.
func (g *group) syncMaster(n *node, now time.Time) {
	if g.state == StateMaster || !g.canGotoMaster(n, now) {
		return
	}
	g.m.log.Info("syncing instances to MASTER state", "group", g.name)
	for _, o := range g.members {
		if o != n && o.state != StateMaster {
			o.wantState = StateMaster
			o.gotoMaster(now)
		}
	}
	g.state = StateMaster
	g.notify()
}

// syncBackup is vrrp_sync_backup.
func (g *group) syncBackup(n *node, now time.Time) {
	if g.state == StateBackup {
		return
	}
	g.m.log.Info("syncing instances to BACKUP state", "group", g.name)
	for _, o := range g.members {
		if o == n || o.state == StateBackup {
			continue
		}
		o.wantState = StateBackup
		if o.state == StateFault || o.state == StateInit {
			o.leaveFault(now)
		} else {
			o.leaveMaster(now, false)
		}
	}
	g.state = StateBackup
	g.notify()
}

// syncFault is vrrp_sync_fault.
func (g *group) syncFault(n *node, now time.Time) {
	if g.state == StateFault {
		return
	}
	g.m.log.Info("syncing instances to FAULT state", "group", g.name)
	for _, o := range g.members {
		if o == n || o.state == StateFault {
			continue
		}
		o.wantState = StateFault
		switch o.state {
		case StateMaster:
			o.leaveMaster(now, false)
		case StateBackup, StateInit:
			o.state = StateFault
			o.leaveFault(now)
		}
	}
	g.state = StateFault
	g.notify()
}

// tsm is keepalived's transition state matrix (VRRP_TSM_HANDLE): after an
// instance of a sync group moved from prev, the others follow.
func (m *Machine) tsm(prev State, n *node, now time.Time) {
	if n.sync == nil {
		return
	}
	switch {
	case n.state == StateMaster && (prev == StateBackup || prev == StateMaster || prev == StateFault):
		n.sync.syncMaster(n, now)
	case prev == StateMaster && n.state == StateBackup:
		n.sync.syncBackup(n, now)
	}
}
