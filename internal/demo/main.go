// Command demo builds a small network in namespaces and runs govs in it:
// clients, two balancers running bin/govs on one keepalived.conf as a VRRP
// master/backup pair, and three direct-routing real servers that say who
// they are. It shows the traffic spread, govs list, a failover, a reload,
// and stops by itself. Run it as root with make demo.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/govs-lb/govs/netsim"
)

// conf is the demo's keepalived.conf: the seed's HTTP example, corrected,
// on the lab's addresses (198.18.1.0/24 for the hosts, 198.19.0.1 the VIP),
// with @lb1/@lb2 lines for the two balancers (govs run -i lb1 or -i lb2).
const conf = `! govs demo: the seed's HTTP example on the lab's addresses.
global_defs {
    @lb1 router_id demo-lb1
    @lb2 router_id demo-lb2
}
vrrp_instance VI_1 {
    @lb1 state MASTER
    @lb1 priority 150
    @lb2 state BACKUP
    @lb2 priority 100
    interface lan
    virtual_router_id 10
    advert_int 1
    authentication {
        auth_type AH
        auth_pass govsdemo
    }
    virtual_ipaddress {
        %[1]s/32 dev lan
    }
}
virtual_server_group WEB {
    %[1]s 80
}
virtual_server group WEB {
    delay_loop 1
    lvs_sched rr
    lvs_method DR
    protocol TCP
%[2]s}
virtual_server %[1]s 53 {
    delay_loop 1
    lb_algo sh
    lb_kind DR
    protocol UDP
%[3]s}
`

// realServer writes a real_server block with the seed's checkers: HTTP_GET
// for the web service, TCP_CHECK (on the web port) for the UDP one.
func realServer(a netip.Addr, port int) string {
	check := "        HTTP_GET {\n            url {\n                path /\n                status_code 200\n            }\n            connect_timeout 1\n            retry 1\n            delay_before_retry 0.5\n        }\n"
	if port != 80 {
		check = "        TCP_CHECK {\n            connect_port 80\n            connect_timeout 1\n        }\n"
	}
	return fmt.Sprintf("    real_server %s %d {\n        weight 1\n        inhibit_on_failure\n%s    }\n", a, port, check)
}

