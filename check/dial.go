package check

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/govs-lb/govs/config"
)

// dialer returns the net.Dialer a checker connects with for network
// ("tcp" or "udp"): connect_timeout, bindto (with bind_port), bind_if and
// fwmark. bind_port without bindto is ignored, as in keepalived.
func dialer(c *config.Checker, network string) *net.Dialer {
	d := &net.Dialer{Timeout: c.ConnectTimeout, KeepAlive: -1}
	if a := localAddr(c); a.IsValid() {
		if network == "udp" {
			d.LocalAddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, c.BindPort))
		} else {
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, c.BindPort))
		}
	}
	if c.FWMark != 0 || c.BindIf != "" {
		d.Control = socketOptions(c.FWMark, c.BindIf)
	}
	return d
}

// localAddr is bindto, with bind_if as the zone of a link-local address.
func localAddr(c *config.Checker) netip.Addr {
	a := c.BindTo
	if a.IsValid() && a.Is6() && a.IsLinkLocalUnicast() && c.BindIf != "" {
		a = a.WithZone(c.BindIf)
	}
	return a
}

// dial connects where the checkers run (Options.Do).
func (m *Manager) dial(ctx context.Context, d *net.Dialer, network, address string) (net.Conn, error) {
	var conn net.Conn
	err := m.do(func() error {
		var err error
		conn, err = d.DialContext(ctx, network, address)
		return err
	})
	return conn, err
}

// dialUDP connects a UDP socket to address for an exchange that must be
// over by end: its deadline is end, or now once ctx is done (Run stops).
// release closes it.
func (m *Manager) dialUDP(ctx context.Context, d *net.Dialer, address string, end time.Time) (conn net.Conn, release func(), err error) {
	cctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	if conn, err = m.dial(cctx, d, "udp", address); err != nil {
		return nil, nil, err
	}
	conn.SetDeadline(end)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	return conn, func() { stop(); conn.Close() }, nil
}

// defaultProber builds the prober of a checker type.
func (m *Manager) defaultProber(sp *spec) prober {
	switch sp.cfg.Kind {
	case config.CheckTCP:
		return newTCPProber(m, sp)
	case config.CheckHTTP, config.CheckSSL:
		return newHTTPProber(m, sp)
	case config.CheckMisc:
		return newMiscProber(m, sp)
	case config.CheckDNS:
		return newDNSProber(m, sp)
	case config.CheckPing:
		return newPingProber(m, sp)
	case config.CheckUDP:
		return newUDPProber(m, sp)
	}
	return proberFunc(func(context.Context, int) result {
		return fail("checker type %s is not supported", sp.cfg.Kind)
	})
}
