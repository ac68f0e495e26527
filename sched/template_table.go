package sched

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"
)

// The inside of Templates: slot layout, lookup, and the compare-and-swap
// protocol on the control word.

// templateBucket keeps the index entries and the data of eight slots in one
// 512-byte block: a lookup's second read (the data of the slot whose tag
// matched) falls in the page, often the DRAM row, of its first.
type templateBucket struct {
	index [bucketSlots]templateIndex
	data  [bucketSlots]templateData
}

// templateIndex is the part of a slot that lookups scan. Every field of a
// slot is an atomic so that readers racing a writer are well defined; the
// control word says whether what they read is consistent.
type templateIndex struct {
	ctl      atomic.Uint64 // version<<48 | refs<<16 | tag<<2 | valid | busy
	deadline atomic.Int64  // nanoseconds, caller's clock
}

// templateData is the rest of a slot, fixed while the template is valid.
type templateData struct {
	// Key: client words (masked), and meta = service<<32 | client family<<24.
	// The low 24 bits of meta hold the real server's family<<16 | port.
	k0, k1, meta atomic.Uint64
	b0, b1       atomic.Uint64 // real server address words
	timeout      atomic.Int64  // nanoseconds
}

const (
	ctlBusy     = 1 << 0 // a writer owns the slot
	ctlValid    = 1 << 1 // the slot holds a template
	ctlTagShift = 2
	ctlTagMask  = 0x3fff << ctlTagShift
	ctlRefShift = 16
	ctlRefUnit  = 1 << ctlRefShift
	ctlRefMask  = 0xffffffff << ctlRefShift
	ctlVerShift = 48

	keyMetaMask = ^uint64(0xffffff)

	bucketSlots = 8
)

// ix and dt return slot j's index entry and data.
func (t *Templates) ix(j uint64) *templateIndex {
	return &t.buckets[j/bucketSlots].index[j%bucketSlots]
}

func (t *Templates) dt(j uint64) *templateData {
	return &t.buckets[j/bucketSlots].data[j%bucketSlots]
}

// slots returns the first slots of k's two buckets and k's tag.
func (t *Templates) slots(k TemplateKey) (b1, b2, tag uint64) {
	h := hash3(seedTemplate, k.hi, k.lo, k.meta)
	b1 = reduce(h, t.nb)
	b2 = reduce(rehash(h, 1), t.nb)
	if b2 == b1 {
		if b2++; b2 == t.nb {
			b2 = 0
		}
	}
	return b1 * bucketSlots, b2 * bucketSlots, (h << ctlTagShift) & ctlTagMask
}

// found is a live template read consistently from slot j.
type found struct {
	j, ctl  uint64
	bmeta   uint64 // real server family<<16 | port
	b0, b1  uint64
	timeout int64
}

// live reports whether a template with control word c and deadline d has
// not expired at now.
func live(c uint64, d, now int64) bool {
	return c&ctlRefMask != 0 || now < d
}

// find returns the live template with key k in its buckets.
func (t *Templates) find(b1, b2, tag uint64, k TemplateKey, now int64) (found, bool) {
	// Touch both buckets first so that their cache misses overlap.
	c1, c2 := t.ix(b1).ctl.Load(), t.ix(b2).ctl.Load()
	_, _ = c1, c2
	for _, b := range [2]uint64{b1, b2} {
		for j := b; j < b+bucketSlots; j++ {
			x := t.ix(j)
			c := x.ctl.Load()
			if c&(ctlBusy|ctlValid|ctlTagMask) != ctlValid|tag || !live(c, x.deadline.Load(), now) {
				continue
			}
			d := t.dt(j)
			meta := d.meta.Load()
			if meta&keyMetaMask != k.meta || d.k0.Load() != k.hi || d.k1.Load() != k.lo {
				continue
			}
			fd := found{j: j, ctl: c, bmeta: meta &^ keyMetaMask, b0: d.b0.Load(), b1: d.b1.Load(), timeout: d.timeout.Load()}
			// Everything but the reference count must be as it was.
			if (x.ctl.Load()^c)&^ctlRefMask == 0 {
				return fd, true
			}
		}
	}
	return found{}, false
}

