package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Format writes cfg as keepalived.conf text that Parse reads back into the
// same model: every inherited and default value is written out where govs
// uses it.
func Format(cfg *Config) string {
	p := &printer{}
	p.global(&cfg.Global)
	for _, s := range cfg.VRRPScripts {
		p.vrrpScript(s)
	}
	for _, g := range cfg.SyncGroups {
		p.syncGroup(g)
	}
	for _, in := range cfg.Instances {
		p.instance(in)
	}
	for _, g := range cfg.ServerGroups {
		p.open("virtual_server_group", quoteArg(g.Name))
		for _, e := range g.Entries {
			p.line(e.rangeString(), portString(e.Port))
		}
		p.close()
	}
	for _, vs := range cfg.VirtualServers {
		p.virtualServer(vs)
	}
	return p.b.String()
}

type printer struct {
	b      strings.Builder
	indent int
}

func (p *printer) line(words ...string) {
	for i := 0; i < p.indent; i++ {
		p.b.WriteString("    ")
	}
	first := true
	for _, w := range words {
		if w == "" {
			continue
		}
		if !first {
			p.b.WriteByte(' ')
		}
		first = false
		p.b.WriteString(w)
	}
	p.b.WriteByte('\n')
}

func (p *printer) open(words ...string) {
	p.line(append(words, "{")...)
	p.indent++
}

func (p *printer) close() {
	p.indent--
	p.line("}")
}

func (p *printer) flag(on bool, kw string) {
	if on {
		p.line(kw)
	}
}

func onOff(v bool) string {
	if v {
		return "on"
	}
	return "off"
}

func (p *printer) script(kw string, s *Script) {
	if s == nil {
		return
	}
	words := []string{kw, quoteArg(s.String())}
	if s.User != "" {
		words = append(words, quoteArg(s.User))
		if s.Group != "" {
			words = append(words, quoteArg(s.Group))
		}
	}
	p.line(words...)
}

func (p *printer) notify(n *Notify) {
	p.script("notify_master", n.Master)
	p.script("notify_backup", n.Backup)
	p.script("notify_fault", n.Fault)
	p.script("notify_stop", n.Stop)
	p.script("notify", n.Any)
	p.script("notify_master_rx_lower_pri", n.MasterRxLowerPri)
}

func secs(d time.Duration) string { return seconds(d) }

func wholeSecs(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }

func (p *printer) global(g *Global) {
	p.open("global_defs")
	if g.RouterID != "" {
		p.line("router_id", quoteArg(g.RouterID))
	}
	p.line("vrrp_version", itoa(g.VRRPVersion))
	p.line("vrrp_mcast_group4", g.McastGroup4.String())
	p.line("vrrp_mcast_group6", g.McastGroup6.String())
	p.line("vrrp_garp_master_delay", wholeSecs(g.GARP.MasterDelay))
	p.line("vrrp_garp_master_repeat", itoa(g.GARP.MasterRepeat))
	p.line("vrrp_garp_master_refresh", wholeSecs(g.GARP.MasterRefresh))
	p.line("vrrp_garp_master_refresh_repeat", itoa(g.GARP.MasterRefreshRepeat))
	if g.GARP.LowerPrioDelay >= 0 {
		p.line("vrrp_garp_lower_prio_delay", wholeSecs(g.GARP.LowerPrioDelay))
	}
	if g.GARP.LowerPrioRepeat >= 0 {
		p.line("vrrp_garp_lower_prio_repeat", itoa(g.GARP.LowerPrioRepeat))
	}
	p.line("vrrp_garp_interval", secs(g.GARP.Interval))
	p.line("vrrp_gna_interval", secs(g.GARP.NAInterval))
	p.line("vrrp_down_timer_adverts", itoa(g.DownTimerAdverts))
	p.line("vrrp_lower_prio_no_advert", onOff(g.LowerPrioNoAdvert))
	p.line("vrrp_higher_prio_send_advert", onOff(g.HigherPrioSendAdvert))
	p.flag(g.CheckUnicastSrc, "vrrp_check_unicast_src")
	p.line("vrrp_skip_check_adv_addr", onOff(g.SkipCheckAdvAddr))
	p.flag(g.Strict, "vrrp_strict")
	if g.StartupDelay > 0 {
		p.line("vrrp_startup_delay", secs(g.StartupDelay))
	}
	if g.ScriptUser != "" {
		p.line("script_user", quoteArg(g.ScriptUser), quoteArgOpt(g.ScriptGroup))
	}
	p.flag(g.ScriptSecurity, "enable_script_security")
	var lt []string
	if g.LVSTimeouts.TCP > 0 {
		lt = append(lt, "tcp", wholeSecs(g.LVSTimeouts.TCP))
	}
	if g.LVSTimeouts.TCPFin > 0 {
		lt = append(lt, "tcpfin", wholeSecs(g.LVSTimeouts.TCPFin))
	}
	if g.LVSTimeouts.UDP > 0 {
		lt = append(lt, "udp", wholeSecs(g.LVSTimeouts.UDP))
	}
	if len(lt) > 0 {
		p.line(append([]string{"lvs_timeouts"}, lt...)...)
	}
	p.line("checker_log_all_failures", onOff(g.CheckerLogAllFailures))
	p.line("default_interface", quoteArg(g.DefaultInterface))
	p.close()
}

