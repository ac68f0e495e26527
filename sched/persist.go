package sched

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"
)

// Templates is the persistence template table (persistence_timeout,
// persistence_granularity) of every persistent virtual service, shared by all
// workers.
//
// A template is keyed by a virtual service ID and the client address masked
// by the service's Granularity, and pins that client to a real server, as
// IPVS's connection templates do (ip_vs_sched_persist):
//
//   - A new flow of a pinned client goes to the template's real server, and
//     the template's timer restarts (deadline = now + timeout).
//   - Each flow created through a template holds a reference (Pick takes it,
//     Release gives it back) and a template never expires while it has
//     references. When the last one goes it lives a further timeout: IPVS
//     re-arms a template's timer by a full timeout while flows are alive, so
//     its expiry falls at most this late.
//   - A template whose real server is gone from the scheduler or has weight 0
//     is dropped on lookup and the client is scheduled afresh (IPVS with
//     expire_quiescent_template set).
//
// Layout: a fixed array of buckets of 8 slots, allocated once and holding no
// pointers, so the garbage collector never scans it. A key may live in either
// of two buckets chosen by its hash; an insert goes to the one with fewer
// live templates ("power of two choices"), which keeps every bucket below 8
// until the table is about 2/3 full. Each slot is a 16-byte index entry (a
// control word and the deadline; eight of them share one 128-byte stretch)
// and 48 bytes of key and real server, read only when the 14-bit hash tag in
// the control word matches.
//
// Concurrency: Pick and Release take no lock and allocate nothing. The
// control word (version, reference count, tag, valid and busy bits) is
// validated seqlock-style by readers and claimed with compare-and-swap by
// writers; a slot with references is never rewritten. Nothing blocks: a busy
// slot is skipped. Expired templates are not swept; inserts reuse them.
//
// When both buckets are full of live templates the flow is scheduled
// without persistence (Outcome Full) and counted (TemplateStats.Full). With
// the 1.5 slots per template of capacity that NewTemplates allocates, this
// does not happen below the capacity in practice.
//
// Two workers scheduling the first flows of the same new client at the same
// instant may create two templates; the client's later flows follow the one
// found first. IPVS has the same race.
type Templates struct {
	buckets []templateBucket
	nb      uint64
	_       cacheLinePad
	full    atomic.Uint64
	bad     atomic.Uint64
	_       cacheLinePad
}

// Table limits.
const (
	// MaxTemplates is the largest capacity NewTemplates accepts.
	MaxTemplates = 1 << 26
	// BytesPerSlot is the memory one template slot takes.
	BytesPerSlot = 64
)

// TemplateKey identifies a template: a virtual service and a masked client.
type TemplateKey struct {
	hi, lo, meta uint64
}

// NewTemplateKey returns the template key of client for the virtual service
// with the given ID. The ID is the caller's: it must name the same virtual
// service in every snapshot (so templates survive reloads) and differ between
// virtual services.
func NewTemplateKey(service uint32, client netip.Addr, g Granularity) TemplateKey {
	hi, lo, fam := addrWords(client)
	hi, lo = g.maskWords(hi, lo, fam)
	return TemplateKey{hi: hi, lo: lo, meta: uint64(service)<<32 | fam<<24}
}

// Ref is the reference a flow holds on the template that placed it. The
// zero Ref holds nothing.
type Ref struct {
	slot uint32 // slot index + 1
	ver  uint32
}

// Outcome says how Templates.Pick chose.
type Outcome uint8

const (
	_ Outcome = iota
	// Hit: a live template chose the real server.
	Hit
	// Created: there was no live template; the scheduler chose and a new
	// template records its choice.
	Created
	// Rescheduled: the template's real server was removed or quiesced; it
	// was dropped, the scheduler chose and a new template records that.
	Rescheduled
	// Full: the scheduler chose but there was no free slot for a template;
	// the flow is not pinned.
	Full
	// NoBackend: no template applied and the scheduler found no real server.
	NoBackend
)

func (o Outcome) String() string {
	switch o {
	case Hit:
		return "hit"
	case Created:
		return "created"
	case Rescheduled:
		return "rescheduled"
	case Full:
		return "full"
	case NoBackend:
		return "no-backend"
	}
	return "invalid"
}

