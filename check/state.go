package check

import (
	"iter"
	"maps"
	"net/netip"
	"slices"
	"time"
)

// State is what the checkers decided, as the data plane should apply it:
// an immutable snapshot, safe to share.
type State struct {
	services  map[string]*ServiceState
	verdictAt time.Time
}

// VerdictAt is when the last probe verdict that changed a real server's
// state was reached, as far as s reflects it; zero before the first. The
// daemon measures from it how long a verdict takes to reach the data
// plane.
func (s *State) VerdictAt() time.Time {
	if s == nil {
		return time.Time{}
	}
	return s.verdictAt
}

// Service returns the state of the virtual server with that name
// (config.VirtualServer.Name: "ADDR:PORT/PROTO" or "group NAME/PROTO"), or
// nil when the configuration has none.
func (s *State) Service(name string) *ServiceState {
	if s == nil {
		return nil
	}
	return s.services[name]
}

// Real returns the state of a real server of a virtual server, and false
// when there is no such real server.
func (s *State) Real(service string, rs netip.AddrPort) (RealState, bool) {
	svc := s.Service(service)
	if svc == nil {
		return RealState{}, false
	}
	return svc.Real(rs)
}

// Services lists the virtual servers' names, sorted.
func (s *State) Services() []string {
	if s == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(s.services))
}

// ServiceState is the state of one virtual server.
type ServiceState struct {
	// Name is the virtual server's name.
	Name string
	// QuorumUp says whether the live weight of the real servers reaches
	// the quorum (with hysteresis), as keepalived computes it.
	QuorumUp bool
	// Sorry is the sorry server's state, nil without sorry_server. It is
	// in service with weight 1 while the quorum is lost; with
	// sorry_server_inhibit it stays in service with weight 0 otherwise.
	Sorry *RealState
	// LiveWeight is the sum of the alive real servers' weights, which
	// quorum is compared with.
	LiveWeight int64

	reals map[netip.AddrPort]RealState
}

// Real returns the state of the real server at that address and port.
func (s *ServiceState) Real(rs netip.AddrPort) (RealState, bool) {
	if s == nil {
		return RealState{}, false
	}
	r, ok := s.reals[rs]
	return r, ok
}

// Reals iterates over the real servers, in no particular order.
func (s *ServiceState) Reals() iter.Seq2[netip.AddrPort, RealState] {
	return func(yield func(netip.AddrPort, RealState) bool) {
		if s == nil {
			return
		}
		for k, v := range s.reals {
			if !yield(k, v) {
				return
			}
		}
	}
}

// RealState is the state of one real server.
type RealState struct {
	// Alive is true when every checker of the real server passes (a real
	// server without checker is always alive).
	Alive bool
	// InService says whether the data plane keeps the real server among
	// the service's destinations. A real server that is down is taken
	// out, unless inhibit_on_failure keeps it in with weight 0; while the
	// sorry server is active every real server is out (or in with weight
	// 0 under inhibit_on_failure). Connections already established keep
	// flowing either way: that is the data plane's business.
	InService bool
	// Weight is the weight the scheduler should use when InService: the
	// configured weight, as changed by misc_dynamic; 0 when inhibited.
	Weight int
	// ConfigWeight is the configured weight (IPVS's last_weight for a
	// quiesced real server).
	ConfigWeight int
	// Reason says why a real server is down: its first failing checker
	// and that checker's last failure.
	Reason string
}
