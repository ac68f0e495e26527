package vrrp

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govs-lb/govs/config"
)

// TestSystemScripts runs real programs through the system runner: exit
// status, extra arguments (as notify scripts get them), the timeout, and
// enable_script_security refusing a world-writable script.
func TestSystemScripts(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	args := write("args.sh", `echo "$@" > `+out, 0o700)
	fail := write("fail.sh", "exit 3", 0o700)
	slow := write("slow.sh", "exec sleep 5", 0o700)
	open := write("open.sh", "exit 0", 0o777)

	ctx := context.Background()
	r := SystemScripts(ScriptOptions{})
	if err := r.Run(ctx, &config.Script{Args: []string{args, "INSTANCE"}}, 0, "VI_1", "MASTER", "150"); err != nil {
		t.Fatalf("args.sh: %v", err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "INSTANCE VI_1 MASTER 150\n"; string(got) != want {
		t.Errorf("args.sh saw %q, want %q", got, want)
	}
	if err := r.Run(ctx, &config.Script{Args: []string{fail}}, 0); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("fail.sh: %v, want exit status 3", err)
	}
	start := time.Now()
	if err := r.Run(ctx, &config.Script{Args: []string{slow}}, 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("slow.sh: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("slow.sh ran %v after a 100ms timeout", d)
	}
	if err := r.Run(ctx, &config.Script{Args: []string{"/no/such/script"}}, 0); err == nil {
		t.Error("a missing script ran")
	}
	if os.Geteuid() == 0 {
		secure := SystemScripts(ScriptOptions{User: "root", Security: true})
		if err := secure.Run(ctx, &config.Script{Args: []string{open}}, 0); err == nil || !strings.Contains(err.Error(), "insecure") {
			t.Errorf("world-writable script with enable_script_security: %v, want refused", err)
		}
		if err := SystemScripts(ScriptOptions{User: "root"}).Run(ctx, &config.Script{Args: []string{open}}, 0); err != nil {
			t.Errorf("world-writable script without enable_script_security: %v, want it run", err)
		}
	}
}
