package check

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tcpPoller runs the TCP_CHECK probes of Run without a goroutine each:
// the scheduler's loop opens a non-blocking socket and starts connecting
// (socket, the checker's options, connect), registers it with an epoll
// instance of the poller's own, and goes on; the poller's goroutine waits
// in epoll_wait for the connections to complete or their connect_timeout
// to pass, reads SO_ERROR, closes with a reset and applies the result. A
// probe thus costs socket, connect, epoll_ctl, getsockopt, setsockopt and
// close, and no goroutine switch, timer, channel or allocation: keepalived's
// design, one thread and one epoll for every checker (BenchmarkTCPCheck10k,
// BenchmarkTCPCheck10kVsKeepalived).
//
// The poller lives as long as Run, which shuts it down: probes in flight
// are closed, their results dropped.
type tcpPoller struct {
	m     *Manager
	ctx   context.Context
	epfd  int
	evfd  int // an eventfd that wakes epoll_wait
	epoch time.Time
	done  chan struct{}

	mu sync.Mutex
	// The fields below are guarded by mu.
	byFD []*tcpFlight // the probe each socket belongs to
	// heap orders the probes in flight by deadline (tcpFlight.at).
	heap    []*tcpFlight
	seq     uint32
	waiting bool  // the poller is in epoll_wait, or about to be
	until   int64 // and wakes by itself at this time (epoch ns)
	woken   bool  // the eventfd was written since
	closing bool
}

// tcpFlight is the probe in flight of one checker: a checker has at most
// one, and keeps this struct from probe to probe.
type tcpFlight struct {
	c     *checker
	fd    int
	seq   uint32 // tells a socket's epoll events from an older socket's
	at    int64  // deadline, epoch ns; math.MaxInt64: none
	hidx  int    // index in heap, -1 when not in it
	begin time.Time
	// sa and local are the target and bindto addresses, built once.
	sa, local unix.Sockaddr
}

// tcpDone is a probe taken out of the poller's tables, to finish.
type tcpDone struct {
	f        *tcpFlight
	events   uint32
	timedOut bool
	canceled bool
}

// errConnectTimeout is what a probe fails with after connect_timeout, as
// the net package says it.
var errConnectTimeout = errors.New("i/o timeout")

// startTCP starts a TCP_CHECK probe on the poller, and returns false
// when this checker's probes must run on a worker instead. Called by
// the loop only.
func (m *Manager) startTCP(ctx context.Context, j job) bool {
	if _, ok := j.c.prober.(*tcpProber); !ok || m.tcpOff {
		return false
	}
	if m.tcp == nil {
		t, err := newTCPPoller(m, ctx)
		if err != nil {
			m.tcpOff = true
			m.log.Warn("TCP_CHECK probes run on workers", "error", err)
			return false
		}
		m.tcp = t
	}
	m.tcp.start(j.c)
	return true
}

// stopTCP closes the poller's probes and waits for it. Run calls it once
// the loop has returned.
func (m *Manager) stopTCP() {
	if m.tcp != nil {
		m.tcp.shutdown()
		m.tcp = nil
	}
}

func newTCPPoller(m *Manager, ctx context.Context) (*tcpPoller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	t := &tcpPoller{m: m, ctx: ctx, epfd: epfd, evfd: evfd, epoch: time.Now(), done: make(chan struct{})}
	go t.run()
	return t, nil
}

func (t *tcpPoller) now() int64 { return int64(time.Since(t.epoch)) }

// flight returns the checker's flight, built at its first probe.
func (t *tcpPoller) flight(c *checker) (*tcpFlight, error) {
	if c.tcp != nil {
		return c.tcp, nil
	}
	sp := c.spec
	f := &tcpFlight{hidx: -1}
	var err error
	if f.sa, err = tcpSockaddr(sp.target); err != nil {
		return nil, err
	}
	if a := localAddr(sp.cfg); a.IsValid() {
		if f.local, err = tcpSockaddr(netip.AddrPortFrom(a, sp.cfg.BindPort)); err != nil {
			return nil, err
		}
	}
	c.tcp = f
	return f, nil
}

// start opens a checker's socket and starts connecting; the result comes
// through Manager.completeTCP, here when it is known at once.
func (t *tcpPoller) start(c *checker) {
	begin := t.m.clock.Now()
	f, err := t.flight(c)
	if err != nil {
		t.m.completeTCP(t.ctx, c, tcpFailure(c.spec, err), begin)
		return
	}
	var fd int
	var connected bool
	if t.m.inPlace {
		fd, connected, err = tcpOpen(c.spec, f)
	} else {
		err = t.m.do(func() error {
			var err error
			fd, connected, err = tcpOpen(c.spec, f)
			return err
		})
	}
	if err != nil {
		t.m.completeTCP(t.ctx, c, tcpFailure(c.spec, err), begin)
		return
	}
	if connected {
		tcpReset(fd)
		t.m.completeTCP(t.ctx, c, result{ok: true}, begin)
		return
	}
	f.c, f.fd, f.begin = c, fd, begin
	f.at = math.MaxInt64
	if d := c.spec.cfg.ConnectTimeout; d > 0 {
		f.at = t.now() + int64(d)
	}
	t.mu.Lock()
	t.seq++
	f.seq = t.seq
	for fd >= len(t.byFD) {
		t.byFD = append(t.byFD, nil)
	}
	t.byFD[fd] = f
	if f.at != math.MaxInt64 {
		t.push(f)
	}
	// Registered under mu, so that the poller cannot close the socket
	// (and the number be reused) before it is in epoll.
	ev := unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(fd), Pad: int32(f.seq)}
	err = unix.EpollCtl(t.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	if err != nil {
		t.byFD[fd] = nil
		t.remove(f)
		t.mu.Unlock()
		unix.Close(fd)
		t.m.completeTCP(t.ctx, c, tcpFailure(c.spec, os.NewSyscallError("epoll_ctl", err)), begin)
		return
	}
	wake := t.waiting && !t.woken && f.at < t.until
	if wake {
		t.woken = true
	}
	t.mu.Unlock()
	if wake {
		t.wake()
	}
}

