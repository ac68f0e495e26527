package check

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govs-lb/govs/config"
)

// DefaultMaxConcurrent is how many probes run at once by default: it bounds
// the checkers' goroutines, sockets and scripts.
const DefaultMaxConcurrent = 512

// Options configure a Manager. A nil *Options and zero fields mean the
// defaults.
type Options struct {
	// Logger receives one line per change of state (a checker, a real
	// server, a quorum), never one per probe unless log_all_failures asks.
	// nil: slog.Default().
	Logger *slog.Logger
	// Clock times the schedule; nil: the machine's clock.
	Clock Clock
	// MaxConcurrent bounds the probes in flight; 0: DefaultMaxConcurrent.
	MaxConcurrent int
	// Do, when set, runs every function that opens a checker's socket or
	// starts a script, so that tests can probe from inside a network
	// namespace (netsim's Host.Do). nil: run them in place.
	Do func(fn func() error) error
}

// Manager runs the health checkers of a configuration and keeps the state
// of every real server and virtual server. Its methods are safe for
// concurrent use.
type Manager struct {
	log           *slog.Logger
	clock         Clock
	do            func(fn func() error) error
	maxConcurrent int
	changes       chan struct{}
	wake          chan struct{}
	// newProber builds a checker's prober; tests replace it.
	newProber func(*spec) prober
	// bufs holds the HTTP checks' read buffers.
	bufs sync.Pool
	// inPlace says Options.Do was not set. tcp runs TCP_CHECK probes
	// during Run (tcppoll_linux.go), tcpOff when it could not start;
	// both are the loop's.
	inPlace bool
	tcp     *tcpPoller
	tcpOff  bool
	// probed, when set, sees every probe's result (benchmarks).
	probed func(result)

	mu sync.Mutex
	// The fields below are guarded by mu.
	services map[string]*service
	order    []*service // configuration order
	queue    queue
	inflight int
	// sleeping says the loop waits for its timer (or, with sleepForever,
	// for a poke) until sleepUntil: a checker planned earlier must wake it.
	sleeping     bool
	sleepForever bool
	sleepUntil   time.Time
	started      bool            // Run was called
	finished     bool            // Run is returning: nothing more runs
	runCtx       context.Context // Run's context, for notify scripts
	pending      []scriptRun     // notify scripts asked for before Run
	state        *State          // nil when stale
	verdictAt    time.Time       // when the last verdict changed a real server
	scripts      sync.WaitGroup  // notify scripts running; Add under mu while !finished
}

// NewManager returns a Manager with no configuration. Nothing runs until
// Run.
func NewManager(opts *Options) *Manager {
	var o Options
	if opts != nil {
		o = *opts
	}
	m := &Manager{
		log:           o.Logger,
		clock:         o.Clock,
		do:            o.Do,
		maxConcurrent: o.MaxConcurrent,
		changes:       make(chan struct{}, 1),
		wake:          make(chan struct{}, 1),
		services:      map[string]*service{},
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.clock == nil {
		m.clock = realClock{}
	}
	if m.do == nil {
		m.inPlace = true
		m.do = func(fn func() error) error { return fn() }
	}
	if m.maxConcurrent <= 0 {
		m.maxConcurrent = DefaultMaxConcurrent
	}
	m.newProber = m.defaultProber
	return m
}

// Changes delivers a value whenever State has changed since it was last
// read. Values coalesce: a slow reader gets one for many changes, and the
// checkers never wait for it.
func (m *Manager) Changes() <-chan struct{} { return m.changes }

// State returns the current state of every virtual and real server.
func (m *Manager) State() *State {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == nil {
		st := &State{services: make(map[string]*ServiceState, len(m.order)), verdictAt: m.verdictAt}
		for _, s := range m.order {
			st.services[s.name] = s.build()
		}
		m.state = st
	}
	return m.state
}

// Run probes the real servers until ctx is done, then stops every probe
// and kills every script it started, and returns when they are gone. Run
// is called once; Update may be called before and during it.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.started {
		m.mu.Unlock()
		return errors.New("check: Run called twice")
	}
	m.started = true
	m.runCtx = ctx
	now := m.clock.Now()
	for _, s := range m.order {
		for _, rs := range s.reals {
			for _, c := range rs.checkers {
				if c.sched == unplanned {
					m.plan(c, now.Add(c.firstDelay))
				}
			}
		}
	}
	pending := m.admit(m.pending)
	m.pending = nil
	m.mu.Unlock()
	m.launch(pending)

	var workers sync.WaitGroup
	m.loop(ctx, &workers)
	m.stopTCP()
	workers.Wait()

	m.mu.Lock()
	m.finished = true
	var last []scriptRun
	for _, s := range m.order {
		last = append(last, shutdownScripts(s)...)
	}
	m.mu.Unlock()
	m.runShutdownScripts(last)
	m.scripts.Wait()
	return nil
}

// Scheduling constants.
const (
	// batchWindow lets the loop start together the probes due within it,
	// so that 10,000 checkers do not wake it 10,000 times a second.
	batchWindow = 5 * time.Millisecond
	// workerIdle is how long an idle worker waits for a probe before it
	// exits; busy periods keep workers (and their grown stacks) warm.
	workerIdle = 10 * time.Second
)

