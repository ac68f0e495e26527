package config

import (
	"net/netip"
	"strings"
	"time"
)

func (b *builder) vrrpScript(n *node) {
	vs := &VRRPScript{Pos: n.key.pos, Interval: time.Second, Rise: 1, Fall: 1, Timeout: -1}
	if b.nargs(n, 1, 1) {
		vs.Name = n.args[0].text
	}
	var seen onceSet
	var user, group string
	nodes := b.needBlock(n)
	for i := range nodes {
		s := &nodes[i]
		kw := s.key.text
		b.once(&seen, s)
		switch kw {
		case "script":
			vs.Script = b.script(s)
		case "interval":
			if v, ok := b.intValue(s, 1, maxTimer); ok {
				vs.Interval = time.Duration(v) * time.Second
			}
		case "timeout":
			if v, ok := b.intValue(s, 1, maxTimer); ok {
				vs.Timeout = time.Duration(v) * time.Second
			}
		case "weight":
			b.noBlock(s)
			if b.nargs(s, 1, 2) {
				if v, ok := b.intArg(kw, s.args[0], -253, 253); ok {
					vs.Weight = v
				}
				if len(s.args) == 2 {
					if s.args[1].text != "reverse" {
						b.r.errorf(s.args[1].pos, "weight: %q is not reverse", s.args[1].text)
					}
					vs.Reverse = true
				}
			}
		case "rise":
			if v, ok := b.intValue(s, 1, 1<<20); ok {
				vs.Rise = v
			}
		case "fall":
			if v, ok := b.intValue(s, 1, 1<<20); ok {
				vs.Fall = v
			}
		case "user":
			b.noBlock(s)
			if b.nargs(s, 1, 2) {
				user = s.args[0].text
				if len(s.args) == 2 {
					group = s.args[1].text
				}
			}
		case "init_fail":
			vs.InitFail = b.flag(s)
		default:
			b.other(catalogue.lookup("vrrp_script").sub, n, s)
		}
	}
	if vs.Script == nil {
		b.r.errorf(n.key.pos, "vrrp_script %s has no script", vs.Name)
	} else if user != "" {
		vs.Script.User, vs.Script.Group = user, group
	}
	if vs.Timeout < 0 {
		vs.Timeout = vs.Interval
	}
	if vs.Name != "" {
		b.cfg.VRRPScripts = append(b.cfg.VRRPScripts, vs)
	}
}

func (b *builder) syncGroup(n *node) {
	g := &SyncGroup{Pos: n.key.pos}
	if b.nargs(n, 1, 1) {
		g.Name = n.args[0].text
	}
	var seen onceSet
	nodes := b.needBlock(n)
	sub := catalogue.lookup("vrrp_sync_group").sub
	for i := range nodes {
		s := &nodes[i]
		b.once(&seen, s)
		switch s.key.text {
		case "group":
			for _, line := range b.valueLines(s) {
				for _, t := range line {
					g.Members = append(g.Members, t.text)
					g.MemberPos = append(g.MemberPos, t.pos)
				}
			}
		case "track_interface":
			g.TrackInterfaces = append(g.TrackInterfaces, b.trackInterfaces(s)...)
		case "track_script":
			g.TrackScripts = append(g.TrackScripts, b.trackScripts(s)...)
		case "notify_master":
			b.setScript(&g.Notify.Master, s)
		case "notify_backup":
			b.setScript(&g.Notify.Backup, s)
		case "notify_fault":
			b.setScript(&g.Notify.Fault, s)
		case "notify_stop":
			b.setScript(&g.Notify.Stop, s)
		case "notify":
			b.setScript(&g.Notify.Any, s)
		default:
			if sub.lookup(s.key.text) == nil && len(s.args) == 0 && s.block == nil && len(everywhere(s.key.text)) == 0 {
				b.r.errorf(s.key.pos, "unknown keyword %q in vrrp_sync_group %s (instance names go inside group { })", s.key.text, g.Name)
				continue
			}
			b.other(sub, n, s)
		}
	}
	if g.Name != "" {
		b.cfg.SyncGroups = append(b.cfg.SyncGroups, g)
	}
}

