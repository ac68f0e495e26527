package forward

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"github.com/govs-lb/govs/sched"
)

// connCmp compares sched.Ref, whose fields are unexported, by value.
var connCmp = cmp.Comparer(func(a, b sched.Ref) bool { return a == b })

// testConnKey returns a distinct IPv4 TCP flow key for each i.
func testConnKey(i int) FlowKey {
	return FlowKey{
		Src:     Addr16From4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
		Dst:     Addr16From4([4]byte{192, 0, 2, 1}),
		SrcPort: uint16(1024 + i%60000),
		DstPort: 80,
		Proto:   6,
	}
}

// connHook records the entries OnExpire is called with.
type connHook struct{ got []Conn }

func (h *connHook) onExpire(c *Conn) { h.got = append(h.got, *c) }

func newTestConnTable(t testing.TB, capacity int, h *connHook) *ConnTable {
	t.Helper()
	cfg := &ConnConfig{Capacity: capacity}
	if h != nil {
		cfg.OnExpire = h.onExpire
	}
	ct, err := NewConnTable(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// keysWithHome returns n keys whose home bucket in ct is home.
func keysWithHome(ct *ConnTable, home uint64, n int, from int) []FlowKey {
	var keys []FlowKey
	for i := from; len(keys) < n; i++ {
		k := testConnKey(i)
		if ct.home(ct.hash(&k)) == home {
			keys = append(keys, k)
		}
	}
	return keys
}

// slotKey rebuilds the key of entry i of bucket b.
func slotKey(b *connBucket, i int) FlowKey {
	s := &b.slots[i]
	return FlowKey{Src: s.src, Dst: s.dst, SrcPort: uint16(s.ports >> 16), DstPort: uint16(s.ports), Proto: b.proto[i]}
}

// checkConnTable checks the table's invariants: control bytes, distances,
// overflow counts, Len, and that every entry is found where it is.
func checkConnTable(t testing.TB, ct *ConnTable) {
	t.Helper()
	over := make([]uint32, ct.nb)
	n := 0
	for bi := range ct.buckets {
		b := &ct.buckets[bi]
		for i := range connBucketSlots {
			c := uint8(b.ctrl >> (8 * i))
			if c == 0 {
				continue
			}
			n++
			k := slotKey(b, i)
			h := ct.hash(&k)
			if c != connTag(h) {
				t.Fatalf("bucket %d entry %d: control byte %#x, want %#x", bi, i, c, connTag(h))
			}
			d := uint64(b.dist[i])
			if int(d) >= ct.window {
				t.Fatalf("bucket %d entry %d: distance %d beyond the window %d", bi, i, d, ct.window)
			}
			home := ct.home(h)
			if (home+d)%ct.nb != uint64(bi) {
				t.Fatalf("bucket %d entry %d: home %d distance %d", bi, i, home, d)
			}
			for x, j := home, uint64(0); j < d; j++ {
				over[x]++
				x = ct.next(x)
			}
			if fb, fi, _ := ct.find(&k, h); fb != uint64(bi) || fi != i {
				t.Fatalf("bucket %d entry %d: found at %d/%d", bi, i, fb, fi)
			}
		}
	}
	for bi := range ct.buckets {
		if got := ct.buckets[bi].overflow; got != over[bi] {
			t.Fatalf("bucket %d: overflow %d, want %d", bi, got, over[bi])
		}
	}
	if ct.Len() != n {
		t.Fatalf("Len %d, %d entries", ct.Len(), n)
	}
}

func TestConnTableLayout(t *testing.T) {
	sizes := map[string]uintptr{
		"Conn":       unsafe.Sizeof(Conn{}),
		"connSlot":   unsafe.Sizeof(connSlot{}),
		"connBucket": unsafe.Sizeof(connBucket{}),
	}
	want := map[string]uintptr{"Conn": 24, "connSlot": 60, "connBucket": ConnBytesPerSlot * connBucketSlots}
	if diff := cmp.Diff(want, sizes); diff != "" {
		t.Errorf("sizes (-want +got):\n%s", diff)
	}
	// The garbage collector never scans a type without pointers.
	var walk func(reflect.Type) bool
	walk = func(ty reflect.Type) bool {
		switch ty.Kind() {
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			return true
		case reflect.Array:
			return walk(ty.Elem())
		case reflect.Struct:
			for i := range ty.NumField() {
				if !walk(ty.Field(i).Type) {
					t.Errorf("%v.%s holds a pointer", ty, ty.Field(i).Name)
					return false
				}
			}
			return true
		}
		return false
	}
	walk(reflect.TypeFor[connBucket]())
	walk(reflect.TypeFor[RateLimiter]())

	ct := newTestConnTable(t, 100, nil)
	if mem := ct.memory(); len(mem) != ct.Slots()*ConnBytesPerSlot || &mem[0] != (*byte)(unsafe.Pointer(&ct.buckets[0])) {
		t.Errorf("memory() is %d bytes at %p, want %d at %p", len(mem), &mem[0], ct.Slots()*ConnBytesPerSlot, &ct.buckets[0])
	}
}

func TestNewConnTable(t *testing.T) {
	tests := []struct {
		name      string
		cfg       *ConnConfig
		wantSlots int
		wantErr   string
	}{
		{name: "nil config", cfg: nil, wantSlots: DefaultConnCapacity},
		{name: "zero capacity", cfg: &ConnConfig{}, wantSlots: DefaultConnCapacity},
		{name: "rounded up to a bucket", cfg: &ConnConfig{Capacity: 9}, wantSlots: 16},
		{name: "one", cfg: &ConnConfig{Capacity: 1}, wantSlots: 8},
		{name: "negative", cfg: &ConnConfig{Capacity: -1}, wantErr: "new connection table: capacity -1: expected 0 to 1073741824"},
		{name: "too large", cfg: &ConnConfig{Capacity: MaxConnCapacity + 1}, wantErr: "new connection table: capacity 1073741825: expected 0 to 1073741824"},
		{name: "bad timeout", cfg: &ConnConfig{Timeouts: Timeouts{TCP: -1}}, wantErr: "new connection table: connection timeouts: tcp -1ns: expected 0 to 240h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, err := NewConnTable(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ct.Slots(); got != tt.wantSlots {
				t.Errorf("Slots() = %d, want %d", got, tt.wantSlots)
			}
			if ct.Len() != 0 {
				t.Errorf("Len() = %d", ct.Len())
			}
		})
	}
}

