package vrrp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/govs-lb/govs/config"
	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/internal/vrrptest"
	"github.com/govs-lb/govs/netsim"
)

// The interop tests put govs and Debian's keepalived on one segment with a
// client, and check on the wire and in the client's neighbour table that
// they agree on who is master. They log the failover times they measure
// from the client's capture.

type variant struct {
	name    string
	version int
	advert  string // advert_int
	auth    string // auth_type, or ""
}

var variants = []variant{
	{"v2 PASS", 2, "1", "PASS"},
	{"v2 AH", 2, "1", "AH"},
	{"v3", 3, "0.5", ""},
}

func (v variant) advertInt() time.Duration {
	d, _ := time.ParseDuration(v.advert + "s")
	return d
}

func (v variant) conf(prio int, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "vrrp_instance VI {\n    interface lan\n    virtual_router_id 51\n    priority %d\n", prio)
	fmt.Fprintf(&b, "    advert_int %s\n    version %d\n", v.advert, v.version)
	if v.auth != "" {
		fmt.Fprintf(&b, "    authentication {\n        auth_type %s\n        auth_pass gvbpass1\n    }\n", v.auth)
	}
	fmt.Fprintf(&b, "    virtual_ipaddress {\n        %s/32\n    }\n%s}\n", netsim.VIP4(1), extra)
	return b.String()
}

type lab struct {
	t              *testing.T
	ka, gv, cl     *netsim.Host
	capture        *netsim.Capture
	kaProc         *netsim.Process
	govsStop       func()
	govs           *Manager
	vip            netip.Addr
	kaMAC, gvMAC   string
	kaAddr, gvAddr netip.Addr
}

func newLab(t *testing.T) *lab {
	netsimtest.RequireProgram(t, "keepalived")
	netsimtest.RequireProgram(t, "tcpdump")
	nl := netsimtest.New(t)
	seg, err := nl.AddSegment("lan")
	must(t, err)
	l := &lab{t: t, vip: netsim.VIP4(1)}
	for _, h := range []struct {
		p    **netsim.Host
		name string
	}{{&l.ka, "ka"}, {&l.gv, "gv"}, {&l.cl, "cl"}} {
		host, err := nl.AddHost(h.name)
		must(t, err)
		_, err = host.Join(seg)
		must(t, err)
		*h.p = host
	}
	must(t, l.cl.AddLinkRoute(netsim.VIPPrefix4(), "lan"))
	l.kaMAC, l.gvMAC = l.ka.Link("lan").MAC.String(), l.gv.Link("lan").MAC.String()
	l.kaAddr, l.gvAddr = l.ka.Addr4("lan"), l.gv.Addr4("lan")
	l.capture, err = l.cl.StartTcpdump("lan", "ip proto 112 or ip proto 51")
	must(t, err)
	return l
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (l *lab) startKeepalived(conf string) {
	p, err := l.ka.StartKeepalived(conf, "--vrrp")
	must(l.t, err)
	l.kaProc = p
}

func (l *lab) startGovs(conf string) {
	sys, err := SystemNetwork(l.gv.NamespaceFD())
	must(l.t, err)
	l.startGovsOn(conf, sys)
}

func (l *lab) startGovsOn(conf string, netw Network) {
	cfg, diags := config.Parse("govs.conf", []byte(conf), nil)
	if diags.HasErrors() {
		l.t.Fatal(diags)
	}
	m := NewManager(&Options{Logger: netsimtest.Logger(l.t), Network: netw})
	must(l.t, m.Update(cfg))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	l.govs = m
	l.govsStop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				l.t.Errorf("govs Run: %v", err)
			}
			netw.Close()
		})
	}
	l.t.Cleanup(l.govsStop)
}

func (l *lab) hasVIP(h *netsim.Host) bool {
	addrs, err := h.Netlink().AddrList(nil, 0)
	must(l.t, err)
	for _, a := range addrs {
		if ip, _ := netip.AddrFromSlice(a.IP); ip.Unmap() == l.vip {
			return true
		}
	}
	return false
}

