package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govs-lb/govs/config"
)

// Options configure a Manager. The zero value (or nil) runs on the real
// system.
type Options struct {
	Logger *slog.Logger
	// Scripts runs notify and vrrp_script commands; nil means
	// SystemScripts with the configuration's script_user and
	// enable_script_security.
	Scripts ScriptRunner
	// Network is the operating system; nil means SystemNetwork(-1),
	// opened by Run.
	Network Network
	// Clock is the time; nil means the real clock.
	Clock Clock
	// RxQueue is how many received adverts wait for the state machine
	// (default 256); more are dropped and counted.
	RxQueue int
	// Forward, if set, is told that an instance's virtual services are to
	// be forwarded (on) just before its addresses are added, and that they
	// are not just after its addresses are removed: the data plane is
	// ready before the kernel owns a VIP, so no connection to it is reset.
	// It runs on the state machine's goroutine and must not call the
	// Manager.
	Forward func(instance string, on bool)
}

// Manager runs the VRRP instances of a configuration.
type Manager struct {
	opts    Options
	log     *slog.Logger
	clock   Clock
	updates chan update

	// mu guards the fields below. The Run loop holds it while it steps
	// the machine; States takes it to read.
	mu      sync.Mutex
	cfg     *config.Config
	machine *Machine
	running bool
	// loopDone is closed when Run's loop has returned.
	loopDone chan struct{}

	rxQueueFull atomic.Uint64
	parseDrops  [numVerdicts]atomic.Uint64
}

type update struct {
	cfg   *config.Config
	reply chan error
}

// NewManager returns a Manager; Update gives it a configuration and Run
// runs it.
func NewManager(opts *Options) *Manager {
	m := &Manager{updates: make(chan update)}
	if opts != nil {
		m.opts = *opts
	}
	m.log = m.opts.Logger
	if m.log == nil {
		m.log = slog.Default()
	}
	m.clock = m.opts.Clock
	if m.clock == nil {
		m.clock = realClock{}
	}
	if m.opts.RxQueue <= 0 {
		m.opts.RxQueue = 256
	}
	return m
}

// Update installs cfg's instances, sync groups and scripts: before Run,
// the ones Run starts; while Run runs, a reload in which an instance whose
// settings are unchanged keeps its state.
func (m *Manager) Update(cfg *config.Config) error {
	for _, in := range cfg.Instances {
		if in.Family() != 4 {
			return fmt.Errorf("vrrp_instance %s: IPv6 instances are not supported yet", in.Name)
		}
	}
	m.mu.Lock()
	if !m.running {
		m.cfg = cfg
		m.mu.Unlock()
		return nil
	}
	done := m.loopDone
	m.mu.Unlock()
	u := update{cfg: cfg, reply: make(chan error, 1)}
	select {
	case m.updates <- u:
		return <-u.reply
	case <-done: // Run is returning: the next Run starts with cfg
		m.mu.Lock()
		m.cfg = cfg
		m.mu.Unlock()
		return nil
	}
}

// States returns each instance's state and addresses.
func (m *Manager) States() map[string]InstanceState {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.machine == nil {
		out := map[string]InstanceState{}
		if m.cfg != nil {
			for _, in := range m.cfg.Instances {
				st := InstanceState{State: StateInit, Priority: uint8(in.Priority)}
				for _, v := range in.VIPs {
					st.VIPs = append(st.VIPs, v.Prefix)
				}
				for _, v := range in.ExcludedVIPs {
					st.Excluded = append(st.Excluded, v.Prefix)
				}
				out[in.Name] = st
			}
		}
		return out
	}
	return m.machine.States()
}

