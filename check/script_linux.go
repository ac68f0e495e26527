package check

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// run runs the script and waits for it. When timeout (0: none) passes or
// ctx is done, its process group gets SIGTERM, then SIGKILL killGrace
// later; once the script is gone, what is left of its group gets SIGKILL.
// do opens the process where the checkers run (see Options.Do).
func (s *script) run(ctx context.Context, timeout time.Duration, do func(func() error) error) scriptResult {
	cmd := s.command(s.args)
	err := do(cmd.Start)
	if errors.Is(err, syscall.ENOEXEC) {
		// No #! line: keepalived (through libmagic and system()) and
		// execvp hand such a file to the shell.
		cmd = s.command(append([]string{"/bin/sh"}, s.args...))
		err = do(cmd.Start)
	}
	if err != nil {
		return scriptResult{status: -1, err: fmt.Errorf("start %s: %w", s.args[0], err)}
	}
	pgid := cmd.Process.Pid
	done := make(chan struct{})
	go func() {
		cmd.Wait() // the status is read from cmd.ProcessState below
		close(done)
	}()
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	var res scriptResult
	select {
	case <-done:
	case <-timer:
		res.timedOut = true
		terminate(pgid, done)
	case <-ctx.Done():
		terminate(pgid, done)
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ws.Exited():
		res.status = ws.ExitStatus()
	case ws.Signaled():
		res.status = -1
		res.signal = ws.Signal().String()
	default:
		res.status = -1
	}
	return res
}

func (s *script) command(args []string) *exec.Cmd {
	attr := &syscall.SysProcAttr{
		Setpgid: true,
		// If govs dies, the script is told to stop, as keepalived does.
		Pdeathsig: syscall.SIGTERM,
	}
	if s.cred {
		attr.Credential = &syscall.Credential{Uid: s.uid, Gid: s.gid, Groups: []uint32{s.gid}}
	}
	// Stdin, Stdout and Stderr stay nil: /dev/null.
	return &exec.Cmd{Path: args[0], Args: args, SysProcAttr: attr}
}

// terminate ends a script's process group: SIGTERM, SIGKILL after
// killGrace, and SIGKILL for the children left once the script is gone.
func terminate(pgid int, done <-chan struct{}) {
	syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(killGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
}
