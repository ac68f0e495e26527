package forward

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/govs-lb/govs/netsim"
)

// dialResult says how a TCP connection attempt ended: "ok", "refused"
// (an RST came back), "timeout" (nothing came back) or another error.
func dialResult(h *netsim.Host, to netip.AddrPort) string {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	c, err := h.DialContext(ctx, "tcp", to.String())
	switch {
	case err == nil:
		c.Close()
		return "ok"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return err.Error()
}

// udpResult sends a datagram and says what came back: "refused" (ICMP
// port unreachable), "timeout" or another error.
func udpResult(h *netsim.Host, to netip.AddrPort) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := h.DialContext(ctx, "udp", to.String())
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	c.Write([]byte("ping"))
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = c.Read(make([]byte, 16))
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT):
		return "timeout"
	case err != nil:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "timeout"
		}
		return err.Error()
	}
	return "answer"
}

// pingOnce sends an ICMP or ICMPv6 echo request from the host and waits
// for the reply.
func pingOnce(h *netsim.Host, to netip.Addr) error {
	network, laddr, typ, replyType := "ip4:icmp", "0.0.0.0", byte(8), byte(0)
	if to.Is6() {
		network, laddr, typ, replyType = "ip6:ipv6-icmp", "::", 128, 129
	}
	var c net.PacketConn
	if err := h.Do(func() error {
		var err error
		c, err = net.ListenPacket(network, laddr)
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	msg := []byte{typ, 0, 0, 0, 0x67, 0x73, 0, 1, 'g', 'o', 'v', 's'}
	if to.Is4() { // the kernel computes ICMPv6 checksums itself
		var s uint32
		for i := 0; i < len(msg); i += 2 {
			s += uint32(binary.BigEndian.Uint16(msg[i:]))
		}
		for s > 0xffff {
			s = s>>16 + s&0xffff
		}
		binary.BigEndian.PutUint16(msg[2:], ^uint16(s))
	}
	if _, err := c.WriteTo(msg, &net.IPAddr{IP: to.AsSlice()}); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("ping %v: %w", to, err)
		}
		a, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
		if a.Unmap() == to && n >= 8 && buf[0] == replyType && buf[4] == 0x67 {
			return nil
		}
	}
}

// netdevTables lists the netdev tables of the host.
func netdevTables(t testing.TB, h *netsim.Host) []string {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(h.NamespaceFD()))
	must(t, err)
	ts, err := c.ListTablesOfFamily(nftables.TableFamilyNetdev)
	must(t, err)
	var names []string
	for _, tb := range ts {
		names = append(names, tb.Name)
	}
	return names
}

// logRuleset logs nft's view of the host's ruleset, when nft is there.
func logRuleset(t testing.TB, h *netsim.Host) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		return
	}
	out, err := h.Run(context.Background(), "nft", "list", "ruleset")
	if err != nil {
		t.Errorf("nft list ruleset: %v", err)
	}
	t.Logf("ruleset:\n%s", out)
}

