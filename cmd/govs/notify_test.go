package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

func TestNotifierWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := newNotifier().ready(); err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v", err)
	}
}
