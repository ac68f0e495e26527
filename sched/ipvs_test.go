package sched_test

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/govs-lb/govs/internal/schedtest"
	"github.com/govs-lb/govs/sched"
)

// This file re-implements the IPVS schedulers literally, as
// net/netfilter/ipvs/ip_vs_{rr,wrr,lc,wlc,sed,nq,fo,ovf,twos}.c walk their
// destination list, and checks that sched picks the same real server for
// random weights and connection counts. No overload flags (keepalived's
// uthreshold/lthreshold are not supported) so IP_VS_DEST_F_OVERLOAD is never
// set.

type refDest struct {
	w, active, inactive int64
}

func (d refDest) overhead() int64 { return d.active<<8 + d.inactive }

func refLC(ds []refDest) int {
	least, loh := -1, int64(0)
	for i, d := range ds {
		if d.w == 0 {
			continue
		}
		if doh := d.overhead(); least < 0 || doh < loh {
			least, loh = i, doh
		}
	}
	return least
}

// refWLC is ip_vs_wlc_schedule: the first dest with weight > 0 starts as the
// least; every later dest (weight 0 too) replaces it when loh*w > doh*wl.
func refWLC(ds []refDest, oh func(refDest) int64) int {
	least := -1
	for i, d := range ds {
		if d.w > 0 {
			least = i
			break
		}
	}
	if least < 0 {
		return -1
	}
	loh := oh(ds[least])
	for i := least + 1; i < len(ds); i++ {
		doh := oh(ds[i])
		if loh*ds[i].w > doh*ds[least].w {
			least, loh = i, doh
		}
	}
	return least
}

func sedOverhead(d refDest) int64 { return d.active + 1 }

func refNQ(ds []refDest) int {
	least, loh := -1, int64(0)
	for i, d := range ds {
		if d.w == 0 {
			continue
		}
		doh := d.active + 1
		if d.active == 0 {
			return i
		}
		if least < 0 || loh*d.w > doh*ds[least].w {
			least, loh = i, doh
		}
	}
	return least
}

func refFO(ds []refDest) int {
	h, hw := -1, int64(0)
	for i, d := range ds {
		if d.w > hw {
			h, hw = i, d.w
		}
	}
	return h
}

func refOVF(ds []refDest) int {
	h, hw := -1, int64(0)
	for i, d := range ds {
		if d.active > d.w || d.w == 0 {
			continue
		}
		if h < 0 || d.w > hw {
			h, hw = i, d.w
		}
	}
	return h
}

// refTwoS is ip_vs_twos_schedule with its two random weights given.
func refTwoS(ds []refDest, rw1, rw2 int64) int {
	c1, c2 := -1, -1
	var w1, w2, oh1, oh2 int64 = -1, -1, 0, 0
	for i, d := range ds {
		if d.w <= 0 {
			continue
		}
		rw1 -= d.w
		rw2 -= d.w
		if rw1 <= 0 && w1 == -1 {
			c1, w1, oh1 = i, d.w, d.overhead()
		}
		if rw2 <= 0 && w2 == -1 {
			c2, w2, oh2 = i, d.w, d.overhead()
		}
		if w1 != -1 && w2 != -1 {
			break
		}
	}
	if c2 >= 0 && w2*oh1 > w1*oh2 {
		c1 = c2
	}
	return c1
}

// refRR is ip_vs_rr_schedule from the list head.
func refRR(ds []refDest, picks int) []int {
	var out []int
	cur := -1
	for range picks {
		found := -1
		for k := 1; k <= len(ds); k++ {
			i := (cur + k + len(ds)) % len(ds)
			if cur == -1 {
				i = k - 1
			}
			if ds[i].w > 0 {
				found = i
				break
			}
		}
		if found >= 0 {
			cur = found
		}
		out = append(out, found)
	}
	return out
}

// refWRR is ip_vs_wrr_schedule with its mark (cl, cw, mw, di) from
// ip_vs_wrr_init_svc; cl == -1 is the list head.
type refWRR struct {
	cl         int
	cw, mw, di int64
	ws         []int64
}

