package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildGovs builds cmd/govs into a temporary directory.
func buildGovs(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "govs")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/govs").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestPageHasEveryFlag: the page names every command of govs help and
// every flag of each command's -h.
func TestPageHasEveryFlag(t *testing.T) {
	bin := buildGovs(t)
	page, err := generate(bin, "2026-12-06")
	if err != nil {
		t.Fatal(err)
	}
	help, err := output(bin, "help")
	if err != nil {
		t.Fatal(err)
	}
	cmds := parseCommands(help)
	if len(cmds) < 6 {
		t.Fatalf("commands: %+v", cmds)
	}
	n := 0
	for _, c := range cmds {
		if !strings.Contains(string(page), ".SS govs "+c.name+"\n") {
			t.Errorf("no section for govs %s", c.name)
		}
		usage, err := output(bin, c.name, "-h")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range parseFlags(usage) {
			n++
			if !strings.Contains(string(page), `\-`+esc(f.name)) {
				t.Errorf("govs %s -%s is not on the page", c.name, f.name)
			}
			if f.help == "" {
				t.Errorf("govs %s -%s has no help", c.name, f.name)
			}
		}
	}
	if n < 15 {
		t.Errorf("only %d flags found", n)
	}
	for _, want := range []string{".TH GOVS 8", ".SH SIGNALS", "SIGHUP", "/run/govs/govs.sock", ".SH EXIT STATUS", "keepalived.conf (5)"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	path := filepath.Join(t.TempDir(), "govs.8")
	if err := os.WriteFile(path, page, 0o644); err != nil {
		t.Fatal(err)
	}
	rendered := false
	// groff -ww -z: every roff warning, no output.
	if groff, err := exec.LookPath("groff"); err == nil {
		rendered = true
		out, err := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", path).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("groff -ww: %v\n%s", err, out)
		}
	}
	if man, err := exec.LookPath("man"); err == nil {
		rendered = true
		out, err := exec.Command(man, "-l", path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "govs run") {
			t.Errorf("man -l: %v\n%s", err, out)
		}
	}
	if !rendered {
		t.Log("neither groff nor man is installed: the page is not rendered")
	}
}

// TestPageDate: $SOURCE_DATE_EPOCH dates the page, for a reproducible
// build; without it, today.
func TestPageDate(t *testing.T) {
	now := time.Date(2027, 3, 4, 23, 0, 0, 0, time.UTC)
	for _, c := range []struct{ epoch, want string }{
		{"1700000000", "2023-11-14"},
		{"", "2027-03-04"},
		{"not a number", "2027-03-04"},
	} {
		if got := pageDate(c.epoch, now); got != c.want {
			t.Errorf("pageDate(%q) = %s, want %s", c.epoch, got, c.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	usage := "Usage of govs list:\n  -json\n    \tprint JSON\n  -n\tnumeric output (default true)\n  -socket path\n    \tadmin socket path\n    \tsecond line\n"
	got := parseFlags(usage)
	want := []flagDoc{{"json", "", "print JSON"}, {"n", "", "numeric output (default true)"}, {"socket", "path", "admin socket path second line"}}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("flag %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestInstall runs make install into a DESTDIR and checks the unit with
// systemd-analyze verify, against the installed binary and man page.
func TestInstall(t *testing.T) {
	for _, p := range []string{"make", "systemd-analyze"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed (make deps installs it)", p)
		}
	}
	dest := t.TempDir()
	cmd := exec.Command("make", "-s", "install", "DESTDIR="+dest, "PREFIX=/usr")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, f := range []string{"usr/sbin/govs", "usr/share/man/man8/govs.8", "etc/systemd/system/govs.service"} {
		if _, err := os.Stat(filepath.Join(dest, f)); err != nil {
			t.Errorf("make install: %v", err)
		}
	}
	unit, err := os.ReadFile(filepath.Join(dest, "etc/systemd/system/govs.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/sbin/govs run") {
		t.Errorf("ExecStart does not follow PREFIX:\n%s", unit)
	}
	// verify wants ExecStart's binary where it says: point it at the
	// installed one.
	check := filepath.Join(t.TempDir(), "govs.service")
	if err := os.WriteFile(check, []byte(strings.ReplaceAll(string(unit), "/usr/sbin/govs", filepath.Join(dest, "usr/sbin/govs"))), 0o644); err != nil {
		t.Fatal(err)
	}
	v := exec.Command("systemd-analyze", "verify", check)
	v.Env = append(os.Environ(), "MANPATH="+filepath.Join(dest, "usr/share/man"))
	if out, err := v.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, want := range []string{"Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW", "StandardError=journal"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
}
