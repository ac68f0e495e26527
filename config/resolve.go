package config

import (
	"net/netip"
	"strings"
	"time"
)

// resolve fills in, after the whole file is read, what each block takes
// from global_defs or from its enclosing block, and reports what keepalived
// corrects or refuses at that point.
func (b *builder) resolve() {
	for _, in := range b.cfg.Instances {
		b.resolveInstance(in, b.inst[in])
	}
	for _, vs := range b.cfg.VirtualServers {
		b.resolveVS(vs, b.vs[vs])
	}
}

func (b *builder) resolveInstance(in *Instance, o *instOpts) {
	g := &b.cfg.Global
	name := "vrrp_instance " + in.Name
	if in.VRID == 0 && !o.vridSet {
		b.r.errorf(in.Pos, "%s has no virtual_router_id", name)
	}

	// Address family, from the VIPs; all of them must agree.
	fam := 0
	for _, v := range in.VIPs {
		f := 4
		if v.Prefix.Addr().Is6() {
			f = 6
		}
		if fam == 0 {
			fam = f
		} else if f != fam {
			b.r.errorf(v.Pos, "%s: virtual_ipaddress mixes IPv4 and IPv6; put the other family in virtual_ipaddress_excluded", name)
		}
	}
	if len(in.VIPs) == 0 {
		b.r.warnf(in.Pos, "%s has no virtual_ipaddress", name)
	}

	// Version.
	in.Version = g.VRRPVersion
	if o.version != 0 {
		in.Version = o.version
	}
	if fam == 6 {
		if o.version == 2 {
			b.r.errorf(in.Pos, "%s: VRRP version 2 cannot carry IPv6 addresses; use version 3", name)
		}
		in.Version = 3
	}

	// Advert interval: whole seconds in v2, centiseconds in v3.
	switch in.Version {
	case 2:
		if in.AdvertInt%time.Second != 0 {
			r := max(time.Second, in.AdvertInt.Round(time.Second))
			b.r.warnf(o.advertTok.pos, "%s: VRRPv2 advert_int must be whole seconds; %s rounded to %s", name, seconds(in.AdvertInt), seconds(r))
			in.AdvertInt = r
		}
	case 3:
		if in.AdvertInt > 40950*time.Millisecond {
			b.r.errorf(o.advertTok.pos, "%s: VRRPv3 advert_int is at most 40.95 seconds", name)
		}
		if in.AdvertInt%(10*time.Millisecond) != 0 {
			r := max(10*time.Millisecond, in.AdvertInt.Round(10*time.Millisecond))
			b.r.warnf(o.advertTok.pos, "%s: VRRPv3 advert_int has centisecond resolution; %s rounded to %s", name, seconds(in.AdvertInt), seconds(r))
			in.AdvertInt = r
		}
	}

	// Settings inherited from global_defs.
	in.DownTimerAdverts = g.DownTimerAdverts
	if o.downTimerAdverts != 0 {
		in.DownTimerAdverts = o.downTimerAdverts
	}
	pick := func(p *bool, def bool) bool {
		if p != nil {
			return *p
		}
		return def
	}
	in.LowerPrioNoAdvert = pick(o.lowerPrioNoAdvert, g.LowerPrioNoAdvert)
	in.HigherPrioSendAdvert = pick(o.higherPrioSendAdvert, g.HigherPrioSendAdvert)
	in.SkipCheckAdvAddr = pick(o.skipCheckAdvAddr, g.SkipCheckAdvAddr)
	in.Strict = pick(o.strict, g.Strict)
	in.CheckUnicastSrc = o.checkUnicastSrc || g.CheckUnicastSrc
	for _, p := range in.UnicastPeers {
		if p.MinTTL != 0 || p.MaxTTL != 255 {
			in.CheckUnicastSrc = true // min_ttl/max_ttl turn it on
		}
	}
	resolveGARP(&in.GARP, g.GARP)

	// Authentication, as keepalived treats it.
	if a := in.Auth; a != nil {
		switch {
		case in.Version == 3:
			b.r.warnf(o.authType.pos, "%s: VRRP version 3 does not support authentication; it is ignored", name)
			in.Auth = nil
		case in.Strict:
			b.r.warnf(o.authType.pos, "%s: strict mode does not support authentication; it is ignored", name)
			in.Auth = nil
		case a.Type == 0:
			b.r.errorf(in.Pos, "%s: authentication has no auth_type", name)
		case a.Pass == "":
			b.r.errorf(in.Pos, "%s: authentication has no auth_pass", name)
		case len(a.Pass) > 8:
			b.r.warnf(o.authPass.pos, "%s: auth_pass is longer than 8 characters; only the first 8 (%q) are used, as keepalived does", name, a.Pass[:8])
			a.Pass = a.Pass[:8]
		}
	}

	// The address owner starts as master when no state is given, as
	// keepalived's vrrp_complete_instance does.
	if !o.stateGiven && in.Priority == 255 {
		in.State = StateMaster
	}

	// Preemption.
	if in.Priority == 255 && !in.Preempt {
		b.r.warnf(o.nopreempt.pos, "%s: nopreempt does not work with priority 255 (the address owner); it is ignored, as keepalived does", name)
		in.Preempt = true
	}
	if in.State == StateMaster {
		if !in.Preempt {
			b.r.warnf(o.nopreempt.pos, "%s: nopreempt does not work with state MASTER; it is ignored, as keepalived does (use state BACKUP on every node)", name)
			in.Preempt = true
		}
		if in.PreemptDelay > 0 {
			b.r.warnf(o.preemptDelay.pos, "%s: preempt_delay does not work with state MASTER; it is ignored, as keepalived does", name)
			in.PreemptDelay = 0
		}
		if in.Auth != nil && in.Auth.Type == AuthAH && in.Priority != 255 {
			b.r.warnf(in.Pos, "%s: state MASTER with AH authentication starts as BACKUP, as keepalived does (it needs the peer's AH sequence number first)", name)
			in.State = StateBackup
		}
	}
	if in.Auth != nil && in.Auth.Type == AuthAH && fam == 6 {
		b.r.errorf(o.authType.pos, "%s: AH authentication does not work with IPv6", name)
	}

	// Tracking the instance's own interface means nothing.
	kept := in.TrackInterfaces[:0]
	for _, t := range in.TrackInterfaces {
		if t.Name == in.Interface && in.Interface != "" {
			b.r.warnf(t.Pos, "%s: track_interface %s is the instance's own interface; it is ignored, as keepalived does", name, t.Name)
			continue
		}
		kept = append(kept, t)
	}
	in.TrackInterfaces = kept

	// Unicast and multicast.
	if len(in.UnicastPeers) == 0 && o.unicastKeyword.kind == tokWord && !in.UnicastFaultNoPeer && o.unicastKeyword.text != "unicast_src_ip" {
		b.r.warnf(o.unicastKeyword.pos, "%s: %s without unicast_peer: adverts go to multicast, as keepalived does", name, o.unicastKeyword.text)
	}
	if in.Interface == "" && len(in.UnicastPeers) == 0 {
		b.r.errorf(in.Pos, "%s has no interface (only unicast instances may omit it)", name)
	}
	if in.Interface == "" && len(in.UnicastPeers) > 0 && !in.SrcIP.IsValid() {
		b.r.errorf(in.Pos, "%s: a unicast instance without interface needs unicast_src_ip", name)
	}
	if fam != 0 {
		is6 := fam == 6
		if in.SrcIP.IsValid() && in.SrcIP.Is6() != is6 {
			b.r.errorf(in.Pos, "%s: source address %s is not of the VIPs' family", name, in.SrcIP)
		}
		for _, p := range in.UnicastPeers {
			if p.Addr.Is6() != is6 {
				b.r.errorf(in.Pos, "%s: unicast_peer %s is not of the VIPs' family", name, p.Addr)
			}
		}
		if in.McastDstIP.IsValid() && in.McastDstIP.Is6() != is6 {
			b.r.errorf(in.Pos, "%s: mcast_dst_ip %s is not of the VIPs' family", name, in.McastDstIP)
		}
	}
	if in.Strict {
		if len(in.UnicastPeers) > 0 {
			b.r.errorf(in.Pos, "%s: strict mode does not allow unicast peers", name)
		}
		if in.State == StateMaster && in.Priority != 255 {
			b.r.warnf(in.Pos, "%s: strict mode: state MASTER needs priority 255; starting as BACKUP, as keepalived does", name)
			in.State = StateBackup
		}
	}
}

