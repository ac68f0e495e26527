package config

import (
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ignorePos compares models without positions.
var ignorePos = cmp.Options{cmpopts.IgnoreTypes(Pos{}), cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})}

// TestAllKeywords parses a file that uses every keyword govs honours and
// checks that each is in it and none is left unhandled.
func TestAllKeywords(t *testing.T) {
	src, err := os.ReadFile("testdata/all.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := Parse("testdata/all.conf", src, &Options{ConfigID: "main"})
	for _, d := range diags {
		if d.Severity == Error || strings.Contains(d.Msg, "internal error") {
			t.Errorf("%s", d)
		}
	}
	words := map[string]bool{}
	for _, w := range regexp.MustCompile(`[A-Za-z0-9_.-]+`).FindAllString(string(src), -1) {
		words[w] = true
	}
	seen := map[*context]bool{}
	var walk func(path string, c *context, ignored bool)
	walk = func(path string, c *context, ignored bool) {
		if seen[c] {
			return
		}
		seen[c] = true
		for name, k := range c.keywords {
			if k.use == useOK && !ignored && !words[name] {
				t.Errorf("keyword %s%s is honoured but not in testdata/all.conf", path, name)
			}
			if k.sub != nil {
				walk(path+name+"/", k.sub, ignored || k.use != useOK)
			}
		}
	}
	walk("", catalogue, false)
	if t.Failed() {
		return
	}
	// Spot checks of the model.
	g := cfg.Global
	if g.RouterID != "lb1" || g.GARP.Interval != time.Millisecond || g.LVSTimeouts.TCPFin != 120*time.Second || g.ScriptGroup != "nogroup" {
		t.Errorf("global: %+v", g)
	}
	in := cfg.Instances[0]
	if in.Preempt || in.PreemptDelay != 10*time.Second || in.Accept || !in.LowerPrioNoAdvert || in.GARP.MasterDelay != 6*time.Second ||
		in.GARP.Interval != time.Millisecond || in.SyncGroup != "SG" || len(in.VIPs) != 4 || in.VIPs[2].Broadcast != netip.MustParseAddr("198.18.0.255") {
		t.Errorf("VI_4: %+v", in)
	}
	if in6 := cfg.Instances[1]; in6.Version != 3 || in6.AdvertInt != 500*time.Millisecond || in6.UnicastPeers[0].MinTTL != 250 || !in6.CheckUnicastSrc {
		t.Errorf("VI_6: %+v", in6)
	}
	web := cfg.VirtualServers[0]
	if !web.Flags.MHPort || !web.Flags.MHFallback || web.PersistenceGranularity != 24 || web.SorryServer.Method != TUN || !web.SorryServer.Inhibit {
		t.Errorf("WEB: %+v", web)
	}
	rs := web.RealServers[0]
	if rs.Port != 0 || rs.Weight != 3 || rs.InhibitOnFailure || !rs.Alpha {
		t.Errorf("WEB real server: %+v", rs)
	}
	h := rs.Checkers[0]
	if h.Retry != 3 || h.DelayLoop != 2*time.Second || h.Alpha || h.HTTP.URLs[0].Regex != `(?im)^OK\s` || h.HTTP.URLs[1].VirtualHost != "checker.example.test" ||
		!cmp.Equal(h.HTTP.URLs[0].StatusCodes, []StatusRange{{200, 299}, {301, 301}, {302, 302}}) {
		t.Errorf("HTTP_GET: %+v %+v", h, h.HTTP)
	}
	// Inherited from the real server, then the virtual server, then defaults.
	tcp := rs.Checkers[2]
	if tcp.DelayLoop != 4*time.Second || tcp.Retry != 1 || tcp.ConnectTimeout != 2*time.Second || !tcp.Alpha || !tcp.LogAllFailures {
		t.Errorf("TCP_CHECK: %+v", tcp)
	}
	udp := rs.Checkers[4].UDP
	if !cmp.Equal(udp.Payload, []byte{1, 2, 0x0a}) || !cmp.Equal(udp.Reply, []byte{1, 0}) || !cmp.Equal(udp.ReplyMask, []byte{0xff, 0}) {
		t.Errorf("UDP_CHECK: %+v", udp)
	}
	misc := rs.Checkers[6]
	if !cmp.Equal(misc.Misc.Script.Args, []string{"/usr/local/bin/check", "two words"}) || misc.Misc.Script.User != "nobody" || misc.Retry != 0 || !misc.Alpha {
		t.Errorf("MISC_CHECK: %+v %+v", misc, misc.Misc.Script)
	}
	dns := cfg.VirtualServers[1]
	if !dns.Flags.SHPort || !dns.Flags.SHFallback || !dns.Flags.OnePacket || dns.RealServers[1].Port != 53 || dns.RealServers[1].Weight != 0 {
		t.Errorf("DNS service: %+v", dns)
	}
	v6 := cfg.VirtualServers[3]
	if v6.PersistenceTimeout != 360*time.Second || v6.PersistenceGranularity != 64 {
		t.Errorf("IPv6 service: %+v", v6)
	}
}

// TestRoundTrip checks that Format writes what Parse reads back into the
// same model, for the examples and the keyword file.
func TestRoundTrip(t *testing.T) {
	for _, f := range []string{"testdata/all.conf", "../examples/seed-http-fixed.conf", "../examples/seed-galera-fixed.conf"} {
		t.Run(f, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, src)
		})
	}
}

func roundTrip(t *testing.T, src []byte) {
	t.Helper()
	cfg, diags := Parse("a.conf", src, &Options{ConfigID: "main"})
	if diags.HasErrors() {
		t.Fatalf("first parse:\n%s", diags)
	}
	out := Format(cfg)
	cfg2, diags2 := Parse("b.conf", []byte(out), &Options{ConfigID: "main"})
	if diags2.HasErrors() {
		t.Fatalf("second parse:\n%s\nof:\n%s", diags2, out)
	}
	if diff := cmp.Diff(cfg, cfg2, ignorePos, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("model changed by Format and Parse (-first +second):\n%s\nformatted:\n%s", diff, out)
	}
}
