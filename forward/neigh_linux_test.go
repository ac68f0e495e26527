package forward

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/netsim"
	"github.com/vishvananda/netlink"
)

// openNeighbors starts Neighbors in the host's namespace, watching its
// "lan" interface, closed when the test ends.
func openNeighbors(t testing.TB, h *netsim.Host) *Neighbors {
	t.Helper()
	var n *Neighbors
	must(t, h.Do(func() error {
		var err error
		n, err = NewNeighbors(context.Background(), &NeighborsConfig{
			Ifindexes:       []int{h.Link("lan").Index},
			ResolveInterval: 500 * time.Millisecond,
			Logger:          netsimtest.Logger(t),
		})
		return err
	}))
	t.Cleanup(func() { n.Close() })
	return n
}

func waitMAC(t testing.TB, n *Neighbors, ifindex int, a netip.Addr, want net.HardwareAddr) {
	t.Helper()
	netsimtest.Eventually(t, 5*time.Second, func() error {
		mac, ok := n.Lookup(ifindex, Addr16From(a))
		if want == nil {
			if ok {
				return fmt.Errorf("%v still at %v", a, net.HardwareAddr(mac[:]))
			}
			return nil
		}
		if !ok || mac != mac6(want) {
			return fmt.Errorf("%v: %v %v, want %v", a, net.HardwareAddr(mac[:]), ok, want)
		}
		return nil
	})
}

// TestNeighborsResolve checks that a missing real server is resolved, by
// ARP and by NDP, after Resolve, and that an address without a host stays
// unresolved.
func TestNeighborsResolve(t *testing.T) {
	h := lanLab(t, "lb", "r1")
	lb, r1 := h["lb"], h["r1"]
	n := openNeighbors(t, lb)
	ifindex := lb.Link("lan").Index
	for _, a := range []netip.Addr{r1.Link("lan").Addr4, r1.Link("lan").Addr6} {
		if _, ok := n.Lookup(ifindex, Addr16From(a)); ok {
			t.Fatalf("%v known before resolution", a)
		}
		n.Resolve(ifindex, Addr16From(a))
		waitMAC(t, n, ifindex, a, r1.Link("lan").MAC)
		// The kernel's table has it too.
		mac, err := lb.Neighbor("lan", a)
		must(t, err)
		if mac.String() != r1.Link("lan").MAC.String() {
			t.Errorf("kernel's entry for %v: %v", a, mac)
		}
	}

	// Nobody there: the kernel gives up, the table stays without it, and
	// the many Resolve calls of a packet flood make one request.
	nobody := netip.MustParseAddr("198.18.1.99")
	before := n.Stats().Resolutions
	for range 1000 {
		n.Resolve(ifindex, Addr16From(nobody))
	}
	netsimtest.Eventually(t, 2*time.Second, func() error {
		if got := n.Stats().Resolutions - before; got != 1 {
			return fmt.Errorf("%d resolutions asked, want 1", got)
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond)
	if _, ok := n.Lookup(ifindex, Addr16From(nobody)); ok {
		t.Errorf("%v resolved", nobody)
	}
	if s := n.Stats(); s.ResolveErrors != 0 || s.Resolutions != before+1 {
		t.Errorf("stats %+v", s)
	}
	// After the interval, a new request goes out.
	time.Sleep(600 * time.Millisecond)
	n.Resolve(ifindex, Addr16From(nobody))
	netsimtest.Eventually(t, 2*time.Second, func() error {
		if got := n.Stats().Resolutions - before; got != 2 {
			return fmt.Errorf("%d resolutions asked, want 2", got)
		}
		return nil
	})
}

// TestNeighborsFollowChanges checks that the table follows the kernel's:
// entries added, changed and deleted; entries of other interfaces are
// ignored; and entries present at start are there at once.
func TestNeighborsFollowChanges(t *testing.T) {
	h := lanLab(t, "lb")
	lb := h["lb"]
	ifindex := lb.Link("lan").Index
	early := netip.MustParseAddr("198.18.1.50")
	must(t, lb.AddNeighbor("lan", early, netsim.HostMAC(1, 50)))
	n := openNeighbors(t, lb)
	if mac, ok := n.Lookup(ifindex, Addr16From(early)); !ok || mac != mac6(netsim.HostMAC(1, 50)) {
		t.Errorf("entry present at start: %v %v", mac, ok)
	}

	for _, a := range []netip.Addr{netip.MustParseAddr("198.18.1.60"), netip.MustParseAddr("2001:db8:0:1::60")} {
		must(t, lb.AddNeighbor("lan", a, netsim.HostMAC(1, 60)))
		waitMAC(t, n, ifindex, a, netsim.HostMAC(1, 60))
		must(t, lb.AddNeighbor("lan", a, netsim.HostMAC(1, 61))) // the real server moved
		waitMAC(t, n, ifindex, a, netsim.HostMAC(1, 61))
		must(t, lb.Netlink().NeighDel(&netlink.Neigh{LinkIndex: ifindex, IP: a.AsSlice()}))
		waitMAC(t, n, ifindex, a, nil)
	}

	// lo is not watched.
	lo, err := lb.Netlink().LinkByName("lo")
	must(t, err)
	must(t, lb.AddNeighbor("lo", netip.MustParseAddr("198.18.1.70"), netsim.HostMAC(1, 70)))
	must(t, lb.AddNeighbor("lan", netip.MustParseAddr("198.18.1.71"), netsim.HostMAC(1, 71)))
	waitMAC(t, n, ifindex, netip.MustParseAddr("198.18.1.71"), netsim.HostMAC(1, 71))
	if _, ok := n.Lookup(lo.Attrs().Index, Addr16From(netip.MustParseAddr("198.18.1.70"))); ok {
		t.Error("entry of an unwatched interface")
	}
	must(t, n.Close())
	must(t, n.Close())
	// The last table still answers.
	if _, ok := n.Lookup(ifindex, Addr16From(netip.MustParseAddr("198.18.1.71"))); !ok {
		t.Error("no answer after Close")
	}
}

// benchNeighbors returns Neighbors with a table of n entries and no owner.
func benchNeighbors(n int) (*Neighbors, []Addr16) {
	nb := &Neighbors{interval: int64(time.Second), start: time.Now(), resolve: make(chan neighKey, neighQueue)}
	m := make(map[neighKey][6]byte)
	var addrs []Addr16
	for i := range n {
		a := Addr16From4([4]byte{198, 18, byte(i >> 8), byte(i)})
		addrs = append(addrs, a)
		m[neighKey{ifindex: 2, addr: a}] = [6]byte{2, 0, 0, 0, byte(i >> 8), byte(i)}
	}
	nb.table.Store(&m)
	return nb, addrs
}

func TestNeighborsLookupAllocs(t *testing.T) {
	n, addrs := benchNeighbors(100)
	if a := testing.AllocsPerRun(100, func() {
		n.Lookup(2, addrs[7])
		n.Resolve(2, addrs[8]) // rate-limited after the first
		n.Lookup(3, addrs[7])
	}); a != 0 {
		t.Errorf("%v allocations", a)
	}
}

func BenchmarkNeighborsLookup(b *testing.B) {
	n, addrs := benchNeighbors(1000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := n.Lookup(2, addrs[i&511]); !ok {
			b.Fatal("missing")
		}
		i++
	}
}

// BenchmarkNeighborsResolve measures Resolve for an unresolved address,
// rate-limited: the cost per packet to an unresolved real server.
func BenchmarkNeighborsResolve(b *testing.B) {
	n, addrs := benchNeighbors(10)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n.Resolve(2, addrs[3])
		}
	})
}
