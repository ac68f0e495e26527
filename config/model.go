package config

import (
	"net/netip"
	"strings"
	"time"
)

// Config is a validated keepalived configuration: what govs runs.
// Every list keeps the order of the file.
type Config struct {
	Global         Global
	VRRPScripts    []*VRRPScript
	SyncGroups     []*SyncGroup
	Instances      []*Instance
	ServerGroups   []*ServerGroup
	VirtualServers []*VirtualServer
}

// Global holds global_defs.
type Global struct {
	RouterID string
	// VRRPVersion is vrrp_version: 2 (the default) or 3.
	VRRPVersion int
	// McastGroup4 and McastGroup6 are where adverts go (224.0.0.18, ff02::12).
	McastGroup4 netip.Addr
	McastGroup6 netip.Addr
	// GARP holds the vrrp_garp_* defaults that instances inherit.
	GARP GARP
	// DownTimerAdverts is vrrp_down_timer_adverts (default 3).
	DownTimerAdverts int
	// LowerPrioNoAdvert, HigherPrioSendAdvert, CheckUnicastSrc,
	// SkipCheckAdvAddr and Strict are the defaults for instances.
	LowerPrioNoAdvert    bool
	HigherPrioSendAdvert bool
	CheckUnicastSrc      bool
	SkipCheckAdvAddr     bool
	Strict               bool
	// StartupDelay is vrrp_startup_delay.
	StartupDelay time.Duration
	// ScriptUser and ScriptGroup run scripts that name no user.
	ScriptUser  string
	ScriptGroup string
	// ScriptSecurity is enable_script_security.
	ScriptSecurity bool
	// LVSTimeouts are lvs_timeouts; zero fields keep govs's defaults
	// (IPVS's: 900 s TCP, 120 s TCP FIN, 300 s UDP).
	LVSTimeouts LVSTimeouts
	// CheckerLogAllFailures is checker_log_all_failures.
	CheckerLogAllFailures bool
	// DefaultInterface is default_interface (default eth0).
	DefaultInterface string
}

// GARP is when gratuitous ARPs and unsolicited neighbour adverts are sent.
type GARP struct {
	MasterDelay         time.Duration // second burst after becoming master (5 s; 0: none)
	MasterRepeat        int           // messages per burst (5)
	MasterRefresh       time.Duration // refresh period while master (0: none)
	MasterRefreshRepeat int           // messages per refresh (1)
	LowerPrioDelay      time.Duration // after a lower priority advert (MasterDelay)
	LowerPrioRepeat     int           // (MasterRepeat)
	Interval            time.Duration // vrrp_garp_interval: between two ARPs
	NAInterval          time.Duration // vrrp_gna_interval: between two NAs
}

// LVSTimeouts are connection table timeouts.
type LVSTimeouts struct {
	TCP    time.Duration
	TCPFin time.Duration
	UDP    time.Duration
}

// Script is a command govs runs: a notify script, misc_path, a vrrp_script.
// Args are split as keepalived splits them (quotes honoured, no shell).
type Script struct {
	Args  []string
	User  string // empty: global script_user, else keepalived_script or root
	Group string
}

// String returns the command line, quoted so that SplitCommand gives Args.
func (s *Script) String() string {
	if s == nil {
		return ""
	}
	q := make([]string, len(s.Args))
	for i, a := range s.Args {
		q[i] = quoteArg(a)
	}
	return strings.Join(q, " ")
}

// VRRPScript is a vrrp_script block.
type VRRPScript struct {
	Pos      Pos
	Name     string
	Script   *Script
	Interval time.Duration // default 1 s
	Timeout  time.Duration // default Interval
	Weight   int           // -253..253
	Reverse  bool
	Rise     int // default 1
	Fall     int // default 1
	InitFail bool
}

// SyncGroup is a vrrp_sync_group block.
type SyncGroup struct {
	Pos             Pos
	Name            string
	Members         []string
	MemberPos       []Pos
	TrackInterfaces []TrackInterface
	TrackScripts    []TrackScript
	Notify          Notify
}

// State is an instance's initial VRRP state.
type State uint8

const (
	_ State = iota
	StateBackup
	StateMaster
)

