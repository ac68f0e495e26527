package forward

import (
	"testing"

	"github.com/govs-lb/govs/sched"
)

// discard is a sender that keeps nothing: the pipeline's cost alone.
type discard struct{ slot [2048]byte }

func (d *discard) Slot(n int) []byte                  { return d.slot[:n] }
func (d *discard) Send([]byte)                        {}
func (d *discard) SendOffload([]byte, *Offload)       {}
func (d *discard) Flush() (int, error)                { return 0, nil }
func (d *discard) Lookup(int, Addr16) ([6]byte, bool) { return [6]byte{2, 0, 0, 0, 0, 3}, true }
func (d *discard) Resolve(int, Addr16)                {}

// BenchmarkPipeline runs in-memory frames through parse, table lookup,
// scheduling and rewrite: an established flow and new flows, DR and TUN.
func BenchmarkPipeline(b *testing.B) {
	for _, tt := range []struct {
		name   string
		method Method
		new    bool
	}{
		{"established/DR", MethodDR, false},
		{"established/TUN", MethodTUN, false},
		{"new/DR", MethodDR, true},
		{"new/TUN", MethodTUN, true},
	} {
		b.Run(tt.name, func(b *testing.B) {
			te := newTestEngine(b, webService(sched.RR, tt.method))
			d := &discard{}
			te.w.tx, te.w.neigh = d, d
			// New flows need room for every iteration; established ones
			// a table of a size that stays in cache, as a busy worker's
			// hot flows do.
			capacity := 1 << 14
			if tt.new {
				capacity = 1 << 23
			}
			conns, err := NewConnTable(&ConnConfig{Capacity: capacity, OnExpire: te.w.expire})
			if err != nil {
				b.Fatal(err)
			}
			te.w.conns = conns
			const flows = 1024
			frames := make([][]byte, flows)
			for i := range frames {
				frames[i] = ackFrom(uint16(10000+i), TCPAck)
				if tt.new {
					frames[i] = synFrom(uint16(10000 + i))
				}
			}
			rx := &rxInfo{}
			if !tt.new {
				for _, f := range frames {
					rx.data = f
					te.w.handle(rx)
				}
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(frames[0])))
			i := 0
			for b.Loop() {
				rx.data = frames[i%flows]
				if tt.new {
					// A new flow each time: change the source address.
					f := rx.data
					f[28], f[29] = byte(i>>16), byte(i>>8)
					f[27] = byte(i)
				}
				if v := te.w.handle(rx); v != Forwarded {
					b.Fatalf("verdict %v", v)
				}
				i++
			}
		})
	}
}