func quoteArgOpt(s string) string {
	if s == "" {
		return ""
	}
	return quoteArg(s)
}

func (p *printer) vrrpScript(s *VRRPScript) {
	p.open("vrrp_script", quoteArg(s.Name))
	p.script("script", s.Script)
	p.line("interval", wholeSecs(s.Interval))
	p.line("timeout", wholeSecs(s.Timeout))
	w := []string{"weight", itoa(s.Weight)}
	if s.Reverse {
		w = append(w, "reverse")
	}
	p.line(w...)
	p.line("rise", itoa(s.Rise))
	p.line("fall", itoa(s.Fall))
	p.flag(s.InitFail, "init_fail")
	p.close()
}

func (p *printer) trackInterfaces(ts []TrackInterface) {
	if len(ts) == 0 {
		return
	}
	p.open("track_interface")
	for _, t := range ts {
		w := []string{quoteArg(t.Name), "weight", itoa(t.Weight)}
		if t.Reverse {
			w = append(w, "reverse")
		}
		p.line(w...)
	}
	p.close()
}

func (p *printer) trackScripts(ts []TrackScript) {
	if len(ts) == 0 {
		return
	}
	p.open("track_script")
	for _, t := range ts {
		w := []string{quoteArg(t.Name)}
		if t.Weight != nil {
			w = append(w, "weight", itoa(*t.Weight))
			if t.Reverse {
				w = append(w, "reverse")
			}
		}
		p.line(w...)
	}
	p.close()
}

func (p *printer) syncGroup(g *SyncGroup) {
	p.open("vrrp_sync_group", quoteArg(g.Name))
	p.open("group")
	for _, m := range g.Members {
		p.line(quoteArg(m))
	}
	p.close()
	p.trackInterfaces(g.TrackInterfaces)
	p.trackScripts(g.TrackScripts)
	p.notify(&g.Notify)
	p.close()
}

