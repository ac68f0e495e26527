package check

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/internal/script"
)

// scriptDir copies scripts from testdata into a fresh directory that any
// user may enter, executable, and returns the directory's resolved path.
func scriptDir(t testing.TB, names ...string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "govs-check-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err = filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func requireRoot(t testing.TB) { netsimtest.RequireRoot(t) }

func requirePerl(t testing.TB) { netsimtest.RequireProgram(t, "perl") }

// miscConfig is a virtual server with one real server checked by
// MISC_CHECK with that block body.
func miscConfig(global, body string) string {
	return global + oneServer("", "MISC_CHECK {\n"+body+"\n}")
}

func lines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestMiscArgv: the script runs without a shell, with the arguments split
// as keepalived splits misc_path, by its resolved path (keeping the name
// of a link to it), as root by default, with /dev/null on 0, 1 and 2.
func TestMiscArgv(t *testing.T) {
	requireRoot(t)
	requirePerl(t)
	dir := scriptDir(t, "argv.pl")
	if err := os.Symlink("argv.pl", filepath.Join(dir, "link.pl")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	path := `misc_path "` + dir + `/./link.pl ` + out + ` 'a b' \"c\" $HOME ; |x"`
	r, _ := probeOnce(t, miscConfig("", path), 0)
	if !r.ok {
		t.Fatalf("script failed: %s", r.reason)
	}
	// \" is an escaped quote in keepalived.conf: the split removes it.
	want := []string{dir + "/link.pl", out, "a b", "c", "$HOME", ";", "|x", "uid=0 gid=0",
		"fd0=/dev/null", "fd1=/dev/null", "fd2=/dev/null"}
	if diff := cmp.Diff(want, lines(t, out)); diff != "" {
		t.Errorf("what the script saw (-want +got)\n%s", diff)
	}
}

func TestMiscUser(t *testing.T) {
	requireRoot(t)
	requirePerl(t)
	if u, err := user.Lookup("nobody"); err != nil || u.Uid != "65534" {
		t.Skip("no user nobody with uid 65534")
	}
	dir := scriptDir(t, "argv.pl")
	outDir := filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(outDir, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, global, user, want string }{
		{"user", "", "user nobody", "uid=65534 gid=65534"},
		{"user and group", "", "user nobody root", "uid=65534 gid=0"},
		{"script_user", "global_defs {\n script_user nobody\n}\n", "", "uid=65534 gid=65534"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(outDir, strings.ReplaceAll(tt.name, " ", "-"))
			r, _ := probeOnce(t, miscConfig(tt.global, "misc_path \""+dir+"/argv.pl "+out+"\"\n"+tt.user), 0)
			if !r.ok {
				t.Fatalf("script failed: %s", r.reason)
			}
			if got := lines(t, out); got[2] != tt.want {
				t.Errorf("ran as %q, want %q", got[2], tt.want)
			}
		})
	}
}

// TestMiscExit: exit 0 passes, others fail; with misc_dynamic 2..255 pass.
func TestMiscExit(t *testing.T) {
	dir := scriptDir(t, "exit.sh", "noshebang")
	tests := []struct {
		cmd     string
		dynamic bool
		ok      bool
		status  int
	}{
		{"exit.sh 0", false, true, 0},
		{"exit.sh 1", false, false, 1},
		{"exit.sh 2", false, false, 2},
		{"exit.sh 0", true, true, 0},
		{"exit.sh 1", true, false, 1},
		{"exit.sh 2", true, true, 2},
		{"exit.sh 255", true, true, 255},
		{"noshebang", false, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.cmd+" dynamic="+strconv.FormatBool(tt.dynamic), func(t *testing.T) {
			body := "misc_path \"" + dir + "/" + tt.cmd + "\""
			if tt.dynamic {
				body += "\nmisc_dynamic"
			}
			r, _ := probeOnce(t, miscConfig("", body), 0)
			if r.ok != tt.ok || r.status != tt.status {
				t.Errorf("ok=%v status=%d (%s), want ok=%v status=%d", r.ok, r.status, r.reason, tt.ok, tt.status)
			}
		})
	}
	// A bare name is looked up in PATH.
	r, _ := probeOnce(t, miscConfig("", `misc_path "true"`), 0)
	if !r.ok {
		t.Errorf("true from PATH: %s", r.reason)
	}
}

// TestMiscTimeout: a script that never exits, and its child, are killed
// at misc_timeout; one that ignores SIGTERM gets SIGKILL two seconds later.
func TestMiscTimeout(t *testing.T) {
	dir := scriptDir(t, "hang.sh")
	for _, tt := range []struct {
		name, arg string
		min, max  time.Duration
	}{
		{"SIGTERM", "", time.Second, 1800 * time.Millisecond},
		{"SIGKILL", "ignore-term", 3 * time.Second, 3800 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pidFile := filepath.Join(dir, "pid-"+tt.name)
			r, d := probeOnce(t, miscConfig("", "misc_path \""+dir+"/hang.sh "+pidFile+" "+tt.arg+"\"\nmisc_timeout 1"), 0)
			if r.ok || !r.timedOut {
				t.Errorf("ok=%v timedOut=%v (%s), want a timeout", r.ok, r.timedOut, r.reason)
			}
			if d < tt.min || d > tt.max {
				t.Errorf("ended after %v, want between %v and %v", d, tt.min, tt.max)
			}
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatal(err)
			}
			child, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			netsimtest.Eventually(t, 2*time.Second, func() error {
				if alive(child) {
					return errf("the script's child %d is still running", child)
				}
				return nil
			})
		})
	}
}

