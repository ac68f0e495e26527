package vrrp

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govs-lb/govs/config"
	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/netsim"
)

// TestManagerReloadAndNotify runs govs alone on a segment: it becomes
// master, runs its notify script with keepalived's arguments, keeps its
// state across a reload of the same instance, starts a new instance in
// BACKUP, and reports STOP on the way out. Options.Forward hears of each
// instance's services before its VIP is added and after it is removed.
func TestManagerReloadAndNotify(t *testing.T) {
	t.Parallel()
	nl := netsimtest.New(t)
	seg, err := nl.AddSegment("lan")
	must(t, err)
	gv, err := nl.AddHost("gv")
	must(t, err)
	_, err = gv.Join(seg)
	must(t, err)

	dir := t.TempDir()
	out := filepath.Join(dir, "notified")
	script := filepath.Join(dir, "notify.sh")
	must(t, os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+out+"\n"), 0o755))
	inst := func(name string, vrid, vip int) string {
		return fmt.Sprintf(`vrrp_instance %s {
    interface lan
    virtual_router_id %d
    priority 100
    advert_int 0.1
    version 3
    notify %s
    virtual_ipaddress {
        %s/32
    }
}
`, name, vrid, script, netsim.VIP4(vip))
	}
	parse := func(s string) *config.Config {
		cfg, diags := config.Parse("govs.conf", []byte(s), nil)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return cfg
	}
	netw, err := SystemNetwork(gv.NamespaceFD())
	must(t, err)
	defer netw.Close()
	var mu sync.Mutex
	var forwarded []string
	hasVIP := func(vip netip.Addr) bool {
		addrs, err := gv.Netlink().AddrList(nil, 0)
		must(t, err)
		for _, a := range addrs {
			if a.IP.Equal(vip.AsSlice()) {
				return true
			}
		}
		return false
	}
	vips := map[string]netip.Addr{"VI": netsim.VIP4(1), "VI2": netsim.VIP4(2)}
	forward := func(inst string, on bool) {
		mu.Lock()
		defer mu.Unlock()
		forwarded = append(forwarded, fmt.Sprintf("%s %v vip=%v", inst, on, hasVIP(vips[inst])))
	}
	m := NewManager(&Options{Logger: netsimtest.Logger(t), Network: netw, Forward: forward})
	must(t, m.Update(parse(inst("VI", 51, 1))))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			must(t, <-done)
		}
	}
	defer stop()

	notified := func(want string) {
		t.Helper()
		netsimtest.Eventually(t, 3*time.Second, func() error {
			b, _ := os.ReadFile(out)
			if !strings.Contains(string(b), want) {
				return fmt.Errorf("notify script got %q, want a line %q", b, want)
			}
			return nil
		})
	}
	notified("INSTANCE VI MASTER 100")
	before := m.States()["VI"]

	must(t, m.Update(parse(inst("VI", 51, 1))))
	if got := m.States()["VI"]; got.State != StateMaster || !got.Since.Equal(before.Since) {
		t.Errorf("after reloading the same instance: %v since %v, want MASTER since %v", got.State, got.Since, before.Since)
	}

	must(t, m.Update(parse(inst("VI", 51, 1)+inst("VI2", 52, 2))))
	if got := m.States()["VI2"].State; got != StateBackup {
		t.Errorf("new instance starts %v, want BACKUP", got)
	}
	notified("INSTANCE VI2 MASTER 100")
	b, _ := os.ReadFile(out)
	if n := strings.Count(string(b), "INSTANCE VI MASTER"); n != 1 {
		t.Errorf("VI notified MASTER %d times across reloads, want 1:\n%s", n, b)
	}
	stop()
	notified("INSTANCE VI STOP 100")
	notified("INSTANCE VI2 STOP 100")
	addrs, err := gv.Netlink().AddrList(nil, 0)
	must(t, err)
	for _, a := range addrs {
		if strings.HasPrefix(a.IP.String(), "198.19.") {
			t.Errorf("VIP %v left after stop", a.IP)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(forwarded)
	want := []string{"VI false vip=false", "VI true vip=false", "VI2 false vip=false", "VI2 true vip=false"}
	if !slices.Equal(forwarded, want) {
		t.Errorf("Forward heard %q, want %q", forwarded, want)
	}
}