func (p *printer) instance(in *Instance) {
	p.open("vrrp_instance", quoteArg(in.Name))
	p.line("state", in.State.String())
	if in.Interface != "" {
		p.line("interface", quoteArg(in.Interface))
	}
	if in.VRID != 0 {
		p.line("virtual_router_id", itoa(in.VRID))
	}
	p.line("priority", itoa(in.Priority))
	p.line("advert_int", secs(in.AdvertInt))
	p.line("version", itoa(in.Version))
	if !in.Preempt {
		p.line("nopreempt")
	}
	if in.PreemptDelay > 0 {
		p.line("preempt_delay", secs(in.PreemptDelay))
	}
	p.line("garp_master_delay", wholeSecs(in.GARP.MasterDelay))
	p.line("garp_master_repeat", itoa(in.GARP.MasterRepeat))
	p.line("garp_master_refresh", wholeSecs(in.GARP.MasterRefresh))
	p.line("garp_master_refresh_repeat", itoa(in.GARP.MasterRefreshRepeat))
	p.line("garp_lower_prio_delay", wholeSecs(in.GARP.LowerPrioDelay))
	p.line("garp_lower_prio_repeat", itoa(in.GARP.LowerPrioRepeat))
	p.line("down_timer_adverts", itoa(in.DownTimerAdverts))
	p.trackInterfaces(in.TrackInterfaces)
	p.trackScripts(in.TrackScripts)
	p.flag(in.DontTrackPrimary, "dont_track_primary")
	if in.Auth != nil {
		p.open("authentication")
		p.line("auth_type", in.Auth.Type.String())
		p.line("auth_pass", quoteArg(in.Auth.Pass))
		p.close()
	}
	p.vips("virtual_ipaddress", in.VIPs)
	p.vips("virtual_ipaddress_excluded", in.ExcludedVIPs)
	if in.SrcIP.IsValid() {
		p.line("mcast_src_ip", in.SrcIP.String())
	}
	if in.McastDstIP.IsValid() {
		p.line("mcast_dst_ip", in.McastDstIP.String())
	}
	if len(in.UnicastPeers) > 0 {
		p.open("unicast_peer")
		for _, u := range in.UnicastPeers {
			p.line(u.Addr.String(), "min_ttl", itoa(u.MinTTL), "max_ttl", itoa(u.MaxTTL))
		}
		p.close()
	}
	if in.UnicastTTL != 255 {
		p.line("unicast_ttl", itoa(in.UnicastTTL))
	}
	p.flag(in.UnicastFaultNoPeer, "unicast_fault_no_peer")
	p.flag(in.CheckUnicastSrc, "check_unicast_src")
	if in.Accept {
		p.line("accept")
	} else {
		p.line("no_accept")
	}
	p.line("lower_prio_no_advert", onOff(in.LowerPrioNoAdvert))
	p.line("higher_prio_send_advert", onOff(in.HigherPrioSendAdvert))
	p.line("skip_check_adv_addr", onOff(in.SkipCheckAdvAddr))
	p.line("strict_mode", onOff(in.Strict))
	p.notify(&in.Notify)
	p.close()
}

func (p *printer) vips(kw string, vips []VIP) {
	if len(vips) == 0 {
		return
	}
	p.open(kw)
	for _, v := range vips {
		w := []string{v.Prefix.String()}
		if v.Broadcast.IsValid() {
			w = append(w, "brd", v.Broadcast.String())
		}
		if v.Dev != "" {
			w = append(w, "dev", quoteArg(v.Dev))
		}
		if v.Scope != ScopeGlobal {
			w = append(w, "scope", v.Scope.String())
		}
		if v.Label != "" {
			w = append(w, "label", quoteArg(v.Label))
		}
		if v.Peer.IsValid() {
			w = append(w, "peer", v.Peer.String())
		}
		if v.Home {
			w = append(w, "home")
		}
		if v.NoDAD {
			w = append(w, "-nodad")
		}
		if v.NoPrefixRoute {
			w = append(w, "noprefixroute")
		}
		if v.NoTrack {
			w = append(w, "no_track")
		}
		p.line(w...)
	}
	p.close()
}

func portString(port uint16) string {
	if port == 0 {
		return ""
	}
	return itoa(int(port))
}

func (p *printer) timing(t CheckTiming) {
	if t.DelayLoop >= 0 {
		p.line("delay_loop", secs(t.DelayLoop))
	}
	if t.ConnectTimeout >= 0 {
		p.line("connect_timeout", secs(t.ConnectTimeout))
	}
	if t.Retry >= 0 {
		p.line("retry", itoa(t.Retry))
	}
	if t.DelayBeforeRetry >= 0 {
		p.line("delay_before_retry", secs(t.DelayBeforeRetry))
	}
	if t.Warmup >= 0 {
		p.line("warmup", secs(t.Warmup))
	}
}

