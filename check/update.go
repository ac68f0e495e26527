package check

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/netip"

	"github.com/govs-lb/govs/config"
	"github.com/govs-lb/govs/internal/script"
)

// Update installs the checkers of cfg: at start and at each reload. It
// follows keepalived's reload:
//
//   - a real server is known by its virtual server's name and its address
//     and port; a checker by what it probes (type, target, settings other
//     than timing);
//   - a checker that is unchanged keeps running as it was; one whose timing
//     changed starts again after a warmup but keeps its state (up or down,
//     retries used, a misc_dynamic weight), so no real server flaps;
//   - a new real server starts up, or down when a checker has alpha; a
//     real server without checkers is always up;
//   - a real server or virtual server that goes away runs its notify_down
//     (and quorum_down) if it was up.
//
// A MISC_CHECK or notify script keepalived would refuse (see prepareScript)
// is logged and left out, as keepalived leaves it out. Update returns an
// error only for a nil configuration.
func (m *Manager) Update(cfg *config.Config) error {
	if cfg == nil {
		return errors.New("check: nil configuration")
	}
	var fx effects
	prep := prepareAll(cfg, &fx)

	m.mu.Lock()
	live := m.started && !m.finished
	now := m.clock.Now()
	services := make(map[string]*service, len(cfg.VirtualServers))
	order := make([]*service, 0, len(cfg.VirtualServers))
	for _, vs := range cfg.VirtualServers {
		name := vs.Name()
		old := m.services[name]
		s := &service{
			name:      name,
			cfg:       vs,
			byKey:     make(map[netip.AddrPort]*realServer, len(vs.RealServers)),
			quorumUpS: prep[vs.QuorumUp],
			quorumDnS: prep[vs.QuorumDown],
		}
		if old != nil {
			s.quorumUp = old.quorumUp
			if sameSorry(old.cfg.SorryServer, vs.SorryServer) {
				s.sorryAlive = old.sorryAlive
			}
		}
		for _, rc := range vs.RealServers {
			rs := &realServer{svc: s, cfg: rc, key: rc.AddrPort(), notifyUp: prep[rc.NotifyUp], notifyDown: prep[rc.NotifyDown]}
			var specs []*spec
			for _, c := range rc.Checkers {
				if c.Kind == config.CheckMisc {
					sc := prep[c.Misc.Script]
					if sc == nil {
						continue // refused, and logged: keepalived drops it
					}
					specs = append(specs, newSpec(vs, rc, c, sc))
					continue
				}
				specs = append(specs, newSpec(vs, rc, c, nil))
			}
			var oldRS *realServer
			if old != nil {
				oldRS = old.byKey[rs.key]
			}
			if oldRS == nil {
				m.initReal(rs, specs)
			} else {
				m.migrateReal(rs, oldRS, specs, &fx)
			}
			s.reals = append(s.reals, rs)
			s.byKey[rs.key] = rs
		}
		if old != nil {
			for _, ors := range old.reals {
				if s.byKey[ors.key] == nil {
					m.dropReal(ors, &fx)
				}
			}
		}
		services[name] = s
		order = append(order, s)
	}
	for _, old := range m.order {
		if services[old.name] != nil {
			continue
		}
		fx.log(slog.LevelInfo, "virtual server removed", slog.String("service", old.name))
		for _, rs := range old.reals {
			m.dropReal(rs, &fx)
		}
		if old.quorumUp {
			fx.run(old.quorumDnS, "quorum_down", old.name)
		}
	}
	m.services, m.order = services, order
	for _, s := range order {
		updateQuorum(s, true, &fx)
	}
	if live {
		for _, s := range order {
			for _, rs := range s.reals {
				for _, c := range rs.checkers {
					if c.sched == unplanned {
						m.plan(c, now.Add(c.firstDelay))
					}
				}
			}
		}
	}
	m.state = nil
	scripts := m.admit(fx.scripts)
	m.mu.Unlock()

	fx.flush(context.Background(), m.log)
	m.launch(scripts)
	m.changed()
	m.poke()
	return nil
}

// newChecker makes a checker for a spec, not yet planned. m.mu is held.
func (m *Manager) newChecker(rs *realServer, sp *spec) *checker {
	c := &checker{rs: rs, spec: sp, up: true, failedURL: -1, sched: unplanned}
	c.prober = m.newProber(sp)
	// keepalived waits a random time up to warmup (default delay_loop)
	// before the first probe, which spreads the checkers over the loop.
	if w := sp.cfg.Warmup; w > 0 {
		c.firstDelay = rand.N(w)
	}
	return c
}

// initReal sets up a real server seen for the first time: its checkers
// start up, or down with alpha, with their retries used up so that the
// first probe decides. m.mu is held.
func (m *Manager) initReal(rs *realServer, specs []*spec) {
	for _, sp := range specs {
		c := m.newChecker(rs, sp)
		c.retryIt = sp.cfg.Retry
		if sp.cfg.Alpha {
			c.up = false
			rs.failed++
		}
		rs.checkers = append(rs.checkers, c)
	}
	rs.alive = rs.failed == 0
}

