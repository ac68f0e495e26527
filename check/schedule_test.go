package check

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/govs-lb/govs/internal/checktest"
	"github.com/govs-lb/govs/internal/netsimtest"
)

// TestScheduleTiming drives a TCP_CHECK on the fake clock and checks when
// each probe runs: delay_loop after a success or a final failure,
// delay_before_retry between retries.
func TestScheduleTiming(t *testing.T) {
	m, clk, s := newTestManager(t)
	cfg := parse(t, oneServer("", "TCP_CHECK { retry 2\n delay_before_retry 1\n warmup 0 }"))
	if err := m.Update(cfg); err != nil {
		t.Fatal(err)
	}
	name := "TCP_CHECK 198.18.0.11:80"
	s.push(name, result{ok: true}, result{reason: "a"}, result{reason: "b"}, result{reason: "c"}, result{ok: true})
	t0 := clk.Now()
	runManager(t, m)
	for range 6 {
		settle(t, m, clk)
		clk.AdvanceToNext()
	}
	settle(t, m, clk)
	var got []time.Duration
	for _, at := range s.callTimes(name) {
		got = append(got, at.Sub(t0))
	}
	sec := time.Second
	want := []time.Duration{0, 10 * sec, 11 * sec, 12 * sec, 22 * sec, 32 * sec, 42 * sec}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("probe times (-want +got)\n%s", diff)
	}
	if r, _ := m.State().Real(vsName, mustAddrPort("198.18.0.11:80")); !r.Alive {
		t.Errorf("real server not back up: %+v", r)
	}
}

// TestWarmupSpreads: with warmup (by default delay_loop) the first probes
// of many checkers spread over the interval instead of firing at once.
func TestWarmupSpreads(t *testing.T) {
	m, clk, _ := newTestManager(t)
	cfg := parse(t, bigServer(1000, "TCP_CHECK { }"))
	if err := m.Update(cfg); err != nil {
		t.Fatal(err)
	}
	t0 := clk.Now()
	runManager(t, m)
	settle(t, m, clk)
	var buckets [10]int
	m.mu.Lock()
	for _, rs := range m.order[0].reals {
		c := rs.checkers[0]
		if !c.hasRun && !c.due.Equal(t0.Add(c.firstDelay)) {
			t.Errorf("first probe at %v, want after the warmup %v", c.due.Sub(t0), c.firstDelay)
		}
		d := c.firstDelay
		if d < 0 || d >= 10*time.Second {
			t.Errorf("first probe after %v, want within the 10 s warmup", d)
			continue
		}
		buckets[d/time.Second]++
	}
	m.mu.Unlock()
	for i, n := range buckets {
		if n < 50 || n > 150 {
			t.Errorf("second %d holds %d first probes of 1000, want about 100: %v", i, n, buckets)
		}
	}
}

// bigServer is a configuration with n real servers of one checker each.
func bigServer(n int, checker string) string {
	var b strings.Builder
	b.WriteString("virtual_server 198.18.0.10 80 {\n delay_loop 10\n lb_algo rr\n lb_kind DR\n protocol TCP\n")
	for i := range n {
		fmt.Fprintf(&b, " real_server 198.18.%d.%d 80 {\n  %s\n }\n", 1+i/250, 1+i%250, checker)
	}
	b.WriteString("}\n")
	return b.String()
}

// TestConcurrencyBound: no more than MaxConcurrent probes run at once; the
// others wait their turn; Run stops the ones in flight.
func TestConcurrencyBound(t *testing.T) {
	clk := checktest.NewClock()
	m := NewManager(&Options{Logger: netsimtest.Logger(t), Clock: clk, MaxConcurrent: 4})
	s := newScripted(clk)
	hold := make(chan struct{})
	s.hold = hold
	m.newProber = s.prober
	if err := m.Update(parse(t, bigServer(20, "TCP_CHECK { warmup 0 }"))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	netsimtest.Eventually(t, 5*time.Second, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.running != 4 {
			return errf("%d probes running, want 4", s.running)
		}
		return nil
	})
	time.Sleep(20 * time.Millisecond)
	s.mu.Lock()
	if s.maxRun != 4 {
		t.Errorf("%d probes ran at once, want at most 4", s.maxRun)
	}
	s.mu.Unlock()
	close(hold)
	netsimtest.Eventually(t, 5*time.Second, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		n := 0
		for _, c := range s.calls {
			n += len(c)
		}
		if n != 20 {
			return errf("%d probes done, want 20", n)
		}
		return nil
	})
	s.mu.Lock()
	if s.maxRun != 4 {
		t.Errorf("%d probes ran at once, want at most 4", s.maxRun)
	}
	s.mu.Unlock()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}

// TestChanges: a change of state is announced once, coalesced, and a slow
// reader never blocks the checkers.
func TestChanges(t *testing.T) {
	m, clk, s := newTestManager(t)
	if err := m.Update(parse(t, oneServer("", "TCP_CHECK { retry 0\n warmup 0 }", "TCP_CHECK { retry 0\n warmup 0 }"))); err != nil {
		t.Fatal(err)
	}
	<-m.Changes() // the Update
	s.push("TCP_CHECK 198.18.0.11:80", result{reason: "down"})
	s.push("TCP_CHECK 198.18.0.12:80", result{reason: "down"})
	runManager(t, m)
	settle(t, m, clk)
	select {
	case <-m.Changes():
	case <-time.After(5 * time.Second):
		t.Fatal("no change announced")
	}
	select {
	case <-m.Changes():
		t.Errorf("two changes announced for one read")
	default:
	}
	st := m.State()
	for _, rs := range []string{"198.18.0.11:80", "198.18.0.12:80"} {
		if r, _ := st.Real(vsName, mustAddrPort(rs)); r.InService {
			t.Errorf("%s still in service", rs)
		}
	}
	// Results that change nothing announce nothing.
	s.push("TCP_CHECK 198.18.0.11:80", result{reason: "down"})
	s.push("TCP_CHECK 198.18.0.12:80", result{reason: "down"})
	clk.AdvanceToNext()
	settle(t, m, clk)
	select {
	case <-m.Changes():
		t.Errorf("a change announced for probes that changed nothing")
	default:
	}
}