// Dropped returns how many received packets were dropped before reaching
// an instance, by reason (not adverts, bad checksum, queue full, unknown
// VRID).
func (m *Manager) Dropped() map[Verdict]uint64 {
	out := map[Verdict]uint64{}
	for v := range m.parseDrops {
		if n := m.parseDrops[v].Load(); n > 0 {
			out[Verdict(v)] = n
		}
	}
	if n := m.rxQueueFull.Load(); n > 0 {
		out[DropQueue] = n
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.machine != nil {
		for _, n := range m.machine.UnknownVRID() {
			out[DropUnknownVRID] += n
		}
	}
	return out
}

type rxPacket struct {
	ifname string
	p      *Packet
}

type linkEvent struct {
	name string
	up   bool
}

type scriptEvent struct {
	name string
	ok   bool
}

// Run runs the instances until ctx is done, then stops them as keepalived
// does on SIGTERM: masters send a priority-0 advert and remove their
// addresses, and notify_stop scripts run.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return errors.New("vrrp: Run called twice")
	}
	cfg := m.cfg
	if cfg == nil {
		m.mu.Unlock()
		return errors.New("vrrp: Run before Update")
	}
	m.running = true
	loopDone := make(chan struct{})
	m.loopDone = loopDone
	m.mu.Unlock()
	defer close(loopDone)

	netw := m.opts.Network
	if netw == nil {
		var err error
		if netw, err = SystemNetwork(-1); err != nil {
			return err
		}
		defer netw.Close()
	}
	scripts := m.opts.Scripts
	if scripts == nil {
		scripts = SystemScripts(ScriptOptions{User: cfg.Global.ScriptUser, Group: cfg.Global.ScriptGroup, Security: cfg.Global.ScriptSecurity})
	}
	r := &runner{m: m, net: netw, scripts: scripts, insts: map[string]*instRuntime{}, socks: map[SocketSpec]*socket{},
		rx: make(chan rxPacket, m.opts.RxQueue), links: make(chan linkEvent, 64), results: make(chan scriptEvent, 64)}
	runCtx, cancel := context.WithCancel(context.Background())
	r.ctx = runCtx
	defer func() {
		cancel()
		r.wg.Wait()
		r.notifyWG.Wait()
		m.mu.Lock()
		m.running = false
		m.mu.Unlock()
	}()

	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := netw.WatchLinks(runCtx, func(name string, up bool) {
			select {
			case r.links <- linkEvent{name, up}:
			case <-runCtx.Done():
			}
		})
		if err != nil && runCtx.Err() == nil {
			m.log.Warn("link tracking stopped", "err", err)
		}
	}()

	now := m.clock.Now()
	m.mu.Lock()
	machine, err := r.build(cfg, now)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	m.machine = machine
	if d := cfg.Global.StartupDelay; d > 0 {
		machine.SetStartupDelay(now.Add(d))
	}
	machine.Start(now)
	r.startScripts(machine)
	m.mu.Unlock()

	var timer <-chan time.Time
	var armed time.Time
	for {
		m.mu.Lock()
		next := m.machine.Next()
		m.mu.Unlock()
		if next != armed {
			armed, timer = next, nil
			if !next.IsZero() {
				timer = m.clock.After(max(0, next.Sub(m.clock.Now())))
			}
		}
		select {
		case <-ctx.Done():
			m.mu.Lock()
			m.machine.Stop(m.clock.Now())
			m.mu.Unlock()
			r.closeSockets()
			r.waitNotifies(3 * time.Second)
			return nil
		case <-timer:
			armed = time.Time{}
			m.step(func(mc *Machine, now time.Time) { mc.Tick(now) })
		case pk := <-r.rx:
			m.step(func(mc *Machine, now time.Time) {
				mc.Tick(now) // timers first: a flood cannot hold them back
				mc.Receive(now, pk.ifname, pk.p)
			})
		case ev := <-r.links:
			m.step(func(mc *Machine, now time.Time) { mc.SetInterface(ev.name, ev.up, now) })
		case ev := <-r.results:
			m.step(func(mc *Machine, now time.Time) { mc.ScriptResult(ev.name, ev.ok, now) })
		case u := <-m.updates:
			err := r.reload(u.cfg)
			u.reply <- err
			armed = time.Time{}
		}
	}
}

