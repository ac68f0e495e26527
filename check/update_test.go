package check

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fire feeds a result to a checker, as a completed probe would.
func fire(m *Manager, c *checker, ok bool, status int) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var fx effects
	apply(c, result{ok: ok, status: status, reason: "test"}, &fx)
	if fx.changed {
		m.state = nil
	}
	return scriptNames(fx.scripts)
}

func scriptNames(runs []scriptRun) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.what+" "+r.name)
	}
	return out
}

// takePending returns and clears the scripts asked for before Run.
func takePending(m *Manager) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := scriptNames(m.pending)
	m.pending = nil
	return p
}

func TestReload(t *testing.T) {
	const rs1 = "198.18.0.11:80"
	notify := " notify_up /bin/true\n notify_down /bin/true\n"
	m, _, _ := newTestManager(t)
	base := oneServer("  quorum_down /bin/true\n", notify+"TCP_CHECK { retry 0 }\nMISC_CHECK { misc_path /bin/true\n misc_dynamic }\n")
	if err := m.Update(parse(t, base)); err != nil {
		t.Fatal(err)
	}
	takePending(m)
	cs := checkersOf(t, m, vsName, rs1)
	tcp, misc := cs[0], cs[1]
	fire(m, tcp, true, 0)
	fire(m, misc, true, 12) // weight 10
	fire(m, tcp, false, 1)  // down

	alive := func() RealState { r, _ := m.State().Real(vsName, mustAddrPort(rs1)); return r }

	// The same configuration again: the very same checkers go on.
	if err := m.Update(parse(t, base)); err != nil {
		t.Fatal(err)
	}
	if got := checkersOf(t, m, vsName, rs1); got[0] != tcp || got[1] != misc {
		t.Errorf("an unchanged checker was replaced")
	}
	if got := takePending(m); got != nil {
		t.Errorf("scripts on an unchanged reload: %v", got)
	}
	if r := alive(); r.Alive {
		t.Errorf("down real server came back on reload: %+v", r)
	}

	// New timing: new checkers, same state (down; weight 10 kept).
	timed := oneServer("  quorum_down /bin/true\n", notify+"TCP_CHECK { retry 0\n delay_loop 3 }\nMISC_CHECK { misc_path /bin/true\n misc_dynamic\n delay_loop 3 }\n")
	if err := m.Update(parse(t, timed)); err != nil {
		t.Fatal(err)
	}
	cs = checkersOf(t, m, vsName, rs1)
	if cs[0] == tcp || cs[1] == misc {
		t.Fatalf("a checker with new timing was kept as it was")
	}
	if tcp.sched != retired || misc.sched != retired {
		t.Errorf("old checkers not retired: %v %v", tcp.sched, misc.sched)
	}
	if r := alive(); r.Alive || cs[0].up || !cs[0].hasRun {
		t.Errorf("state not carried over: %+v, checker up=%v hasRun=%v", r, cs[0].up, cs[0].hasRun)
	}
	fire(m, cs[0], true, 0)
	if r := alive(); !r.Alive || r.Weight != 10 {
		t.Errorf("after recovery: %+v, want alive with the dynamic weight 10", r)
	}

	// A checker that probes something else starts afresh: the real
	// server, down only because of the old one, comes up, and as the
	// other checker has run, the new one has its retries (keepalived).
	fire(m, cs[0], false, 1)
	if r := alive(); r.Alive {
		t.Fatalf("still up")
	}
	prevMisc := cs[1]
	other := oneServer("  quorum_down /bin/true\n", notify+"TCP_CHECK { retry 2\n connect_port 81\n delay_loop 3 }\nMISC_CHECK { misc_path /bin/true\n misc_dynamic\n delay_loop 3 }\n")
	if err := m.Update(parse(t, other)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"notify_up " + vsName + " " + rs1}, takePending(m)); diff != "" {
		t.Errorf("scripts (-want +got)\n%s", diff)
	}
	cs = checkersOf(t, m, vsName, rs1)
	if !alive().Alive || cs[0].retryIt != 0 || cs[1] != prevMisc {
		t.Errorf("new checker of a down real server: alive=%v retryIt=%d", alive().Alive, cs[0].retryIt)
	}

	// A new real server with alpha starts down; the old one, gone, runs
	// notify_down.
	moved := strings.Replace(oneServer("  quorum_down /bin/true\n", "alpha\n"+notify+"TCP_CHECK { retry 0 }\n"), "198.18.0.11", "198.18.0.12", 1)
	if err := m.Update(parse(t, moved)); err != nil {
		t.Fatal(err)
	}
	got := takePending(m)
	if !slices.Contains(got, "notify_down "+vsName+" "+rs1) {
		t.Errorf("scripts %v: no notify_down for the real server that left", got)
	}
	if r, _ := m.State().Real(vsName, mustAddrPort("198.18.0.12:80")); r.Alive || r.InService {
		t.Errorf("new alpha real server: %+v, want down", r)
	}
	if _, ok := m.State().Real(vsName, mustAddrPort(rs1)); ok {
		t.Errorf("the real server that left is still in the state")
	}

	// A real server without checker is always up.
	if err := m.Update(parse(t, oneServer("", "weight 0\n"))); err != nil {
		t.Fatal(err)
	}
	if r := alive(); !r.Alive || !r.InService || r.Weight != 0 {
		t.Errorf("real server without checker: %+v", r)
	}
	if err := m.Update(parse(t, "")); err != nil {
		t.Fatal(err)
	}
	if m.State().Service(vsName) != nil {
		t.Errorf("removed virtual server still in the state")
	}
}

func TestRemovedServiceRunsQuorumDown(t *testing.T) {
	m, _, _ := newTestManager(t)
	if err := m.Update(parse(t, oneServer("  quorum_down /bin/true\n", "notify_down /bin/true\n"))); err != nil {
		t.Fatal(err)
	}
	takePending(m)
	if err := m.Update(parse(t, "")); err != nil {
		t.Fatal(err)
	}
	want := []string{"notify_down " + vsName + " 198.18.0.11:80", "quorum_down " + vsName}
	if diff := cmp.Diff(want, takePending(m)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}
