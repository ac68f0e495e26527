package check

import (
	"log/slog"
	"math"
	"net/netip"

	"github.com/govs-lb/govs/config"
	"github.com/govs-lb/govs/internal/script"
)

// service is a virtual server at run time. Guarded by Manager.mu.
type service struct {
	name  string
	cfg   *config.VirtualServer
	reals []*realServer
	byKey map[netip.AddrPort]*realServer
	// quorumUp is keepalived's quorum_state_up; sorryAlive says the sorry
	// server is in the pool (keepalived's s_svr->alive).
	quorumUp   bool
	sorryAlive bool
	quorumUpS  *script.Command
	quorumDnS  *script.Command
	// state is the last ServiceState built; nil when it is stale.
	state *ServiceState
}

// realServer is a real server at run time. Guarded by Manager.mu.
type realServer struct {
	svc      *service
	cfg      *config.RealServer
	key      netip.AddrPort
	checkers []*checker
	// failed counts the checkers that are down (num_failed_checkers);
	// alive is keepalived's rs->alive: no checker down.
	failed     int
	alive      bool
	notifyUp   *script.Command
	notifyDown *script.Command
}

func (rs *realServer) name() string { return rs.key.String() }

// reason says why the real server is down.
func (rs *realServer) reason() string {
	for _, c := range rs.checkers {
		if !c.up {
			if !c.hasRun {
				return c.spec.name + ": not checked yet (alpha)"
			}
			return c.spec.name + ": " + c.reason
		}
	}
	return ""
}

// weight returns the effective weight: the configured one plus what
// misc_dynamic checkers changed (keepalived's effective_weight).
func (rs *realServer) weight() int64 {
	w := int64(rs.cfg.Weight)
	for _, c := range rs.checkers {
		w += c.curWeight
	}
	return w
}

// realWeight clamps an effective weight to what IPVS takes (real_weight).
func realWeight(w int64) int64 { return min(max(w, 0), math.MaxInt32) }

// liveWeight sums the weights of the alive real servers
// (weigh_live_realservers).
func (s *service) liveWeight() int64 {
	var sum int64
	for _, rs := range s.reals {
		if rs.alive {
			sum += realWeight(rs.weight())
		}
	}
	return sum
}

// sorryActive says whether the sorry server takes the service's traffic.
func (s *service) sorryActive() bool { return s.cfg.SorryServer != nil && s.sorryAlive }

func (s *service) touch(fx *effects) {
	s.state = nil
	fx.changed = true
}

// setCheckerState records a checker's new state in its real server's count
// of failed checkers (keepalived's set_checker_state).
func setCheckerState(c *checker, up bool) {
	if c.up == up {
		return
	}
	c.up = up
	if !up {
		c.rs.failed++
	} else if c.rs.failed > 0 {
		c.rs.failed--
	}
}

// verdict applies a checker's decided state: up after a success, down
// after its retries failed (keepalived's update_svr_checker_state). The
// real server is up when all its checkers are.
func verdict(c *checker, up bool, fx *effects) {
	if c.up == up {
		if !c.hasRun {
			// The first result confirms the starting state; keepalived
			// then runs the real server's notify script when the checker
			// started down (alpha) or is down.
			if c.cfg().Alpha || !up {
				notifyReal(c.rs, fx)
			}
			c.hasRun = true
		}
		return
	}
	c.hasRun = true
	rs := c.rs
	rs.svc.state = nil
	fx.stale = true
	attrs := []slog.Attr{slog.String("service", rs.svc.name), slog.String("real_server", rs.name()), slog.String("checker", c.spec.name)}
	if up {
		fx.log(slog.LevelInfo, "check succeeded", attrs...)
	} else {
		fx.log(slog.LevelInfo, "check failed", append(attrs, slog.String("reason", c.reason))...)
	}
	setCheckerState(c, up)
	if rs.alive != (rs.failed == 0) {
		setAlive(rs, rs.failed == 0, fx)
		updateQuorum(rs.svc, false, fx)
	}
}

