package netsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
const stopGrace = 3 * time.Second

// Process is a program started inside a host. The lab stops it at Close.
type Process struct {
	host    *Host
	cmd     *exec.Cmd
	logPath string
	logFile *os.File

	done chan struct{} // closed when the process has exited
	err  error         // exit status; written before done is closed

	stopOnce sync.Once
	stopErr  error
}

// Start starts a program inside the host, with standard output and error
// going to a log file in the lab's directory (see Process.LogPath).
func (h *Host) Start(name string, args ...string) (*Process, error) {
	return h.StartCmd(exec.Command(name, args...))
}

// StartCmd starts cmd inside the host. When cmd has neither Stdout nor
// Stderr set, both go to a log file in the lab's directory. The process
// leads a process group of its own, which Stop signals, and is killed if
// this program dies.
func (h *Host) StartCmd(cmd *exec.Cmd) (*Process, error) {
	p := &Process{host: h, cmd: cmd, done: make(chan struct{})}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	// Pdeathsig fires when the thread that forked exits. Do forks on a
	// thread that is returned to the runtime, which keeps it, so in
	// practice this is the death of the program.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if cmd.Stdout == nil && cmd.Stderr == nil {
		f, err := h.lab.createFile(fmt.Sprintf("%s.%s.*.log", h.name, filepath.Base(cmd.Path)))
		if err != nil {
			return nil, err
		}
		p.logFile, p.logPath = f, f.Name()
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := h.lab.addProcess(p, func() error { return h.Do(cmd.Start) }); err != nil {
		if p.logFile != nil {
			p.logFile.Close()
		}
		return nil, fmt.Errorf("host %s: start %s: %w", h.name, cmd.Path, err)
	}
	go p.wait()
	h.lab.log.Debug("process started", "host", h.name, "cmd", cmd.String(), "pid", cmd.Process.Pid)
	return p, nil
}

// Run runs a program inside the host and returns its combined output. The
// program is killed when ctx is done.
func (h *Host) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	p, err := h.StartCmd(cmd)
	if err != nil {
		return nil, err
	}
	if err := p.Wait(); err != nil {
		return out.Bytes(), fmt.Errorf("host %s: %s: %w: %s", h.name, cmd, err, bytes.TrimSpace(out.Bytes()))
	}
	return out.Bytes(), nil
}

// addProcess starts p under the lab's lock, so that Close either sees the
// process or refuses to start it.
func (l *Lab) addProcess(p *Process, start func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if err := start(); err != nil {
		return err
	}
	l.procs = slices.DeleteFunc(l.procs, (*Process).exited)
	l.procs = append(l.procs, p)
	return nil
}

func (p *Process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// createFile creates a new file in the lab's directory; pattern is as for
// os.CreateTemp.
func (l *Lab) createFile(pattern string) (*os.File, error) {
	f, err := os.CreateTemp(l.dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", l.name, err)
	}
	return f, nil
}

func (p *Process) wait() {
	p.err = p.cmd.Wait()
	if p.logFile != nil {
		p.logFile.Close()
	}
	close(p.done)
}

// Pid returns the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// LogPath returns the file holding the process's output, or "" when the
// caller gave its own Stdout or Stderr.
func (p *Process) LogPath() string { return p.logPath }

// Log returns what the process has written to its log file so far.
func (p *Process) Log() string {
	if p.logPath == "" {
		return ""
	}
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and returns its exit status.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Signal sends sig to the process's group.
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return os.ErrProcessDone
	default:
	}
	if err := unix.Kill(-p.cmd.Process.Pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal process group %d: %w", p.cmd.Process.Pid, err)
	}
	return nil
}

// Stop ends the process: SIGTERM to its group, then SIGKILL after a grace
// period. It returns once the process has exited, and an error only if it
// could not be stopped.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		if err := p.Signal(syscall.SIGTERM); errors.Is(err, os.ErrProcessDone) {
			return
		}
		t := time.NewTimer(stopGrace)
		defer t.Stop()
		select {
		case <-p.done:
			return
		case <-t.C:
		}
		p.Signal(syscall.SIGKILL)
		t.Reset(stopGrace)
		select {
		case <-p.done:
		case <-t.C:
			p.stopErr = fmt.Errorf("process %d did not exit after SIGKILL", p.cmd.Process.Pid)
		}
	})
	return p.stopErr
}
