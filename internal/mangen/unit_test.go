package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// unitPath is the systemd unit make install installs.
const unitPath = "../../contrib/govs.service"

// unitSettings reads a unit's KEY=VALUE lines (sections ignored) and its
// comment lines.
func unitSettings(t *testing.T, text string) (map[string][]string, []string) {
	t.Helper()
	settings := map[string][]string{}
	var comments []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "["):
		case strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			comments = append(comments, line)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: not KEY=VALUE: %q", unitPath, line)
			}
			settings[k] = append(settings[k], v)
		}
	}
	return settings, comments
}

// TestUnit: contrib/govs.service runs govs run as a notify service with
// CAP_NET_ADMIN, CAP_NET_RAW and the capabilities scripts run as
// script_user need, each explained in a comment, and no other; and
// systemd-analyze verify accepts it, ExecStart pointing at a govs built
// here and Documentation at the page generated from it.
func TestUnit(t *testing.T) {
	text, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	settings, comments := unitSettings(t, string(text))
	for k, want := range map[string]string{
		"Type":                    "notify",
		"NotifyAccess":            "main",
		"ExecStart":               "/usr/local/sbin/govs run -f /etc/keepalived/keepalived.conf",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"StandardOutput":          "journal",
		"StandardError":           "journal",
		"Restart":                 "on-failure",
		"RuntimeDirectory":        "govs",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"NoNewPrivileges":         "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallArchitectures": "native",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET",
		"Documentation":           "man:govs(8)",
	} {
		if got := settings[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if v, ok := settings["PrivateNetwork"]; ok {
		t.Errorf("PrivateNetwork=%q: govs serves the host's network", v)
	}

	// The capabilities: these and no others, the same ambient and
	// bounding, each with its reason.
	want := []string{"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SETUID", "CAP_SETGID", "CAP_KILL"}
	for _, k := range []string{"CapabilityBoundingSet", "AmbientCapabilities"} {
		v := settings[k]
		if len(v) != 1 {
			t.Fatalf("%s=%q, want one line", k, v)
		}
		got := strings.Fields(v[0])
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
			t.Errorf("%s=%s, want %s", k, v[0], strings.Join(want, " "))
		}
	}
	for _, c := range want {
		if !slices.ContainsFunc(comments, func(l string) bool { return strings.Contains(l, c) }) {
			t.Errorf("no comment says why the unit keeps %s", c)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (make deps installs systemd): the unit is not verified")
	}
	bin := buildGovs(t)
	page, err := generate(bin, "2026-12-06")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	man := filepath.Join(dir, "man")
	if err := os.MkdirAll(filepath.Join(man, "man8"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(man, "man8", "govs.8"), page, 0o644); err != nil {
		t.Fatal(err)
	}
	// verify wants ExecStart's program where the unit says.
	unit := filepath.Join(dir, "govs.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(text), "/usr/local/sbin/govs", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	v := exec.Command(analyze, "verify", unit)
	v.Env = append(os.Environ(), "MANPATH="+man)
	if out, err := v.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unitPath, err, out)
	}
}
