package config

import (
	"maps"
	"slices"
)

// This file is the catalogue of keepalived.conf keywords: every keyword of
// keepalived 2.2.7 (its parsers and keepalived.conf(5)), by the block it is
// valid in, with what govs does with it. The builders handle the keywords
// marked useOK; the catalogue gives every other keyword its finding.

// use says what govs does with a keepalived keyword.
type use uint8

const (
	_ use = iota
	// useOK keywords are honoured.
	useOK
	// useIgnored keywords are not implemented; they give a warning.
	useIgnored
	// useRefused keywords are not implemented and their absence would
	// change how traffic is forwarded; they give an error.
	useRefused
	// useNoop keywords ask for what govs always does; they give nothing.
	useNoop
)

// keyword is one catalogue entry.
type keyword struct {
	name   string
	use    use
	sub    *context // keywords of the block it opens, if any
	values bool     // it opens a block of free-form lines
	why    string   // for useIgnored and useRefused: what is lost
}

// context is a block: the keywords valid in it.
type context struct {
	name     string
	keywords map[string]*keyword
}

func (c *context) lookup(name string) *keyword {
	if c == nil {
		return nil
	}
	return c.keywords[name]
}

// names returns the context's keywords, sorted.
func (c *context) names() []string {
	return slices.Sorted(maps.Keys(c.keywords))
}

type entry func(*context)

func ctx(name string, entries ...entry) *context {
	c := &context{name: name, keywords: map[string]*keyword{}}
	for _, e := range entries {
		e(c)
	}
	return c
}

func add(u use, why string, names ...string) entry {
	return func(c *context) {
		for _, n := range names {
			c.keywords[n] = &keyword{name: n, use: u, why: why}
		}
	}
}

func ok(names ...string) entry { return add(useOK, "", names...) }

func noop(names ...string) entry { return add(useNoop, "", names...) }

func ign(why string, names ...string) entry { return add(useIgnored, why, names...) }

func ref(why string, names ...string) entry { return add(useRefused, why, names...) }

// blk gives a keyword the block described by sub.
func blk(u use, why, name string, sub *context) entry {
	return func(c *context) { c.keywords[name] = &keyword{name: name, use: u, why: why, sub: sub} }
}

// vals gives a keyword a block of free-form lines.
func vals(u use, why string, names ...string) entry {
	return func(c *context) {
		for _, n := range names {
			c.keywords[n] = &keyword{name: n, use: u, why: why, values: true}
		}
	}
}

const (
	whyMail     = "govs sends no e-mail"
	whySNMP     = "govs has no SNMP or D-Bus agent; use govs status and its metrics"
	whyProcess  = "govs is one process; keepalived's process tuning does not apply"
	whyFIFO     = "govs has no notify FIFOs; use notify scripts"
	whyNetlink  = "govs sizes its netlink sockets itself"
	whyFirewall = "govs keeps the kernel out of VIP traffic with its own nftables table"
	whyVMAC     = "govs does not create VMAC or ipvlan interfaces; VIPs go on the instance's interface"
	whyReload   = "govs reloads with govs reload"
	whyTrack    = "only track_interface and track_script are implemented"
	whyBFD      = "govs has no BFD"
	whySync     = "govs does not synchronise connection tables; with mh or sh scheduling, flows survive a failover without it"
	whyRoutes   = "govs does not install routes or rules; the master would not route as configured"
	whyStatic   = "govs does not manage static addresses, routes or rules; configure them in the system's network configuration"
	whyTLSCtx   = "govs checks TLS without a client certificate"
)

// checkerCommon are the keywords every connecting checker takes.
var checkerCommon = ok("connect_ip", "connect_port", "bindto", "bind_port", "bind_if",
	"connect_timeout", "fwmark", "retry", "delay_before_retry", "warmup", "delay_loop",
	"alpha", "log_all_failures")

