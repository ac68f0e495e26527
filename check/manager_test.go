package check

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/netsimtest"
)

// TestManagerEndToEnd runs a TCP_CHECK on the real clock against a
// listener that goes away and comes back: the real server leaves the
// service and returns, notify_down and notify_up run, Changes fires.
func TestManagerEndToEnd(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr).AddrPort()
	serve := func(l net.Listener) {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}
	go serve(l)
	dir := t.TempDir()
	body := "notify_up \"/usr/bin/touch " + dir + "/up\"\n notify_down \"/usr/bin/touch " + dir + "/down\"\n" +
		"TCP_CHECK {\n connect_timeout 0.5\n delay_loop 0.1\n retry 1\n delay_before_retry 0.05\n}"
	m := NewManager(&Options{Logger: netsimtest.Logger(t)})
	if err := m.Update(parse(t, serverAt(addr, "", body))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	vs := "198.18.0.10:" + strconv.Itoa(int(addr.Port())) + "/TCP"

	waitFor := func(what string, inService bool) {
		t.Helper()
		netsimtest.Eventually(t, 3*time.Second, func() error {
			if r, _ := m.State().Real(vs, addr); r.InService != inService {
				return errf("%s: real server %+v", what, r)
			}
			return nil
		})
	}
	waitFor("start", true)
	for len(m.Changes()) > 0 {
		<-m.Changes()
	}

	start := time.Now()
	l.Close()
	waitFor("listener closed", false)
	// retry 1: two failures 50 ms apart, within one delay_loop.
	if d := time.Since(start); d > time.Second {
		t.Errorf("down after %v", d)
	}
	select {
	case <-m.Changes():
	case <-time.After(time.Second):
		t.Errorf("no change announced")
	}
	netsimtest.Eventually(t, 3*time.Second, func() error { _, err := os.Stat(filepath.Join(dir, "down")); return err })

	l2, err := net.Listen("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	go serve(l2)
	waitFor("listener back", true)
	netsimtest.Eventually(t, 3*time.Second, func() error { _, err := os.Stat(filepath.Join(dir, "up")); return err })

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if err := m.Run(context.Background()); err == nil {
		t.Errorf("Run ran twice")
	}
}

// TestRunKillsScripts: when Run stops, a notify script still running is
// killed with its children, and Run waits for that.
func TestRunKillsScripts(t *testing.T) {
	dir := scriptDir(t, "hang.sh")
	pidFile := filepath.Join(dir, "pid")
	body := "notify_down \"" + dir + "/hang.sh " + pidFile + "\"\nTCP_CHECK {\n connect_timeout 0.2\n delay_loop 0.1\n retry 0\n warmup 0\n}"
	m := NewManager(&Options{Logger: netsimtest.Logger(t)})
	if err := m.Update(parse(t, serverAt(mustAddrPort("127.0.0.1:1"), "", body))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var child int
	netsimtest.Eventually(t, 3*time.Second, func() error {
		b, err := os.ReadFile(pidFile)
		if err != nil || len(b) == 0 {
			return errf("notify_down has not run: %v", err)
		}
		child, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err
	})
	start := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Run took %v to stop", d)
	}
	netsimtest.Eventually(t, 2*time.Second, func() error {
		if alive(child) {
			return errf("the notify script's child %d still runs", child)
		}
		return nil
	})
}
