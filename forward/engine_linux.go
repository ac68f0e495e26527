package forward

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/govs-lb/govs/sched"
)

// Engine is the data plane: one worker per receive ring, all forwarding
// the current Snapshot.
//
// The Engine belongs to the network namespace of the thread that calls
// NewEngine: its sockets, netlink handles and nftables table live there,
// whichever goroutine later calls its methods.
type Engine struct {
	cfg   EngineConfig
	log   *slog.Logger
	epoch time.Time

	ns    netns.NsHandle // the engine's namespace
	iface *Interface
	neigh *Neighbors
	// rtnl looks up the real servers' routes in ns with one socket;
	// routesDirty says the kernel's routes changed since the last look
	// (routeWatch), so that the drainer looks again.
	rtnl        *netlink.Handle
	routesDirty atomic.Bool
	watchDone   chan struct{} // closed when routeWatch returns

	templates *sched.Templates
	counters  rsCounters // shared with the workers' expiry hooks
	snap      atomic.Pointer[Snapshot]
	swaps     atomic.Uint64 // snapshots swapped in by Update
	workers   []*workerRT

	// mu serializes the control plane: Update, Stop, and the fields below.
	mu       sync.Mutex
	byID     []*sched.Counters // real server connection counters by ID
	guard    *IngressGuard
	stopped  bool
	wg       sync.WaitGroup
	stopNeig context.CancelFunc
	// specs are the services of the last Update that succeeded;
	// filtered the addresses its filters and rules were made for (nil
	// when they may not match any more).
	specs    []ServiceSpec
	applied  bool
	filtered []FilterService
	// quit stops the drainer, which drainDone says has returned.
	quit      chan struct{}
	drainDone chan struct{}
}

// workerRT is a worker with its ring and transmitter.
type workerRT struct {
	w     worker
	ring  *Ring
	tx    *Tx
	cpu   int
	stats workerStats
	rx    rxInfo
	vnet  bool
	fn    func(*RxFrame)
	// lastTxLog is when the worker last logged a transmit error: at most
	// one line every txLogEvery, however many frames the kernel refuses.
	lastTxLog time.Time
	// snap is the engine's: a worker looks at it for every frame (one
	// atomic load), so that a frame handled after Update returns sees the
	// new snapshot.
	snap *atomic.Pointer[Snapshot]
}

