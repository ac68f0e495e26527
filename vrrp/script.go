package vrrp

import (
	"context"
	"time"

	"github.com/govs-lb/govs/config"
)

// ScriptRunner runs notify scripts and vrrp_script checks.
type ScriptRunner interface {
	// Run runs s with extra arguments after its own, without a shell, as
	// s's user (or the default script user), and waits for it. After
	// timeout (0: none) it sends SIGTERM to the script's process group,
	// and SIGKILL 2 s later, as keepalived does. It returns nil when the
	// script exits with status 0.
	Run(ctx context.Context, s *config.Script, timeout time.Duration, extra ...string) error
}

// ScriptOptions configure the system's ScriptRunner.
type ScriptOptions struct {
	// User and Group run scripts that name no user (script_user). Empty:
	// keepalived_script if that user exists, else root.
	User, Group string
	// Security is enable_script_security: refuse scripts that a non-root
	// user could change when they would run as root.
	Security bool
}
