package check

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/checktest"
	"github.com/govs-lb/govs/internal/netsimtest"
)

// TestNoLeaks runs checkers against servers that hang, flood and trickle
// and a script that never exits, then stops: every goroutine, socket and
// process the checkers made is gone.
func TestNoLeaks(t *testing.T) {
	dir := scriptDir(t, "hang.sh")
	hung := checktest.NewTrickle(t, 0)
	trickle := checktest.NewTrickle(t, 20*time.Millisecond)
	flood := checktest.NewFlood(t, "HTTP/1.0 200 OK\r\n\r\n")
	backlog := checktest.FullBacklog(t)
	silent := checktest.NewUDPServer(t, func([]byte) [][]byte { return nil })

	timing := "connect_timeout 0.2\n delay_loop 0.1\n retry 1\n delay_before_retry 0.05\n warmup 0\n"
	conf := serverAt(hung.Addr(), "", "HTTP_GET {\n url { path / }\n "+timing+"}") +
		serverAt(trickle.Addr(), "", "SSL_GET {\n url { path / }\n "+timing+"}") +
		serverAt(flood.Addr(), "", "HTTP_GET {\n url { path /\n digest 00000000000000000000000000000000 }\n "+timing+"}") +
		serverAt(backlog, "", "TCP_CHECK {\n "+timing+"}") +
		serverAt(silent.Addr(), "", "DNS_CHECK {\n "+timing+"}") +
		oneServer("", "MISC_CHECK {\n misc_path \""+dir+"/hang.sh "+dir+"/pid\"\n misc_timeout 1\n "+timing+"}")
	before := runtime.NumGoroutine()
	fds := openFDs(t)

	m := NewManager(&Options{Logger: netsimtest.Logger(t)})
	if err := m.Update(parse(t, conf)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	time.Sleep(1500 * time.Millisecond)
	stopLeaving(t, cancel, done, before, fds, func() error {
		if b, err := os.ReadFile(dir + "/pid"); err == nil {
			if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 && alive(pid) {
				return errf("the script's child %d still runs", pid)
			}
		}
		return nil
	})
}

// stopLeaving cancels a Manager's Run, waits for it to return, and then
// for the goroutines and open files to be back to what they were before
// it (and for more, when more is not nil, to be true).
func stopLeaving(t *testing.T, cancel context.CancelFunc, done <-chan error, goroutines, fds int, more func() error) {
	t.Helper()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	netsimtest.Eventually(t, 3*time.Second, func() error {
		if more != nil {
			if err := more(); err != nil {
				return err
			}
		}
		if n := runtime.NumGoroutine(); n > goroutines {
			return errf("%d goroutines, %d before", n, goroutines)
		}
		if n := openFDs(t); n > fds {
			return errf("%d open files, %d before", n, fds)
		}
		return nil
	})
}

func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}