// waitMaster waits until master holds the VIP and the other does not.
func (l *lab) waitMaster(master *netsim.Host, timeout time.Duration) {
	l.t.Helper()
	other := l.ka
	if master == l.ka {
		other = l.gv
	}
	netsimtest.Eventually(l.t, timeout, func() error {
		if !l.hasVIP(master) || l.hasVIP(other) {
			return fmt.Errorf("want the VIP on %s only: %s %v, %s %v", master.Name(), master.Name(), l.hasVIP(master), other.Name(), l.hasVIP(other))
		}
		return nil
	})
}

// touch makes the client resolve the VIP.
func (l *lab) touch() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := l.cl.DialContext(ctx, "udp", netip.AddrPortFrom(l.vip, 9).String())
	must(l.t, err)
	c.Write([]byte("x"))
	c.Close()
}

// waitARP waits until the client's neighbour entry for the VIP is mac.
func (l *lab) waitARP(mac string, timeout time.Duration) time.Duration {
	l.t.Helper()
	start := time.Now()
	netsimtest.Eventually(l.t, timeout, func() error {
		got, err := l.cl.Neighbor("lan", l.vip)
		if err != nil {
			return err
		}
		if got.String() != mac {
			return fmt.Errorf("client resolves %s to %s, want %s", l.vip, got, mac)
		}
		return nil
	})
	return time.Since(start)
}

type seen struct {
	at   time.Time
	src  netip.Addr
	prio uint8
}

// adverts stops the capture and returns the adverts seen by the client.
func (l *lab) adverts() []seen {
	l.t.Helper()
	time.Sleep(100 * time.Millisecond)
	must(l.t, l.capture.Stop())
	frames, err := vrrptest.ReadPcap(l.capture.Path)
	must(l.t, err)
	var out []seen
	for _, f := range frames {
		if len(f.Data) < 14 || binary.BigEndian.Uint16(f.Data[12:]) != 0x0800 {
			continue
		}
		ip := f.Data[14:]
		if ip[1] != tosNetControl || ip[8] != 255 || binary.BigEndian.Uint16(ip[6:]) != 0 {
			l.t.Errorf("advert with TOS %#x, TTL %d, flags %#x: want 0xc0, 255, DF clear", ip[1], ip[8], binary.BigEndian.Uint16(ip[6:]))
		}
		p, v := Parse(ip)
		if v != Accepted {
			l.t.Errorf("captured packet does not parse: %v", v)
			continue
		}
		out = append(out, seen{f.Time, p.Src, p.Priority})
	}
	return out
}

// failover returns the time from the old master's last advert (or its
// priority-0 advert) after since to the new master's first advert.
func failover(ads []seen, since time.Time, old, cur netip.Addr) (time.Duration, error) {
	var last time.Time
	for _, a := range ads {
		if a.at.Before(since) {
			continue
		}
		if a.src == old {
			last = a.at
			continue
		}
		if a.src == cur && !last.IsZero() && a.prio > 0 {
			return a.at.Sub(last), nil
		}
	}
	return 0, errors.New("no failover in the capture")
}