// valueLines returns the lines of a block of free-form lines. A line that
// opens a block of its own is reported and skipped.
func (b *builder) valueLines(n *node) [][]token {
	if len(n.args) > 0 {
		b.r.errorf(n.args[0].pos, "%s takes no argument before its block", n.key.text)
	}
	nodes := b.needBlock(n)
	out := make([][]token, 0, len(nodes))
	for i := range nodes {
		s := &nodes[i]
		if s.block != nil {
			b.r.errorf(s.key.pos, "%s: unexpected block inside %s", s.key.text, n.key.text)
			continue
		}
		line := make([]token, 0, 1+len(s.args))
		out = append(out, append(append(line, s.key), s.args...))
	}
	return out
}

// trackInterfaces reads "IFNAME [weight W [reverse]]" lines.
func (b *builder) trackInterfaces(n *node) []TrackInterface {
	var out []TrackInterface
	for _, line := range b.valueLines(n) {
		name, ok := b.ifname("track_interface", line[0])
		if !ok {
			continue
		}
		ti := TrackInterface{Pos: line[0].pos, Name: name}
		w, rev, ok := b.trackWeight("track_interface", line[1:], -253, 253)
		if !ok {
			continue
		}
		if w != nil {
			ti.Weight = *w
		}
		ti.Reverse = rev
		out = append(out, ti)
	}
	return out
}

// trackScripts reads "NAME [weight W [reverse|noreverse|no_reverse]]" lines.
func (b *builder) trackScripts(n *node) []TrackScript {
	var out []TrackScript
	for _, line := range b.valueLines(n) {
		ts := TrackScript{Pos: line[0].pos, Name: line[0].text}
		w, rev, ok := b.trackWeight("track_script", line[1:], -253, 253)
		if !ok {
			continue
		}
		ts.Weight, ts.Reverse = w, rev
		out = append(out, ts)
	}
	return out
}

// trackWeight reads the optional "weight W [reverse|noreverse]" of a track
// line.
func (b *builder) trackWeight(kw string, rest []token, lo, hi int) (*int, bool, bool) {
	if len(rest) == 0 {
		return nil, false, true
	}
	if rest[0].text != "weight" || len(rest) < 2 || len(rest) > 3 {
		b.r.errorf(rest[0].pos, "%s: expected \"weight W [reverse]\" after the name, not %q", kw, argsText(rest))
		return nil, false, false
	}
	w, ok := b.intArg(kw+" weight", rest[1], lo, hi)
	if !ok {
		return nil, false, false
	}
	rev := false
	if len(rest) == 3 {
		switch rest[2].text {
		case "reverse":
			rev = true
		case "noreverse", "no_reverse":
		default:
			b.r.errorf(rest[2].pos, "%s: %q is not reverse or noreverse", kw, rest[2].text)
			return nil, false, false
		}
	}
	return &w, rev, true
}

// instOpts holds what an instance leaves to the global defaults until
// validation resolves it.
type instOpts struct {
	version              int
	downTimerAdverts     int
	lowerPrioNoAdvert    *bool
	higherPrioSendAdvert *bool
	skipCheckAdvAddr     *bool
	strict               *bool
	checkUnicastSrc      bool
	unicastKeyword       token // a unicast keyword, for "unicast without peers"
	advertTok            token
	nopreempt            token
	preemptDelay         token
	authPass             token
	authType             token
	hasAuthBlock         bool
	vridSet              bool
	stateGiven           bool
}

