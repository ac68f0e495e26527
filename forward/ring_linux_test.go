package forward

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/netsim"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// lanLab returns a lab with one segment, "lan", joined by the named hosts
// in order (so the first is host 1: 198.18.1.1).
func lanLab(t testing.TB, names ...string) map[string]*netsim.Host {
	t.Helper()
	lab := netsimtest.New(t)
	lan, err := lab.AddSegment("lan")
	must(t, err)
	hosts := make(map[string]*netsim.Host)
	for _, n := range names {
		h, err := lab.AddHost(n)
		must(t, err)
		_, err = h.Join(lan)
		must(t, err)
		hosts[n] = h
	}
	return hosts
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mac6(m net.HardwareAddr) [6]byte { return [6]byte(m) }

// routeVIPsTo makes the client send to the VIPs (and other addresses of
// the VIP prefixes) on link, to the MAC of to: no ARP or NDP needed, and
// to need not hold the VIPs (its kernel then drops what it gets: not a
// local address, no forwarding).
func routeVIPsTo(t testing.TB, client *netsim.Host, to net.HardwareAddr, vips ...netip.Addr) {
	t.Helper()
	must(t, client.AddLinkRoute(netsim.VIPPrefix4(), "lan"))
	must(t, client.AddLinkRoute(netsim.VIPPrefix6(), "lan"))
	for _, v := range vips {
		must(t, client.AddNeighbor("lan", v, to))
	}
}

// openRing opens a ring on the host's "lan" interface, closed when the
// test ends.
func openRing(t testing.TB, h *netsim.Host, cfg RingConfig) *Ring {
	t.Helper()
	cfg.Ifindex = h.Link("lan").Index
	var r *Ring
	must(t, h.Do(func() error {
		var err error
		r, err = OpenRing(&cfg)
		return err
	}))
	t.Cleanup(func() { r.Close() })
	return r
}

// openTx opens a Tx on the host's "lan" interface, closed when the test
// ends.
func openTx(t testing.TB, h *netsim.Host, cfg *TxConfig) *Tx {
	t.Helper()
	var tx *Tx
	must(t, h.Do(func() error {
		var err error
		tx, err = OpenTx(h.Link("lan").Index, cfg)
		return err
	}))
	t.Cleanup(func() { tx.Close() })
	return tx
}

func mustFilter(t testing.TB, s ...FilterService) []bpf.RawInstruction {
	t.Helper()
	f, err := BuildFilter(s)
	must(t, err)
	return f
}

// rxCopy is what a test keeps of a received frame.
type rxCopy struct {
	data []byte
	RxFrame
}

// collect reads frames from the ring until want frames came, then for
// grace more (to see extra frames), or until timeout.
func collect(t testing.TB, r *Ring, want int, grace, timeout time.Duration) []rxCopy {
	t.Helper()
	var got []rxCopy
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if len(got) >= want {
			if d := time.Now().Add(grace); d.Before(deadline) {
				deadline = d
			}
			want = int(^uint(0) >> 1) // once
		}
		_, err := r.Next(10*time.Millisecond, func(f *RxFrame) {
			c := rxCopy{data: append([]byte(nil), f.Data...), RxFrame: *f}
			c.Data = nil
			got = append(got, c)
		})
		must(t, err)
	}
	return got
}