func TestInterop(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name+"/govs preempts keepalived then stops", func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			l.startKeepalived(v.conf(100, ""))
			l.waitMaster(l.ka, 10*time.Second)
			l.touch()
			l.waitARP(l.kaMAC, time.Second)
			l.startGovs(v.conf(150, ""))
			l.waitMaster(l.gv, 10*time.Second)
			t.Logf("client ARP followed govs in %v", l.waitARP(l.gvMAC, time.Second))
			stopped := time.Now()
			l.govsStop()
			l.waitMaster(l.ka, 5*time.Second)
			t.Logf("client ARP followed keepalived in %v", l.waitARP(l.kaMAC, time.Second))
			d, err := failover(l.adverts(), stopped, l.gvAddr, l.kaAddr)
			must(t, err)
			limit := skew(v.version, v.advertInt(), 100) + 300*time.Millisecond
			t.Logf("%s: graceful stop of govs: keepalived's first advert %v after govs's priority 0 (limit %v)", v.name, d, limit)
			if d > limit {
				t.Errorf("takeover took %v, more than skew time + 0.3 s = %v", d, limit)
			}
		})
		t.Run(v.name+"/keepalived preempts govs then crashes", func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			l.startGovs(v.conf(100, ""))
			l.waitMaster(l.gv, 10*time.Second)
			l.touch()
			l.waitARP(l.gvMAC, time.Second)
			l.startKeepalived(v.conf(150, ""))
			l.waitMaster(l.ka, 10*time.Second)
			if st := l.govs.States()["VI"].State; st != StateBackup {
				t.Errorf("govs is %v, want BACKUP", st)
			}
			l.waitARP(l.kaMAC, time.Second)
			killed := time.Now()
			must(t, l.kaProc.Signal(syscall.SIGKILL))
			netsimtest.Eventually(t, 10*time.Second, func() error {
				if st := l.govs.States()["VI"].State; st != StateMaster {
					return fmt.Errorf("govs is %v", st)
				}
				return nil
			})
			t.Logf("client ARP followed govs in %v", l.waitARP(l.gvMAC, time.Second))
			d, err := failover(l.adverts(), killed.Add(-3*time.Second), l.kaAddr, l.gvAddr)
			must(t, err)
			limit := masterDownInterval(v.version, 3, v.advertInt(), 100) + 500*time.Millisecond
			t.Logf("%s: keepalived killed: govs's first advert %v after keepalived's last (limit %v)", v.name, d, limit)
			if d > limit {
				t.Errorf("takeover took %v, more than master_down_interval + 0.5 s = %v", d, limit)
			}
		})
	}
}

// crashNet is the system network until crash: from then on nothing the
// Manager sends leaves, as when its process is killed (the addresses stay
// on the interface, as after a SIGKILL).
type crashNet struct {
	Network
	crashed atomic.Bool
}

func (c *crashNet) Listen(spec SocketSpec) (net.PacketConn, error) {
	pc, err := c.Network.Listen(spec)
	if err != nil {
		return nil, err
	}
	return &crashConn{PacketConn: pc, crashed: &c.crashed}, nil
}

func (c *crashNet) SendGARP(ifname string, addr netip.Addr) error {
	if c.crashed.Load() {
		return nil
	}
	return c.Network.SendGARP(ifname, addr)
}

type crashConn struct {
	net.PacketConn
	crashed *atomic.Bool
}

func (c *crashConn) WriteTo(b []byte, a net.Addr) (int, error) {
	if c.crashed.Load() {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, a)
}

// TestInteropGovsCrash: govs, master, goes silent at once; keepalived
// takes over within master_down_interval + 0.5 s.
func TestInteropGovsCrash(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			sys, err := SystemNetwork(l.gv.NamespaceFD())
			must(t, err)
			cn := &crashNet{Network: sys}
			l.startGovsOn(v.conf(150, ""), cn)
			l.waitMaster(l.gv, 10*time.Second)
			l.startKeepalived(v.conf(100, ""))
			time.Sleep(2 * v.advertInt())
			l.touch()
			l.waitARP(l.gvMAC, time.Second)
			crashed := time.Now()
			cn.crashed.Store(true)
			netsimtest.Eventually(t, 10*time.Second, func() error {
				if !l.hasVIP(l.ka) {
					return errors.New("keepalived has not taken the VIP")
				}
				return nil
			})
			t.Logf("client ARP followed keepalived in %v", l.waitARP(l.kaMAC, time.Second))
			d, err := failover(l.adverts(), crashed.Add(-3*time.Second), l.gvAddr, l.kaAddr)
			must(t, err)
			limit := masterDownInterval(v.version, 3, v.advertInt(), 100) + 500*time.Millisecond
			t.Logf("%s: govs crashed: keepalived's first advert %v after govs's last (limit %v)", v.name, d, limit)
			if d > limit {
				t.Errorf("takeover took %v, more than master_down_interval + 0.5 s = %v", d, limit)
			}
		})
	}
}

