package forward

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sync/atomic"
	"unsafe"

	"github.com/govs-lb/govs/sched"
)

// Tick is the connection table's clock: milliseconds of a monotonic clock,
// wrapping every 2^32 ms (49.7 days). The worker reads its clock once per
// batch and passes the same Tick to every call of that batch; nothing in the
// table reads a clock.
//
// Deadlines are compared modulo 2^32: an entry is live while its deadline
// lies less than MaxTimeout ahead of now. An expired entry that no probe and
// no Sweep visits for 2^32 ms minus MaxTimeout (about 39 days) would look
// live again, so the worker must keep calling Sweep when idle; a pass over
// the table every few seconds is what keeps real server counters accurate
// anyway.
type Tick uint32

// TickOf returns the tick of a monotonic clock reading in nanoseconds (the
// clock sched.Templates takes), so one clock read serves both.
func TickOf(ns int64) Tick { return Tick(uint64(ns) / 1e6) }

// connMaxTicks is MaxTimeout in ticks.
const connMaxTicks = Tick(MaxTimeout / 1e6)

// connLive reports whether a deadline lies ahead of now (by at most
// MaxTimeout).
func connLive(deadline, now Tick) bool { return deadline-now-1 < connMaxTicks }

// Conn is the value the connection table keeps for a flow: 24 bytes, no
// pointer.
type Conn struct {
	// Backend and Service are the caller's identifiers of the flow's real
	// server and virtual service. The table does not interpret them; the
	// OnExpire hook gets them back, so they should name the real server's
	// sched.Counters even after a reload removed it.
	Backend uint32
	Service uint32
	// Tmpl is the persistence template reference the flow holds (the zero
	// Ref when none), to release when the flow ends.
	Tmpl sched.Ref
	// Expires is the tick at which the entry dies unless a packet comes
	// first. Insert sets it from State; Update moves it.
	Expires Tick
	// State is the TCP state, or UDPNormal.
	State ConnState
}

// ConnConfig configures a ConnTable. A nil *ConnConfig means the defaults.
type ConnConfig struct {
	// Capacity is the number of entries (slots) to allocate, rounded up to
	// a multiple of 8; 0 means DefaultConnCapacity. The table takes 64 bytes
	// an entry, allocated at once. Past about 90% full an insert may find
	// its probe window full and fail before the last slots are used.
	Capacity int
	// Timeouts are the lvs_timeouts overrides; zero fields keep IPVS's
	// defaults.
	Timeouts Timeouts
	// OnExpire, when not nil, is called once for every entry that leaves the
	// table, expired or deleted, with the dying entry, before its slot is
	// freed: the caller releases c.Tmpl and decrements the real server's
	// active or inactive count by c.State.Active(). The pointer is valid
	// only during the call, and OnExpire must not call the table.
	OnExpire func(c *Conn)
}

// Connection table limits.
const (
	// DefaultConnCapacity is the capacity of a table whose config leaves it
	// 0: a million flows a worker, 64 MiB.
	DefaultConnCapacity = 1 << 20
	// MaxConnCapacity is the largest capacity NewConnTable accepts (64 GiB).
	MaxConnCapacity = 1 << 30
	// ConnBytesPerSlot is the memory one entry takes, key and header
	// included.
	ConnBytesPerSlot = 64
)

// ConnTable is the per-worker connection table: a fixed-capacity,
// pointer-free hash table from FlowKey to Conn, so the garbage collector
// never scans it, with IPVS's timeouts and lazy expiry.
//
// Concurrency: one goroutine, the worker, calls every method except Stats,
// which any goroutine may call. The table takes no lock; its statistics are
// atomics that only the worker writes.
//
// Layout: one slice of 512-byte buckets, each a 32-byte header and 8
// entries of 60 bytes (the 36-byte key without its protocol, which sits in
// the header, and the 24-byte Conn). The header holds an 8-bit control byte
// per entry (empty, or full with 7 bits of the key's hash), the protocols,
// each entry's distance from its home bucket, and an overflow count: how
// many entries live past this bucket whose probe began at or before it
// (Facebook F14's scheme). A key's home bucket comes from its hash, seeded
// at random per table so that clients cannot aim at one bucket. Entries
// live at most connWindow-1 buckets past their home: an insert places the
// new entry by Robin Hood hashing, moving entries that sit nearer their
// home than the new one would, which keeps every entry near its home up to
// about 90% of the slots. A lookup reads the control word of each bucket it
// visits, compares the full key only where the 7-bit tag matches, and stops
// at the first bucket whose overflow count is 0: at half load a lookup
// reads about 1.02 buckets, at 90% about 1.5 for a hit and 3.5 for a miss.
// There are no tombstones: a removal decrements the overflow counts its
// entry incremented.
//
// Expiry is lazy: a lookup, insert or delete that meets its own key expired
// frees it, Sweep walks the table a few slots at a time, and an insert that
// finds no room frees the expired entries of its window. Every removal
// calls ConnConfig.OnExpire exactly once. A live entry is never evicted:
// with no free or expired slot within reach, Insert fails and the caller
// falls back to the stateless choice (the table counts it, ConnStats.Full).
type ConnTable struct {
	// Only the worker goroutine reads or writes these fields and the
	// buckets; no lock.
	buckets  []connBucket
	nb       uint64 // len(buckets)
	window   int    // buckets a probe visits at most: min(connWindow, nb)
	seed     [6]uint64
	onExpire func(*Conn)
	timeouts StateTimeouts
	sweep    uint64 // next slot Sweep visits

	// Statistics: written by the worker only, with atomic adds; read
	// atomically by Stats from any goroutine. They sit on their own cache
	// lines so that Stats readers do not slow the worker's other fields.
	_       [64]byte
	inserts atomic.Uint64
	expired atomic.Uint64
	deleted atomic.Uint64
	full    atomic.Uint64
	_       [32]byte
}

