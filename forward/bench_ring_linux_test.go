package forward

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govs-lb/govs/netsim"
)

// Benchmarks of the kernel-facing I/O in a netsim lab: a client floods a
// balancer with 64-byte UDP frames (60 bytes without the FCS) of 10,000
// flows, bounded in count per round; the balancer forwards them DR-style
// to a real server. The generator runs on CPU 0; the forwarder on CPU 1
// ("split") or on CPU 0 too ("shared": one CPU for everything, as kernel
// forwarding in the same lab, which runs in the generator's softirq).
//
//	go test ./forward -run XXX -bench 'Forward|Rx|Latency' -benchtime 5x

const (
	benchFlows = 10000
	benchBurst = 200_000 // frames per round
	benchWait  = 5 * time.Second
)

// flood sends bursts of prebuilt frames from a host.
type flood struct {
	tx     *Tx
	frames [][]byte
	cpu    int
	cpuNs  int64 // the generator's thread CPU time over all bursts
}

func newFlood(b testing.TB, h *netsim.Host, dst net.HardwareAddr, vip netip.Addr, cpu int) *flood {
	f := &flood{tx: openTx(b, h, &TxConfig{Batch: 256}), cpu: cpu}
	src := h.Link("lan")
	for i := range benchFlows {
		payload := make([]byte, 18)
		binary.BigEndian.PutUint32(payload, uint32(i))
		f.frames = append(f.frames, udpFrame(dst, src.MAC, netip.AddrPortFrom(src.Addr4, uint16(10000+i)), netip.AddrPortFrom(vip, 9), payload))
	}
	return f
}

// burst sends n frames from a goroutine pinned to the flood's CPU and
// returns when they are sent.
func (f *flood) burst(n int) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		PinToCPU(f.cpu)
		start := threadCPU()
		for i := range n {
			f.tx.Send(f.frames[i%len(f.frames)])
		}
		f.tx.Flush()
		f.cpuNs += threadCPU() - start
	}()
	<-done
}

// measure runs bursts and reports the rate at which count grows.
func measure(b *testing.B, f *flood, count func() uint64, extra func(b *testing.B, packets uint64)) {
	var packets uint64
	var elapsed time.Duration
	for b.Loop() {
		before := count()
		start := time.Now()
		f.burst(benchBurst)
		// Wait for the count to settle.
		last, lastChange := count(), time.Now()
		for time.Since(lastChange) < 50*time.Millisecond && time.Since(start) < benchWait && last-before < benchBurst {
			time.Sleep(time.Millisecond)
			if c := count(); c != last {
				last, lastChange = c, time.Now()
			}
		}
		packets += last - before
		elapsed += lastChange.Sub(start)
	}
	b.ReportMetric(float64(packets)/elapsed.Seconds(), "pkts/s")
	lastMeasuredRate.Store(float64(packets) / elapsed.Seconds())
	b.ReportMetric(float64(packets)/float64(b.N*benchBurst), "delivered")
	// The sender's thread pays for the bridge and the receiving side up
	// to the ring (or, for kernel forwarding, everything): CPU time is
	// steadier than rates on a shared machine.
	b.ReportMetric(float64(f.cpuNs)/float64(b.N*benchBurst), "gen-ns/pkt")
	if extra != nil {
		extra(b, packets)
	}
}

func benchLab(b *testing.B) (c1, lb, r1 *netsim.Host) {
	h := lanLab(b, "c1", "lb", "r1")
	return h["c1"], h["lb"], h["r1"]
}

// BenchmarkForwardDR measures the forwarding rate of a ring, parse, MAC
// rewrite and Tx loop.
func BenchmarkForwardDR(b *testing.B) {
	for _, cpu := range []struct {
		name string
		fw   int
	}{{"split", 1}, {"shared", 0}} {
		for _, tt := range []struct {
			name string
			ring RingConfig
			tx   TxConfig
		}{
			{"v2-sendmmsg", RingConfig{Version: RingV2}, TxConfig{Mode: TxSendmmsg}},
			{"v2-sendmmsg-nocoalesce", RingConfig{Version: RingV2, Coalesce: -1}, TxConfig{Mode: TxSendmmsg}},
			{"v3-sendmmsg", RingConfig{Version: RingV3}, TxConfig{Mode: TxSendmmsg}},
			{"v2-txring", RingConfig{Version: RingV2}, TxConfig{Mode: TxRing}},
			{"v2-sendmmsg-bypass", RingConfig{Version: RingV2}, TxConfig{Mode: TxSendmmsg, Qdisc: TxQdiscBypass}},
			{"v2-txring-bypass", RingConfig{Version: RingV2}, TxConfig{Mode: TxRing, Qdisc: TxQdiscBypass}},
		} {
			b.Run(cpu.name+"/"+tt.name, func(b *testing.B) {
				b.ReportAllocs() // process-wide: the forwarder's too, per burst
				c1, lb, r1 := benchLab(b)
				vip := netsim.VIP4(1)
				rc := tt.ring
				rc.Filter = mustFilter(b, FilterService{Addr: vip, Proto: 17})
				fw := startForwarder(b, lb, rc, tt.tx, r1.Link("lan").MAC, false, cpu.fw)
				f := newFlood(b, c1, lb.Link("lan").MAC, vip, 0)
				time.Sleep(10 * time.Millisecond)
				cpu0 := fw.cpu.Load()
				measure(b, f, fw.forwarded.Load, func(b *testing.B, packets uint64) {
					time.Sleep(150 * time.Millisecond) // idle: the loop updates its CPU time
					b.ReportMetric(float64(fw.cpu.Load()-cpu0)/float64(packets), "fw-ns/pkt")
					rs, ts := fw.ring.Stats(), fw.tx.Stats()
					b.ReportMetric(float64(rs.Drops)/float64(rs.Packets), "ring-drop-ratio")
					b.ReportMetric(float64(packets)/float64(fw.rounds.Load()), "frames/batch")
					b.ReportMetric(float64(rs.Waits)*1000/float64(packets), "rx-syscalls/kpkt")
					b.ReportMetric(float64(ts.Syscalls)*1000/float64(packets), "tx-syscalls/kpkt")
				})
				if fw.pinErr != nil {
					b.Log(fw.pinErr)
				}
			})
		}
	}
}

