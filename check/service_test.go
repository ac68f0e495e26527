package check

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// view is what a test compares after each event: the service's state and
// the notify scripts asked for.
type view struct {
	QuorumUp bool
	Sorry    *RealState
	Reals    map[string]RealState
	Scripts  []string
}

func viewOf(m *Manager, name string, scripts []scriptRun) view {
	st := m.State().Service(name)
	v := view{QuorumUp: st.QuorumUp, Sorry: st.Sorry, Reals: map[string]RealState{}}
	for k, r := range st.Reals() {
		r.Reason = "" // TestDownReason looks at it
		v.Reals[k.String()] = r
	}
	for _, s := range scripts {
		v.Scripts = append(v.Scripts, s.what+" "+s.name)
	}
	return v
}

// event is a probe result for checker chk of real server rs (indexes).
type event struct {
	rs, chk int
	ok      bool
}

func TestServiceSemantics(t *testing.T) {
	const (
		rs1 = "198.18.0.11:80"
		rs2 = "198.18.0.12:80"
		tcp = "TCP_CHECK { retry 0 }\n"
	)
	in := func(w, cw int) RealState { return RealState{Alive: true, InService: true, Weight: w, ConfigWeight: cw} }
	out := func(cw int) RealState { return RealState{ConfigWeight: cw} }
	inhibited := func(alive bool, cw int) RealState {
		return RealState{Alive: alive, InService: true, ConfigWeight: cw}
	}
	sorryIn := &RealState{Alive: true, InService: true, Weight: 1, ConfigWeight: 1}
	sorryOut := &RealState{Alive: true, ConfigWeight: 1}
	quorum := "  quorum 3\n  hysteresis 1\n  sorry_server 198.18.0.99 80\n  quorum_up /bin/true\n  quorum_down /bin/true\n"
	tests := []struct {
		name   string
		config string
		start  view
		events []event
		want   []view
	}{
		{
			name: "quorum with hysteresis, sorry server, inhibit_on_failure",
			config: oneServer(quorum,
				"weight 2\n inhibit_on_failure\n notify_down /bin/true\n"+tcp,
				"weight 3\n notify_up /bin/true\n notify_down /bin/true\n"+tcp),
			start: view{QuorumUp: true, Sorry: sorryOut, Reals: map[string]RealState{rs1: in(2, 2), rs2: in(3, 3)},
				Scripts: []string{"quorum_up " + vsName}},
			events: []event{{1, 0, false}, {0, 0, false}, {0, 0, true}, {1, 0, true}},
			want: []view{
				// 2 left: not below quorum 3 - hysteresis 1.
				{QuorumUp: true, Sorry: sorryOut, Reals: map[string]RealState{rs1: in(2, 2), rs2: out(3)},
					Scripts: []string{"notify_down " + vsName + " " + rs2}},
				// 0: quorum lost, the sorry server takes over; rs1 stays
				// in with weight 0.
				{Sorry: sorryIn, Reals: map[string]RealState{rs1: inhibited(false, 2), rs2: out(3)},
					Scripts: []string{"notify_down " + vsName + " " + rs1, "quorum_down " + vsName}},
				// 2: below quorum 3 + hysteresis 1: the sorry server stays.
				{Sorry: sorryIn, Reals: map[string]RealState{rs1: inhibited(true, 2), rs2: out(3)}},
				// 5: quorum back.
				{QuorumUp: true, Sorry: sorryOut, Reals: map[string]RealState{rs1: in(2, 2), rs2: in(3, 3)},
					Scripts: []string{"notify_up " + vsName + " " + rs2, "quorum_up " + vsName}},
			},
		},
		{
			name:   "alpha: start down, with the sorry server",
			config: oneServer("  sorry_server 198.18.0.99 80\n  sorry_server_inhibit\n  quorum_down /bin/true\n", "alpha\n notify_down /bin/true\n notify_up /bin/true\n"+tcp),
			start: view{Sorry: sorryIn, Reals: map[string]RealState{rs1: out(1)},
				Scripts: []string{"quorum_down " + vsName}},
			events: []event{{0, 0, false}, {0, 0, true}},
			want: []view{
				// The first result confirms the state: notify_down runs.
				{Sorry: sorryIn, Reals: map[string]RealState{rs1: out(1)}, Scripts: []string{"notify_down " + vsName + " " + rs1}},
				{QuorumUp: true, Sorry: &RealState{Alive: true, InService: true, ConfigWeight: 1}, Reals: map[string]RealState{rs1: in(1, 1)},
					Scripts: []string{"notify_up " + vsName + " " + rs1}},
			},
		},
		{
			name:   "a real server is up when all its checkers are",
			config: oneServer("", tcp+"PING_CHECK { retry 0 }\n", ""),
			start:  view{QuorumUp: true, Reals: map[string]RealState{rs1: in(1, 1), rs2: in(1, 1)}},
			events: []event{{0, 0, false}, {0, 1, false}, {0, 0, true}, {0, 1, true}},
			want: []view{
				{QuorumUp: true, Reals: map[string]RealState{rs1: out(1), rs2: in(1, 1)}},
				{QuorumUp: true, Reals: map[string]RealState{rs1: out(1), rs2: in(1, 1)}},
				{QuorumUp: true, Reals: map[string]RealState{rs1: out(1), rs2: in(1, 1)}},
				{QuorumUp: true, Reals: map[string]RealState{rs1: in(1, 1), rs2: in(1, 1)}},
			},
		},
		{
			name:   "quorum lost without a sorry server only notifies",
			config: oneServer("  quorum 2\n  quorum_down /bin/true\n", tcp, tcp),
			start:  view{QuorumUp: true, Reals: map[string]RealState{rs1: in(1, 1), rs2: in(1, 1)}},
			events: []event{{0, 0, false}},
			want: []view{
				{Reals: map[string]RealState{rs1: out(1), rs2: in(1, 1)}, Scripts: []string{"quorum_down " + vsName}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _, _ := newTestManager(t)
			if err := m.Update(parse(t, tt.config)); err != nil {
				t.Fatal(err)
			}
			m.mu.Lock()
			pending := m.pending
			m.mu.Unlock()
			got := []view{viewOf(m, vsName, pending)}
			want := append([]view{tt.start}, tt.want...)
			m.mu.Lock()
			reals := m.services[vsName].reals
			m.mu.Unlock()
			for _, ev := range tt.events {
				c := reals[ev.rs].checkers[ev.chk]
				m.mu.Lock()
				var fx effects
				apply(c, result{ok: ev.ok, status: 1, reason: "test"}, &fx)
				if fx.changed {
					m.state = nil
				}
				m.mu.Unlock()
				got = append(got, viewOf(m, vsName, fx.scripts))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestDownReason(t *testing.T) {
	m, _, _ := newTestManager(t)
	if err := m.Update(parse(t, oneServer("", "TCP_CHECK { retry 0 }\nPING_CHECK { alpha }\n"))); err != nil {
		t.Fatal(err)
	}
	rs := mustAddrPort("198.18.0.11:80")
	want := "PING_CHECK 198.18.0.11: not checked yet (alpha)"
	if r, _ := m.State().Real(vsName, rs); r.Reason != want {
		t.Errorf("reason %q, want %q", r.Reason, want)
	}
	cs := checkersOf(t, m, vsName, rs.String())
	m.mu.Lock()
	var fx effects
	apply(cs[0], result{reason: "connect: connection refused"}, &fx)
	m.state = nil
	m.mu.Unlock()
	want = "TCP_CHECK 198.18.0.11:80: connect: connection refused"
	if r, _ := m.State().Real(vsName, rs); r.Reason != want {
		t.Errorf("reason %q, want %q", r.Reason, want)
	}
}
