package vrrp

import (
	"reflect"
	"slices"
	"time"

	"github.com/govs-lb/govs/config"
)

// Reload is how a Machine takes over from the one of the previous
// configuration: an instance whose settings are unchanged keeps its state
// (a MASTER stays MASTER with its addresses), as keepalived keeps them
// across a reload. Instances that are gone leave: a master sends a
// priority-0 advert and removes its addresses, through the old Machine's
// Effects. Call Reload instead of Start.
func (m *Machine) Reload(old *Machine, now time.Time) {
	carried := map[string]bool{}
	for _, n := range m.nodes {
		o := old.byName[n.name]
		if o == nil || !sameInstance(o.cfg, n.cfg) || o.state == StateStop {
			continue
		}
		if (o.sync == nil) != (n.sync == nil) || (o.sync != nil && o.sync.name != n.sync.name) {
			continue
		}
		n.adopt(o)
		carried[n.name] = true
	}
	for name, s := range old.scripts {
		if ns := m.scripts[name]; ns != nil && reflect.DeepEqual(withoutPos(*ns.cfg), withoutPos(*s.cfg)) {
			ns.result, ns.status = s.result, s.status
		}
	}
	for name, up := range old.ifUp {
		if _, ok := m.ifUp[name]; ok {
			m.ifUp[name] = up
		}
	}
	for _, o := range old.nodes {
		if carried[o.name] {
			continue
		}
		if o.state == StateMaster {
			o.restoreInterface(true)
		}
	}
	old.stopped = true
	m.started = true
	var fresh []*node
	for _, n := range m.nodes {
		if !carried[n.name] {
			fresh = append(fresh, n)
			continue
		}
		// Tracking may have changed (scripts, interfaces): apply it.
		n.faults, n.initScripts, n.totalPrio = n.evaluate()
		n.effPrio = n.clampPrio()
	}
	var freshGroups []*group
	for _, g := range m.groups {
		allCarried := !slices.ContainsFunc(g.members, func(n *node) bool { return !carried[n.name] })
		og := old.group(g.name)
		if allCarried && og != nil {
			g.state = og.state
			for _, n := range g.members {
				if n.faults > 0 {
					g.numFault++
				}
				if n.initScripts > 0 {
					g.numInit++
				}
			}
			continue
		}
		freshGroups = append(freshGroups, g)
	}
	m.startNodes(now, fresh, freshGroups)
}

func (m *Machine) group(name string) *group {
	for _, g := range m.groups {
		if g.name == name {
			return g
		}
	}
	return nil
}

// adopt takes o's protocol state.
func (n *node) adopt(o *node) {
	n.state, n.wantState = o.state, o.wantState
	n.basePrio = o.basePrio
	n.masterAdverInt, n.msDownTimer, n.sands, n.preemptTime = o.masterAdverInt, o.msDownTimer, o.sands, o.preemptTime
	n.vipSet, n.masterAddr, n.masterPrio = o.vipSet, o.masterAddr, o.masterPrio
	n.notifiesSent, n.lastTransition = o.notifiesSent, o.lastTransition
	n.ahSeq, n.ahCycle = o.ahSeq, o.ahCycle
	n.garps, n.garpRefresh = slices.Clone(o.garps), o.garpRefresh
	n.stats = o.stats
	if n.src != o.src {
		n.src = o.src
	}
}

// sameInstance reports whether two instances have the same settings,
// wherever they stand in the file.
func sameInstance(a, b *config.Instance) bool {
	return reflect.DeepEqual(instanceWithoutPos(a), instanceWithoutPos(b))
}

func instanceWithoutPos(in *config.Instance) config.Instance {
	c := *in
	c.Pos = config.Pos{}
	c.VIPs = slices.Clone(c.VIPs)
	for i := range c.VIPs {
		c.VIPs[i].Pos = config.Pos{}
	}
	c.ExcludedVIPs = slices.Clone(c.ExcludedVIPs)
	for i := range c.ExcludedVIPs {
		c.ExcludedVIPs[i].Pos = config.Pos{}
	}
	c.TrackInterfaces = slices.Clone(c.TrackInterfaces)
	for i := range c.TrackInterfaces {
		c.TrackInterfaces[i].Pos = config.Pos{}
	}
	c.TrackScripts = slices.Clone(c.TrackScripts)
	for i := range c.TrackScripts {
		c.TrackScripts[i].Pos = config.Pos{}
	}
	return c
}

func withoutPos(s config.VRRPScript) config.VRRPScript {
	s.Pos = config.Pos{}
	return s
}