// job is a probe to run.
type job struct {
	c    *checker
	step int
}

// loop starts the probes that are due, as many at once as MaxConcurrent
// allows, until ctx is done. Probes run on workers: goroutines started as
// needed, at most MaxConcurrent, which exit after workerIdle without work.
func (m *Manager) loop(ctx context.Context, workers *sync.WaitGroup) {
	// jobs is never full: it holds probes in flight.
	jobs := make(chan job, m.maxConcurrent)
	var idle atomic.Int32 // workers ready for a job
	var batch []job
	for {
		m.mu.Lock()
		now := m.clock.Now()
		horizon := now.Add(batchWindow)
		batch = batch[:0]
		for m.inflight < m.maxConcurrent {
			c := m.queue.next(horizon.UnixNano())
			if c == nil {
				break
			}
			c.sched = running
			m.inflight++
			batch = append(batch, job{c, c.url})
		}
		wait := time.Duration(-1)
		if c := m.queue.first(); c != nil && m.inflight < m.maxConcurrent {
			wait = c.due.Sub(now)
		}
		m.sleeping = len(batch) == 0
		m.sleepForever = wait < 0
		m.sleepUntil = now.Add(wait)
		m.mu.Unlock()

		for _, j := range batch {
			if m.startTCP(ctx, j) {
				continue // on the poller, without a worker
			}
			if !claim(&idle) {
				workers.Add(1)
				go m.worker(ctx, j, jobs, &idle, workers)
				continue
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
		}
		if len(batch) > 0 {
			continue
		}
		var timer <-chan time.Time
		stop := func() bool { return false }
		if wait >= 0 {
			timer, stop = m.clock.NewTimer(wait)
		}
		select {
		case <-ctx.Done():
			stop()
			return
		case <-m.wake:
		case <-timer:
		}
		stop()
	}
}

// worker runs probes until ctx is done or it has been idle for workerIdle.
//
// idle counts the workers ready for a job. The loop claims one (claim)
// before it sends a job, and starts a new worker when none is ready; a
// worker that times out leaves only if it can claim itself, else a job is
// on its way to it. A worker counts itself ready while its probe still
// counts in m.inflight (freeSlot): so there are never more workers than
// probes in flight, at most MaxConcurrent.
func (m *Manager) worker(ctx context.Context, j job, jobs <-chan job, idle *atomic.Int32, wg *sync.WaitGroup) {
	defer wg.Done()
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		begin := m.clock.Now()
		r := j.c.prober.probe(ctx, j.step)
		m.complete(ctx, j.c, r, begin)
		m.freeSlot(idle)
		t.Reset(workerIdle)
		select {
		case j = <-jobs:
			continue
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if claim(idle) {
			return
		}
		select {
		case j = <-jobs:
		case <-ctx.Done():
			return
		}
	}
}

// freeSlot frees a worker's slot: the worker counts as ready before its
// probe leaves m.inflight.
func (m *Manager) freeSlot(idle *atomic.Int32) {
	m.mu.Lock()
	idle.Add(1)
	m.inflight--
	full := m.inflight+1 == m.maxConcurrent
	m.mu.Unlock()
	if full {
		m.poke() // the loop may wait for a free slot
	}
}

// claim takes one ready worker from the count, if there is one.
func claim(idle *atomic.Int32) bool {
	for {
		n := idle.Load()
		if n == 0 {
			return false
		}
		if idle.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// poke wakes the loop to look at the schedule again.
func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// changed tells the reader of Changes.
func (m *Manager) changed() {
	select {
	case m.changes <- struct{}{}:
	default:
	}
}

// complete applies a probe's result and plans the checker's next probe.
func (m *Manager) complete(ctx context.Context, c *checker, r result, begin time.Time) {
	if m.probed != nil {
		m.probed(r)
	}
	m.mu.Lock()
	if c.sched != running || m.finished || ctx.Err() != nil {
		m.mu.Unlock()
		return
	}
	var fx effects
	c.lastStart = begin
	delay := apply(c, r, &fx)
	now := m.clock.Now()
	c.lastDuration = now.Sub(begin)
	due := now.Add(delay)
	if c.cfg().Kind == config.CheckMisc {
		// keepalived times a script's next run from the last start.
		due = begin.Add(delay)
		if !due.After(now) {
			due = now.Add(time.Microsecond)
		}
	}
	m.plan(c, due)
	if fx.changed {
		m.verdictAt = now
	}
	if fx.changed || fx.stale {
		m.state = nil
	}
	scripts := m.admit(fx.scripts)
	m.mu.Unlock()

	fx.flush(ctx, m.log)
	m.launch(scripts)
	if fx.changed {
		m.changed()
	}
}

// plan puts a checker in the schedule, and wakes the loop if it sleeps
// past the checker's time. m.mu is held.
func (m *Manager) plan(c *checker, due time.Time) {
	c.due = due
	c.sched = queued
	m.queue.push(c)
	if m.sleeping && (m.sleepForever || due.Before(m.sleepUntil)) {
		m.sleeping = false
		m.poke()
	}
}

// retire takes a checker out of the schedule for good; the queue drops
// its entry lazily. m.mu is held.
func (m *Manager) retire(c *checker) { c.sched = retired }
