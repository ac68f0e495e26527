package config

import (
	"net/netip"
	"strings"
	"time"
)

// persistDefault is keepalived's persistence_timeout without a value and
// the persistence it forces on a port-less service (IPVS's 6 minutes).
const persistDefault = 360 * time.Second

// maxPersist is IPVS's longest persistence timeout.
const maxPersist = 31 * 24 * time.Hour

func (b *builder) serverGroup(n *node) {
	g := &ServerGroup{Pos: n.key.pos}
	if len(n.args) != 1 {
		b.nargs(n, 1, 1)
		if len(n.args) == 0 {
			return
		}
	}
	g.Name = n.args[0].text
	nodes := b.needBlock(n)
	for i := range nodes {
		s := &nodes[i]
		if s.block != nil {
			b.r.errorf(s.key.pos, "%s: unexpected block inside virtual_server_group", s.key.text)
			continue
		}
		if s.key.text == "fwmark" {
			b.r.errorf(s.key.pos, "virtual_server_group %s: fwmark entries are not supported by govs: govs classifies packets before netfilter marks them", g.Name)
			continue
		}
		if e, ok := b.groupEntry(s); ok {
			g.Entries = append(g.Entries, e)
		}
	}
	if len(g.Entries) == 0 && n.block != nil {
		b.r.errorf(n.key.pos, "virtual_server_group %s has no entries", g.Name)
	}
	b.cfg.ServerGroups = append(b.cfg.ServerGroups, g)
}

// groupEntry reads "ADDR [PORT]", "A.B.C.D-E [PORT]", "ADDR-ADDR [PORT]" or
// "ADDR/LEN [PORT]".
func (b *builder) groupEntry(s *node) (GroupEntry, bool) {
	e := GroupEntry{Pos: s.key.pos}
	if len(s.args) > 1 {
		b.r.errorf(s.args[1].pos, "virtual_server_group entry takes an address or range and a port, not %q", argsText(s.args))
		return e, false
	}
	text := s.key.text
	const kw = "virtual_server_group"
	switch {
	case strings.Contains(text, "/"):
		p, err := netip.ParsePrefix(text)
		if err != nil {
			b.r.errorf(s.key.pos, "%s: %q is not an address prefix", kw, text)
			return e, false
		}
		if p.Masked() != p {
			b.r.errorf(s.key.pos, "%s: %q has host bits set (did you mean %s?)", kw, text, p.Masked())
			return e, false
		}
		e.First, e.Last = p.Addr(), lastAddr(p)
	case strings.Contains(text, "-"):
		lo, hi, _ := strings.Cut(text, "-")
		first, err := netip.ParseAddr(lo)
		if err != nil {
			b.r.errorf(s.key.pos, "%s: %q is not an IPv4 or IPv6 address", kw, lo)
			return e, false
		}
		e.First = first
		if last, err := netip.ParseAddr(hi); err == nil {
			e.Last = last
		} else {
			// A.B.C.D-E: E replaces the last part of the address.
			sep := "."
			if first.Is6() {
				sep = ":"
			}
			i := strings.LastIndex(lo, sep)
			last, err := netip.ParseAddr(lo[:i+1] + hi)
			if err != nil || i < 0 {
				b.r.errorf(s.key.pos, "%s: %q is not an address range (A.B.C.D-E or A.B.C.D-F.G.H.I)", kw, text)
				return e, false
			}
			e.Last = last
		}
		if e.First.Is4() != e.Last.Is4() {
			b.r.errorf(s.key.pos, "%s: range %q mixes IPv4 and IPv6", kw, text)
			return e, false
		}
		if e.Last.Less(e.First) {
			b.r.errorf(s.key.pos, "%s: range %q ends before it starts", kw, text)
			return e, false
		}
	default:
		a, ok := b.addr(kw, s.key)
		if !ok {
			return e, false
		}
		e.First, e.Last = a, a
	}
	if len(s.args) == 1 {
		p, ok := b.port(kw, s.args[0], true)
		if !ok {
			return e, false
		}
		e.Port = p
	}
	return e, true
}

