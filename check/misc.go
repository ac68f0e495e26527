package check

import (
	"context"
	"strconv"
)

// miscProber is MISC_CHECK: misc_path runs (see script.run) and its exit
// status decides: 0 passes, anything else fails; with misc_dynamic 1
// fails and 2 to 255 pass with the real server's weight set to the status
// minus 2. A script still running after misc_timeout (default: the
// virtual server's delay_loop) is killed and fails.
type miscProber struct {
	m  *Manager
	sp *spec
}

func newMiscProber(m *Manager, sp *spec) *miscProber { return &miscProber{m: m, sp: sp} }

func (p *miscProber) probe(ctx context.Context, _ int) result {
	res := p.sp.script.Run(ctx, p.sp.timeout, p.m.do)
	r := result{status: res.Status, timedOut: res.TimedOut}
	dynamic := p.sp.cfg.Misc.Dynamic
	switch {
	case res.Err != nil:
		r.reason = res.Err.Error()
	case res.TimedOut:
		r.reason = "timed out after " + p.sp.timeout.String()
	case res.Status == 0 || dynamic && res.Status >= 2 && res.Status <= 255:
		r.ok = true
	case res.Signal != "":
		r.reason = "killed by " + res.Signal
	default:
		r.reason = "exit status " + strconv.Itoa(res.Status)
	}
	return r
}

var _ prober = (*miscProber)(nil)
