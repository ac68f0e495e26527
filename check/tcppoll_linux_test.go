package check

import (
	"context"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/checktest"
	"github.com/govs-lb/govs/internal/netsimtest"
)

// TestTCPPoller: under Run, TCP_CHECK probes run on the poller. An open
// port passes, with bindto as the source; a closed port fails with the
// dialer's words; a full backlog fails after connect_timeout; and Run
// leaves no goroutine or socket behind.
func TestTCPPoller(t *testing.T) {
	open, from := acceptor(t)
	closed := checktest.ClosedPort(t)
	backlog := checktest.FullBacklog(t)
	timing := "\n connect_timeout 0.3\n delay_loop 0.1\n retry 0\n warmup 0\n"
	conf := serverAt(open, "", "TCP_CHECK { bindto 127.0.0.2"+timing+"}") +
		serverAt(closed, "", "TCP_CHECK {"+timing+"}") +
		serverAt(backlog, "", "TCP_CHECK {"+timing+"}")
	before := runtime.NumGoroutine()
	fds := openFDs(t)

	m := NewManager(&Options{Logger: netsimtest.Logger(t)})
	var probes, viaPoller atomic.Int64
	m.probed = func(result) {
		probes.Add(1)
		if m.tcp != nil {
			viaPoller.Add(1)
		}
	}
	cfg := parse(t, conf)
	if err := m.Update(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	real := func(a netip.AddrPort) RealState {
		for _, name := range m.State().Services() {
			if r, ok := m.State().Real(name, a); ok {
				return r
			}
		}
		t.Fatalf("no real server %v", a)
		return RealState{}
	}
	netsimtest.Eventually(t, 5*time.Second, func() error {
		if real(closed).Alive || real(backlog).Alive {
			return errf("closed port or full backlog still up")
		}
		if probes.Load() < 20 {
			return errf("%d probes", probes.Load())
		}
		return nil
	})
	if !real(open).Alive {
		t.Errorf("open port down: %s", real(open).Reason)
	}
	if got := <-from; got != netip.MustParseAddr("127.0.0.2") {
		t.Errorf("connection from %v, want bindto 127.0.0.2", got)
	}
	if r := real(closed).Reason; !strings.Contains(r, "dial tcp "+closed.String()+": connect: connection refused") {
		t.Errorf("closed port: reason %q", r)
	}
	if r := real(backlog).Reason; !strings.Contains(r, "i/o timeout") {
		t.Errorf("full backlog: reason %q", r)
	}
	if viaPoller.Load() == 0 {
		t.Errorf("no probe ran on the poller")
	}
	stopLeaving(t, cancel, done, before, fds, nil)
}