func main() {
	govs := flag.String("govs", "bin/govs", "the govs binary to run")
	requests := flag.Int("requests", 300, "HTTP requests per round")
	flag.Parse()
	if err := run(*govs, *requests); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func run(govs string, requests int) error {
	if os.Geteuid() != 0 {
		return errors.New("the demo makes network namespaces: run it as root (make demo does)")
	}
	govs, err := filepath.Abs(govs)
	if err != nil {
		return err
	}
	if _, err := os.Stat(govs); err != nil {
		return fmt.Errorf("%w (make build first)", err)
	}
	lab, err := netsim.New(&netsim.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	defer func() {
		lab.Close()
		fmt.Println("\nThe lab is gone: namespaces, links, processes and nftables rules.")
	}()

	step("building the lab: 2 clients, 2 balancers, 3 real servers on one segment")
	lan, err := lab.AddSegment("lan")
	if err != nil {
		return err
	}
	vip := netsim.VIP4(1)
	hosts := map[string]*netsim.Host{}
	for _, name := range []string{"client1", "client2", "lb1", "lb2", "r1", "r2", "r3"} {
		h, err := lab.AddHost(name)
		if err != nil {
			return err
		}
		if strings.HasPrefix(name, "lb") {
			// The seed's balancers: ip_forward=1; VRRP puts the VIP on
			// the master's interface.
			if err := h.EnableForwarding(); err != nil {
				return err
			}
		}
		l, err := h.Join(lan)
		if err != nil {
			return err
		}
		hosts[name] = h
		fmt.Printf("    %-8s %s  %s\n", name, l.Addr4, l.MAC)
	}
	var web, dns strings.Builder
	webServers := map[string]*netsim.HTTPServer{}
	for _, name := range []string{"r1", "r2", "r3"} {
		h := hosts[name]
		if err := h.DRRealServer(vip); err != nil {
			return err
		}
		srv, err := h.StartHTTPServer(":80")
		if err != nil {
			return err
		}
		webServers[name] = srv
		if _, err := h.StartUDPEcho(netip.AddrPortFrom(vip, 53)); err != nil {
			return err
		}
		web.WriteString(realServer(h.Addr4("lan"), 80))
		dns.WriteString(realServer(h.Addr4("lan"), 53))
	}
	for _, c := range []string{"client1", "client2"} {
		if err := hosts[c].AddLinkRoute(netip.PrefixFrom(vip, 32), "lan"); err != nil {
			return err
		}
	}
	fmt.Printf("    VIP %s, held by the VRRP master; real servers answer clients directly (DR)\n", vip)

	dir := lab.Dir()
	cfgPath := filepath.Join(dir, "keepalived.conf")
	write := func(web string) error {
		return os.WriteFile(cfgPath, []byte(fmt.Sprintf(conf, vip, web, dns.String())), 0o644)
	}
	if err := write(web.String()); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	step("govs check -v -f keepalived.conf -i lb1")
	out, err := hosts["lb1"].Run(ctx, govs, "check", "-v", "-i", "lb1", "-f", cfgPath)
	fmt.Print(indent(string(out)))
	if err != nil {
		return fmt.Errorf("govs check: %w", err)
	}

	step("govs run on lb1 (-i lb1: MASTER, priority 150) and lb2 (-i lb2: BACKUP, priority 100)")
	type balancer struct {
		host   *netsim.Host
		socket string
		proc   *netsim.Process
	}
	lbs := map[string]*balancer{}
	for _, name := range []string{"lb1", "lb2"} {
		b := &balancer{host: hosts[name], socket: filepath.Join(dir, name+".sock")}
		metrics := netip.AddrPortFrom(b.host.Addr4("lan"), 9110).String()
		b.proc, err = b.host.Start(govs, "run", "-f", cfgPath, "-i", name, "-socket", b.socket, "-workers", "1", "-metrics", metrics)
		if err != nil {
			return err
		}
		defer b.proc.Stop()
		lbs[name] = b
	}
	status := func(b *balancer) (string, error) {
		out, err := b.host.Run(ctx, govs, "status", "-socket", b.socket)
		return string(out), err
	}
	waitMaster := func(b *balancer) error {
		return waitFor(ctx, func() error {
			s, err := status(b)
			if err != nil {
				return err
			}
			if !strings.Contains(s, "VI_1 ") || !strings.Contains(s, "MASTER") {
				return errors.New("not master yet")
			}
			return nil
		})
	}
	start := time.Now()
	if err := waitMaster(lbs["lb1"]); err != nil {
		return fmt.Errorf("lb1 did not become master: %w\n%s", err, lbs["lb1"].proc.Log())
	}
	fmt.Printf("    lb1 is MASTER after %.1f s (3 advert intervals and its skew, as keepalived waits)\n", time.Since(start).Seconds())
	for _, name := range []string{"lb1", "lb2"} {
		s, _ := status(lbs[name])
		fmt.Printf("    %s: %s\n", name, vrrpLine(s))
	}

	round := func() error {
		for _, c := range []string{"client1", "client2"} {
			tally, err := hosts[c].HTTPTally(ctx, netip.AddrPortFrom(vip, 80), requests/2)
			if err != nil {
				return err
			}
			fmt.Printf("    %s: %d requests to %s:80 answered by %s\n", c, requests/2, vip, tallyString(tally))
		}
		res, err := hosts["client1"].UDPFlows(netsim.UDPFlows{Target: netip.AddrPortFrom(vip, 53), Flows: 100, Packets: 5, Timeout: 10 * time.Second})
		if err != nil {
			return err
		}
		fmt.Printf("    client1: 100 UDP flows to %s:53 (sh: one client, one real server), %d of %d datagrams echoed\n", vip, res.Received, res.Sent)
		return nil
	}
	step("clients send HTTP requests (a connection each) and UDP flows to the VIP")
	if err := round(); err != nil {
		return err
	}

	step("govs list on lb1  (as ipvsadm -Ln)")
	if err := show(ctx, hosts["lb1"], govs, "list", "-socket", lbs["lb1"].socket); err != nil {
		return err
	}
	step("govs list --stats on lb1  (as ipvsadm -Ln --stats)")
	if err := show(ctx, hosts["lb1"], govs, "list", "--stats", "-socket", lbs["lb1"].socket); err != nil {
		return err
	}
	metricsURL := "http://" + netip.AddrPortFrom(hosts["lb1"].Addr4("lan"), 9110).String() + "/metrics"
	step("Prometheus metrics on lb1 (govs run -metrics): %s, a few of them", metricsURL)
	if err := showMetrics(ctx, hosts["lb1"], metricsURL, "govs_real_server_connections_total", "govs_vrrp_state", "govs_check_up"); err != nil {
		return err
	}

	step("failover: govs on lb1 stops (SIGTERM); it hands over with a priority 0 advert")
	start = time.Now()
	if err := lbs["lb1"].proc.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	if err := waitMaster(lbs["lb2"]); err != nil {
		return fmt.Errorf("lb2 did not take over: %w\n%s", err, lbs["lb2"].proc.Log())
	}
	fmt.Printf("    lb2 is MASTER %.2f s later (its skew time)\n", time.Since(start).Seconds())
	if mac, err := hosts["client1"].Neighbor("lan", vip); err == nil {
		fmt.Printf("    client1's ARP entry for %s: %s (lb2's MAC, from its gratuitous ARPs)\n", vip, mac)
	}
	if err := round(); err != nil {
		return err
	}

	step("health checks: r3's web server stops")
	if err := webServers["r3"].Close(); err != nil {
		return err
	}
	start = time.Now()
	// Down in the checkers' view (status), then in the data plane's (list:
	// weight 0), which follows a moment later.
	r3web := regexp.MustCompile(`-> ` + regexp.QuoteMeta(hosts["r3"].Addr4("lan").String()) + `:80 +Route +(\d+) `)
	r3Weight := func() (string, error) {
		out, err := lbs["lb2"].host.Run(ctx, govs, "list", "-socket", lbs["lb2"].socket)
		if err != nil {
			return "", err
		}
		m := r3web.FindSubmatch(out)
		if m == nil {
			return "", fmt.Errorf("r3 not in govs list:\n%s", out)
		}
		return string(m[1]), nil
	}
	if err := waitFor(ctx, func() error {
		s, err := status(lbs["lb2"])
		if err != nil {
			return err
		}
		if !strings.Contains(s, "down") {
			return errors.New("r3 not down yet")
		}
		if w, err := r3Weight(); err != nil || w != "0" {
			return fmt.Errorf("r3's weight is %s in the data plane, want 0 (%v)", w, err)
		}
		return nil
	}); err != nil {
		return err
	}
	fmt.Printf("    %.1f s later govs holds r3 down (HTTP_GET failed twice; inhibit_on_failure: weight 0):\n", time.Since(start).Seconds())
	s, _ := status(lbs["lb2"])
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "down") {
			fmt.Println("    " + l)
		}
	}
	if err := round(); err != nil {
		return err
	}
	if _, err := hosts["r3"].StartHTTPServer(":80"); err != nil {
		return err
	}
	if err := waitFor(ctx, func() error {
		s, err := status(lbs["lb2"])
		if err != nil {
			return err
		}
		if strings.Contains(s, "down") {
			return errors.New("r3 still down")
		}
		if w, err := r3Weight(); err != nil || w == "0" {
			return fmt.Errorf("r3's weight is %s in the data plane (%v)", w, err)
		}
		return nil
	}); err != nil {
		return err
	}
	fmt.Println("    r3's web server is back, and so is r3")

	step("r1 leaves keepalived.conf; govs reload on lb2")
	var webNoR1 strings.Builder
	for _, name := range []string{"r2", "r3"} {
		webNoR1.WriteString(realServer(hosts[name].Addr4("lan"), 80))
	}
	if err := write(webNoR1.String()); err != nil {
		return err
	}
	if err := show(ctx, hosts["lb2"], govs, "reload", "-socket", lbs["lb2"].socket); err != nil {
		return err
	}
	if err := round(); err != nil {
		return err
	}

	step("stopping govs on lb2: it removes the VIP and its nftables rules")
	if err := lbs["lb2"].proc.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	for _, name := range []string{"lb1", "lb2"} {
		select {
		case <-lbs[name].proc.Done():
		case <-time.After(10 * time.Second):
			return fmt.Errorf("govs on %s did not stop", name)
		}
	}
	out, _ = hosts["lb2"].Run(ctx, "nft", "list", "tables")
	fmt.Printf("    nftables tables left on lb2: %q\n", strings.TrimSpace(string(out)))
	fmt.Print("\n    govs log of lb2:\n" + indent(lbs["lb2"].proc.Log()))
	return nil
}

