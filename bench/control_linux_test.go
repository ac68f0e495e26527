package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/fakeipvs"
	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/netsim"
)

// BenchmarkControl measures the control plane, govs against Debian's
// keepalived with the same keepalived.conf, in milliseconds (lower is
// better):
//
//   - rs-fail: r1 and r2 run nginx behind a DR virtual server with
//     TCP_CHECK (delay_loop 1, connect_timeout 1, retry 0); r1's nginx is
//     killed. govs: until the start of the last new connection that still
//     reached r1 (a client on gen opens one every 3 ms). keepalived: until
//     it logs the real server's removal from IPVS (this kernel has no
//     ip_vs: keepalived runs with IPVS's socket options faked, see
//     internal/fakeipvs, and IPVS would apply the removal at once).
//   - vrrp-stop, vrrp-death: lb1 (priority 150) and lb2 (100) hold one VIP
//     by VRRP, advert_int 1, each answering its name over HTTP on port 81;
//     gen asks the VIP every 10 ms on a new connection. lb1's daemon gets
//     SIGTERM (vrrp-stop), or lb1's link goes down (vrrp-death): until the
//     send time of the first request lb2 answers.
func BenchmarkControl(b *testing.B) {
	requirements(b, "keepalived", "nginx", "taskset")
	if err := fakeipvs.Supported(); err != nil {
		b.Skip(err)
	}
	eachStep(b, "BenchmarkControl", func(b *testing.B, s Settings, c Case, sys string) map[string]float64 {
		switch c.Name {
		case "rs-fail":
			return rsFail(b, sys)
		case "vrrp-stop", "vrrp-death":
			return failover(b, sys, c.Name == "vrrp-death")
		}
		b.Fatalf("BenchmarkControl: no case %s", c.Name)
		return nil
	})
}

// TestBenchFakeIPVS is a helper process of BenchmarkControl, which runs
// keepalived through it as if the kernel had IPVS; it skips in a normal
// run.
func TestBenchFakeIPVS(t *testing.T) {
	fakeipvs.Exec()
	t.Skip("helper process of BenchmarkControl")
}

// keepalivedArgs is keepalived's command line, in the foreground, logging
// to its standard error, with its files in dir.
func keepalivedArgs(b *testing.B, dir, conf string, extra ...string) []string {
	path := netsimtest.RequireProgram(b, "keepalived")
	must(b, os.MkdirAll(dir, 0o755))
	cpath := filepath.Join(dir, "keepalived.conf")
	must(b, os.WriteFile(cpath, []byte(conf), 0o644))
	return append([]string{path, "--dont-fork", "--log-console", "--log-detail", "--no-syslog",
		"--use-file", cpath,
		"--pid", filepath.Join(dir, "keepalived.pid"),
		"--vrrp_pid", filepath.Join(dir, "vrrp.pid"),
		"--checkers_pid", filepath.Join(dir, "checkers.pid"),
		"--bfd_pid", filepath.Join(dir, "bfd.pid")}, extra...)
}

// waitLog waits until p's log contains s, polling every millisecond, and
// returns when it saw it.
func waitLog(b *testing.B, p *netsim.Process, s string, limit time.Duration) time.Time {
	b.Helper()
	deadline := time.Now().Add(limit)
	for {
		if strings.Contains(p.Log(), s) {
			return time.Now()
		}
		select {
		case <-p.Done():
			b.Fatalf("exited waiting for %q: %v\n%s", s, p.Wait(), tail(p.Log(), 20))
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("no %q in %v\n%s", s, limit, tail(p.Log(), 20))
		}
		time.Sleep(time.Millisecond)
	}
}

// attempt is one new connection of a client: when it started and whether
// it was accepted.
type attempt struct {
	at time.Time
	ok bool
}

// connector opens a new TCP connection from h to dst every interval, each
// with a timeout of 300 ms, until stopped.
type connector struct {
	mu       sync.Mutex
	attempts []attempt
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startConnector(h *netsim.Host, dst netip.AddrPort, interval time.Duration) *connector {
	c := &connector{stop: make(chan struct{})}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
			}
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				at := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				conn, err := h.DialContext(ctx, "tcp", dst.String())
				if err == nil {
					conn.Close()
				}
				c.mu.Lock()
				c.attempts = append(c.attempts, attempt{at, err == nil})
				c.mu.Unlock()
			}()
		}
	}()
	return c
}

