package daemon

import (
	"time"

	"github.com/govs-lb/govs/forward"
)

// ListFormat is the version of the List document (govs list --json).
// Fields may be added within a version; none is renamed, retyped or
// removed.
const ListFormat = 1

// List is govs list --json: what ipvsadm -Ln --stats --rate shows, in one
// document.
type List struct {
	Format   int           `json:"format"`
	Services []ListService `json:"services"`
	// RateInterval is the span the rates are measured over, in seconds;
	// RateSampled when they were last sampled.
	RateInterval float64   `json:"rate_interval"`
	RateSampled  time.Time `json:"rate_sampled,omitzero"`
}

// ListService is a virtual service.
type ListService struct {
	Name string `json:"name"`
	// Protocol is "TCP" or "UDP".
	Protocol string `json:"protocol"`
	// Addresses are the service's addresses: one for a virtual_server,
	// one per entry of a virtual_server_group.
	Addresses []ListAddress `json:"addresses"`
	Scheduler string        `json:"scheduler"`
	// PersistenceTimeout is in seconds, 0 without persistence.
	PersistenceTimeout int          `json:"persistence_timeout"`
	Stats              ListCounters `json:"stats"`
	Rate               Rate         `json:"rate"`
	RealServers        []ListReal   `json:"real_servers"`
}

// ListAddress is an address range (First equal to Last for one address)
// and a port (0: any).
type ListAddress struct {
	First string `json:"first"`
	Last  string `json:"last"`
	Port  uint16 `json:"port"`
}

// ListReal is a real server of a service.
type ListReal struct {
	Address string `json:"address"`
	Port    uint16 `json:"port"`
	// Forward is ipvsadm's name of the method: "Route" (DR) or "Tunnel".
	Forward       string       `json:"forward"`
	Weight        uint32       `json:"weight"`
	ActiveConns   int64        `json:"active_conns"`
	InactiveConns int64        `json:"inactive_conns"`
	Stats         ListCounters `json:"stats"`
	Rate          Rate         `json:"rate"`
}

// ListCounters are totals since the service or real server appeared. DR
// and TUN send nothing back through the balancer: the out counters are 0,
// as in IPVS.
type ListCounters struct {
	Conns      uint64 `json:"conns"`
	InPackets  uint64 `json:"in_packets"`
	OutPackets uint64 `json:"out_packets"`
	InBytes    uint64 `json:"in_bytes"`
	OutBytes   uint64 `json:"out_bytes"`
}

// NewList builds the List document of a stats reply.
func NewList(r *Reply) *List {
	l := &List{Format: ListFormat, Services: []ListService{}}
	var rates Rates
	if r.Rates != nil {
		rates = *r.Rates
		l.RateInterval, l.RateSampled = rates.Interval.Seconds(), rates.Sampled
	}
	if r.Stats == nil {
		return l
	}
	for _, s := range r.Stats.Services {
		proto := "TCP"
		if s.Proto == 17 {
			proto = "UDP"
		}
		ls := ListService{
			Name: s.Name, Protocol: proto, Addresses: []ListAddress{}, Scheduler: s.Scheduler,
			PersistenceTimeout: int(s.Persistence / time.Second),
			Stats:              ListCounters{Conns: s.Conns, InPackets: s.Packets, InBytes: s.Bytes},
			Rate:               rates.Services[s.ID],
			RealServers:        []ListReal{},
		}
		var port uint16
		for i, a := range s.Addrs {
			ls.Addresses = append(ls.Addresses, ListAddress{First: a.First.String(), Last: a.Last.String(), Port: a.Port})
			if i == 0 {
				port = a.Port
			}
		}
		for _, b := range s.Backends {
			ls.RealServers = append(ls.RealServers, ListReal{
				Address: b.Addr.String(), Port: port, Forward: forwardName(b.Method), Weight: b.Weight,
				ActiveConns: b.ActiveConns, InactiveConns: b.InactiveConns,
				Stats: ListCounters{Conns: b.Conns, InPackets: b.Packets, InBytes: b.Bytes},
				Rate:  rates.Backends[b.ID],
			})
		}
		l.Services = append(l.Services, ls)
	}
	return l
}

// forwardName is ipvsadm's name of a forwarding method.
func forwardName(m forward.Method) string {
	switch m {
	case forward.MethodDR:
		return "Route"
	case forward.MethodTUN:
		return "Tunnel"
	}
	return m.String()
}
