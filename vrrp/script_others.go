//go:build !linux

package vrrp

import (
	"context"
	"time"

	"github.com/govs-lb/govs/config"
)

// SystemScripts returns a ScriptRunner that runs nothing on this system.
func SystemScripts(opts ScriptOptions) ScriptRunner { return noScripts{} }

type noScripts struct{}

func (noScripts) Run(context.Context, *config.Script, time.Duration, ...string) error {
	return ErrUnsupported
}