func (s State) String() string {
	switch s {
	case StateBackup:
		return "BACKUP"
	case StateMaster:
		return "MASTER"
	}
	return "invalid"
}

// AuthType is VRRPv2 authentication.
type AuthType uint8

const (
	_ AuthType = iota
	AuthPass
	AuthAH
)

func (a AuthType) String() string {
	switch a {
	case AuthPass:
		return "PASS"
	case AuthAH:
		return "AH"
	}
	return "invalid"
}

// Auth is an authentication block. Pass holds at most 8 bytes, as on the wire.
type Auth struct {
	Type AuthType
	Pass string
}

// Notify holds the notify scripts of an instance or sync group.
type Notify struct {
	Master           *Script
	Backup           *Script
	Fault            *Script
	Stop             *Script
	Any              *Script // notify: called with type, name, state, priority
	MasterRxLowerPri *Script
}

// TrackInterface is a track_interface entry; Weight 0 means FAULT when down.
type TrackInterface struct {
	Pos     Pos
	Name    string
	Weight  int
	Reverse bool
}

// TrackScript is a track_script entry. Weight nil means the script's own.
type TrackScript struct {
	Pos     Pos
	Name    string
	Weight  *int
	Reverse bool
}

// Instance is a vrrp_instance block.
type Instance struct {
	Pos       Pos
	Name      string
	State     State // initial state: BACKUP unless MASTER is given, or priority 255 and no state
	Interface string
	VRID      int // virtual_router_id 1..255
	Priority  int // 1..255, default 100; 255 is the address owner
	AdvertInt time.Duration
	// Version is 2 or 3: the instance's own, else vrrp_version, else 2;
	// IPv6 instances use 3.
	Version          int
	Preempt          bool // false with nopreempt
	PreemptDelay     time.Duration
	GARP             GARP
	DownTimerAdverts int
	TrackInterfaces  []TrackInterface
	TrackScripts     []TrackScript
	DontTrackPrimary bool
	Auth             *Auth // nil without authentication, or when ignored (VRRPv3)
	VIPs             []VIP
	ExcludedVIPs     []VIP
	// McastSrcIP is mcast_src_ip or unicast_src_ip: the advert source.
	SrcIP                netip.Addr
	McastDstIP           netip.Addr
	UnicastPeers         []UnicastPeer
	UnicastTTL           int // 255 by default
	UnicastFaultNoPeer   bool
	CheckUnicastSrc      bool
	Accept               bool // accept mode (default true, false with no_accept)
	LowerPrioNoAdvert    bool
	HigherPrioSendAdvert bool
	SkipCheckAdvAddr     bool
	Strict               bool
	Notify               Notify
	// SyncGroup names the sync group the instance belongs to, if any.
	SyncGroup string
}

// Family returns the address family of the instance's VIPs: 4 or 6.
func (in *Instance) Family() int {
	if len(in.VIPs) > 0 && in.VIPs[0].Prefix.Addr().Is6() {
		return 6
	}
	return 4
}

// Scope is an address scope as `ip address` spells it.
type Scope uint8

const (
	_ Scope = iota
	ScopeGlobal
	ScopeSite
	ScopeLink
	ScopeHost
	ScopeNowhere
)

var scopeNames = map[string]Scope{"global": ScopeGlobal, "site": ScopeSite, "link": ScopeLink, "host": ScopeHost, "nowhere": ScopeNowhere}

func (s Scope) String() string {
	for k, v := range scopeNames {
		if v == s {
			return k
		}
	}
	return "invalid"
}

// VIP is a virtual_ipaddress or virtual_ipaddress_excluded entry.
type VIP struct {
	Pos Pos
	// Prefix is the address with its prefix length (/32 or /128 when none
	// was given).
	Prefix        netip.Prefix
	Broadcast     netip.Addr
	Dev           string // empty: the instance's interface
	Label         string
	Scope         Scope // ScopeGlobal unless given
	Peer          netip.Addr
	NoTrack       bool
	Home          bool
	NoDAD         bool
	NoPrefixRoute bool
}

// UnicastPeer is a unicast_peer entry.
type UnicastPeer struct {
	Addr   netip.Addr
	MinTTL int // 0 when not checked
	MaxTTL int // 255 when not checked
}

