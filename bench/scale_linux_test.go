package bench

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govs-lb/govs/netsim"
)

// BenchmarkScale: govs DR under 64-byte UDP as in BenchmarkPacketRate,
// with many real servers (scale-servers: 1, 100 and 10,000, 10,000 flows)
// or many flows in its connection table (scale-flows: 10,000, 1,010,000
// and 4,040,000, two real servers). Reports delivered packets per second,
// CPU per packet, the flows in the connection table (conns) and the govs
// process's resident memory (rss-MiB) at the end of the window.
//
// The real servers beyond r1 and r2 are addresses of 198.18.64.0/18 on
// lb's segment whose permanent neighbour entries point at r1's or r2's
// MAC, in turn: govs resolves and schedules 10,000 distinct real servers,
// and r1 and r2 count what each receives.
//
// The flows of scale-flows are the pairs of a source address
// (198.18.100.0 to .100, 101 of them) and a source port (10,000 or 40,000
// of them): trafgen steps both with every frame, and as 101 is prime to
// the number of ports, a pass over the pairs is 101 times the ports.
// Before the window, trafgen sends the flows at fillRate, a rate of new
// flows govs takes on one CPU, until the connection table holds 99% of
// them (a balancer's table fills at the rate new flows come, not at its
// packet rate); the window then measures established flows at the
// generator's full rate. Filling 4,040,000 flows takes over a minute, so
// this case has one repetition, and a quick run leaves that system out.
func BenchmarkScale(b *testing.B) {
	requirements(b, "trafgen", "taskset", "ip", "nft")
	eachStep(b, "BenchmarkScale", func(b *testing.B, s Settings, c Case, sys string) map[string]float64 {
		switch c.Name {
		case "scale-servers":
			n := map[string]int{"govs-1rs": 1, "govs-100rs": 100, "govs-10krs": 10000}[sys]
			return serverScale(b, s, n)
		case "scale-flows":
			ports := map[string]int{"govs-10k": 10000, "govs-1M": 10000, "govs-4M": 40000}[sys]
			sources := 101
			if sys == "govs-10k" {
				sources = 1
			}
			return flowScale(b, s, sources, ports)
		}
		b.Fatalf("no case %q", c.Name)
		return nil
	})
}

// scaleReals is the prefix of the real servers beyond r1 and r2.
var scaleReals = netip.MustParsePrefix("198.18.64.0/18")

// fillRate is the new flows a second trafgen sends while the connection
// table fills: below what govs takes on one CPU, so that no first packet
// of a flow is lost.
const fillRate = 60000

// serverScale measures govs DR to n real servers.
func serverScale(b *testing.B, s Settings, n int) map[string]float64 {
	l := newLab(b)
	for _, r := range l.rs {
		sink(b, r)
	}
	reals := make([]netip.Addr, n)
	var batch strings.Builder
	a := scaleReals.Addr()
	for i := range reals {
		a = a.Next()
		reals[i] = a
		fmt.Fprintf(&batch, "neigh replace %s lladdr %s dev lan nud permanent\n", a, l.rs[i%len(l.rs)].Link("lan").MAC)
	}
	must(b, l.lb.AddLinkRoute(scaleReals, "lan"))
	path := filepath.Join(l.dir, "neigh.batch")
	must(b, os.WriteFile(path, []byte(batch.String()), 0o644))
	run(b, l.lb, "ip", "-batch", path)
	p := startGovsTo(b, l, "UDP", 9, "DR", reals)

	f := startTrafgen(b, l, floodConf(l, 64, "", "dinc(10000, 19999)"), 0, s.PacketWarm+s.PacketWindow)
	time.Sleep(s.PacketWarm)
	m := window(b, l, f, s.PacketWindow)
	m["rss-MiB"] = rssMiB(b, p)
	return m
}

// flowScale measures govs DR with sources x ports flows in its
// connection table.
func flowScale(b *testing.B, s Settings, sources, ports int) map[string]float64 {
	l := newLab(b)
	for _, r := range l.rs {
		sink(b, r)
	}
	flows := sources * ports
	var reals []netip.Addr
	for _, r := range l.rs {
		reals = append(reals, r.Addr4("lan"))
	}
	// Room for every flow at two thirds full, as an operator sizes it.
	capacity := max(flows*3/2, 1<<16)
	p := startGovsTo(b, l, "UDP", 9, "DR", reals, "-conn-capacity", strconv.Itoa(capacity))

	extra := ""
	if sources > 1 {
		extra = fmt.Sprintf(", sa[3]=dinc(0, %d)", sources-1)
	}
	conf := floodConf(l, 64, extra, fmt.Sprintf("dinc(10000, %d)", 10000+ports-1))
	sock := filepath.Join(l.dir, "govs.sock")
	// Fill: passes over the flows at fillRate until the table holds 99% of
	// them (trafgen's bursts lose a few first packets), for at most four
	// passes' time.
	pass := time.Duration(float64(flows) / fillRate * float64(time.Second))
	fill := startTrafgen(b, l, conf, fillRate, 4*pass+time.Second)
	start := time.Now()
	deadline := start.Add(4*pass + time.Second)
	conns := 0
	for conns < flows*99/100 {
		if time.Now().After(deadline) {
			b.Fatalf("the connection table holds %d of %d flows after %v", conns, flows, 4*pass)
		}
		time.Sleep(200 * time.Millisecond)
		conns = govsConns(b, l, sock)
	}
	fill.Stop()
	b.Logf("%d of %d flows in the table after %v (a pass is %v)", conns, flows, time.Since(start).Round(time.Millisecond), pass.Round(time.Millisecond))

	f := startTrafgen(b, l, conf, 0, s.PacketWarm+s.PacketWindow)
	time.Sleep(s.PacketWarm)
	m := window(b, l, f, s.PacketWindow)
	m["conns"] = float64(govsConns(b, l, sock))
	m["rss-MiB"] = rssMiB(b, p)
	return m
}

// govsConns returns the flows govs's connection table holds: the active
// and inactive connections of its real servers, from govs list -json.
func govsConns(b *testing.B, l *lab, sock string) int {
	b.Helper()
	out, err := exec.Command(l.govs, "list", "-json", "-socket", sock).Output()
	if err != nil {
		b.Fatalf("govs list -json: %v\n%s", err, out)
	}
	var list struct {
		Services []struct {
			RealServers []struct {
				Active   int `json:"active_conns"`
				Inactive int `json:"inactive_conns"`
			} `json:"real_servers"`
		} `json:"services"`
	}
	must(b, json.Unmarshal(out, &list))
	n := 0
	for _, s := range list.Services {
		for _, r := range s.RealServers {
			n += r.Active + r.Inactive
		}
	}
	return n
}

// rssMiB returns the resident memory of process p (VmRSS) in MiB.
func rssMiB(b *testing.B, p *netsim.Process) float64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	must(b, err)
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			must(b, err)
			return float64(kb) / 1024
		}
	}
	b.Fatalf("/proc/%d/status: no VmRSS", p.Pid())
	return 0
}
