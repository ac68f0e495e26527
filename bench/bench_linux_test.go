package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govs-lb/govs/bench/report"
	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/netsim"
)

// requirements skips b unless it runs as root on two CPUs or more with
// the programs named.
func requirements(b *testing.B, programs ...string) {
	netsimtest.RequireRoot(b)
	for _, p := range programs {
		netsimtest.RequireProgram(b, p)
	}
	if runtime.NumCPU() < 2 {
		b.Skip("needs two CPUs: one for the generator, one for the balancer")
	}
}

// eachStep runs measure for every system and repetition of the cases of
// benchmark name, systems taking turns, as sub-benchmarks named
// CASE/SYSTEM/rep=N, and reports and records each sample.
func eachStep(b *testing.B, name string, measure func(b *testing.B, s Settings, c Case, system string) map[string]float64) {
	s := Current()
	for _, c := range Cases() {
		if c.Benchmark != name {
			continue
		}
		for rep := 1; rep <= c.Repetitions(s); rep++ {
			for _, sys := range c.Systems {
				b.Run(fmt.Sprintf("%s/%s/rep=%d", c.Name, sys, rep), func(b *testing.B) {
					rec.write(Event{Start: true, Case: c.Name, System: sys, Rep: rep})
					var m map[string]float64
					for b.Loop() {
						m = measure(b, s, c, sys)
					}
					for k, v := range m {
						b.ReportMetric(v, k)
					}
					rec.write(Event{Case: c.Name, System: sys, Rep: rep,
						Sample: &report.Sample{Case: c.Name, System: sys, Rep: rep, Metrics: m}})
				})
			}
		}
	}
}

// BenchmarkPacketRate: UDP frames of 10,000 flows (source ports 10000 to
// 19999) from trafgen on gen, to a VIP on lb, which sends them to r1 and
// r2; they count and drop them at ingress. Delivered packets per second
// are the frames the real servers received during the window; offered,
// the frames lb received; CPU per packet, the balancer CPU's busy time
// over the delivered packets. Sizes are RFC 2544's frames: 64 bytes (an
// 18-byte payload) and 1518 (a 1500-byte IP packet, DF set).
//
// kernel: lb forwards by its routing table, an ECMP route to r1 and r2
// hashed on ports (fib_multipath_hash_policy 1). nft-dr: nftDR's rule set.
// govs-dr, govs-tun: govs run with one worker, rr. ipvs-dr, where the
// kernel has ip_vs: IPVS DR, rr (ipvsDR).
func BenchmarkPacketRate(b *testing.B) {
	requirements(b, "trafgen", "nft", "taskset")
	eachStep(b, "BenchmarkPacketRate", func(b *testing.B, s Settings, c Case, sys string) map[string]float64 {
		size := 64
		if c.Name == "udp-1500" {
			size = 1518
		}
		return packetRate(b, s, sys, size)
	})
}

func packetRate(b *testing.B, s Settings, sys string, frame int) map[string]float64 {
	l := newLab(b)
	for _, r := range l.rs {
		sink(b, r)
	}
	switch sys {
	case "kernel":
		must(b, l.lb.EnableForwarding())
		for _, k := range []string{"net.ipv4.conf.all.send_redirects", "net.ipv4.conf.lan.send_redirects"} {
			must(b, l.lb.SetSysctl(k, "0"))
		}
		must(b, l.lb.SetSysctl("net.ipv4.fib_multipath_hash_policy", "1"))
		run(b, l.lb, "ip", "route", "add", l.vip.String()+"/32",
			"nexthop", "via", l.rs[0].Addr4("lan").String(), "nexthop", "via", l.rs[1].Addr4("lan").String())
	case "nft-dr":
		nftDR(b, l, "udp", 9)
	case "govs-dr":
		startGovs(b, l, "UDP", 9, "DR")
	case "govs-tun":
		startGovs(b, l, "UDP", 9, "TUN")
	case IPVS:
		ipvsDR(b, l, "-u", 9)
	default:
		b.Fatalf("no system %q", sys)
	}

	p := startTrafgen(b, l, floodConf(l, frame, "", "dinc(10000, 19999)"), 0, s.PacketWarm+s.PacketWindow)
	time.Sleep(s.PacketWarm)
	return window(b, l, p, s.PacketWindow)
}