// lastFailure returns the start of the last refused attempt, and how many
// attempts there were.
func (c *connector) lastFailure() (time.Time, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var last time.Time
	for _, a := range c.attempts {
		if !a.ok && a.at.After(last) {
			last = a.at
		}
	}
	return last, len(c.attempts)
}

func (c *connector) close() {
	close(c.stop)
	c.wg.Wait()
}

// rsFail is the rs-fail case of system sys on newLab's topology.
func rsFail(b *testing.B, sys string) map[string]float64 {
	l := newLab(b)
	var conf strings.Builder
	fmt.Fprintf(&conf, "virtual_server %s 80 {\n    delay_loop 1\n    lb_algo rr\n    lb_kind DR\n    protocol TCP\n", l.vip)
	for _, r := range l.rs {
		must(b, r.DRRealServer(l.vip))
		fmt.Fprintf(&conf, "    real_server %s 80 {\n        TCP_CHECK {\n            connect_timeout 1\n            retry 0\n            delay_before_retry 1\n        }\n    }\n", r.Addr4("lan"))
	}
	conf.WriteString("}\n")
	var nginx []*netsim.Process
	for _, r := range l.rs {
		p, err := r.StartNginx("80")
		must(b, err)
		nginx = append(nginx, p)
	}
	r1 := l.rs[0].Addr4("lan")

	if sys == "keepalived" {
		argv := keepalivedArgs(b, filepath.Join(l.dir, "keepalived"), conf.String(), "--check")
		p, err := l.lb.StartCmd(fakeipvs.Command("TestBenchFakeIPVS", argv))
		must(b, err)
		b.Cleanup(func() { p.Stop() })
		waitLog(b, p, fmt.Sprintf("Activating healthchecker for service [%s]:tcp:80", r1), 10*time.Second)
		time.Sleep(2500 * time.Millisecond) // the first checks, all up
		if strings.Contains(p.Log(), "Removing service") {
			b.Fatalf("keepalived removed a real server before the failure:\n%s", tail(p.Log(), 20))
		}
		t0 := time.Now()
		must(b, nginx[0].Signal(syscall.SIGKILL))
		at := waitLog(b, p, fmt.Sprintf("Removing service [%s]:tcp:80", r1), 10*time.Second)
		return map[string]float64{"ms": ms(at.Sub(t0))}
	}

	must(b, l.lb.AddAddr("lan", netip.PrefixFrom(l.vip, 32)))
	must(b, l.gen.AddLinkRoute(netip.PrefixFrom(l.vip, 32), "lan"))
	startGovsConf(b, l.lb, l.govs, l.dir, conf.String(), func(list string) bool {
		return strings.Count(list, "->") >= len(l.rs)
	}, "-workers", "1")
	c := startConnector(l.gen, netip.AddrPortFrom(l.vip, 80), 3*time.Millisecond)
	defer c.close()
	time.Sleep(2500 * time.Millisecond) // the first checks, all up
	if last, n := c.lastFailure(); !last.IsZero() {
		b.Fatalf("govs: connections failed before r1 did (last at %v, %d attempts)", last, n)
	}
	t0 := time.Now()
	must(b, nginx[0].Signal(syscall.SIGKILL))
	deadline := t0.Add(10 * time.Second)
	for {
		time.Sleep(50 * time.Millisecond)
		last, n := c.lastFailure()
		now := time.Now()
		if !last.IsZero() && now.Sub(last) > 1500*time.Millisecond {
			return map[string]float64{"ms": ms(last.Sub(t0))}
		}
		if now.After(deadline) {
			b.Fatalf("govs: r1 still got new connections %v after it failed (last failure %v, %d attempts)", now.Sub(t0), last, n)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// answer is one request to the VIP: when it was sent and who answered ("" for
// none).
type answer struct {
	at time.Time
	by string
}

// prober asks h's target for its name every interval on a new connection,
// each request with a timeout of 200 ms, until stopped.
type prober struct {
	mu      sync.Mutex
	answers []answer
	stop    chan struct{}
	wg      sync.WaitGroup
}

func startProber(h *netsim.Host, url string, interval time.Duration) *prober {
	p := &prober{stop: make(chan struct{})}
	client := &http.Client{
		Transport: &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true},
		Timeout:   200 * time.Millisecond,
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer client.CloseIdleConnections()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				a := answer{at: time.Now()}
				if resp, err := client.Get(url); err == nil {
					body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
					resp.Body.Close()
					a.by, _ = strings.CutPrefix(strings.TrimSpace(string(body)), "host=")
				}
				p.mu.Lock()
				p.answers = append(p.answers, a)
				p.mu.Unlock()
			}()
		}
	}()
	return p
}

