package forward

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/govs-lb/govs/netsim"
	"golang.org/x/sys/unix"
)

var txModes = []struct {
	name string
	cfg  TxConfig
}{
	{"sendmmsg", TxConfig{Mode: TxSendmmsg, Batch: 64}},
	{"sendmmsg-bypass", TxConfig{Mode: TxSendmmsg, Qdisc: TxQdiscBypass, Batch: 64}},
	{"ring", TxConfig{Mode: TxRing, Batch: 16, RingFrames: 48}}, // frames are reused
	{"ring-bypass", TxConfig{Mode: TxRing, Qdisc: TxQdiscBypass, Batch: 16, RingFrames: 48}},
	{"sendmmsg-vnet", TxConfig{Mode: TxSendmmsg, VnetHdr: true, Batch: 64}},
	{"ring-vnet", TxConfig{Mode: TxRing, VnetHdr: true, Batch: 16, RingFrames: 48}},
}

// TestTxBatch sends numbered frames in batches, some built in Slots and
// some sent from elsewhere, and checks that a receiver gets each once and
// intact.
func TestTxBatch(t *testing.T) {
	for _, tt := range txModes {
		t.Run(tt.name, func(t *testing.T) {
			h := lanLab(t, "c1", "r1")
			c1, r1 := h["c1"], h["r1"]
			vip := netsim.VIP4(9)
			r := openRing(t, r1, RingConfig{Filter: mustFilter(t, FilterService{Addr: vip, Proto: 17})})
			cfg := tt.cfg
			tx := openTx(t, c1, &cfg)
			const n = 1000
			from := netip.AddrPortFrom(c1.Link("lan").Addr4, 1000)
			to := netip.AddrPortFrom(vip, 2000)
			for i := range n {
				payload := make([]byte, 8+i%200)
				binary.BigEndian.PutUint32(payload, uint32(i))
				f := udpFrame(r1.Link("lan").MAC, c1.Link("lan").MAC, from, to, payload)
				if i%2 == 0 {
					s := tx.Slot(len(f))
					if s == nil {
						t.Fatalf("frame %d: no slot", i)
					}
					copy(s, f)
					f = s
				}
				tx.Send(f)
			}
			sent, err := tx.Flush()
			must(t, err)
			if sent != n {
				t.Errorf("Flush: %d sent, want %d", sent, n)
			}
			st := tx.Stats()
			t.Logf("stats %+v", st)
			if st.Sent != n || st.Dropped != 0 || st.Syscalls > uint64(n/cfg.Batch+4) {
				t.Errorf("stats %+v, want %d sent in about %d system calls", st, n, n/cfg.Batch)
			}
			got := collect(t, r, n, 100*time.Millisecond, 10*time.Second)
			seen := make([]bool, n)
			for _, g := range got {
				var p Packet
				if v := ParseFrame(g.data, &p); v != Forwarded {
					t.Fatalf("%v", v)
				}
				i := binary.BigEndian.Uint32(g.data[p.L4+8:])
				if i >= n || seen[i] {
					t.Fatalf("frame %d unexpected", i)
				}
				seen[i] = true
				if l := p.End - p.L4 - 8; l != 8+int(i)%200 {
					t.Errorf("frame %d: payload of %d bytes", i, l)
				}
				if L4Checksum(&p) != binary.BigEndian.Uint16(g.data[p.L4+6:]) {
					t.Errorf("frame %d: bad checksum", i)
				}
			}
			if len(got) != n {
				t.Errorf("received %d frames, want %d", len(got), n)
			}
		})
	}
}

