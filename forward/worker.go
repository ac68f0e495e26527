package forward

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/govs-lb/govs/sched"
)

// sender is how a worker transmits: the Linux Tx, or a recorder in tests.
type sender interface {
	Slot(n int) []byte
	Send(frame []byte)
	SendOffload(frame []byte, o *Offload)
	Flush() (int, error)
}

// neighborTable gives real servers' MAC addresses: Neighbors, or a fake.
type neighborTable interface {
	Lookup(ifindex int, addr Addr16) ([6]byte, bool)
	Resolve(ifindex int, addr Addr16)
}

// rxInfo is what the pipeline needs of a received frame: RxFrame's fields,
// so that tests can feed frames without a ring.
type rxInfo struct {
	data         []byte
	truncated    bool
	vlan         bool
	csumNotReady bool
	gso          bool
	offload      Offload
	hasOffload   bool // offload came from a virtio_net_hdr
}

// counter is a statistic one worker publishes and others read.
type counter struct{ v atomic.Uint64 }

// Load returns the counter's value; safe from any goroutine.
func (c *counter) Load() uint64 { return c.v.Load() }

// rsStats are one worker's counters of one real server.
type rsStats struct {
	packets, bytes, conns counter
}

// svcStats are one worker's counters of one virtual service.
type svcStats struct {
	packets, bytes, conns counter
}

// workerStats are one worker's counters. Only the worker writes them;
// slices are replaced (grown), never resized in place, so readers load the
// pointers atomically.
type workerStats struct {
	verdicts [numVerdicts]counter
	// stateless counts new flows sent by the stateless choice: mid-flow
	// packets of unknown flows, a full table, a new-flow rate above the
	// limit. noDest counts entries expired because their real server
	// left the configuration.
	stateless, tableFull, rateLimited, noDest counter
	rs                                        atomic.Pointer[[]rsStats]  // by real server ID
	svc                                       atomic.Pointer[[]svcStats] // by service ID
}

// plainStats are a worker's own running totals of one service or real
// server: plain fields, no atomics on the packet path. publish copies the
// ones a batch touched to the shared workerStats.
type plainStats struct {
	packets, bytes, conns uint64
	dirty                 bool
}

// localStats are the worker's running totals, published once a batch.
type localStats struct {
	verdicts                          [numVerdicts]uint64
	stateless, tableFull, rateLimited uint64
	noDest                            uint64
	rs, svc                           []plainStats // by ID
	dirtyRS, dirtySvc                 []uint32
}

func (l *localStats) touchRS(id uint32) *plainStats {
	p := &l.rs[id]
	if !p.dirty {
		p.dirty = true
		l.dirtyRS = append(l.dirtyRS, id)
	}
	return p
}

func (l *localStats) touchSvc(id uint32) *plainStats {
	p := &l.svc[id]
	if !p.dirty {
		p.dirty = true
		l.dirtySvc = append(l.dirtySvc, id)
	}
	return p
}

// worker runs the per-packet pipeline of one receive ring. Everything it
// holds is its own; the snapshot is shared and immutable.
type worker struct {
	snap      *Snapshot
	conns     *ConnTable
	timeouts  *StateTimeouts
	limiter   RateLimiter
	templates *sched.Templates
	neigh     neighborTable
	tx        sender
	// rxMAC and rxIfindex are the capture interface's: ICMP errors go
	// back there, to the client.
	rxMAC   [6]byte
	vnetTx  bool // tx carries virtio_net_hdr offloads
	counter *rsCounters
	stats   *workerStats // shared: what others read
	local   localStats   // the worker's own totals

	frags fragCache

	now   Tick  // the batch's clock, milliseconds
	nowNs int64 // the same clock in nanoseconds, for persistence templates
	ipid  uint16
	pkt   Packet
}

// rsCounters maps real server IDs to their connection counters, for the
// expiry hook, which must find them even after a reload removed the real
// server. The engine replaces the slice as IDs grow.
type rsCounters struct {
	p atomic.Pointer[[]*sched.Counters]
}

func (r *rsCounters) get(id uint32) *sched.Counters {
	if s := r.p.Load(); s != nil && int(id) < len(*s) {
		return (*s)[id]
	}
	return nil
}

// expire is the connection table's OnExpire hook: a flow ended.
func (w *worker) expire(c *Conn) {
	if c.Tmpl != (sched.Ref{}) {
		w.templates.Release(c.Tmpl, w.nowNs)
	}
	if k := w.counter.get(c.Backend); k != nil {
		if c.State.Active() {
			k.Active.Add(-1)
		} else {
			k.Inactive.Add(-1)
		}
	}
}

