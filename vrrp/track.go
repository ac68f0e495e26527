package vrrp

import (
	"fmt"
	"time"

	"github.com/govs-lb/govs/config"
)

// Tracking follows keepalived's vrrp_track.c. A tracked object of weight 0
// puts the instance in FAULT while it is down (up, with reverse). A
// weighted one moves the priority: a positive weight is added while the
// object is up, a negative one while it is down; reverse swaps up and
// down. The effective priority stays within 1..254, and an address owner's
// (255) never changes.

type ifTracker struct {
	name    string
	weight  int
	reverse bool
}

type scriptTracker struct {
	s       *scriptState
	weight  int
	reverse bool
}

// scriptStatus is a vrrp_script's state.
type scriptStatus uint8

const (
	_ scriptStatus = iota
	scriptUnknown
	scriptOK
	scriptFailed
)

// scriptState is a vrrp_script's rise and fall counter, as
// vrrp_script_child_thread keeps it: result runs from 0 to
// rise+fall-1 and the script is up from rise on.
type scriptState struct {
	cfg    *config.VRRPScript
	result int
	status scriptStatus
}

func newScriptState(s *config.VRRPScript) *scriptState {
	st := &scriptState{cfg: s, result: s.Rise - 1, status: scriptUnknown}
	if s.InitFail {
		st.result, st.status = 0, scriptFailed
	}
	return st
}

// record applies one run's outcome and reports whether the status changed.
func (s *scriptState) record(success bool) bool {
	rise, fall := s.cfg.Rise, s.cfg.Fall
	old := s.status
	if success {
		switch {
		case s.result < rise-1:
			s.result++
		case s.result != rise+fall-1:
			if s.result < rise {
				s.status = scriptOK
			}
			s.result = rise + fall - 1
		}
	} else {
		if s.result > rise {
			s.result--
		} else {
			if s.result == rise || s.status == scriptUnknown {
				s.status = scriptFailed
			}
			s.result = 0
		}
	}
	if s.status == scriptUnknown { // the first run decides, as keepalived's init state
		s.status = scriptFailed
		if success {
			s.status = scriptOK
		}
	}
	return s.status != old
}

func (m *Machine) setupTracking(n *node, ifUp func(string) bool) error {
	addIf := func(t config.TrackInterface) {
		n.trackIfaces = append(n.trackIfaces, ifTracker{name: t.Name, weight: t.Weight, reverse: t.Reverse})
	}
	if n.cfg.Interface != "" && !n.cfg.DontTrackPrimary {
		addIf(config.TrackInterface{Name: n.cfg.Interface})
	}
	for _, t := range n.cfg.TrackInterfaces {
		addIf(t)
	}
	addScript := func(t config.TrackScript) error {
		s := m.scripts[t.Name]
		if s == nil {
			return fmt.Errorf("vrrp_instance %s: track_script %s: no such vrrp_script", n.name, t.Name)
		}
		st := scriptTracker{s: s, weight: s.cfg.Weight, reverse: s.cfg.Reverse}
		if t.Weight != nil {
			st.weight, st.reverse = *t.Weight, t.Reverse
		}
		n.trackScripts = append(n.trackScripts, st)
		return nil
	}
	for _, t := range n.cfg.TrackScripts {
		if err := addScript(t); err != nil {
			return err
		}
	}
	if g := n.sync; g != nil {
		for _, t := range g.cfg.TrackInterfaces {
			addIf(t)
		}
		for _, t := range g.cfg.TrackScripts {
			if err := addScript(t); err != nil {
				return err
			}
		}
	}
	for _, t := range n.trackIfaces {
		if _, ok := m.ifUp[t.name]; !ok {
			m.ifUp[t.name] = ifUp == nil || ifUp(t.name)
		}
	}
	return nil
}

// contribution is a weighted tracker's share of the priority.
func contribution(weight int, reverse, up bool) int {
	c := 0
	if (weight > 0 && up) || (weight < 0 && !up) {
		c = weight
	}
	if reverse {
		c = -c
	}
	return c
}

// evaluate returns the faults, the weight-0 scripts without a result, and
// the total priority the trackers give.
func (n *node) evaluate() (faults, inits, total int) {
	total = n.basePrio
	if !n.src.IsValid() {
		faults++ // no address to send from
	}
	for _, t := range n.trackIfaces {
		up := n.m.ifUp[t.name]
		if t.weight == 0 {
			if up == t.reverse {
				faults++
			}
			continue
		}
		total += contribution(t.weight, t.reverse, up)
	}
	for _, t := range n.trackScripts {
		st := t.s.status
		if t.weight == 0 {
			switch {
			case st == scriptUnknown:
				inits++
			case (st == scriptOK) == t.reverse:
				faults++
			}
			continue
		}
		if st != scriptUnknown {
			total += contribution(t.weight, t.reverse, st == scriptOK)
		}
	}
	return faults, inits, total
}