// showMetrics gets url from inside h and prints the samples of the
// metrics named (their HELP lines and the lines of value 1 or more for
// govs_vrrp_state, every line for the others).
func showMetrics(ctx context.Context, h *netsim.Host, url string, names ...string) error {
	c := &http.Client{Transport: &http.Transport{DialContext: h.DialContext}, Timeout: 5 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	for _, l := range strings.Split(string(body), "\n") {
		for _, n := range names {
			if strings.HasPrefix(l, n+"{") && !(n == "govs_vrrp_state" && strings.HasSuffix(l, " 0")) {
				fmt.Println("    " + l)
			}
		}
	}
	return nil
}

// vrrpLine picks the vrrp line of govs status's output.
func vrrpLine(status string) string {
	for _, l := range strings.Split(status, "\n") {
		if strings.HasPrefix(l, "vrrp") {
			return strings.Join(strings.Fields(l)[1:], " ")
		}
	}
	return "?"
}

func show(ctx context.Context, h *netsim.Host, name string, args ...string) error {
	out, err := h.Run(ctx, name, args...)
	fmt.Print(indent(string(out)))
	return err
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}

func tallyString(t map[string]int) string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(t)) {
		parts = append(parts, fmt.Sprintf("%s %d", n, t[n]))
	}
	return strings.Join(parts, ", ")
}

func waitFor(ctx context.Context, f func() error) error {
	var err error
	for range 100 {
		if err = f(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return err
}
