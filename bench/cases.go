package bench

import (
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/govs-lb/govs/bench/report"
)

// Settings are a run's sizes: how many repetitions and how long each
// measurement lasts.
type Settings struct {
	Quick bool
	Reps  int
	// PacketWindow is how long a packet rate is measured, after
	// PacketWarm; HTTPDuration how long wrk runs.
	PacketWarm   time.Duration
	PacketWindow time.Duration
	HTTPDuration time.Duration
}

// Current returns the settings of this run: BENCH_QUICK=1 (any value but
// "" and "0") asks for the quick one.
func Current() Settings {
	if q := os.Getenv("BENCH_QUICK"); q != "" && q != "0" {
		return Settings{Quick: true, Reps: 1, PacketWarm: 500 * time.Millisecond, PacketWindow: time.Second, HTTPDuration: 2 * time.Second}
	}
	return Settings{Reps: 3, PacketWarm: time.Second, PacketWindow: 3 * time.Second, HTTPDuration: 8 * time.Second}
}

// Case is one measured situation and the systems compared in it.
type Case struct {
	report.CaseInfo
	Benchmark string   // the Benchmark function that measures it
	Systems   []string // in the order they take turns
	// Reps, when not 0, is the case's repetitions, fewer than the
	// settings' (a case whose set-up takes minutes).
	Reps int
}

// Repetitions returns the repetitions of case c in a run with settings s.
func (c Case) Repetitions(s Settings) int {
	if c.Reps > 0 && c.Reps < s.Reps {
		return c.Reps
	}
	return s.Reps
}

// Systems of the packet rate cases and of the HTTP cases. The first of
// each list is its reference.
var (
	PacketSystems = []string{"kernel", "nft-dr", "govs-dr", "govs-tun"}
	HTTPSystems   = []string{"direct", "nft-dr", "haproxy", "govs-dr"}
	// The scale cases' systems are govs DR with a number of real servers
	// (ServerScale) or of flows in its connection table (FlowScale).
	ServerScale = []string{"govs-1rs", "govs-100rs", "govs-10krs"}
	FlowScale   = []string{"govs-10k", "govs-1M", "govs-4M"}
	// ControlSystems are the control-plane cases': keepalived (Debian's)
	// and govs with the same keepalived.conf.
	ControlSystems = []string{"keepalived", "govs"}
)

// IPVS is the system of the packet rate and HTTP cases that is there only
// where the kernel has ip_vs: IPVS in DR mode, configured with ipvsadm.
const IPVS = "ipvs-dr"

// HaveIPVS says whether the kernel has IPVS, loading ip_vs if it can.
var HaveIPVS = sync.OnceValue(func() bool {
	exec.Command("modprobe", "-q", "ip_vs").Run()
	_, err := os.Stat("/sys/module/ip_vs")
	return err == nil
})

