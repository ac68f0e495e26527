package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func runGovs(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckSeedHTTP(t *testing.T) {
	code, out, _ := runGovs("check", "-f", "../../examples/seed-http.conf")
	if code != exitFindings {
		t.Errorf("exit %d, want %d", code, exitFindings)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	finding := regexp.MustCompile(`^\.\./\.\./examples/seed-http\.conf:\d+:\d+: (error|warning): .+$`)
	for _, l := range lines[:len(lines)-1] {
		if !finding.MatchString(l) {
			t.Errorf("finding %q is not FILE:LINE:COL: severity: message", l)
		}
	}
	for _, want := range []string{":53:17: error: real_server: \"10.20.30.321\"", ":79:17: error:", ":8:9: error: vrrp_sync_group OX_GROUP: instance OX_GOUP does not exist"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "FAILED: 3 errors, 0 warnings") {
		t.Errorf("summary %q", last)
	}
}

func TestCheckExitCodes(t *testing.T) {
	dir := t.TempDir()
	warnOnly := filepath.Join(dir, "warn.conf")
	os.WriteFile(warnOnly, []byte("global_defs {\n  smtp_server 198.18.0.25\n}\n"), 0o644)
	for _, tt := range []struct {
		name string
		args []string
		code int
	}{
		{"fixed copy passes", []string{"check", "-f", "../../examples/seed-galera-fixed.conf"}, exitOK},
		{"galera seed fails", []string{"check", "-f", "../../examples/seed-galera.conf"}, exitFindings},
		{"warnings pass", []string{"check", "-f", warnOnly}, exitOK},
		{"warnings fail with --strict", []string{"check", "--strict", "-f", warnOnly}, exitFindings},
		{"unreadable file", []string{"check", "-f", filepath.Join(dir, "missing.conf")}, exitUsage},
		{"directory", []string{"check", "-f", dir}, exitUsage},
		{"stray argument", []string{"check", "x.conf"}, exitUsage},
		{"unknown command", []string{"frobnicate"}, exitUsage},
		{"version", []string{"version"}, exitOK},
		{"run refuses a configuration with errors", []string{"run", "-f", "../../examples/seed-http.conf", "-socket", filepath.Join(dir, "s")}, exitFindings},
		{"list without a daemon", []string{"list", "-socket", filepath.Join(dir, "none.sock")}, exitFindings},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runGovs(tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errs)
			}
		})
	}
}

func TestCheckVerboseTable(t *testing.T) {
	code, out, _ := runGovs("check", "-v", "-f", "../../examples/seed-galera-fixed.conf")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"VRRP INSTANCE", "mysql_pool", "10.20.29.174/32 dev eth0",
		"TCP 10.20.29.175:3306  rr  DR  persistent 1800s per /24",
		"REAL SERVER", "-> 10.20.29.140:3306", "MISC_CHECK /etc/keepalived/galera-checker.pl 10.20.29.140 every 6s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
