package forward

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/govs-lb/govs/sched"
)

// fakeRouter sends everything out of interface 1, on-link.
type fakeRouter struct{ mtu int }

func (r fakeRouter) Egress(dst netip.Addr) (Egress, error) {
	mtu := r.mtu
	if mtu == 0 {
		mtu = 1500
	}
	return Egress{Ifindex: 1, NextHop: dst, Src: pktLB4, MTU: mtu, MAC: pktMACBalancer}, nil
}

// fakeNeighbors knows a MAC for every address: 02:00:00:00:xx:yy from the
// address's last two bytes, unless told it does not.
type fakeNeighbors struct {
	unknown  map[Addr16]bool
	resolved []Addr16
}

func (n *fakeNeighbors) Lookup(_ int, a Addr16) ([6]byte, bool) {
	if n.unknown[a] {
		return [6]byte{}, false
	}
	return macOf(a), true
}

func (n *fakeNeighbors) Resolve(_ int, a Addr16) { n.resolved = append(n.resolved, a) }

func macOf(a Addr16) [6]byte { return [6]byte{0x02, 0, 0, 0, a[14], a[15]} }

// recorder keeps what a worker sends.
type recorder struct {
	frames [][]byte
	slot   []byte
}

func (r *recorder) Slot(n int) []byte {
	if cap(r.slot) < n {
		r.slot = make([]byte, n)
	}
	return r.slot[:n]
}
func (r *recorder) Send(f []byte)                    { r.frames = append(r.frames, append([]byte(nil), f...)) }
func (r *recorder) SendOffload(f []byte, _ *Offload) { r.Send(f) }
func (r *recorder) Flush() (int, error)              { n := len(r.frames); return n, nil }

var (
	rs1 = netip.MustParseAddr("198.18.2.1")
	rs2 = netip.MustParseAddr("198.18.2.2")
	rs3 = netip.MustParseAddr("198.18.2.3")
)

// testEngine is a worker over a snapshot, with a fake network.
type testEngine struct {
	t        testing.TB
	w        *worker
	tx       *recorder
	neigh    *fakeNeighbors
	byID     []*sched.Counters
	counters rsCounters
	stats    workerStats
	clock    time.Duration
}

func newTestEngine(t testing.TB, specs ...ServiceSpec) *testEngine {
	t.Helper()
	te := &testEngine{t: t, tx: &recorder{}, neigh: &fakeNeighbors{unknown: map[Addr16]bool{}}}
	tmpl, err := sched.NewTemplates(1024)
	if err != nil {
		t.Fatal(err)
	}
	te.w = &worker{templates: tmpl, neigh: te.neigh, tx: te.tx, rxMAC: pktMACBalancer, counter: &te.counters, stats: &te.stats}
	conns, err := NewConnTable(&ConnConfig{Capacity: 4096, OnExpire: te.w.expire})
	if err != nil {
		t.Fatal(err)
	}
	te.w.conns, te.w.timeouts = conns, conns.Timeouts()
	te.w.limiter, _ = NewRateLimiter(0, 0, 0)
	te.update(specs...)
	return te
}

func (te *testEngine) update(specs ...ServiceSpec) {
	s, err := te.w.snap.Successor(specs, fakeRouter{}, func(id uint32) *sched.Counters {
		for int(id) >= len(te.byID) {
			te.byID = append(te.byID, nil)
		}
		if te.byID[id] == nil {
			te.byID[id] = new(sched.Counters)
		}
		return te.byID[id]
	})
	if err != nil {
		te.t.Fatal(err)
	}
	c := append([]*sched.Counters(nil), te.byID...)
	te.counters.p.Store(&c)
	te.w.setSnapshot(s)
}

// at sets the worker's clock.
func (te *testEngine) at(d time.Duration) {
	te.clock = d
	te.w.now, te.w.nowNs = TickOf(int64(d)), int64(d)
}

// feed runs one frame and returns its verdict.
func (te *testEngine) feed(frame []byte) Verdict {
	v := te.w.handle(&rxInfo{data: frame})
	te.w.publish()
	return v
}

// sentTo returns the real server a sent DR frame went to (by its MAC).
func sentTo(f []byte) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, f[4], f[5]})
}