// ServerGroup is a virtual_server_group block.
type ServerGroup struct {
	Pos     Pos
	Name    string
	Entries []GroupEntry
}

// GroupEntry is one virtual_server_group line: an address range and a port.
// A single address has First == Last.
type GroupEntry struct {
	Pos   Pos
	First netip.Addr
	Last  netip.Addr
	Port  uint16
}

// Protocol is a virtual service's transport protocol.
type Protocol uint8

const (
	_ Protocol = iota
	TCP
	UDP
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	}
	return "invalid"
}

// Number returns the IP protocol number.
func (p Protocol) Number() uint8 {
	switch p {
	case TCP:
		return 6
	case UDP:
		return 17
	}
	return 0
}

// Method is how a packet reaches a real server (lvs_method, lb_kind).
type Method uint8

const (
	_ Method = iota
	// DR rewrites the destination MAC address (direct routing).
	DR
	// TUN encapsulates in IPIP.
	TUN
)

func (m Method) String() string {
	switch m {
	case DR:
		return "DR"
	case TUN:
		return "TUN"
	}
	return "invalid"
}

// Scheduler is an IPVS scheduler name (lvs_sched, lb_algo).
type Scheduler uint8

const (
	_ Scheduler = iota
	SchedRR
	SchedWRR
	SchedLC
	SchedWLC
	SchedLBLC
	SchedLBLCR
	SchedDH
	SchedSH
	SchedMH
	SchedSED
	SchedNQ
	SchedFO
	SchedOVF
	SchedTwoS
)

var schedNames = [...]string{
	SchedRR: "rr", SchedWRR: "wrr", SchedLC: "lc", SchedWLC: "wlc", SchedLBLC: "lblc",
	SchedLBLCR: "lblcr", SchedDH: "dh", SchedSH: "sh", SchedMH: "mh", SchedSED: "sed",
	SchedNQ: "nq", SchedFO: "fo", SchedOVF: "ovf", SchedTwoS: "twos",
}

func (s Scheduler) String() string {
	if int(s) < len(schedNames) && s != 0 {
		return schedNames[s]
	}
	return "invalid"
}

// ParseScheduler returns the scheduler named as keepalived's lvs_sched.
func ParseScheduler(name string) (Scheduler, bool) {
	for i, n := range schedNames {
		if n == name && i != 0 {
			return Scheduler(i), true
		}
	}
	return 0, false
}

// SchedFlags are the scheduler flags of a virtual server.
type SchedFlags struct {
	SHPort     bool // sh-port (flag-2 with sh)
	SHFallback bool // sh-fallback (flag-1 with sh)
	MHPort     bool // mh-port (flag-2 with mh)
	MHFallback bool // mh-fallback (flag-1 with mh)
	OnePacket  bool // ops: schedule each UDP datagram on its own
}

// VirtualServer is a virtual_server block: either an address and port, or
// the addresses and ports of a virtual_server_group.
type VirtualServer struct {
	Pos Pos
	// Addr and Port are set for "virtual_server ADDR PORT".
	Addr netip.Addr
	Port uint16
	// Group is set for "virtual_server group NAME".
	Group string

	Protocol  Protocol
	Scheduler Scheduler
	Flags     SchedFlags
	Method    Method // default for real servers
	// PersistenceTimeout is 0 for a service without persistence.
	PersistenceTimeout time.Duration
	// PersistenceGranularity is the client prefix length a persistence
	// template covers: 32 (or 128) unless persistence_granularity says.
	PersistenceGranularity int
	VirtualHost            string
	Alpha                  bool
	Omega                  bool
	HASuspend              bool
	Quorum                 int // default 1
	Hysteresis             int
	QuorumUp               *Script
	QuorumDown             *Script
	SorryServer            *SorryServer
	// Checks are the virtual server's checker defaults that real servers
	// inherit.
	Checks        CheckTiming
	Inhibit       bool // inhibit_on_failure default for real servers
	RealServers   []*RealServer
	DefaultWeight int
}

// Name identifies the service in messages: "10.0.0.1:80/TCP" or
// "group NAME/TCP".
func (vs *VirtualServer) Name() string {
	p := "/" + vs.Protocol.String()
	if vs.Group != "" {
		return "group " + vs.Group + p
	}
	return netip.AddrPortFrom(vs.Addr, vs.Port).String() + p
}

