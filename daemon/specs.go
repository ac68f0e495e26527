package daemon

import (
	"fmt"
	"net/netip"

	"github.com/govs-lb/govs/config"
	"github.com/govs-lb/govs/forward"
	"github.com/govs-lb/govs/sched"
)

// health is the health checkers' view of the real servers. A nil health
// gives every real server its configured weight, as keepalived does for
// real servers without checkers.
type health interface {
	// real returns a real server's current weight, and whether it is in
	// the service at all (a down real server without inhibit_on_failure
	// is not).
	real(vs *config.VirtualServer, rs *config.RealServer) (weight uint32, in bool)

	// sorry reports whether the virtual server's sorry server is in
	// service (its quorum is lost), and with what weight.
	sorry(vs *config.VirtualServer) (weight uint32, in bool)
}

// serviceSpecs turns the configuration's virtual servers into the data
// plane's service specs, with IDs from m.
func serviceSpecs(cfg *config.Config, m *ids, h health) ([]forward.ServiceSpec, error) {
	groups := map[string]*config.ServerGroup{}
	for _, g := range cfg.ServerGroups {
		groups[g.Name] = g
	}
	var sk, bk []string
	for _, vs := range cfg.VirtualServers {
		s := serviceKey(vs)
		sk = append(sk, s)
		for _, rs := range vs.RealServers {
			bk = append(bk, backendKey(s, rs))
		}
		if vs.SorryServer != nil {
			bk = append(bk, sorryKey(s, vs.SorryServer))
		}
	}
	sids, bids, err := m.assign(sk, bk)
	if err != nil {
		return nil, err
	}
	var specs []forward.ServiceSpec
	for _, vs := range cfg.VirtualServers {
		key := serviceKey(vs)
		alg, err := sched.ParseAlgorithm(vs.Scheduler.String())
		if err != nil {
			return nil, fmt.Errorf("virtual server %s: %w", vs.Name(), err)
		}
		spec := forward.ServiceSpec{
			ID:          sids[key],
			Name:        vs.Name(),
			Proto:       vs.Protocol.Number(),
			Scheduler:   alg,
			Persistence: vs.PersistenceTimeout,
			OnePacket:   vs.Flags.OnePacket,
			SchedOptions: sched.Options{
				MHPort: vs.Flags.MHPort, MHFallback: vs.Flags.MHFallback,
				SHPort: vs.Flags.SHPort, SHFallback: vs.Flags.SHFallback,
			},
		}
		is4 := vs.Addr.Is4()
		if vs.Group != "" {
			g := groups[vs.Group]
			if g == nil {
				return nil, fmt.Errorf("virtual server %s: no virtual_server_group %s", vs.Name(), vs.Group)
			}
			for _, e := range g.Entries {
				spec.Addrs = append(spec.Addrs, forward.AddrRange{First: e.First, Last: e.Last, Port: e.Port})
				is4 = e.First.Is4()
			}
		} else {
			spec.Addrs = []forward.AddrRange{{First: vs.Addr, Last: vs.Addr, Port: vs.Port}}
		}
		if vs.PersistenceTimeout > 0 {
			if is4 {
				spec.Granularity, err = sched.GranularityV4(min(vs.PersistenceGranularity, 32))
			} else {
				spec.Granularity, err = sched.GranularityV6(vs.PersistenceGranularity)
			}
			if err != nil {
				return nil, fmt.Errorf("virtual server %s: %w", vs.Name(), err)
			}
		}
		for _, rs := range vs.RealServers {
			weight, last := uint32(rs.Weight), uint32(rs.Weight)
			if h != nil {
				var in bool
				if weight, in = h.real(vs, rs); !in {
					// Down without inhibit_on_failure: out of scheduling
					// and out of the hash tables (last weight 0 too), but
					// still in the snapshot, so that its established
					// connections keep flowing until they end.
					weight, last = 0, 0
				}
			}
			spec.Backends = append(spec.Backends, forward.BackendSpec{
				ID:         bids[backendKey(key, rs)],
				Addr:       rs.Addr,
				Weight:     weight,
				LastWeight: last,
				Method:     method(rs.Method),
			})
		}
		if ss := vs.SorryServer; ss != nil && h != nil {
			if weight, in := h.sorry(vs); in {
				spec.Backends = append(spec.Backends, forward.BackendSpec{
					ID:         bids[sorryKey(key, ss)],
					Addr:       ss.Addr,
					Weight:     weight,
					LastWeight: max(weight, 1),
					Method:     method(ss.Method),
				})
			}
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

func method(m config.Method) forward.Method {
	switch m {
	case config.DR:
		return forward.MethodDR
	case config.TUN:
		return forward.MethodTUN
	}
	return 0
}

// vipAddrs lists the addresses of the virtual services, to find the
// interface that holds their subnet.
func vipAddrs(specs []forward.ServiceSpec) []netip.Addr {
	var out []netip.Addr
	for _, s := range specs {
		for _, r := range s.Addrs {
			out = append(out, r.First)
		}
	}
	return out
}