func (p *printer) virtualServer(vs *VirtualServer) {
	if vs.Group != "" {
		p.open("virtual_server", "group", quoteArg(vs.Group))
	} else {
		p.open("virtual_server", vs.Addr.String(), portString(vs.Port))
	}
	p.line("protocol", vs.Protocol.String())
	p.line("lvs_sched", vs.Scheduler.String())
	if vs.Method != 0 {
		p.line("lvs_method", vs.Method.String())
	}
	f := vs.Flags
	p.flag(f.SHPort, "sh-port")
	p.flag(f.SHFallback, "sh-fallback")
	p.flag(f.MHPort, "mh-port")
	p.flag(f.MHFallback, "mh-fallback")
	p.flag(f.OnePacket, "ops")
	if vs.PersistenceTimeout > 0 {
		p.line("persistence_timeout", wholeSecs(vs.PersistenceTimeout))
		full := 32
		if vs.PersistenceGranularity > 32 || vs.Addr.Is6() {
			full = 128
		}
		if vs.PersistenceGranularity != full {
			p.line("persistence_granularity", granularityString(vs.PersistenceGranularity, full == 128))
		}
	}
	if vs.VirtualHost != "" {
		p.line("virtualhost", quoteArg(vs.VirtualHost))
	}
	p.flag(vs.Alpha, "alpha")
	p.flag(vs.Omega, "omega")
	p.flag(vs.HASuspend, "ha_suspend")
	p.line("quorum", itoa(vs.Quorum))
	p.line("hysteresis", itoa(vs.Hysteresis))
	p.script("quorum_up", vs.QuorumUp)
	p.script("quorum_down", vs.QuorumDown)
	p.timing(vs.Checks)
	p.line("inhibit_on_failure", onOff(vs.Inhibit))
	p.line("weight", itoa(vs.DefaultWeight))
	if ss := vs.SorryServer; ss != nil {
		p.line("sorry_server", ss.Addr.String(), portString(ss.Port))
		p.flag(ss.Inhibit, "sorry_server_inhibit")
		p.line("sorry_server_lvs_method", ss.Method.String())
	}
	for _, rs := range vs.RealServers {
		p.realServer(rs)
	}
	p.close()
}

// granularityString writes a prefix length as persistence_granularity
// takes it: a netmask for IPv4, a length for IPv6.
func granularityString(bits int, is6 bool) string {
	if is6 {
		return itoa(bits)
	}
	m := uint32(0xffffffff) << (32 - bits)
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
}

func (p *printer) realServer(rs *RealServer) {
	p.open("real_server", rs.Addr.String(), portString(rs.Port))
	p.line("weight", itoa(rs.Weight))
	p.line("lvs_method", rs.Method.String())
	p.line("inhibit_on_failure", onOff(rs.InhibitOnFailure))
	p.line("alpha", onOff(rs.Alpha))
	if rs.VirtualHost != "" {
		p.line("virtualhost", quoteArg(rs.VirtualHost))
	}
	p.script("notify_up", rs.NotifyUp)
	p.script("notify_down", rs.NotifyDown)
	p.timing(rs.Checks)
	for _, c := range rs.Checkers {
		p.checker(c)
	}
	p.close()
}

