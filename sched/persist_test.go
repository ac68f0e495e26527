package sched_test

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/schedtest"
	"github.com/govs-lb/govs/sched"
)

const (
	t0      = int64(1_000_000 * time.Second) // any clock origin
	timeout = 300 * time.Second
	svcID   = 7
)

func newTemplates(t *testing.T, capacity int) *sched.Templates {
	t.Helper()
	tm, err := sched.NewTemplates(capacity)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func newSched(t *testing.T, alg sched.Algorithm, bs []sched.Backend) sched.Scheduler {
	t.Helper()
	s, err := sched.New(alg, bs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// persistClient is one client's flows through a Templates table.
type persistClient struct {
	t   *testing.T
	tm  *sched.Templates
	key sched.TemplateKey
	f   sched.Flow
}

func client(t *testing.T, tm *sched.Templates, addr string, g sched.Granularity) *persistClient {
	a := netip.MustParseAddr(addr)
	return &persistClient{t: t, tm: tm, key: sched.NewTemplateKey(svcID, a, g), f: schedtest.Flow(a, 40000)}
}

// flow schedules one new flow and checks the outcome.
func (c *persistClient) flow(s sched.Scheduler, now int64, want sched.Outcome) (netip.AddrPort, sched.Ref) {
	c.t.Helper()
	c.f.SrcPort++
	i, ref, out := c.tm.Pick(s, c.key, c.f, timeout, now)
	if out != want {
		c.t.Fatalf("%v at %v: outcome %v, want %v", c.f.Src, time.Duration(now-t0), out, want)
	}
	if out == sched.NoBackend {
		return netip.AddrPort{}, ref
	}
	if b := s.Backend(i); b.Weight == 0 {
		c.t.Fatalf("%v placed on quiesced %v", c.f.Src, b.Addr)
	}
	return s.Backend(i).Addr, ref
}

func TestPersistencePins(t *testing.T) {
	tm := newTemplates(t, 100)
	s := newSched(t, sched.RR, schedtest.Backends(5, 1))
	a := client(t, tm, "198.19.0.1", sched.Granularity{})
	b := client(t, tm, "198.19.0.2", sched.Granularity{})
	pinA, refA := a.flow(s, t0, sched.Created)
	tm.Release(refA, t0)
	pinB, _ := b.flow(s, t0, sched.Created)
	if pinA == pinB {
		t.Fatalf("rr placed both clients on %v", pinA)
	}
	for k := range 20 {
		got, ref := a.flow(s, t0+int64(k)*int64(time.Second), sched.Hit)
		if got != pinA {
			t.Fatalf("flow %d of a pinned client went to %v, want %v", k, got, pinA)
		}
		tm.Release(ref, t0+int64(k)*int64(time.Second))
	}
}

func TestPersistenceGranularity(t *testing.T) {
	g, _ := sched.ParseGranularity("255.255.255.0")
	tm := newTemplates(t, 100)
	s := newSched(t, sched.RR, schedtest.Backends(5, 1))
	pin, _ := client(t, tm, "198.19.7.1", g).flow(s, t0, sched.Created)
	if got, _ := client(t, tm, "198.19.7.200", g).flow(s, t0, sched.Hit); got != pin {
		t.Errorf("same /24 went to %v, want %v", got, pin)
	}
	client(t, tm, "198.19.8.1", g).flow(s, t0, sched.Created)
	// Another virtual service does not share the template.
	other := client(t, tm, "198.19.7.1", g)
	other.key = sched.NewTemplateKey(svcID+1, netip.MustParseAddr("198.19.7.1"), g)
	other.flow(s, t0, sched.Created)

	g6, _ := sched.ParseGranularity("64")
	s6 := newSched(t, sched.RR, schedtest.Backends6(5, 1))
	pin6, _ := client(t, tm, "2001:db8:0:1::1", g6).flow(s6, t0, sched.Created)
	if got, _ := client(t, tm, "2001:db8:0:1:ffff::2", g6).flow(s6, t0, sched.Hit); got != pin6 {
		t.Errorf("same /64 went to %v, want %v", got, pin6)
	}
	client(t, tm, "2001:db8:0:2::1", g6).flow(s6, t0, sched.Created)
}

// TestPersistenceExpiry drives the injected clock: a template lives timeout
// after its last new flow or after its last flow ended, whichever is later,
// and never while a flow it placed is alive.
func TestPersistenceExpiry(t *testing.T) {
	sec := int64(time.Second)
	T := int64(timeout)
	s := newSched(t, sched.RR, schedtest.Backends(5, 1))

	t.Run("idle template expires", func(t *testing.T) {
		tm := newTemplates(t, 100)
		c := client(t, tm, "198.19.0.1", sched.Granularity{})
		_, ref := c.flow(s, t0, sched.Created)
		tm.Release(ref, t0+sec) // flow lasted 1s: deadline t0+1s+T
		_, ref = c.flow(s, t0+T, sched.Hit)
		tm.Release(ref, t0+T) // a new flow restarted the timer: t0+2T
		_, ref = c.flow(s, t0+2*T-sec, sched.Hit)
		tm.Release(ref, t0+2*T-sec)
		c.flow(s, t0+3*T, sched.Created)
	})
	t.Run("live flow keeps template", func(t *testing.T) {
		tm := newTemplates(t, 100)
		c := client(t, tm, "198.19.0.1", sched.Granularity{})
		pin, long := c.flow(s, t0, sched.Created)
		got, ref := c.flow(s, t0+10*T, sched.Hit)
		if got != pin {
			t.Fatalf("went to %v, want %v", got, pin)
		}
		tm.Release(ref, t0+10*T)
		if st := tm.Stats(t0 + 20*T); st.Live != 1 || st.Refs != 1 {
			t.Fatalf("stats with one live flow: %+v", st)
		}
		tm.Release(long, t0+20*T) // the long flow ends: template lives until t0+21T
		c.flow(s, t0+21*T-sec, sched.Hit)
		if st := tm.Stats(t0 + 21*T); st.Live != 1 {
			t.Fatalf("stats: %+v", st)
		}
	})
	t.Run("expired then back", func(t *testing.T) {
		tm := newTemplates(t, 100)
		c := client(t, tm, "198.19.0.1", sched.Granularity{})
		_, ref := c.flow(s, t0, sched.Created)
		tm.Release(ref, t0)
		if st := tm.Stats(t0 + T); st.Live != 0 || st.Refs != 0 {
			t.Fatalf("stats after expiry: %+v", st)
		}
		c.flow(s, t0+T, sched.Created)
		if st := tm.Stats(t0 + T); st.Live != 1 || st.Slots != 152 { // 1.5*100 in buckets of 8
			t.Fatalf("stats: %+v", st)
		}
	})
}

// TestPersistenceStaleBackend: a template whose real server was quiesced or
// removed is dropped and the client rescheduled (expire_quiescent_template);
// a template survives a snapshot that keeps its real server, whatever the
// order.
func TestPersistenceStaleBackend(t *testing.T) {
	bs := schedtest.Backends(5, 1)
	tm := newTemplates(t, 100)
	c := client(t, tm, "198.19.0.1", sched.Granularity{})
	pin, held := c.flow(newSched(t, sched.WLC, bs), t0, sched.Created)
	pinned, _ := newSched(t, sched.WLC, bs).Index(pin)

	// The same real servers, shuffled, in a new snapshot.
	shuffled := newSched(t, sched.WLC, schedtest.Shuffled(bs, 3))
	if got, _ := c.flow(shuffled, t0, sched.Hit); got != pin {
		t.Fatalf("after a reload went to %v, want %v", got, pin)
	}

	// Quiesced: rescheduled, and the new choice sticks.
	quiesced := append([]sched.Backend(nil), bs...)
	quiesced[pinned].Weight = 0
	sq := newSched(t, sched.WLC, quiesced)
	moved, _ := c.flow(sq, t0+1, sched.Rescheduled)
	if moved == pin {
		t.Fatalf("stayed on the quiesced real server")
	}
	if got, _ := c.flow(sq, t0+2, sched.Hit); got != moved {
		t.Fatalf("went to %v, want %v", got, moved)
	}
	// The flow placed by the dropped template still releases cleanly.
	tm.Release(held, t0+3)

	// Removed: rescheduled.
	var rest []sched.Backend
	for _, b := range bs {
		if b.Addr != moved {
			rest = append(rest, b)
		}
	}
	sr := newSched(t, sched.WLC, rest)
	if got, _ := c.flow(sr, t0+4, sched.Rescheduled); got == moved {
		t.Fatalf("stayed on the removed real server")
	}
	if st := tm.Stats(t0 + 5); st.BadReleases != 0 {
		t.Errorf("stats: %+v", st)
	}
}

func TestPersistenceFull(t *testing.T) {
	tm := newTemplates(t, 2) // two buckets: every key may use all 16 slots
	s := newSched(t, sched.RR, schedtest.Backends(3, 1))
	var refs []sched.Ref
	slots := tm.Stats(t0).Slots
	for i := range slots {
		_, ref := client(t, tm, schedtest.Client4(i).String(), sched.Granularity{}).flow(s, t0, sched.Created)
		refs = append(refs, ref)
	}
	c := client(t, tm, schedtest.Client4(100).String(), sched.Granularity{})
	_, ref := c.flow(s, t0, sched.Full)
	if ref != (sched.Ref{}) {
		t.Errorf("a flow without a template holds %+v", ref)
	}
	tm.Release(ref, t0) // releasing the zero Ref does nothing
	if st := tm.Stats(t0); st.Full != 1 || st.Live != slots || st.BadReleases != 0 {
		t.Fatalf("stats: %+v", st)
	}
	// Released and expired templates make room.
	tm.Release(refs[2], t0)
	c.flow(s, t0+int64(timeout), sched.Created)
}

func TestPersistenceMisuse(t *testing.T) {
	tm := newTemplates(t, 10)
	s := newSched(t, sched.RR, schedtest.Backends(3, 1))
	c := client(t, tm, "198.19.0.1", sched.Granularity{})
	_, ref := c.flow(s, t0, sched.Created)
	tm.Release(ref, t0)
	tm.Release(ref, t0)
	if st := tm.Stats(t0); st.BadReleases != 1 || st.Refs != 0 {
		t.Errorf("after a double release: %+v", st)
	}
	c.flow(newSched(t, sched.RR, schedtest.Backends(3, 0)), t0+int64(timeout), sched.NoBackend)
	for _, n := range []int{0, 1, sched.MaxTemplates + 1} {
		if _, err := sched.NewTemplates(n); err == nil {
			t.Errorf("NewTemplates(%d) succeeded", n)
		}
	}
	for o := sched.Outcome(0); o <= sched.NoBackend+1; o++ {
		if o.String() == "" {
			t.Errorf("Outcome(%d) has no name", o)
		}
	}
}

// TestPersistenceConcurrent runs workers that pick and release flows of a
// few hundred clients at once; run it with -race. Every reference is given
// back exactly once and every choice is a real server of weight > 0.
func TestPersistenceConcurrent(t *testing.T) {
	tm := newTemplates(t, 1000)
	bs := schedtest.Backends(10, 1)
	bs[3].Weight = 0
	s := newSched(t, sched.WLC, bs)
	const workers, ops = 4, 4000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			var held []sched.Ref
			for op := range ops {
				now := t0 + int64(op)*int64(time.Millisecond)
				a := schedtest.Client4(r.IntN(300))
				i, ref, out := tm.Pick(s, sched.NewTemplateKey(svcID, a, sched.Granularity{}), schedtest.Flow(a, 1), timeout, now)
				if out == sched.NoBackend || out == sched.Full || bs[i].Weight == 0 {
					t.Errorf("pick %d: %v on %d", op, out, i)
					return
				}
				held = append(held, ref)
				if len(held) > 20 || r.IntN(2) == 0 {
					k := r.IntN(len(held))
					tm.Release(held[k], now)
					held = append(held[:k], held[k+1:]...)
				}
			}
			for _, ref := range held {
				tm.Release(ref, t0+ops*int64(time.Millisecond))
			}
		}()
	}
	wg.Wait()
	st := tm.Stats(t0 + ops*int64(time.Millisecond))
	if st.Refs != 0 || st.BadReleases != 0 || st.Full != 0 || st.Live < 250 {
		t.Errorf("stats after the run: %+v", st)
	}
	// Every client is now pinned: a second look finds the same real server.
	for c := range 300 {
		a := schedtest.Client4(c)
		k := sched.NewTemplateKey(svcID, a, sched.Granularity{})
		i1, r1, o1 := tm.Pick(s, k, schedtest.Flow(a, 2), timeout, t0+ops*int64(time.Millisecond))
		i2, r2, o2 := tm.Pick(s, k, schedtest.Flow(a, 3), timeout, t0+ops*int64(time.Millisecond))
		if o2 != sched.Hit || i1 != i2 {
			t.Errorf("client %v: %v %d then %v %d", a, o1, i1, o2, i2)
		}
		tm.Release(r1, 0)
		tm.Release(r2, 0)
	}
}

// TestPersistenceChurn hammers a small table from several workers while the
// snapshot flips between two real server sets and time runs fast, so that
// templates are dropped, expire, are reclaimed and the table fills. Run it
// with -race.
func TestPersistenceChurn(t *testing.T) {
	tm := newTemplates(t, 16)
	bs := schedtest.Backends(6, 1)
	quiesced := append([]sched.Backend(nil), bs...)
	quiesced[0].Weight, quiesced[1].Weight = 0, 0
	snaps := []sched.Scheduler{newSched(t, sched.RR, bs), newSched(t, sched.WLC, quiesced[1:])}
	var clock atomic.Int64
	clock.Store(t0)
	const workers, ops = 4, 5000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 2))
			var held []sched.Ref
			for op := range ops {
				now := clock.Add(int64(time.Second))
				s := snaps[(op/100+w)%2]
				a := schedtest.Client4(r.IntN(64))
				i, ref, out := tm.Pick(s, sched.NewTemplateKey(svcID, a, sched.Granularity{}), schedtest.Flow(a, 1), 30*time.Second, now)
				if out == sched.NoBackend || s.Backend(i).Weight == 0 {
					t.Errorf("%v on %d", out, i)
					return
				}
				held = append(held, ref)
				for len(held) > 8 || (len(held) > 0 && r.IntN(3) == 0) {
					k := r.IntN(len(held))
					tm.Release(held[k], now)
					held = append(held[:k], held[k+1:]...)
				}
			}
			for _, ref := range held {
				tm.Release(ref, clock.Load())
			}
		}()
	}
	wg.Wait()
	st := tm.Stats(clock.Load())
	if st.Refs != 0 || st.BadReleases != 0 {
		t.Errorf("stats after the run: %+v", st)
	}
	t.Logf("stats after the run: %+v", st)
}