// migrateReal carries a real server's state across a reload, as
// keepalived's migrate_checkers. m.mu is held.
func (m *Manager) migrateReal(rs, old *realServer, specs []*spec, fx *effects) {
	rs.alive = old.alive
	used := make(map[*checker]bool, len(old.checkers))
	for _, sp := range specs {
		var oc *checker
		for _, c := range old.checkers {
			if !used[c] && sameProbe(c.spec, sp) {
				oc = c
				break
			}
		}
		if oc != nil && sameSchedule(oc.spec, sp) && oc.sched != retired {
			// Unchanged: it goes on as it was.
			used[oc] = true
			oc.rs, oc.spec = rs, sp
			rs.checkers = append(rs.checkers, oc)
			continue
		}
		c := m.newChecker(rs, sp)
		if oc != nil {
			used[oc] = true
			m.retire(oc)
			if oc.hasRun {
				c.up = oc.up
			}
			c.hasRun = oc.hasRun
			if oc.retryIt > 0 && sp.cfg.Retry > 0 {
				c.retryIt = min(oc.retryIt, sp.cfg.Retry-1)
			}
			c.lastExit, c.lastStart, c.lastDuration = oc.lastExit, oc.lastStart, oc.lastDuration
			if sp.cfg.Kind == config.CheckMisc && sp.cfg.Misc.Dynamic && oc.lastExit >= 2 {
				c.curWeight = int64(oc.lastExit-2) - int64(rs.cfg.Weight)
			}
		}
		rs.checkers = append(rs.checkers, c)
	}
	for _, c := range old.checkers {
		if !used[c] {
			m.retire(c)
		}
	}
	failed, anyRun := 0, false
	for _, c := range rs.checkers {
		if c.hasRun && !c.up {
			failed++
		}
		anyRun = anyRun || c.hasRun
	}
	if failed > 0 || !rs.alive && !anyRun {
		// The real server is down: a new checker decides at its first
		// probe, and one with alpha starts down.
		for _, c := range rs.checkers {
			if !c.hasRun {
				if c.cfg().Alpha {
					c.up = false
				}
				c.retryIt = c.cfg().Retry
			}
		}
	}
	rs.failed = 0
	for _, c := range rs.checkers {
		if !c.up {
			rs.failed++
		}
	}
	setAlive(rs, rs.failed == 0, fx)
}

// dropReal retires a real server that left the configuration; it runs
// notify_down when it was up, as keepalived does. m.mu is held.
func (m *Manager) dropReal(rs *realServer, fx *effects) {
	for _, c := range rs.checkers {
		m.retire(c)
	}
	fx.log(slog.LevelInfo, "real server removed", slog.String("service", rs.svc.name), slog.String("real_server", rs.name()))
	if rs.alive {
		rs.alive = false
		fx.run(rs.notifyDown, "notify_down", rs.svc.name+" "+rs.name())
	}
}

func sameSorry(a, b *config.SorryServer) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Addr == b.Addr && a.Port == b.Port
}

// prepareAll prepares every script of the configuration, keyed by its
// configuration; a script keepalived would refuse is missing from the map
// and logged.
func prepareAll(cfg *config.Config, fx *effects) map[*config.Script]*script.Command {
	out := map[*config.Script]*script.Command{}
	n := 0
	add := func(cs *config.Script, what, about string) {
		if cs == nil {
			return
		}
		n++
		s, warn, err := script.Prepare(cs, &cfg.Global)
		if err != nil {
			msg := "script refused, as keepalived refuses it: it will not run"
			if what == "misc_path" {
				msg = "MISC_CHECK dropped, as keepalived drops it: its script is refused"
			}
			fx.log(slog.LevelWarn, msg, slog.String("script", what), slog.String("about", about),
				slog.String("command", cs.String()), slog.Any("error", err))
			return
		}
		if warn != "" {
			fx.log(slog.LevelWarn, "insecure script", slog.String("script", what), slog.String("about", about), slog.String("warning", warn))
		}
		out[cs] = s
	}
	for _, vs := range cfg.VirtualServers {
		add(vs.QuorumUp, "quorum_up", vs.Name())
		add(vs.QuorumDown, "quorum_down", vs.Name())
		for _, rs := range vs.RealServers {
			about := vs.Name() + " " + rs.AddrPort().String()
			add(rs.NotifyUp, "notify_up", about)
			add(rs.NotifyDown, "notify_down", about)
			for _, c := range rs.Checkers {
				if c.Kind == config.CheckMisc && c.Misc != nil {
					add(c.Misc.Script, "misc_path", about)
				}
			}
		}
	}
	if n > 0 && !cfg.Global.ScriptSecurity {
		fx.log(slog.LevelWarn, "checker scripts run without enable_script_security (keepalived reports this as a security violation)",
			slog.Int("scripts", n))
	}
	return out
}