// connBucket is one bucket: a 32-byte header and 8 entries; 512 bytes.
type connBucket struct {
	// ctrl has one byte an entry, entry i in bits 8i..8i+7: 0 if empty,
	// else 0x80 | the low 7 bits of the key's hash.
	ctrl     uint64
	proto    [connBucketSlots]uint8 // key protocols
	dist     [connBucketSlots]uint8 // buckets from the entry's home bucket
	overflow uint32                 // entries stored past this bucket by probes that began at or before it
	_        uint32
	slots    [connBucketSlots]connSlot
}

// connSlot is an entry: the key without its protocol, and the value.
type connSlot struct {
	src, dst Addr16
	ports    uint32 // SrcPort<<16 | DstPort
	conn     Conn
}

const (
	connBucketSlots = 8
	// connWindow is how many buckets a probe visits at most (64 slots).
	connWindow = 8

	connLSB = 0x0101010101010101
	connMSB = 0x8080808080808080
)

// NewConnTable returns an empty table with cfg's capacity (nil: defaults).
// It allocates the whole table.
func NewConnTable(cfg *ConnConfig) (*ConnTable, error) {
	if cfg == nil {
		cfg = &ConnConfig{}
	}
	n := cfg.Capacity
	if n == 0 {
		n = DefaultConnCapacity
	}
	if n < 0 || n > MaxConnCapacity {
		return nil, fmt.Errorf("new connection table: capacity %d: expected 0 to %d", n, MaxConnCapacity)
	}
	st, err := NewStateTimeouts(cfg.Timeouts)
	if err != nil {
		return nil, fmt.Errorf("new connection table: %w", err)
	}
	nb := (n + connBucketSlots - 1) / connBucketSlots
	t := &ConnTable{
		buckets:  make([]connBucket, nb),
		nb:       uint64(nb),
		window:   min(connWindow, nb),
		onExpire: cfg.OnExpire,
		timeouts: st,
	}
	for i := range t.seed {
		t.seed[i] = rand.Uint64()
	}
	return t, nil
}

// memory returns the table's memory, for the Linux code to ask the kernel
// for huge pages (madvise MADV_HUGEPAGE) where transparent huge pages are
// in "madvise" mode: a random lookup in a table of ten million entries
// takes about half as long without the TLB misses of 4 KiB pages.
func (t *ConnTable) memory() []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(t.buckets))), len(t.buckets)*int(unsafe.Sizeof(connBucket{})))
}

// Slots returns the table's capacity in entries.
func (t *ConnTable) Slots() int { return int(t.nb) * connBucketSlots }

// Len returns the number of entries held: live ones and expired ones not
// yet freed.
func (t *ConnTable) Len() int {
	return int(t.inserts.Load() - t.expired.Load() - t.deleted.Load())
}

// Timeouts returns the state timeouts in use, for Conn.Update.
func (t *ConnTable) Timeouts() *StateTimeouts { return &t.timeouts }

// SetTimeouts replaces the lvs_timeouts overrides, on reload. Entries keep
// their deadlines until their next packet, as IPVS's do.
func (t *ConnTable) SetTimeouts(to Timeouts) error {
	st, err := NewStateTimeouts(to)
	if err != nil {
		return err
	}
	t.timeouts = st
	return nil
}