// backendAddr rebuilds the real server address a template records. IPv6
// zones are not recorded: a template for a real server with a zone never
// matches it again and is rescheduled.
func backendAddr(fd found) netip.AddrPort {
	port := uint16(fd.bmeta)
	if fd.bmeta>>16 == 4 {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{
			byte(fd.b1 >> 24), byte(fd.b1 >> 16), byte(fd.b1 >> 8), byte(fd.b1)}), port)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], fd.b0)
	binary.BigEndian.PutUint64(b[8:], fd.b1)
	return netip.AddrPortFrom(netip.AddrFrom16(b), port)
}

// acquire takes a reference on the template read as ctl0 from slot j, if it
// is still that template.
func (t *Templates) acquire(j, ctl0 uint64) (Ref, bool) {
	x := t.ix(j)
	for {
		c := x.ctl.Load()
		if c&(ctlBusy|ctlValid) != ctlValid || c>>ctlVerShift != ctl0>>ctlVerShift || c&ctlRefMask == ctlRefMask {
			return Ref{}, false
		}
		if x.ctl.CompareAndSwap(c, c+ctlRefUnit) {
			return Ref{slot: uint32(j + 1), ver: uint32(c >> ctlVerShift)}, true
		}
	}
}

// drop invalidates the template read as ctl0 from slot j, if it is still
// that template. Flows holding references keep them; the slot is reused once
// they are released.
func (t *Templates) drop(j, ctl0 uint64) {
	x := t.ix(j)
	for {
		c := x.ctl.Load()
		if c&(ctlBusy|ctlValid) != ctlValid || c>>ctlVerShift != ctl0>>ctlVerShift {
			return
		}
		if x.ctl.CompareAndSwap(c, c&^ctlValid) {
			return
		}
	}
}

// liveIn counts the slots of the bucket at b that cannot take a template.
func (t *Templates) liveIn(b uint64, now int64) int {
	n := 0
	for j := b; j < b+bucketSlots; j++ {
		x := t.ix(j)
		c := x.ctl.Load()
		if c&(ctlBusy|ctlRefMask) != 0 || (c&ctlValid != 0 && now < x.deadline.Load()) {
			n++
		}
	}
	return n
}

// insert writes a template for k pointing at ap into a reusable slot (free,
// dropped with no references, or expired) of the less loaded of k's buckets
// and returns a reference on it.
func (t *Templates) insert(b1, b2, tag uint64, k TemplateKey, ap netip.AddrPort, timeout, now int64) (Ref, bool) {
	if t.liveIn(b2, now) < t.liveIn(b1, now) {
		b1, b2 = b2, b1
	}
	hi, lo, fam := addrWords(ap.Addr())
	bmeta := fam<<16 | uint64(ap.Port())
	for _, b := range [2]uint64{b1, b2} {
		for j := b; j < b+bucketSlots; j++ {
			x := t.ix(j)
			c := x.ctl.Load()
			if c&(ctlBusy|ctlRefMask) != 0 || (c&ctlValid != 0 && now < x.deadline.Load()) ||
				!x.ctl.CompareAndSwap(c, c|ctlBusy) {
				continue
			}
			// An expired template may have been used and released between
			// the check and the claim (the control word looks the same):
			// check its deadline again now that nobody else can touch it.
			if c&ctlValid != 0 && now < x.deadline.Load() {
				x.ctl.Store(c)
				continue
			}
			d := t.dt(j)
			d.k0.Store(k.hi)
			d.k1.Store(k.lo)
			d.meta.Store(k.meta | bmeta)
			d.b0.Store(hi)
			d.b1.Store(lo)
			d.timeout.Store(timeout)
			x.deadline.Store(now + timeout)
			ver := (c>>ctlVerShift + 1) & 0xffff
			x.ctl.Store(ver<<ctlVerShift | ctlRefUnit | tag | ctlValid)
			return Ref{slot: uint32(j + 1), ver: uint32(ver)}, true
		}
	}
	return Ref{}, false
}