// floodConf is a trafgen configuration of UDP frames of frame bytes from
// gen to the VIP's port 9, with ipv4 and udp fields extra (e.g. a
// dinc() on a byte of the source address) and source ports ports.
func floodConf(l *lab, frame int, extra, ports string) string {
	payload := frame - 4 - 14 - 20 - 8 // FCS, Ethernet, IPv4, UDP
	return fmt.Sprintf(`{
	eth(da=%s, sa=%s),
	ipv4(sa=%s, da=%s, ttl=64, df%s),
	udp(sp=%s, dp=9),
	fill(0x00, %d)
}
`, l.lb.Link("lan").MAC, l.gen.Link("lan").MAC, l.gen.Addr4("lan"), l.vip, extra, ports, payload)
}

// startTrafgen runs trafgen on gen, on genCPU, sending conf's frames at
// rate packets a second (0: as fast as it can) for about d. It is bounded
// in packets (more than a veth carries in the time) and in time: stopped
// when the benchmark ends, killed 5 seconds after d.
func startTrafgen(b *testing.B, l *lab, conf string, rate int, d time.Duration) *netsim.Process {
	b.Helper()
	path := filepath.Join(l.dir, fmt.Sprintf("flood-%d.trafgen", time.Now().UnixNano()))
	must(b, os.WriteFile(path, []byte(conf), 0o644))
	total := d + time.Second
	limit := int64(5e6 * total.Seconds())
	args := []string{"-c", genCPU, "trafgen", "-o", "lan", "-P", "1", "--no-sock-mem", "--notouch-irq", "--conf", path}
	if rate > 0 {
		limit = int64(float64(rate) * total.Seconds())
		args = append(args, "-b", fmt.Sprintf("%dpps", rate))
	}
	args = append(args, "-n", strconv.FormatInt(limit, 10))
	p, err := l.gen.Start("taskset", args...)
	must(b, err)
	kill := time.AfterFunc(total+5*time.Second, func() { p.Stop() })
	b.Cleanup(func() { kill.Stop(); p.Stop() })
	return p
}

// window measures, over d, the packets the real servers received
// (delivered), the ones lb received (offered) and lbCPU's busy time, while
// trafgen p sends; it fails the benchmark if p ends before the window.
func window(b *testing.B, l *lab, p *netsim.Process, d time.Duration) map[string]float64 {
	b.Helper()
	delivered := func() (n uint64) {
		for _, r := range l.rs {
			n += rxPackets(b, r)
		}
		return n
	}
	d0, o0, c0, t0 := delivered(), rxPackets(b, l.lb), cpuBusy(b, lbCPU), time.Now()
	time.Sleep(d)
	d1, o1, c1, el := delivered(), rxPackets(b, l.lb), cpuBusy(b, lbCPU), time.Since(t0)
	select {
	case <-p.Done():
		b.Fatalf("trafgen ended before the window did: %v\n%s", p.Wait(), p.Log())
	default:
	}
	n, o, busy := float64(d1-d0), float64(o1-o0), float64(c1-c0)
	m := map[string]float64{
		"pkts/s":         n / el.Seconds(),
		"offered-pkts/s": o / el.Seconds(),
		"cpu1-%":         100 * busy / float64(el),
	}
	if n > 0 {
		m["cpu-ns/pkt"] = busy / n
	}
	return m
}

// ipvsDR configures IPVS on lb with ipvsadm: a virtual service (proto
// "-u" or "-t") on the VIP's port, rr, to r1 and r2 in DR mode.
func ipvsDR(b *testing.B, l *lab, proto string, port int) {
	b.Helper()
	netsimtest.RequireProgram(b, "ipvsadm")
	must(b, l.lb.AddAddr("lan", netip.PrefixFrom(l.vip, 32)))
	vs := netip.AddrPortFrom(l.vip, uint16(port)).String()
	run(b, l.lb, "ipvsadm", "-A", proto, vs, "-s", "rr")
	for _, r := range l.rs {
		run(b, l.lb, "ipvsadm", "-a", proto, vs, "-r", netip.AddrPortFrom(r.Addr4("lan"), uint16(port)).String(), "-g")
	}
}

