package forward

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/govs-lb/govs/sched"
)

// Method is how a packet reaches a real server.
type Method uint8

const (
	_ Method = iota
	// MethodDR sends the frame on with the real server's MAC address.
	MethodDR
	// MethodTUN encapsulates the packet in IPIP to the real server.
	MethodTUN
)

func (m Method) String() string {
	switch m {
	case MethodDR:
		return "DR"
	case MethodTUN:
		return "TUN"
	}
	return "invalid"
}

// ServiceSpec describes one virtual service for NewSnapshot.
type ServiceSpec struct {
	// ID names the service in every snapshot (persistence templates and
	// counters follow it across reloads); 1 to MaxID, unique.
	ID   uint32
	Name string
	// Proto is 6 (TCP) or 17 (UDP).
	Proto uint8
	// Addrs are the service's addresses and ports: one for "virtual_server
	// ADDR PORT", one per entry of a virtual_server_group. Port 0 matches
	// any port.
	Addrs []AddrRange
	// Scheduler and SchedOptions choose real servers for new flows.
	Scheduler    sched.Algorithm
	SchedOptions sched.Options
	// Persistence is persistence_timeout; 0 for none. Granularity masks
	// the client address of a persistence template.
	Persistence time.Duration
	Granularity sched.Granularity
	// OnePacket schedules every UDP datagram on its own (ops).
	OnePacket bool
	Backends  []BackendSpec
}

// cloneSpecs returns a copy of specs that shares nothing with them.
func cloneSpecs(specs []ServiceSpec) []ServiceSpec {
	out := slices.Clone(specs)
	for i := range out {
		out[i].Addrs = slices.Clone(out[i].Addrs)
		out[i].Backends = slices.Clone(out[i].Backends)
	}
	return out
}

// AddrRange is a range of virtual addresses, First to Last inclusive, of
// one family, with a port (0: any).
type AddrRange struct {
	First, Last netip.Addr
	Port        uint16
}

// BackendSpec describes one real server of a service.
type BackendSpec struct {
	// ID names the real server of this service in every snapshot: a
	// connection entry keeps it. 1 to MaxID, unique across services.
	ID   uint32
	Addr netip.Addr
	// Weight is the current weight (0: quiesced, keeps its flows);
	// LastWeight the configured one (see sched.Backend).
	Weight     uint32
	LastWeight uint32
	Method     Method
}

// MaxID bounds service and backend IDs: counters are arrays indexed by ID.
const MaxID = 1 << 20

// maxVIPEntries bounds how many (address, port, protocol) entries the
// service index holds, so that a virtual_server_group range of a /8 does
// not eat the machine.
const maxVIPEntries = 1 << 20

// Egress says how to reach a real server: the interface to send on, the
// next hop whose MAC the frame goes to, and for TUN the outer source
// address and the path MTU.
type Egress struct {
	Ifindex int
	NextHop netip.Addr
	Src     netip.Addr
	MTU     int
	MAC     [6]byte // the balancer's MAC on Ifindex
}

// Router finds the egress for a real server: the engine's is the kernel's
// routing table; tests give a fake.
type Router interface {
	Egress(dst netip.Addr) (Egress, error)
}

// Snapshot is an immutable forwarding configuration. The daemon builds one
// with NewSnapshot and the Engine swaps it in atomically; workers read it
// without locks.
type Snapshot struct {
	services []service
	index    map[svcKey]int32 // to services, while building
	table    svcTable         // index, for the packet path
	anyPort  bool             // some entry has port 0
	// byAddr finds the service of a later IP fragment, which has no ports:
	// the one service of an address and protocol, or -1 when several share
	// the address (then the worker's fragment cache, filled by the first
	// fragment, decides).
	byAddr   map[svcKey]int32
	backends []backend
	byID     []int32 // backend ID -> index in backends, -1 when absent
	maxSvcID uint32
	maxRSID  uint32
	gen      uint32 // tells snapshots apart, for the fragment cache
}

// snapshotGen numbers snapshots. It is the one piece of package state: a
// counter, so that no two snapshots of the process share a number.
var snapshotGen atomic.Uint32