func webService(alg sched.Algorithm, m Method) ServiceSpec {
	return ServiceSpec{
		ID: 1, Name: "web", Proto: 6, Scheduler: alg,
		Addrs: []AddrRange{{First: pktVIP4, Last: pktVIP4, Port: 80}},
		Backends: []BackendSpec{
			{ID: 11, Addr: rs1, Weight: 1, LastWeight: 1, Method: m},
			{ID: 12, Addr: rs2, Weight: 1, LastWeight: 1, Method: m},
			{ID: 13, Addr: rs3, Weight: 1, LastWeight: 1, Method: m},
		},
	}
}

func synFrom(port uint16) []byte {
	s := specTCP4(TCPSyn)
	s.sport = port
	return s.build()
}

func ackFrom(port uint16, flags uint8) []byte {
	s := specTCP4(flags)
	s.sport = port
	s.payload = []byte("GET / HTTP/1.0\r\n\r\n")
	return s.build()
}

func TestWorkerDRRoundRobin(t *testing.T) {
	te := newTestEngine(t, webService(sched.RR, MethodDR))
	got := map[netip.Addr]int{}
	for port := uint16(40000); port < 40030; port++ {
		f := synFrom(port)
		if v := te.feed(f); v != Forwarded {
			t.Fatalf("SYN from port %d: %v", port, v)
		}
		out := te.tx.frames[len(te.tx.frames)-1]
		got[sentTo(out)]++
		// DR: new destination MAC, the balancer's source MAC, the rest
		// untouched.
		if [6]byte(out[6:12]) != pktMACBalancer {
			t.Fatalf("source MAC %x", out[6:12])
		}
		if string(out[12:]) != string(f[12:]) {
			t.Fatalf("DR changed the packet")
		}
	}
	if diff := cmp.Diff(map[netip.Addr]int{rs1: 10, rs2: 10, rs3: 10}, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("rr spread (-want +got):\n%s", diff)
	}
	// Established flows stay where they are.
	for port := uint16(40000); port < 40030; port++ {
		te.feed(synFrom(port))
		first := sentTo(te.tx.frames[len(te.tx.frames)-1])
		for range 3 {
			te.feed(ackFrom(port, TCPAck))
			if next := sentTo(te.tx.frames[len(te.tx.frames)-1]); next != first {
				t.Fatalf("flow from port %d moved from %v to %v", port, first, next)
			}
		}
	}
	if n := te.stats.verdicts[Forwarded].Load(); n != 150 {
		t.Errorf("forwarded %d, want 150", n)
	}
}

func TestWorkerCounters(t *testing.T) {
	te := newTestEngine(t, webService(sched.RR, MethodDR))
	te.at(time.Second)
	te.feed(synFrom(41000)) // SYN_RECV: active, as IPVS counts it
	k := te.byID[te.lastBackendID()]
	te.feed(synFrom(41001))
	te.feed(ackFrom(41000, TCPAck)) // ESTABLISHED: active
	if a, i := k.Active.Load(), k.Inactive.Load(); a != 1 || i != 0 {
		t.Errorf("active %d inactive %d, want 1 0", a, i)
	}
	te.feed(ackFrom(41000, TCPFin|TCPAck)) // FIN_WAIT: inactive
	if a, i := k.Active.Load(), k.Inactive.Load(); a != 0 || i != 1 {
		t.Errorf("after FIN: active %d inactive %d, want 0 1", a, i)
	}
	// FIN_WAIT lasts 2 minutes, SYN_RECV 1 minute: a sweep after both
	// forgets the flows and gives the counts back.
	te.at(time.Second + 3*time.Minute)
	te.w.conns.Sweep(te.w.now, 1<<20)
	for id, k := range te.byID {
		if k == nil {
			continue
		}
		if a, i := k.Active.Load(), k.Inactive.Load(); a != 0 || i != 0 {
			t.Errorf("real server %d after expiry: active %d inactive %d", id, a, i)
		}
	}
}

// lastBackendID returns the ID of the real server the last frame went to.
func (te *testEngine) lastBackendID() uint32 {
	to := sentTo(te.tx.frames[len(te.tx.frames)-1])
	for _, b := range te.w.snap.backends {
		if b.addr.Addr() == to {
			return b.id
		}
	}
	te.t.Fatalf("no real server %v", to)
	return 0
}

