package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// diagStrings formats diagnostics without the file name, for comparison.
func diagStrings(ds Diagnostics) []string {
	var out []string
	for _, d := range ds {
		d.Pos.File = filepath.Base(d.Pos.File)
		out = append(out, d.String())
	}
	return out
}

func loadFile(t *testing.T, path string) (*Config, Diagnostics) {
	t.Helper()
	cfg, diags, err := Load(path, &Options{ConfigID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, diags
}

// TestSeedHTTP checks the seed's HTTP example: keepalived 2.2.7 reports the
// invalid real server 10.20.30.321 on both services (lines 53 and 79) and
// the sync group OX_GROUP naming the instance OX_GOUP, which does not
// exist. govs reports the same, as errors.
func TestSeedHTTP(t *testing.T) {
	_, diags := loadFile(t, "../examples/seed-http.conf")
	want := []string{
		`seed-http.conf:8:9: error: vrrp_sync_group OX_GROUP: instance OX_GOUP does not exist (the instances are: OX_VRRP)`,
		`seed-http.conf:53:17: error: real_server: "10.20.30.321" is not an IPv4 or IPv6 address`,
		`seed-http.conf:79:17: error: real_server: "10.20.30.321" is not an IPv4 or IPv6 address`,
	}
	if diff := cmp.Diff(want, diagStrings(diags)); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
}

// TestSeedGalera checks the seed's Galera example: the first
// virtual_server is never closed, so the second one ends up inside it
// (keepalived 2.2.7: "Unknown keyword 'virtual_server'" at line 61 and "1
// missing '}'"), and auth_pass is longer than 8 characters (keepalived:
// "Truncating auth_pass to 8 characters"). keepalived also ignores
// track_interface eth0 as the instance's own interface.
func TestSeedGalera(t *testing.T) {
	cfg, diags := loadFile(t, "../examples/seed-galera.conf")
	want := []string{
		`seed-galera.conf:18:9: warning: vrrp_instance mysql_pool: track_interface eth0 is the instance's own interface; it is ignored, as keepalived does`,
		`seed-galera.conf:23:19: warning: vrrp_instance mysql_pool: auth_pass is longer than 8 characters; only the first 8 ("Twagipmi") are used, as keepalived does`,
		`seed-galera.conf:32:34: error: virtual_server 10.20.29.174 3306: this '{' is never closed (a '}' is missing at the end of the block that starts here)`,
		`seed-galera.conf:61:1: error: virtual_server is not valid inside virtual_server 10.20.29.174 3306 (line 32): is a '}' missing before this line?`,
	}
	if diff := cmp.Diff(want, diagStrings(diags)); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
	if got := cfg.Instances[0].Auth.Pass; got != "Twagipmi" {
		t.Errorf("auth_pass = %q, want the first 8 characters", got)
	}
}

// TestSeedFixed checks that the corrected copies pass, and what they hold.
func TestSeedFixed(t *testing.T) {
	cfg, diags := loadFile(t, "../examples/seed-http-fixed.conf")
	if diags.HasErrors() {
		t.Fatalf("seed-http-fixed.conf:\n%s", diags)
	}
	// keepalived 2.2.7 warns: "Sync group OX_GROUP has only 1 virtual router(s)".
	if len(diags) != 1 || !strings.Contains(diags[0].Msg, "only one instance") {
		t.Errorf("want one warning about the one-instance sync group, got:\n%s", diags)
	}
	in := cfg.Instances[0]
	if in.Name != "OX_VRRP" || in.State != StateBackup || in.Preempt || in.Priority != 101 || in.VRID != 10 ||
		in.Auth.Type != AuthAH || in.Auth.Pass != "1234" || in.GARP.MasterDelay.Seconds() != 10 || in.SyncGroup != "OX_GROUP" {
		t.Errorf("instance: %+v", in)
	}
	if got := in.VIPs[0]; got.Prefix.String() != "10.20.30.77/24" || got.Broadcast.String() != "10.20.30.255" || got.Dev != "eth0" {
		t.Errorf("VIP: %+v", got)
	}
	if len(cfg.VirtualServers) != 2 {
		t.Fatalf("%d virtual servers", len(cfg.VirtualServers))
	}
	http, push := cfg.VirtualServers[0], cfg.VirtualServers[1]
	if http.Group != "OX_HTTP" || http.Protocol != TCP || http.Scheduler != SchedRR || http.Method != DR || http.VirtualHost != "10.20.30.77" {
		t.Errorf("HTTP service: %+v", http)
	}
	if push.Group != "OX_OL_PUSH" || push.Protocol != UDP {
		t.Errorf("push service: %+v", push)
	}
	for _, rs := range http.RealServers {
		c := rs.Checkers[0]
		if rs.Weight != 1 || !rs.InhibitOnFailure || c.Kind != CheckHTTP || c.ConnectPort != 80 ||
			c.ConnectTimeout.Seconds() != 10 || c.DelayLoop.Seconds() != 3 ||
			c.HTTP.URLs[0].Path != "/servlet/TestServlet" || c.HTTP.URLs[0].VirtualHost != "10.20.30.77" ||
			!cmp.Equal(c.HTTP.URLs[0].StatusCodes, []StatusRange{{200, 200}}) {
			t.Errorf("HTTP real server %s: %+v %+v", rs.AddrPort(), rs, c)
		}
	}
	for _, rs := range push.RealServers {
		if c := rs.Checkers[0]; c.Kind != CheckTCP || c.ConnectPort != 9999 || c.ConnectTimeout.Seconds() != 5 {
			t.Errorf("push real server %s checker: %+v", rs.AddrPort(), c)
		}
	}

	cfg, diags = loadFile(t, "../examples/seed-galera-fixed.conf")
	if len(diags) != 0 {
		t.Fatalf("seed-galera-fixed.conf:\n%s", diags)
	}
	write := cfg.VirtualServers[1]
	if write.PersistenceTimeout.Seconds() != 1800 || write.PersistenceGranularity != 24 || len(write.RealServers) != 3 {
		t.Errorf("write service: %+v", write)
	}
	m := write.RealServers[0].Checkers[0].Misc
	if !cmp.Equal(m.Script.Args, []string{"/etc/keepalived/galera-checker.pl", "10.20.29.140"}) || m.Timeout.Seconds() != 5 {
		t.Errorf("misc check: %+v %v", m, m.Script.Args)
	}
}
