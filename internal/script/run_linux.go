package script

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// Run runs the command, with extra arguments after its own, and waits for
// it. When timeout (0: none) passes or ctx is done, its process group gets
// SIGTERM, then SIGKILL killGrace later; once the command is gone, what is
// left of its group gets SIGKILL. do starts the process (where the caller
// needs it: a network namespace); nil starts it here.
func (s *Command) Run(ctx context.Context, timeout time.Duration, do func(func() error) error, extra ...string) Result {
	if do == nil {
		do = func(f func() error) error { return f() }
	}
	args := append(append([]string(nil), s.Args...), extra...)
	cmd := s.command(args)
	err := do(cmd.Start)
	if errors.Is(err, syscall.ENOEXEC) {
		// No #! line: keepalived (through libmagic and system()) and
		// execvp hand such a file to the shell.
		cmd = s.command(append([]string{"/bin/sh"}, args...))
		err = do(cmd.Start)
	}
	if err != nil {
		return Result{Status: -1, Err: fmt.Errorf("start %s: %w", s.Args[0], err)}
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
	var res Result
	select {
	case <-done:
	case <-timer:
		res.TimedOut = true
		terminate(pgid, done)
	case <-ctx.Done():
		terminate(pgid, done)
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ws.Exited():
		res.Status = ws.ExitStatus()
	case ws.Signaled():
		res.Status = -1
		res.Signal = ws.Signal().String()
	default:
		res.Status = -1
	}
	return res
}

func (s *Command) command(args []string) *exec.Cmd {
	attr := &syscall.SysProcAttr{
		Setpgid: true,
		// If govs dies, the script is told to stop, as keepalived does.
		Pdeathsig: syscall.SIGTERM,
	}
	if s.Cred {
		attr.Credential = &syscall.Credential{Uid: s.UID, Gid: s.GID, Groups: []uint32{s.GID}}
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