func newRefWRR(ws []int64) *refWRR {
	var g, mx int64
	for _, w := range ws {
		if w > 0 {
			if g > 0 {
				g = int64(sched.MixGCD(uint64(w), uint64(g)))
			} else {
				g = w
			}
		}
		mx = max(mx, w)
	}
	if g == 0 {
		g = 1
	}
	m := &refWRR{cl: -1, di: g, ws: ws}
	m.mw = mx - (g - 1)
	m.cw = m.mw
	return m
}

func (m *refWRR) next() int {
	if m.mw == 0 {
		return -1
	}
	dest, last, stop := m.cl, m.cl, -2
	lastPass, restarted := false, false
	for {
		for dest = dest + 1; dest < len(m.ws); dest++ {
			if m.ws[dest] >= m.cw {
				m.cl = dest
				return dest
			}
			if dest == stop {
				m.cl = dest
				return -1
			}
		}
		dest = -1
		m.cw -= m.di
		if m.cw <= 0 {
			m.cw = m.mw
			if lastPass || last == -1 {
				m.cl = dest
				return -1
			}
			restarted = true
		}
		lastPass = m.cw <= m.di
		if lastPass && restarted && last != -1 {
			stop = last
		}
	}
}

// randomDests returns n dests with weights from 0 to maxW (some 0) and
// random counts.
func randomDests(r *rand.Rand, n int, maxW int64) []refDest {
	ds := make([]refDest, n)
	for i := range ds {
		if r.IntN(5) > 0 {
			ds[i].w = 1 + r.Int64N(maxW)
		}
		ds[i].active = r.Int64N(20)
		ds[i].inactive = r.Int64N(600)
		if r.IntN(4) == 0 {
			ds[i].active = 0
		}
	}
	return ds
}

func buildFrom(t *testing.T, alg sched.Algorithm, ds []refDest) sched.Scheduler {
	t.Helper()
	bs := schedtest.Backends(len(ds), 0)
	for i, d := range ds {
		bs[i].Weight = uint32(d.w)
		bs[i].Counters = new(sched.Counters)
		bs[i].Counters.Active.Store(d.active)
		bs[i].Counters.Inactive.Store(d.inactive)
	}
	s, err := sched.New(alg, bs, nil)
	if err != nil {
		t.Fatalf("New(%s): %v", alg, err)
	}
	return s
}

func picked(s sched.Scheduler) int {
	i, ok := s.Pick(schedtest.Flow(schedtest.Client4(1), 1234))
	if !ok {
		return -1
	}
	return i
}

