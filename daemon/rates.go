package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/govs-lb/govs/forward"
)

// Rates are per-second rates over the last sampling interval, as ipvsadm
// --rate shows them: connections, packets and bytes a second, by service
// and real server ID.
type Rates struct {
	Interval time.Duration   `json:"interval"`
	Services map[uint32]Rate `json:"services"`
	Backends map[uint32]Rate `json:"backends"`
	Sampled  time.Time       `json:"sampled"`
}

// Rate is one rate sample.
type Rate struct {
	CPS float64 `json:"cps"`
	PPS float64 `json:"pps"`
	BPS float64 `json:"bps"`
}

// rateInterval is how often rates are sampled (IPVS's estimator: 2 s).
const rateInterval = 2 * time.Second

type counts struct{ conns, packets, bytes uint64 }

// rateBook keeps the last sample and the rates since the one before. Its
// own mutex guards it.
type rateBook struct {
	mu      sync.Mutex
	last    map[uint32]counts // services by ID
	lastB   map[uint32]counts // real servers by ID
	lastAt  time.Time
	current Rates
}

func (r *rateBook) snapshot() Rates {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current
}

func (r *rateBook) add(st forward.Stats, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, b := map[uint32]counts{}, map[uint32]counts{}
	for _, svc := range st.Services {
		s[svc.ID] = counts{svc.Conns, svc.Packets, svc.Bytes}
		for _, be := range svc.Backends {
			b[be.ID] = counts{be.Conns, be.Packets, be.Bytes}
		}
	}
	if !r.lastAt.IsZero() {
		dt := now.Sub(r.lastAt).Seconds()
		rate := func(now, then counts) Rate {
			if now.packets < then.packets { // reset by a reload
				then = counts{}
			}
			return Rate{
				CPS: float64(now.conns-then.conns) / dt,
				PPS: float64(now.packets-then.packets) / dt,
				BPS: float64(now.bytes-then.bytes) / dt,
			}
		}
		cur := Rates{Interval: now.Sub(r.lastAt), Services: map[uint32]Rate{}, Backends: map[uint32]Rate{}, Sampled: now}
		for id, c := range s {
			cur.Services[id] = rate(c, r.last[id])
		}
		for id, c := range b {
			cur.Backends[id] = rate(c, r.lastB[id])
		}
		r.current = cur
	}
	r.last, r.lastB, r.lastAt = s, b, now
}

// sampleRates samples the engine's counters every rateInterval until ctx is
// done.
func (d *Daemon) sampleRates(ctx context.Context) {
	t := time.NewTicker(rateInterval)
	defer t.Stop()
	for {
		d.mu.Lock()
		st := d.engine.Stats()
		d.mu.Unlock()
		d.rates.add(st, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
