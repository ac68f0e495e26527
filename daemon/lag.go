package daemon

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// lagBuckets are the upper bounds, in seconds, of the verdict-to-data-
// plane histogram.
var lagBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}

// lagBook records how long health checkers' verdicts took to reach the
// data plane: from the probe's verdict to the new snapshot swapped in. Its
// own mutex guards it.
type lagBook struct {
	mu      sync.Mutex
	count   uint64
	sum     float64
	buckets []uint64 // cumulative, by lagBuckets
	last    time.Duration
	max     time.Duration
	applied time.Time // the verdict last recorded
}

// record notes that the verdict of time at is in the data plane now; a
// verdict already recorded (a later refresh of the same state) is not
// counted again.
func (l *lagBook) record(at, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if at.IsZero() || !at.After(l.applied) {
		return
	}
	l.applied = at
	lag := now.Sub(at)
	if l.buckets == nil {
		l.buckets = make([]uint64, len(lagBuckets))
	}
	l.count++
	l.sum += lag.Seconds()
	for i, b := range lagBuckets {
		if lag.Seconds() <= b {
			l.buckets[i]++
		}
	}
	l.last, l.max = lag, max(l.max, lag)
}

// snapshot returns the last and largest lag and the count.
func (l *lagBook) snapshot() (last, largest time.Duration, n uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last, l.max, l.count
}

var mVerdictLag = desc("check_verdict_to_dataplane_seconds", "From a health checker's verdict to the data plane's snapshot holding it.")

// metric is the histogram as a Prometheus metric.
func (l *lagBook) metric() prometheus.Metric {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := map[float64]uint64{}
	for i, ub := range lagBuckets {
		var n uint64
		if l.buckets != nil {
			n = l.buckets[i]
		}
		b[ub] = n
	}
	return prometheus.MustNewConstHistogram(mVerdictLag, l.count, l.sum, b)
}
