//go:build !linux

package script

import (
	"context"
	"errors"
	"time"

	"github.com/govs-lb/govs/config"
)

// errScriptsUnsupported is what scripts give where govs cannot run them.
var errScriptsUnsupported = errors.New("scripts are only supported on Linux")

// Run fails: scripts need Linux here.
func (s *Command) Run(ctx context.Context, timeout time.Duration, do func(func() error) error, extra ...string) Result {
	return Result{Status: -1, Err: errScriptsUnsupported}
}

// Prepare fails: scripts need Linux here.
func Prepare(cs *config.Script, g *config.Global) (*Command, string, error) {
	return nil, "", errScriptsUnsupported
}