// TestIngressGuard checks, with the VIPs as local addresses of the
// balancer and IP forwarding on, that the guard keeps the balancer's
// stack from answering service packets (no RST, no ICMP port
// unreachable) while the ring still gets them, that ARP, ICMP echo and
// other ports are untouched, and that Update and Remove take effect.
func TestIngressGuard(t *testing.T) {
	h := lanLab(t, "c1", "lb")
	c1, lb := h["c1"], h["lb"]
	vip4, vip6 := netsim.VIP4(1), netsim.VIP6(1)
	for _, v := range []netip.Addr{vip4, vip6} {
		must(t, lb.AddAddr("lan", netip.PrefixFrom(v, v.BitLen())))
		must(t, c1.AddLinkRoute(netip.PrefixFrom(v, v.BitLen()), "lan"))
	}
	must(t, lb.EnableForwarding())
	services := []FilterService{
		{Addr: vip4, Proto: 6, Port: 80},
		{Addr: vip6, Proto: 6, Port: 80},
		{Addr: vip4, Proto: 17}, // any port
		{Addr: vip6, Proto: 17, Port: 53},
	}
	r := openRing(t, lb, RingConfig{Filter: mustFilter(t, services...)})

	// Without the guard, the stack answers.
	for _, v := range []netip.Addr{vip4, vip6} {
		if got := dialResult(c1, netip.AddrPortFrom(v, 80)); got != "refused" {
			t.Fatalf("without guard, TCP to %v:80: %s, want refused", v, got)
		}
	}
	if got := udpResult(c1, netip.AddrPortFrom(vip4, 1234)); got != "refused" {
		t.Fatalf("without guard, UDP to %v:1234: %s, want refused", vip4, got)
	}
	collect(t, r, 100, 0, 100*time.Millisecond) // drain

	g, err := InstallIngressGuard(lb.NamespaceFD(), "govs", []string{"lan"}, services)
	must(t, err)
	t.Cleanup(func() { g.Remove() })
	logRuleset(t, lb)

	for _, tt := range []struct {
		to   netip.AddrPort
		udp  bool
		want string
	}{
		{netip.AddrPortFrom(vip4, 80), false, "timeout"},
		{netip.AddrPortFrom(vip6, 80), false, "timeout"},
		{netip.AddrPortFrom(vip4, 22), false, "refused"}, // not a service
		{netip.AddrPortFrom(vip6, 22), false, "refused"},
		{netip.AddrPortFrom(vip4, 1234), true, "timeout"},
		{netip.AddrPortFrom(vip6, 53), true, "timeout"},
		{netip.AddrPortFrom(vip6, 54), true, "refused"},
	} {
		var got string
		if tt.udp {
			got = udpResult(c1, tt.to)
		} else {
			got = dialResult(c1, tt.to)
		}
		if got != tt.want {
			t.Errorf("with guard, udp %v to %v: %s, want %s", tt.udp, tt.to, got, tt.want)
		}
	}
	// The ring got the service packets (SYNs are retransmitted: at least one each).
	got := collect(t, r, 4, 100*time.Millisecond, 2*time.Second)
	seen := make(map[netip.AddrPort]bool)
	for _, f := range got {
		var p Packet
		if ParseFrame(f.data, &p) == Forwarded {
			seen[netip.AddrPortFrom(p.Key.Dst.Addr(), p.Key.DstPort)] = true
		}
	}
	for _, ap := range []string{"198.19.0.1:80", "[2001:db8:ffff::1]:80", "198.19.0.1:1234", "[2001:db8:ffff::1]:53"} {
		if !seen[netip.MustParseAddrPort(ap)] {
			t.Errorf("ring did not get the packet to %s (got %v)", ap, seen)
		}
	}
	// ICMP echo and ARP still work.
	for _, v := range []netip.Addr{vip4, vip6} {
		if err := pingOnce(c1, v); err != nil {
			t.Errorf("with guard: %v", err)
		}
		mac, err := c1.Neighbor("lan", v)
		must(t, err)
		if mac.String() != lb.Link("lan").MAC.String() {
			t.Errorf("client's neighbour entry for %v: %v, want the balancer's", v, mac)
		}
	}

	// Update: port 80 is the stack's again, 81 is guarded.
	must(t, g.Update([]FilterService{{Addr: vip4, Proto: 6, Port: 81}}))
	if got := dialResult(c1, netip.AddrPortFrom(vip4, 80)); got != "refused" {
		t.Errorf("after update, TCP to port 80: %s, want refused", got)
	}
	if got := dialResult(c1, netip.AddrPortFrom(vip4, 81)); got != "timeout" {
		t.Errorf("after update, TCP to port 81: %s, want timeout", got)
	}
	if got := udpResult(c1, netip.AddrPortFrom(vip4, 1234)); got != "refused" {
		t.Errorf("after update, UDP to port 1234: %s, want refused", got)
	}

	must(t, g.Remove())
	if ts := netdevTables(t, lb); len(ts) != 0 {
		t.Errorf("tables after Remove: %v", ts)
	}
	if got := dialResult(c1, netip.AddrPortFrom(vip4, 81)); got != "refused" {
		t.Errorf("after remove, TCP to port 81: %s, want refused", got)
	}
	must(t, g.Remove())
	if err := g.Update(services); err == nil {
		t.Error("Update after Remove: no error")
	}
}

// TestIngressGuardStale checks that a table left by an earlier run is
// replaced at install, and removed by RemoveStaleIngressGuard.
func TestIngressGuardStale(t *testing.T) {
	h := lanLab(t, "c1", "lb")
	c1, lb := h["c1"], h["lb"]
	vip := netsim.VIP4(1)
	must(t, lb.AddAddr("lan", netip.PrefixFrom(vip, 32)))
	must(t, c1.AddLinkRoute(netip.PrefixFrom(vip, 32), "lan"))

	// An earlier run's table, with its own rules.
	stale, err := InstallIngressGuard(lb.NamespaceFD(), "govs", []string{"lan"}, []FilterService{{Addr: vip, Proto: 6, Port: 80}})
	must(t, err)
	stale.closeNS() // crashed: never removed

	g, err := InstallIngressGuard(lb.NamespaceFD(), "govs", []string{"lan"}, []FilterService{{Addr: vip, Proto: 6, Port: 81}})
	must(t, err)
	if ts := netdevTables(t, lb); len(ts) != 1 || ts[0] != "govs" {
		t.Errorf("tables: %v, want one", ts)
	}
	if got := dialResult(c1, netip.AddrPortFrom(vip, 80)); got != "refused" {
		t.Errorf("TCP to port 80 (stale rule): %s, want refused", got)
	}
	if got := dialResult(c1, netip.AddrPortFrom(vip, 81)); got != "timeout" {
		t.Errorf("TCP to port 81: %s, want timeout", got)
	}
	g.closeNS() // crashed too

	must(t, RemoveStaleIngressGuard(lb.NamespaceFD(), "govs"))
	if ts := netdevTables(t, lb); len(ts) != 0 {
		t.Errorf("tables after RemoveStaleIngressGuard: %v", ts)
	}
	must(t, RemoveStaleIngressGuard(lb.NamespaceFD(), "govs")) // none: fine
	// Kernels that refuse a netdev chain for a missing device make this
	// an error; others (6.18) hook the device when it appears.
	g, err = InstallIngressGuard(lb.NamespaceFD(), "govs", []string{"nosuchif"}, nil)
	t.Logf("install on a missing interface: %v", err)
	if err == nil {
		must(t, g.Remove())
	}
}