func (m *Manager) step(fn func(mc *Machine, now time.Time)) {
	m.mu.Lock()
	fn(m.machine, m.clock.Now())
	m.mu.Unlock()
}

// runner is what one Run owns.
type runner struct {
	m       *Manager
	net     Network
	scripts ScriptRunner
	ctx     context.Context

	insts map[string]*instRuntime // guarded by m.mu
	socks map[SocketSpec]*socket  // guarded by m.mu

	rx      chan rxPacket
	links   chan linkEvent
	results chan scriptEvent

	wg       sync.WaitGroup // readers, link watcher, scripts
	notifyWG sync.WaitGroup // notify scripts

	scriptStop context.CancelFunc
}

// instRuntime is an instance's sending side.
type instRuntime struct {
	cfg   *config.Instance
	sock  *socket
	src   netip.Addr
	dst   netip.Addr // multicast group; invalid for unicast
	ipID  uint16
	key   []byte
	auth  uint8
	group *config.SyncGroup
}

type socket struct {
	spec   SocketSpec
	conn   net.PacketConn
	cancel context.CancelFunc
}

// build opens what cfg needs and returns its Machine. Called with m.mu
// held.
func (r *runner) build(cfg *config.Config, now time.Time) (*Machine, error) {
	insts := map[string]*instRuntime{}
	links := map[string]Link{}
	link := func(name string) (Link, bool) {
		if l, ok := links[name]; ok {
			return l, true
		}
		l, err := r.net.Interface(name)
		if err != nil {
			r.m.log.Warn("interface not available", "interface", name, "err", err)
			return Link{}, false
		}
		links[name] = l
		return l, true
	}
	vips := map[netip.Addr]bool{}
	for _, in := range cfg.Instances {
		for _, v := range in.VIPs {
			vips[v.Prefix.Addr()] = true
		}
		for _, v := range in.ExcludedVIPs {
			vips[v.Prefix.Addr()] = true
		}
	}
	for _, in := range cfg.Instances {
		ir := &instRuntime{cfg: in, src: in.SrcIP}
		if !ir.src.IsValid() && in.Interface != "" {
			if l, ok := link(in.Interface); ok {
				for _, a := range l.Addrs {
					if !vips[a] {
						ir.src = a
						break
					}
				}
			}
		}
		if len(in.UnicastPeers) == 0 {
			ir.dst = in.McastDstIP
			if !ir.dst.IsValid() {
				ir.dst = cfg.Global.McastGroup4
			}
			if !ir.dst.IsValid() {
				ir.dst = netip.MustParseAddr("224.0.0.18")
			}
		}
		if in.Auth != nil && in.Version == 2 {
			ir.key = make([]byte, authLen)
			copy(ir.key, in.Auth.Pass)
			ir.auth = AuthPass
			if in.Auth.Type == config.AuthAH {
				ir.auth = AuthAH
			}
		}
		insts[in.Name] = ir
	}
	for _, g := range cfg.SyncGroups {
		for _, name := range g.Members {
			if ir := insts[name]; ir != nil {
				ir.group = g
			}
		}
	}
	mc, err := NewMachine(cfg, MachineConfig{
		Source: func(in *config.Instance) netip.Addr { return insts[in.Name].src },
		InterfaceUp: func(name string) bool {
			l, ok := link(name)
			return ok && l.Up
		},
		Effects: r,
		Logger:  r.m.log,
	})
	if err != nil {
		return nil, err
	}
	r.insts = insts
	r.syncSockets()
	return mc, nil
}