// NewEngine opens the engine's rings and transmitters on cfg.Interface of
// the calling thread's network namespace. It forwards nothing until
// Update gives it services and Start its workers.
func NewEngine(cfg *EngineConfig) (*Engine, error) {
	e := &Engine{epoch: time.Now()}
	if cfg != nil {
		e.cfg = *cfg
	}
	e.log = e.cfg.Logger
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.cfg.Workers <= 0 {
		e.cfg.Workers = runtime.NumCPU()
	}
	if e.cfg.NftTable == "" {
		e.cfg.NftTable = defaultNftTable
	}
	if e.cfg.Templates == 0 {
		e.cfg.Templates = defaultTemplates
	}
	if e.cfg.NewFlowRate == 0 {
		e.cfg.NewFlowRate = DefaultNewFlowRate
	}
	if _, err := NewStateTimeouts(e.cfg.Timeouts); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()
	var err error
	if e.ns, err = netns.Get(); err != nil {
		return nil, fmt.Errorf("engine: network namespace: %w", err)
	}
	if e.iface, err = InterfaceByName(e.cfg.Interface); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if e.iface.MAC == [6]byte{} {
		return nil, fmt.Errorf("engine: interface %s has no MAC address: govs forwards on Ethernet interfaces", e.iface.Name)
	}
	if e.templates, err = sched.NewTemplates(e.cfg.Templates); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if e.rtnl, err = netlink.NewHandleAt(e.ns, unix.NETLINK_ROUTE); err != nil {
		return nil, fmt.Errorf("engine: netlink: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.stopNeig = cancel
	e.watchDone = make(chan struct{})
	go e.routeWatch(ctx)
	if e.neigh, err = NewNeighbors(ctx, &NeighborsConfig{Ifindexes: []int{e.iface.Index}, Logger: e.log}); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	// Stale rules of a killed run would blackhole the services while this
	// one starts.
	if err := RemoveStaleIngressGuard(int(e.ns), e.cfg.NftTable); err != nil {
		e.log.Warn("removing a stale nftables table failed", "table", e.cfg.NftTable, "err", err)
	}
	if e.cfg.Ring.Version == 0 {
		// With GRO on, TCP frames arrive merged up to 64 KiB: only a V3
		// ring takes them whole (a V2 ring's 2 KiB frames would cut them,
		// and they would be dropped). V3 costs up to its block timeout of
		// latency when traffic is light.
		if gro, err := GROEnabled(e.iface.Name); err == nil && gro {
			e.cfg.Ring.Version = RingV3
			e.log.Info("GRO is on: using TPACKET_V3 rings, which take merged frames whole (turn GRO off with ethtool -K IF gro off for the lowest latency)", "interface", e.iface.Name)
		}
	}
	empty, _ := NewSnapshot(nil, nil, nil)
	e.snap.Store(empty)
	group := uint16(os.Getpid()) ^ uint16(e.iface.Index)<<8
	for i := range e.cfg.Workers {
		rt, err := e.newWorker(i, group)
		if err != nil {
			return nil, err
		}
		e.workers = append(e.workers, rt)
	}
	ok = true
	return e, nil
}

func (e *Engine) newWorker(i int, group uint16) (*workerRT, error) {
	rc := e.cfg.Ring
	rc.Ifindex, rc.FanoutGroup, rc.Filter = e.iface.Index, group, dropAll
	rc.VnetHdr = true
	ring, err := OpenRing(&rc)
	if err != nil {
		return nil, fmt.Errorf("engine: worker %d: %w", i, err)
	}
	tc := e.cfg.Tx
	tc.VnetHdr = true
	tx, err := OpenTx(e.iface.Index, &tc)
	if err != nil {
		ring.Close()
		return nil, fmt.Errorf("engine: worker %d: %w", i, err)
	}
	rt := &workerRT{ring: ring, tx: tx, cpu: workerCPU(i), vnet: true, snap: &e.snap}
	// The expiry hook is the worker's, bound once, here.
	conns, err := NewConnTable(&ConnConfig{Capacity: e.cfg.ConnCapacity, Timeouts: e.cfg.Timeouts, OnExpire: rt.w.expire})
	if err != nil {
		ring.Close()
		tx.Close()
		return nil, fmt.Errorf("engine: worker %d: %w", i, err)
	}
	// Transparent huge pages halve the cost of a random lookup in a large
	// table (fewer TLB misses); a failure only costs speed.
	_ = unix.Madvise(conns.memory(), unix.MADV_HUGEPAGE)
	limiter, err := NewRateLimiter(max(e.cfg.NewFlowRate, 0), max(e.cfg.NewFlowRate/100, 1000), 0)
	if err != nil {
		ring.Close()
		tx.Close()
		return nil, fmt.Errorf("engine: worker %d: %w", i, err)
	}
	rt.w = worker{
		conns:     conns,
		timeouts:  conns.Timeouts(),
		limiter:   limiter,
		templates: e.templates,
		neigh:     e.neigh,
		tx:        tx,
		rxMAC:     e.iface.MAC,
		vnetTx:    true,
		counter:   &e.counters,
		stats:     &rt.stats,
	}
	rt.fn = rt.onFrame
	rt.w.setSnapshot(e.snap.Load())
	return rt, nil
}

// txLogEvery bounds how often a worker logs transmit errors.
const txLogEvery = 10 * time.Second

// dropAll is a classic BPF program that accepts nothing: rings start with
// it until Update gives the services.
var dropAll = mustBuildFilter(nil)

func mustBuildFilter(s []FilterService) []bpf.RawInstruction {
	f, err := BuildFilter(s)
	if err != nil {
		panic(err)
	}
	return f
}

func (rt *workerRT) onFrame(f *RxFrame) {
	if s := rt.snap.Load(); s != rt.w.snap {
		rt.w.setSnapshot(s)
	}
	rt.rx = rxInfo{
		data:         f.Data,
		truncated:    f.Truncated,
		vlan:         f.VLAN,
		csumNotReady: f.CsumNotReady,
		gso:          f.GSO,
		offload:      f.Offload,
		hasOffload:   rt.vnet,
	}
	rt.w.handle(&rt.rx)
}

// Start starts the workers and, once they run, installs the nftables
// rules that keep the kernel out of the services' traffic.
func (e *Engine) Start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return errors.New("engine: start after stop")
	}
	for _, rt := range e.workers {
		e.wg.Add(1)
		go e.run(rt)
	}
	if e.drainDone == nil {
		e.quit, e.drainDone = make(chan struct{}), make(chan struct{})
		go e.drainer(e.quit)
	}
	if err := e.applyRulesLocked(); err != nil {
		return err
	}
	if s := e.snap.Load(); s != nil && e.applied {
		e.filtered = sortedServices(s) // Update made the filters for s
	}
	return nil
}

