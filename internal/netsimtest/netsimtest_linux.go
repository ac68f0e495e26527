package netsimtest

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/govs-lb/govs/netsim"
)

// New returns an empty lab that is closed when the test ends, whether it
// passes, fails or panics. It skips the test when not root. The lab logs
// through t.Log.
func New(tb testing.TB) *netsim.Lab {
	tb.Helper()
	RequireRoot(tb)
	lab, err := netsim.New(&netsim.Options{Logger: Logger(tb)})
	if err != nil {
		tb.Fatalf("create lab: %v", err)
	}
	tb.Cleanup(func() {
		if err := lab.Close(); err != nil {
			tb.Errorf("close lab: %v", err)
		}
	})
	return lab
}

// RequireRoot skips the test unless it runs as root.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to create network namespaces")
	}
}

// RequireProgram skips the test unless the program is installed, and
// returns its path.
func RequireProgram(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		tb.Skipf("%s is not installed (make deps installs it)", name)
	}
	return path
}

// Eventually calls fn until it returns nil or timeout passes, then fails
// the test with fn's last error.
func Eventually(tb testing.TB, timeout time.Duration, fn func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Logger returns a logger that writes debug lines through tb.Log, so they
// show with -v or when the test fails.
func Logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(b []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}
