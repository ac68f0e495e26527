package config

import (
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// validate checks what spans objects: names that must exist, names and
// services that must be unique.
func validate(cfg *Config, r *reporter) {
	scripts := map[string]*VRRPScript{}
	for _, s := range cfg.VRRPScripts {
		if prev, dup := scripts[s.Name]; dup {
			r.errorf(s.Pos, "vrrp_script %s is defined twice (first at line %d)", s.Name, prev.Pos.Line)
			continue
		}
		scripts[s.Name] = s
	}
	instances := map[string]*Instance{}
	for _, in := range cfg.Instances {
		if prev, dup := instances[in.Name]; dup {
			r.errorf(in.Pos, "vrrp_instance %s is defined twice (first at line %d)", in.Name, prev.Pos.Line)
			continue
		}
		instances[in.Name] = in
	}
	checkTrackScripts := func(owner string, ts []TrackScript) {
		for _, t := range ts {
			if scripts[t.Name] == nil && !r.full() {
				r.errorf(t.Pos, "%s: track_script %s names no vrrp_script%s", owner, t.Name, didYouMean(t.Name, slices.Sorted(maps.Keys(scripts))))
			}
		}
	}
	for _, in := range cfg.Instances {
		checkTrackScripts("vrrp_instance "+in.Name, in.TrackScripts)
	}

	groups := map[string]*SyncGroup{}
	for _, g := range cfg.SyncGroups {
		if prev, dup := groups[g.Name]; dup {
			r.errorf(g.Pos, "vrrp_sync_group %s is defined twice (first at line %d)", g.Name, prev.Pos.Line)
			continue
		}
		groups[g.Name] = g
		checkTrackScripts("vrrp_sync_group "+g.Name, g.TrackScripts)
		valid := 0
		for i, m := range g.Members {
			in := instances[m]
			switch {
			case in == nil:
				if r.full() {
					continue
				}
				r.errorf(g.MemberPos[i], "vrrp_sync_group %s: instance %s does not exist%s", g.Name, m, didYouMeanOrList(m, "instances", slices.Sorted(maps.Keys(instances))))
			case in.SyncGroup != "" && in.SyncGroup != g.Name:
				r.errorf(g.MemberPos[i], "vrrp_sync_group %s: instance %s is already in sync group %s", g.Name, m, in.SyncGroup)
			default:
				in.SyncGroup = g.Name
				valid++
			}
		}
		switch {
		case len(g.Members) == 0:
			r.errorf(g.Pos, "vrrp_sync_group %s has no group { } of instances", g.Name)
		case valid == 1 && len(g.Members) == 1:
			r.warnf(g.Pos, "vrrp_sync_group %s has only one instance; a sync group keeps several instances in the same state (keepalived warns too)", g.Name)
		}
	}

	// Two instances on one interface and family must not share a VRID
	// unless their unicast peers keep them apart.
	type vridKey struct {
		ifname string
		fam    int
		vrid   int
		dst    netip.Addr
	}
	vrids := map[vridKey]*Instance{}
	for _, in := range cfg.Instances {
		if instances[in.Name] != in || in.VRID == 0 || len(in.UnicastPeers) > 0 {
			continue
		}
		k := vridKey{in.Interface, in.Family(), in.VRID, in.McastDstIP}
		if prev, dup := vrids[k]; dup {
			r.errorf(in.Pos, "vrrp_instance %s and %s both use virtual_router_id %d on %s", prev.Name, in.Name, in.VRID, in.Interface)
			continue
		}
		vrids[k] = in
	}

	sgroups := map[string]*ServerGroup{}
	for _, g := range cfg.ServerGroups {
		if prev, dup := sgroups[g.Name]; dup {
			r.errorf(g.Pos, "virtual_server_group %s is defined twice (first at line %d)", g.Name, prev.Pos.Line)
			continue
		}
		sgroups[g.Name] = g
		fam := 0
		for _, e := range g.Entries {
			f := 4
			if e.First.Is6() {
				f = 6
			}
			if fam != 0 && f != fam {
				r.errorf(e.Pos, "virtual_server_group %s mixes IPv4 and IPv6 entries", g.Name)
				break
			}
			fam = f
		}
	}
	for _, vs := range cfg.VirtualServers {
		if vs.Group != "" && sgroups[vs.Group] == nil && !r.full() {
			r.errorf(vs.Pos, "virtual_server group %s: no virtual_server_group is named %s%s", vs.Group, vs.Group, didYouMean(vs.Group, slices.Sorted(maps.Keys(sgroups))))
		}
	}
	checkServices(cfg, sgroups, r)
}

// checkServices reports a service (address, port, protocol) that two
// virtual servers, or two entries of the groups they use, both claim.
func checkServices(cfg *Config, groups map[string]*ServerGroup, r *reporter) {
	type span struct {
		first, last netip.Addr
		port        uint16
		proto       Protocol
		pos         Pos
		vsPos       Pos
	}
	var spans []span
	for _, vs := range cfg.VirtualServers {
		if vs.Group == "" {
			spans = append(spans, span{vs.Addr, vs.Addr, vs.Port, vs.Protocol, vs.Pos, vs.Pos})
			continue
		}
		if g := groups[vs.Group]; g != nil {
			for _, e := range g.Entries {
				spans = append(spans, span{e.First, e.Last, e.Port, vs.Protocol, e.Pos, vs.Pos})
			}
		}
	}
	// Sort by start; an overlap is then with an earlier span whose end
	// reaches this start. Track, per (port, protocol, family), the span
	// reaching furthest so far.
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].first.Less(spans[j].first) })
	type key struct {
		port  uint16
		proto Protocol
		is6   bool
	}
	reach := map[key]span{}
	var found []Diagnostic
	for _, s := range spans {
		k := key{s.port, s.proto, s.first.Is6()}
		if prev, ok := reach[k]; ok && !prev.last.Less(s.first) {
			where, other := s, prev
			if posLess(where.pos, other.pos) {
				where, other = other, where
			}
			found = append(found, Diagnostic{Pos: where.pos, Severity: Error,
				Msg: "virtual service " + serviceString(s.first, k.port, k.proto) + " is defined twice (also at line " + strconv.Itoa(other.pos.Line) + ")"})
		}
		if prev, ok := reach[k]; !ok || prev.last.Less(s.last) {
			reach[k] = s
		}
	}
	for _, d := range found {
		r.add(d.Pos, d.Severity, "%s", d.Msg)
	}
}

func posLess(a, b Pos) bool {
	if a.File != b.File {
		return a.File < b.File
	}
	if a.Line != b.Line {
		return a.Line < b.Line
	}
	return a.Col < b.Col
}

func serviceString(a netip.Addr, port uint16, p Protocol) string {
	return netip.AddrPortFrom(a, port).String() + "/" + p.String()
}

// didYouMean returns " (did you mean X?)" for the candidate closest to
// name, or "".
func didYouMean(name string, cands []string) string {
	best, bestD := "", 1<<30
	for _, c := range cands {
		if d := editDistance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(2, len(name)/3)
	if best == "" || bestD > limit {
		return ""
	}
	return " (did you mean " + best + "?)"
}

// didYouMeanOrList is didYouMean, or when nothing is close and there are
// few candidates, " (the WHAT are: a, b)".
func didYouMeanOrList(name, what string, cands []string) string {
	if s := didYouMean(name, cands); s != "" {
		return s
	}
	switch {
	case len(cands) == 0:
		return " (there are no " + what + ")"
	case len(cands) <= 5:
		return " (the " + what + " are: " + strings.Join(cands, ", ") + ")"
	}
	return ""
}

func itoa(i int) string { return strconv.Itoa(i) }