// vsOpts holds settings validation resolves after the whole block is read.
type vsOpts struct {
	protocolSet  bool
	schedSet     bool
	methodSet    bool
	flag1, flag2 token // flag-1/flag-2 or the sh/mh spelling
	flagNames    []token
	granTok      token
	sorryInhibit token
	sorryMethod  *Method
	quorumTok    token
	rs           []rsOpts // one per real server, in order
}

type rsOpts struct {
	alpha     *bool
	inhibit   *bool
	weight    *int
	method    Method
	methodSet bool
	chk       []chkOpts // one per checker, in order
}

type chkOpts struct {
	alpha  *bool
	logAll *bool
}

func (b *builder) virtualServer(n *node) {
	vs := &VirtualServer{
		Pos:           n.key.pos,
		Quorum:        1,
		DefaultWeight: 1,
		Checks:        unsetTiming,
	}
	o := &vsOpts{}
	const kw = "virtual_server"
	switch {
	case len(n.args) == 0:
		b.r.errorf(n.key.pos, "virtual_server needs an address and port, group NAME or fwmark N")
		return
	case n.args[0].text == "fwmark":
		b.r.errorf(n.args[0].pos, "virtual_server fwmark is not supported by govs: govs classifies packets before netfilter marks them; use an address and port or a virtual_server_group")
		return
	case n.args[0].text == "group":
		if !b.nargs(n, 2, 2) {
			return
		}
		vs.Group = n.args[1].text
	default:
		if !b.nargs(n, 1, 2) {
			return
		}
		a, ok := b.addr(kw, n.args[0])
		if !ok {
			return
		}
		vs.Addr = a
		if len(n.args) == 2 {
			p, ok := b.port(kw, n.args[1], true)
			if !ok {
				return
			}
			vs.Port = p
		}
	}
	nodes := b.needBlock(n)
	sub := catalogue.lookup("virtual_server").sub
	var seen onceSet
	for i := range nodes {
		s := &nodes[i]
		kw := s.key.text
		if kw != "real_server" {
			b.once(&seen, s)
		}
		switch kw {
		case "lvs_sched", "lb_algo":
			o.schedSet = true // even when refused: one finding is enough
			if t, ok := b.single(s); ok {
				if sc, ok := b.scheduler(kw, t); ok {
					vs.Scheduler = sc
				}
			}
		case "lvs_method", "lb_kind":
			o.methodSet = true // even when refused: one finding is enough
			if m, ok := b.method(s); ok {
				vs.Method = m
			}
		case "protocol":
			o.protocolSet = true
			if t, ok := b.single(s); ok {
				switch strings.ToUpper(t.text) {
				case "TCP":
					vs.Protocol = TCP
				case "UDP":
					vs.Protocol = UDP
				case "SCTP":
					b.r.errorf(t.pos, "protocol SCTP is not supported by govs: govs forwards TCP and UDP")
				default:
					b.r.errorf(t.pos, "protocol: %q is not TCP or UDP", t.text)
				}
			}
		case "persistence_timeout":
			b.noBlock(s)
			if !b.nargs(s, 0, 1) {
				break
			}
			if len(s.args) == 0 {
				vs.PersistenceTimeout = persistDefault
				break
			}
			if v, ok := b.intArg(kw, s.args[0], 1, int(maxPersist/time.Second)); ok {
				vs.PersistenceTimeout = time.Duration(v) * time.Second
			}
		case "persistence_granularity":
			if t, ok := b.single(s); ok {
				o.granTok = t
			}
		case "delay_loop", "connect_timeout", "retry", "delay_before_retry", "warmup":
			b.timing(&vs.Checks, s)
		case "inhibit_on_failure":
			vs.Inhibit = b.optBool(s)
		case "virtualhost":
			if t, ok := b.single(s); ok {
				vs.VirtualHost = t.text
			}
		case "alpha":
			vs.Alpha = b.flag(s)
		case "omega":
			vs.Omega = b.flag(s)
		case "ha_suspend":
			vs.HASuspend = b.flag(s)
		case "quorum":
			if v, ok := b.intValue(s, 1, 1<<31-1); ok {
				vs.Quorum = v
				o.quorumTok = s.args[0]
			}
		case "hysteresis":
			if v, ok := b.intValue(s, 0, 1<<31-1); ok {
				vs.Hysteresis = v
			}
		case "quorum_up":
			b.setScript(&vs.QuorumUp, s)
		case "quorum_down":
			b.setScript(&vs.QuorumDown, s)
		case "sorry_server":
			b.noBlock(s)
			if !b.nargs(s, 1, 2) {
				break
			}
			a, ok := b.addr(kw, s.args[0])
			if !ok {
				break
			}
			ss := &SorryServer{Pos: s.key.pos, Addr: a}
			if len(s.args) == 2 {
				if p, ok := b.port(kw, s.args[1], true); ok {
					ss.Port = p
				}
			}
			vs.SorryServer = ss
		case "sorry_server_inhibit":
			b.flag(s)
			o.sorryInhibit = s.key
		case "sorry_server_lvs_method":
			if m, ok := b.method(s); ok {
				o.sorryMethod = &m
			}
		case "sh-port", "mh-port", "flag-2":
			b.flag(s)
			o.flag2 = s.key
			o.flagNames = append(o.flagNames, s.key)
		case "sh-fallback", "mh-fallback", "flag-1":
			b.flag(s)
			o.flag1 = s.key
			o.flagNames = append(o.flagNames, s.key)
		case "ops":
			vs.Flags.OnePacket = b.flag(s)
		case "weight":
			if v, ok := b.intValue(s, 1, 1<<31-1); ok {
				vs.DefaultWeight = v
			}
		case "ip_family":
			if t, ok := b.single(s); ok && t.text != "inet" && t.text != "inet6" {
				b.r.errorf(t.pos, "ip_family: %q is not inet or inet6", t.text)
			}
		case "real_server":
			o.rs = append(o.rs, rsOpts{})
			if rs := b.realServer(vs, s, &o.rs[len(o.rs)-1]); rs != nil {
				vs.RealServers = append(vs.RealServers, rs)
			} else {
				o.rs = o.rs[:len(o.rs)-1]
			}
		default:
			b.other(sub, n, s)
		}
	}
	if b.vs == nil {
		b.vs = map[*VirtualServer]*vsOpts{}
	}
	b.vs[vs] = o
	b.cfg.VirtualServers = append(b.cfg.VirtualServers, vs)
}