// resolveGARP fills the unset (-1) fields of an instance's GARP settings.
func resolveGARP(in *GARP, g GARP) {
	if in.MasterDelay < 0 {
		in.MasterDelay = g.MasterDelay
	}
	if in.MasterRepeat < 0 {
		in.MasterRepeat = g.MasterRepeat
	}
	if in.MasterRefresh < 0 {
		in.MasterRefresh = g.MasterRefresh
	}
	if in.MasterRefreshRepeat < 0 {
		in.MasterRefreshRepeat = g.MasterRefreshRepeat
	}
	if in.LowerPrioDelay < 0 {
		in.LowerPrioDelay = g.LowerPrioDelay
		if in.LowerPrioDelay < 0 {
			in.LowerPrioDelay = in.MasterDelay
		}
	}
	if in.LowerPrioRepeat < 0 {
		in.LowerPrioRepeat = g.LowerPrioRepeat
		if in.LowerPrioRepeat < 0 {
			in.LowerPrioRepeat = in.MasterRepeat
		}
	}
	if in.Interval < 0 {
		in.Interval = g.Interval
	}
	if in.NAInterval < 0 {
		in.NAInterval = g.NAInterval
	}
}

func (b *builder) resolveVS(vs *VirtualServer, o *vsOpts) {
	name := "virtual_server " + vs.describeArgs()
	if !o.protocolSet {
		b.r.warnf(vs.Pos, "%s has no protocol; UDP is used, as keepalived does (add protocol TCP or UDP)", name)
		vs.Protocol = UDP
	}
	if !o.schedSet {
		b.r.warnf(vs.Pos, "%s has no lvs_sched; wlc is used, as keepalived does", name)
		vs.Scheduler = SchedWLC
	}
	if !o.methodSet {
		missing := false
		for _, ro := range o.rs {
			missing = missing || !ro.methodSet
		}
		if missing || vs.SorryServer != nil && o.sorryMethod == nil {
			b.r.errorf(vs.Pos, "%s has no lvs_method (lb_kind): keepalived's default is NAT, which govs does not implement; set lvs_method DR or TUN", name)
		}
	}

	// Scheduler flags: flag-1 is sh-fallback or mh-fallback, flag-2 is
	// sh-port or mh-port: IPVS gives the two schedulers the same bits.
	if o.flag1.kind == tokWord || o.flag2.kind == tokWord {
		switch vs.Scheduler {
		case SchedSH:
			vs.Flags.SHFallback = o.flag1.kind == tokWord
			vs.Flags.SHPort = o.flag2.kind == tokWord
		case SchedMH:
			vs.Flags.MHFallback = o.flag1.kind == tokWord
			vs.Flags.MHPort = o.flag2.kind == tokWord
		default:
			for _, t := range o.flagNames {
				b.r.warnf(t.pos, "%s only applies to the sh and mh schedulers; it is ignored", t.text)
			}
		}
		for _, t := range o.flagNames {
			if strings.HasPrefix(t.text, "sh-") && vs.Scheduler == SchedMH || strings.HasPrefix(t.text, "mh-") && vs.Scheduler == SchedSH {
				b.r.warnf(t.pos, "%s is spelt for the other scheduler; with lvs_sched %s it means %s", t.text, vs.Scheduler, vs.Scheduler.String()+t.text[2:])
			}
		}
	}
	if vs.Flags.OnePacket && vs.Protocol != UDP {
		b.r.warnf(vs.Pos, "%s: ops (one-packet scheduling) needs protocol UDP; it is ignored, as keepalived does", name)
		vs.Flags.OnePacket = false
	}

	// Persistence granularity, read now that the family is known.
	is6 := vs.Addr.Is6()
	if vs.Group != "" {
		if g := b.findGroup(vs.Group); g != nil && len(g.Entries) > 0 {
			is6 = g.Entries[0].First.Is6()
		} else if o.granTok.kind == tokWord {
			is6 = !strings.Contains(o.granTok.text, ".")
		}
	}
	bits := 32
	if is6 {
		bits = 128
	}
	vs.PersistenceGranularity = bits
	if t := o.granTok; t.kind == tokWord {
		if g, ok := b.granularity(t, is6); ok {
			vs.PersistenceGranularity = g
			if vs.PersistenceTimeout == 0 {
				vs.PersistenceTimeout = persistDefault
			}
		}
	}
	if vs.Group == "" && vs.Port == 0 && vs.PersistenceTimeout == 0 {
		b.r.warnf(vs.Pos, "%s has no port: a port-less service must be persistent; persistence_timeout %d is used, as keepalived does", name, int(persistDefault/time.Second))
		vs.PersistenceTimeout = persistDefault
	}
	if vs.Group != "" && vs.PersistenceTimeout == 0 {
		if g := b.findGroup(vs.Group); g != nil {
			for _, e := range g.Entries {
				if e.Port == 0 {
					b.r.warnf(vs.Pos, "%s: group %s has an entry without port: a port-less service must be persistent; persistence_timeout %d is used, as keepalived does", name, g.Name, int(persistDefault/time.Second))
					vs.PersistenceTimeout = persistDefault
					break
				}
			}
		}
	}

	if vs.Hysteresis > 0 && vs.Hysteresis >= vs.Quorum {
		b.r.warnf(vs.Pos, "%s: hysteresis %d is not below quorum %d; %d is used, as keepalived does", name, vs.Hysteresis, vs.Quorum, vs.Quorum-1)
		vs.Hysteresis = vs.Quorum - 1
	}

	// Sorry server.
	if o.sorryInhibit.kind == tokWord && vs.SorryServer == nil {
		b.r.warnf(o.sorryInhibit.pos, "sorry_server_inhibit without sorry_server is ignored")
	}
	if o.sorryMethod != nil && vs.SorryServer == nil {
		b.r.warnf(vs.Pos, "%s: sorry_server_lvs_method without sorry_server is ignored", name)
	}
	if ss := vs.SorryServer; ss != nil {
		ss.Inhibit = o.sorryInhibit.kind == tokWord
		ss.Method = vs.Method
		if o.sorryMethod != nil {
			ss.Method = *o.sorryMethod
		}
		b.checkFamily(name, "sorry_server", ss.Pos, ss.Addr, ss.Method, vs)
		if vs.Group == "" && ss.Port != 0 && ss.Port != vs.Port && vs.Port != 0 && ss.Method != 0 {
			b.r.warnf(ss.Pos, "%s: sorry_server port %d differs from the service's %d; %s cannot change ports, so %d is used, as keepalived does", name, ss.Port, vs.Port, ss.Method, vs.Port)
		}
		if vs.Group == "" {
			ss.Port = vs.Port
		}
	}

	// Real servers.
	seen := map[netip.AddrPort]Pos{}
	total := 0
	for i, rs := range vs.RealServers {
		ro := &o.rs[i]
		rs.Weight = vs.DefaultWeight
		if ro.weight != nil {
			rs.Weight = *ro.weight
		}
		rs.Method = vs.Method
		if ro.method != 0 {
			rs.Method = ro.method
		}
		rs.InhibitOnFailure = vs.Inhibit
		if ro.inhibit != nil {
			rs.InhibitOnFailure = *ro.inhibit
		}
		rs.Alpha = vs.Alpha
		if ro.alpha != nil {
			rs.Alpha = *ro.alpha
		}
		if vs.Group == "" {
			if rs.Port == 0 {
				rs.Port = vs.Port
			} else if rs.Port != vs.Port && vs.Port != 0 && rs.Method != 0 {
				b.r.warnf(rs.Pos, "%s: real_server %s port %d differs from the service's %d; %s cannot change ports, so %d is used, as keepalived does", name, rs.Addr, rs.Port, vs.Port, rs.Method, vs.Port)
				rs.Port = vs.Port
			}
		} else if g := b.findGroup(vs.Group); g != nil && rs.Port != 0 && rs.Method != 0 {
			for _, e := range g.Entries {
				if e.Port != 0 && e.Port != rs.Port {
					b.r.warnf(rs.Pos, "%s: real_server %s port %d differs from group entry %s port %d; %s cannot change ports", name, rs.Addr, rs.Port, e.rangeString(), e.Port, rs.Method)
					break
				}
			}
		}
		if rs.Method != 0 {
			b.checkFamily(name, "real_server", rs.Pos, rs.Addr, rs.Method, vs)
		}
		if p, dup := seen[rs.AddrPort()]; dup {
			b.r.errorf(rs.Pos, "%s: real_server %s is given twice (first at line %d)", name, rs.AddrPort(), p.Line)
		}
		seen[rs.AddrPort()] = rs.Pos
		total += rs.Weight
		for j, c := range rs.Checkers {
			b.resolveChecker(vs, rs, c, &ro.chk[j])
		}
	}
	if len(vs.RealServers) == 0 {
		b.r.warnf(vs.Pos, "%s has no real servers", name)
	}
	if vs.Quorum > total && len(vs.RealServers) > 0 {
		b.r.warnf(vs.Pos, "%s: quorum %d exceeds the total weight of its real servers %d; %d is used, as keepalived does", name, vs.Quorum, total, max(total, 1))
		vs.Quorum = max(total, 1)
		if vs.Hysteresis >= vs.Quorum {
			vs.Hysteresis = vs.Quorum - 1
		}
	}
}