func (b *builder) instance(n *node) {
	in := &Instance{
		Pos:        n.key.pos,
		State:      StateBackup,
		Priority:   defaultPriority,
		AdvertInt:  defaultAdvertInt,
		Preempt:    true,
		UnicastTTL: 255,
		Accept:     true,
		GARP: GARP{MasterDelay: -1, MasterRepeat: -1, MasterRefresh: -1, MasterRefreshRepeat: -1,
			LowerPrioDelay: -1, LowerPrioRepeat: -1, Interval: -1, NAInterval: -1},
	}
	o := &instOpts{}
	if b.nargs(n, 1, 1) {
		in.Name = n.args[0].text
	}
	var seen onceSet
	nodes := b.needBlock(n)
	sub := catalogue.lookup("vrrp_instance").sub
	for i := range nodes {
		s := &nodes[i]
		kw := s.key.text
		b.once(&seen, s)
		switch kw {
		case "state":
			o.stateGiven = true
			if t, ok := b.single(s); ok {
				switch strings.ToUpper(t.text) {
				case "MASTER":
					in.State = StateMaster
				case "BACKUP":
					in.State = StateBackup
				default:
					b.r.errorf(t.pos, "state: %q is not MASTER or BACKUP", t.text)
				}
			}
		case "interface":
			if t, ok := b.single(s); ok {
				if name, ok := b.ifname(kw, t); ok {
					in.Interface = name
				}
			}
		case "virtual_router_id":
			o.vridSet = true
			if v, ok := b.intValue(s, 1, 255); ok {
				in.VRID = v
			}
		case "priority":
			if v, ok := b.intValue(s, 1, 255); ok {
				in.Priority = v
			}
		case "advert_int":
			if t, ok := b.single(s); ok {
				if d, ok := b.timer(kw, t, 10*time.Millisecond, 255*time.Second); ok {
					in.AdvertInt = d
					o.advertTok = t
				}
			}
		case "version":
			if v, ok := b.intValue(s, 2, 3); ok {
				o.version = v
			}
		case "nopreempt":
			in.Preempt = !b.flag(s)
			o.nopreempt = s.key
		case "preempt":
			in.Preempt = b.flag(s)
		case "preempt_delay":
			if t, ok := b.single(s); ok {
				if d, ok := b.timer(kw, t, 0, 1000*time.Second); ok {
					in.PreemptDelay = d
					o.preemptDelay = s.key
				}
			}
		case "garp_master_delay", "garp_master_repeat", "garp_master_refresh",
			"garp_master_refresh_repeat", "garp_lower_prio_delay", "garp_lower_prio_repeat":
			b.garp(&in.GARP, kw, s)
		case "down_timer_adverts":
			if v, ok := b.intValue(s, 1, 100); ok {
				o.downTimerAdverts = v
			}
		case "track_interface":
			in.TrackInterfaces = append(in.TrackInterfaces, b.trackInterfaces(s)...)
		case "track_script":
			in.TrackScripts = append(in.TrackScripts, b.trackScripts(s)...)
		case "dont_track_primary":
			in.DontTrackPrimary = b.flag(s)
		case "authentication":
			b.authentication(in, o, s)
		case "virtual_ipaddress":
			in.VIPs = append(in.VIPs, b.vips(s)...)
		case "virtual_ipaddress_excluded":
			in.ExcludedVIPs = append(in.ExcludedVIPs, b.vips(s)...)
		case "mcast_src_ip", "unicast_src_ip":
			if t, ok := b.single(s); ok {
				if a, ok := b.addr(kw, t); ok {
					in.SrcIP = a
				}
			}
			if kw == "unicast_src_ip" {
				o.unicastKeyword = s.key
			}
		case "mcast_dst_ip":
			if t, ok := b.single(s); ok {
				if a, ok := b.addr(kw, t); ok {
					if !a.IsMulticast() {
						b.r.errorf(t.pos, "mcast_dst_ip: %s is not a multicast address", a)
					} else {
						in.McastDstIP = a
					}
				}
			}
		case "unicast_peer":
			in.UnicastPeers = append(in.UnicastPeers, b.unicastPeers(s)...)
			o.unicastKeyword = s.key
		case "unicast_ttl":
			if v, ok := b.intValue(s, 1, 255); ok {
				in.UnicastTTL = v
			}
			o.unicastKeyword = s.key
		case "unicast_fault_no_peer":
			in.UnicastFaultNoPeer = b.flag(s)
		case "check_unicast_src":
			o.checkUnicastSrc = b.flag(s)
		case "accept":
			in.Accept = b.flag(s)
		case "no_accept":
			in.Accept = !b.flag(s)
		case "lower_prio_no_advert":
			v := b.optBool(s)
			o.lowerPrioNoAdvert = &v
		case "higher_prio_send_advert":
			v := b.optBool(s)
			o.higherPrioSendAdvert = &v
		case "skip_check_adv_addr":
			v := b.optBool(s)
			o.skipCheckAdvAddr = &v
		case "strict_mode":
			v := b.optBool(s)
			o.strict = &v
		case "notify_master":
			b.setScript(&in.Notify.Master, s)
		case "notify_backup":
			b.setScript(&in.Notify.Backup, s)
		case "notify_fault":
			b.setScript(&in.Notify.Fault, s)
		case "notify_stop":
			b.setScript(&in.Notify.Stop, s)
		case "notify":
			b.setScript(&in.Notify.Any, s)
		case "notify_master_rx_lower_pri":
			b.setScript(&in.Notify.MasterRxLowerPri, s)
		default:
			b.other(sub, n, s)
		}
	}
	if in.Name == "" {
		return
	}
	if b.inst == nil {
		b.inst = map[*Instance]*instOpts{}
	}
	b.inst[in] = o
	b.cfg.Instances = append(b.cfg.Instances, in)
}

