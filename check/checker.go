package check

import (
	"context"
	"fmt"
	"time"

	"github.com/govs-lb/govs/config"
)

// result is the outcome of one probe.
type result struct {
	ok bool
	// status is a MISC_CHECK script's exit status, -1 when a signal ended
	// it.
	status int
	// timedOut says the probe ran out of time (a script was killed).
	timedOut bool
	// reason says why a probe failed, for logs.
	reason string
}

func fail(format string, args ...any) result {
	return result{reason: fmt.Sprintf(format, args...)}
}

// prober runs one probe of a checker. step selects the url block of an
// HTTP_GET or SSL_GET check; the others ignore it. A prober returns within
// its timeouts, or soon after ctx is done.
type prober interface {
	probe(ctx context.Context, step int) result
}

// proberFunc adapts a function to prober.
type proberFunc func(ctx context.Context, step int) result

func (f proberFunc) probe(ctx context.Context, step int) result { return f(ctx, step) }

// schedState says where a checker is in the schedule.
type schedState uint8

const (
	_         schedState = iota
	unplanned            // installed before Run: planned when Run starts
	queued               // in the heap, waiting for its time
	running              // a probe is in flight
	retired              // removed by Update or stopped with Run
)

// checker is one health checker of a real server at run time.
type checker struct {
	rs     *realServer
	spec   *spec
	prober prober
	// firstDelay is the random warmup before the first probe.
	firstDelay time.Duration

	// The rest is guarded by Manager.mu.

	// up, hasRun and retryIt are keepalived's is_up, has_run and retry_it.
	up      bool
	hasRun  bool
	retryIt int
	// url is the url block an HTTP check is on; failedURL the one that
	// failed (-1: none), as keepalived's url_it and failed_url.
	url       int
	failedURL int
	// lastExit and curWeight are a MISC_CHECK's last exit status and, with
	// misc_dynamic, the change it made to the real server's weight.
	lastExit  int
	curWeight int64
	// lastStart is when the last probe started: a MISC_CHECK's next run is
	// timed from it.
	lastStart time.Time
	// reason is why the last probe failed; lastDuration how long the
	// last probe took.
	reason       string
	lastDuration time.Duration

	sched schedState
	due   time.Time
	// tcp is a TCP_CHECK's probe on the poller (tcppoll_linux.go).
	tcp *tcpFlight
}

// cfg returns the checker's configuration.
func (c *checker) cfg() *config.Checker { return c.spec.cfg }