// NewTemplates returns a table for capacity live templates (2 to
// MaxTemplates). It allocates 1.5*capacity slots of BytesPerSlot bytes up
// front.
func NewTemplates(capacity int) (*Templates, error) {
	if capacity < 2 || capacity > MaxTemplates {
		return nil, fmt.Errorf("new persistence templates: capacity %d: expected 2 to %d", capacity, MaxTemplates)
	}
	nb := max((3*capacity/2+bucketSlots-1)/bucketSlots, 2)
	return &Templates{buckets: make([]templateBucket, nb), nb: uint64(nb)}, nil
}

// Pick returns the real server for new flow f of a persistent virtual
// service scheduled by s, whose client has template key k and whose
// persistence_timeout is timeout; now is the caller's clock in nanoseconds.
//
// Unless the outcome is Full or NoBackend, the returned Ref holds a
// reference on the template: the caller keeps it with the flow and passes it
// to Release when the flow ends (or at once if it does not create the flow).
func (t *Templates) Pick(s Scheduler, k TemplateKey, f Flow, timeout time.Duration, now int64) (int, Ref, Outcome) {
	b1, b2, tag := t.slots(k)
	outcome := Created
	for range 4 {
		fd, ok := t.find(b1, b2, tag, k, now)
		if !ok {
			break
		}
		idx, ok := s.Index(backendAddr(fd))
		if !ok || s.Backend(idx).Weight == 0 {
			t.drop(fd.j, fd.ctl)
			outcome = Rescheduled
			break
		}
		if ref, ok := t.acquire(fd.j, fd.ctl); ok {
			t.ix(fd.j).deadline.Store(now + fd.timeout)
			return idx, ref, Hit
		}
		// The slot changed between find and acquire: look again.
	}
	idx, ok := s.Pick(f)
	if !ok {
		return -1, Ref{}, NoBackend
	}
	ref, ok := t.insert(b1, b2, tag, k, s.Backend(idx).Addr, int64(timeout), now)
	if !ok {
		t.full.Add(1)
		return idx, Ref{}, Full
	}
	return idx, ref, outcome
}

// Release gives back the reference a flow held; now is the caller's clock.
// Releasing the zero Ref does nothing; releasing a Ref twice is counted
// (TemplateStats.BadReleases) and otherwise ignored.
func (t *Templates) Release(r Ref, now int64) {
	if r.slot == 0 {
		return
	}
	j := uint64(r.slot - 1)
	if j >= t.nb*bucketSlots {
		t.bad.Add(1)
		return
	}
	x := t.ix(j)
	for {
		c := x.ctl.Load()
		if uint32(c>>ctlVerShift) != r.ver || c&ctlRefMask == 0 {
			t.bad.Add(1)
			return
		}
		if c&ctlRefMask == ctlRefUnit {
			// The last flow: the template lives timeout past its end. The
			// slot cannot be rewritten while we hold the reference.
			if d := now + t.dt(j).timeout.Load(); d > x.deadline.Load() {
				x.deadline.Store(d)
			}
		}
		if x.ctl.CompareAndSwap(c, c-ctlRefUnit) {
			return
		}
	}
}

// TemplateStats describes the table. Taking them scans every slot.
type TemplateStats struct {
	Slots int // slots allocated
	Live  int // templates not expired (referenced, or before their deadline)
	Refs  int // references held by flows
	// Full counts flows scheduled without persistence for want of a slot.
	Full uint64
	// BadReleases counts Release calls with a Ref that held nothing.
	BadReleases uint64
}

// Stats scans the table at time now. It is for metrics and tests, not for
// the packet path.
func (t *Templates) Stats(now int64) TemplateStats {
	st := TemplateStats{Slots: int(t.nb * bucketSlots), Full: t.full.Load(), BadReleases: t.bad.Load()}
	for i := range t.nb * bucketSlots {
		x := t.ix(i)
		c := x.ctl.Load()
		st.Refs += int(c & ctlRefMask >> ctlRefShift)
		if c&(ctlValid|ctlBusy) == ctlValid && live(c, x.deadline.Load(), now) {
			st.Live++
		}
	}
	return st
}
