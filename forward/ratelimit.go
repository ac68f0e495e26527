package forward

import "fmt"

// RateLimiter is a token bucket for new flows: a worker asks it before
// inserting a flow into its connection table, and above the rate (a SYN
// flood) sends the flow by the stateless choice instead, so a flood cannot
// fill the table. It holds no pointer, reads no clock (the caller passes
// the batch's Tick) and is not safe for concurrent use: one a worker.
//
// Tokens are counted in thousandths of a flow, so that a rate in flows per
// second adds exactly rate thousandths a tick (a millisecond).
type RateLimiter struct {
	rate      uint64 // thousandths of a flow added a tick; 0: no limit
	burst     uint64 // bucket size in thousandths of a flow
	fullAfter uint64 // ticks that refill an empty bucket
	tokens    uint64 // thousandths of a flow in the bucket
	last      Tick   // tick of the last refill
}

// Rate limiter bounds.
const (
	// MaxFlowRate is the largest rate and burst NewRateLimiter accepts.
	MaxFlowRate = 1<<32 - 1
	// connMilli is one flow in tokens.
	connMilli = 1000
)

// NewRateLimiter returns a limiter that allows perSecond new flows a second
// on average and up to burst at once, full at tick now. perSecond 0 means no
// limit. burst must hold at least a tick's worth of flows (perSecond/1000):
// the limiter refills once a tick, and a worker's clock moves once a batch,
// so burst should cover the flows of a batch interval.
func NewRateLimiter(perSecond, burst int, now Tick) (RateLimiter, error) {
	if perSecond < 0 || perSecond > MaxFlowRate || burst < 0 || burst > MaxFlowRate {
		return RateLimiter{}, fmt.Errorf("new-flow rate limit: rate %d burst %d: expected 0 to %d", perSecond, burst, MaxFlowRate)
	}
	if perSecond == 0 {
		return RateLimiter{}, nil
	}
	if burst < 1 || uint64(burst)*connMilli < uint64(perSecond) {
		return RateLimiter{}, fmt.Errorf("new-flow rate limit: burst %d: expected at least 1 and a millisecond of the rate (%d)", burst, (perSecond+connMilli-1)/connMilli)
	}
	r := RateLimiter{
		rate:   uint64(perSecond),
		burst:  uint64(burst) * connMilli,
		tokens: uint64(burst) * connMilli,
		last:   now,
	}
	r.fullAfter = (r.burst + r.rate - 1) / r.rate
	return r, nil
}

// Allow takes a token at tick now and reports whether there was one. A
// tick that moves backwards refills the bucket.
func (r *RateLimiter) Allow(now Tick) bool {
	if r.rate == 0 {
		return true
	}
	if el := uint64(now - r.last); el != 0 {
		r.last = now
		if el >= r.fullAfter {
			r.tokens = r.burst
		} else {
			r.tokens = min(r.tokens+el*r.rate, r.burst)
		}
	}
	if r.tokens < connMilli {
		return false
	}
	r.tokens -= connMilli
	return true
}