// TestMiscStop: stopping Run kills a running script at once.
func TestMiscStop(t *testing.T) {
	dir := scriptDir(t, "hang.sh")
	_, c := realChecker(t, miscConfig("", "misc_path \""+dir+"/hang.sh "+dir+"/pid\"\nmisc_timeout 100"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- c.prober.probe(ctx, 0) }()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("the script still runs after the context ended")
	}
}

// TestScriptSecurity: with enable_script_security, a script a non-root
// user could change is refused and its MISC_CHECK dropped, as keepalived
// does; without it, it runs.
func TestScriptSecurity(t *testing.T) {
	requireRoot(t)
	const secure = "global_defs {\n enable_script_security\n script_user root\n}\n"
	tests := []struct {
		name    string
		global  string
		prepare func(dir string) error
		runs    bool
	}{
		{"secure", secure, nil, true},
		{"world-writable script", secure, func(dir string) error { return os.Chmod(dir+"/exit.sh", 0o757) }, false},
		{"world-writable script without security", "", func(dir string) error { return os.Chmod(dir+"/exit.sh", 0o757) }, true},
		{"group-writable directory", secure, func(dir string) error {
			if err := os.Chown(dir, 0, 65534); err != nil {
				return err
			}
			return os.Chmod(dir, 0o775)
		}, false},
		{"directory owned by another user", secure, func(dir string) error { return os.Chown(dir, 65534, 0) }, false},
		{"group-writable by root's group", secure, func(dir string) error { return os.Chmod(dir+"/exit.sh", 0o775) }, true},
		{"no script user", "global_defs {\n enable_script_security\n}\n", nil, false},
	}
	if _, err := user.Lookup(script.DefaultUser); err == nil {
		tests = tests[:len(tests)-1] // the default user exists here
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := scriptDir(t, "exit.sh")
			if tt.prepare != nil {
				if err := tt.prepare(dir); err != nil {
					t.Fatal(err)
				}
			}
			m := NewManager(&Options{Logger: netsimtest.Logger(t)})
			if err := m.Update(parse(t, miscConfig(tt.global, "misc_path \""+dir+"/exit.sh 0\""))); err != nil {
				t.Fatal(err)
			}
			m.mu.Lock()
			n := len(m.order[0].reals[0].checkers)
			m.mu.Unlock()
			if runs := n == 1; runs != tt.runs {
				t.Errorf("MISC_CHECK installed = %v, want %v", runs, tt.runs)
			}
		})
	}
}

// TestGaleraChecker runs the seed's galera-checker.pl unchanged, as the
// seed's configuration does. Without perl's DBI module, perl dies at
// compile time with status 2 (errno ENOENT): the real server goes down, as
// with keepalived. With misc_dynamic, 2 would mean "up with weight 0".
func TestGaleraChecker(t *testing.T) {
	requirePerl(t)
	if exec.Command("perl", "-MDBI", "-e1").Run() == nil {
		t.Skip("perl has DBI here: the script would try to reach a database")
	}
	dir := scriptDir(t, "galera-checker.pl")
	cfg := miscConfig("", "misc_path \""+dir+"/galera-checker.pl 10.20.29.140\"\nmisc_timeout 5")
	m, c := realChecker(t, cfg)
	r := c.prober.probe(context.Background(), 0)
	if r.ok || r.status != 2 {
		t.Fatalf("ok=%v status=%d (%s), want status 2", r.ok, r.status, r.reason)
	}
	fire(m, c, r.ok, r.status)
	if st, _ := m.State().Real(vsName, mustAddrPort("198.18.0.11:80")); st.Alive || st.InService {
		t.Errorf("real server %+v, want down", st)
	}

	m, c = realChecker(t, miscConfig("", "misc_path \""+dir+"/galera-checker.pl 10.20.29.140\"\nmisc_timeout 5\nmisc_dynamic"))
	r = c.prober.probe(context.Background(), 0)
	fire(m, c, r.ok, r.status)
	if st, _ := m.State().Real(vsName, mustAddrPort("198.18.0.11:80")); !st.Alive || st.Weight != 0 {
		t.Errorf("with misc_dynamic: %+v, want alive with weight 0", st)
	}
}

// alive says whether a process runs: it exists and is not a zombie
// waiting for init to reap it.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}
