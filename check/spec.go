package check

import (
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/govs-lb/govs/config"
	"github.com/govs-lb/govs/internal/script"
)

// defaultDelayLoop is keepalived's delay_loop for a virtual server that
// gives none; a MISC_CHECK without misc_timeout is bounded by its virtual
// server's delay_loop.
const defaultDelayLoop = 60 * time.Second

// spec is what a checker probes, derived from the configuration.
type spec struct {
	cfg *config.Checker
	// target is connect_ip:connect_port, by default the real server's.
	target netip.AddrPort
	// name names the checker in logs: "HTTP_GET 10.0.0.1:80".
	name string
	// script and timeout are a MISC_CHECK's.
	script  *script.Command
	timeout time.Duration
}

// newSpec derives a checker's spec. script is the prepared misc_path of a
// MISC_CHECK.
func newSpec(vs *config.VirtualServer, rs *config.RealServer, c *config.Checker, s *script.Command) *spec {
	sp := &spec{cfg: c, script: s}
	ip, port := c.ConnectIP, c.ConnectPort
	if !ip.IsValid() {
		ip = rs.Addr
	}
	if port == 0 {
		port = rs.Port
	}
	if ip.Is6() && ip.IsLinkLocalUnicast() && c.BindIf != "" {
		ip = ip.WithZone(c.BindIf) // keepalived needs bind_if for these
	}
	sp.target = netip.AddrPortFrom(ip, port)
	switch c.Kind {
	case config.CheckMisc:
		sp.name = c.Kind.String() + " " + c.Misc.Script.String()
		sp.timeout = c.Misc.Timeout
		if sp.timeout <= 0 {
			sp.timeout = vs.Checks.DelayLoop
			if sp.timeout <= 0 {
				sp.timeout = defaultDelayLoop
			}
		}
	case config.CheckPing:
		sp.name = c.Kind.String() + " " + ip.String()
	default:
		sp.name = c.Kind.String() + " " + sp.target.String()
	}
	return sp
}

// sameProbe says whether two specs probe the same thing the same way, so
// that a reload carries the checker's state over (keepalived's compare
// functions): everything but the timing settings and alpha.
func sameProbe(a, b *spec) bool {
	return a.target == b.target && a.script.Equal(b.script) &&
		reflect.DeepEqual(probeIdentity(a.cfg), probeIdentity(b.cfg))
}

// sameSchedule says whether two specs with the same probe are also timed
// alike: then a reload keeps the checker as it runs.
func sameSchedule(a, b *spec) bool {
	x, y := a.cfg, b.cfg
	return x.DelayLoop == y.DelayLoop && x.Retry == y.Retry && x.DelayBeforeRetry == y.DelayBeforeRetry &&
		x.Warmup == y.Warmup && x.Alpha == y.Alpha && x.LogAllFailures == y.LogAllFailures && a.timeout == b.timeout
}

// probeIdentity is a checker's configuration without positions, timing
// settings and alpha.
func probeIdentity(c *config.Checker) config.Checker {
	n := *c
	n.Pos = config.Pos{}
	n.DelayLoop, n.Retry, n.DelayBeforeRetry, n.Warmup = 0, 0, 0, 0
	n.Alpha, n.LogAllFailures = false, false
	if c.HTTP != nil {
		h := *c.HTTP
		h.URLs = slices.Clone(h.URLs)
		for i := range h.URLs {
			h.URLs[i].Pos = config.Pos{}
		}
		n.HTTP = &h
	}
	if c.Misc != nil {
		m := *c.Misc
		m.Timeout = 0
		m.Script = nil // compared as prepared
		n.Misc = &m
	}
	return n
}
