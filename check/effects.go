package check

import (
	"context"
	"log/slog"

	"github.com/govs-lb/govs/internal/script"
)

// effects collects what a change of state must do once Manager.mu is
// released: log lines, scripts to run, and whether the State changed.
type effects struct {
	logs    []logRecord
	scripts []scriptRun
	// changed says the data plane's view changed; stale that the State
	// must be rebuilt, for what only people read (RealState.Reason).
	changed bool
	stale   bool
}

type logRecord struct {
	level slog.Level
	msg   string
	attrs []slog.Attr
}

type scriptRun struct {
	s    *script.Command
	what string // "notify_up", "quorum_down", ...
	name string // the real or virtual server it is about
}

func (fx *effects) log(level slog.Level, msg string, attrs ...slog.Attr) {
	fx.logs = append(fx.logs, logRecord{level, msg, attrs})
}

// run asks for a notify script to run; nil scripts are ignored.
func (fx *effects) run(s *script.Command, what, name string) {
	if s != nil {
		fx.scripts = append(fx.scripts, scriptRun{s, what, name})
	}
}

// flush writes the log lines.
func (fx *effects) flush(ctx context.Context, log *slog.Logger) {
	for _, r := range fx.logs {
		log.LogAttrs(ctx, r.level, r.msg, r.attrs...)
	}
	fx.logs = nil
}