// Lookup returns the live entry of k at time now, or nil. An entry of k
// found expired is freed (OnExpire) and Lookup returns nil. The pointer is
// valid until the next call of Lookup, Insert, Delete or Sweep (an insert
// may move entries); the caller reads and updates the entry through it
// (Conn.Update) in between.
func (t *ConnTable) Lookup(k *FlowKey, now Tick) *Conn {
	bi, i, s := t.find(k, t.hash(k))
	if s == nil {
		return nil
	}
	if connLive(s.conn.Expires, now) {
		return &s.conn
	}
	t.remove(bi, i)
	t.expired.Add(1)
	return nil
}

// Insert adds k with value c at time now, setting c.Expires to now plus
// the timeout of c.State, and returns the stored entry and true. It never
// evicts a live entry: it returns false, and keeps nothing of c, when c's
// state is invalid, when k is already live (it then returns k's entry), or
// when no free slot is within reach (nil; counted in ConnStats.Full), in
// which case the caller sends the flow by the stateless choice and
// releases c.Tmpl.
//
// An entry of k found expired is freed first. Placement is Robin Hood
// hashing over buckets: a new entry whose home bucket is full may take the
// slot of an entry closer to its own home, which moves on, so that no entry
// ends connWindow or more buckets from its home. When that fails the
// expired entries of the home bucket, then of the rest of the window, are
// freed to make room.
func (t *ConnTable) Insert(k *FlowKey, c Conn, now Tick) (*Conn, bool) {
	if !c.State.valid() {
		return nil, false
	}
	h := t.hash(k)
	if bi, i, s := t.find(k, h); s != nil {
		if connLive(s.conn.Expires, now) {
			return &s.conn, false
		}
		t.remove(bi, i)
		t.expired.Add(1)
	}
	c.Expires = now + t.timeouts.t[c.State]
	e := connEntry{
		slot:  connSlot{src: k.Src, dst: k.Dst, ports: connPorts(k), conn: c},
		tag:   connTag(h),
		proto: k.Proto,
	}
	home := t.home(h)
	if p := t.place(home, &e); p != nil {
		t.inserts.Add(1)
		return p, true
	}
	// No room: free expired entries, nearest the home bucket first.
	bi := home
	for j := range t.window {
		if i := t.reclaim(bi, now); i >= 0 {
			t.put(bi, i, &e, j)
			for x := home; x != bi; x = t.next(x) {
				t.buckets[x].overflow++
			}
			t.inserts.Add(1)
			return &t.buckets[bi].slots[i].conn, true
		}
		bi = t.next(bi)
	}
	t.full.Add(1)
	return nil, false
}

// connEntry is an entry on the move: the slot and its header bytes.
type connEntry struct {
	slot  connSlot
	tag   uint8
	proto uint8
	dist  uint8
}

// connMaxWalk bounds the buckets a Robin Hood insertion walks.
const connMaxWalk = 128

// place stores e, whose home bucket is home, by Robin Hood hashing and
// returns its value, or nil when no free slot is within reach. A first walk
// checks that the insertion succeeds; a second one, making the same
// choices, moves the entries.
func (t *ConnTable) place(home uint64, e *connEntry) *Conn {
	walk := min(connMaxWalk, int(t.nb))
	bi, d := home, 0
	for step := 1; ^t.buckets[bi].ctrl&connMSB == 0; step++ {
		// The bucket is full: the carried entry displaces the resident
		// nearest its home, if nearer than the carried one is to its own,
		// and carries that one on.
		if _, md := t.buckets[bi].richest(); md < d {
			d = md
		}
		d++
		if d >= t.window || step >= walk {
			return nil
		}
		bi = t.next(bi)
	}

	var first *Conn
	bi, d = home, 0
	for {
		b := &t.buckets[bi]
		if free := ^b.ctrl & connMSB; free != 0 {
			i := connIndex(free)
			t.put(bi, i, e, d)
			if first == nil {
				first = &b.slots[i].conn
			}
			return first
		}
		if mi, md := b.richest(); md < d {
			out := b.take(mi)
			t.put(bi, mi, e, d)
			if first == nil {
				first = &b.slots[mi].conn
			}
			*e = out
			d = md
		}
		b.overflow++
		d++
		bi = t.next(bi)
	}
}

// put stores e in free slot i of bucket bi at distance dist from its home.
func (t *ConnTable) put(bi uint64, i int, e *connEntry, dist int) {
	b := &t.buckets[bi]
	b.slots[i] = e.slot
	b.setHeader(i, e.tag, e.proto, dist)
}