// checkFamily reports a real or sorry server that govs cannot reach from
// the service by its method.
func (b *builder) checkFamily(name, kw string, pos Pos, a netip.Addr, m Method, vs *VirtualServer) {
	vsIs6 := vs.Addr.Is6()
	if vs.Group != "" {
		g := b.findGroup(vs.Group)
		if g == nil || len(g.Entries) == 0 {
			return
		}
		vsIs6 = g.Entries[0].First.Is6()
	}
	switch {
	case m == TUN && (a.Is6() || vsIs6):
		b.r.errorf(pos, "%s: %s %s: TUN with IPv6 is not supported by govs: govs tunnels IPv4 in IPv4 (IPIP)", name, kw, a)
	case m == DR && a.Is6() != vsIs6:
		b.r.errorf(pos, "%s: %s %s is not of the service's address family (DR forwards the packet unchanged)", name, kw, a)
	}
}

// granularity reads persistence_granularity: an IPv4 netmask or an IPv6
// prefix length.
func (b *builder) granularity(t token, is6 bool) (int, bool) {
	if is6 {
		return b.intArg("persistence_granularity", t, 1, 128)
	}
	a, err := netip.ParseAddr(t.text)
	if err != nil || !a.Is4() {
		b.r.errorf(t.pos, "persistence_granularity: %q is not an IPv4 netmask such as 255.255.255.0", t.text)
		return 0, false
	}
	m := a.As4()
	v := uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3])
	n := 0
	for n < 32 && v&(1<<(31-n)) != 0 {
		n++
	}
	if n < 32 && v<<n != 0 || n == 0 {
		b.r.errorf(t.pos, "persistence_granularity: %s is not a contiguous netmask", t.text)
		return 0, false
	}
	return n, true
}

