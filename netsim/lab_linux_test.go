package netsim_test

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/netsim"
	"golang.org/x/sys/unix"
)

func TestAddressAndMACPlan(t *testing.T) {
	lab := netsimtest.New(t)
	a, err := lab.AddSegment("a")
	must(t, err)
	b, err := lab.AddSegment("b")
	must(t, err)
	h1, err := lab.AddHost("h1")
	must(t, err)
	h2, err := lab.AddHost("h2")
	must(t, err)
	for _, j := range []struct {
		h *netsim.Host
		s *netsim.Segment
	}{{h1, a}, {h2, a}, {h2, b}} {
		_, err := j.h.Join(j.s)
		must(t, err)
	}
	type row struct{ Host, Iface, MAC, Addr4, Addr6 string }
	var got []row
	for _, h := range lab.Hosts() {
		for _, l := range h.Links() {
			got = append(got, row{h.Name(), l.Name, l.MAC.String(), l.Addr4.String(), l.Addr6.String()})
			// What the kernel has matches what the Link says.
			nl, err := h.Netlink().LinkByIndex(l.Index)
			must(t, err)
			if nl.Attrs().Name != l.Name || nl.Attrs().HardwareAddr.String() != l.MAC.String() {
				t.Errorf("%s: kernel has %s %s", h.Name(), nl.Attrs().Name, nl.Attrs().HardwareAddr)
			}
		}
	}
	want := []row{
		{"h1", "a", "02:67:73:01:01:00", "198.18.1.1", "2001:db8:0:1::1"},
		{"h2", "a", "02:67:73:01:02:00", "198.18.1.2", "2001:db8:0:1::2"},
		{"h2", "b", "02:67:73:02:02:00", "198.18.2.2", "2001:db8:0:2::2"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
}

func TestNamesAreChecked(t *testing.T) {
	lab := netsimtest.New(t)
	for _, name := range []string{"", "lo", "br", "Web", "a-b", "1a", "abcdefghijklmnop"} {
		if _, err := lab.AddHost(name); err == nil {
			t.Errorf("AddHost(%q): no error", name)
		}
		if _, err := lab.AddSegment(name); err == nil {
			t.Errorf("AddSegment(%q): no error", name)
		}
	}
	_, err := lab.AddHost("h")
	must(t, err)
	if _, err := lab.AddHost("h"); err == nil {
		t.Error("second AddHost(h): no error")
	}
}

// TestRoutedSegments checks a router host between two segments, for IPv4
// and IPv6, with TCP echo.
func TestRoutedSegments(t *testing.T) {
	lab := netsimtest.New(t)
	client, err := lab.AddSegment("client")
	must(t, err)
	server, err := lab.AddSegment("server")
	must(t, err)
	c1, err := lab.AddHost("c1")
	must(t, err)
	rt, err := lab.AddHost("rt")
	must(t, err)
	s1, err := lab.AddHost("s1")
	must(t, err)
	must(t, rt.EnableForwarding())
	for _, j := range []struct {
		h *netsim.Host
		s *netsim.Segment
	}{{c1, client}, {rt, client}, {rt, server}, {s1, server}} {
		_, err := j.h.Join(j.s)
		must(t, err)
	}
	for _, gw := range []netip.Addr{rt.Addr4("client"), rt.Addr6("client")} {
		must(t, c1.AddDefaultRoute(gw))
	}
	for _, gw := range []netip.Addr{rt.Addr4("server"), rt.Addr6("server")} {
		must(t, s1.AddDefaultRoute(gw))
	}
	_, err = s1.StartTCPEcho(":7")
	must(t, err)

	for _, dst := range []netip.Addr{s1.Addr4("server"), s1.Addr6("server")} {
		t.Run(dst.String(), func(t *testing.T) {
			ctx := testContext(t, 5*time.Second)
			start := time.Now()
			c, err := c1.DialContext(ctx, "tcp", netip.AddrPortFrom(dst, 7).String())
			must(t, err)
			// A connection right after Join must not wait for a SYN
			// retransmission (1s): Join returns only once links carry
			// frames.
			if d := time.Since(start); d > 900*time.Millisecond {
				t.Errorf("connect took %v: first packets lost", d)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			_, err = c.Write([]byte("hello\n"))
			must(t, err)
			line, err := bufio.NewReader(c).ReadString('\n')
			must(t, err)
			if line != "hello\n" {
				t.Errorf("echo = %q, want %q", line, "hello\n")
			}
			// The server saw the client's own address: routed, not NATed.
			if got := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap(); got != c1.Addr4("client") && got != c1.Addr6("client") {
				t.Errorf("client address %v", got)
			}
		})
	}
}

// TestTallies checks the traffic helpers end to end without a balancer:
// the HTTP tally names the server, and UDP flows each get their own source
// port which the echo server counts.
func TestTallies(t *testing.T) {
	_, h := lan(t, "c1", "s1")
	_, err := h["s1"].StartHTTPServer(":80")
	must(t, err)
	tally, err := h["c1"].HTTPTally(testContext(t, 5*time.Second), netip.AddrPortFrom(h["s1"].Addr4("lan"), 80), 10)
	must(t, err)
	if diff := cmp.Diff(map[string]int{"s1": 10}, tally); diff != "" {
		t.Errorf("tally (-want +got):\n%s", diff)
	}

	target := netip.AddrPortFrom(h["s1"].Addr4("lan"), 5353)
	echo, err := h["s1"].StartUDPEcho(target)
	must(t, err)
	const flows, packets = 32, 10
	res, err := h["c1"].UDPFlows(netsim.UDPFlows{Target: target, Flows: flows, Packets: packets, Timeout: 5 * time.Second})
	must(t, err)
	if res.Sent != flows*packets || res.Received != flows*packets {
		t.Errorf("sent %d, received %d: want %d each", res.Sent, res.Received, flows*packets)
	}
	want := make(map[netip.AddrPort]int)
	for _, f := range res.Flows {
		want[f.Local] = packets
	}
	if len(want) != flows {
		t.Errorf("%d distinct flows, want %d", len(want), flows)
	}
	if diff := cmp.Diff(want, echo.Flows()); diff != "" {
		t.Errorf("echo server's flows (-want +got):\n%s", diff)
	}
}

// TestDoStaysInNamespace checks that Do runs inside the host, that the
// caller's thread is left alone, and that sockets keep their namespace.
func TestDoStaysInNamespace(t *testing.T) {
	_, h := lan(t, "a", "b")
	self, err := os.Readlink("/proc/thread-self/ns/net")
	must(t, err)
	var inside string
	must(t, h["a"].Do(func() error {
		var err error
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}))
	var st unix.Stat_t
	must(t, unix.Stat(h["a"].NamespacePath(), &st))
	if want := "net:[" + strconv.FormatUint(st.Ino, 10) + "]"; inside != want {
		t.Errorf("inside Do: namespace %s, want %s", inside, want)
	}
	// Many Do calls: none leaves a thread in the host's namespace.
	for range 50 {
		must(t, h["b"].Do(func() error { return nil }))
		if got, _ := os.Readlink("/proc/thread-self/ns/net"); got != self {
			t.Fatalf("after Do: caller's namespace %s, want %s", got, self)
		}
	}
	// A panic in fn reaches the caller, and the namespace is restored.
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		h["a"].Do(func() error { panic("boom") })
	}()
	// Sysctls are per namespace.
	must(t, h["a"].SetSysctl("net.ipv4.ip_forward", "1"))
	for name, want := range map[string]string{"a": "1", "b": "0"} {
		got, err := h[name].Sysctl("net.ipv4.ip_forward")
		must(t, err)
		if got != want {
			t.Errorf("host %s: ip_forward = %s, want %s", name, got, want)
		}
	}
	if err := h["a"].SetSysctl("kernel.hostname", "x"); err == nil {
		t.Error("SetSysctl(kernel.hostname): no error")
	}
}

func TestCommandRunsInHost(t *testing.T) {
	netsimtest.RequireProgram(t, "ip")
	_, h := lan(t, "a")
	out, err := h["a"].Run(testContext(t, 5*time.Second), "ip", "-brief", "link", "show", "lan")
	must(t, err)
	if !strings.Contains(string(out), "02:67:73:01:01:00") {
		t.Errorf("ip link in host: %s", out)
	}
	must(t, h["a"].AddNeighbor("lan", netip.MustParseAddr("198.18.1.99"), net.HardwareAddr{2, 0, 0, 0, 0, 0x99}))
	mac, err := h["a"].Neighbor("lan", netip.MustParseAddr("198.18.1.99"))
	must(t, err)
	if mac.String() != "02:00:00:00:00:99" {
		t.Errorf("neighbour = %v", mac)
	}
}

// TestDoGoexit checks that t.FailNow-style exits inside Do return an error
// to the caller instead of hanging it.
func TestDoGoexit(t *testing.T) {
	_, h := lan(t, "a")
	err := h["a"].Do(func() error {
		runtime.Goexit()
		return nil
	})
	if err == nil {
		t.Error("Do: no error after Goexit")
	}
	self, _ := os.Readlink("/proc/thread-self/ns/net")
	must(t, h["a"].Do(func() error { return nil }))
	if got, _ := os.Readlink("/proc/thread-self/ns/net"); got != self {
		t.Errorf("caller's namespace %s, want %s", got, self)
	}
}
