package vrrp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/govs-lb/govs/config"
)

// SystemScripts returns the ScriptRunner that runs programs.
func SystemScripts(opts ScriptOptions) ScriptRunner { return &execRunner{opts: opts} }

type execRunner struct{ opts ScriptOptions }

// killGrace is how long a script has after SIGTERM before SIGKILL.
const killGrace = 2 * time.Second

func (r *execRunner) Run(ctx context.Context, s *config.Script, timeout time.Duration, extra ...string) error {
	if s == nil || len(s.Args) == 0 {
		return errors.New("empty script")
	}
	path, err := exec.LookPath(s.Args[0])
	if err != nil {
		return fmt.Errorf("script %s: %w", s.Args[0], err)
	}
	cred, err := r.credential(s)
	if err != nil {
		return fmt.Errorf("script %s: %w", s.Args[0], err)
	}
	if r.opts.Security && (cred == nil || cred.Uid == 0) {
		if err := checkSecure(path); err != nil {
			return fmt.Errorf("script %s: %w", path, err)
		}
	}
	cmd := exec.Command(path, append(append([]string(nil), s.Args[1:]...), extra...)...)
	cmd.Args[0] = s.Args[0]
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	cmd.Env = []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin"}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("script %s: %w", s.Args[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var expire <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expire = t.C
	}
	select {
	case err := <-done:
		return err
	case <-expire:
	case <-ctx.Done():
	}
	pid := cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGTERM)
	t := time.NewTimer(killGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
	return fmt.Errorf("script %s: timed out", s.Args[0])
}

// credential returns who runs s: its user, else script_user, else
// keepalived_script when it exists, else root (nil: ourselves, when we are
// not root and cannot change).
func (r *execRunner) credential(s *config.Script) (*syscall.Credential, error) {
	name, grp := s.User, s.Group
	if name == "" {
		name, grp = r.opts.User, r.opts.Group
	}
	if name == "" {
		if _, err := user.Lookup("keepalived_script"); err == nil {
			name = "keepalived_script"
		}
	}
	if name == "" || os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	if grp != "" {
		g, err := user.LookupGroup(grp)
		if err != nil {
			return nil, err
		}
		gid, _ = strconv.ParseUint(g.Gid, 10, 32)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// checkSecure refuses a file that a non-root user could change: the file
// or a directory above it writable by a non-root owner, a non-root group,
// or others (keepalived's check_script_secure).
func checkSecure(path string) error {
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	for {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if ok {
			m := fi.Mode().Perm()
			if (st.Uid != 0 && m&0o200 != 0) || (st.Gid != 0 && m&0o020 != 0) || m&0o002 != 0 && fi.Mode()&os.ModeSticky == 0 {
				return fmt.Errorf("%s: %w", p, ErrInsecureScript)
			}
		}
		parent := filepath.Dir(p)
		if parent == p {
			return nil
		}
		p = parent
	}
}