// syncSockets opens the sockets the instances need and closes the others.
func (r *runner) syncSockets() {
	want := map[SocketSpec]bool{}
	for _, ir := range r.insts {
		spec := SocketSpec{Interface: ir.cfg.Interface, Proto: ProtoVRRP}
		if ir.auth == AuthAH {
			spec.Proto = ProtoAH
		}
		if ir.dst.IsValid() {
			spec.Group = ir.dst
		} else {
			spec.Unicast = ir.src
		}
		if !ir.src.IsValid() {
			ir.sock = nil
			continue // FAULT: no address
		}
		want[spec] = true
		s := r.socks[spec]
		if s == nil {
			conn, err := r.net.Listen(spec)
			if err != nil {
				r.m.log.Error("cannot open advert socket", "instance", ir.cfg.Name, "err", err)
				ir.sock = nil
				continue
			}
			ctx, cancel := context.WithCancel(r.ctx)
			s = &socket{spec: spec, conn: conn, cancel: cancel}
			r.socks[spec] = s
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.read(ctx, s)
			}()
		}
		ir.sock = s
	}
	for spec, s := range r.socks {
		if !want[spec] {
			s.cancel()
			s.conn.Close()
			delete(r.socks, spec)
		}
	}
}

func (r *runner) closeSockets() {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	for spec, s := range r.socks {
		s.cancel()
		s.conn.Close()
		delete(r.socks, spec)
	}
}

// read receives adverts from one socket and queues them for the loop.
// Packets that are no advert are counted here; a full queue drops.
func (r *runner) read(ctx context.Context, s *socket) {
	buf := make([]byte, 65536)
	for {
		n, _, err := s.conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			r.m.log.Warn("advert socket read failed", "interface", s.spec.Interface, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		p, v := Parse(slices.Clone(buf[:n]))
		if v != Accepted {
			r.m.parseDrops[v].Add(1)
			continue
		}
		select {
		case r.rx <- rxPacket{ifname: s.spec.Interface, p: p}:
		default:
			r.m.rxQueueFull.Add(1)
		}
	}
}

// reload switches to cfg, keeping unchanged instances' states.
func (r *runner) reload(cfg *config.Config) error {
	m := r.m
	m.mu.Lock()
	defer m.mu.Unlock()
	old, oldInsts := m.machine, r.insts
	now := m.clock.Now()
	next, err := r.build(cfg, now) // swaps r.insts
	if err != nil {
		return err
	}
	newInsts := r.insts
	// The old instances leave through the old table.
	r.insts = mergeInsts(oldInsts, newInsts)
	next.Reload(old, now)
	r.insts = newInsts
	r.syncSockets()
	m.machine = next
	m.cfg = cfg
	r.restartScripts(next)
	return nil
}

func mergeInsts(old, cur map[string]*instRuntime) map[string]*instRuntime {
	out := make(map[string]*instRuntime, len(old)+len(cur))
	for k, v := range cur {
		out[k] = v
	}
	for k, v := range old {
		if _, ok := out[k]; !ok {
			out[k] = v
		} else if v.sock != nil {
			out[k].ipID = v.ipID
		}
	}
	return out
}

// startScripts runs each vrrp_script every interval, feeding results to
// the loop. Called with m.mu held.
func (r *runner) startScripts(mc *Machine) {
	ctx, cancel := context.WithCancel(r.ctx)
	r.scriptStop = cancel
	for _, s := range mc.Scripts() {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.runScript(ctx, s)
		}()
	}
}

func (r *runner) restartScripts(mc *Machine) {
	if r.scriptStop != nil {
		r.scriptStop()
	}
	r.startScripts(mc)
}

func (r *runner) runScript(ctx context.Context, s *config.VRRPScript) {
	for {
		err := r.scripts.Run(ctx, s.Script, s.Timeout)
		if ctx.Err() != nil {
			return
		}
		select {
		case r.results <- scriptEvent{name: s.Name, ok: err == nil}:
		case <-ctx.Done():
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-r.m.clock.After(s.Interval):
		}
	}
}

func (r *runner) waitNotifies(d time.Duration) {
	done := make(chan struct{})
	go func() {
		r.notifyWG.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		r.m.log.Warn("notify scripts still running at shutdown")
	}
}