type svcKey struct {
	addr  Addr16
	port  uint16
	proto uint8
}

type service struct {
	index       int // in Snapshot.services
	id          uint32
	name        string
	sched       sched.Scheduler
	stateless   sched.Scheduler // mh over the same real servers, for flows the table cannot hold
	backends    []int32         // scheduler index -> index in Snapshot.backends
	persistence time.Duration
	granularity sched.Granularity
	onePacket   bool
	proto       uint8
	addrs       []AddrRange
}

type backend struct {
	id       uint32
	svc      int32
	addr     Addr16
	method   Method
	weight   uint32
	counters *sched.Counters
	egress   Egress
	nextHop  Addr16
	src4     [4]byte // TUN outer source
	dst4     [4]byte // TUN outer destination
	// draining: the real server left the configuration but its service
	// stayed, and it still has connections; they keep flowing to it
	// until they end, and it takes no new one.
	draining bool
}

// holdsConns reports whether b's counters still count a connection.
func (b *backend) holdsConns() bool {
	return b.counters != nil && b.counters.Active.Load()+b.counters.Inactive.Load() > 0
}

// Counters returns the connection counters a new snapshot should reuse for
// a real server, so that lc-style schedulers keep their counts across
// reloads. The engine implements it.
type CountersFor func(backendID uint32) *sched.Counters

// NewSnapshot builds the forwarding state for specs. counters gives each
// real server's connection counters; router the egress of each real server.
func NewSnapshot(specs []ServiceSpec, router Router, counters CountersFor) (*Snapshot, error) {
	return buildSnapshot(specs, router, counters, nil, false)
}

// Successor builds the snapshot for specs that follows s: as NewSnapshot,
// and a real server of s that specs no longer have, in a service they
// still have, stays as draining while it holds connections, so that a
// reload cuts no connection short (a SYN on the ports of one of its
// flows is scheduled afresh). The real servers s has keep their egress
// (router is asked for new ones only). A nil s has no real servers to
// keep.
func (s *Snapshot) Successor(specs []ServiceSpec, router Router, counters CountersFor) (*Snapshot, error) {
	return buildSnapshot(specs, router, counters, s, true)
}

// Draining returns how many real servers of s are draining, and how many
// of them hold no connection any more: a Successor drops those.
func (s *Snapshot) Draining() (draining, idle int) {
	if s == nil {
		return 0, 0
	}
	for i := range s.backends {
		if b := &s.backends[i]; b.draining {
			draining++
			if !b.holdsConns() {
				idle++
			}
		}
	}
	return draining, idle
}

// knownRouter answers from the egresses of a previous snapshot's real
// servers, and asks router for the others: a snapshot that follows
// another (a health change, a reload) looks up only new real servers'
// routes. The engine refreshes them all a few times a minute (Engine's
// route refresher), so that a route change still reaches the data plane.
type knownRouter struct {
	known  map[netip.Addr]Egress
	router Router
}

func (r knownRouter) Egress(dst netip.Addr) (Egress, error) {
	if eg, ok := r.known[dst]; ok {
		return eg, nil
	}
	return r.router.Egress(dst)
}

// egresses returns the egress of every real server of s, by address.
func (s *Snapshot) egresses() map[netip.Addr]Egress {
	m := make(map[netip.Addr]Egress, len(s.backends))
	for i := range s.backends {
		m[s.backends[i].addr.Addr()] = s.backends[i].egress
	}
	return m
}

// knowsAll reports whether s has the egress of every real server of specs.
func (s *Snapshot) knowsAll(specs []ServiceSpec) bool {
	known := s.egresses()
	for _, sp := range specs {
		for _, b := range sp.Backends {
			if _, ok := known[b.Addr]; !ok {
				return false
			}
		}
	}
	return true
}

// sameEgresses reports whether s and o reach every real server of s the
// same way.
func (s *Snapshot) sameEgresses(o *Snapshot) bool {
	for i := range s.backends {
		b := &s.backends[i]
		ob := o.backendByID(b.id)
		if ob == nil || ob.egress != b.egress {
			return false
		}
	}
	return true
}

