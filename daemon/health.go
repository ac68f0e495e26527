package daemon

import (
	"github.com/govs-lb/govs/check"
	"github.com/govs-lb/govs/config"
)

// checkHealth reads a check.State: the checkers' view of the real servers.
type checkHealth struct{ st *check.State }

func (h checkHealth) real(vs *config.VirtualServer, rs *config.RealServer) (uint32, bool) {
	r, ok := h.st.Real(vs.Name(), rs.AddrPort())
	if !ok {
		// Not under the checkers' control (no checker, or not yet):
		// keepalived's configured weight.
		return uint32(rs.Weight), true
	}
	if !r.InService {
		return 0, false
	}
	return uint32(max(r.Weight, 0)), true
}

func (h checkHealth) sorry(vs *config.VirtualServer) (uint32, bool) {
	s := h.st.Service(vs.Name())
	if s == nil || s.Sorry == nil || !s.Sorry.InService {
		return 0, false
	}
	return uint32(max(s.Sorry.Weight, 0)), true
}