// udpFrame returns an Ethernet frame with a UDP datagram, checksums
// complete.
func udpFrame(dst, src net.HardwareAddr, from, to netip.AddrPort, payload []byte) []byte {
	var f []byte
	if from.Addr().Is4() {
		f = make([]byte, 14+20+8+len(payload))
		binary.BigEndian.PutUint16(f[12:], 0x0800)
		ip := f[14:34]
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
		ip[8] = 64
		ip[9] = 17
		s, d := from.Addr().As4(), to.Addr().As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		binary.BigEndian.PutUint16(ip[10:], IPv4HeaderChecksum(ip))
	} else {
		f = make([]byte, 14+40+8+len(payload))
		binary.BigEndian.PutUint16(f[12:], 0x86dd)
		ip := f[14:54]
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(8+len(payload)))
		ip[6] = 17
		ip[7] = 64
		s, d := from.Addr().As16(), to.Addr().As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
	}
	copy(f[0:6], dst)
	copy(f[6:12], src)
	l4 := len(f) - 8 - len(payload)
	binary.BigEndian.PutUint16(f[l4:], from.Port())
	binary.BigEndian.PutUint16(f[l4+2:], to.Port())
	binary.BigEndian.PutUint16(f[l4+4:], uint16(8+len(payload)))
	copy(f[l4+8:], payload)
	var p Packet
	if v := ParseFrame(f, &p); v != Forwarded {
		panic(fmt.Sprintf("test frame does not parse: %v", v))
	}
	binary.BigEndian.PutUint16(f[l4+6:], L4Checksum(&p))
	return f
}

// sendUDP sends one datagram from inside the host through its own stack.
func sendUDP(t testing.TB, h *netsim.Host, to netip.AddrPort, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := h.DialContext(ctx, "udp", to.String())
	must(t, err)
	defer c.Close()
	_, err = c.Write([]byte(payload))
	must(t, err)
}

var ringVersions = []struct {
	name string
	v    RingVersion
	vnet bool
}{
	{"v2", RingV2, false},
	{"v3", RingV3, false},
	{"v2-vnet", RingV2, true},
	{"v3-vnet", RingV3, true},
}

// TestRingReceives checks what a ring on a balancer gets of a client's
// traffic: the frames for the filter's services, with partial checksums
// reported, and not frames to other addresses, to another host's MAC, or
// VLAN-tagged.
func TestRingReceives(t *testing.T) {
	for _, tt := range ringVersions {
		t.Run(tt.name, func(t *testing.T) {
			h := lanLab(t, "c1", "lb")
			c1, lb := h["c1"], h["lb"]
			vip4, vip6, other := netsim.VIP4(1), netsim.VIP6(1), netsim.VIP4(2)
			routeVIPsTo(t, c1, lb.Link("lan").MAC, vip4, vip6, other)
			r := openRing(t, lb, RingConfig{
				Version: tt.v,
				VnetHdr: tt.vnet,
				Filter: mustFilter(t,
					FilterService{Addr: vip4, Proto: 17, Port: 5000},
					FilterService{Addr: vip6, Proto: 17, Port: 5000}),
			})

			sendUDP(t, c1, netip.AddrPortFrom(vip4, 5000), "four")
			sendUDP(t, c1, netip.AddrPortFrom(vip6, 5000), "six")
			sendUDP(t, c1, netip.AddrPortFrom(other, 5000), "other")
			// Raw frames for the service that are not ours: to another
			// MAC (a bridge floods those, or promiscuous mode shows
			// them), and VLAN-tagged.
			tx := openTx(t, c1, nil)
			from := netip.AddrPortFrom(c1.Link("lan").Addr4, 4000)
			f := udpFrame(netsim.HostMAC(1, 9), c1.Link("lan").MAC, from, netip.AddrPortFrom(vip4, 5000), []byte("othermac"))
			tx.Send(f)
			f = udpFrame(lb.Link("lan").MAC, c1.Link("lan").MAC, from, netip.AddrPortFrom(vip4, 5000), []byte("vlan"))
			tagged := append(append(append([]byte(nil), f[:12]...), 0x81, 0x00, 0x00, 0x07), f[12:]...)
			tx.Send(tagged)
			_, err := tx.Flush()
			must(t, err)

			got := collect(t, r, 2, 200*time.Millisecond, 5*time.Second)
			if len(got) != 2 {
				for _, g := range got {
					t.Logf("frame % x", g.data)
				}
				t.Fatalf("got %d frames, want 2", len(got))
			}
			for i, want := range []struct {
				payload   string
				csumStart uint16
			}{{"four", 14 + 20}, {"six", 14 + 40}} {
				g := got[i]
				var p Packet
				if v := ParseFrame(g.data, &p); v != Forwarded {
					t.Fatalf("frame %d: %v", i, v)
				}
				if string(g.data[p.L4+8:p.End]) != want.payload {
					t.Errorf("frame %d: payload %q, want %q", i, g.data[p.L4+8:p.End], want.payload)
				}
				if g.Len != len(g.data) || g.Truncated || g.GSO || g.VLAN {
					t.Errorf("frame %d: %+v, want whole and plain", i, g.RxFrame)
				}
				// The client's stack leaves the checksum to the "NIC":
				// veth passes it on partial.
				if !g.CsumNotReady {
					t.Errorf("frame %d: CsumNotReady false", i)
				}
				wantOff := Offload{}
				if tt.vnet {
					wantOff = Offload{CsumStart: want.csumStart, CsumOffset: 6}
				}
				if g.Offload != wantOff {
					t.Errorf("frame %d: offload %+v, want %+v", i, g.Offload, wantOff)
				}
				if !CompleteL4Checksum(&p) {
					t.Errorf("frame %d: cannot complete checksum", i)
				}
			}
			if s := r.Stats(); s.Packets != 2 || s.Drops != 0 {
				t.Errorf("stats %+v, want 2 packets", s)
			}
		})
	}
}