func TestConnTableLookup(t *testing.T) {
	k := testConnKey(1)
	v6 := FlowKey{
		Src:     Addr16From(netip.MustParseAddr("2001:db8::1")),
		Dst:     Addr16From(netip.MustParseAddr("2001:db8::80")),
		SrcPort: 40000, DstPort: 443, Proto: 6,
	}
	with := func(k FlowKey, f func(*FlowKey)) FlowKey { f(&k); return k }
	const t0 = 1000
	tests := []struct {
		name       string
		insert     FlowKey
		conn       Conn
		lookup     FlowKey
		now        Tick
		want       *Conn // nil: miss
		wantExpire []Conn
	}{
		{name: "hit", insert: k, conn: Conn{Backend: 7, Service: 2, State: TCPEstablished},
			lookup: k, now: t0 + 1,
			want: &Conn{Backend: 7, Service: 2, State: TCPEstablished, Expires: t0 + 900_000}},
		{name: "IPv6 hit", insert: v6, conn: Conn{Backend: 1, State: TCPSynRecv},
			lookup: v6, now: t0,
			want: &Conn{Backend: 1, State: TCPSynRecv, Expires: t0 + 60_000}},
		{name: "UDP", insert: with(k, func(k *FlowKey) { k.Proto = 17 }), conn: Conn{Backend: 1, State: UDPNormal},
			lookup: with(k, func(k *FlowKey) { k.Proto = 17 }), now: t0 + 299_999,
			want: &Conn{Backend: 1, State: UDPNormal, Expires: t0 + 300_000}},
		{name: "other protocol", insert: k, conn: Conn{State: TCPEstablished},
			lookup: with(k, func(k *FlowKey) { k.Proto = 17 }), now: t0},
		{name: "other source port", insert: k, conn: Conn{State: TCPEstablished},
			lookup: with(k, func(k *FlowKey) { k.SrcPort++ }), now: t0},
		{name: "other destination port", insert: k, conn: Conn{State: TCPEstablished},
			lookup: with(k, func(k *FlowKey) { k.DstPort++ }), now: t0},
		{name: "other destination", insert: k, conn: Conn{State: TCPEstablished},
			lookup: with(k, func(k *FlowKey) { k.Dst[15]++ }), now: t0},
		{name: "other source", insert: k, conn: Conn{State: TCPEstablished},
			lookup: with(k, func(k *FlowKey) { k.Src[0] = 1 }), now: t0},
		{name: "swapped addresses", insert: k, conn: Conn{State: TCPEstablished},
			lookup: with(k, func(k *FlowKey) { k.Src, k.Dst = k.Dst, k.Src }), now: t0},
		{name: "last live tick", insert: k, conn: Conn{Backend: 3, State: TCPClose},
			lookup: k, now: t0 + 9_999,
			want: &Conn{Backend: 3, State: TCPClose, Expires: t0 + 10_000}},
		{name: "expired at its deadline and freed", insert: k, conn: Conn{Backend: 3, State: TCPClose},
			lookup: k, now: t0 + 10_000,
			wantExpire: []Conn{{Backend: 3, State: TCPClose, Expires: t0 + 10_000}}},
		{name: "long expired", insert: k, conn: Conn{Backend: 3, State: TCPNone},
			lookup: k, now: t0 + 1<<31,
			wantExpire: []Conn{{Backend: 3, State: TCPNone, Expires: t0 + 2_000}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h connHook
			ct := newTestConnTable(t, 64, &h)
			if _, ok := ct.Insert(&tt.insert, tt.conn, t0); !ok {
				t.Fatal("Insert failed")
			}
			got := ct.Lookup(&tt.lookup, tt.now)
			if diff := cmp.Diff(tt.want, got, connCmp); diff != "" {
				t.Errorf("Lookup (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantExpire, h.got, connCmp); diff != "" {
				t.Errorf("OnExpire calls (-want +got):\n%s", diff)
			}
			if want := 1 - len(tt.wantExpire); ct.Len() != want {
				t.Errorf("Len() = %d, want %d", ct.Len(), want)
			}
			checkConnTable(t, ct)
		})
	}
}

func TestConnTableInsert(t *testing.T) {
	k := testConnKey(1)
	type result struct {
		Conn   *Conn
		OK     bool
		Len    int
		Expire []Conn
	}
	tests := []struct {
		name  string
		first *Conn // inserted at 0 when not nil
		conn  Conn
		now   Tick
		want  result
	}{
		{name: "new", conn: Conn{Backend: 2, State: TCPSynRecv}, now: 5,
			want: result{Conn: &Conn{Backend: 2, State: TCPSynRecv, Expires: 60_005}, OK: true, Len: 1}},
		{name: "any initial state: mid-flow", conn: Conn{Backend: 2, State: TCPEstablished, Expires: 12345}, now: 5,
			want: result{Conn: &Conn{Backend: 2, State: TCPEstablished, Expires: 900_005}, OK: true, Len: 1}},
		{name: "live duplicate kept", first: &Conn{Backend: 1, State: TCPEstablished}, conn: Conn{Backend: 2, State: TCPSynRecv}, now: 5,
			want: result{Conn: &Conn{Backend: 1, State: TCPEstablished, Expires: 900_000}, Len: 1}},
		{name: "expired duplicate replaced", first: &Conn{Backend: 1, State: TCPClose}, conn: Conn{Backend: 2, State: TCPSynRecv}, now: 10_000,
			want: result{Conn: &Conn{Backend: 2, State: TCPSynRecv, Expires: 70_000}, OK: true, Len: 1,
				Expire: []Conn{{Backend: 1, State: TCPClose, Expires: 10_000}}}},
		{name: "invalid state", conn: Conn{Backend: 2}, now: 5, want: result{}},
		{name: "state out of range", conn: Conn{Backend: 2, State: numConnStates}, now: 5, want: result{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h connHook
			ct := newTestConnTable(t, 64, &h)
			if tt.first != nil {
				if _, ok := ct.Insert(&k, *tt.first, 0); !ok {
					t.Fatal("first Insert failed")
				}
			}
			c, ok := ct.Insert(&k, tt.conn, tt.now)
			got := result{Conn: c, OK: ok, Len: ct.Len(), Expire: h.got}
			if diff := cmp.Diff(tt.want, got, connCmp); diff != "" {
				t.Errorf("Insert (-want +got):\n%s", diff)
			}
			if c != nil && c != ct.Lookup(&k, tt.now) {
				t.Errorf("Insert returned a pointer other than Lookup's")
			}
			checkConnTable(t, ct)
		})
	}
}

func TestConnTableDelete(t *testing.T) {
	k := testConnKey(1)
	tests := []struct {
		name        string
		insert      bool
		now         Tick
		want        bool
		wantExpire  []Conn
		wantStats   ConnStats
		deleteOther bool
	}{
		{name: "live", insert: true, now: 5, want: true,
			wantExpire: []Conn{{Backend: 4, State: TCPClose, Expires: 10_000}},
			wantStats:  ConnStats{Slots: 64, Inserts: 1, Deleted: 1}},
		{name: "expired", insert: true, now: 10_000, want: false,
			wantExpire: []Conn{{Backend: 4, State: TCPClose, Expires: 10_000}},
			wantStats:  ConnStats{Slots: 64, Inserts: 1, Expired: 1}},
		{name: "absent", now: 5, want: false, wantStats: ConnStats{Slots: 64}},
		{name: "other key", insert: true, deleteOther: true, now: 5, want: false,
			wantStats: ConnStats{Slots: 64, Len: 1, Inserts: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h connHook
			ct := newTestConnTable(t, 64, &h)
			if tt.insert {
				ct.Insert(&k, Conn{Backend: 4, State: TCPClose}, 0)
			}
			del := k
			if tt.deleteOther {
				del = testConnKey(2)
			}
			if got := ct.Delete(&del, tt.now); got != tt.want {
				t.Errorf("Delete = %v, want %v", got, tt.want)
			}
			if diff := cmp.Diff(tt.wantExpire, h.got, connCmp); diff != "" {
				t.Errorf("OnExpire calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStats, ct.Stats()); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
			if tt.insert && !tt.deleteOther && ct.Lookup(&k, 0) != nil {
				t.Errorf("deleted entry still found")
			}
			checkConnTable(t, ct)
		})
	}
}

func TestConnTableSweep(t *testing.T) {
	const n = 40
	tests := []struct {
		name     string
		maxSlots int
		calls    int
		now      Tick
		wantFree []int // per call
	}{
		// 64 slots; the even entries die at 10 s, the odd ones live.
		{name: "before any deadline", maxSlots: 64, calls: 1, now: 9_999, wantFree: []int{0}},
		{name: "whole table at once", maxSlots: 64, calls: 2, now: 10_000, wantFree: []int{20, 0}},
		{name: "more than the table visits it once", maxSlots: 1000, calls: 1, now: 10_000, wantFree: []int{20}},
		{name: "resumes where it stopped", maxSlots: 5, calls: 14, now: 10_000},
		{name: "nothing", maxSlots: 0, calls: 3, now: 10_000, wantFree: []int{0, 0, 0}},
		{name: "negative", maxSlots: -3, calls: 1, now: 10_000, wantFree: []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h connHook
			ct := newTestConnTable(t, 64, &h)
			for i := range n {
				k := testConnKey(i)
				st := TCPEstablished
				if i%2 == 0 {
					st = TCPClose
				}
				if _, ok := ct.Insert(&k, Conn{Backend: uint32(i), State: st}, 0); !ok {
					t.Fatalf("Insert %d failed", i)
				}
			}
			var got []int
			total := 0
			for range tt.calls {
				f := ct.Sweep(tt.now, tt.maxSlots)
				got = append(got, f)
				total += f
				checkConnTable(t, ct)
			}
			if tt.wantFree != nil {
				if diff := cmp.Diff(tt.wantFree, got); diff != "" {
					t.Errorf("freed per call (-want +got):\n%s", diff)
				}
			} else if total != n/2 {
				t.Errorf("freed %d in %d calls of %d slots, want %d", total, tt.calls, tt.maxSlots, n/2)
			}
			// Every freed entry went through OnExpire once, and only dead ones.
			seen := map[uint32]int{}
			for _, c := range h.got {
				seen[c.Backend]++
				if c.Backend%2 != 0 {
					t.Errorf("live entry %d freed", c.Backend)
				}
			}
			for b, times := range seen {
				if times != 1 {
					t.Errorf("entry %d: OnExpire called %d times", b, times)
				}
			}
			if len(seen) != total {
				t.Errorf("OnExpire called for %d entries, Sweep freed %d", len(seen), total)
			}
			if st := ct.Stats(); st.Expired != uint64(total) || st.Len != n-total {
				t.Errorf("Stats %+v after freeing %d", st, total)
			}
		})
	}
}

func TestConnTableFullNeverEvicts(t *testing.T) {
	var h connHook
	ct := newTestConnTable(t, 8, &h) // one bucket
	for i := range 8 {
		k := testConnKey(i)
		st := TCPEstablished
		if i == 3 {
			st = TCPClose // dies at 10 s
		}
		if _, ok := ct.Insert(&k, Conn{Backend: uint32(i), State: st}, 0); !ok {
			t.Fatalf("Insert %d failed", i)
		}
	}
	k8 := testConnKey(8)
	if c, ok := ct.Insert(&k8, Conn{Backend: 8, State: TCPSynRecv}, 9_999); c != nil || ok {
		t.Fatalf("Insert into a full table = %v, %v; want nil, false", c, ok)
	}
	if len(h.got) != 0 {
		t.Fatalf("a live entry was evicted: %+v", h.got)
	}
	if st := ct.Stats(); st.Full != 1 || st.Len != 8 {
		t.Errorf("Stats %+v, want Full 1, Len 8", st)
	}
	for i := range 8 {
		k := testConnKey(i)
		if c := ct.Lookup(&k, 9_999); c == nil || c.Backend != uint32(i) {
			t.Errorf("entry %d: Lookup = %+v", i, c)
		}
	}
	// Once entry 3 has expired its slot is taken.
	c, ok := ct.Insert(&k8, Conn{Backend: 8, State: TCPSynRecv}, 10_000)
	if !ok || c.Backend != 8 {
		t.Fatalf("Insert after an expiry = %+v, %v", c, ok)
	}
	if diff := cmp.Diff([]Conn{{Backend: 3, State: TCPClose, Expires: 10_000}}, h.got, connCmp); diff != "" {
		t.Errorf("OnExpire calls (-want +got):\n%s", diff)
	}
	checkConnTable(t, ct)
}

func TestConnTableProbeWindow(t *testing.T) {
	var h connHook
	ct := newTestConnTable(t, 64*connBucketSlots, &h)
	const home = 5
	keys := keysWithHome(ct, home, connWindow*connBucketSlots+1, 0)
	// The window holds connWindow buckets of keys with the same home.
	for i, k := range keys[:len(keys)-1] {
		if _, ok := ct.Insert(&k, Conn{Backend: uint32(i), State: TCPEstablished}, 0); !ok {
			t.Fatalf("Insert %d failed", i)
		}
	}
	checkConnTable(t, ct)
	var over []uint32
	for bi := home; bi < home+connWindow+1; bi++ {
		over = append(over, ct.buckets[bi].overflow)
	}
	if diff := cmp.Diff([]uint32{56, 48, 40, 32, 24, 16, 8, 0, 0}, over); diff != "" {
		t.Errorf("overflow counts from the home bucket (-want +got):\n%s", diff)
	}
	// One more fails, though most of the table is free.
	last := keys[len(keys)-1]
	if _, ok := ct.Insert(&last, Conn{State: TCPEstablished}, 0); ok {
		t.Fatal("Insert beyond the probe window succeeded")
	}
	if ct.Stats().Full != 1 {
		t.Errorf("Full = %d", ct.Stats().Full)
	}
	for i, k := range keys[:len(keys)-1] {
		if c := ct.Lookup(&k, 1); c == nil || c.Backend != uint32(i) {
			t.Fatalf("key %d: Lookup = %+v", i, c)
		}
	}
	// Deleting one of the home bucket shifts an entry back from each
	// further bucket, and makes room at the end of the window.
	if !ct.Delete(&keys[3], 1) {
		t.Fatal("Delete failed")
	}
	checkConnTable(t, ct)
	over = over[:0]
	for bi := home; bi < home+connWindow+1; bi++ {
		over = append(over, ct.buckets[bi].overflow)
	}
	if diff := cmp.Diff([]uint32{55, 47, 39, 31, 23, 15, 7, 0, 0}, over); diff != "" {
		t.Errorf("overflow counts after a delete (-want +got):\n%s", diff)
	}
	if _, ok := ct.Insert(&last, Conn{State: TCPEstablished}, 1); !ok {
		t.Fatal("Insert after Delete failed")
	}
	checkConnTable(t, ct)
	// A miss stops at the first bucket that nothing overflowed.
	other := keysWithHome(ct, home+connWindow+1, 1, 0)[0]
	if ct.Lookup(&other, 1) != nil {
		t.Error("found a key never inserted")
	}
}

func TestConnTableRobinHood(t *testing.T) {
	ct := newTestConnTable(t, 64*connBucketSlots, nil)
	at6 := keysWithHome(ct, 6, connBucketSlots, 0)
	at5 := keysWithHome(ct, 5, connBucketSlots+1, 0)
	for _, k := range append(at6, at5[:connBucketSlots]...) {
		if _, ok := ct.Insert(&k, Conn{State: TCPEstablished}, 0); !ok {
			t.Fatal("Insert failed")
		}
	}
	// Buckets 5 and 6 are full of entries at home. The next key of home 5
	// takes the place of an entry of bucket 6, which moves to bucket 7:
	// both end one bucket from home rather than one at two.
	c, ok := ct.Insert(&at5[connBucketSlots], Conn{Backend: 99, State: TCPEstablished}, 0)
	if !ok {
		t.Fatal("Insert failed")
	}
	checkConnTable(t, ct)
	if c != ct.Lookup(&at5[connBucketSlots], 0) || c.Backend != 99 {
		t.Errorf("Insert returned %+v, not the new entry", c)
	}
	where := func(k FlowKey) uint64 { bi, _, _ := ct.find(&k, ct.hash(&k)); return bi }
	if got := where(at5[connBucketSlots]); got != 6 {
		t.Errorf("new entry in bucket %d, want 6", got)
	}
	moved := 0
	for _, k := range at6 {
		if where(k) == 7 {
			moved++
		}
	}
	if moved != 1 {
		t.Errorf("%d entries of home 6 moved to bucket 7, want 1", moved)
	}
}

func TestConnTableTickWrap(t *testing.T) {
	maxTicks := connMaxTicks // a variable: the constant expressions below wrap
	tests := []struct {
		deadline, now Tick
		want          bool
	}{
		{deadline: 100, now: 99, want: true},
		{deadline: 100, now: 100, want: false},
		{deadline: 100, now: 101, want: false},
		{deadline: 5, now: 1<<32 - 5, want: true},        // deadline past the wrap
		{deadline: 1<<32 - 5, now: 5, want: false},       // expired just before the wrap
		{deadline: 100, now: 100 - maxTicks, want: true}, // a full MaxTimeout ahead
		{deadline: 100, now: 99 - maxTicks, want: false},
		{deadline: 100, now: 100 + 1<<31, want: false},
		{deadline: 100, now: 100 - maxTicks - 1, want: false}, // dead for 2^32 ms - MaxTimeout - 1
	}
	for _, tt := range tests {
		if got := connLive(tt.deadline, tt.now); got != tt.want {
			t.Errorf("connLive(%d, %d) = %v, want %v", tt.deadline, tt.now, got, tt.want)
		}
	}

	// A flow that lives across the wrap of the tick counter.
	var h connHook
	ct := newTestConnTable(t, 64, &h)
	k := testConnKey(1)
	start := Tick(1<<32 - 60_000)
	ct.Insert(&k, Conn{State: TCPNone}, start)
	c := ct.Lookup(&k, start+1000)
	c.Update(TCPSyn, start+1000, ct.Timeouts())
	var last Tick
	for i := range Tick(20) { // a packet every 30 s; the counter wraps after 60 s
		last = start + 2000 + i*30_000
		c := ct.Lookup(&k, last)
		if c == nil {
			t.Fatalf("lost the flow at tick %d", last)
		}
		c.Update(TCPAck, last, ct.Timeouts())
	}
	if last > start {
		t.Fatal("the test did not cross the wrap")
	}
	if got := ct.Lookup(&k, last+900_000-1); got == nil {
		t.Fatal("flow expired early")
	}
	if ct.Sweep(last+900_000, 64) != 1 || len(h.got) != 1 {
		t.Errorf("flow did not expire after the wrap: %+v", h.got)
	}
}

func TestConnTableSetTimeouts(t *testing.T) {
	ct := newTestConnTable(t, 64, nil)
	k1, k2 := testConnKey(1), testConnKey(2)
	ct.Insert(&k1, Conn{State: TCPEstablished}, 0)
	if err := ct.SetTimeouts(Timeouts{TCP: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ct.Insert(&k2, Conn{State: TCPEstablished}, 0)
	got := []Tick{ct.Lookup(&k1, 0).Expires, ct.Lookup(&k2, 0).Expires}
	if diff := cmp.Diff([]Tick{900_000, 3_600_000}, got); diff != "" {
		t.Errorf("deadlines (-want +got):\n%s", diff)
	}
	if err := ct.SetTimeouts(Timeouts{UDP: -1}); err == nil {
		t.Error("SetTimeouts accepted a negative timeout")
	}
	if got := ct.Timeouts().Of(TCPEstablished); got != 3_600_000 {
		t.Errorf("a failed SetTimeouts changed the timeouts: %d", got)
	}
}

// TestConnTableExpiryReleases plays the data plane's part: the expiry hook
// releases the persistence template and the real server's count.
func TestConnTableExpiryReleases(t *testing.T) {
	counters := []*sched.Counters{new(sched.Counters), new(sched.Counters)}
	backends := []sched.Backend{
		{Addr: netip.MustParseAddrPort("10.0.0.1:80"), Weight: 1, Counters: counters[0]},
		{Addr: netip.MustParseAddrPort("10.0.0.2:80"), Weight: 1, Counters: counters[1]},
	}
	s, err := sched.New(sched.RR, backends, nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := sched.NewTemplates(64)
	if err != nil {
		t.Fatal(err)
	}
	ns := func(now Tick) int64 { return int64(now) * 1e6 }
	var now Tick
	count := func(c *Conn, d int64) {
		if c.State.Active() {
			counters[c.Backend].Active.Add(d)
		} else {
			counters[c.Backend].Inactive.Add(d)
		}
	}
	ct, err := NewConnTable(&ConnConfig{Capacity: 64, OnExpire: func(c *Conn) {
		tmpl.Release(c.Tmpl, ns(now))
		count(c, -1)
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Three clients' SYNs, then an ACK from the first.
	for i := range 3 {
		k := testConnKey(i)
		f := sched.Flow{Src: k.Src.Addr(), Dst: k.Dst.Addr(), SrcPort: k.SrcPort, DstPort: k.DstPort, Proto: k.Proto}
		idx, ref, _ := tmpl.Pick(s, sched.NewTemplateKey(1, f.Src, sched.Granularity{}), f, time.Minute, ns(now))
		c := Conn{Backend: uint32(idx), Service: 1, Tmpl: ref, State: TCPNone}
		c.Update(TCPSyn, now, ct.Timeouts())
		p, ok := ct.Insert(&k, c, now)
		if !ok {
			t.Fatal("Insert failed")
		}
		count(p, 1)
	}
	k0 := testConnKey(0)
	c := ct.Lookup(&k0, 100)
	if was, is := c.Update(TCPAck, 100, ct.Timeouts()); was != is {
		t.Fatalf("SYN_RECV and ESTABLISHED are both active: %v %v", was, is)
	}
	if got := tmpl.Stats(ns(now)).Refs; got != 3 {
		t.Fatalf("template references %d, want 3", got)
	}
	// All three go idle: the SYN_RECV ones after a minute, the other after
	// 15 minutes.
	now = 100 + 900_000
	if n := ct.Sweep(now, ct.Slots()); n != 3 {
		t.Fatalf("Sweep freed %d, want 3", n)
	}
	got := []int64{counters[0].Active.Load(), counters[0].Inactive.Load(), counters[1].Active.Load(), counters[1].Inactive.Load()}
	if diff := cmp.Diff([]int64{0, 0, 0, 0}, got); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
	if st := tmpl.Stats(ns(now)); st.Refs != 0 || st.BadReleases != 0 {
		t.Errorf("templates %+v after the flows ended", st)
	}
}

func TestConnTableStatsConcurrent(t *testing.T) {
	ct := newTestConnTable(t, 1024, nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				if st := ct.Stats(); st.Len < 0 || st.Len > st.Slots {
					t.Errorf("Stats %+v", st)
				}
			}
		}
	})
	for i := range 2000 {
		k := testConnKey(i)
		ct.Insert(&k, Conn{State: TCPClose}, Tick(i*1000)) // 10 s: about 10 live at a time
		ct.Sweep(Tick(i*1000), 64)
	}
	close(stop)
	wg.Wait()
	st := ct.Stats()
	if st.Inserts != 2000 || st.Len != int(st.Inserts-st.Expired) {
		t.Errorf("Stats %+v", st)
	}
}

func TestConnTableAllocs(t *testing.T) {
	expired := 0
	ct, err := NewConnTable(&ConnConfig{Capacity: 1024, OnExpire: func(*Conn) { expired++ }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		k := testConnKey(i)
		ct.Insert(&k, Conn{State: TCPEstablished}, 0)
	}
	hit, miss, fresh := testConnKey(7), testConnKey(10_000), testConnKey(10_001)
	tests := []struct {
		name string
		f    func()
	}{
		{"Lookup hit", func() { ct.Lookup(&hit, 1) }},
		{"Lookup miss", func() { ct.Lookup(&miss, 1) }},
		{"Insert and Delete", func() { ct.Insert(&fresh, Conn{State: TCPSynRecv}, 1); ct.Delete(&fresh, 1) }},
		{"Update", func() { ct.Lookup(&hit, 1).Update(TCPAck, 1, ct.Timeouts()) }},
		{"Sweep", func() { ct.Sweep(2, 64) }},
		{"Stats", func() { ct.Stats() }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.f); n != 0 {
			t.Errorf("%s: %v allocations", tt.name, n)
		}
	}
}

// connModel runs random operations on a table and on a map, and checks
// that they agree: Lookup finds exactly the live entries, Insert refuses a
// live key, the table frees only dead or deleted entries and calls OnExpire
// once for each, and the table's invariants hold throughout.
type connModel struct {
	t   testing.TB
	ct  *ConnTable
	now Tick
	// entries are the entries the table holds (not yet freed), by key.
	entries  map[FlowKey]Conn
	ids      map[uint32]FlowKey // entry id (Conn.Backend) -> key
	freed    map[uint32]int     // OnExpire calls by entry id
	deleting FlowKey            // the key Delete may free live
	nextID   uint32
	keys     []FlowKey
	st       *StateTimeouts
	small    bool // every bucket is in every window: Insert fails only when all slots are live
}

func newConnModel(t testing.TB, slots, keys int) *connModel {
	m := &connModel{t: t, entries: map[FlowKey]Conn{}, ids: map[uint32]FlowKey{}, freed: map[uint32]int{}}
	ct, err := NewConnTable(&ConnConfig{Capacity: slots, OnExpire: m.onExpire})
	if err != nil {
		t.Fatal(err)
	}
	m.ct, m.st = ct, ct.Timeouts()
	m.small = int(ct.nb) <= connWindow
	for i := range keys {
		k := testConnKey(i)
		if i%3 == 1 {
			k.Proto = 17
		}
		m.keys = append(m.keys, k)
	}
	return m
}

func (m *connModel) onExpire(c *Conn) {
	k, ok := m.ids[c.Backend]
	if !ok {
		m.t.Fatalf("OnExpire for unknown entry %+v", *c)
	}
	m.freed[c.Backend]++
	if m.freed[c.Backend] > 1 {
		m.t.Fatalf("OnExpire called twice for entry %d", c.Backend)
	}
	want := m.entries[k]
	if diff := cmp.Diff(want, *c, connCmp); diff != "" {
		m.t.Fatalf("OnExpire entry (-want +got):\n%s", diff)
	}
	if connLive(c.Expires, m.now) && k != m.deleting {
		m.t.Fatalf("live entry %d freed at %d: %+v", c.Backend, m.now, *c)
	}
	delete(m.entries, k)
}

func (m *connModel) live() int {
	n := 0
	for _, c := range m.entries {
		if connLive(c.Expires, m.now) {
			n++
		}
	}
	return n
}

// step runs one operation chosen by op and arg.
func (m *connModel) step(op, arg byte) {
	k := m.keys[int(arg)%len(m.keys)]
	want, held := m.entries[k]
	isLive := held && connLive(want.Expires, m.now)
	switch op % 6 {
	case 0: // time passes
		m.now += Tick(arg) * Tick(arg) * 8
	case 1, 2: // a packet: lookup, insert on a miss
		c := m.ct.Lookup(&k, m.now)
		if isLive {
			if c == nil {
				m.t.Fatalf("Lookup missed live entry %+v", want)
			}
			if diff := cmp.Diff(want, *c, connCmp); diff != "" {
				m.t.Fatalf("Lookup (-want +got):\n%s", diff)
			}
			c.Update(arg&0x17, m.now, m.st)
			m.entries[k] = *c
			return
		}
		if c != nil {
			m.t.Fatalf("Lookup found dead or absent key: %+v", *c)
		}
		if _, ok := m.entries[k]; ok {
			m.t.Fatalf("Lookup did not free the expired entry of its key")
		}
		st := TCPNone + ConnState(arg)%(UDPNormal-TCPNone)
		if k.Proto == 17 {
			st = UDPNormal
		}
		m.nextID++
		nc := Conn{Backend: m.nextID, State: st}
		m.ids[m.nextID] = k
		p, ok := m.ct.Insert(&k, nc, m.now)
		if !ok {
			if p != nil {
				m.t.Fatalf("Insert of an absent key returned %+v", *p)
			}
			if m.small && m.live() < m.ct.Slots() {
				m.t.Fatalf("Insert failed with %d live entries in %d slots", m.live(), m.ct.Slots())
			}
			return
		}
		nc.Expires = m.now + m.st.Of(st)
		if diff := cmp.Diff(nc, *p, connCmp); diff != "" {
			m.t.Fatalf("Insert (-want +got):\n%s", diff)
		}
		m.entries[k] = nc
	case 3: // Insert of a key that may be live
		m.nextID++
		m.ids[m.nextID] = k
		p, ok := m.ct.Insert(&k, Conn{Backend: m.nextID, State: TCPEstablished}, m.now)
		switch {
		case isLive:
			if ok || p == nil || p.Backend != want.Backend {
				m.t.Fatalf("Insert of a live key: %v %v", p, ok)
			}
		case ok:
			m.entries[k] = *p
		}
	case 4:
		m.deleting = k
		if got := m.ct.Delete(&k, m.now); got != isLive {
			m.t.Fatalf("Delete = %v, want %v", got, isLive)
		}
		m.deleting = FlowKey{}
		if _, ok := m.entries[k]; ok {
			m.t.Fatal("Delete left the entry")
		}
	case 5:
		m.ct.Sweep(m.now, int(arg)%80)
	}
}

func (m *connModel) finish() {
	checkConnTable(m.t, m.ct)
	m.now += connMaxTicks + 1
	m.ct.Sweep(m.now, m.ct.Slots())
	if len(m.entries) != 0 || m.ct.Len() != 0 {
		m.t.Fatalf("after a final sweep: %d entries in the model, Len %d", len(m.entries), m.ct.Len())
	}
}

func TestConnTableModel(t *testing.T) {
	for _, size := range []struct{ slots, keys int }{{8, 12}, {32, 40}, {64, 200}, {256, 300}} {
		for seed := range uint64(20) {
			m := newConnModel(t, size.slots, size.keys)
			r := rand.New(rand.NewPCG(seed, uint64(size.slots)))
			for range 3000 {
				m.step(byte(r.Uint32()), byte(r.Uint32()))
				checkConnTable(t, m.ct)
			}
			m.finish()
		}
	}
}

func FuzzConnTable(f *testing.F) {
	f.Add(uint8(8), []byte{1, 0, 1, 1, 1, 2, 0, 200, 5, 64, 4, 1})
	f.Add(uint8(64), []byte{2, 3, 2, 4, 2, 5, 3, 3, 0, 90, 1, 3, 4, 4, 5, 79})
	f.Fuzz(func(t *testing.T, slots uint8, ops []byte) {
		m := newConnModel(t, int(slots)%200+1, 100)
		for i := 0; i+1 < len(ops); i += 2 {
			m.step(ops[i], ops[i+1])
			checkConnTable(t, m.ct)
		}
		m.finish()
	})
}
