package check

import (
	"context"
	"errors"
	"net"
	"os"
	"time"

	"github.com/govs-lb/govs/config"
)

// udpPayload is the size of keepalived's default UDP_CHECK datagram.
const udpPayload = 32

// udpProber is UDP_CHECK: a datagram (payload, or keepalived's 32 bytes)
// to connect_ip:connect_port. Without require_reply, silence until
// connect_timeout passes, and an ICMP port unreachable fails. With it, a
// reply must come; when require_reply gives bytes, the reply's length must
// be within min_reply_length and max_reply_length and its bytes must match
// (x nibbles match anything).
type udpProber struct {
	m       *Manager
	d       *net.Dialer
	addr    string
	timeout time.Duration
	cfg     *config.UDPCheck
	payload []byte
}

func newUDPProber(m *Manager, sp *spec) *udpProber {
	c := sp.cfg
	p := &udpProber{m: m, d: dialer(c, "udp"), addr: sp.target.String(), timeout: c.ConnectTimeout, cfg: c.UDP, payload: c.UDP.Payload}
	if len(p.payload) == 0 {
		p.payload = keepalivedPattern(udpPayload)
	}
	return p
}

func (p *udpProber) probe(ctx context.Context, _ int) result {
	conn, release, err := p.m.dialUDP(ctx, p.d, p.addr, time.Now().Add(p.timeout))
	if err != nil {
		return fail("connect: %v", err)
	}
	defer release()
	if _, err := conn.Write(p.payload); err != nil {
		return fail("send: %v", err)
	}
	buf := make([]byte, p.cfg.MaxReplyLength+1)
	n, err := conn.Read(buf)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		if ctx.Err() != nil {
			return fail("stopped")
		}
		if p.cfg.RequireReply {
			return fail("no reply within %v", p.timeout)
		}
		return result{ok: true}
	case err != nil:
		return fail("read: %v", err)
	}
	if p.cfg.RequireReply && p.cfg.Reply != nil && !udpReplyMatches(buf[:n], p.cfg) {
		return fail("reply of %d bytes does not match", n)
	}
	return result{ok: true}
}

// udpReplyMatches is keepalived's check_udp_reply: the length within
// bounds, and the first bytes (as many as both have) equal under the mask.
func udpReplyMatches(b []byte, c *config.UDPCheck) bool {
	if len(b) < c.MinReplyLength || len(b) > c.MaxReplyLength {
		return false
	}
	for i := range min(len(b), len(c.Reply)) {
		mask := byte(0xff)
		if i < len(c.ReplyMask) {
			mask = c.ReplyMask[i]
		}
		if (b[i]^c.Reply[i])&mask != 0 {
			return false
		}
	}
	return true
}

var _ prober = (*udpProber)(nil)