// setSnapshot makes s the worker's snapshot and grows its counter slices.
func (w *worker) setSnapshot(s *Snapshot) {
	w.snap = s
	if len(w.local.rs) <= int(s.maxRSID) {
		w.local.rs = append(w.local.rs, make([]plainStats, int(s.maxRSID)+1-len(w.local.rs))...)
	}
	if len(w.local.svc) <= int(s.maxSvcID) {
		w.local.svc = append(w.local.svc, make([]plainStats, int(s.maxSvcID)+1-len(w.local.svc))...)
	}
	if rs := w.stats.rs.Load(); rs == nil || len(*rs) <= int(s.maxRSID) {
		grown := make([]rsStats, s.maxRSID+1)
		if rs != nil {
			for i := range *rs {
				copyCounters(&grown[i].packets, &(*rs)[i].packets)
				copyCounters(&grown[i].bytes, &(*rs)[i].bytes)
				copyCounters(&grown[i].conns, &(*rs)[i].conns)
			}
		}
		w.stats.rs.Store(&grown)
	}
	if sv := w.stats.svc.Load(); sv == nil || len(*sv) <= int(s.maxSvcID) {
		grown := make([]svcStats, s.maxSvcID+1)
		if sv != nil {
			for i := range *sv {
				copyCounters(&grown[i].packets, &(*sv)[i].packets)
				copyCounters(&grown[i].bytes, &(*sv)[i].bytes)
				copyCounters(&grown[i].conns, &(*sv)[i].conns)
			}
		}
		w.stats.svc.Store(&grown)
	}
}

func copyCounters(dst, src *counter) { dst.v.Store(src.v.Load()) }

// handle runs one frame through the pipeline and counts its verdict.
func (w *worker) handle(f *rxInfo) Verdict {
	v := w.process(f)
	w.local.verdicts[v]++
	return v
}

// publish makes the worker's totals visible to Stats: once a batch.
func (w *worker) publish() {
	l := &w.local
	for v := range l.verdicts {
		w.stats.verdicts[v].v.Store(l.verdicts[v])
	}
	w.stats.stateless.v.Store(l.stateless)
	w.stats.tableFull.v.Store(l.tableFull)
	w.stats.rateLimited.v.Store(l.rateLimited)
	w.stats.noDest.v.Store(l.noDest)
	if rs := w.stats.rs.Load(); rs != nil {
		for _, id := range l.dirtyRS {
			p := &l.rs[id]
			p.dirty = false
			if int(id) < len(*rs) {
				c := &(*rs)[id]
				c.packets.v.Store(p.packets)
				c.bytes.v.Store(p.bytes)
				c.conns.v.Store(p.conns)
			}
		}
	}
	if sv := w.stats.svc.Load(); sv != nil {
		for _, id := range l.dirtySvc {
			p := &l.svc[id]
			p.dirty = false
			if int(id) < len(*sv) {
				c := &(*sv)[id]
				c.packets.v.Store(p.packets)
				c.bytes.v.Store(p.bytes)
				c.conns.v.Store(p.conns)
			}
		}
	}
	l.dirtyRS, l.dirtySvc = l.dirtyRS[:0], l.dirtySvc[:0]
}

func (w *worker) process(f *rxInfo) Verdict {
	switch {
	case f.truncated:
		return DropTruncated
	case f.vlan:
		return DropNotIP
	}
	p := &w.pkt
	if v := ParseFrame(f.data, p); v != Forwarded {
		return v
	}
	snap := w.snap
	var svc *service
	switch p.Frag {
	case FragLater:
		svc = w.frags.lookup(snap, p, w.now)
	case FragFirst:
		if svc = snap.lookup(&p.Key); svc != nil {
			w.frags.remember(snap, svc, p, w.now)
		}
	default:
		svc = snap.lookup(&p.Key)
	}
	if svc == nil {
		return DropNoService
	}
	b, v := w.choose(snap, svc, p)
	if b == nil {
		return v
	}
	if v = w.send(b, p, f); v == Forwarded {
		n := uint64(p.End - p.L3)
		r := w.local.touchRS(b.id)
		r.packets++
		r.bytes += n
		sv := w.local.touchSvc(svc.id)
		sv.packets++
		sv.bytes += n
	}
	return v
}

// flow is the scheduler's view of p. Fragments hash on addresses only, so
// that every piece of a datagram, first or later, goes the same way.
func flowOf(p *Packet) sched.Flow {
	f := sched.Flow{Src: p.Key.Src.Addr(), Dst: p.Key.Dst.Addr(), Proto: p.Key.Proto}
	if p.Frag == FragNone {
		f.SrcPort, f.DstPort = p.Key.SrcPort, p.Key.DstPort
	}
	return f
}