// initTracking sets the tracking state at start.
func (n *node) initTracking() {
	n.faults, n.initScripts, n.totalPrio = n.evaluate()
	n.effPrio = n.clampPrio()
}

func (n *node) clampPrio() uint8 {
	if n.owner && n.basePrio == 255 {
		return 255
	}
	return uint8(min(max(n.totalPrio, 1), 254))
}

// setEffectivePriority is vrrp_set_effective_priority: a BACKUP's running
// master down timer moves by the change of its skew.
func (n *node) setEffectivePriority(now time.Time) {
	p := n.clampPrio()
	if p == n.effPrio {
		return
	}
	n.m.log.Info("changing effective priority", "instance", n.name, "from", n.effPrio, "to", p)
	n.effPrio = p
	old := n.msDownTimer
	n.msDownTimer = n.msDown()
	if n.state == StateBackup && !n.sands.IsZero() {
		n.sands = n.sands.Add(n.msDownTimer - old)
	}
}

// SetInterface records a tracked interface's link state.
func (m *Machine) SetInterface(name string, up bool, now time.Time) {
	if old, ok := m.ifUp[name]; !ok || old == up {
		return
	}
	m.ifUp[name] = up
	m.log.Info("tracked interface changed", "interface", name, "up", up)
	if !m.started || m.stopped {
		return
	}
	for _, n := range m.nodes {
		for _, t := range n.trackIfaces {
			if t.name == name {
				n.reevaluate(now)
				break
			}
		}
	}
}

// ScriptResult records one run of a vrrp_script: success is exit status 0.
func (m *Machine) ScriptResult(name string, success bool, now time.Time) {
	s := m.scripts[name]
	if s == nil || !s.record(success) {
		return
	}
	m.log.Info("vrrp_script changed", "script", name, "ok", s.status == scriptOK)
	if !m.started || m.stopped {
		return
	}
	for _, n := range m.nodes {
		for _, t := range n.trackScripts {
			if t.s == s {
				n.reevaluate(now)
				break
			}
		}
	}
}

// Scripts returns the vrrp_scripts the instances track.
func (m *Machine) Scripts() []*config.VRRPScript {
	var out []*config.VRRPScript
	for _, s := range m.scripts {
		out = append(out, s.cfg)
	}
	return out
}

// reevaluate applies a tracked object's change: priority, FAULT, or
// coming back up (down_instance and try_up_instance).
func (n *node) reevaluate(now time.Time) {
	faults, inits, total := n.evaluate()
	n.totalPrio = total
	n.setEffectivePriority(now)
	oldFaults, oldInits := n.faults, n.initScripts
	n.faults, n.initScripts = faults, inits
	if g := n.sync; g != nil && (oldInits > 0) != (inits > 0) {
		if inits > 0 {
			g.numInit++
		} else {
			g.numInit--
		}
	}
	switch {
	case oldFaults == 0 && faults > 0:
		n.downInstance(now)
	case oldFaults > 0 && faults == 0 && inits == 0:
		n.tryUp(now, true)
	case oldFaults > 0 && faults == 0:
		if g := n.sync; g != nil {
			g.numFault--
		}
	case faults == 0 && oldInits > 0 && inits == 0:
		n.tryUp(now, false)
	}
}

// downInstance is down_instance.
func (n *node) downInstance(now time.Time) {
	n.wantState = StateFault
	if n.state == StateMaster {
		n.leaveMaster(now, true)
	} else {
		n.leaveFault(now)
	}
	if g := n.sync; g != nil {
		g.numFault++
		if g.numFault == 1 {
			g.syncFault(n, now)
		}
	}
}

// tryUp is try_up_instance: out of FAULT (or INIT) into BACKUP.
func (n *node) tryUp(now time.Time, wasFault bool) {
	n.wantState = StateBackup
	n.masterAdverInt = n.adverInt
	n.msDownTimer = n.msDown()
	if g := n.sync; g != nil {
		if wasFault {
			g.numFault--
		}
		if g.numFault > 0 || g.numInit > 0 {
			return
		}
	}
	if g := n.sync; g != nil && g.state == StateInit {
		g.state = StateBackup
	}
	n.leaveFault(now)
	n.initSands(now)
	if g := n.sync; g != nil {
		if n.state == StateMaster {
			g.syncMaster(n, now)
		} else {
			g.syncBackup(n, now)
		}
	}
}