// buildSnapshot builds the snapshot of specs that follows prev (nil for
// none): prev's draining real servers stay, and with reuseRoutes so do
// prev's egresses.
func buildSnapshot(specs []ServiceSpec, router Router, counters CountersFor, prev *Snapshot, reuseRoutes bool) (*Snapshot, error) {
	if prev != nil && reuseRoutes {
		router = knownRouter{known: prev.egresses(), router: router}
	}
	s := &Snapshot{index: map[svcKey]int32{}, byAddr: map[svcKey]int32{}, gen: snapshotGen.Add(1)}
	seenRS := map[uint32]bool{}
	var errs []error
	for _, spec := range specs {
		if err := s.addService(spec, router, counters, seenRS); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", spec.Name, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if prev != nil {
		s.keepDraining(prev, seenRS)
	}
	s.table = newSvcTable(len(s.index))
	for k, i := range s.index {
		s.table.put(&k, i)
	}
	s.byID = make([]int32, s.maxRSID+1)
	for i := range s.byID {
		s.byID[i] = -1
	}
	for i, b := range s.backends {
		s.byID[b.id] = int32(i)
	}
	return s, nil
}

func (s *Snapshot) addService(spec ServiceSpec, router Router, counters CountersFor, seenRS map[uint32]bool) error {
	if spec.ID == 0 || spec.ID > MaxID {
		return fmt.Errorf("ID %d out of range 1-%d", spec.ID, MaxID)
	}
	for _, o := range s.services {
		if o.id == spec.ID {
			return fmt.Errorf("ID %d is used twice", spec.ID)
		}
	}
	if spec.Proto != 6 && spec.Proto != 17 {
		return fmt.Errorf("protocol %d is not TCP or UDP", spec.Proto)
	}
	svc := service{
		index:       len(s.services),
		id:          spec.ID,
		name:        spec.Name,
		persistence: spec.Persistence,
		granularity: spec.Granularity,
		onePacket:   spec.OnePacket && spec.Proto == 17,
		proto:       spec.Proto,
		addrs:       spec.Addrs,
	}
	idx := int32(len(s.services))
	var sb []sched.Backend
	for _, b := range spec.Backends {
		if b.ID == 0 || b.ID > MaxID || seenRS[b.ID] {
			return fmt.Errorf("real server %s: ID %d is out of range 1-%d or used twice", b.Addr, b.ID, MaxID)
		}
		seenRS[b.ID] = true
		if b.Method != MethodDR && b.Method != MethodTUN {
			return fmt.Errorf("real server %s: method %v", b.Addr, b.Method)
		}
		eg, err := router.Egress(b.Addr)
		if err != nil {
			return fmt.Errorf("real server %s: %w", b.Addr, err)
		}
		be := backend{
			id:       b.ID,
			svc:      idx,
			addr:     Addr16From(b.Addr),
			method:   b.Method,
			weight:   b.Weight,
			counters: counters(b.ID),
			egress:   eg,
			nextHop:  Addr16From(eg.NextHop),
		}
		if b.Method == MethodTUN {
			if !b.Addr.Is4() || !eg.Src.Is4() {
				return fmt.Errorf("real server %s: TUN needs IPv4 real servers and an IPv4 source address", b.Addr)
			}
			be.src4, be.dst4 = eg.Src.As4(), b.Addr.As4()
		}
		svc.backends = append(svc.backends, int32(len(s.backends)))
		s.backends = append(s.backends, be)
		s.maxRSID = max(s.maxRSID, b.ID)
		sb = append(sb, sched.Backend{
			Addr:       netip.AddrPortFrom(b.Addr, 0),
			Weight:     b.Weight,
			LastWeight: b.LastWeight,
			Counters:   be.counters,
		})
	}
	var err error
	if svc.sched, err = sched.New(spec.Scheduler, sb, &spec.SchedOptions); err != nil {
		return err
	}
	switch spec.Scheduler {
	case sched.MH, sched.SH:
		// Consistent already: a flow that began on another balancer with
		// the same real servers lands where it was.
		svc.stateless = svc.sched
	default:
		if svc.stateless, err = sched.New(sched.MH, sb, &sched.Options{MHTableSize: statelessTableSize(len(sb)), MHPort: true, MHFallback: true}); err != nil {
			return err
		}
	}
	for _, r := range spec.Addrs {
		if err := s.addAddrs(r, spec.Proto, idx); err != nil {
			return err
		}
	}
	s.services = append(s.services, svc)
	s.maxSvcID = max(s.maxSvcID, spec.ID)
	return nil
}