// first returns the earliest request sent at or after t that by answered.
func (p *prober) first(by string, t time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var first time.Time
	for _, a := range p.answers {
		if a.by == by && !a.at.Before(t) && (first.IsZero() || a.at.Before(first)) {
			first = a.at
		}
	}
	return first, !first.IsZero()
}

func (p *prober) close() {
	close(p.stop)
	p.wg.Wait()
}

// vrrpConf is the keepalived.conf of a balancer of the failover cases.
func vrrpConf(vip netip.Addr, master bool) string {
	state, prio := "BACKUP", 100
	if master {
		state, prio = "MASTER", 150
	}
	return fmt.Sprintf(`vrrp_instance VI_1 {
    state %s
    interface lan
    virtual_router_id 51
    priority %d
    advert_int 1
    virtual_ipaddress {
        %s/32
    }
}
`, state, prio, vip)
}

// holds says whether h has address a on lan.
func holds(b *testing.B, h *netsim.Host, a netip.Addr) bool {
	link, err := h.Netlink().LinkByName("lan")
	must(b, err)
	addrs, err := h.Netlink().AddrList(link, 0)
	must(b, err)
	for _, x := range addrs {
		if y, ok := netip.AddrFromSlice(x.IP); ok && y.Unmap() == a {
			return true
		}
	}
	return false
}

// failover is the vrrp-stop (death false) or vrrp-death case of system
// sys: gen, lb1 and lb2 on one segment.
func failover(b *testing.B, sys string, death bool) map[string]float64 {
	nl := netsimtest.New(b)
	seg, err := nl.AddSegment("lan")
	must(b, err)
	add := func(name string) *netsim.Host {
		h, err := nl.AddHost(name)
		must(b, err)
		_, err = h.Join(seg)
		must(b, err)
		return h
	}
	gen, lb1, lb2 := add("gen"), add("lb1"), add("lb2")
	vip := netsim.VIP4(1)
	must(b, gen.AddLinkRoute(netip.PrefixFrom(vip, 32), "lan"))
	dir := b.TempDir()
	start := func(h *netsim.Host, master bool) *netsim.Process {
		_, err := h.StartHTTPServer(":81")
		must(b, err)
		conf := vrrpConf(vip, master)
		if sys == "keepalived" {
			p, err := h.StartKeepalived(conf, "--vrrp")
			must(b, err)
			b.Cleanup(func() { p.Stop() })
			return p
		}
		d := filepath.Join(dir, h.Name())
		must(b, os.MkdirAll(d, 0o755))
		p, _ := startGovsConf(b, h, govsBinary(b), d, conf, func(string) bool { return true }, "-workers", "1")
		return p
	}
	wait := func(what string, limit time.Duration, ok func() bool) {
		deadline := time.Now().Add(limit)
		for !ok() {
			if time.Now().After(deadline) {
				b.Fatalf("%s: %s: not within %v", sys, what, limit)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	p1 := start(lb1, true)
	wait("lb1 holds the VIP", 15*time.Second, func() bool { return holds(b, lb1, vip) })
	p2 := start(lb2, false)
	time.Sleep(2500 * time.Millisecond) // lb2 hears lb1's adverts and stays backup
	if holds(b, lb2, vip) {
		b.Fatalf("%s: lb2 holds the VIP beside lb1\nlb2:\n%s", sys, tail(p2.Log(), 20))
	}
	pr := startProber(gen, fmt.Sprintf("http://%s:81/", vip), 10*time.Millisecond)
	defer pr.close()
	time.Sleep(300 * time.Millisecond)
	if _, ok := pr.first("lb1", time.Time{}); !ok {
		b.Fatalf("%s: lb1 does not answer at the VIP", sys)
	}
	t0 := time.Now()
	if death {
		link, err := lb1.Netlink().LinkByName("lan")
		must(b, err)
		must(b, lb1.Netlink().LinkSetDown(link))
	} else {
		must(b, p1.Signal(syscall.SIGTERM))
	}
	var at time.Time
	wait("lb2 answers at the VIP", 15*time.Second, func() bool {
		var ok bool
		at, ok = pr.first("lb2", t0)
		return ok
	})
	return map[string]float64{"ms": ms(at.Sub(t0))}
}