// TestInteropPartition cuts VRRP between the two, lets both become
// master, heals, and checks that one master remains within an advert
// interval.
func TestInteropPartition(t *testing.T) {
	t.Parallel()
	v := variant{"v3", 3, "0.5", ""}
	l := newLab(t)
	l.startGovs(v.conf(100, ""))
	l.startKeepalived(v.conf(150, ""))
	l.waitMaster(l.ka, 10*time.Second)
	rules := filepath.Join(t.TempDir(), "part.nft")
	must(t, os.WriteFile(rules, []byte(`table inet part {
	chain in { type filter hook input priority 0; ip protocol 112 drop; }
	chain out { type filter hook output priority 0; ip protocol 112 drop; }
}
`), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := l.ka.Run(ctx, "nft", "-f", rules); err != nil {
		t.Skipf("nft: %v", err)
	}
	netsimtest.Eventually(t, 5*time.Second, func() error {
		if !l.hasVIP(l.gv) || !l.hasVIP(l.ka) {
			return errors.New("not both masters yet")
		}
		return nil
	})
	healed := time.Now()
	_, err := l.ka.Run(ctx, "nft", "delete", "table", "inet", "part")
	must(t, err)
	l.waitMaster(l.ka, 3*time.Second)
	d := time.Since(healed)
	t.Logf("partition healed: one master again after %v (advert_int %v)", d, v.advertInt())
	if d > v.advertInt() {
		t.Errorf("two masters for %v after the partition healed, more than advert_int %v", d, v.advertInt())
	}
}

// TestInteropPreemption: govs with the higher priority joins a keepalived
// master. With nopreempt it stays BACKUP; with preempt_delay it takes
// over once the delay has passed, not before.
func TestInteropPreemption(t *testing.T) {
	v := variant{"v3", 3, "0.5", ""}
	tests := []struct {
		name  string
		extra string
		// takeover bounds when govs becomes master after it starts; 0:
		// never within the test.
		min, max time.Duration
	}{
		{"nopreempt", "nopreempt\n", 0, 0},
		// The delay starts at the first advert heard; adverts until it ends
		// hold govs; the master down interval then runs out.
		{"preempt_delay", "preempt_delay 2\n", 2 * time.Second, 2*time.Second + masterDownInterval(3, 3, 500*time.Millisecond, 150) + 600*time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			l.startKeepalived(v.conf(100, "nopreempt\n"))
			l.waitMaster(l.ka, 10*time.Second)
			started := time.Now()
			l.startGovs(v.conf(150, tt.extra))
			deadline := started.Add(5 * time.Second)
			if tt.max > 0 {
				deadline = started.Add(tt.max)
			}
			var became time.Duration
			for time.Now().Before(deadline) && became == 0 {
				if l.govs.States()["VI"].State == StateMaster {
					became = time.Since(started)
				}
				time.Sleep(10 * time.Millisecond)
			}
			switch {
			case tt.max == 0 && became != 0:
				t.Errorf("govs became master after %v despite nopreempt", became)
			case tt.max == 0:
				l.waitMaster(l.ka, time.Second)
				t.Logf("%s: govs (priority 150) stayed BACKUP for 5 s", tt.name)
			case became == 0:
				t.Errorf("govs did not become master within %v", tt.max)
			case became < tt.min:
				t.Errorf("govs became master after %v, before preempt_delay %v", became, tt.min)
			default:
				l.waitMaster(l.gv, time.Second)
				t.Logf("%s: govs took over %v after it started", tt.name, became)
			}
		})
	}
}
