package vrrp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/govs-lb/govs/config"
	"github.com/govs-lb/govs/internal/script"
)

// SystemScripts returns the ScriptRunner that runs programs, with the
// rules keepalived applies to every script (see script.Prepare): the
// user, PATH lookup, and enable_script_security.
func SystemScripts(opts ScriptOptions) ScriptRunner {
	return &execRunner{g: config.Global{ScriptUser: opts.User, ScriptGroup: opts.Group, ScriptSecurity: opts.Security}}
}

type execRunner struct{ g config.Global }

func (r *execRunner) Run(ctx context.Context, s *config.Script, timeout time.Duration, extra ...string) error {
	if s == nil || len(s.Args) == 0 {
		return errors.New("empty script")
	}
	cmd, _, err := script.Prepare(s, &r.g)
	if err != nil {
		return err
	}
	res := cmd.Run(ctx, timeout, nil, extra...)
	switch {
	case res.Err != nil:
		return fmt.Errorf("script %s: %w", s.Args[0], res.Err)
	case res.TimedOut:
		return fmt.Errorf("script %s: timed out", s.Args[0])
	case res.Signal != "":
		return fmt.Errorf("script %s: killed by %s", s.Args[0], res.Signal)
	case res.Status != 0:
		return fmt.Errorf("script %s: exit status %d", s.Args[0], res.Status)
	}
	return nil
}