// setAlive adds a real server to its service or removes it
// (perform_svr_state). The caller then updates the quorum.
func setAlive(rs *realServer, alive bool, fx *effects) {
	if rs.alive == alive {
		return
	}
	rs.alive = alive
	s := rs.svc
	msg := "real server up: adding it"
	switch {
	case alive && rs.cfg.InhibitOnFailure:
		msg = "real server up: enabling it"
	case !alive && rs.cfg.InhibitOnFailure:
		msg = "real server down: inhibiting it (weight 0)"
	case !alive:
		msg = "real server down: removing it"
	}
	fx.log(slog.LevelInfo, msg, slog.String("service", s.name), slog.String("real_server", rs.name()))
	notifyReal(rs, fx)
	s.touch(fx)
}

// notifyReal runs notify_up or notify_down for the real server's state.
func notifyReal(rs *realServer, fx *effects) {
	if rs.alive {
		fx.run(rs.notifyUp, "notify_up", rs.svc.name+" "+rs.name())
	} else {
		fx.run(rs.notifyDown, "notify_down", rs.svc.name+" "+rs.name())
	}
}

// updateQuorum compares the live weight with the quorum, with hysteresis,
// and swaps the sorry server in or out (keepalived's update_quorum_state).
// init is set when a configuration is installed: a service then starts with
// its sorry server when the quorum is not there.
func updateQuorum(s *service, init bool, fx *effects) {
	sum := s.liveWeight()
	q, h := int64(s.cfg.Quorum), int64(s.cfg.Hysteresis)
	threshold := q + h
	if s.quorumUp {
		threshold = q - h
	}
	attrs := []slog.Attr{slog.String("service", s.name), slog.Int64("live_weight", sum), slog.Int64("quorum", q), slog.Int64("hysteresis", h)}
	switch {
	case !s.quorumUp && sum >= threshold:
		s.quorumUp = true
		fx.log(slog.LevelInfo, "quorum gained", attrs...)
		if s.cfg.SorryServer != nil && s.sorryAlive {
			s.sorryAlive = false
			fx.log(slog.LevelInfo, "sorry server out, real servers back", slog.String("service", s.name))
		}
		s.touch(fx)
		fx.run(s.quorumUpS, "quorum_up", s.name)
	case s.quorumUp && (sum == 0 || sum < threshold),
		init && !s.quorumUp && s.cfg.SorryServer != nil && !s.sorryAlive:
		msg := "quorum lost"
		if init && !s.quorumUp {
			msg = "starting with quorum down"
		}
		s.quorumUp = false
		fx.log(slog.LevelWarn, msg, attrs...)
		if s.cfg.SorryServer != nil && !s.sorryAlive {
			s.sorryAlive = true
			fx.log(slog.LevelWarn, "sorry server in, real servers out", slog.String("service", s.name))
		}
		s.touch(fx)
		fx.run(s.quorumDnS, "quorum_down", s.name)
	}
}

// setDynamicWeight records what a misc_dynamic checker says the weight is
// (update_svr_wgt).
func setDynamicWeight(c *checker, delta int64, fx *effects) {
	rs := c.rs
	old := realWeight(rs.weight())
	c.curWeight = delta
	now := realWeight(rs.weight())
	if now == old {
		return
	}
	fx.log(slog.LevelInfo, "real server weight changed", slog.String("service", rs.svc.name), slog.String("real_server", rs.name()),
		slog.Int64("from", old), slog.Int64("to", now), slog.Bool("alive", rs.alive))
	rs.svc.touch(fx)
	updateQuorum(rs.svc, false, fx)
}

// build returns the service's state for the data plane.
func (s *service) build() *ServiceState {
	if s.state != nil {
		return s.state
	}
	st := &ServiceState{
		Name:       s.name,
		QuorumUp:   s.quorumUp,
		LiveWeight: s.liveWeight(),
		reals:      make(map[netip.AddrPort]RealState, len(s.reals)),
	}
	sorry := s.sorryActive()
	for _, rs := range s.reals {
		r := RealState{Alive: rs.alive, ConfigWeight: rs.cfg.Weight}
		if !rs.alive {
			r.Reason = rs.reason()
		}
		switch {
		case sorry || !rs.alive:
			r.InService = rs.cfg.InhibitOnFailure
		default:
			r.InService = true
			r.Weight = int(realWeight(rs.weight()))
		}
		st.reals[rs.key] = r
	}
	if ss := s.cfg.SorryServer; ss != nil {
		r := RealState{Alive: true, ConfigWeight: 1}
		switch {
		case sorry:
			r.InService, r.Weight = true, 1
		case ss.Inhibit:
			r.InService = true
		}
		st.Sorry = &r
	}
	s.state = st
	return st
}