// TestRingFanout checks that two rings in one fanout group share the
// flows, each flow on one ring only.
func TestRingFanout(t *testing.T) {
	for _, tt := range ringVersions[:2] {
		t.Run(tt.name, func(t *testing.T) {
			h := lanLab(t, "c1", "lb")
			c1, lb := h["c1"], h["lb"]
			vip := netsim.VIP4(1)
			routeVIPsTo(t, c1, lb.Link("lan").MAC, vip)
			var rings [2]*Ring
			for i := range rings {
				rings[i] = openRing(t, lb, RingConfig{
					Version:     tt.v,
					FanoutGroup: 0x6773,
					Filter:      mustFilter(t, FilterService{Addr: vip, Proto: 17}),
				})
			}
			const flows, perFlow = 32, 4
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var conns []net.Conn
			for range flows {
				c, err := c1.DialContext(ctx, "udp", netip.AddrPortFrom(vip, 9).String())
				must(t, err)
				defer c.Close()
				conns = append(conns, c)
			}
			for i := range perFlow {
				for _, c := range conns {
					_, err := c.Write([]byte{byte(i)})
					must(t, err)
				}
			}
			var got [2][]rxCopy
			deadline := time.Now().Add(5 * time.Second)
			for len(got[0])+len(got[1]) < flows*perFlow && time.Now().Before(deadline) {
				for i, r := range rings {
					_, err := r.Next(time.Millisecond, func(f *RxFrame) {
						got[i] = append(got[i], rxCopy{data: append([]byte(nil), f.Data...)})
					})
					must(t, err)
				}
			}
			ringOf := make(map[uint16]int) // source port -> ring
			count := make(map[uint16]int)
			for i := range got {
				for _, g := range got[i] {
					var p Packet
					if v := ParseFrame(g.data, &p); v != Forwarded {
						t.Fatalf("ring %d: %v", i, v)
					}
					port := p.Key.SrcPort
					if r, ok := ringOf[port]; ok && r != i {
						t.Errorf("flow from port %d on rings %d and %d", port, r, i)
					}
					ringOf[port] = i
					count[port]++
				}
			}
			if len(count) != flows {
				t.Errorf("%d flows seen, want %d", len(count), flows)
			}
			for port, n := range count {
				if n != perFlow {
					t.Errorf("flow from port %d: %d packets, want %d", port, n, perFlow)
				}
			}
			t.Logf("ring 0: %d frames, ring 1: %d frames", len(got[0]), len(got[1]))
			if len(got[0]) == 0 || len(got[1]) == 0 {
				t.Errorf("one ring got nothing: %d and %d frames", len(got[0]), len(got[1]))
			}
		})
	}
}

