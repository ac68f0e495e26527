//go:build !linux

package check

import (
	"context"
	"errors"
	"time"

	"github.com/govs-lb/govs/config"
)

var errScriptsUnsupported = errors.New("scripts are only supported on Linux")

func (s *script) run(ctx context.Context, timeout time.Duration, do func(func() error) error) scriptResult {
	return scriptResult{status: -1, err: errScriptsUnsupported}
}

func prepareScript(cs *config.Script, g *config.Global) (*script, string, error) {
	return nil, "", errScriptsUnsupported
}
