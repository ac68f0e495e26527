package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestNotifier(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	n := newNotifier()
	read := func() string {
		t.Helper()
		l.SetReadDeadline(time.Now().Add(2 * time.Second))
		b := make([]byte, 512)
		k, err := l.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		return string(b[:k])
	}
	if err := n.ready(); err != nil {
		t.Fatal(err)
	}
	if got := read(); !strings.HasPrefix(got, "READY=1\n") {
		t.Errorf("ready sent %q", got)
	}
	if err := n.reloading(); err != nil {
		t.Fatal(err)
	}
	if got := read(); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("reloading sent %q", got)
	}
	if err := n.stopping(); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "STOPPING=1\n" {
		t.Errorf("stopping sent %q", got)
	}
}

// TestNotifierAbstract: a $NOTIFY_SOCKET starting with @ names a socket
// in the abstract namespace, as systemd passes it in containers; and
// RELOADING=1 carries the CLOCK_MONOTONIC time in microseconds.
func TestNotifierAbstract(t *testing.T) {
	name := fmt.Sprintf("govs-notify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "@" + name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", "@"+name)
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	before := ts.Nano() / 1000
	if err := newNotifier().reloading(); err != nil {
		t.Fatal(err)
	}
	l.SetReadDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 512)
	k, err := l.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	var usec int64
	if _, err := fmt.Sscanf(string(b[:k]), "RELOADING=1\nMONOTONIC_USEC=%d\n", &usec); err != nil {
		t.Fatalf("reloading sent %q: %v", b[:k], err)
	}
	if usec < before || usec > before+10_000_000 {
		t.Errorf("MONOTONIC_USEC=%d, CLOCK_MONOTONIC was %d µs just before", usec, before)
	}
}

func TestNotifierWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := newNotifier().ready(); err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v", err)
	}
}