// scheduler reads an lvs_sched name.
func (b *builder) scheduler(kw string, t token) (Scheduler, bool) {
	sc, ok := ParseScheduler(t.text)
	if !ok {
		names := append([]string(nil), schedNames[1:]...)
		best, bestD := "", 3
		for _, s := range names {
			if d := editDistance(t.text, s); d < bestD {
				best, bestD = s, d
			}
		}
		if best != "" && len(t.text) > 1 {
			b.r.errorf(t.pos, "%s: %q is not a scheduler (did you mean %s?)", kw, t.text, best)
		} else {
			b.r.errorf(t.pos, "%s: %q is not a scheduler (%s)", kw, t.text, strings.Join(names, ", "))
		}
		return 0, false
	}
	if sc == SchedLBLC || sc == SchedLBLCR {
		b.r.errorf(t.pos, "%s %s is not supported by govs: locality-based schedulers are for cache clusters; use mh or sh for stickiness by address", kw, t.text)
		return 0, false
	}
	return sc, true
}

// method reads "lvs_method NAT|DR|TUN [type ipip]".
func (b *builder) method(n *node) (Method, bool) {
	b.noBlock(n)
	if !b.nargs(n, 1, -1) {
		return 0, false
	}
	t := n.args[0]
	var m Method
	switch t.text {
	case "DR":
		m = DR
	case "TUN":
		m = TUN
	case "NAT":
		b.r.errorf(t.pos, "%s NAT is not supported by govs: govs forwards by direct routing (DR) or IPIP tunnelling (TUN), and real servers answer clients directly", n.key.text)
		return 0, false
	default:
		b.r.errorf(t.pos, "%s: %q is not DR, TUN or NAT", n.key.text, t.text)
		return 0, false
	}
	rest := n.args[1:]
	if m == DR && len(rest) > 0 {
		b.r.errorf(rest[0].pos, "%s DR takes no options", n.key.text)
		return 0, false
	}
	for i := 0; i < len(rest); i++ {
		switch rest[i].text {
		case "type":
			if i+1 >= len(rest) {
				b.r.errorf(rest[i].pos, "%s TUN: type needs ipip, gue or gre", n.key.text)
				return 0, false
			}
			i++
			switch rest[i].text {
			case "ipip":
			case "gue", "gre":
				b.r.errorf(rest[i].pos, "%s TUN type %s is not supported by govs: govs tunnels with IPIP", n.key.text, rest[i].text)
				return 0, false
			default:
				b.r.errorf(rest[i].pos, "%s TUN: %q is not a tunnel type (ipip, gue or gre)", n.key.text, rest[i].text)
				return 0, false
			}
		case "nocsum":
		case "csum", "remcsum":
			b.r.errorf(rest[i].pos, "%s TUN: ipip tunnels do not support the %s option", n.key.text, rest[i].text)
			return 0, false
		default:
			b.r.errorf(rest[i].pos, "%s TUN: unknown option %q", n.key.text, rest[i].text)
			return 0, false
		}
	}
	return m, true
}

