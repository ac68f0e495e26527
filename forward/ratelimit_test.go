package forward

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRateLimiter(t *testing.T) {
	// Each step asks n times at tick now; want is how many were allowed.
	type step struct {
		now  Tick
		n    int
		want int
	}
	tests := []struct {
		name             string
		perSecond, burst int
		start            Tick
		steps            []step
	}{
		{name: "no limit", perSecond: 0, burst: 0,
			steps: []step{{0, 1000, 1000}, {0, 1000, 1000}}},
		{name: "burst, then the rate", perSecond: 1000, burst: 10,
			steps: []step{{0, 15, 10}, {1, 5, 1}, {5, 10, 4}, {5, 1, 0}, {1000, 20, 10}}},
		{name: "fractions of a flow a tick add up", perSecond: 1, burst: 1,
			steps: []step{{0, 2, 1}, {999, 1, 0}, {1000, 1, 1}, {1999, 1, 0}, {2000, 1, 1}}},
		{name: "two and a half flows a tick", perSecond: 2500, burst: 5,
			steps: []step{{0, 9, 5}, {1, 9, 2}, {2, 9, 3}, {3, 9, 2}}},
		{name: "bucket does not overfill", perSecond: 100, burst: 3,
			steps: []step{{0, 3, 3}, {1_000_000, 10, 3}}},
		{name: "tick wraps", perSecond: 1000, burst: 4, start: 1<<32 - 2,
			steps: []step{{1<<32 - 2, 9, 4}, {1, 9, 3}}},
		{name: "clock going back refills", perSecond: 1000, burst: 4, start: 100,
			steps: []step{{100, 9, 4}, {99, 9, 4}}},
		{name: "same tick", perSecond: 1_000_000, burst: 1000,
			steps: []step{{7, 1500, 1000}, {7, 10, 0}, {8, 1500, 1000}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRateLimiter(tt.perSecond, tt.burst, tt.start)
			if err != nil {
				t.Fatal(err)
			}
			var got, want []int
			for _, s := range tt.steps {
				n := 0
				for range s.n {
					if r.Allow(s.now) {
						n++
					}
				}
				got = append(got, n)
				want = append(want, s.want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("allowed per step (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRateLimiterLongRun checks the average rate over a simulated minute
// of a flood asking every tick.
func TestRateLimiterLongRun(t *testing.T) {
	for _, rate := range []int{1, 7, 999, 1000, 12345, 1_000_000} {
		burst := max(rate/100, 1)
		r, err := NewRateLimiter(rate, burst, 0)
		if err != nil {
			t.Fatal(err)
		}
		allowed := 0
		for now := Tick(1); now <= 60_000; now++ {
			for r.Allow(now) {
				allowed++
			}
		}
		// The full bucket, then the refills of ticks 1 to 60000 (the one
		// of tick 1 overflows the full bucket).
		if want := burst + rate*59_999/1000; allowed != want {
			t.Errorf("rate %d: %d flows in 60 s, want %d", rate, allowed, want)
		}
	}
}

func TestNewRateLimiterErrors(t *testing.T) {
	tests := []struct {
		perSecond, burst int
		want             string
	}{
		{-1, 10, "new-flow rate limit: rate -1 burst 10: expected 0 to 4294967295"},
		{10, -1, "new-flow rate limit: rate 10 burst -1: expected 0 to 4294967295"},
		{MaxFlowRate + 1, 10, "new-flow rate limit: rate 4294967296 burst 10: expected 0 to 4294967295"},
		{10, 0, "new-flow rate limit: burst 0: expected at least 1 and a millisecond of the rate (1)"},
		{100_000, 99, "new-flow rate limit: burst 99: expected at least 1 and a millisecond of the rate (100)"},
	}
	for _, tt := range tests {
		_, err := NewRateLimiter(tt.perSecond, tt.burst, 0)
		if err == nil || err.Error() != tt.want {
			t.Errorf("NewRateLimiter(%d, %d): error %v, want %q", tt.perSecond, tt.burst, err, tt.want)
		}
	}
}

func TestRateLimiterAllocs(t *testing.T) {
	r, _ := NewRateLimiter(1000, 10, 0)
	now := Tick(0)
	if n := testing.AllocsPerRun(100, func() { now++; r.Allow(now) }); n != 0 {
		t.Errorf("Allow allocates %v times", n)
	}
}

func BenchmarkRateLimiterAllow(b *testing.B) {
	r, _ := NewRateLimiter(1_000_000, 1000, 0)
	b.ReportAllocs()
	now := Tick(0)
	for i := 0; b.Loop(); i++ {
		if i&63 == 0 {
			now++
		}
		r.Allow(now)
	}
}
