package netsimtest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// peers are the programs that TestPeerless hides from the suite.
var peers = []string{"tcpdump", "nginx", "keepalived"}

// TestPeerless runs the whole suite with tcpdump, nginx and keepalived
// out of PATH and expects every test that needs one to skip naming it, and
// none to fail: a newcomer without make deps sees skips, not failures. It
// runs the suite a second time, so it runs only when GOVS_PEERLESS=1 (make
// test-peerless, which .ci/run calls).
func TestPeerless(t *testing.T) {
	if os.Getenv("GOVS_PEERLESS") != "1" {
		t.Skip("set GOVS_PEERLESS=1 (make test-peerless) to run the suite without tcpdump, nginx and keepalived")
	}
	bin := strippedPath(t, peers)
	for _, p := range peers {
		if path, err := lookPathIn(p, bin); err == nil {
			t.Fatalf("%s is still found in the stripped PATH at %s", p, path)
		}
	}
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin, "test", "-count=1", "-json", "./...")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "GOVS_PEERLESS=")
	}), "PATH="+bin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()

	type event struct {
		Action, Package, Test, Output string
	}
	output := map[string]*strings.Builder{} // package/test: its output
	var failed, skipped []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue // a build error's text, reported below
		}
		id := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			if output[id] == nil {
				output[id] = &strings.Builder{}
			}
			output[id].WriteString(e.Output)
		case "fail":
			failed = append(failed, id)
		case "skip":
			if e.Test != "" {
				skipped = append(skipped, id)
			}
		}
	}
	for _, id := range failed {
		if o := output[id]; o != nil && strings.Contains(id, " Test") {
			t.Errorf("%s failed without %v:\n%s", id, peers, o)
		} else {
			t.Errorf("%s failed without %v", id, peers)
		}
	}
	if runErr != nil && len(failed) == 0 {
		t.Errorf("go test: %v\n%s", runErr, stderr.String())
	}
	// Each hidden program is named by at least one skip: the suite does
	// use it, and says so.
	for _, p := range peers {
		var by []string
		for _, id := range skipped {
			if o := output[id]; o != nil && strings.Contains(o.String(), p) && strings.Contains(o.String(), "not installed") {
				by = append(by, id)
			}
		}
		if len(by) == 0 {
			t.Errorf("no test skipped naming %s", p)
		}
		t.Logf("skipped for want of %s: %s", p, strings.Join(by, ", "))
	}
}

// strippedPath makes a directory of links to every program in PATH but
// hide, and returns it, to be the whole PATH.
func strippedPath(t *testing.T, hide []string) string {
	dir := t.TempDir()
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			name := e.Name()
			if slices.Contains(hide, name) {
				continue
			}
			link := filepath.Join(dir, name)
			if _, err := os.Lstat(link); err == nil {
				continue // an earlier PATH entry wins, as in a lookup
			}
			if err := os.Symlink(filepath.Join(d, name), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func lookPathIn(name, dir string) (string, error) {
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}
