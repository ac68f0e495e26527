package check

import (
	"net/netip"
	"time"
)

// CheckerState is one checker's view, for metrics.
type CheckerState struct {
	// Service is the virtual server's name, RealServer the real server.
	Service    string
	RealServer netip.AddrPort
	// Checker names it: "TCP_CHECK 198.18.1.5:80", as the logs do.
	Checker string
	// Up is its last verdict (keepalived's is_up); LastDuration how long
	// its last probe took (0 before the first).
	Up           bool
	LastDuration time.Duration
}

// Checkers returns every checker's state, in configuration order.
func (m *Manager) Checkers() []CheckerState {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []CheckerState
	for _, s := range m.order {
		for _, rs := range s.reals {
			for _, c := range rs.checkers {
				out = append(out, CheckerState{
					Service: s.name, RealServer: rs.key, Checker: c.spec.name,
					Up: c.up, LastDuration: c.lastDuration,
				})
			}
		}
	}
	return out
}