// timing reads one of the cascading checker settings into t.
func (b *builder) timing(t *CheckTiming, s *node) {
	switch s.key.text {
	case "delay_loop":
		if d, ok := b.timerValue(s, time.Microsecond, maxTimer*time.Second); ok {
			t.DelayLoop = d
		}
	case "connect_timeout":
		if d, ok := b.timerValue(s, time.Microsecond, maxTimer*time.Second); ok {
			t.ConnectTimeout = d
		}
	case "retry", "nb_get_retry":
		if v, ok := b.intValue(s, 0, 1<<31-1); ok {
			t.Retry = v
		}
	case "delay_before_retry":
		if d, ok := b.timerValue(s, 0, maxTimer*time.Second); ok {
			t.DelayBeforeRetry = d
		}
	case "warmup":
		if d, ok := b.timerValue(s, 0, maxTimer*time.Second); ok {
			t.Warmup = d
		}
	}
}

func (b *builder) realServer(vs *VirtualServer, n *node, o *rsOpts) *RealServer {
	const kw = "real_server"
	if !b.nargs(n, 1, 2) {
		return nil
	}
	rs := &RealServer{Pos: n.key.pos, Checks: unsetTiming}
	a, ok := b.addr(kw, n.args[0])
	if !ok {
		return nil
	}
	rs.Addr = a
	if len(n.args) == 2 {
		p, ok := b.port(kw, n.args[1], true)
		if !ok {
			return nil
		}
		rs.Port = p
	}
	nodes := b.needBlock(n)
	sub := catalogue.lookup("virtual_server").sub.lookup("real_server").sub
	var seen onceSet
	for i := range nodes {
		s := &nodes[i]
		kw := s.key.text
		if sub.lookup(kw) == nil || sub.lookup(kw).sub == nil {
			b.once(&seen, s)
		}
		switch kw {
		case "weight":
			if v, ok := b.intValue(s, 0, 1<<31-1); ok {
				o.weight = &v
			}
		case "lvs_method":
			o.methodSet = true
			if m, ok := b.method(s); ok {
				o.method = m
			}
		case "inhibit_on_failure":
			v := b.optBool(s)
			o.inhibit = &v
		case "alpha":
			v := b.optBool(s)
			o.alpha = &v
		case "virtualhost":
			if t, ok := b.single(s); ok {
				rs.VirtualHost = t.text
			}
		case "notify_up":
			b.setScript(&rs.NotifyUp, s)
		case "notify_down":
			b.setScript(&rs.NotifyDown, s)
		case "delay_loop", "connect_timeout", "retry", "delay_before_retry", "warmup":
			b.timing(&rs.Checks, s)
		case "TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "DNS_CHECK", "PING_CHECK", "UDP_CHECK":
			if c, co := b.checker(s, sub.lookup(kw).sub); c != nil {
				rs.Checkers = append(rs.Checkers, c)
				o.chk = append(o.chk, co)
			}
		default:
			b.other(sub, n, s)
		}
	}
	return rs
}
