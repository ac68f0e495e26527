package check

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govs-lb/govs/config"
	"github.com/govs-lb/govs/internal/checktest"
	"github.com/govs-lb/govs/internal/netsimtest"
)

// parse reads a configuration and fails the test on errors.
func parse(t testing.TB, text string) *config.Config {
	t.Helper()
	cfg, diags := config.Parse("test.conf", []byte(text), &config.Options{ConfigID: "test"})
	if diags.HasErrors() {
		t.Fatalf("configuration:\n%s\n%s", diags, text)
	}
	return cfg
}

// oneServer is a configuration with one virtual server and real servers
// whose blocks are given (each "ADDR PORT { ... }" body).
func oneServer(vsExtra string, reals ...string) string {
	var b strings.Builder
	b.WriteString("virtual_server 198.18.0.10 80 {\n  delay_loop 10\n  lb_algo rr\n  lb_kind DR\n  protocol TCP\n")
	b.WriteString(vsExtra)
	for i, r := range reals {
		fmt.Fprintf(&b, "  real_server 198.18.0.%d 80 {\n%s\n  }\n", 11+i, r)
	}
	b.WriteString("}\n")
	return b.String()
}

// scripted is a prober fake: each checker answers from a queue of
// results, success when the queue is empty; it records when probes ran.
type scripted struct {
	mu      sync.Mutex
	clock   interface{ Now() time.Time }
	queue   map[string][]result // by spec name
	calls   map[string][]time.Time
	steps   map[string][]int
	running int
	maxRun  int
	hold    chan struct{} // when set, probes wait for it to close
}

func newScripted(clock interface{ Now() time.Time }) *scripted {
	return &scripted{clock: clock, queue: map[string][]result{}, calls: map[string][]time.Time{}, steps: map[string][]int{}}
}

func (s *scripted) push(name string, rs ...result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue[name] = append(s.queue[name], rs...)
}

func (s *scripted) prober(sp *spec) prober {
	return proberFunc(func(ctx context.Context, step int) result {
		s.mu.Lock()
		s.calls[sp.name] = append(s.calls[sp.name], s.clock.Now())
		s.steps[sp.name] = append(s.steps[sp.name], step)
		s.running++
		s.maxRun = max(s.maxRun, s.running)
		hold := s.hold
		var r result
		if q := s.queue[sp.name]; len(q) > 0 {
			r, s.queue[sp.name] = q[0], q[1:]
		} else {
			r = result{ok: true}
		}
		s.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-ctx.Done():
			}
		}
		s.mu.Lock()
		s.running--
		s.mu.Unlock()
		return r
	})
}

func (s *scripted) callTimes(name string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.calls[name]...)
}

// newTestManager returns a manager on a fake clock with scripted probes.
func newTestManager(t testing.TB) (*Manager, *checktest.Clock, *scripted) {
	clk := checktest.NewClock()
	m := NewManager(&Options{Logger: netsimtest.Logger(t), Clock: clk})
	s := newScripted(clk)
	m.newProber = s.prober
	return m, clk, s
}

// runManager runs m until the test ends.
func runManager(t testing.TB, m *Manager) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return")
		}
	})
}

// settle waits until no probe is in flight and the schedule waits on the
// fake clock for its next probe.
func settle(t testing.TB, m *Manager, clk *checktest.Clock) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		quiet := m.started && m.inflight == 0
		var due time.Time
		if c := m.queue.first(); c != nil {
			due = c.due
		}
		m.mu.Unlock()
		if quiet {
			if due.IsZero() {
				return
			}
			p := clk.Pending()
			if len(p) > 0 && p[0].Equal(due) {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("the manager did not settle")
}

// checkers returns the run-time checkers of a real server.
func checkersOf(t testing.TB, m *Manager, vs, rs string) []*checker {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.services[vs]
	if s == nil {
		t.Fatalf("no service %s", vs)
	}
	for _, r := range s.reals {
		if r.name() == rs {
			return r.checkers
		}
	}
	t.Fatalf("no real server %s in %s", rs, vs)
	return nil
}

const vsName = "198.18.0.10:80/TCP"

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func errf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// serverAt is a configuration with one real server at addr, with the
// given checker block (and virtual server lines).
func serverAt(addr netip.AddrPort, vsExtra, rsBody string) string {
	return fmt.Sprintf("virtual_server 198.18.0.10 %d {\n delay_loop 10\n lb_algo rr\n lb_kind DR\n protocol TCP\n%s\n real_server %s %d {\n%s\n }\n}\n",
		addr.Port(), vsExtra, addr.Addr(), addr.Port(), rsBody)
}

// realChecker installs a configuration in a manager with the real probers
// and returns the first checker of its first real server.
func realChecker(t testing.TB, text string) (*Manager, *checker) {
	t.Helper()
	m := NewManager(&Options{Logger: netsimtest.Logger(t)})
	cfg := parse(t, text)
	if err := m.Update(cfg); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rs := m.order[0].reals[0]
	if len(rs.checkers) == 0 {
		t.Fatalf("no checker installed")
	}
	return m, rs.checkers[0]
}

// probeOnce runs one probe of the first checker of a configuration.
func probeOnce(t testing.TB, text string, step int) (result, time.Duration) {
	t.Helper()
	_, c := realChecker(t, text)
	start := time.Now()
	r := c.prober.probe(context.Background(), step)
	return r, time.Since(start)
}

func itoa(i int) string { return fmt.Sprint(i) }
