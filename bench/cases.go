package bench

import (
	"os"
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
}

// Systems of the packet rate cases and of the HTTP cases. The first of
// each list is its reference.
var (
	PacketSystems = []string{"kernel", "nft-dr", "govs-dr", "govs-tun"}
	HTTPSystems   = []string{"direct", "nft-dr", "haproxy", "govs-dr"}
)

// Cases are the cases of a run, in the order they run.
func Cases() []Case {
	pkt := func(name, title string) Case {
		return Case{Benchmark: "BenchmarkPacketRate", Systems: PacketSystems, CaseInfo: report.CaseInfo{
			Name: name, Title: title, Reference: "kernel", Headline: "pkts/s", Higher: true,
			Metrics: []string{"pkts/s", "offered-pkts/s", "cpu-ns/pkt", "cpu1-%"},
			Note:    "IPVS: not measured, this kernel has no ip_vs module.",
		}}
	}
	web := func(name, title string) Case {
		return Case{Benchmark: "BenchmarkHTTP", Systems: HTTPSystems, CaseInfo: report.CaseInfo{
			Name: name, Title: title, Reference: "direct", Headline: "req/s", Higher: true,
			Metrics: []string{"req/s", "p50-ms", "p99-ms", "errors", "cpu1-%"},
		}}
	}
	return []Case{
		pkt("udp-64", "64-byte UDP, 10,000 flows, to 2 real servers"),
		pkt("udp-1500", "1500-byte UDP, 10,000 flows, to 2 real servers"),
		web("http-close", "HTTP, one connection per request (wrk -c32)"),
		web("http-keepalive", "HTTP keep-alive (wrk -c32)"),
	}
}

// Steps is how many measurements a run makes, for progress.
func Steps(s Settings) int {
	n := 0
	for _, c := range Cases() {
		n += len(c.Systems) * s.Reps
	}
	return n
}

// StepTime estimates one measurement of case c, setup included.
func StepTime(s Settings, c Case) time.Duration {
	const setup = 1500 * time.Millisecond
	if c.Benchmark == "BenchmarkHTTP" {
		return s.HTTPDuration + setup
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
