package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary text to the whole configuration layer. It must
// never panic or hang, every finding must name a place, and a configuration
// without errors must survive Format and Parse unchanged.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/all.conf", "../examples/*.conf", "testdata/fuzz-seeds/*.conf"} {
		files, _ := filepath.Glob(p)
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	f.Add([]byte("vrrp_instance a { interface e virtual_router_id 1 virtual_ipaddress { 198.18.0.1 } }"))
	f.Add([]byte("$X=1\n@main a $X\ninclude nothing\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		opts := &Options{
			ConfigID: "main",
			// The fuzzer must not read the machine's files.
			ReadFile: func(string) ([]byte, error) { return nil, os.ErrNotExist },
			Glob:     func(string) ([]string, error) { return nil, nil },
		}
		// A hang is a finding too: the fuzzer has no per-input timeout.
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				panic(fmt.Sprintf("Parse of %d bytes takes more than 3 s: %q", len(src), src))
			}
		}()
		cfg, diags := Parse("f.conf", src, opts)
		if cfg == nil {
			t.Fatal("nil Config")
		}
		for _, d := range diags {
			if d.Severity != Error && d.Severity != Warning {
				t.Fatalf("bad severity: %v", d)
			}
			if d.Pos.File == "" {
				t.Fatalf("finding without a file: %v", d)
			}
			if strings.Contains(d.Msg, "internal error") {
				t.Fatalf("%v", d)
			}
		}
		if diags.HasErrors() {
			return
		}
		out := Format(cfg)
		cfg2, diags2 := Parse("g.conf", []byte(out), opts)
		if diags2.HasErrors() {
			t.Fatalf("formatted configuration does not parse:\n%s\n%s", diags2, out)
		}
		if !modelsEqual(cfg, cfg2) {
			t.Fatalf("model changed by Format and Parse; formatted:\n%s", out)
		}
	})
}

// FuzzSplitCommand checks that quoting a command's arguments and splitting
// them again gives them back.
func FuzzSplitCommand(f *testing.F) {
	f.Add(`/bin/sh -c 'exit 1'`)
	f.Add(`"/opt/my script" a\ b {x} $HOME`)
	f.Fuzz(func(t *testing.T, s string) {
		args, err := SplitCommand(s)
		if err != nil || len(args) == 0 {
			return
		}
		sc := &Script{Args: args}
		again, err := SplitCommand(sc.String())
		if err != nil {
			t.Fatalf("SplitCommand(%q): %v", sc.String(), err)
		}
		if strings.Join(again, "\x00") != strings.Join(args, "\x00") {
			t.Fatalf("%q -> %q -> %q", args, sc.String(), again)
		}
	})
}