// keepDraining adds prev's real servers that s's specs dropped (not in
// seen), whose service s still has and that still hold connections, as
// draining: in no scheduler, found only by their connections' IDs.
func (s *Snapshot) keepDraining(prev *Snapshot, seen map[uint32]bool) {
	svcByID := map[uint32]int32{}
	for i := range s.services {
		svcByID[s.services[i].id] = int32(i)
	}
	for i := range prev.backends {
		b := prev.backends[i]
		if seen[b.id] || !b.holdsConns() {
			continue
		}
		si, ok := svcByID[prev.services[b.svc].id]
		if !ok {
			continue
		}
		b.svc, b.draining = si, true
		s.backends = append(s.backends, b)
		s.maxRSID = max(s.maxRSID, b.id)
	}
}

// statelessTableSize picks a Maglev table size about 100 times the real
// servers (as the paper suggests), from a few primes.
func statelessTableSize(n int) int {
	for _, p := range []int{251, 1021, 4093, 16381, 65521} {
		if p >= 100*n {
			return p
		}
	}
	return sched.DefaultMHTableSize
}

func (s *Snapshot) addAddrs(r AddrRange, proto uint8, idx int32) error {
	first, last := r.First.Unmap(), r.Last.Unmap()
	if !first.IsValid() || !last.IsValid() || first.Is4() != last.Is4() || last.Less(first) {
		return fmt.Errorf("bad address range %s-%s", r.First, r.Last)
	}
	if r.Port == 0 {
		s.anyPort = true
	}
	for a := first; ; a = a.Next() {
		k := svcKey{addr: Addr16From(a), port: r.Port, proto: proto}
		if o, dup := s.index[k]; dup && o != idx {
			return fmt.Errorf("%s port %d is also in service %s", a, r.Port, s.services[o].name)
		}
		s.index[k] = idx
		ak := svcKey{addr: k.addr, proto: proto}
		if o, seen := s.byAddr[ak]; seen && o != idx {
			s.byAddr[ak] = -1
		} else {
			s.byAddr[ak] = idx
		}
		if len(s.index) > maxVIPEntries {
			return fmt.Errorf("more than %d virtual addresses and ports", maxVIPEntries)
		}
		if a == last {
			break
		}
	}
	return nil
}

// lookup returns the service of a flow's destination, or nil.
func (s *Snapshot) lookup(k *FlowKey) *service {
	if i := s.table.get(&k.Dst, k.DstPort, k.Proto); i >= 0 {
		return &s.services[i]
	}
	if s.anyPort {
		if i := s.table.get(&k.Dst, 0, k.Proto); i >= 0 {
			return &s.services[i]
		}
	}
	return nil
}

// lookupAddr returns the service of a later fragment's destination
// address and protocol when it is unambiguous, and its index.
func (s *Snapshot) lookupAddr(k *FlowKey) (*service, int32) {
	if i, ok := s.byAddr[svcKey{addr: k.Dst, proto: k.Proto}]; ok && i >= 0 {
		return &s.services[i], i
	}
	return nil, -1
}

// backendByID returns the real server with the given ID, or nil when it
// left the configuration.
func (s *Snapshot) backendByID(id uint32) *backend {
	if int(id) >= len(s.byID) {
		return nil
	}
	if i := s.byID[id]; i >= 0 {
		return &s.backends[i]
	}
	return nil
}

// Services returns what the snapshot forwards, for filters and nftables
// rules: every (address, protocol, port).
func (s *Snapshot) Services() []FilterService {
	out := make([]FilterService, 0, len(s.index))
	for k := range s.index {
		out = append(out, FilterService{Addr: k.addr.Addr(), Proto: k.proto, Port: k.port})
	}
	return out
}
