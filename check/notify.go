package check

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/govs-lb/govs/internal/script"
)

// shutdownGrace bounds the notify scripts run when Run stops, as
// keepalived gives them one second.
const shutdownGrace = time.Second

// admit decides what happens to notify scripts asked for: before Run they
// wait for it, after Run they are dropped, during Run they are counted in
// m.scripts and returned to be launched. m.mu is held.
func (m *Manager) admit(runs []scriptRun) []scriptRun {
	switch {
	case len(runs) == 0:
		return nil
	case !m.started:
		m.pending = append(m.pending, runs...)
		return nil
	case m.finished:
		return nil
	}
	m.scripts.Add(len(runs))
	return runs
}

// launch runs admitted notify scripts, each in its own goroutine, as
// keepalived forks them without waiting. They have no timeout, as in
// keepalived, but are killed when Run stops.
func (m *Manager) launch(runs []scriptRun) {
	for _, r := range runs {
		go func() {
			defer m.scripts.Done()
			res := r.s.Run(m.runCtx, 0, m.do)
			m.logScript(r, res)
		}()
	}
}

func (m *Manager) logScript(r scriptRun, res script.Result) {
	if res.Err != nil {
		m.log.Warn("notify script did not run", slog.String("script", r.what), slog.String("about", r.name),
			slog.String("command", r.s.Text), slog.Any("error", res.Err))
	}
}

// shutdownScripts lists what keepalived runs when it stops, for a virtual
// server with omega: notify_down of its alive real servers, then
// quorum_down. m.mu is held.
func shutdownScripts(s *service) []scriptRun {
	if !s.cfg.Omega {
		return nil
	}
	var fx effects
	for _, rs := range s.reals {
		if rs.alive {
			fx.run(rs.notifyDown, "notify_down", s.name+" "+rs.name())
		}
	}
	fx.run(s.quorumDnS, "quorum_down", s.name)
	return fx.scripts
}

// runShutdownScripts runs the omega scripts and waits for them, killing
// those still running after shutdownGrace.
func (m *Manager) runShutdownScripts(runs []scriptRun) {
	if len(runs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.logScript(r, r.s.Run(ctx, 0, m.do))
		}()
	}
	wg.Wait()
}