// take returns entry i, which stays in place.
func (b *connBucket) take(i int) connEntry {
	return connEntry{slot: b.slots[i], tag: uint8(b.ctrl >> (8 * i)), proto: b.proto[i], dist: b.dist[i]}
}

func (b *connBucket) setHeader(i int, tag, proto uint8, dist int) {
	b.ctrl = b.ctrl&^(0xff<<(8*i)) | uint64(tag)<<(8*i)
	b.proto[i] = proto
	b.dist[i] = uint8(dist)
}

// richest returns the full bucket's entry nearest its home, and its
// distance.
func (b *connBucket) richest() (int, int) {
	mi, md := 0, int(b.dist[0])
	for i := 1; i < connBucketSlots; i++ {
		if d := int(b.dist[i]); d < md {
			mi, md = i, d
		}
	}
	return mi, md
}

// Delete removes k's entry, calling OnExpire, and reports whether it was
// live at time now. An expired entry is removed too (and counted as
// expired).
func (t *ConnTable) Delete(k *FlowKey, now Tick) bool {
	bi, i, s := t.find(k, t.hash(k))
	if s == nil {
		return false
	}
	live := connLive(s.conn.Expires, now)
	t.remove(bi, i)
	if live {
		t.deleted.Add(1)
	} else {
		t.expired.Add(1)
	}
	return live
}

// find returns the bucket, index and slot of k's entry, live or not, or a
// nil slot; h is k's hash.
func (t *ConnTable) find(k *FlowKey, h uint64) (uint64, int, *connSlot) {
	tag := connTag(h)
	ports := connPorts(k)
	bi := t.home(h)
	for range t.window {
		b := &t.buckets[bi]
		for m := connMatch(b.ctrl, tag); m != 0; m &= m - 1 {
			i := connIndex(m)
			s := &b.slots[i]
			if b.proto[i] == k.Proto && s.ports == ports && s.src == k.Src && s.dst == k.Dst {
				return bi, i, s
			}
		}
		if b.overflow == 0 {
			break
		}
		bi = t.next(bi)
	}
	return 0, 0, nil
}

// Sweep visits the next maxSlots slots (at most the whole table), resuming
// where the previous call stopped, frees the entries expired at time now
// (calling OnExpire) and returns how many it freed. The worker calls it
// once per batch, and on idle wake-ups, so that idle flows leave their real
// server's counters as they would under IPVS's timers: with s slots a call,
// a full pass takes Slots()/s calls.
func (t *ConnTable) Sweep(now Tick, maxSlots int) int {
	total := t.nb * connBucketSlots
	n := uint64(max(maxSlots, 0))
	n = min(n, total)
	pos := t.sweep
	freed := 0
	for n > 0 {
		bi, first := pos/connBucketSlots, pos%connBucketSlots
		end := min(connBucketSlots, first+n)
		b := &t.buckets[bi]
		span := ^uint64(0) << (8 * first) & (^uint64(0) >> (64 - 8*end))
		for m := b.ctrl & connMSB & span; m != 0; m &= m - 1 {
			// A removal may move an entry from further on into the
			// hole: check it too.
			i := connIndex(m)
			for b.ctrl>>(8*i)&0x80 != 0 && !connLive(b.slots[i].conn.Expires, now) {
				t.remove(bi, i)
				freed++
			}
		}
		n -= end - first
		pos += end - first
		if pos == total {
			pos = 0
		}
	}
	t.sweep = pos
	if freed > 0 {
		t.expired.Add(uint64(freed))
	}
	return freed
}

// ConnStats describe a ConnTable.
type ConnStats struct {
	Slots int // capacity in entries
	Len   int // entries held, live or expired and not yet freed
	// Inserts counts entries inserted; Expired those freed after their
	// timeout (by a lookup, an insert or Sweep); Deleted those removed live
	// by Delete.
	Inserts, Expired, Deleted uint64
	// Full counts inserts refused for want of a free slot in the probe
	// window: flows sent by the stateless choice.
	Full uint64
}

// Stats returns the table's statistics. Any goroutine may call it. The
// counts are loaded one at a time, removals before inserts, so Len is never
// negative but may count the worker's inserts in flight.
func (t *ConnTable) Stats() ConnStats {
	var st ConnStats
	st.Expired = t.expired.Load()
	st.Deleted = t.deleted.Load()
	st.Inserts = t.inserts.Load()
	st.Full = t.full.Load()
	st.Slots = t.Slots()
	st.Len = int(min(st.Inserts-st.Expired-st.Deleted, uint64(st.Slots)))
	return st
}