// Cases are the cases of a run, in the order they run.
func Cases() []Case {
	ipvsNote, pktSystems, httpSystems := "IPVS: not measured, this kernel has no ip_vs module.", PacketSystems, HTTPSystems
	if HaveIPVS() {
		ipvsNote = ""
		pktSystems = append(slices.Clip(pktSystems), IPVS)
		httpSystems = append(slices.Clip(httpSystems), IPVS)
	}
	pkt := func(name, title string) Case {
		return Case{Benchmark: "BenchmarkPacketRate", Systems: pktSystems, CaseInfo: report.CaseInfo{
			Name: name, Title: title, Reference: "kernel", Headline: "pkts/s", Higher: true,
			Metrics: []string{"pkts/s", "offered-pkts/s", "cpu-ns/pkt", "cpu1-%"},
			Note:    ipvsNote,
		}}
	}
	web := func(name, title string) Case {
		return Case{Benchmark: "BenchmarkHTTP", Systems: httpSystems, CaseInfo: report.CaseInfo{
			Name: name, Title: title, Reference: "direct", Headline: "req/s", Higher: true,
			Metrics: []string{"req/s", "p50-ms", "p99-ms", "errors", "cpu1-%"},
			Note:    ipvsNote,
		}}
	}
	scale := func(name, title string, systems []string, note string) Case {
		return Case{Benchmark: "BenchmarkScale", Systems: systems, CaseInfo: report.CaseInfo{
			Name: name, Title: title, Reference: systems[0], Headline: "pkts/s", Higher: true,
			Metrics: []string{"pkts/s", "rss-MiB", "conns", "cpu-ns/pkt"}, Note: note,
		}}
	}
	control := func(name, title, note string) Case {
		return Case{Benchmark: "BenchmarkControl", Systems: ControlSystems, CaseInfo: report.CaseInfo{
			Name: name, Title: title, Reference: "keepalived", Headline: "ms", Higher: false,
			Metrics: []string{"ms"}, Note: note,
		}}
	}
	flows := scale("scale-flows", "govs DR, 64-byte UDP, 10,000, 1,010,000 and 4,040,000 flows in the connection table", FlowScale,
		"Measured once the table holds 99% of the flows (filled at 60,000 new flows/s); one repetition: filling takes minutes.")
	flows.Reps = 1
	if Current().Quick {
		flows.Systems = FlowScale[:2]
		flows.Title = "govs DR, 64-byte UDP, 10,000 and 1,010,000 flows in the connection table (quick run: without 4,040,000)"
	}
	return []Case{
		pkt("udp-64", "64-byte UDP, 10,000 flows, to 2 real servers"),
		pkt("udp-1500", "1500-byte UDP, 10,000 flows, to 2 real servers"),
		web("http-close", "HTTP, one connection per request (wrk -c32)"),
		web("http-keepalive", "HTTP keep-alive (wrk -c32)"),
		scale("scale-servers", "govs DR, 64-byte UDP, 10,000 flows, to 1, 100 and 10,000 real servers", ServerScale,
			"The real servers beyond r1 and r2 are addresses whose neighbour entries on lb point at r1's or r2's MAC."),
		flows,
		control("rs-fail", "A real server's HTTP service stops: milliseconds until it gets no more new connections (TCP_CHECK, delay_loop 1)",
			"keepalived: until it removes the real server from IPVS (this kernel has no ip_vs: keepalived runs with IPVS's socket options faked, and IPVS would apply the removal at once); govs: until the last new connection reached the stopped server."),
		control("vrrp-stop", "VRRP failover, master stopped (SIGTERM, advert_int 1): milliseconds without an answer from the VIP",
			"The stopped master sends a priority 0 advert; the backup takes over after its skew time, (256-100)/256 s."),
		control("vrrp-death", "VRRP failover, master's link lost (advert_int 1): milliseconds without an answer from the VIP",
			"The backup takes over 3 adverts plus its skew time (3.61 s) after the last advert it heard, which came up to 1 s before the link went."),
	}
}

// Steps is how many measurements a run makes, for progress.
func Steps(s Settings) int {
	n := 0
	for _, c := range Cases() {
		n += len(c.Systems) * c.Repetitions(s)
	}
	return n
}

// StepTime estimates one measurement of case c, setup included.
func StepTime(s Settings, c Case) time.Duration {
	const setup = 1500 * time.Millisecond
	switch {
	case c.Benchmark == "BenchmarkHTTP":
		return s.HTTPDuration + setup
	case c.Name == "rs-fail":
		return 5 * time.Second
	case c.Name == "vrrp-stop":
		return 7500 * time.Millisecond
	case c.Name == "vrrp-death":
		return 10 * time.Second
	case c.Name == "scale-flows":
		// Filling the table takes most of it: 5M flows over three
		// systems at 60,000 new flows a second.
		return 30*time.Second + s.PacketWindow + setup
	}
	return s.PacketWarm + s.PacketWindow + setup
}

// Event is a line of the progress file (GOVS_BENCH_OUT): a step starting,
// or a sample measured.
type Event struct {
	Start  bool           `json:"start,omitempty"`
	Case   string         `json:"case"`
	System string         `json:"system"`
	Rep    int            `json:"rep"`
	Sample *report.Sample `json:"sample,omitempty"`
	Error  string         `json:"error,omitempty"`
}
