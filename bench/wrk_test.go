package bench

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseWrk reads wrk 4.1's report, with and without errors.
func TestParseWrk(t *testing.T) {
	const ok = `Running 2s test @ http://198.19.0.1/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.01ms  512.33us  14.21ms   87.12%
    Req/Sec    15.95k     1.02k   17.01k    80.00%
  Latency Distribution
     50%    1.95ms
     75%    2.20ms
     90%    2.51ms
     99%    3.62ms
  31739 requests in 2.00s, 4.94MB read
Requests/sec:  15869.50
Transfer/sec:      2.47MB
`
	const bad = `Running 2s test @ http://198.19.0.1/
  1 threads and 32 connections
  Latency Distribution
     50%  812.00us
     75%    1.20ms
     90%    1.51ms
     99%     1.10s
  1000 requests in 2.00s, 4.94MB read
  Socket errors: connect 3, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:    500.00
`
	for _, tt := range []struct {
		name, out string
		want      map[string]float64
	}{
		{"ok", ok, map[string]float64{"req/s": 15869.5, "p50-ms": 1.95, "p99-ms": 3.62, "errors": 0}},
		{"errors", bad, map[string]float64{"req/s": 500, "p50-ms": 0.812, "p99-ms": 1100, "errors": 10}},
	} {
		got, err := parseWrk(tt.out)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	if _, err := parseWrk("wrk: connection refused\n"); err == nil {
		t.Errorf("no report: no error")
	}
}