// TestMatchesIPVS compares every counting scheduler with its IPVS loop on
// random destination lists.
func TestMatchesIPVS(t *testing.T) {
	tests := []struct {
		alg sched.Algorithm
		ref func([]refDest) int
	}{
		{sched.LC, refLC},
		{sched.WLC, func(ds []refDest) int { return refWLC(ds, refDest.overhead) }},
		{sched.SED, func(ds []refDest) int { return refWLC(ds, sedOverhead) }},
		{sched.NQ, refNQ},
		{sched.FO, refFO},
		{sched.OVF, refOVF},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, tt := range tests {
		t.Run(tt.alg.String(), func(t *testing.T) {
			for trial := range 2000 {
				ds := randomDests(r, 1+r.IntN(12), []int64{1, 3, 20, 1000}[trial%4])
				if got, want := picked(buildFrom(t, tt.alg, ds)), tt.ref(ds); got != want {
					t.Fatalf("dests %+v: picked %d, IPVS picks %d", ds, got, want)
				}
			}
		})
	}
}

// TestTwoSMatchesIPVS feeds twos the random draws IPVS would make. IPVS
// draws rweight from [0, total]; sched draws r from [0, total) and picks as
// IPVS does with rweight = r+1 (see twos.go).
func TestTwoSMatchesIPVS(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 3000 {
		ds := randomDests(r, 1+r.IntN(10), 10)
		var total int64
		for _, d := range ds {
			total += d.w
		}
		if total == 0 {
			if got := picked(buildFrom(t, sched.TwoS, ds)); got != -1 {
				t.Fatalf("all quiesced: picked %d", got)
			}
			continue
		}
		rw1, rw2 := 1+r.Int64N(total), 1+r.Int64N(total)
		s := buildFrom(t, sched.TwoS, ds)
		draws := []uint64{uint64(rw1 - 1), uint64(rw2 - 1)}
		sched.SetRandom(s, func(n uint64) uint64 {
			if n != uint64(total) {
				t.Fatalf("drew from [0, %d), want [0, %d)", n, total)
			}
			v := draws[0]
			draws = draws[1:]
			return v
		})
		if got, want := picked(s), refTwoS(ds, rw1, rw2); got != want {
			t.Fatalf("dests %+v draws %d %d: picked %d, IPVS picks %d", ds, rw1, rw2, got, want)
		}
	}
}

func TestRRMatchesIPVS(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 300 {
		ds := randomDests(r, 1+r.IntN(10), 5)
		s := buildFrom(t, sched.RR, ds)
		sched.SetPosition(s, 0)
		want := refRR(ds, 3*len(ds)+1)
		var got []int
		for range want {
			got = append(got, picked(s))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("dests %+v (-IPVS +sched):\n%s", ds, diff)
		}
	}
}

// TestWRRMatchesIPVS compares three cycles of wrr, in both its table and
// its group form, with ip_vs_wrr_schedule.
func TestWRRMatchesIPVS(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for trial := range 300 {
		ds := randomDests(r, 1+r.IntN(10), []int64{1, 4, 30, 200}[trial%4])
		ws := make([]int64, len(ds))
		var cycle int64
		var g uint64
		for i, d := range ds {
			ws[i] = d.w
			if d.w > 0 {
				g = sched.MixGCD(uint64(d.w), g)
			}
		}
		for _, w := range ws {
			if w > 0 {
				cycle += w / int64(g)
			}
		}
		ref := newRefWRR(ws)
		n := 3*int(cycle) + 1
		var want []int
		for range n {
			want = append(want, ref.next())
		}
		table := buildFrom(t, sched.WRR, ds)
		bs := make([]sched.Backend, table.Len())
		for i := range bs {
			bs[i] = table.Backend(i)
		}
		groups, err := sched.NewWRRGroups(bs)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []sched.Scheduler{table, groups} {
			sched.SetPosition(s, 0)
			var got []int
			for range n {
				got = append(got, picked(s))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("weights %v (table form %v) (-IPVS +sched):\n%s", ws, sched.WRRTable(s), diff)
			}
		}
	}
}

func TestWRRInterleaves(t *testing.T) {
	s, err := sched.New(sched.WRR, schedtest.Weighted(4, 3, 2), nil)
	if err != nil {
		t.Fatal(err)
	}
	sched.SetPosition(s, 0)
	var got []int
	for range 18 {
		got = append(got, picked(s))
	}
	want := []int{0, 0, 1, 0, 1, 2, 0, 1, 2, 0, 0, 1, 0, 1, 2, 0, 1, 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("wrr 4,3,2 (-want +got):\n%s", diff)
	}
}

// TestWRRHugeWeights: a cycle too long for a table (1610612740 picks) uses
// the group form. Weights 2^30, 2^29+1, 3: 2^29-1 passes take only the
// first, 2^29-2 passes take the first two, the last 3 passes take all three.
func TestWRRHugeWeights(t *testing.T) {
	s, err := sched.New(sched.WRR, schedtest.Weighted(1<<30, 1<<29+1, 3, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sched.WRRTable(s) {
		t.Fatal("a cycle of 1610612740 picks is in table form")
	}
	const cycle = 1<<30 + 1<<29 + 1 + 3
	tests := []struct {
		pos  uint32
		want []int
	}{
		{0, []int{0, 0, 0}},
		{1<<29 - 3, []int{0, 0, 0, 1, 0, 1}},
		{cycle - 11, []int{0, 1, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0}},
	}
	for _, tt := range tests {
		sched.SetPosition(s, tt.pos)
		var got []int
		for range tt.want {
			got = append(got, picked(s))
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("from position %d (-want +got):\n%s", tt.pos, diff)
		}
	}
}
