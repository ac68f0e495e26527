package config

import (
	"net/netip"
	"strings"
	"time"
)

// Keepalived's defaults.
const (
	defaultGARPDelay      = 5 * time.Second
	defaultGARPRepeat     = 5
	defaultAdvertInt      = time.Second
	defaultPriority       = 100
	defaultDelayLoop      = 60 * time.Second
	defaultConnectTimeout = 5 * time.Second
	maxTimer              = 1<<31 - 1 // seconds; keepalived keeps timers in 32 bits
)

func defaultGlobal() Global {
	return Global{
		VRRPVersion: 2,
		McastGroup4: netip.MustParseAddr("224.0.0.18"),
		McastGroup6: netip.MustParseAddr("ff02::12"),
		GARP: GARP{
			MasterDelay:         defaultGARPDelay,
			MasterRepeat:        defaultGARPRepeat,
			MasterRefreshRepeat: 1,
			LowerPrioDelay:      -1, // follows MasterDelay unless given
			LowerPrioRepeat:     -1, // follows MasterRepeat unless given
		},
		DownTimerAdverts: 3,
		DefaultInterface: "eth0",
	}
}

func (b *builder) globalDefs(n *node) {
	if len(n.args) > 0 {
		b.r.errorf(n.args[0].pos, "global_defs takes no argument")
	}
	g := &b.cfg.Global
	var seen onceSet
	nodes := b.needBlock(n)
	for i := range nodes {
		s := &nodes[i]
		kw := s.key.text
		b.once(&seen, s)
		switch kw {
		case "router_id":
			if t, ok := b.single(s); ok {
				g.RouterID = t.text
			}
		case "vrrp_version":
			if v, ok := b.intValue(s, 2, 3); ok {
				g.VRRPVersion = v
			}
		case "vrrp_mcast_group4":
			if t, ok := b.single(s); ok {
				if a, ok := b.addr(kw, t); ok {
					if !a.Is4() || !a.IsMulticast() {
						b.r.errorf(t.pos, "%s: %s is not an IPv4 multicast address", kw, a)
					} else {
						g.McastGroup4 = a
					}
				}
			}
		case "vrrp_mcast_group6":
			if t, ok := b.single(s); ok {
				if a, ok := b.addr(kw, t); ok {
					if !a.Is6() || !a.IsMulticast() {
						b.r.errorf(t.pos, "%s: %s is not an IPv6 multicast address", kw, a)
					} else {
						g.McastGroup6 = a
					}
				}
			}
		case "vrrp_garp_master_delay", "vrrp_garp_master_repeat", "vrrp_garp_master_refresh",
			"vrrp_garp_master_refresh_repeat", "vrrp_garp_lower_prio_delay", "vrrp_garp_lower_prio_repeat":
			b.garp(&g.GARP, strings.TrimPrefix(kw, "vrrp_"), s)
		case "vrrp_garp_interval":
			if d, ok := b.timerValue(s, 0, time.Second); ok {
				g.GARP.Interval = d
			}
		case "vrrp_gna_interval":
			if d, ok := b.timerValue(s, 0, time.Second); ok {
				g.GARP.NAInterval = d
			}
		case "vrrp_min_garp":
			if b.optBool(s) {
				g.GARP.MasterRepeat = 1
				g.GARP.MasterDelay = 0
			}
		case "vrrp_down_timer_adverts":
			if v, ok := b.intValue(s, 1, 100); ok {
				g.DownTimerAdverts = v
			}
		case "vrrp_lower_prio_no_advert":
			g.LowerPrioNoAdvert = b.optBool(s)
		case "vrrp_higher_prio_send_advert":
			g.HigherPrioSendAdvert = b.optBool(s)
		case "vrrp_check_unicast_src":
			g.CheckUnicastSrc = b.flag(s)
		case "vrrp_skip_check_adv_addr":
			g.SkipCheckAdvAddr = b.optBool(s)
		case "vrrp_strict":
			g.Strict = b.flag(s)
		case "vrrp_startup_delay":
			if d, ok := b.timerValue(s, 0, time.Hour); ok {
				g.StartupDelay = d
			}
		case "script_user":
			b.noBlock(s)
			if b.nargs(s, 1, 2) {
				g.ScriptUser = s.args[0].text
				if len(s.args) == 2 {
					g.ScriptGroup = s.args[1].text
				}
			}
		case "enable_script_security":
			g.ScriptSecurity = b.flag(s)
		case "checker_log_all_failures":
			g.CheckerLogAllFailures = b.optBool(s)
		case "default_interface":
			if t, ok := b.single(s); ok {
				if name, ok := b.ifname(kw, t); ok {
					g.DefaultInterface = name
				}
			}
		case "lvs_timeouts":
			b.lvsTimeouts(s)
		default:
			b.other(catalogue.lookup("global_defs").sub, n, s)
		}
	}
}

// lvsTimeouts reads "lvs_timeouts [tcp SECS] [tcpfin SECS] [udp SECS]".
func (b *builder) lvsTimeouts(n *node) {
	b.noBlock(n)
	if len(n.args) == 0 || len(n.args)%2 != 0 {
		b.r.errorf(n.key.pos, "lvs_timeouts takes pairs of tcp, tcpfin or udp and a number of seconds")
		return
	}
	t := &b.cfg.Global.LVSTimeouts
	for i := 0; i < len(n.args); i += 2 {
		v, ok := b.intArg("lvs_timeouts "+n.args[i].text, n.args[i+1], 1, 86400*31)
		if !ok {
			continue
		}
		d := time.Duration(v) * time.Second
		switch n.args[i].text {
		case "tcp":
			t.TCP = d
		case "tcpfin":
			t.TCPFin = d
		case "udp":
			t.UDP = d
		default:
			b.r.errorf(n.args[i].pos, "lvs_timeouts: %q is not tcp, tcpfin or udp", n.args[i].text)
		}
	}
}

// garp reads one of the gratuitous ARP settings that global_defs
// (vrrp_garp_*) and vrrp_instance (garp_*) share, named without the vrrp_
// prefix, into g.
func (b *builder) garp(g *GARP, name string, s *node) {
	seconds := func(dst *time.Duration) {
		if v, ok := b.intValue(s, 0, maxTimer); ok {
			*dst = time.Duration(v) * time.Second
		}
	}
	count := func(dst *int) {
		if v, ok := b.intValue(s, 1, 1<<16); ok {
			*dst = v
		}
	}
	switch name {
	case "garp_master_delay":
		seconds(&g.MasterDelay)
	case "garp_master_repeat":
		count(&g.MasterRepeat)
	case "garp_master_refresh":
		seconds(&g.MasterRefresh)
	case "garp_master_refresh_repeat":
		count(&g.MasterRefreshRepeat)
	case "garp_lower_prio_delay":
		seconds(&g.LowerPrioDelay)
	case "garp_lower_prio_repeat":
		count(&g.LowerPrioRepeat)
	}
}
