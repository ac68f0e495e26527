// Command demo builds a small network in namespaces and runs govs in it:
// clients, a balancer running bin/govs on a keepalived.conf, and three
// direct-routing real servers that say who they are. It shows the traffic
// spread, govs list, a reload, and stops by itself. Run it as root with
// make demo.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/govs-lb/govs/netsim"
)

// conf is the demo's keepalived.conf: the seed's HTTP example, corrected,
// on the lab's addresses (198.18.1.0/24 for the hosts, 198.19.0.1 the VIP).
const conf = `! govs demo: the seed's HTTP example on the lab's addresses.
global_defs {
    router_id demo-lb
}
virtual_server_group WEB {
    %[1]s 80
}
virtual_server group WEB {
    delay_loop 3
    lvs_sched rr
    lvs_method DR
    protocol TCP
%[2]s}
virtual_server %[1]s 53 {
    lb_algo sh
    lb_kind DR
    protocol UDP
%[3]s}
`

func realServer(a netip.Addr, port int) string {
	return fmt.Sprintf("    real_server %s %d {\n        weight 1\n    }\n", a, port)
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

	step("building the lab: 2 clients, 1 balancer, 3 real servers on one segment")
	lan, err := lab.AddSegment("lan")
	if err != nil {
		return err
	}
	vip := netsim.VIP4(1)
	hosts := map[string]*netsim.Host{}
	for _, name := range []string{"client1", "client2", "lb", "r1", "r2", "r3"} {
		h, err := lab.AddHost(name)
		if err != nil {
			return err
		}
		if name == "lb" {
			// The seed's balancer: ip_forward=1, the VIP on its interface.
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
	if err := hosts["lb"].AddAddr("lan", netip.PrefixFrom(vip, 32)); err != nil {
		return err
	}
	var web, dns strings.Builder
	for _, name := range []string{"r1", "r2", "r3"} {
		h := hosts[name]
		if err := h.DRRealServer(vip); err != nil {
			return err
		}
		if _, err := h.StartHTTPServer(":80"); err != nil {
			return err
		}
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
	fmt.Printf("    VIP %s on lb; real servers answer clients directly (DR)\n", vip)

	dir := lab.Dir()
	cfgPath := filepath.Join(dir, "keepalived.conf")
	write := func(web string) error {
		return os.WriteFile(cfgPath, []byte(fmt.Sprintf(conf, vip, web, dns.String())), 0o644)
	}
	if err := write(web.String()); err != nil {
		return err
	}
	socket := filepath.Join(dir, "govs.sock")
	lb := hosts["lb"]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	step("govs check -f keepalived.conf")
	out, err := lb.Run(ctx, govs, "check", "-v", "-f", cfgPath)
	fmt.Print(indent(string(out)))
	if err != nil {
		return fmt.Errorf("govs check: %w", err)
	}

	step("govs run -f keepalived.conf  (on lb)")
	p, err := lb.Start(govs, "run", "-f", cfgPath, "-socket", socket, "-workers", "2")
	if err != nil {
		return err
	}
	defer p.Stop()
	if err := waitFor(ctx, func() error {
		_, err := lb.Run(ctx, govs, "status", "-socket", socket)
		return err
	}); err != nil {
		return fmt.Errorf("govs did not come up: %w\n%s", err, p.Log())
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
		fmt.Printf("    client1: %d UDP flows to %s:53 (sh), %d of %d datagrams echoed\n", 100, vip, res.Received, res.Sent)
		return nil
	}
	step("clients send HTTP requests (a connection each) and UDP flows to the VIP")
	if err := round(); err != nil {
		return err
	}

	step("govs list  (as ipvsadm -Ln)")
	if err := show(ctx, lb, govs, "list", "-socket", socket); err != nil {
		return err
	}
	step("govs list --stats  (as ipvsadm -Ln --stats)")
	if err := show(ctx, lb, govs, "list", "--stats", "-socket", socket); err != nil {
		return err
	}

	step("r1 leaves keepalived.conf; govs reload")
	var webNoR1 strings.Builder
	for _, name := range []string{"r2", "r3"} {
		webNoR1.WriteString(realServer(hosts[name].Addr4("lan"), 80))
	}
	if err := write(webNoR1.String()); err != nil {
		return err
	}
	if err := show(ctx, lb, govs, "reload", "-socket", socket); err != nil {
		return err
	}
	if err := round(); err != nil {
		return err
	}

	step("stopping govs (SIGTERM): it removes its nftables rules")
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		return errors.New("govs did not stop")
	}
	out, _ = lb.Run(ctx, "nft", "list", "tables")
	fmt.Printf("    nftables tables left on lb: %q\n", strings.TrimSpace(string(out)))
	fmt.Print("\n    govs log:\n" + indent(p.Log()))
	return nil
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
	var names []string
	for n := range t {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
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