func (t *tcpPoller) wake() {
	one := [8]byte{1}
	unix.Write(t.evfd, one[:])
}

// shutdown closes every probe in flight, stops the poller and releases its
// descriptors.
func (t *tcpPoller) shutdown() {
	t.mu.Lock()
	t.closing = true
	t.mu.Unlock()
	t.wake()
	<-t.done
	unix.Close(t.epfd)
	unix.Close(t.evfd)
}

// run is the poller's goroutine.
func (t *tcpPoller) run() {
	defer close(t.done)
	events := make([]unix.EpollEvent, 256)
	var ready []tcpDone
	for {
		t.mu.Lock()
		now := t.now()
		for len(t.heap) > 0 && t.heap[0].at <= now {
			f := t.heap[0]
			t.remove(f)
			t.byFD[f.fd] = nil
			ready = append(ready, tcpDone{f: f, timedOut: true})
		}
		if t.closing {
			for fd, f := range t.byFD {
				if f != nil {
					t.byFD[fd] = nil
					ready = append(ready, tcpDone{f: f, canceled: true})
				}
			}
			t.heap = t.heap[:0]
			t.mu.Unlock()
			t.finish(ready)
			return
		}
		timeout := -1
		t.until = math.MaxInt64
		if len(t.heap) > 0 {
			t.until = t.heap[0].at
			timeout = int((t.until - now + int64(time.Millisecond) - 1) / int64(time.Millisecond))
		}
		t.waiting = len(ready) == 0
		t.woken = false
		t.mu.Unlock()
		if len(ready) > 0 {
			ready = t.finish(ready)
			continue
		}

		n, err := unix.EpollWait(t.epfd, events, timeout)
		if err != nil && err != unix.EINTR {
			// Not expected with valid arguments; do not spin.
			time.Sleep(time.Millisecond)
		}
		woken := false
		t.mu.Lock()
		t.waiting = false
		for _, ev := range events[:max(n, 0)] {
			fd := int(ev.Fd)
			if fd == t.evfd {
				woken = true
				continue
			}
			if fd < len(t.byFD) {
				if f := t.byFD[fd]; f != nil && f.seq == uint32(ev.Pad) {
					t.byFD[fd] = nil
					t.remove(f)
					ready = append(ready, tcpDone{f: f, events: ev.Events})
				}
			}
		}
		t.mu.Unlock()
		if woken {
			var b [8]byte
			unix.Read(t.evfd, b[:])
		}
		ready = t.finish(ready)
	}
}

// finish closes the sockets of probes taken out of the tables and applies
// their results; it returns ready emptied.
func (t *tcpPoller) finish(ready []tcpDone) []tcpDone {
	for i, d := range ready {
		f := d.f
		var r result
		switch {
		case d.canceled:
			unix.Close(f.fd)
			r = tcpFailure(f.c.spec, context.Canceled)
		case d.timedOut:
			unix.Close(f.fd)
			r = tcpFailure(f.c.spec, errConnectTimeout)
		default:
			v, err := unix.GetsockoptInt(f.fd, unix.SOL_SOCKET, unix.SO_ERROR)
			switch {
			case err != nil:
				unix.Close(f.fd)
				r = tcpFailure(f.c.spec, os.NewSyscallError("getsockopt", err))
			case v != 0:
				unix.Close(f.fd)
				r = tcpFailure(f.c.spec, os.NewSyscallError("connect", syscall.Errno(v)))
			case d.events&(unix.EPOLLERR|unix.EPOLLHUP) != 0:
				unix.Close(f.fd)
				r = tcpFailure(f.c.spec, os.NewSyscallError("connect", syscall.ECONNRESET))
			default:
				tcpReset(f.fd)
				r = result{ok: true}
			}
		}
		c, begin := f.c, f.begin
		f.c = nil
		ready[i] = tcpDone{}
		t.m.completeTCP(t.ctx, c, r, begin)
	}
	return ready[:0]
}

// push adds f to the deadline heap. t.mu is held.
func (t *tcpPoller) push(f *tcpFlight) {
	f.hidx = len(t.heap)
	t.heap = append(t.heap, f)
	t.up(f.hidx)
}

