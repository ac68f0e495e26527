package daemon

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/govs-lb/govs/forward"
	"github.com/govs-lb/govs/internal/version"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares v, as --json prints it, with testdata/name. The files
// are the documents' reference: a change to them is a change of format.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestListJSON(t *testing.T) {
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	r := &Reply{
		Stats: &forward.Stats{Services: []forward.ServiceStats{{
			ID: 1, Name: "198.19.0.1:80/TCP", Scheduler: "rr", Persistence: 50 * time.Second, Proto: 6,
			Addrs: []forward.AddrRange{{First: netip.MustParseAddr("198.19.0.1"), Last: netip.MustParseAddr("198.19.0.1"), Port: 80}},
			Conns: 30, Packets: 300, Bytes: 30000,
			Backends: []forward.BackendStats{
				{ID: 11, Addr: netip.MustParseAddr("198.18.1.5"), Method: forward.MethodDR, Weight: 1, ActiveConns: 2, InactiveConns: 8, Conns: 10, Packets: 100, Bytes: 10000},
				{ID: 12, Addr: netip.MustParseAddr("198.18.1.6"), Method: forward.MethodTUN, Weight: 0, Conns: 20, Packets: 200, Bytes: 20000},
			},
		}}},
		Rates: &Rates{Interval: 2 * time.Second, Sampled: at,
			Services: map[uint32]Rate{1: {CPS: 5, PPS: 50, BPS: 5000}},
			Backends: map[uint32]Rate{11: {CPS: 5, PPS: 50, BPS: 5000}}},
	}
	l := NewList(r)
	golden(t, "list.json", l)
	// What a script reads back is what govs had.
	b, _ := json.Marshal(l)
	var back List
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(l, &back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if got := back.Services[0].RealServers[1]; got.Forward != "Tunnel" || got.Port != 80 || got.Stats.InBytes != 20000 {
		t.Errorf("second real server %+v", got)
	}
	golden(t, "list-empty.json", NewList(&Reply{}))
}

func TestStatusJSON(t *testing.T) {
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	s := &Status{
		Format:     StatusFormat,
		Govs:       version.Info{Module: "github.com/govs-lb/govs", Version: "v1.0.0", Commit: "0123456789abcdef0123456789abcdef01234567", Go: "go1.26.8"},
		ConfigFile: "/etc/keepalived/keepalived.conf", ConfigSHA256: "00ff", Interface: "eth0", Started: at,
		Services: 2, Instances: 1, Packets: map[string]uint64{"forwarded": 1000, "no-backend": 3},
		VRRP:    []VRRPStatus{{Instance: "VI_1", State: "MASTER", Priority: 150, Since: at, BecameMaster: 1}},
		Down:    []DownReal{{Service: "198.19.0.1:80/TCP", RealServer: "198.18.1.7:80", Reason: "HTTP_GET: connection refused"}},
		Reloads: Reloads{OK: 2, Failed: 1, Last: at, LastError: "keepalived.conf:3:5: unknown keyword"},
	}
	golden(t, "status.json", s)
	b, _ := json.Marshal(s)
	var back Status
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, &back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}