func (b *builder) authentication(in *Instance, o *instOpts, n *node) {
	if len(n.args) > 0 {
		b.r.errorf(n.args[0].pos, "authentication takes no argument")
	}
	o.hasAuthBlock = true
	a := &Auth{}
	nodes := b.needBlock(n)
	var seen onceSet
	for i := range nodes {
		s := &nodes[i]
		b.once(&seen, s)
		switch s.key.text {
		case "auth_type":
			if t, ok := b.single(s); ok {
				o.authType = t
				switch strings.ToUpper(t.text) {
				case "PASS":
					a.Type = AuthPass
				case "AH":
					a.Type = AuthAH
				default:
					b.r.errorf(t.pos, "auth_type: %q is not PASS or AH", t.text)
				}
			}
		case "auth_pass":
			if t, ok := b.single(s); ok {
				a.Pass = t.text
				o.authPass = t
			}
		default:
			b.other(catalogue.lookup("vrrp_instance").sub.lookup("authentication").sub, n, s)
		}
	}
	in.Auth = a
}

// vips reads virtual_ipaddress lines:
// ADDR[/LEN] [brd ADDR|+|-] [dev IF] [scope SCOPE] [label LABEL] [peer ADDR]
// [home] [-nodad] [noprefixroute] [no_track] ...
func (b *builder) vips(n *node) []VIP {
	var out []VIP
	for _, line := range b.valueLines(n) {
		if v, ok := b.vip(n.key.text, line); ok {
			out = append(out, v)
		}
	}
	return out
}

