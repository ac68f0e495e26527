package check

import (
	"context"
	"net"
)

// tcpProber is TCP_CHECK: a connection to connect_ip:connect_port that
// completes within connect_timeout passes.
type tcpProber struct {
	m    *Manager
	d    *net.Dialer
	addr string
}

func newTCPProber(m *Manager, sp *spec) *tcpProber {
	return &tcpProber{m: m, d: dialer(sp.cfg, "tcp"), addr: sp.target.String()}
}

func (p *tcpProber) probe(ctx context.Context, _ int) result {
	conn, err := p.m.dial(ctx, p.d, "tcp", p.addr)
	if err != nil {
		return fail("connect: %v", err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
	return result{ok: true}
}

var _ prober = (*tcpProber)(nil)