// choose finds the real server of p's flow: the connection table's, else a
// new choice.
func (w *worker) choose(snap *Snapshot, svc *service, p *Packet) (*backend, Verdict) {
	if p.Frag != FragNone {
		// Fragments carry no ports after the first: an address hash over
		// the live real servers, the same for every piece.
		return w.statelessPick(snap, svc, p)
	}
	if svc.onePacket {
		idx, ok := svc.sched.Pick(flowOf(p))
		if !ok {
			return nil, DropNoBackend
		}
		return &snap.backends[svc.backends[idx]], Forwarded
	}
	tcp := p.Key.Proto == 6
	if c := w.conns.Lookup(&p.Key, w.now); c != nil {
		b := snap.backendByID(c.Backend)
		switch {
		case b == nil:
			// The flow's real server left the configuration and is not
			// draining (its service went and came back): the entry
			// expires and p goes on as a packet of a flow the table
			// never saw, as IPVS with expire_nodest_conn=1 does. A SYN
			// on those ports is scheduled afresh; a mid-flow packet
			// takes the consistent hash, whose real server resets the
			// connection, so that the client learns at once.
			w.conns.Delete(&p.Key, w.now)
			w.local.noDest++
		case !tcp:
			c.Expires = w.now + w.timeouts.Of(UDPNormal)
			return b, Forwarded
		case p.TCPFlags&(TCPSyn|TCPAck) == TCPSyn && (b.draining || c.State.closing()):
			// A new connection on the ports of an old one: schedule it
			// afresh, as IPVS's default conn_reuse_mode 1 does, also
			// when the old one's real server is draining.
			w.conns.Delete(&p.Key, w.now)
		default:
			w.track(c, b.counters, p.TCPFlags)
			return b, Forwarded
		}
	}
	return w.newFlow(snap, svc, p, tcp)
}

// track moves a TCP entry through IPVS's states, keeping the real server's
// active and inactive counts.
func (w *worker) track(c *Conn, k *sched.Counters, flags uint8) {
	was, is := c.Update(flags, w.now, w.timeouts)
	if was != is && k != nil {
		if is {
			k.Inactive.Add(-1)
			k.Active.Add(1)
		} else {
			k.Active.Add(-1)
			k.Inactive.Add(1)
		}
	}
}

// newFlow schedules the first packet the table has not seen of a flow.
func (w *worker) newFlow(snap *Snapshot, svc *service, p *Packet, tcp bool) (*backend, Verdict) {
	midFlow := tcp && p.TCPFlags&TCPSyn == 0
	if midFlow && p.TCPFlags&TCPRst != 0 {
		// An RST of a flow we do not know: pass it on, keep nothing.
		return w.statelessPick(snap, svc, p)
	}
	if !w.limiter.Allow(w.now) {
		w.local.rateLimited++
		return w.statelessPick(snap, svc, p)
	}
	var idx int
	var ref sched.Ref
	flow := flowOf(p)
	switch {
	case midFlow:
		// The flow began on another balancer (a VRRP failover, an ECMP
		// change): the consistent hash that the other balancer's mh or sh
		// would have used, over the live real servers.
		var ok bool
		if idx, ok = svc.stateless.Pick(flow); !ok {
			return nil, DropNoBackend
		}
		w.local.stateless++
	case svc.persistence > 0:
		key := sched.NewTemplateKey(svc.id, flow.Src, svc.granularity)
		var out sched.Outcome
		idx, ref, out = w.templates.Pick(svc.sched, key, flow, svc.persistence, w.nowNs)
		if out == sched.NoBackend {
			return nil, DropNoBackend
		}
	default:
		var ok bool
		if idx, ok = svc.sched.Pick(flow); !ok {
			return nil, DropNoBackend
		}
	}
	b := &snap.backends[svc.backends[idx]]
	state := UDPNormal
	if tcp {
		state = TCPNone
	}
	c, ok := w.conns.Insert(&p.Key, Conn{Backend: b.id, Service: svc.id, Tmpl: ref, State: state}, w.now)
	if !ok {
		// No room: the flow's later packets will miss the table too, so
		// every packet of it must take the same, stateless, way.
		if ref != (sched.Ref{}) {
			w.templates.Release(ref, w.nowNs)
		}
		w.local.tableFull++
		return w.statelessPick(snap, svc, p)
	}
	if b.counters != nil {
		b.counters.Inactive.Add(1) // TCPNone and UDP are inactive
	}
	if tcp {
		w.track(c, b.counters, p.TCPFlags)
	}
	w.local.touchRS(b.id).conns++
	w.local.touchSvc(svc.id).conns++
	return b, Forwarded
}

// statelessPick chooses without the connection table: by the consistent
// hash of the flow over the service's live real servers.
func (w *worker) statelessPick(snap *Snapshot, svc *service, p *Packet) (*backend, Verdict) {
	idx, ok := svc.stateless.Pick(flowOf(p))
	if !ok {
		return nil, DropNoBackend
	}
	return &snap.backends[svc.backends[idx]], Forwarded
}