func (b *builder) vip(kw string, line []token) (VIP, bool) {
	v := VIP{Pos: line[0].pos, Scope: ScopeGlobal}
	p, ok := parsePrefix(line[0].text)
	if !ok {
		b.r.errorf(line[0].pos, "%s: %q is not an IPv4 or IPv6 address with an optional /prefix", kw, line[0].text)
		return v, false
	}
	v.Prefix = p
	var brd string
	var brdTok token
	for i := 1; i < len(line); i++ {
		opt := line[i]
		val := func() (token, bool) {
			if i+1 >= len(line) {
				b.r.errorf(opt.pos, "%s: %s needs a value", kw, opt.text)
				return token{}, false
			}
			i++
			return line[i], true
		}
		switch opt.text {
		case "brd", "broadcast":
			t, ok := val()
			if !ok {
				return v, false
			}
			brd, brdTok = t.text, t
		case "dev":
			t, ok := val()
			if !ok {
				return v, false
			}
			name, ok := b.ifname(kw+" dev", t)
			if !ok {
				return v, false
			}
			v.Dev = name
		case "scope":
			t, ok := val()
			if !ok {
				return v, false
			}
			sc, ok := scopeNames[t.text]
			if !ok {
				b.r.errorf(t.pos, "%s: scope %q is not global, site, link, host or nowhere", kw, t.text)
				return v, false
			}
			v.Scope = sc
		case "label":
			t, ok := val()
			if !ok {
				return v, false
			}
			if len(t.text) > 15 {
				b.r.errorf(t.pos, "%s: label %q is longer than 15 characters", kw, t.text)
				return v, false
			}
			v.Label = t.text
		case "peer":
			t, ok := val()
			if !ok {
				return v, false
			}
			a, ok := b.addr(kw+" peer", t)
			if !ok {
				return v, false
			}
			v.Peer = a
		case "home":
			v.Home = true
		case "-nodad":
			v.NoDAD = true
		case "noprefixroute":
			v.NoPrefixRoute = true
		case "no_track":
			v.NoTrack = true
		case "mngtmpaddr", "autojoin":
			b.r.warnf(opt.pos, "%s: %s is not supported by govs and is ignored", kw, opt.text)
		case "use_vmac":
			b.r.warnf(opt.pos, "%s: use_vmac is not supported by govs and is ignored: %s", kw, whyVMAC)
		case "preferred_lft":
			if _, ok := val(); !ok {
				return v, false
			}
			b.r.warnf(opt.pos, "%s: preferred_lft is not supported by govs and is ignored", kw)
		default:
			b.r.errorf(opt.pos, "%s: unknown option %q for %s", kw, opt.text, line[0].text)
			return v, false
		}
	}
	if brd != "" {
		if v.Prefix.Addr().Is6() {
			b.r.errorf(brdTok.pos, "%s: an IPv6 address has no broadcast address", kw)
			return v, false
		}
		switch brd {
		case "+":
			v.Broadcast = lastAddr(v.Prefix)
		case "-":
			v.Broadcast = v.Prefix.Masked().Addr()
		default:
			a, ok := b.addr(kw+" brd", brdTok)
			if !ok {
				return v, false
			}
			if !a.Is4() {
				b.r.errorf(brdTok.pos, "%s: broadcast %s is not an IPv4 address", kw, a)
				return v, false
			}
			v.Broadcast = a
		}
	}
	if v.Prefix.Addr().Is6() && v.Label != "" {
		b.r.warnf(line[0].pos, "%s: an IPv6 address cannot have a label; label ignored", kw)
		v.Label = ""
	}
	return v, true
}

// parsePrefix parses "ADDR" (a host prefix) or "ADDR/LEN", keeping the
// address bits: 10.0.0.5/24 stays 10.0.0.5/24.
func parsePrefix(s string) (netip.Prefix, bool) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, false
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	return p, true
}

// lastAddr returns the last address of p's network: its broadcast address.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As16()
	start := 0
	if p.Addr().Is4() {
		start = 12
	}
	bits := p.Bits()
	for i := start; i < 16; i++ {
		bit := (i - start) * 8
		switch {
		case bit >= bits:
			a[i] = 0xff
		case bit+8 > bits:
			a[i] |= 0xff >> (bits - bit)
		}
	}
	out := netip.AddrFrom16(a)
	if p.Addr().Is4() {
		out = out.Unmap()
	}
	return out
}

// unicastPeers reads "ADDR [min_ttl N] [max_ttl N]" lines.
func (b *builder) unicastPeers(n *node) []UnicastPeer {
	var out []UnicastPeer
	for _, line := range b.valueLines(n) {
		a, ok := b.addr("unicast_peer", line[0])
		if !ok {
			continue
		}
		p := UnicastPeer{Addr: a, MinTTL: 0, MaxTTL: 255}
		rest := line[1:]
		for len(rest) > 0 {
			if len(rest) < 2 || (rest[0].text != "min_ttl" && rest[0].text != "max_ttl") {
				b.r.errorf(rest[0].pos, "unicast_peer: expected min_ttl N or max_ttl N, not %q", argsText(rest))
				ok = false
				break
			}
			v, good := b.intArg("unicast_peer "+rest[0].text, rest[1], 0, 255)
			if !good {
				ok = false
				break
			}
			if rest[0].text == "min_ttl" {
				p.MinTTL = v
			} else {
				p.MaxTTL = v
			}
			rest = rest[2:]
		}
		if ok {
			out = append(out, p)
		}
	}
	return out
}
