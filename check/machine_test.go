package check

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// step is one probe result fed to a checker and what must follow.
type step struct {
	ok     bool
	status int           // MISC_CHECK exit status
	delay  time.Duration // until the next probe
	up     bool          // the checker after the result
	next   int           // the url block of the next probe (HTTP)
	weight int           // the real server's data-plane weight, when set
}

func (s step) String() string {
	return fmt.Sprintf("ok=%v status=%d -> delay=%v up=%v next=%d weight=%d", s.ok, s.status, s.delay, s.up, s.next, s.weight)
}

func TestRetrySemantics(t *testing.T) {
	const (
		tcp     = "TCP_CHECK { retry 2\n delay_before_retry 1 }"
		ping    = "PING_CHECK { retry 2\n delay_before_retry 1 }"
		udp     = "UDP_CHECK { retry 2\n delay_before_retry 1 }"
		dns     = "DNS_CHECK { retry 1\n delay_before_retry 2 }"
		misc    = "MISC_CHECK { misc_path /bin/true\n retry 1\n delay_before_retry 2 }"
		dynamic = "MISC_CHECK { misc_path /bin/true\n misc_dynamic\n }"
		http2   = "HTTP_GET { url { path /a }\n url { path /b }\n retry 1\n delay_before_retry 2 }"
		fast    = "HTTP_GET { url { path /a }\n url { path /b }\n fast_recovery\n retry 1\n delay_before_retry 2 }"
	)
	s := time.Second
	ok := func(d time.Duration, up bool) step { return step{ok: true, delay: d, up: up} }
	ko := func(d time.Duration, up bool) step { return step{ok: false, status: 1, delay: d, up: up} }
	tests := []struct {
		name    string
		checker string
		steps   []step
	}{
		{"tcp: retries then down; retries go on while down", tcp, []step{
			ok(10*s, true), ko(s, true), ko(s, true), ko(10*s, false),
			ko(s, false), ko(s, false), ko(10*s, false), ok(10*s, true),
		}},
		{"tcp: the first probe decides at once", tcp, []step{ko(10*s, false), ok(10*s, true)}},
		{"tcp: a success resets the retries", tcp, []step{
			ok(10*s, true), ko(s, true), ok(10*s, true), ko(s, true), ko(s, true), ok(10*s, true),
		}},
		{"ping: no retries while down", ping, []step{
			ok(10*s, true), ko(s, true), ko(s, true), ko(10*s, false), ko(10*s, false), ok(10*s, true),
		}},
		{"udp: as ping", udp, []step{ko(10*s, false), ko(10*s, false), ok(10*s, true), ko(s, true)}},
		{"dns", dns, []step{ok(10*s, true), ko(2*s, true), ko(10*s, false), ko(10*s, false), ok(10*s, true)}},
		{"misc: retry", misc, []step{ok(10*s, true), ko(2*s, true), ko(10*s, false), ko(10*s, false), ok(10*s, true)}},
		{"misc: the first run decides", misc, []step{ko(10*s, false)}},
		{"misc_dynamic: the weight is the status minus 2", dynamic, []step{
			{ok: true, status: 12, delay: 10 * s, up: true, weight: 10},
			{ok: true, status: 2, delay: 10 * s, up: true, weight: 0},
			{ok: true, status: 0, delay: 10 * s, up: true, weight: 5},
			{ok: true, status: 9, delay: 10 * s, up: true, weight: 7},
			{ok: false, status: 1, delay: 10 * s, up: false, weight: 0},
			{ok: true, status: 9, delay: 10 * s, up: true, weight: 7},
		}},
		{"http: one url block per delay_loop; stays on the failed one", http2, []step{
			{ok: true, delay: 10 * s, up: true, next: 1},
			{ok: true, delay: 10 * s, up: true, next: 0},
			{ok: false, delay: 2 * s, up: true, next: 0},
			{ok: false, delay: 10 * s, up: false, next: 0},
			{ok: false, delay: 10 * s, up: false, next: 0},
			{ok: true, delay: 10 * s, up: false, next: 0},
			{ok: true, delay: 10 * s, up: false, next: 1},
			{ok: true, delay: 10 * s, up: true, next: 0},
		}},
		{"http: a failure in the first pass is final", http2, []step{
			{ok: true, delay: 10 * s, up: true, next: 1},
			{ok: false, delay: 10 * s, up: false, next: 1},
			{ok: true, delay: 10 * s, up: false, next: 0},
		}},
		{"http: retries on the second block", http2, []step{
			{ok: true, delay: 10 * s, up: true, next: 1},
			{ok: true, delay: 10 * s, up: true, next: 0},
			{ok: true, delay: 10 * s, up: true, next: 1},
			{ok: false, delay: 2 * s, up: true, next: 1},
			{ok: true, delay: 10 * s, up: true, next: 0},
		}},
		{"http: fast_recovery", fast, []step{
			{ok: true, delay: 0, up: true, next: 1},
			{ok: true, delay: 10 * s, up: true, next: 0},
			{ok: false, delay: 2 * s, up: true, next: 0},
			{ok: false, delay: 10 * s, up: false, next: 0},
			{ok: true, delay: 0, up: false, next: 0},
			{ok: true, delay: 0, up: false, next: 1},
			{ok: true, delay: 10 * s, up: true, next: 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _, _ := newTestManager(t)
			if err := m.Update(parse(t, oneServer("", "weight 5\n"+tt.checker))); err != nil {
				t.Fatal(err)
			}
			c := checkersOf(t, m, vsName, "198.18.0.11:80")[0]
			var got, want []step
			for _, st := range tt.steps {
				m.mu.Lock()
				var fx effects
				d := apply(c, result{ok: st.ok, status: st.status, reason: "test"}, &fx)
				g := step{ok: st.ok, status: st.status, delay: d, up: c.up, next: c.url}
				if st.weight != 0 || c.curWeight != 0 {
					g.weight = c.rs.svc.build().reals[c.rs.key].Weight
				}
				m.mu.Unlock()
				got = append(got, g)
				want = append(want, st)
			}
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b step) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}