// Keywords of keepalived 1.x that old configurations still carry.
// keepalived 2.2.7 reports them as unknown and goes on; govs warns.
const whyLegacy = "it is a keepalived 1.x keyword that keepalived 2.2.7 ignores too"

// legacyRetry is nb_get_retry outside HTTP_GET and SSL_GET, where
// keepalived 2.2.7 ignores it: the checker keeps its default retry.
var legacyRetry = ign(whyLegacy+"; use retry", "nb_get_retry")

// catalogue is the root context: the whole of keepalived.conf. It is built
// once and never changed.
var catalogue = newCatalogue()

// allKeywordNames lists every keyword of the catalogue, for suggestions.
var allKeywordNames = allKeywords()

func newCatalogue() *context {
	url := ctx("url",
		ok("path", "digest", "status_code", "virtualhost", "regex", "regex_no_match",
			"regex_options", "regex_min_offset", "regex_max_offset"),
		ign("Go's regexp package needs no stack size", "regex_stack"),
	)
	httpGet := func(name string) *context {
		return ctx(name, checkerCommon,
			ok("nb_get_retry", "virtualhost", "http_protocol", "enable_sni", "fast_recovery"),
			blk(useOK, "", "url", url))
	}
	smtpHost := ctx("host", checkerCommon)
	realServer := ctx("real_server",
		ok("weight", "lvs_method", "inhibit_on_failure", "notify_up", "notify_down", "alpha",
			"retry", "delay_before_retry", "warmup", "connect_timeout", "delay_loop", "virtualhost"),
		ign(whyMail, "smtp_alert"),
		ign(whySNMP, "snmp_name"),
		ref("connection thresholds are not implemented; the real server would take connections beyond its limit", "uthreshold", "lthreshold"),
		blk(useOK, "", "TCP_CHECK", ctx("TCP_CHECK", checkerCommon, legacyRetry)),
		blk(useOK, "", "HTTP_GET", httpGet("HTTP_GET")),
		blk(useOK, "", "SSL_GET", httpGet("SSL_GET")),
		blk(useOK, "", "MISC_CHECK", ctx("MISC_CHECK",
			ok("retry", "delay_before_retry", "warmup", "delay_loop", "alpha", "log_all_failures",
				"misc_path", "misc_timeout", "misc_dynamic", "user"), legacyRetry,
			ign(whyLegacy+"; MISC_CHECK runs a command and has no connection", "connect_timeout", "connect_port", "connect_ip"))),
		blk(useOK, "", "DNS_CHECK", ctx("DNS_CHECK", checkerCommon, legacyRetry, ok("type", "name"))),
		blk(useOK, "", "PING_CHECK", ctx("PING_CHECK", checkerCommon, legacyRetry)),
		blk(useOK, "", "UDP_CHECK", ctx("UDP_CHECK", checkerCommon, legacyRetry,
			ok("payload", "require_reply", "min_reply_length", "max_reply_length"))),
		blk(useRefused, "SMTP_CHECK is not implemented; the real server would count as always up", "SMTP_CHECK",
			ctx("SMTP_CHECK", checkerCommon, ok("helo_name"), blk(useOK, "", "host", smtpHost))),
		blk(useRefused, "FILE_CHECK is not implemented; the real server would count as always up", "FILE_CHECK",
			ctx("FILE_CHECK", ok("track_file", "weight", "dynamic"))),
		blk(useRefused, "BFD_CHECK is not implemented; the real server would count as always up", "BFD_CHECK",
			ctx("BFD_CHECK", ok("name", "alpha"))),
	)
	virtualServer := ctx("virtual_server",
		ok("lvs_sched", "lb_algo", "lvs_method", "lb_kind", "protocol", "persistence_timeout",
			"persistence_granularity", "delay_loop", "connect_timeout", "retry", "delay_before_retry",
			"warmup", "inhibit_on_failure", "virtualhost", "alpha", "omega", "quorum", "hysteresis",
			"quorum_up", "quorum_down", "sorry_server", "sorry_server_inhibit",
			"sorry_server_lvs_method", "ha_suspend", "sh-port", "sh-fallback", "mh-port",
			"mh-fallback", "flag-1", "flag-2", "ops", "weight", "ip_family"),
		noop("flag-3", "hashed"),
		ign(whyMail, "smtp_alert"),
		ign(whySNMP, "snmp_name"),
		ref("persistence engines (sip) are not implemented; clients would not stick as configured", "persistence_engine"),
		ign(whyLegacy+"; it applied to NAT only", "nat_mask"),
		blk(useOK, "", "real_server", realServer),
	)
	authentication := ctx("authentication", ok("auth_type", "auth_pass"))
	instance := ctx("vrrp_instance",
		ok("state", "interface", "virtual_router_id", "priority", "advert_int", "version",
			"nopreempt", "preempt", "preempt_delay", "garp_master_delay", "garp_master_repeat",
			"garp_master_refresh", "garp_master_refresh_repeat", "garp_lower_prio_delay",
			"garp_lower_prio_repeat", "down_timer_adverts", "dont_track_primary", "mcast_src_ip",
			"unicast_src_ip", "mcast_dst_ip", "unicast_ttl", "unicast_fault_no_peer",
			"check_unicast_src", "accept", "no_accept", "lower_prio_no_advert",
			"higher_prio_send_advert", "skip_check_adv_addr", "strict_mode", "notify_master",
			"notify_backup", "notify_fault", "notify_stop", "notify", "notify_master_rx_lower_pri"),
		vals(useOK, "", "track_interface", "track_script", "virtual_ipaddress",
			"virtual_ipaddress_excluded", "unicast_peer"),
		blk(useOK, "", "authentication", authentication),
		noop("native_ipv6", "debug"),
		ign(whyVMAC, "use_vmac", "use_vmac_addr", "vmac_xmit_base", "use_ipvlan", "garp_extra_if", "vmac_garp_intvl"),
		ign("govs does not run instances in a VRF", "vrf"),
		vals(useIgnored, whyTrack, "track_file", "track_process", "track_bfd"),
		ign(whyTrack, "track_src_ip"),
		ign("set promote_secondaries on the interface with sysctl", "promote_secondaries"),
		ign("govs speaks only the current VRRPv3 checksum", "old_unicast_checksum"),
		ign(whyMail, "smtp_alert"),
		ign(whyFIFO, "notify_priority_changes"),
		ign("govs never deletes an instance on reload without stopping it", "notify_deleted"),
		ign(whyNetlink, "kernel_rx_buf_size"),
		ign("govs follows links with netlink events", "linkbeat_use_polling"),
		ign(whySync, "lvs_sync_daemon_interface"),
		vals(useRefused, whyRoutes, "virtual_routes", "virtual_rules"),
	)
	syncGroup := ctx("vrrp_sync_group",
		vals(useOK, "", "group", "track_interface", "track_script"),
		ok("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify"),
		vals(useIgnored, whyTrack, "track_file", "track_process", "track_bfd"),
		ign(whyMail, "smtp_alert"),
		ign("it is deprecated in keepalived too; use track_interface and track_script on the sync group", "global_tracking"),
		ign("sync group tracking weights are always used", "sync_group_tracking_weight"),
		ign(whyFIFO, "notify_priority_changes"),
		ign("govs never deletes an instance on reload without stopping it", "notify_deleted"),
	)
	global := ctx("global_defs",
		ok("router_id", "vrrp_version", "vrrp_mcast_group4", "vrrp_mcast_group6",
			"vrrp_garp_master_delay", "vrrp_garp_master_repeat", "vrrp_garp_master_refresh",
			"vrrp_garp_master_refresh_repeat", "vrrp_garp_lower_prio_delay",
			"vrrp_garp_lower_prio_repeat", "vrrp_garp_interval", "vrrp_gna_interval", "vrrp_min_garp",
			"vrrp_down_timer_adverts", "vrrp_lower_prio_no_advert", "vrrp_higher_prio_send_advert",
			"vrrp_check_unicast_src", "vrrp_skip_check_adv_addr", "vrrp_strict", "vrrp_startup_delay",
			"script_user", "enable_script_security", "lvs_timeouts", "checker_log_all_failures",
			"default_interface"),
		noop("lvs_flush", "lvs_flush_on_stop", "lvs_flush_onstop"),
		vals(useIgnored, whyMail, "notification_email"),
		ign(whyMail, "notification_email_from", "smtp_server", "smtp_helo_name", "smtp_connect_timeout",
			"smtp_alert", "smtp_alert_vrrp", "smtp_alert_checker", "no_email_faults", "no_checker_emails"),
		ign(whyProcess, "process_names", "process_name", "vrrp_process_name", "checker_process_name",
			"lvs_process_name", "bfd_process_name", "max_auto_priority", "min_auto_priority_delay",
			"vrrp_priority", "checker_priority", "bfd_priority", "vrrp_no_swap", "checker_no_swap",
			"bfd_no_swap", "vrrp_rt_priority", "checker_rt_priority", "bfd_rt_priority",
			"vrrp_cpu_affinity", "checker_cpu_affinity", "bfd_cpu_affinity", "vrrp_rlimit_rttime",
			"vrrp_rlimit_rtime", "checker_rlimit_rttime", "checker_rlimit_rtime", "bfd_rlimit_rttime",
			"bfd_rlimit_rtime", "umask", "tmp_config_directory", "config_save_dir", "data_use_instance"),
		ign("run such scripts from the service manager around govs", "startup_script",
			"startup_script_timeout", "shutdown_script", "shutdown_script_timeout"),
		ign(whySNMP, "snmp_socket", "enable_snmp_vrrp", "enable_snmp_keepalived", "enable_snmp_checker",
			"enable_snmp_rfc", "enable_snmp_rfcv2", "enable_snmp_rfcv3", "enable_traps", "enable_dbus",
			"dbus_service_name"),
		ign(whyFIFO, "notify_fifo", "notify_fifo_script", "vrrp_notify_fifo", "vrrp_notify_fifo_script",
			"lvs_notify_fifo", "lvs_notify_fifo_script", "fifo_write_vrrp_states_on_reload",
			"vrrp_notify_priority_changes"),
		ign(whyNetlink, "vrrp_netlink_cmd_rcv_bufs", "vrrp_netlink_cmd_rcv_bufs_force",
			"vrrp_netlink_monitor_rcv_bufs", "vrrp_netlink_monitor_rcv_bufs_force",
			"process_monitor_rcv_bufs", "process_monitor_rcv_bufs_force", "lvs_netlink_cmd_rcv_bufs",
			"lvs_netlink_cmd_rcv_bufs_force", "lvs_netlink_monitor_rcv_bufs",
			"lvs_netlink_monitor_rcv_bufs_force", "vrrp_rx_bufs_policy", "vrrp_rx_bufs_multiplier"),
		ign(whyFirewall, "vrrp_iptables", "vrrp_ipsets", "nftables", "nftables_priority", "nftables_ifindex",
			"nftables_counters", "nftables_ipvs", "nftables_ipvs_priority", "nftables_ipvs_start_fwmark",
			"disable_local_igmp"),
		ign(whyVMAC, "vrrp_garp_extra_if", "vrrp_vmac_garp_intvl", "vmac_prefix", "vmac_addr_prefix"),
		ign(whyReload, "reload_check_config", "reload_time_file", "reload_repeat", "reload_file"),
		ign("govs always checks includes as its include keywords say", "include_check"),
		ign("interfaces may come and go; govs follows them with netlink", "dynamic_interfaces"),
		ign(whySync, "lvs_sync_daemon"),
		ign("govs counts adverts for unknown VRIDs in its metrics", "log_unknown_vrids"),
		ign("${_RANDOM} is not supported", "random_seed"),
		ign("real servers start in their configured state without notifies", "rs_init_notifies"),
		ign("govs follows links with netlink events", "linkbeat_use_polling"),
		ign(whyLegacy+"; use router_id", "lvs_id"),
	)
	vrrpScript := ctx("vrrp_script", ok("script", "interval", "timeout", "weight", "rise", "fall", "user", "init_fail"))
	return ctx("top level",
		blk(useOK, "", "global_defs", global),
		blk(useOK, "", "vrrp_script", vrrpScript),
		blk(useOK, "", "vrrp_sync_group", syncGroup),
		blk(useOK, "", "vrrp_instance", instance),
		vals(useOK, "", "virtual_server_group"),
		blk(useOK, "", "virtual_server", virtualServer),
		ign("govs runs in the network namespace it is started in (use ip netns exec)", "net_namespace", "net_namespace_ipvs", "namespace_with_ipsets"),
		ign(whyProcess, "use_pid_dir", "instance", "child_wait_time"),
		ign("govs follows links with netlink events", "linkbeat_use_polling"),
		vals(useIgnored, "govs follows links with netlink events", "linkbeat_interfaces"),
		vals(useIgnored, whyStatic, "static_ipaddress", "static_routes", "static_rules"),
		blk(useIgnored, whyStatic, "track_group", ctx("track_group", vals(useOK, "", "group"))),
		blk(useIgnored, "govs sends gratuitous ARPs at the vrrp_garp_interval rate", "garp_group",
			ctx("garp_group", ok("garp_interval", "gna_interval", "interface"), vals(useOK, "", "interfaces"))),
		blk(useIgnored, whyTrack, "vrrp_track_process", ctx("vrrp_track_process",
			ok("process", "param_match", "weight", "quorum", "quorum_max", "delay", "terminate_delay",
				"fork_delay", "full_command"))),
		vals(useIgnored, "interface changes take effect at once", "interface_up_down_delays"),
		blk(useIgnored, whyTrack, "track_file", ctx("track_file", ok("file", "weight", "init_file"))),
		blk(useIgnored, whyTrack, "vrrp_track_file", ctx("vrrp_track_file", ok("file", "weight", "init_file"))),
		blk(useIgnored, whyBFD, "bfd_instance", ctx("bfd_instance",
			ok("neighbor_ip", "neighbour_ip", "source_ip", "min_rx", "min_tx", "idle_tx", "multiplier",
				"passive", "ttl", "hoplimit", "max_hops", "weight", "vrrp", "checker"))),
		blk(useIgnored, whyTLSCtx, "SSL", ctx("SSL", ok("password", "ca", "certificate", "key"))),
	)
}

// everywhere returns the contexts, other than c, in which name is a keyword.
func everywhere(name string) []*context {
	var out []*context
	seen := map[*context]bool{}
	var walk func(c *context)
	walk = func(c *context) {
		if seen[c] {
			return
		}
		seen[c] = true
		if c.keywords[name] != nil {
			out = append(out, c)
		}
		for _, n := range c.names() {
			if k := c.keywords[n]; k.sub != nil {
				walk(k.sub)
			}
		}
	}
	walk(catalogue)
	return out
}

// allKeywords returns every keyword name in the catalogue, sorted.
func allKeywords() []string {
	set := map[string]bool{}
	seen := map[*context]bool{}
	var walk func(c *context)
	walk = func(c *context) {
		if seen[c] {
			return
		}
		seen[c] = true
		for n, k := range c.keywords {
			set[n] = true
			if k.sub != nil {
				walk(k.sub)
			}
		}
	}
	walk(catalogue)
	return slices.Sorted(maps.Keys(set))
}
