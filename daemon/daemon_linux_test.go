package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/netsim"
)

const drConf = `global_defs {
    router_id lb
}
virtual_server %s 80 {
    delay_loop 3
    lb_algo rr
    lb_kind DR
    protocol TCP
%s}
`

// realServers writes a real_server block on port 80 for each address,
// weight 1, with checker (a block, or "") inside.
func realServers(checker string, addrs ...netip.Addr) string {
	var b strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&b, "    real_server %s 80 {\n        weight 1\n%s    }\n", a, checker)
	}
	return b.String()
}

// mustOK stops the test at once on err.
func mustOK(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// webLab makes the hosts named r* DR real servers of vip, each with an
// HTTP server on :80 that answers its name, and routes vip on the lan
// from the hosts named c*. It returns the real servers' addresses, in
// the order of names, and their HTTP servers by name.
func webLab(t *testing.T, hosts map[string]*netsim.Host, vip netip.Addr, names ...string) ([]netip.Addr, map[string]*netsim.HTTPServer) {
	t.Helper()
	var addrs []netip.Addr
	servers := map[string]*netsim.HTTPServer{}
	for _, n := range names {
		h := hosts[n]
		switch {
		case strings.HasPrefix(n, "c"):
			mustOK(t, h.AddLinkRoute(netip.PrefixFrom(vip, 32), "lan"))
		case strings.HasPrefix(n, "r"):
			mustOK(t, h.DRRealServer(vip))
			srv, err := h.StartHTTPServer(":80")
			mustOK(t, err)
			servers[n] = srv
			addrs = append(addrs, h.Addr4("lan"))
		}
	}
	return addrs, servers
}

// lanLab returns hosts on one segment, "lan", by name; those named lb*
// forward IP.
func lanLab(t *testing.T, names ...string) map[string]*netsim.Host {
	t.Helper()
	lab := netsimtest.New(t)
	lan, err := lab.AddSegment("lan")
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]*netsim.Host{}
	for _, name := range names {
		h, err := lab.AddHost(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(name, "lb") {
			if err := h.EnableForwarding(); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := h.Join(lan); err != nil {
			t.Fatal(err)
		}
		hosts[name] = h
	}
	return hosts
}

// TestRunDR runs the daemon as govs run does, in a lab: a client reaches
// three DR real servers through it; govs list shows them as ipvsadm -Ln;
// a reload removes one; stopping leaves no nftables table.
func TestRunDR(t *testing.T) {
	hosts := lanLab(t, "c1", "lb", "r1", "r2", "r3")
	vip := netsim.VIP4(1)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(hosts["lb"].AddAddr("lan", netip.PrefixFrom(vip, 32)))
	rs, _ := webLab(t, hosts, vip, "c1", "r1", "r2", "r3")
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	must(os.WriteFile(conf, []byte(fmt.Sprintf(drConf, vip, realServers("", rs...))), 0o644))
	socket := filepath.Join(dir, "govs.sock")
	d, err := New(Options{ConfigFile: conf, Socket: socket, Workers: 2, ConnCapacity: 1 << 14, Logger: netsimtest.Logger(t)})
	must(err)
	stop := startDaemon(t, hosts["lb"], d)

	askCtx := func() context.Context {
		c, cl := context.WithTimeout(context.Background(), 5*time.Second)
		t.Cleanup(cl)
		return c
	}
	tally, err := hosts["c1"].HTTPTally(askCtx(), netip.AddrPortFrom(vip, 80), 30)
	must(err)
	if tally["r1"] != 10 || tally["r2"] != 10 || tally["r3"] != 10 {
		t.Errorf("rr spread %v", tally)
	}
	r, err := Ask(askCtx(), socket, "stats")
	must(err)
	var out bytes.Buffer
	WriteList(&out, r, ListOptions{})
	for _, want := range []string{"TCP  198.19.0.1:80 rr", "-> " + rs[0].String() + ":80", "Route   1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("list lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	WriteList(&out, r, ListOptions{Stats: true})
	if !strings.Contains(out.String(), "Conns") {
		t.Errorf("list --stats:\n%s", out.String())
	}

	// Reload without r1.
	must(os.WriteFile(conf, []byte(fmt.Sprintf(drConf, vip, realServers("", rs[1:]...))), 0o644))
	_, err = Ask(askCtx(), socket, "reload")
	must(err)
	tally, err = hosts["c1"].HTTPTally(askCtx(), netip.AddrPortFrom(vip, 80), 20)
	must(err)
	if tally["r1"] != 0 || tally["r2"] != 10 || tally["r3"] != 10 {
		t.Errorf("after reload without r1: %v", tally)
	}
	// A reload with errors is refused; the service goes on.
	must(os.WriteFile(conf, []byte("virtual_server 198.19.0.1 80 {\n lb_kind NAT\n}\n"), 0o644))
	if _, err := Ask(askCtx(), socket, "reload"); err == nil {
		t.Errorf("a broken configuration was accepted")
	}
	_, err = hosts["c1"].HTTPTally(askCtx(), netip.AddrPortFrom(vip, 80), 4)
	must(err)
	// govs status --json: the document a script decodes.
	r, err = Ask(askCtx(), socket, "status")
	must(err)
	raw, err := json.Marshal(r.Status)
	must(err)
	var st Status
	must(json.Unmarshal(raw, &st))
	sum := sha256.Sum256([]byte(fmt.Sprintf(drConf, vip, realServers("", rs[1:]...))))
	if st.Format != StatusFormat || st.ConfigSHA256 != hex.EncodeToString(sum[:]) || st.Interface != "lan" || st.Services != 1 {
		t.Errorf("status: %s", raw)
	}
	if st.Reloads.OK != 1 || st.Reloads.Failed != 1 || !strings.Contains(st.Reloads.LastError, "NAT") {
		t.Errorf("reloads: %+v, want 1 ok, 1 failed for lb_kind NAT", st.Reloads)
	}
	if st.Packets["forwarded"] == 0 {
		t.Errorf("status counts no forwarded packet: %s", raw)
	}

	stop()
	out2, _ := hosts["lb"].Run(context.Background(), "nft", "list", "tables")
	if bytes.Contains(out2, []byte("govs")) {
		t.Errorf("nftables table left: %s", out2)
	}
	if _, err := os.Stat(socket); err == nil {
		t.Errorf("admin socket left behind")
	}
}

const pairConf = `vrrp_instance VI {
    @lb1 state MASTER
    @lb1 priority 150
    @lb2 state BACKUP
    @lb2 priority 100
    interface lan
    virtual_router_id 51
    version 3
    advert_int 0.5
    virtual_ipaddress {
        %s/32 dev lan
    }
}
virtual_server %s 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
%s}
`

// TestRunPair is the seed's redundancy with two govs: the master forwards,
// the backup holds no VIP and forwards nothing, even for a client (c2)
// whose neighbour entry for the VIP points at it; when the master stops,
// the backup takes the VIP and the clients' connections go on through it.
func TestRunPair(t *testing.T) {
	hosts := lanLab(t, "c1", "c2", "lb1", "lb2", "r1", "r2")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	vip := netsim.VIP4(1)
	rs, _ := webLab(t, hosts, vip, "c1", "c2", "r1", "r2")
	must(hosts["c2"].AddNeighbor("lan", vip, hosts["lb2"].Link("lan").MAC))
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	must(os.WriteFile(conf, []byte(fmt.Sprintf(pairConf, vip, vip, realServers("", rs...))), 0o644))

	type running struct {
		socket string
		cancel context.CancelFunc
		done   chan error
	}
	start := func(name string) *running {
		r := &running{socket: filepath.Join(dir, name+".sock"), done: make(chan error, 1)}
		d, err := New(Options{ConfigFile: conf, ConfigID: name, Socket: r.socket, Workers: 1, ConnCapacity: 1 << 12, Logger: netsimtest.Logger(t)})
		must(err)
		ctx, cancel := context.WithCancel(context.Background())
		r.cancel = cancel
		go func() { r.done <- hosts[name].Do(func() error { return d.Run(ctx) }) }()
		t.Cleanup(func() {
			cancel()
			select {
			case <-r.done:
			case <-time.After(10 * time.Second):
				t.Errorf("%s did not stop", name)
			}
		})
		return r
	}
	lb1, lb2 := start("lb1"), start("lb2")
	state := func(r *running) string {
		c, cl := context.WithTimeout(context.Background(), 2*time.Second)
		defer cl()
		rep, err := Ask(c, r.socket, "status")
		if err != nil {
			return err.Error()
		}
		for _, v := range rep.Status.VRRP {
			if v.Instance == "VI" {
				return v.State
			}
		}
		return "no instance VI"
	}
	netsimtest.Eventually(t, 10*time.Second, func() error {
		if s := state(lb1); !strings.HasPrefix(s, "MASTER") {
			return fmt.Errorf("lb1 is %q", s)
		}
		if s := state(lb2); !strings.HasPrefix(s, "BACKUP") {
			return fmt.Errorf("lb2 is %q", s)
		}
		return nil
	})
	ctx := func() context.Context {
		c, cl := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cl)
		return c
	}
	tally, err := hosts["c1"].HTTPTally(ctx(), netip.AddrPortFrom(vip, 80), 20)
	must(err)
	if tally["r1"] != 10 || tally["r2"] != 10 {
		t.Errorf("through lb1: %v", tally)
	}
	short, cancelShort := context.WithTimeout(context.Background(), time.Second)
	if c, err := hosts["c2"].DialContext(short, "tcp", netip.AddrPortFrom(vip, 80).String()); err == nil {
		c.Close()
		t.Errorf("lb2 forwarded a connection as BACKUP")
	}
	cancelShort()
	// The master stops: it hands over with a priority 0 advert.
	lb1.cancel()
	if err := <-lb1.done; err != nil {
		t.Errorf("lb1: %v", err)
	}
	lb1.done <- nil // for the cleanup
	netsimtest.Eventually(t, 5*time.Second, func() error {
		if s := state(lb2); !strings.HasPrefix(s, "MASTER") {
			return fmt.Errorf("lb2 is %q", s)
		}
		return nil
	})
	tally, err = hosts["c1"].HTTPTally(ctx(), netip.AddrPortFrom(vip, 80), 20)
	must(err)
	if tally["r1"] != 10 || tally["r2"] != 10 {
		t.Errorf("through lb2 after failover: %v", tally)
	}
	tally, err = hosts["c2"].HTTPTally(ctx(), netip.AddrPortFrom(vip, 80), 20)
	must(err)
	if tally["r1"] != 10 || tally["r2"] != 10 {
		t.Errorf("c2 through lb2 after failover: %v", tally)
	}
	// The client's neighbour entry for the VIP is lb2's.
	mac, err := hosts["c1"].Neighbor("lan", vip)
	must(err)
	if mac.String() != hosts["lb2"].Link("lan").MAC.String() {
		t.Errorf("client's ARP entry for the VIP is %v, want lb2's %v", mac, hosts["lb2"].Link("lan").MAC)
	}
}

const checkConf = `virtual_server %s 80 {
    delay_loop 0.3
    lb_algo rr
    lb_kind DR
    protocol TCP
%s}
`

// TestRunHealthCheck: an HTTP_GET failure takes a real server out of
// rotation, and its recovery puts it back, as a client sees.
func TestRunHealthCheck(t *testing.T) {
	hosts := lanLab(t, "c1", "lb", "r1", "r2")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	vip := netsim.VIP4(1)
	must(hosts["lb"].AddAddr("lan", netip.PrefixFrom(vip, 32)))
	rs, servers := webLab(t, hosts, vip, "c1", "r1", "r2")
	httpGet := "        HTTP_GET {\n            url {\n                path /\n            }\n            connect_timeout 0.5\n            retry 1\n            delay_before_retry 0.2\n        }\n"
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	must(os.WriteFile(conf, []byte(fmt.Sprintf(checkConf, vip, realServers(httpGet, rs...))), 0o644))
	socket := filepath.Join(dir, "govs.sock")
	d, err := New(Options{ConfigFile: conf, Socket: socket, Workers: 1, ConnCapacity: 1 << 12, Logger: netsimtest.Logger(t)})
	must(err)
	startDaemon(t, hosts["lb"], d)
	tallyCtx := func() context.Context {
		c, cl := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cl)
		return c
	}
	spread := func(want map[string]int) error {
		tally, err := hosts["c1"].HTTPTally(tallyCtx(), netip.AddrPortFrom(vip, 80), 10)
		if err != nil {
			return err
		}
		for name, n := range want {
			if (n == 0) != (tally[name] == 0) {
				return fmt.Errorf("tally %v", tally)
			}
		}
		return nil
	}
	netsimtest.Eventually(t, 10*time.Second, func() error { return spread(map[string]int{"r1": 5, "r2": 5}) })

	// r2's web server stops: its checker fails, r2 leaves the service
	// (govs lists it with weight 0 while its connections last). Once govs
	// status says so, govs list does too: status hands the data plane the
	// checkers' view before it answers.
	must(servers["r2"].Close())
	r2 := hosts["r2"].Addr4("lan").String()
	takesNew := func() bool {
		c, cl := context.WithTimeout(context.Background(), 5*time.Second)
		defer cl()
		rep, err := Ask(c, socket, "stats")
		must(err)
		for _, s := range NewList(rep).Services {
			for _, r := range s.RealServers {
				if r.Address == r2 && r.Weight > 0 {
					return true
				}
			}
		}
		return false
	}
	netsimtest.Eventually(t, 10*time.Second, func() error {
		c, cl := context.WithTimeout(context.Background(), 5*time.Second)
		defer cl()
		rep, err := Ask(c, socket, "status")
		must(err)
		if len(rep.Status.Down) == 0 {
			return errors.New("r2 is not down yet")
		}
		if d := rep.Status.Down; len(d) != 1 || d[0].RealServer != r2+":80" {
			t.Fatalf("status lists %v as down", d)
		}
		if takesNew() {
			t.Fatalf("govs status says r2 is down (%+v), govs list still gives it a weight", rep.Status.Down)
		}
		return nil
	})
	netsimtest.Eventually(t, 10*time.Second, func() error { return spread(map[string]int{"r1": 10, "r2": 0}) })
	// It comes back: so does r2.
	_, err = hosts["r2"].StartHTTPServer(":80")
	must(err)
	netsimtest.Eventually(t, 10*time.Second, func() error { return spread(map[string]int{"r1": 5, "r2": 5}) })
}