func TestWorkerQuiesceAndRemove(t *testing.T) {
	spec := webService(sched.RR, MethodDR)
	te := newTestEngine(t, spec)
	on := map[uint32]uint16{} // real server ID -> a flow's source port
	for port := uint16(42000); port < 42003; port++ {
		te.feed(synFrom(port))
		on[te.lastBackendID()] = port
	}
	// Weight 0 on rs1: its flow stays, new flows avoid it.
	spec.Backends[0].Weight = 0
	te.update(spec)
	te.feed(ackFrom(on[11], TCPAck))
	if got := sentTo(te.tx.frames[len(te.tx.frames)-1]); got != rs1 {
		t.Errorf("quiesced real server lost its flow to %v", got)
	}
	for port := uint16(42100); port < 42110; port++ {
		te.feed(synFrom(port))
		if got := sentTo(te.tx.frames[len(te.tx.frames)-1]); got == rs1 {
			t.Fatalf("new flow went to the quiesced real server")
		}
	}
	// rs2 leaves the configuration: it drains, its flow goes on to it...
	spec.Backends = []BackendSpec{spec.Backends[0], spec.Backends[2]}
	te.update(spec)
	if v := te.feed(ackFrom(on[12], TCPAck)); v != Forwarded {
		t.Errorf("packet of a removed real server's flow: %v, want %v", v, Forwarded)
	}
	if got := sentTo(te.tx.frames[len(te.tx.frames)-1]); got != rs2 {
		t.Errorf("packet of a draining real server's flow went to %v, want %v", got, rs2)
	}
	if n, idle := te.w.snap.Draining(); n != 1 || idle != 0 {
		t.Errorf("Draining() = %d, %d; want 1, 0", n, idle)
	}
	// ... until it ends; then the next snapshot forgets rs2.
	k := flowKeyFrom(on[12])
	te.feed(ackFrom(on[12], TCPRst))
	te.at(time.Hour)
	te.w.conns.Sweep(te.w.now, 1<<20)
	if c := te.w.conns.Lookup(&k, te.w.now); c != nil {
		t.Fatalf("entry after RST and an hour: %+v", c)
	}
	te.update(spec)
	if n, _ := te.w.snap.Draining(); n != 0 {
		t.Errorf("rs2 still draining after its last connection ended")
	}
	te.feed(synFrom(42200))
	if got := sentTo(te.tx.frames[len(te.tx.frames)-1]); got != rs3 {
		t.Errorf("new flow went to %v, want %v", got, rs3)
	}
}

// TestWorkerRemovedServerPortReuse is a client reusing the ports of a
// connection that ended to a real server a reload removed since. With DR
// the balancer sees only the client's half, so a closed connection waits
// in FIN_WAIT (IPVS's input-only table). The SYN ends the entry and is
// scheduled afresh on a live real server, not dropped, nor sent to the
// draining one.
func TestWorkerRemovedServerPortReuse(t *testing.T) {
	spec := webService(sched.RR, MethodDR)
	te := newTestEngine(t, spec)
	var port uint16
	for p := uint16(42300); p < 42303; p++ {
		te.feed(synFrom(p))
		if te.lastBackendID() == 12 {
			port = p
		}
	}
	te.feed(ackFrom(port, TCPAck))
	te.feed(ackFrom(port, TCPFin|TCPAck))
	k := flowKeyFrom(port)
	if c := te.w.conns.Lookup(&k, te.w.now); c == nil || c.State != TCPFinWait {
		t.Fatalf("entry before the reload: %+v, want FIN_WAIT", c)
	}
	spec.Backends = []BackendSpec{spec.Backends[0], spec.Backends[2]}
	te.update(spec)
	if v := te.feed(synFrom(port)); v != Forwarded {
		t.Fatalf("SYN on a reused port of a removed real server's flow: %v, want %v", v, Forwarded)
	}
	if got := sentTo(te.tx.frames[len(te.tx.frames)-1]); got == rs2 {
		t.Errorf("new connection went to the removed real server")
	}
	if c := te.w.conns.Lookup(&k, te.w.now); c == nil || c.Backend == 12 || c.State != TCPSynRecv {
		t.Errorf("entry after the SYN: %+v, want SYN_RECV on a live real server", c)
	}
}