// resolveChecker gives a checker its effective settings: its own, else the
// real server's, else the virtual server's, else the checker type's default.
func (b *builder) resolveChecker(vs *VirtualServer, rs *RealServer, c *Checker, o *chkOpts) {
	dur := func(own, r, v, def time.Duration) time.Duration {
		switch {
		case own >= 0:
			return own
		case r >= 0:
			return r
		case v >= 0:
			return v
		}
		return def
	}
	c.DelayLoop = dur(c.DelayLoop, rs.Checks.DelayLoop, vs.Checks.DelayLoop, defaultDelayLoop)
	c.ConnectTimeout = dur(c.ConnectTimeout, rs.Checks.ConnectTimeout, vs.Checks.ConnectTimeout, defaultConnectTimeout)
	defRetry, defDBR := 1, time.Second
	switch c.Kind {
	case CheckMisc:
		defRetry = 0
	case CheckDNS:
		defRetry, defDBR = 3, c.DelayLoop
	case CheckHTTP, CheckSSL:
		defDBR = 3 * time.Second
	}
	switch {
	case c.Retry >= 0:
	case rs.Checks.Retry >= 0:
		c.Retry = rs.Checks.Retry
	case vs.Checks.Retry >= 0:
		c.Retry = vs.Checks.Retry
	default:
		c.Retry = defRetry
	}
	c.DelayBeforeRetry = dur(c.DelayBeforeRetry, rs.Checks.DelayBeforeRetry, vs.Checks.DelayBeforeRetry, defDBR)
	c.Warmup = dur(c.Warmup, rs.Checks.Warmup, vs.Checks.Warmup, c.DelayLoop)
	c.Alpha = rs.Alpha
	if o.alpha != nil {
		c.Alpha = *o.alpha
	}
	c.LogAllFailures = b.cfg.Global.CheckerLogAllFailures
	if o.logAll != nil {
		c.LogAllFailures = *o.logAll
	}
	if c.HTTP != nil {
		for i := range c.HTTP.URLs {
			u := &c.HTTP.URLs[i]
			if u.VirtualHost == "" {
				u.VirtualHost = firstNonEmpty(c.HTTP.VirtualHost, rs.VirtualHost, vs.VirtualHost)
			}
		}
	}
	if c.BindTo.IsValid() && c.ConnectIP.IsValid() && c.BindTo.Is6() != c.ConnectIP.Is6() {
		b.r.errorf(c.Pos, "%s: bindto %s and connect_ip %s are of different families", c.Kind, c.BindTo, c.ConnectIP)
	}
	if c.BindTo.IsValid() && !c.ConnectIP.IsValid() && c.BindTo.Is6() != rs.Addr.Is6() {
		b.r.errorf(c.Pos, "%s: bindto %s is not of real server %s's family", c.Kind, c.BindTo, rs.Addr)
	}
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func (b *builder) findGroup(name string) *ServerGroup {
	for _, g := range b.cfg.ServerGroups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// describeArgs is how the file named the virtual server.
func (vs *VirtualServer) describeArgs() string {
	if vs.Group != "" {
		return "group " + vs.Group
	}
	if vs.Port == 0 {
		return vs.Addr.String()
	}
	return vs.Addr.String() + " " + itoa(int(vs.Port))
}

// rangeString formats a group entry as the file would.
func (e GroupEntry) rangeString() string {
	if e.First == e.Last {
		return e.First.String()
	}
	return e.First.String() + "-" + e.Last.String()
}