// drainEvery is how often the drainer looks for draining real servers
// whose last connection ended.
const drainEvery = time.Second

// routesEvery is how often the drainer looks up every real server's
// route again even when the kernel announced no change: snapshots reuse
// the routes of the one before, and a lost announcement (a full netlink
// socket) must not leave a stale route for ever. A change announced is
// acted on at the next drainEvery.
const routesEvery = time.Minute

// drainer drops, once a drainEvery, the draining real servers (removed
// by an Update while they held connections) that hold none any more, and
// looks up the real servers' routes again when the kernel's routes
// changed or routesEvery has passed.
func (e *Engine) drainer(quit <-chan struct{}) {
	defer close(e.drainDone)
	t := time.NewTicker(drainEvery)
	defer t.Stop()
	lastRoutes := time.Now()
	for {
		select {
		case <-quit:
			return
		case <-t.C:
		}
		if e.routesDirty.Swap(false) || time.Since(lastRoutes) >= routesEvery {
			lastRoutes = time.Now()
			e.refreshRoutes()
		}
		e.mu.Lock()
		if s := e.snap.Load(); s != nil && !e.stopped {
			if _, idle := s.Draining(); idle > 0 {
				if next, err := e.successorLocked(s, e.specs); err != nil {
					e.log.Warn("dropping drained real servers", "err", err)
				} else {
					e.snap.Store(next)
					e.swaps.Add(1)
				}
			}
		}
		e.mu.Unlock()
	}
}

// routeWatch follows the kernel's route changes in the engine's namespace
// until ctx ends, and marks the routes dirty at each. Should the
// subscription fail, it marks them dirty and subscribes again a little
// later; routesEvery covers the gap.
func (e *Engine) routeWatch(ctx context.Context) {
	defer close(e.watchDone)
	for ctx.Err() == nil {
		updates := make(chan netlink.RouteUpdate, 256)
		err := netlink.RouteSubscribeWithOptions(updates, ctx.Done(), netlink.RouteSubscribeOptions{
			Namespace: &e.ns,
			ErrorCallback: func(err error) {
				if ctx.Err() == nil {
					e.log.Warn("route subscription", "err", err)
				}
			},
		})
		if err != nil {
			e.log.Warn("route subscription", "err", err)
		} else {
			for range updates {
				e.routesDirty.Store(true)
			}
		}
		e.routesDirty.Store(true)
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

// refreshRoutes looks up every real server's route afresh and swaps in a
// snapshot with the new egresses if one changed; else nothing changes (a
// round robin keeps its place).
func (e *Engine) refreshRoutes() {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.snap.Load()
	if s == nil || e.stopped || !e.applied {
		return
	}
	next, err := buildSnapshot(e.specs, engineRouter{e: e}, e.countersForLocked, s, false)
	if err != nil {
		e.log.Warn("looking up the real servers' routes", "err", err)
		return
	}
	if next.sameEgresses(s) {
		return
	}
	e.log.Info("a real server's route changed: new snapshot")
	e.snap.Store(next)
	e.swaps.Add(1)
}

// stopDrainer stops the drainer and waits for it, without holding mu.
func (e *Engine) stopDrainer() {
	e.mu.Lock()
	quit, done := e.quit, e.drainDone
	e.quit = nil
	e.mu.Unlock()
	if quit != nil {
		close(quit)
		<-done
	}
}

// resolveWait bounds how long Update waits for the kernel to resolve the
// MAC addresses of real servers it adds.
const resolveWait = 300 * time.Millisecond

// resolveNewLocked asks the kernel to resolve the next hops of s's real
// servers that prev does not have, and waits for them, at most
// resolveWait, so that the first SYN a new real server is given is not
// dropped as unresolved. IPVS's packets wait in the kernel's neighbour
// queue instead; govs's frames do not pass it.
func (e *Engine) resolveNewLocked(prev, s *Snapshot) {
	if e.neigh == nil {
		return
	}
	var todo []*backend
	for i := range s.backends {
		b := &s.backends[i]
		if b.draining || (prev != nil && prev.backendByID(b.id) != nil) {
			continue
		}
		if _, ok := e.neigh.Lookup(b.egress.Ifindex, b.nextHop); !ok {
			e.neigh.Resolve(b.egress.Ifindex, b.nextHop)
			todo = append(todo, b)
		}
	}
	deadline := time.Now().Add(resolveWait)
	for len(todo) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		todo = slices.DeleteFunc(todo, func(b *backend) bool {
			_, ok := e.neigh.Lookup(b.egress.Ifindex, b.nextHop)
			return ok
		})
	}
}

// workerCPU is the CPU worker i runs on: the i-th (modulo) of the CPUs
// the process may run on, so that `taskset -c 1 govs run` or systemd's
// CPUAffinity= keeps the workers where the operator put the process.
func workerCPU(i int) int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil || set.Count() == 0 {
		return i % runtime.NumCPU()
	}
	var cpus []int
	for c := 0; c < len(set)*64 && len(cpus) < set.Count(); c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus[i%len(cpus)]
}