// TestWorkerPortReuseAfterFin: a SYN on the ports of a connection the
// client closed (FIN_WAIT) is a new connection, scheduled afresh (round
// robin moves on), not glued to the old real server.
func TestWorkerPortReuseAfterFin(t *testing.T) {
	te := newTestEngine(t, webService(sched.RR, MethodDR))
	te.feed(synFrom(42400))
	first := te.lastBackendID()
	te.feed(ackFrom(42400, TCPAck))
	te.feed(ackFrom(42400, TCPFin|TCPAck))
	te.feed(synFrom(42400))
	if again := te.lastBackendID(); again == first {
		t.Errorf("the SYN after FIN stayed on real server %d: not scheduled afresh", first)
	}
	// A retransmitted SYN of a connection still opening stays.
	te.feed(synFrom(42401))
	open := te.lastBackendID()
	te.feed(synFrom(42401))
	if again := te.lastBackendID(); again != open {
		t.Errorf("a retransmitted SYN moved from %d to %d", open, again)
	}
}

// TestWorkerServiceBackExpiresFlows: a service removed and added again
// keeps none of its old real servers' IDs (the daemon gives new ones), so
// its old flows' entries point nowhere: the next packet expires the entry
// (expire_nodest_conn=1) and goes on as a packet of an unknown flow.
func TestWorkerServiceBackExpiresFlows(t *testing.T) {
	spec := webService(sched.RR, MethodDR)
	te := newTestEngine(t, spec)
	te.feed(synFrom(42500))
	te.feed(ackFrom(42500, TCPAck))
	te.update() // the service goes: nothing to drain into
	back := spec
	back.Backends = slices.Clone(spec.Backends)
	for i := range back.Backends {
		back.Backends[i].ID += 100
	}
	te.update(back)
	if v := te.feed(ackFrom(42500, TCPAck)); v != Forwarded {
		t.Fatalf("packet of a flow whose real server ID is gone: %v", v)
	}
	if te.w.local.noDest != 1 {
		t.Errorf("noDest = %d, want 1", te.w.local.noDest)
	}
	if te.w.local.stateless != 1 {
		t.Errorf("stateless = %d, want 1: the packet takes the consistent hash", te.w.local.stateless)
	}
}

func TestWorkerPersistence(t *testing.T) {
	spec := webService(sched.RR, MethodDR)
	spec.Persistence = time.Minute
	spec.Granularity, _ = sched.GranularityV4(24)
	te := newTestEngine(t, spec)
	var first netip.Addr
	for port := uint16(43000); port < 43010; port++ {
		te.feed(synFrom(port))
		got := sentTo(te.tx.frames[len(te.tx.frames)-1])
		if !first.IsValid() {
			first = got
		}
		if got != first {
			t.Fatalf("client moved from %v to %v despite persistence", first, got)
		}
	}
	// Another client of the same /24 sticks too; one of another /24 is
	// scheduled: rr gives it the next real server.
	s := specTCP4(TCPSyn)
	s.src, s.dst = netip.MustParseAddr("198.18.0.99"), pktVIP4
	te.feed(s.build())
	if got := sentTo(te.tx.frames[len(te.tx.frames)-1]); got != first {
		t.Errorf("same /24 went to %v, want %v", got, first)
	}
	s.src = netip.MustParseAddr("198.18.7.99")
	te.feed(s.build())
	if got := sentTo(te.tx.frames[len(te.tx.frames)-1]); got == first {
		t.Errorf("another /24 went to the first client's real server")
	}
}

// TestWorkerMidFlow: a packet of a TCP flow the table does not know (it
// began on another balancer) is forwarded by the consistent hash, and the
// flow is then tracked. With mh, every balancer makes the same choice.
func TestWorkerMidFlow(t *testing.T) {
	a := newTestEngine(t, webService(sched.MH, MethodDR))
	b := newTestEngine(t, webService(sched.MH, MethodDR))
	for port := uint16(44000); port < 44050; port++ {
		a.feed(synFrom(port))
		want := sentTo(a.tx.frames[len(a.tx.frames)-1])
		if v := b.feed(ackFrom(port, TCPAck)); v != Forwarded {
			t.Fatalf("mid-flow ACK: %v", v)
		}
		if got := sentTo(b.tx.frames[len(b.tx.frames)-1]); got != want {
			t.Fatalf("port %d: mid-flow packet went to %v, the flow is on %v", port, got, want)
		}
	}
	if b.w.conns.Len() != 50 || b.stats.stateless.Load() != 50 {
		t.Errorf("tracked %d flows, %d stateless", b.w.conns.Len(), b.stats.stateless.Load())
	}
}

