package check_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govs-lb/govs/check"
	"github.com/govs-lb/govs/config"
	"github.com/govs-lb/govs/forward"
	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/netsim"
	"github.com/govs-lb/govs/sched"
)

// TestHTTPGetSteersTraffic: a client, a balancer running the data plane
// and the checkers, three DR real servers. When r2's health page stops
// answering 200, HTTP_GET takes r2 out within delay_loop × (retry + 1) and
// the client stops reaching it; when it recovers, r2 is back.
func TestHTTPGetSteersTraffic(t *testing.T) {
	lab := netsimtest.New(t)
	lan, err := lab.AddSegment("lan")
	must(t, err)
	client, err := lab.AddHost("c1")
	must(t, err)
	lb, err := lab.AddHost("lb")
	must(t, err)
	var servers []*netsim.Host
	for i := range 3 {
		h, err := lab.AddHost(fmt.Sprintf("r%d", i+1))
		must(t, err)
		servers = append(servers, h)
	}
	for _, h := range append([]*netsim.Host{client, lb}, servers...) {
		_, err := h.Join(lan)
		must(t, err)
	}
	vip := netsim.VIP4(1)
	must(t, lb.EnableForwarding())
	must(t, lb.AddAddr("lan", netip.PrefixFrom(vip, 32)))
	must(t, client.AddLinkRoute(netip.PrefixFrom(vip, 32), "lan"))
	healthy := make([]*atomic.Bool, len(servers))
	for i, s := range servers {
		must(t, s.DRRealServer(vip))
		healthy[i] = &atomic.Bool{}
		healthy[i].Store(true)
		startHealthServer(t, s, healthy[i])
	}

	const (
		delayLoop = 300 * time.Millisecond
		retry     = 1
	)
	conf := fmt.Sprintf("virtual_server %s 80 {\n delay_loop %.1f\n lb_algo rr\n lb_kind DR\n protocol TCP\n", vip, delayLoop.Seconds())
	for _, s := range servers {
		conf += fmt.Sprintf(" real_server %s 80 {\n  HTTP_GET {\n   url {\n    path /health\n   }\n   connect_timeout 0.5\n   retry %d\n   delay_before_retry 0.1\n  }\n }\n", s.Addr4("lan"), retry)
	}
	conf += "}\n"
	cfg, diags := config.Parse("lab.conf", []byte(conf), &config.Options{ConfigID: "lab"})
	if diags.HasErrors() {
		t.Fatalf("configuration: %s", diags)
	}

	// The checkers probe from the balancer's namespace.
	m := check.NewManager(&check.Options{Logger: netsimtest.Logger(t), Do: lb.Do})
	must(t, m.Update(cfg))
	var engine *forward.Engine
	must(t, lb.Do(func() error {
		e, err := forward.NewEngine(&forward.EngineConfig{Interface: "lan", Workers: 1, ConnCapacity: 1 << 12, Templates: 256, Logger: netsimtest.Logger(t)})
		if err != nil {
			return err
		}
		engine = e
		if err := e.Update(specsFrom(cfg, m.State())); err != nil {
			e.Stop()
			return err
		}
		return e.Start()
	}))
	t.Cleanup(func() {
		if err := engine.Stop(); err != nil {
			t.Errorf("stop engine: %v", err)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		go m.Run(ctx)
		// What the daemon does: a new snapshot for each change.
		for {
			select {
			case <-ctx.Done():
				return
			case <-m.Changes():
				if err := engine.Update(specsFrom(cfg, m.State())); err != nil {
					t.Errorf("engine update: %v", err)
				}
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })

	target := netip.AddrPortFrom(vip, 80)
	tally := func(n int) (map[string]int, error) {
		tctx, tcancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer tcancel()
		return client.HTTPTally(tctx, target, n)
	}
	if got, err := tally(30); err != nil || got["r1"] == 0 || got["r2"] == 0 || got["r3"] == 0 {
		t.Fatalf("all up: %v %v", got, err)
	}

	// r2 fails its health check: out within delay_loop × (retry + 1), plus
	// the delay_before_retry, plus slack.
	bound := delayLoop*(retry+1) + 100*time.Millisecond + time.Second
	healthy[1].Store(false)
	start := time.Now()
	// A connection r2 took just before it left loses its packets, as IPVS
	// drops the packets of a removed real server's connections: a tally
	// may fail while r2 leaves.
	waitTally(t, bound, func() error {
		got, err := tally(12)
		if err != nil || got["r2"] != 0 || got["r1"] == 0 || got["r3"] == 0 {
			return fmt.Errorf("r2 still served: %v %v", got, err)
		}
		return nil
	})
	t.Logf("r2 out of rotation %v after its health page failed", time.Since(start).Round(time.Millisecond))
	if st, _ := m.State().Real(vip.String()+":80/TCP", netip.AddrPortFrom(servers[1].Addr4("lan"), 80)); st.InService || st.Alive {
		t.Errorf("r2's state: %+v", st)
	}

	// It recovers: back at the next probe.
	healthy[1].Store(true)
	start = time.Now()
	waitTally(t, delayLoop+time.Second, func() error {
		got, err := tally(12)
		if err != nil || got["r2"] == 0 {
			return fmt.Errorf("r2 not back: %v %v", got, err)
		}
		return nil
	})
	t.Logf("r2 back %v after recovering", time.Since(start).Round(time.Millisecond))

	// PING_CHECK from the balancer's namespace, where ping sockets are
	// not allowed (ping_group_range "1 0"): the raw socket answers. A
	// host that is not there fails.
	v, _ := lb.Sysctl("net.ipv4.ping_group_range")
	t.Logf("ping_group_range in the balancer: %q", v)
	ghost := netip.MustParseAddr("198.18.1.200")
	pingConf := fmt.Sprintf("virtual_server %s 81 {\n delay_loop 0.2\n lb_algo rr\n lb_kind DR\n protocol TCP\n"+
		" real_server %s 81 {\n  PING_CHECK {\n   connect_timeout 0.3\n   retry 0\n  }\n }\n"+
		" real_server %s 81 {\n  PING_CHECK {\n   connect_timeout 0.3\n   retry 0\n  }\n }\n}\n", vip, servers[0].Addr4("lan"), ghost)
	pcfg, diags := config.Parse("ping.conf", []byte(pingConf), &config.Options{ConfigID: "lab"})
	if diags.HasErrors() {
		t.Fatalf("configuration: %s", diags)
	}
	pm := check.NewManager(&check.Options{Logger: netsimtest.Logger(t), Do: lb.Do})
	must(t, pm.Update(pcfg))
	pctx, pcancel := context.WithCancel(context.Background())
	pdone := make(chan struct{})
	go func() { defer close(pdone); pm.Run(pctx) }()
	defer func() { pcancel(); <-pdone }()
	name := vip.String() + ":81/TCP"
	netsimtest.Eventually(t, 3*time.Second, func() error {
		st := pm.State()
		r1, _ := st.Real(name, netip.AddrPortFrom(servers[0].Addr4("lan"), 81))
		g, _ := st.Real(name, netip.AddrPortFrom(ghost, 81))
		if !r1.Alive || g.Alive {
			return fmt.Errorf("r1 %+v, ghost %+v", r1, g)
		}
		return nil
	})
}

// waitTally retries fn until it passes or the bound passes, which fails
// the test; the bound counts from the first try.
func waitTally(t *testing.T, bound time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", bound, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startHealthServer serves "host=NAME" on / (as netsim's HTTP server, for
// HTTPTally) and a /health page that answers 200 or 503.
func startHealthServer(t *testing.T, h *netsim.Host, healthy *atomic.Bool) {
	l, err := h.Listen("tcp", ":80")
	must(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			http.Error(w, "sick", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "host=%s\n", h.Name()) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 2 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() {
		if err := srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("close: %v", err)
		}
	})
}

// specsFrom builds the data plane's services from the configuration and
// the checkers' state, as the daemon does: a real server out of service is
// left out, the others get the weight the checkers give.
func specsFrom(cfg *config.Config, st *check.State) []forward.ServiceSpec {
	var specs []forward.ServiceSpec
	for i, vs := range cfg.VirtualServers {
		spec := forward.ServiceSpec{ID: uint32(i + 1), Name: vs.Name(), Proto: vs.Protocol.Number(), Scheduler: sched.RR,
			Addrs: []forward.AddrRange{{First: vs.Addr, Last: vs.Addr, Port: vs.Port}}}
		for j, rs := range vs.RealServers {
			r, ok := st.Real(vs.Name(), rs.AddrPort())
			if ok && !r.InService {
				continue
			}
			w := rs.Weight
			if ok {
				w = r.Weight
			}
			spec.Backends = append(spec.Backends, forward.BackendSpec{ID: uint32(100*(i+1) + j), Addr: rs.Addr,
				Weight: uint32(w), LastWeight: uint32(rs.Weight), Method: forward.MethodDR})
		}
		specs = append(specs, spec)
	}
	return specs
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