func (p *printer) checker(c *Checker) {
	p.open(c.Kind.String())
	if c.Kind != CheckMisc {
		if c.ConnectIP.IsValid() {
			p.line("connect_ip", c.ConnectIP.String())
		}
		if c.ConnectPort != 0 {
			p.line("connect_port", itoa(int(c.ConnectPort)))
		}
		if c.BindTo.IsValid() {
			p.line("bindto", c.BindTo.String())
		}
		if c.BindPort != 0 {
			p.line("bind_port", itoa(int(c.BindPort)))
		}
		if c.BindIf != "" {
			p.line("bind_if", quoteArg(c.BindIf))
		}
		if c.FWMark != 0 {
			p.line("fwmark", strconv.FormatUint(uint64(c.FWMark), 10))
		}
		p.line("connect_timeout", secs(c.ConnectTimeout))
	}
	p.line("delay_loop", secs(c.DelayLoop))
	p.line("retry", itoa(c.Retry))
	p.line("delay_before_retry", secs(c.DelayBeforeRetry))
	p.line("warmup", secs(c.Warmup))
	p.line("alpha", onOff(c.Alpha))
	p.line("log_all_failures", onOff(c.LogAllFailures))
	if h := c.HTTP; h != nil {
		p.line("http_protocol", h.Protocol)
		if h.VirtualHost != "" {
			p.line("virtualhost", quoteArg(h.VirtualHost))
		}
		p.line("enable_sni", onOff(h.EnableSNI))
		p.line("fast_recovery", onOff(h.FastRecovery))
		for _, u := range h.URLs {
			p.open("url")
			p.line("path", quoteArg(u.Path))
			if u.Digest != "" {
				p.line("digest", u.Digest)
			}
			if len(u.StatusCodes) > 0 {
				w := []string{"status_code"}
				for _, r := range u.StatusCodes {
					if r.Min == r.Max {
						w = append(w, itoa(r.Min))
					} else {
						w = append(w, itoa(r.Min)+"-"+itoa(r.Max))
					}
				}
				p.line(w...)
			}
			if u.VirtualHost != "" {
				p.line("virtualhost", quoteArg(u.VirtualHost))
			}
			if u.Regex != "" {
				p.line("regex", quoteArg(u.Regex))
			}
			p.flag(u.RegexNoMatch, "regex_no_match")
			if u.RegexMinOffset > 0 {
				p.line("regex_min_offset", itoa(u.RegexMinOffset))
			}
			if u.RegexMaxOffset >= 0 {
				p.line("regex_max_offset", itoa(u.RegexMaxOffset))
			}
			p.close()
		}
	}
	if m := c.Misc; m != nil {
		s := *m.Script
		s.User, s.Group = "", ""
		p.script("misc_path", &s)
		if m.Timeout > 0 {
			p.line("misc_timeout", wholeSecs(m.Timeout))
		}
		p.flag(m.Dynamic, "misc_dynamic")
		if m.Script.User != "" {
			p.line("user", quoteArg(m.Script.User), quoteArgOpt(m.Script.Group))
		}
	}
	if d := c.DNS; d != nil {
		p.line("type", d.Type)
		p.line("name", quoteArg(d.Name))
	}
	if u := c.UDP; u != nil {
		if len(u.Payload) > 0 {
			p.line("payload", hexString(u.Payload, nil))
		}
		if u.RequireReply {
			p.line("require_reply", hexString(u.Reply, u.ReplyMask))
		}
		p.line("min_reply_length", itoa(u.MinReplyLength))
		p.line("max_reply_length", itoa(u.MaxReplyLength))
	}
	p.close()
}

func hexString(data, mask []byte) string {
	var b strings.Builder
	for i, v := range data {
		m := byte(0xff)
		if mask != nil {
			m = mask[i]
		}
		for _, sh := range []uint{4, 0} {
			if (m>>sh)&0xf == 0 {
				b.WriteByte('x')
			} else {
				fmt.Fprintf(&b, "%x", (v>>sh)&0xf)
			}
		}
	}
	return b.String()
}

// quoteArg returns s as one configuration word: unchanged when it needs no
// quoting, else in double quotes with backslash escapes.
func quoteArg(s string) string {
	plain := s != ""
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"'\\{}#!$@~", c) >= 0 {
			plain = false
		}
	}
	if plain {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\' || c == '$':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c == 0x7f:
			fmt.Fprintf(&b, "\\%03o", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