// remove takes f out of the deadline heap, if it is there. t.mu is held.
func (t *tcpPoller) remove(f *tcpFlight) {
	i := f.hidx
	if i < 0 {
		return
	}
	n := len(t.heap) - 1
	if i != n {
		t.swap(i, n)
	}
	t.heap[n] = nil
	t.heap = t.heap[:n]
	f.hidx = -1
	if i != n {
		t.down(i)
		t.up(i)
	}
}

func (t *tcpPoller) swap(i, j int) {
	h := t.heap
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}

func (t *tcpPoller) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if t.heap[p].at <= t.heap[i].at {
			return
		}
		t.swap(i, p)
		i = p
	}
}

func (t *tcpPoller) down(i int) {
	n := len(t.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && t.heap[r].at < t.heap[l].at {
			m = r
		}
		if t.heap[i].at <= t.heap[m].at {
			return
		}
		t.swap(i, m)
		i = m
	}
}

// tcpOpen opens a non-blocking socket with the checker's fwmark, bind_if
// and bindto, and starts connecting; connected says the connection is
// already up. Where the checkers run (Options.Do).
func tcpOpen(sp *spec, f *tcpFlight) (fd int, connected bool, err error) {
	family := unix.AF_INET
	if _, ok := f.sa.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, false, os.NewSyscallError("socket", err)
	}
	if err = tcpOptions(fd, sp, f); err != nil {
		unix.Close(fd)
		return -1, false, err
	}
	switch err = unix.Connect(fd, f.sa); err {
	case nil:
		return fd, true, nil
	case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
	default:
		unix.Close(fd)
		return -1, false, os.NewSyscallError("connect", err)
	}
	// A server close by (a local one, one behind a veth) may have
	// answered already, within connect: then the probe is over without a
	// trip through epoll.
	switch tcpState(fd) {
	case tcpEstablished:
		return fd, true, nil
	case tcpClose:
		if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && v != 0 {
			unix.Close(fd)
			return -1, false, os.NewSyscallError("connect", syscall.Errno(v))
		}
	}
	return fd, false, nil
}

// TCP states (include/net/tcp_states.h).
const (
	tcpEstablished = 1
	tcpClose       = 7
)

// tcpState is a socket's TCP state: the first byte of its TCP_INFO (the
// kernel copies no more than asked), 0 when it cannot say.
func tcpState(fd int) byte {
	var state byte
	n := uint32(1)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(&state)), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 || n != 1 {
		return 0
	}
	return state
}

// tcpOptions sets fwmark (SO_MARK) and bind_if (SO_BINDTODEVICE), and
// binds to bindto, as the net.Dialer of dialer does.
func tcpOptions(fd int, sp *spec, f *tcpFlight) error {
	cfg := sp.cfg
	if cfg.FWMark != 0 {
		if e := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(cfg.FWMark)); e != nil {
			return fmt.Errorf("set fwmark %d: %w", cfg.FWMark, e)
		}
	}
	if cfg.BindIf != "" {
		if e := unix.BindToDevice(fd, cfg.BindIf); e != nil {
			return fmt.Errorf("bind to device %s: %w", cfg.BindIf, e)
		}
	}
	if f.local != nil {
		if e := unix.Bind(fd, f.local); e != nil {
			return os.NewSyscallError("bind", e)
		}
	}
	return nil
}

// tcpReset closes a connected socket with a reset (SO_LINGER 0), so that
// thousands of checks a second leave no TIME_WAIT sockets.
func tcpReset(fd int) {
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
	unix.Close(fd)
}

// tcpSockaddr is an address as a socket address; a zone names the
// interface of a link-local IPv6 address.
func tcpSockaddr(a netip.AddrPort) (unix.Sockaddr, error) {
	ip := a.Addr()
	if ip.Is4() || ip.Is4In6() {
		return &unix.SockaddrInet4{Addr: ip.Unmap().As4(), Port: int(a.Port())}, nil
	}
	sa := &unix.SockaddrInet6{Addr: ip.As16(), Port: int(a.Port())}
	if z := ip.Zone(); z != "" {
		ifi, err := net.InterfaceByName(z)
		if err != nil {
			return nil, err
		}
		sa.ZoneId = uint32(ifi.Index)
	}
	return sa, nil
}

// tcpFailure is a failed probe's result, worded as the net package's
// dialer words it: "connect: dial tcp ADDR: connect: connection refused".
func tcpFailure(sp *spec, err error) result {
	op := &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(sp.target), Err: err}
	if a := localAddr(sp.cfg); a.IsValid() {
		op.Source = net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, sp.cfg.BindPort))
	}
	return fail("connect: %v", op)
}

// completeTCP applies a poller probe's result and frees its slot, as a
// worker does.
func (m *Manager) completeTCP(ctx context.Context, c *checker, r result, begin time.Time) {
	m.complete(ctx, c, r, begin)
	m.mu.Lock()
	m.inflight--
	full := m.inflight+1 == m.maxConcurrent
	m.mu.Unlock()
	if full {
		m.poke() // the loop may wait for a free slot
	}
}