// TestRingCloseWakesNext checks that Close wakes a Next blocked without a
// timeout, that signals (the runtime's SIGURG) do not, and that Next then
// reports the ring closed.
func TestRingCloseWakesNext(t *testing.T) {
	for _, tt := range ringVersions[:2] {
		t.Run(tt.name, func(t *testing.T) {
			h := lanLab(t, "lb")
			r := openRing(t, h["lb"], RingConfig{Version: tt.v, Filter: mustFilter(t)})
			done := make(chan error, 1)
			tid := make(chan int, 1)
			go func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				tid <- unix.Gettid()
				_, err := r.Next(-1, func(*RxFrame) {})
				done <- err
			}()
			thread := <-tid
			for range 10 { // let Next block, and interrupt its ppoll
				time.Sleep(5 * time.Millisecond)
				must(t, unix.Tgkill(unix.Getpid(), thread, unix.SIGURG))
			}
			time.Sleep(10 * time.Millisecond)
			select {
			case err := <-done:
				t.Fatalf("Next returned before Close: %v", err)
			default:
			}
			must(t, r.Close())
			select {
			case err := <-done:
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("Next after Close: %v, want net.ErrClosed", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("Close did not wake Next")
			}
			if _, err := r.Next(0, func(*RxFrame) {}); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Next on a closed ring: %v", err)
			}
			must(t, r.Close())
		})
	}
}

// TestRingSetFilter checks that a new filter takes effect on a running
// ring.
func TestRingSetFilter(t *testing.T) {
	h := lanLab(t, "c1", "lb")
	c1, lb := h["c1"], h["lb"]
	vip1, vip2 := netsim.VIP4(1), netsim.VIP4(2)
	routeVIPsTo(t, c1, lb.Link("lan").MAC, vip1, vip2)
	r := openRing(t, lb, RingConfig{Filter: mustFilter(t, FilterService{Addr: vip1, Proto: 17})})
	sendUDP(t, c1, netip.AddrPortFrom(vip2, 9), "before")
	if got := collect(t, r, 1, 0, 200*time.Millisecond); len(got) != 0 {
		t.Fatalf("got %d frames for a VIP not in the filter", len(got))
	}
	must(t, r.SetFilter(mustFilter(t, FilterService{Addr: vip2, Proto: 17})))
	sendUDP(t, c1, netip.AddrPortFrom(vip2, 9), "after")
	sendUDP(t, c1, netip.AddrPortFrom(vip1, 9), "old")
	got := collect(t, r, 1, 200*time.Millisecond, 5*time.Second)
	if len(got) != 1 || string(got[0].data[len(got[0].data)-5:]) != "after" {
		t.Fatalf("got %d frames, want the one after the change", len(got))
	}
}

// TestRingNextAllocs checks that a Next that hands out frames allocates
// nothing.
func TestRingNextAllocs(t *testing.T) {
	for _, tt := range ringVersions {
		t.Run(tt.name, func(t *testing.T) {
			h := lanLab(t, "c1", "lb")
			c1, lb := h["c1"], h["lb"]
			vip := netsim.VIP4(1)
			r := openRing(t, lb, RingConfig{Version: tt.v, VnetHdr: tt.vnet, BlockTimeout: time.Millisecond, Filter: mustFilter(t, FilterService{Addr: vip, Proto: 17})})
			tx := openTx(t, c1, nil)
			f := udpFrame(lb.Link("lan").MAC, c1.Link("lan").MAC, netip.AddrPortFrom(c1.Link("lan").Addr4, 1), netip.AddrPortFrom(vip, 2), make([]byte, 18))
			frames := 0
			fn := func(*RxFrame) { frames++ }
			allocs := testing.AllocsPerRun(50, func() {
				tx.Send(f)
				tx.Flush()
				for n := 0; n == 0; {
					var err error
					n, err = r.Next(time.Second, fn)
					if err != nil {
						t.Fatal(err)
					}
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per send and receive", allocs)
			}
			if frames < 50 {
				t.Errorf("%d frames received", frames)
			}
		})
	}
}
