package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func parseString(t *testing.T, src string) (*Config, []string) {
	t.Helper()
	cfg, diags := Parse("t.conf", []byte(src), &Options{ConfigID: "main"})
	return cfg, diagStrings(diags)
}

func TestParseBraces(t *testing.T) {
	for _, tt := range []struct {
		name  string
		src   string
		diags []string
	}{
		{
			name: "block opened on the next line",
			src:  "global_defs\n{\n  router_id x\n}\n",
		},
		{
			name:  "unclosed block names the line of its brace",
			src:   "global_defs {\n  router_id x\n",
			diags: []string{"t.conf:1:13: error: global_defs: this '{' is never closed (a '}' is missing at the end of the block that starts here)"},
		},
		{
			name:  "extra closing brace",
			src:   "global_defs {\n}\n}\n",
			diags: []string{"t.conf:3:1: error: unexpected '}': no block is open here"},
		},
		{
			name:  "brace without keyword",
			src:   "{ router_id x }\n",
			diags: []string{"t.conf:1:1: error: '{' without a keyword before it"},
		},
		{
			name:  "block after a keyword that takes none",
			src:   "global_defs {\n router_id x { }\n}\n",
			diags: []string{"t.conf:2:14: error: router_id does not take a { } block"},
		},
		{
			name:  "missing block",
			src:   "global_defs\nvrrp_script s { script /bin/true }\n",
			diags: []string{"t.conf:1:1: error: global_defs needs a { } block"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := parseString(t, tt.src)
			if diff := cmp.Diff(tt.diags, diags); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeywordFindings(t *testing.T) {
	const vs = "virtual_server 198.18.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind DR\n%s\n real_server 198.18.1.1 80 {\n }\n}\n"
	for _, tt := range []struct {
		name  string
		src   string
		diags []string
	}{
		{
			name:  "misspelt keyword gets a suggestion",
			src:   strings.Replace(vs, "lb_algo rr", "lb_alog rr", 1),
			diags: []string{"t.conf:1:1: warning: virtual_server 198.18.0.1 80 has no lvs_sched; wlc is used, as keepalived does", `t.conf:3:2: error: unknown keyword "lb_alog" in virtual_server 198.18.0.1 80 (did you mean lb_algo?)`},
		},
		{
			name:  "keyword of another block",
			src:   strings.Replace(vs, "%s", " priority 100", 1),
			diags: []string{"t.conf:5:2: error: priority is not valid in virtual_server 198.18.0.1 80; it belongs in vrrp_instance"},
		},
		{
			name:  "ignored keyword warns",
			src:   strings.Replace(vs, "%s", " smtp_alert", 1),
			diags: []string{"t.conf:5:2: warning: smtp_alert is not supported by govs and is ignored: govs sends no e-mail"},
		},
		{
			name:  "NAT is refused",
			src:   strings.Replace(vs, "lb_kind DR", "lb_kind NAT", 1),
			diags: []string{"t.conf:4:10: error: lb_kind NAT is not supported by govs: govs forwards by direct routing (DR) or IPIP tunnelling (TUN), and real servers answer clients directly"},
		},
		{
			name:  "no lb_kind means keepalived's NAT",
			src:   strings.Replace(vs, " lb_kind DR\n", "", 1),
			diags: []string{"t.conf:1:1: error: virtual_server 198.18.0.1 80 has no lvs_method (lb_kind): keepalived's default is NAT, which govs does not implement; set lvs_method DR or TUN"},
		},
		{
			name:  "lblc is refused",
			src:   strings.Replace(vs, "lb_algo rr", "lb_algo lblc", 1),
			diags: []string{"t.conf:3:10: error: lb_algo lblc is not supported by govs: locality-based schedulers are for cache clusters; use mh or sh for stickiness by address"},
		},
		{
			name:  "unknown scheduler",
			src:   strings.Replace(vs, "lb_algo rr", "lb_algo wrrr", 1),
			diags: []string{`t.conf:3:10: error: lb_algo: "wrrr" is not a scheduler (did you mean wrr?)`},
		},
		{
			name:  "unsupported checker is refused",
			src:   strings.Replace(vs, " }\n}", "  SMTP_CHECK {\n  }\n }\n}", 1),
			diags: []string{"t.conf:7:3: error: SMTP_CHECK is not supported by govs: SMTP_CHECK is not implemented; the real server would count as always up"},
		},
		{
			name:  "duplicate real server",
			src:   strings.Replace(vs, "%s", " real_server 198.18.1.1 80 {\n }", 1),
			diags: []string{"t.conf:7:2: error: virtual_server 198.18.0.1 80: real_server 198.18.1.1:80 is given twice (first at line 5)"},
		},
		{
			name:  "port range",
			src:   strings.Replace(vs, "198.18.1.1 80", "198.18.1.1 65536", 1),
			diags: []string{"t.conf:1:1: warning: virtual_server 198.18.0.1 80 has no real servers", "t.conf:6:25: error: real_server: 65536 is out of range 0-65535"},
		},
		{
			name:  "DR real server port is reset to the service's, as keepalived",
			src:   strings.Replace(vs, "198.18.1.1 80", "198.18.1.1 8080", 1),
			diags: []string{"t.conf:6:2: warning: virtual_server 198.18.0.1 80: real_server 198.18.1.1 port 8080 differs from the service's 80; DR cannot change ports, so 80 is used, as keepalived does"},
		},
		{
			name:  "no protocol means keepalived's UDP",
			src:   strings.Replace(vs, " protocol TCP\n", "", 1),
			diags: []string{"t.conf:1:1: warning: virtual_server 198.18.0.1 80 has no protocol; UDP is used, as keepalived does (add protocol TCP or UDP)"},
		},
		{
			name:  "fwmark service is refused",
			src:   "virtual_server fwmark 1 {\n}\n",
			diags: []string{"t.conf:1:16: error: virtual_server fwmark is not supported by govs: govs classifies packets before netfilter marks them; use an address and port or a virtual_server_group"},
		},
		{
			name:  "group that does not exist",
			src:   strings.Replace(vs, "198.18.0.1 80", "group WEB", 1),
			diags: []string{"t.conf:1:1: error: virtual_server group WEB: no virtual_server_group is named WEB"},
		},
		{
			name:  "same service twice",
			src:   vs + "virtual_server_group G {\n 198.18.0.0-198.18.0.9 80\n}\n" + strings.Replace(vs, "198.18.0.1 80", "group G", 1),
			diags: []string{"t.conf:10:2: error: virtual service 198.18.0.1:80/TCP is defined twice (also at line 1)"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(tt.src, "%s", "", -1)
			_, diags := parseString(t, src)
			if diff := cmp.Diff(tt.diags, diags); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s\nsource:\n%s", diff, src)
			}
		})
	}
}

func TestVRRPFindings(t *testing.T) {
	const in = "vrrp_instance VI {\n interface eth0\n%v\n%s\n virtual_ipaddress {\n  198.18.0.10/24\n }\n}\n"
	for _, tt := range []struct {
		name  string
		extra string
		diags []string
	}{
		{name: "priority range", extra: " priority 256", diags: []string{"t.conf:4:11: error: priority: 256 is out of range 1-255"}},
		{name: "vrid range", extra: " virtual_router_id 0", diags: []string{"t.conf:3:20: error: virtual_router_id: 0 is out of range 1-255"}},
		{
			// keepalived: "(VI) Warning - nopreempt will not work with initial state MASTER - clearing"
			name:  "nopreempt with MASTER",
			extra: " state MASTER\n nopreempt",
			diags: []string{"t.conf:5:2: warning: vrrp_instance VI: nopreempt does not work with state MASTER; it is ignored, as keepalived does (use state BACKUP on every node)"},
		},
		{
			// keepalived: "(VI) VRRP version 3 does not support authentication. Ignoring."
			name:  "VRRPv3 ignores authentication",
			extra: " version 3\n authentication {\n  auth_type PASS\n  auth_pass x\n }",
			diags: []string{"t.conf:6:13: warning: vrrp_instance VI: VRRP version 3 does not support authentication; it is ignored"},
		},
		{
			// keepalived: "Truncating auth_pass to 8 characters"
			name:  "long auth_pass",
			extra: " authentication {\n  auth_type PASS\n  auth_pass 123456789\n }",
			diags: []string{`t.conf:6:13: warning: vrrp_instance VI: auth_pass is longer than 8 characters; only the first 8 ("12345678") are used, as keepalived does`},
		},
		{name: "unknown track_script", extra: " track_script {\n  chk_nginx\n }", diags: []string{"t.conf:5:3: error: vrrp_instance VI: track_script chk_nginx names no vrrp_script"}},
		{name: "bad VIP", extra: " virtual_ipaddress {\n  198.18.0.300/24\n }", diags: []string{`t.conf:5:3: error: virtual_ipaddress: "198.18.0.300/24" is not an IPv4 or IPv6 address with an optional /prefix`}},
		{name: "VIP options", extra: " virtual_ipaddress {\n  198.18.0.11/24 dev eth1 scope site label eth1:1 brd +\n }"},
		{name: "owner without state starts MASTER", extra: " priority 255"},
		{name: "bad state", extra: " state SLAVE", diags: []string{`t.conf:4:8: error: state: "SLAVE" is not MASTER or BACKUP`}},
		{name: "v2 advert_int is whole seconds", extra: " advert_int 0.5", diags: []string{"t.conf:4:13: warning: vrrp_instance VI: VRRPv2 advert_int must be whole seconds; 0.5 rounded to 1"}},
		{name: "virtual_routes refused", extra: " virtual_routes {\n  198.18.5.0/24 via 198.18.0.1\n }", diags: []string{"t.conf:4:2: error: virtual_routes is not supported by govs: govs does not install routes or rules; the master would not route as configured"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(in, "%s", tt.extra, 1)
			if strings.Contains(tt.extra, "virtual_router_id") {
				src = strings.Replace(src, "%v\n", "", 1)
			} else {
				src = strings.Replace(src, "%v", " virtual_router_id 7", 1)
			}
			_, diags := parseString(t, src)
			if diff := cmp.Diff(tt.diags, diags); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s\nsource:\n%s", diff, src)
			}
		})
	}
}

func TestDuplicateVRID(t *testing.T) {
	src := "vrrp_instance A {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n  198.18.0.1\n }\n}\n" +
		"vrrp_instance B {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n  198.18.0.2\n }\n}\n"
	_, diags := parseString(t, src)
	want := []string{"t.conf:8:1: error: vrrp_instance A and B both use virtual_router_id 5 on eth0"}
	if diff := cmp.Diff(want, diags); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
}

func TestInclude(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("conf.d/b.conf", "vrrp_script b {\n script /bin/true\n}\n")
	write("conf.d/a.conf", "vrrp_script a {\n script /bin/true\n}\n")
	write("conf.d/skip.txt", "garbage here\n")
	write("other/c.conf", "vrrp_script c {\n script /bin/true\n}\n")
	write("loop1.conf", "include loop2.conf\n")
	write("loop2.conf", "include loop1.conf\n")
	write("inner.conf", "  router_id inside\n")

	for _, tt := range []struct {
		name    string
		src     string
		scripts []string
		diags   []string
	}{
		{name: "glob relative to the including file, in order", src: "include conf.d/*.conf\n", scripts: []string{"a", "b"}},
		{name: "brace expression", src: "include {conf.d/b,other/c}.conf\n", scripts: []string{"b", "c"}},
		{name: "include inside a block", src: "global_defs {\ninclude inner.conf\n}\n"},
		{name: "no match is an error", src: "include nothing/*.conf\n", diags: []string{`main.conf:1:9: error: include "nothing/*.conf" matches no file (use includer for an optional include)`}},
		{name: "includer allows no match", src: "includer nothing/*.conf\n"},
		{name: "includeb wants every brace to match", src: "includeb {conf.d/a,none}.conf\n", scripts: []string{"a"}, diags: []string{`main.conf:1:10: error: includeb "{conf.d/a,none}.conf": "` + dir + `/none.conf" matches no file`}},
		{name: "cycle", src: "include loop1.conf\n", diags: []string{`loop2.conf:1:9: error: include "loop1.conf": include cycle: ` + dir + "/loop1.conf includes " + dir + "/loop2.conf includes " + dir + "/loop1.conf"}},
		{name: "self include", src: "include main.conf\n", diags: []string{`main.conf:1:9: error: include "main.conf": include cycle: ` + dir + "/main.conf includes " + dir + "/main.conf"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			main := write("main.conf", tt.src)
			cfg, diags := loadFile(t, main)
			var got []string
			for _, s := range cfg.VRRPScripts {
				got = append(got, s.Name)
			}
			if diff := cmp.Diff(tt.scripts, got); diff != "" {
				t.Errorf("scripts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.diags, diagStrings(diags)); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBadInput feeds what an operator should never write but might, and
// checks that each gets an error promptly rather than a panic or a hang.
func TestBadInput(t *testing.T) {
	deep := strings.Repeat("a {\n", 10000) + strings.Repeat("}\n", 10000)
	unbalanced := strings.Repeat("{", 100000)
	big := strings.Repeat("virtual_server 198.18.0.1 80 {\nprotocol TCP\nlb_kind DR\nlb_algo rr\nreal_server 198.18.0.2 80 {\nweight 1\n}\n}\n", 90000)
	garbage := make([]byte, 1<<20)
	for i := range garbage {
		garbage[i] = byte(i*7919+i>>3)%95 + 32
	}
	for _, tt := range []struct {
		name string
		src  string
		want string // a substring of one error
	}{
		{"braces nested 10,000 deep", deep, "blocks nested more than 32 deep"},
		{"100,000 open braces", unbalanced, "'{' without a keyword before it"},
		{"10 MB file", big, "is defined twice"},
		{"printable garbage", string(garbage), "unknown keyword"},
		{"binary", "\x7fELF\x02\x01\x01\x00\x00\x00", "NUL byte"},
		{"only a closing brace", "}", "no block is open"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, diags := Parse("t.conf", []byte(tt.src), nil)
			if !diags.HasErrors() {
				t.Fatalf("no error")
			}
			found := false
			for _, d := range diags {
				found = found || d.Severity == Error && strings.Contains(d.Msg, tt.want)
			}
			if !found {
				t.Errorf("no error contains %q; got:\n%s", tt.want, diags)
			}
			if len(diags) > maxDiagnostics+1 {
				t.Errorf("%d diagnostics, want at most %d", len(diags), maxDiagnostics+1)
			}
			t.Logf("%d bytes in %v", len(tt.src), time.Since(start))
		})
	}
}
