package netsim

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// These tests run the servers and clients on loopback, without root.

func TestHTTPTallyOnLoopback(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := StartHTTPServer(l, "web1")
	defer s.Close()
	var d net.Dialer
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	tally, err := HTTPTally(ctx, d.DialContext, s.Addr().String(), 5)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"web1": 5}, tally); diff != "" {
		t.Errorf("tally (-want +got):\n%s", diff)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// With the server gone every request fails, and the error says so.
	tally, err = HTTPTally(ctx, d.DialContext, s.Addr().String(), 3)
	if err == nil || len(tally) != 0 {
		t.Errorf("tally %v, error %v: want failures", tally, err)
	}
}

func TestTCPEchoOnLoopback(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := StartTCPEcho(l)
	c, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Errorf("echo %q, %v", line, err)
	}
	// Close ends open connections too.
	if err := e.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("connection still open after Close")
	}
}

func TestUDPFlowsOnLoopback(t *testing.T) {
	sc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	e := StartUDPEcho(sc)
	defer e.Close()
	target := sc.LocalAddr().(*net.UDPAddr).AddrPort()
	const flows, packets = 8, 5
	var conns []*net.UDPConn
	for range flows {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(target))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	res, err := RunUDPFlows(UDPFlows{Target: target, Flows: flows, Packets: packets}, conns)
	if err != nil {
		t.Fatal(err)
	}
	want := make(map[netip.AddrPort]int)
	for _, f := range res.Flows {
		want[f.Local] = packets
		if f.Sent != packets || f.Received != packets {
			t.Errorf("flow %v: sent %d received %d, want %d", f.Local, f.Sent, f.Received, packets)
		}
	}
	if diff := cmp.Diff(want, e.Flows()); diff != "" {
		t.Errorf("echo flows (-want +got):\n%s", diff)
	}
	if got := e.Packets(); got != flows*packets {
		t.Errorf("echo packets %d, want %d", got, flows*packets)
	}
}

func TestUDPFlowsBounds(t *testing.T) {
	target := netip.MustParseAddrPort("198.19.0.1:53")
	tests := []struct {
		name string
		f    UDPFlows
	}{
		{"no target", UDPFlows{Flows: 1, Packets: 1}},
		{"no flows", UDPFlows{Target: target, Packets: 1}},
		{"too many flows", UDPFlows{Target: target, Flows: MaxUDPFlows + 1, Packets: 1}},
		{"too many packets", UDPFlows{Target: target, Flows: 1000, Packets: 1001}},
		{"too long", UDPFlows{Target: target, Flows: 1, Packets: 1, Timeout: 2 * MaxUDPTimeout}},
		{"tiny payload", UDPFlows{Target: target, Flows: 1, Packets: 1, Size: 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := RunUDPFlows(tt.f, nil); err == nil {
				t.Error("no error")
			}
		})
	}
}
