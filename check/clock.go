package check

import "time"

// Clock is the time source of the checkers' schedule: the delays between
// probes, retries and warmup. The probes' own timeouts (connect_timeout,
// misc_timeout) run on real time: they bound real system calls.
//
// internal/checktest.Clock is a fake for tests.
type Clock interface {
	Now() time.Time
	// NewTimer returns a channel that receives once d has passed, and a
	// function that stops the timer and reports whether it was pending.
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

// realClock is the machine's clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}