// BenchmarkRx measures the receive side alone: a ring that counts.
func BenchmarkRx(b *testing.B) {
	for _, tt := range []struct {
		v        RingVersion
		coalesce time.Duration
	}{{RingV2, 0}, {RingV2, -1}, {RingV3, 0}, {RingV3, -1}} {
		b.Run(fmt.Sprintf("v%d-coalesce=%v", tt.v+1, tt.coalesce >= 0), func(b *testing.B) {
			c1, lb, _ := benchLab(b)
			vip := netsim.VIP4(1)
			r := openRing(b, lb, RingConfig{Version: tt.v, Coalesce: tt.coalesce, Filter: mustFilter(b, FilterService{Addr: vip, Proto: 17})})
			var got atomic.Uint64
			done := make(chan struct{})
			go func() {
				defer close(done)
				PinToCPU(1)
				n := uint64(0)
				count := func(*RxFrame) { n++ }
				for {
					if _, err := r.Next(100*time.Millisecond, count); err != nil {
						return
					}
					got.Store(n)
				}
			}()
			b.Cleanup(func() { r.Close(); <-done })
			f := newFlood(b, c1, lb.Link("lan").MAC, vip, 0)
			measure(b, f, got.Load, nil)
		})
	}
}

// BenchmarkKernelForward measures the kernel's own IP forwarding in the
// same lab, counted at the real server's interface: the reference for the
// userspace forwarder (the kernel forwards in the generator's softirq, on
// the generator's CPU).
func BenchmarkKernelForward(b *testing.B) {
	c1, lb, r1 := benchLab(b)
	vip := netsim.VIP4(1)
	must(b, lb.EnableForwarding())
	for _, k := range []string{"net.ipv4.conf.all.send_redirects", "net.ipv4.conf.lan.send_redirects"} {
		must(b, lb.SetSysctl(k, "0"))
	}
	must(b, lb.AddRoute(netip.PrefixFrom(vip, 32), r1.Link("lan").Addr4))
	must(b, lb.AddNeighbor("lan", r1.Link("lan").Addr4, r1.Link("lan").MAC))
	link, err := r1.Netlink().LinkByName("lan")
	must(b, err)
	count := func() uint64 {
		l, err := r1.Netlink().LinkByIndex(link.Attrs().Index)
		if err != nil {
			b.Fatal(err)
		}
		return l.Attrs().Statistics.RxPackets
	}
	f := newFlood(b, c1, lb.Link("lan").MAC, vip, 0)
	measure(b, f, count, nil)
}

// BenchmarkDRLatency measures the round trip of a UDP echo through the
// forwarder (client, balancer, DR real server, straight back): ring
// versions' wake-up latency. No load: V3 hands a lone frame over only when
// its block times out.
func BenchmarkDRLatency(b *testing.B) {
	for _, tt := range []struct {
		name string
		ring RingConfig
	}{
		{"direct", RingConfig{}}, // no balancer: client to real server
		{"v2", RingConfig{Version: RingV2}},
		{"v2-nocoalesce", RingConfig{Version: RingV2, Coalesce: -1}},
		{"v3-1ms", RingConfig{Version: RingV3, BlockTimeout: time.Millisecond}},
		{"v3-1ms-small-blocks", RingConfig{Version: RingV3, BlockTimeout: time.Millisecond, BlockSize: 4096, NumBlocks: 512}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			c1, lb, r1 := benchLab(b)
			vip := netsim.VIP4(1)
			must(b, c1.AddLinkRoute(netsim.VIPPrefix4(), "lan"))
			if tt.name != "direct" {
				must(b, c1.AddNeighbor("lan", vip, lb.Link("lan").MAC))
			}
			must(b, r1.DRRealServer(vip))
			_, err := r1.StartUDPEcho(netip.AddrPortFrom(vip, 7))
			must(b, err)
			if tt.name == "direct" {
				must(b, c1.AddNeighbor("lan", vip, r1.Link("lan").MAC))
			} else {
				rc := tt.ring
				rc.Filter = mustFilter(b, FilterService{Addr: vip, Proto: 17})
				startForwarder(b, lb, rc, TxConfig{}, r1.Link("lan").MAC, false, -1)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := c1.DialContext(ctx, "udp", netip.AddrPortFrom(vip, 7).String())
			must(b, err)
			defer c.Close()
			buf := make([]byte, 64)
			for b.Loop() {
				c.SetDeadline(time.Now().Add(2 * time.Second))
				if _, err := c.Write(buf[:32]); err != nil {
					b.Fatal(err)
				}
				if _, err := c.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