func TestWorkerUnresolved(t *testing.T) {
	te := newTestEngine(t, webService(sched.RR, MethodDR))
	for _, a := range []netip.Addr{rs1, rs2, rs3} {
		te.neigh.unknown[Addr16From(a)] = true
	}
	if v := te.feed(synFrom(45000)); v != DropUnresolved {
		t.Fatalf("verdict %v, want %v", v, DropUnresolved)
	}
	if len(te.neigh.resolved) != 1 {
		t.Errorf("resolutions %v", te.neigh.resolved)
	}
	if len(te.tx.frames) != 0 {
		t.Errorf("sent a frame to an unknown MAC")
	}
}

func TestWorkerTUN(t *testing.T) {
	te := newTestEngine(t, webService(sched.RR, MethodTUN))
	f := synFrom(46000)
	if v := te.feed(f); v != Forwarded {
		t.Fatalf("verdict %v", v)
	}
	out := te.tx.frames[0]
	var p Packet
	if ParseFrame(out, &p) != DropBadL4 { // protocol 4 is no TCP or UDP
		t.Fatalf("outer frame does not parse as IP")
	}
	to := netip.AddrFrom4([4]byte(out[14+16 : 14+20]))
	if out[14+9] != 4 || (to != rs1 && to != rs2 && to != rs3) || netip.AddrFrom4([4]byte(out[14+12:14+16])) != pktLB4 || [6]byte(out[0:6]) != macOf(Addr16From(to)) {
		t.Errorf("outer header: proto %d %v -> %v", out[14+9], netip.AddrFrom4([4]byte(out[14+12:14+16])), netip.AddrFrom4([4]byte(out[14+16:14+20])))
	}
	if string(out[34:]) != string(f[14:]) {
		t.Errorf("inner packet changed")
	}
	// Too big for the tunnel with DF: dropped, and ICMP fragmentation
	// needed goes back to the client with MTU 1480.
	big := specTCP4Payload(1460)
	big.df = true
	if v := te.feed(big.build()); v != DropTooBig {
		t.Fatalf("big packet: %v", v)
	}
	icmp := te.tx.frames[len(te.tx.frames)-1]
	if [6]byte(icmp[0:6]) != pktMACClient || icmp[14+9] != 1 || icmp[34] != 3 || icmp[35] != 4 || binary.BigEndian.Uint16(icmp[40:42]) != 1480 {
		t.Errorf("ICMP answer: %x", icmp[:44])
	}
}

func TestWorkerBadFrames(t *testing.T) {
	te := newTestEngine(t, webService(sched.RR, MethodDR))
	good := synFrom(47000)
	mut := func(fn func(b []byte)) []byte { return pktMutate(append([]byte(nil), good...), fn) }
	for _, tt := range []struct {
		name  string
		frame []byte
		want  Verdict
	}{
		{"empty", nil, DropRunt},
		{"runt", good[:13], DropRunt},
		{"ethernet only", good[:14], DropRunt},
		{"truncated IP", good[:30], DropRunt},
		{"bad IHL", mut(func(b []byte) { b[14] = 0x43 }), DropBadIP},
		{"total length beyond frame", mut(func(b []byte) { b[17] = 0xff }), DropBadIP},
		{"TCP data offset 4", mut(func(b []byte) { b[46] = 0x40 }), DropBadL4},
		{"ARP", mut(func(b []byte) { b[12], b[13] = 0x08, 0x06 }), DropNotIP},
		{"VLAN", mut(func(b []byte) { b[12], b[13] = 0x81, 0x00 }), DropNotIP},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if v := te.feed(tt.frame); v != tt.want {
				t.Errorf("verdict %v, want %v", v, tt.want)
			}
		})
	}
	s := specTCP4(TCPSyn)
	s.dport = 81
	if v := te.feed(s.build()); v != DropNoService {
		t.Errorf("other port: %v", v)
	}
	if v := te.w.handle(&rxInfo{data: good, truncated: true}); v != DropTruncated {
		t.Errorf("truncated frame: %v", v)
	}
}