// BenchmarkHTTP: wrk on gen, one thread and 32 connections, against nginx
// on r1 and r2 (answering "host=NAME"): direct to r1, through an nftables
// DR rule set, through HAProxy in TCP mode on lb (roundrobin), and through
// govs DR (rr); with one connection per request ("Connection: close") and
// with keep-alive. Reports requests per second, wrk's median and 99th
// percentile latencies, errors (socket errors and non-2xx answers), and the
// balancer CPU's use.
func BenchmarkHTTP(b *testing.B) {
	requirements(b, "wrk", "nginx", "haproxy", "nft", "taskset")
	eachStep(b, "BenchmarkHTTP", func(b *testing.B, s Settings, c Case, sys string) map[string]float64 {
		return httpRate(b, s, sys, c.Name == "http-keepalive")
	})
}

func httpRate(b *testing.B, s Settings, sys string, keepalive bool) map[string]float64 {
	l := newLab(b)
	for _, r := range l.rs {
		must(b, r.DRRealServer(l.vip))
		p, err := r.StartNginx("80")
		must(b, err)
		b.Cleanup(func() { p.Stop() })
	}
	target := l.vip
	switch sys {
	case "direct":
		target = l.rs[0].Addr4("lan")
	case "nft-dr":
		nftDR(b, l, "tcp", 80)
	case "haproxy":
		startHAProxy(b, l)
	case "govs-dr":
		startGovs(b, l, "TCP", 80, "DR")
	case IPVS:
		ipvsDR(b, l, "-t", 80)
	default:
		b.Fatalf("no system %q", sys)
	}
	if target == l.vip {
		must(b, l.gen.AddLinkRoute(netip.PrefixFrom(l.vip, 32), "lan"))
	}
	url := "http://" + target.String() + "/"
	waitHTTP(b, l, url)

	args := []string{"-c", genCPU, "wrk", "-t1", "-c32", "-d", fmt.Sprintf("%.0fs", s.HTTPDuration.Seconds()), "--latency", "--timeout", "2s"}
	if !keepalive {
		args = append(args, "-H", "Connection: close")
	}
	c0, t0 := cpuBusy(b, lbCPU), time.Now()
	out := run(b, l.gen, "taskset", append(args, url)...)
	c1, el := cpuBusy(b, lbCPU), time.Since(t0)
	m, err := parseWrk(out)
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	m["cpu1-%"] = 100 * float64(c1-c0) / float64(el)
	return m
}

// waitHTTP waits until url answers from gen.
func waitHTTP(b *testing.B, l *lab, url string) {
	b.Helper()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return l.gen.DialContext(ctx, network, addr)
		},
	}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s does not answer: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startHAProxy runs HAProxy on lb in TCP mode, one thread on lbCPU, from
// the VIP to the real servers, round robin.
func startHAProxy(b *testing.B, l *lab) {
	b.Helper()
	must(b, l.lb.AddAddr("lan", netip.PrefixFrom(l.vip, 32)))
	var c strings.Builder
	fmt.Fprintf(&c, "global\n    maxconn 8000\n    nbthread 1\n\ndefaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\n")
	fmt.Fprintf(&c, "frontend web\n    bind %s:80\n    default_backend reals\n\nbackend reals\n    balance roundrobin\n", l.vip)
	for _, r := range l.rs {
		fmt.Fprintf(&c, "    server %s %s:80\n", r.Name(), r.Addr4("lan"))
	}
	conf := filepath.Join(l.dir, "haproxy.cfg")
	must(b, os.WriteFile(conf, []byte(c.String()), 0o644))
	p, err := l.lb.Start("taskset", "-c", lbCPU, "haproxy", "-db", "-f", conf)
	must(b, err)
	b.Cleanup(func() { p.Stop() })
	time.Sleep(200 * time.Millisecond)
	select {
	case <-p.Done():
		b.Fatalf("haproxy exited: %v\n%s", p.Wait(), p.Log())
	default:
	}
}