// SorryServer is where traffic goes when the quorum is lost.
type SorryServer struct {
	Pos     Pos
	Addr    netip.Addr
	Port    uint16
	Method  Method
	Inhibit bool
}

// CheckTiming holds the checker settings that cascade from virtual server
// to real server to checker, as given at one level. A negative value means
// not given there; the effective values are on each Checker.
type CheckTiming struct {
	DelayLoop        time.Duration
	ConnectTimeout   time.Duration
	Retry            int
	DelayBeforeRetry time.Duration
	Warmup           time.Duration
}

// unsetTiming is a CheckTiming with nothing given.
var unsetTiming = CheckTiming{-1, -1, -1, -1, -1}

// RealServer is a real_server block.
type RealServer struct {
	Pos              Pos
	Addr             netip.Addr
	Port             uint16
	Weight           int
	Method           Method
	InhibitOnFailure bool
	Alpha            bool
	VirtualHost      string
	NotifyUp         *Script
	NotifyDown       *Script
	Checks           CheckTiming
	Checkers         []*Checker
}

// AddrPort returns the real server's address and port.
func (rs *RealServer) AddrPort() netip.AddrPort { return netip.AddrPortFrom(rs.Addr, rs.Port) }

// CheckKind is a checker type.
type CheckKind uint8

const (
	_ CheckKind = iota
	CheckTCP
	CheckHTTP
	CheckSSL
	CheckMisc
	CheckDNS
	CheckPing
	CheckUDP
)

var checkNames = [...]string{CheckTCP: "TCP_CHECK", CheckHTTP: "HTTP_GET", CheckSSL: "SSL_GET",
	CheckMisc: "MISC_CHECK", CheckDNS: "DNS_CHECK", CheckPing: "PING_CHECK", CheckUDP: "UDP_CHECK"}

func (k CheckKind) String() string {
	if int(k) < len(checkNames) && k != 0 {
		return checkNames[k]
	}
	return "invalid"
}

// Checker is one health checker of a real server, with its effective
// settings (inherited from the real and virtual server where not given).
type Checker struct {
	Pos  Pos
	Kind CheckKind
	// Connection: zero values mean the real server's address and port.
	ConnectIP   netip.Addr
	ConnectPort uint16
	BindTo      netip.Addr
	BindPort    uint16
	BindIf      string
	FWMark      uint32

	ConnectTimeout   time.Duration
	DelayLoop        time.Duration
	Retry            int
	DelayBeforeRetry time.Duration
	Warmup           time.Duration
	Alpha            bool
	LogAllFailures   bool

	HTTP *HTTPCheck // HTTP_GET and SSL_GET
	Misc *MiscCheck
	DNS  *DNSCheck
	UDP  *UDPCheck
}

// HTTPCheck holds HTTP_GET and SSL_GET settings.
type HTTPCheck struct {
	URLs         []URL
	Protocol     string // "1.0", "1.0C" or "1.1"
	VirtualHost  string
	EnableSNI    bool
	FastRecovery bool
}

// URL is one url block of an HTTP check.
type URL struct {
	Pos            Pos
	Path           string
	Digest         string // lower case hex MD5 of the body, or empty
	StatusCodes    []StatusRange
	VirtualHost    string
	Regex          string
	RegexNoMatch   bool
	RegexMinOffset int
	RegexMaxOffset int
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Min, Max int }

// MiscCheck holds MISC_CHECK settings.
type MiscCheck struct {
	Script  *Script
	Timeout time.Duration // 0: the virtual server's delay_loop, as keepalived
	Dynamic bool
}

// DNSCheck holds DNS_CHECK settings.
type DNSCheck struct {
	Type string // A, NS, CNAME, SOA (default), MX, TXT, AAAA
	Name string // default "."
}

// UDPCheck holds UDP_CHECK settings.
type UDPCheck struct {
	Payload        []byte
	RequireReply   bool
	Reply          []byte // bytes to match, with ReplyMask bits that count
	ReplyMask      []byte
	MinReplyLength int
	MaxReplyLength int
}