// TestTxErrors checks that an oversized frame is dropped, counted and
// reported, and the rest of the batch still goes. (TxRing: the kernel
// skips a malformed ring frame silently, PACKET_LOSS, and it counts as
// sent.)
func TestTxErrors(t *testing.T) {
	for _, tt := range txModes[:3] {
		t.Run(tt.name, func(t *testing.T) {
			h := lanLab(t, "c1")
			c1 := h["c1"]
			cfg := tt.cfg
			tx := openTx(t, c1, &cfg)
			if tx.Slot(defaultTxFrameSize+1) != nil {
				t.Error("Slot larger than the frame size")
			}
			small := udpFrame(netsim.HostMAC(1, 9), c1.Link("lan").MAC, netip.MustParseAddrPort("198.18.1.1:1"), netip.MustParseAddrPort("198.18.1.9:2"), nil)
			big := make([]byte, 1800) // over the MTU
			copy(big, small)
			tx.Send(small)
			tx.Send(big)
			tx.Send(small)
			sent, err := tx.Flush()
			t.Logf("Flush: %d, %v", sent, err)
			if tt.cfg.Mode == TxRing {
				if sent != 3 || err != nil {
					t.Errorf("Flush = %d, %v; want 3, nil", sent, err)
				}
				return
			}
			var op *net.OpError
			if sent != 2 || !errors.As(err, &op) || !errors.Is(err, unix.EMSGSIZE) {
				t.Errorf("Flush = %d, %v; want 2 and a *net.OpError for EMSGSIZE", sent, err)
			}
			if st := tx.Stats(); st.Sent != 2 || st.Dropped != 1 {
				t.Errorf("stats %+v", st)
			}
			// The error is reported once; the same error again does
			// not allocate.
			tx.Send(small)
			if sent, err := tx.Flush(); sent != 1 || err != nil {
				t.Errorf("next Flush = %d, %v", sent, err)
			}
			if a := testing.AllocsPerRun(10, func() {
				tx.Send(big)
				tx.Flush()
			}); a != 0 {
				t.Errorf("%v allocations per failed flush", a)
			}
		})
	}
}

// forwarder is a DR forward loop for tests and benchmarks: ring, parse,
// checksum, new MACs, Tx. It stops when the test ends.
type forwarder struct {
	ring       *Ring
	tx         *Tx
	forwarded  atomic.Uint64
	dropped    atomic.Uint64
	own        atomic.Uint64 // frames from our own MAC: sent and seen again
	gso        atomic.Uint64 // GSO frames received
	rounds     atomic.Uint64 // Next calls that returned frames
	cpu        atomic.Int64  // the loop's thread CPU time (ns), updated when idle
	done       chan struct{}
	err        error
	dst, src   [6]byte
	offload    bool // send partial checksums on with vnet headers
	pinCPU     int  // pin to this CPU, if >= 0
	pinErr     error
	packetLoop func(f *RxFrame)
}

// startForwarder starts a DR forwarder on the host's "lan" interface that
// sends the frames of its ring's filter to the MAC dst. With offload, the
// ring and the Tx use vnet headers and the kernel completes checksums;
// else the forwarder completes them.
func startForwarder(t testing.TB, h *netsim.Host, rc RingConfig, tc TxConfig, dst net.HardwareAddr, offload bool, cpu int) *forwarder {
	t.Helper()
	rc.VnetHdr, tc.VnetHdr = offload, offload
	fw := &forwarder{
		ring:    openRing(t, h, rc),
		tx:      openTx(t, h, &tc),
		done:    make(chan struct{}),
		dst:     mac6(dst),
		src:     mac6(h.Link("lan").MAC),
		offload: offload,
		pinCPU:  cpu,
	}
	var p Packet
	fw.packetLoop = func(f *RxFrame) {
		if [6]byte(f.Data[6:12]) == fw.src {
			fw.own.Add(1)
		}
		if f.GSO || f.GSOType != GSONone {
			fw.gso.Add(1)
		}
		if f.Truncated || ParseFrame(f.Data, &p) != Forwarded {
			fw.dropped.Add(1)
			return
		}
		SetMACs(f.Data, fw.dst, fw.src)
		if fw.offload {
			fw.tx.SendOffload(f.Data, &f.Offload)
			return
		}
		if f.CsumNotReady && !CompleteL4Checksum(&p) {
			fw.dropped.Add(1)
			return
		}
		fw.tx.Send(f.Data)
	}
	go fw.run()
	t.Cleanup(fw.stop)
	return fw
}

func (fw *forwarder) run() {
	defer close(fw.done)
	runtime.LockOSThread() // for threadCPU
	if fw.pinCPU >= 0 {
		if err := PinToCPU(fw.pinCPU); err != nil {
			fw.pinErr = err
		}
	}
	for {
		n, err := fw.ring.Next(100*time.Millisecond, fw.packetLoop)
		if n == 0 {
			fw.cpu.Store(threadCPU())
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				fw.err = err
			}
			return
		}
		if n > 0 {
			fw.rounds.Add(1)
			sent, _ := fw.tx.Flush()
			fw.forwarded.Add(uint64(sent))
		}
	}
}

func (fw *forwarder) stop() {
	fw.ring.Close()
	<-fw.done
}