// run is a worker's loop, on its own locked thread pinned to its CPU.
func (e *Engine) run(rt *workerRT) {
	defer e.wg.Done()
	runtime.LockOSThread()
	if err := PinToCPU(rt.cpu); err != nil {
		e.log.Warn("pinning a worker to its CPU failed", "cpu", rt.cpu, "err", err)
	}
	w := &rt.w
	for {
		ns := int64(time.Since(e.epoch))
		w.now, w.nowNs = TickOf(ns), ns
		n, err := rt.ring.Next(workerPoll, rt.fn)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				rt.tx.Flush()
				return
			}
			e.log.Error("worker receive failed", "cpu", rt.cpu, "err", err)
			time.Sleep(workerPoll)
			continue
		}
		if n > 0 {
			if _, err := rt.tx.Flush(); err != nil && time.Since(rt.lastTxLog) > txLogEvery {
				rt.lastTxLog = time.Now()
				e.log.Warn("the kernel refused frames (counted in tx-dropped)", "cpu", rt.cpu, "err", err)
			}
		}
		w.conns.Sweep(w.now, sweepSlots)
		w.publish()
	}
}

// Update makes specs the services the engine forwards: a new snapshot,
// swapped in atomically, then the rings' filters and the nftables rules.
// Specs equal to the last ones change nothing: the schedulers keep their
// places (a round robin goes on where it was), as IPVS's do when nothing
// is edited.
func (e *Engine) Update(specs []ServiceSpec) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return errors.New("engine: update after stop")
	}
	if e.applied && reflect.DeepEqual(specs, e.specs) {
		return nil
	}
	e.applied = false
	prev := e.snap.Load()
	s, err := e.successorLocked(prev, specs)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	e.resolveNewLocked(prev, s)
	e.publishCountersLocked()
	e.snap.Store(s)
	e.swaps.Add(1)
	svcs := sortedServices(s)
	if !slices.Equal(svcs, e.filtered) || e.guard == nil {
		// The services' addresses changed (not only weights or real
		// servers, as a health change does): new filters and rules.
		e.filtered = nil
		filter, err := BuildFilter(svcs)
		if err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		for _, rt := range e.workers {
			if err := rt.ring.SetFilter(filter); err != nil {
				return fmt.Errorf("engine: %w", err)
			}
		}
		if e.guard != nil {
			if err := e.applyRulesLocked(); err != nil {
				return err
			}
			e.filtered = svcs
		}
	}
	e.specs, e.applied = cloneSpecs(specs), true
	return nil
}

// successorLocked builds prev's successor for specs. The real servers'
// routes are looked up through the engine's netlink handle, in its
// namespace, on one socket; a health change's snapshot looks up none.
func (e *Engine) successorLocked(prev *Snapshot, specs []ServiceSpec) (*Snapshot, error) {
	return prev.Successor(specs, engineRouter{e: e}, e.countersForLocked)
}

// sortedServices returns s.Services() in a fixed order, to compare.
func sortedServices(s *Snapshot) []FilterService {
	out := s.Services()
	slices.SortFunc(out, func(a, b FilterService) int {
		return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
	})
	return out
}

// applyRulesLocked installs or updates the nftables ingress guard.
func (e *Engine) applyRulesLocked() error {
	svcs := e.snap.Load().Services()
	if e.guard == nil {
		// The guard keeps the namespace's descriptor: its updates and
		// its removal go there, whoever calls.
		g, err := InstallIngressGuard(int(e.ns), e.cfg.NftTable, []string{e.iface.Name}, svcs)
		if err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		e.guard = g
		return nil
	}
	if err := e.guard.Update(svcs); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	return nil
}

// countersForLocked returns the connection counters of real server id,
// the same for the engine's life.
func (e *Engine) countersForLocked(id uint32) *sched.Counters {
	for int(id) >= len(e.byID) {
		e.byID = append(e.byID, nil)
	}
	if e.byID[id] == nil {
		e.byID[id] = new(sched.Counters)
	}
	return e.byID[id]
}

func (e *Engine) publishCountersLocked() {
	s := append([]*sched.Counters(nil), e.byID...)
	e.counters.p.Store(&s)
}