// TestWorkerChecksum: a frame with a partial checksum (veth, virtio) leaves
// with a complete one.
func TestWorkerChecksum(t *testing.T) {
	te := newTestEngine(t, webService(sched.RR, MethodDR))
	f := ackFrom(48000, TCPSyn)
	var p Packet
	ParseFrame(f, &p)
	want := binary.BigEndian.Uint16(f[p.L4+16:])
	// CHECKSUM_PARTIAL: the field holds the pseudo-header sum.
	partial := pktMutate(f, func(b []byte) {
		src, dst := pktClient4, pktVIP4
		ps := refPseudo(src, dst, 6, p.End-p.L4)
		s := refSum(ps)
		for s > 0xffff {
			s = s&0xffff + s>>16
		}
		binary.BigEndian.PutUint16(b[p.L4+16:], uint16(s))
	})
	if v := te.w.handle(&rxInfo{data: partial, csumNotReady: true}); v != Forwarded {
		t.Fatalf("verdict %v", v)
	}
	out := te.tx.frames[len(te.tx.frames)-1]
	if got := binary.BigEndian.Uint16(out[p.L4+16:]); got != want {
		t.Errorf("checksum %#x, want %#x", got, want)
	}
}

// TestWorkerFragments: every fragment of a datagram goes to the same real
// server, first or later.
func TestWorkerFragments(t *testing.T) {
	spec := webService(sched.RR, MethodDR)
	spec.Proto = 17
	spec.Addrs[0].Port = 53
	te := newTestEngine(t, spec)
	first := specUDP4(1000)
	first.mf, first.fragID, first.udpLen = true, 7, 1500
	later := specUDP4(0)
	later.fragOff, later.fragID = 125, 7
	te.feed(first.build())
	a := sentTo(te.tx.frames[len(te.tx.frames)-1])
	if v := te.feed(later.build()); v != Forwarded {
		t.Fatalf("later fragment: %v", v)
	}
	if b := sentTo(te.tx.frames[len(te.tx.frames)-1]); a != b {
		t.Errorf("fragments split between %v and %v", a, b)
	}
}

func ExampleVerdict() {
	fmt.Println(Forwarded, DropNoService)
	// Output: forwarded no-service
}

// flowKeyFrom is the connection table's key of synFrom(port)'s flow.
func flowKeyFrom(port uint16) FlowKey {
	var p Packet
	ParseFrame(synFrom(port), &p)
	return p.Key
}

// countingRouter counts its lookups.
type countingRouter struct {
	fakeRouter
	n *int
}

func (r countingRouter) Egress(dst netip.Addr) (Egress, error) {
	*r.n++
	return r.fakeRouter.Egress(dst)
}

// TestSuccessorReusesRoutes: a snapshot that follows another looks up the
// routes of new real servers only, and the engine's refresh (a build that
// does not reuse them) tells when one changed.
func TestSuccessorReusesRoutes(t *testing.T) {
	var n int
	spec := webService(sched.RR, MethodDR)
	counters := func(uint32) *sched.Counters { return new(sched.Counters) }
	first, err := NewSnapshot([]ServiceSpec{spec}, countingRouter{n: &n}, counters)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("first snapshot: %d lookups, want 3", n)
	}
	if !first.knowsAll([]ServiceSpec{spec}) {
		t.Errorf("knowsAll: false for its own real servers")
	}
	n = 0
	spec.Backends[0].Weight = 0 // a health change
	next, err := first.Successor([]ServiceSpec{spec}, countingRouter{n: &n}, counters)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("a health change looked up %d routes, want 0", n)
	}
	spec.Backends = append(spec.Backends, BackendSpec{ID: 14, Addr: netip.MustParseAddr("198.18.2.4"), Weight: 1, LastWeight: 1, Method: MethodDR})
	if next.knowsAll([]ServiceSpec{spec}) {
		t.Errorf("knowsAll: true with a new real server")
	}
	if _, err := next.Successor([]ServiceSpec{spec}, countingRouter{n: &n}, counters); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("one new real server: %d lookups, want 1", n)
	}
	// The refresh: fresh lookups; equal routes are the same egresses, a
	// new MTU is not.
	spec.Backends = spec.Backends[:3]
	a, _ := buildSnapshot([]ServiceSpec{spec}, fakeRouter{}, counters, next, false)
	if !a.sameEgresses(next) {
		t.Errorf("same routes: sameEgresses false")
	}
	b, _ := buildSnapshot([]ServiceSpec{spec}, fakeRouter{mtu: 1400}, counters, next, false)
	if b.sameEgresses(next) {
		t.Errorf("new MTU: sameEgresses true")
	}
}