// TestDRForward runs a DR forwarder built from a ring and a Tx between a
// client and a DR real server: TCP connections complete, and HTTP
// answers come back, with the partial checksums of the client's frames
// completed by the forwarder or, with vnet headers, by the kernel.
func TestDRForward(t *testing.T) {
	for _, fam := range []struct {
		name string
		vip  netip.Addr
	}{{"ipv4", netsim.VIP4(1)}, {"ipv6", netsim.VIP6(1)}} {
		for _, mode := range []struct {
			name    string
			offload bool
			ring    RingVersion
		}{{"userspace-csum", false, RingV2}, {"vnet-offload", true, RingV2}, {"v3-userspace-csum", false, RingV3}} {
			t.Run(fam.name+"/"+mode.name, func(t *testing.T) {
				h := lanLab(t, "c1", "lb", "r1")
				c1, lb, r1 := h["c1"], h["lb"], h["r1"]
				vip := fam.vip
				// As keepalived and govs would have it: the VIP is the
				// balancer's (it answers ARP and NDP for it), and the
				// ingress guard keeps its stack from answering the
				// service's packets (TCP RST, or for IPv6 without
				// forwarding, ICMPv6 unreachable).
				must(t, lb.AddAddr("lan", netip.PrefixFrom(vip, vip.BitLen())))
				must(t, c1.AddLinkRoute(netip.PrefixFrom(vip, vip.BitLen()), "lan"))
				g, err := InstallIngressGuard(lb.NamespaceFD(), "govs", []string{"lan"}, []FilterService{{Addr: vip, Proto: 6}})
				must(t, err)
				t.Cleanup(func() { g.Remove() })
				must(t, r1.DRRealServer(vip))
				_, err = r1.StartHTTPServer(":80")
				must(t, err)
				if mode.offload {
					// So that the kernel, not the device, completes
					// the checksums, and r1 can check them.
					setTxChecksumming(t, lb, "lan", false)
				}
				capture := openRing(t, r1, RingConfig{Filter: mustFilter(t, FilterService{Addr: vip, Proto: 6})})
				fw := startForwarder(t, lb, RingConfig{
					Version: mode.ring,
					Filter:  mustFilter(t, FilterService{Addr: vip, Proto: 6, Port: 80}),
				}, TxConfig{}, r1.Link("lan").MAC, mode.offload, -1)

				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				const n = 10
				tally, err := c1.HTTPTally(ctx, netip.AddrPortFrom(vip, 80), n)
				must(t, err)
				if tally["r1"] != n {
					t.Errorf("tally %v, want %d answers from r1", tally, n)
				}
				if fw.forwarded.Load() == 0 || fw.dropped.Load() != 0 || fw.own.Load() != 0 {
					t.Errorf("forwarded %d, dropped %d, own frames seen %d", fw.forwarded.Load(), fw.dropped.Load(), fw.own.Load())
				}
				// What reached r1 left the balancer with complete and
				// correct checksums.
				frames := collect(t, capture, int(fw.forwarded.Load()), 50*time.Millisecond, 5*time.Second)
				if uint64(len(frames)) != fw.forwarded.Load() {
					t.Errorf("r1 got %d frames, %d forwarded", len(frames), fw.forwarded.Load())
				}
				for i, f := range frames {
					var p Packet
					if v := ParseFrame(f.data, &p); v != Forwarded {
						t.Fatalf("frame %d at r1: %v", i, v)
					}
					if f.CsumNotReady || L4Checksum(&p) != binary.BigEndian.Uint16(f.data[p.L4+16:]) {
						t.Fatalf("frame %d at r1: partial %v, checksum %#04x, want %#04x", i, f.CsumNotReady, binary.BigEndian.Uint16(f.data[p.L4+16:]), L4Checksum(&p))
					}
					if [6]byte(f.data[0:6]) != mac6(r1.Link("lan").MAC) || [6]byte(f.data[6:12]) != mac6(lb.Link("lan").MAC) {
						t.Fatalf("frame %d at r1: MACs % x", i, f.data[:12])
					}
				}
				// A connection's bytes arrive whole: an echo of a large
				// write, in segments that each had a partial checksum.
				_, err = r1.StartTCPEcho(":7")
				must(t, err)
				fw.ring.SetFilter(mustFilter(t, FilterService{Addr: vip, Proto: 6}))
				c, err := c1.DialContext(ctx, "tcp", netip.AddrPortFrom(vip, 7).String())
				must(t, err)
				defer c.Close()
				msg := bytes.Repeat([]byte("govs"), 64<<10)
				go c.Write(msg)
				echo := make([]byte, len(msg))
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := ioReadFull(c, echo); err != nil {
					t.Fatalf("echo: %v", err)
				}
				if !bytes.Equal(echo, msg) {
					t.Error("echo differs")
				}
			})
		}
	}
}