// send rewrites p for b and queues it for transmission.
func (w *worker) send(b *backend, p *Packet, f *rxInfo) Verdict {
	mac, ok := w.neigh.Lookup(b.egress.Ifindex, b.nextHop)
	if !ok {
		w.neigh.Resolve(b.egress.Ifindex, b.nextHop)
		return DropUnresolved
	}
	switch b.method {
	case MethodDR:
		SetMACs(p.Frame, mac, b.egress.MAC)
		frame := p.Frame[:p.End]
		if f.csumNotReady || f.gso {
			if w.vnetTx && f.hasOffload {
				// The kernel completes the checksum (and segments a GSO
				// frame) on the way out.
				w.tx.SendOffload(frame, &f.offload)
				return Forwarded
			}
			if f.gso {
				return DropTooBig
			}
			if !w.completeChecksum(p, f) {
				return DropBadL4
			}
		}
		w.tx.Send(frame)
	case MethodTUN:
		if f.gso {
			return DropTooBig // no segmentation inside a tunnel yet
		}
		if p.End-p.L3 > b.egress.MTU-IPIPOverhead {
			if p.DF {
				w.fragNeeded(p, b.egress.MTU-IPIPOverhead)
			}
			return DropTooBig
		}
		if f.csumNotReady && !w.completeChecksum(p, f) {
			return DropBadL4
		}
		out := w.tx.Slot(ethHdrLen + IPIPOverhead + p.End - p.L3)
		w.ipid++
		n := EncapIPIP(out, p, mac, b.egress.MAC, b.src4, b.dst4, w.ipid)
		if n == 0 {
			return DropTooBig
		}
		w.tx.Send(out[:n])
	}
	return Forwarded
}

// completeChecksum finishes a partial checksum in userspace.
func (w *worker) completeChecksum(p *Packet, f *rxInfo) bool {
	if f.hasOffload && f.offload.CsumOffset != 0 {
		return CompleteChecksum(p.Frame, int(f.offload.CsumStart), int(f.offload.CsumOffset), p.End, p.Key.Proto == 17)
	}
	return CompleteL4Checksum(p)
}

// fragNeeded answers a packet too big for the tunnel, as IPVS does, from
// the virtual address so that the client takes it.
func (w *worker) fragNeeded(p *Packet, mtu int) {
	if p.Family != 4 {
		return
	}
	out := w.tx.Slot(ethHdrLen + 20 + 8 + 60 + 8)
	if n := FragNeeded(out, p, w.rxMAC, [4]byte(p.Key.Dst[12:]), uint16(mtu)); n > 0 {
		w.tx.Send(out[:n])
	}
}

// fragCache remembers, for a few seconds, the service of the first fragment
// of each fragmented datagram, so that the later fragments (which carry no
// ports) find it when several services share the address. Direct mapped,
// pointer-free, one a worker: the kernel's fanout hashes fragments on
// addresses only, so all pieces of a datagram reach the same worker.
type fragCache struct {
	slots [fragSlots]fragSlot
}

const (
	fragSlots = 1024
	// fragLife is how long the pieces of a datagram may trail its first:
	// Linux's own reassembly gives them 30 s; 5 s covers real paths.
	fragLife = 5000 // ticks (ms)
)

type fragSlot struct {
	src, dst Addr16
	id       uint32
	proto    uint8
	svc      int32 // index in the snapshot that wrote it
	snap     uint32
	expires  Tick
}

func fragIndex(p *Packet) int {
	h := uint64(p.FragID)*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(p.Key.Src[8:]) ^ binary.LittleEndian.Uint64(p.Key.Dst[8:])*0xff51afd7ed558ccd
	return int(h>>32) & (fragSlots - 1)
}

func (c *fragCache) remember(s *Snapshot, svc *service, p *Packet, now Tick) {
	c.slots[fragIndex(p)] = fragSlot{
		src: p.Key.Src, dst: p.Key.Dst, id: p.FragID, proto: p.Key.Proto,
		svc: int32(svc.index), snap: s.gen, expires: now + fragLife,
	}
}

// lookup finds a later fragment's service: the address's only service,
// else the one its first fragment had.
func (c *fragCache) lookup(s *Snapshot, p *Packet, now Tick) *service {
	if svc, _ := s.lookupAddr(&p.Key); svc != nil {
		return svc
	}
	e := &c.slots[fragIndex(p)]
	if e.src != p.Key.Src || e.dst != p.Key.Dst || e.id != p.FragID || e.proto != p.Key.Proto ||
		e.snap != s.gen || !connLive(e.expires, now) {
		return nil
	}
	return &s.services[e.svc]
}