// remove frees entry i of bucket bi, calling OnExpire first, and fills
// the hole from further buckets.
func (t *ConnTable) remove(bi uint64, i int) {
	t.drop(bi, i)
	t.backfill(bi, i)
}

// drop frees entry i of bucket bi, calling OnExpire first, and leaves the
// hole.
func (t *ConnTable) drop(bi uint64, i int) {
	b := &t.buckets[bi]
	if t.onExpire != nil {
		t.onExpire(&b.slots[i].conn)
	}
	b.ctrl &^= 0xff << (8 * i)
	for d := b.dist[i]; d > 0; d-- {
		bi = t.prev(bi)
		t.buckets[bi].overflow--
	}
}

// backfill fills the hole at entry i of bucket bi with an entry that lives
// past bi but whose home is at or before it (Robin Hood's backward shift):
// the nearest such bucket's entry furthest from home. That leaves a hole
// further on, filled in turn, until nothing lives past the hole's bucket.
// Without it, deletions would leave entries far from their home, and the
// overflow counts high, for good.
func (t *ConnTable) backfill(bi uint64, i int) {
	for t.buckets[bi].overflow != 0 {
		x, xi, j := bi, -1, 1
		for ; j < t.window; j++ {
			x = t.next(x)
			xb := &t.buckets[x]
			far := j - 1
			for m := xb.ctrl & connMSB; m != 0; m &= m - 1 {
				if k := connIndex(m); int(xb.dist[k]) > far {
					xi, far = k, int(xb.dist[k])
				}
			}
			if xi >= 0 {
				break
			}
		}
		if xi < 0 {
			return // unreachable while the overflow counts are right
		}
		b, xb := &t.buckets[bi], &t.buckets[x]
		b.slots[i] = xb.slots[xi]
		b.setHeader(i, uint8(xb.ctrl>>(8*xi)), xb.proto[xi], int(xb.dist[xi])-j)
		xb.ctrl &^= 0xff << (8 * xi)
		for y := bi; y != x; y = t.next(y) {
			t.buckets[y].overflow--
		}
		bi, i = x, xi
	}
}

// reclaim frees every expired entry of bucket bi, leaving the holes, and
// returns the index of the first, or -1.
func (t *ConnTable) reclaim(bi uint64, now Tick) int {
	b := &t.buckets[bi]
	first := -1
	for m := b.ctrl & connMSB; m != 0; m &= m - 1 {
		i := connIndex(m)
		if !connLive(b.slots[i].conn.Expires, now) {
			t.drop(bi, i)
			t.expired.Add(1)
			if first < 0 {
				first = i
			}
		}
	}
	return first
}

func (t *ConnTable) prev(bi uint64) uint64 {
	if bi == 0 {
		bi = t.nb
	}
	return bi - 1
}

func (t *ConnTable) next(bi uint64) uint64 {
	bi++
	if bi == t.nb {
		bi = 0
	}
	return bi
}

// home returns the home bucket of hash h: h scaled to [0, nb) by a
// multiplication (Lemire's reduction), so any bucket count works.
func (t *ConnTable) home(h uint64) uint64 {
	hi, _ := bits.Mul64(h, t.nb)
	return hi
}

// hash is the table's seeded hash of k: 128-bit multiply-and-fold mixing
// of the key's five words (wyhash's "mum").
func (t *ConnTable) hash(k *FlowKey) uint64 {
	s := &t.seed
	a := connMix(binary.LittleEndian.Uint64(k.Src[:8])^s[0], binary.LittleEndian.Uint64(k.Src[8:])^s[1])
	b := connMix(binary.LittleEndian.Uint64(k.Dst[:8])^s[2], binary.LittleEndian.Uint64(k.Dst[8:])^s[3])
	c := uint64(k.SrcPort)<<24 | uint64(k.DstPort)<<8 | uint64(k.Proto)
	return connMix(a^b^s[4], c^s[5])
}

func connMix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func connPorts(k *FlowKey) uint32 { return uint32(k.SrcPort)<<16 | uint32(k.DstPort) }

// connTag is the control byte of a full entry whose key hashes to h.
func connTag(h uint64) uint8 { return uint8(h) | 0x80 }

// connMatch returns the high bit of every byte of ctrl equal to tag. It may
// also return a full byte just above a match (a borrow), never an empty one;
// the caller compares keys anyway.
func connMatch(ctrl uint64, tag uint8) uint64 {
	x := ctrl ^ connLSB*uint64(tag)
	return (x - connLSB) &^ x & connMSB
}

// connIndex returns the entry index of the lowest byte flagged in m.
func connIndex(m uint64) int { return bits.TrailingZeros64(m) >> 3 & (connBucketSlots - 1) }