// threadCPU returns the CPU time of the calling thread, in ns.
func threadCPU() int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// setTxChecksumming turns an interface's TX checksum offload on or off
// (ethtool -K ifname tx on|off).
func setTxChecksumming(t testing.TB, h *netsim.Host, ifname string, on bool) {
	t.Helper()
	ethtoolSet(t, h, ifname, unix.ETHTOOL_STXCSUM, on)
}

// ethtoolSet sets an ethtool feature with a legacy ethtool_value command.
func ethtoolSet(t testing.TB, h *netsim.Host, ifname string, cmd uint32, on bool) {
	t.Helper()
	must(t, h.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		val := &struct{ cmd, data uint32 }{cmd: cmd}
		if on {
			val.data = 1
		}
		var ifr struct { // struct ifreq with ifr_data
			name [unix.IFNAMSIZ]byte
			data unsafe.Pointer
			_    [16]byte
		}
		copy(ifr.name[:unix.IFNAMSIZ-1], ifname)
		ifr.data = unsafe.Pointer(val)
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
		runtime.KeepAlive(val)
		if e != 0 {
			return os.NewSyscallError("ioctl SIOCETHTOOL", e)
		}
		return nil
	}))
}

// TestDRForwardGSO checks GSO super-frames (a client whose stack sends
// 64 KiB TCP frames, as GRO would make them on a real NIC): a V3 ring
// with vnet headers gets them whole, the Tx sends them on as they are,
// and the kernel segments them and completes the checksums (the
// balancer's interface has neither TSO nor checksum offload), so the
// real server gets packets of at most the MTU, correct.
func TestDRForwardGSO(t *testing.T) {
	h := lanLab(t, "c1", "lb", "r1")
	c1, lb, r1 := h["c1"], h["lb"], h["r1"]
	vip := netsim.VIP4(1)
	must(t, lb.AddAddr("lan", netip.PrefixFrom(vip, 32)))
	must(t, c1.AddLinkRoute(netip.PrefixFrom(vip, 32), "lan"))
	g, err := InstallIngressGuard(lb.NamespaceFD(), "govs", []string{"lan"}, []FilterService{{Addr: vip, Proto: 6}})
	must(t, err)
	t.Cleanup(func() { g.Remove() })
	must(t, r1.DRRealServer(vip))
	_, err = r1.StartTCPEcho(":7")
	must(t, err)
	link, err := c1.Netlink().LinkByName("lan")
	must(t, err)
	must(t, c1.Netlink().LinkSetGSOMaxSegs(link, 65535))
	ethtoolSet(t, lb, "lan", unix.ETHTOOL_STSO, false)
	setTxChecksumming(t, lb, "lan", false)

	capture := openRing(t, r1, RingConfig{Filter: mustFilter(t, FilterService{Addr: vip, Proto: 6})})
	fw := startForwarder(t, lb, RingConfig{
		Version: RingV3,
		Filter:  mustFilter(t, FilterService{Addr: vip, Proto: 6}),
	}, TxConfig{}, r1.Link("lan").MAC, true, -1)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := c1.DialContext(ctx, "tcp", netip.AddrPortFrom(vip, 7).String())
	must(t, err)
	defer c.Close()
	msg := bytes.Repeat([]byte("gso!"), 256<<10)
	go c.Write(msg)
	echo := make([]byte, len(msg))
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := ioReadFull(c, echo); err != nil {
		t.Fatalf("echo: %v", err)
	}
	if !bytes.Equal(echo, msg) {
		t.Error("echo differs")
	}
	if fw.gso.Load() == 0 || fw.dropped.Load() != 0 {
		t.Errorf("forwarder: %d GSO frames, %d dropped; want some GSO frames, none dropped", fw.gso.Load(), fw.dropped.Load())
	}
	frames := collect(t, capture, 1<<30, 0, 300*time.Millisecond)
	if len(frames) == 0 {
		t.Fatal("r1 captured nothing")
	}
	for i, f := range frames {
		var p Packet
		if v := ParseFrame(f.data, &p); v != Forwarded {
			t.Fatalf("frame %d at r1: %v", i, v)
		}
		if len(f.data) > 1514 || f.Len > 1514 {
			t.Fatalf("frame %d at r1: %d bytes, over the MTU", i, f.Len)
		}
		if f.CsumNotReady || L4Checksum(&p) != binary.BigEndian.Uint16(f.data[p.L4+16:]) {
			t.Fatalf("frame %d at r1: bad checksum", i)
		}
	}
	t.Logf("%d GSO frames forwarded; r1 got %d frames", fw.gso.Load(), len(frames))
}

func ioReadFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