// Stop stops the workers, removes the nftables rules and closes every
// socket. It is safe to call more than once.
func (e *Engine) Stop() error {
	e.stopDrainer()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return nil
	}
	e.stopped = true
	var errs []error
	for _, rt := range e.workers {
		rt.ring.Close()
	}
	e.wg.Wait()
	if e.guard != nil {
		if err := e.guard.Remove(); err != nil {
			errs = append(errs, fmt.Errorf("engine: %w", err))
		}
		e.guard = nil
	}
	e.close()
	return errors.Join(errs...)
}

// close releases what NewEngine opened.
func (e *Engine) close() {
	for _, rt := range e.workers {
		rt.ring.Close()
		rt.tx.Close()
	}
	if e.neigh != nil {
		e.neigh.Close()
	}
	if e.stopNeig != nil {
		e.stopNeig()
	}
	if e.watchDone != nil {
		<-e.watchDone
	}
	if e.rtnl != nil {
		e.rtnl.Close()
	}
	if e.ns.IsOpen() {
		e.ns.Close()
	}
}

// engineRouter finds egresses in the kernel's routing table of the
// engine's namespace, through the engine's netlink handle. The engine
// sends on its one interface.
type engineRouter struct {
	e *Engine
}

func (r engineRouter) Egress(dst netip.Addr) (Egress, error) {
	e := r.e
	rt, err := routeWith(e.rtnl, dst)
	if err != nil {
		return Egress{}, err
	}
	if rt.Ifindex != e.iface.Index {
		return Egress{}, fmt.Errorf("the kernel routes %s through interface %d, not %s, where govs sends", dst, rt.Ifindex, e.iface.Name)
	}
	eg := Egress{Ifindex: rt.Ifindex, NextHop: rt.NextHop(dst), Src: rt.Src, MTU: rt.MTU, MAC: e.iface.MAC}
	if eg.MTU == 0 {
		eg.MTU = e.iface.MTU
	}
	if !eg.Src.IsValid() {
		for _, p := range e.iface.Addrs {
			if p.Addr().Is4() == dst.Is4() {
				eg.Src = p.Addr()
				break
			}
		}
	}
	return eg, nil
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	st := Stats{Verdicts: map[string]uint64{}, Snapshots: e.swaps.Load()}
	snap := e.snap.Load()
	for _, rt := range e.workers {
		for v := Verdict(1); v < numVerdicts; v++ {
			if n := rt.stats.verdicts[v].Load(); n > 0 {
				st.Verdicts[v.String()] += n
			}
		}
		st.Stateless += rt.stats.stateless.Load()
		st.TableFull += rt.stats.tableFull.Load()
		st.RateLimited += rt.stats.rateLimited.Load()
		st.NoDestExpired += rt.stats.noDest.Load()
		st.Conns += rt.w.conns.Len()
		rs := rt.ring.Stats()
		st.RxPackets += rs.Packets
		st.RxDrops += rs.Drops
		ts := rt.tx.Stats()
		st.TxSent += ts.Sent
		st.TxDropped += ts.Dropped
	}
	st.Draining, _ = snap.Draining()
	for i := range snap.services {
		svc := &snap.services[i]
		ss := ServiceStats{ID: svc.id, Name: svc.name, Scheduler: svc.sched.Algorithm().String(),
			Persistence: svc.persistence, Proto: svc.proto, Addrs: svc.addrs}
		for _, rt := range e.workers {
			if sv := rt.stats.svc.Load(); sv != nil && int(svc.id) < len(*sv) {
				c := &(*sv)[svc.id]
				ss.Conns += c.conns.Load()
				ss.Packets += c.packets.Load()
				ss.Bytes += c.bytes.Load()
			}
		}
		for _, bi := range svc.backends {
			b := &snap.backends[bi]
			bs := BackendStats{ID: b.id, Addr: b.addr.Addr(), Method: b.method, Weight: b.weight}
			if b.counters != nil {
				bs.ActiveConns = max(b.counters.Active.Load(), 0)
				bs.InactiveConns = max(b.counters.Inactive.Load(), 0)
			}
			for _, rt := range e.workers {
				if rs := rt.stats.rs.Load(); rs != nil && int(b.id) < len(*rs) {
					c := &(*rs)[b.id]
					bs.Conns += c.conns.Load()
					bs.Packets += c.packets.Load()
					bs.Bytes += c.bytes.Load()
				}
			}
			ss.Backends = append(ss.Backends, bs)
		}
		st.Services = append(st.Services, ss)
	}
	return st
}
