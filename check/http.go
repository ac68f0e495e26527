package check

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"time"

	"github.com/govs-lb/govs/config"
)

// exchangeLimit bounds a whole HTTP exchange, in connect_timeouts.
// keepalived bounds each step by connect_timeout (the connection with its
// TLS handshake, sending the request, then each read); a server that
// trickles its answer must still not hold a checker forever.
const exchangeLimit = 3

// readBuffer is the size of the buffers HTTP checks read into.
const readBuffer = 32 << 10

// httpProber is HTTP_GET and SSL_GET: one url block per probe, as
// keepalived fetches them.
//
// The request is keepalived's, byte for byte:
//
//	GET PATH HTTP/1.0|1.1
//	User-Agent: KeepAliveClient
//	Connection: close          (http_protocol 1.0C and 1.1)
//	Host: VIRTUALHOST | ADDR:PORT | [ADDR6]:PORT
//
// and the response is read to its end (the server closes the connection),
// then judged: the status code among status_code, the MD5 of the body
// (up to Content-Length) equal to digest, the regex found (or not, with
// regex_no_match). The body is not decoded: a chunked body's digest covers
// the chunk framing, as genhash computes it.
//
// SSL_GET does not verify the server's certificate, as keepalived without
// an SSL block; with enable_sni it sends the virtual host as server name.
type httpProber struct {
	m       *Manager
	d       *net.Dialer
	addr    string
	timeout time.Duration
	tls     []*tls.Config // per url block, nil for HTTP_GET
	urls    []*urlCheck
}

func newHTTPProber(m *Manager, sp *spec) *httpProber {
	c := sp.cfg
	p := &httpProber{m: m, d: dialer(c, "tcp"), addr: sp.target.String(), timeout: c.ConnectTimeout}
	for i := range c.HTTP.URLs {
		u := &c.HTTP.URLs[i]
		uc := &urlCheck{cfg: u, request: httpRequest(u, c.HTTP.Protocol, sp.target)}
		if u.Digest != "" {
			uc.digest, _ = hex.DecodeString(u.Digest)
		}
		if u.Regex != "" {
			uc.re, _ = regexp.Compile(u.Regex) // config validated it
		}
		p.urls = append(p.urls, uc)
		if c.Kind == config.CheckSSL {
			tc := &tls.Config{
				// keepalived verifies nothing without an SSL block, which
				// govs does not support.
				InsecureSkipVerify: true,
				MinVersion:         tls.VersionTLS10,
			}
			if c.HTTP.EnableSNI {
				tc.ServerName = u.VirtualHost
			}
			p.tls = append(p.tls, tc)
		}
	}
	return p
}

// httpRequest formats keepalived's request for a url block.
func httpRequest(u *config.URL, proto string, target netip.AddrPort) []byte {
	minor, conn := 0, ""
	switch proto {
	case "1.1":
		minor, conn = 1, "Connection: close\r\n"
	case "1.0C":
		conn = "Connection: close\r\n"
	}
	host := u.VirtualHost
	if host == "" {
		// netip.AddrPort writes IPv6 as [ADDR]:PORT, as keepalived's
		// IPv6 template.
		host = target.String()
	}
	return fmt.Appendf(nil, "GET %s HTTP/1.%d\r\nUser-Agent: KeepAliveClient\r\n%sHost: %s\r\n\r\n", u.Path, minor, conn, host)
}

func (p *httpProber) probe(ctx context.Context, step int) result {
	if len(p.urls) == 0 {
		return result{ok: true} // keepalived passes a check without url
	}
	if step < 0 || step >= len(p.urls) {
		step = 0
	}
	u := p.urls[step]
	start := time.Now()
	connectBy := start.Add(p.timeout)
	end := start.Add(exchangeLimit * p.timeout)
	cctx, cancel := context.WithDeadline(ctx, connectBy)
	defer cancel()
	raw, err := p.m.dial(cctx, p.d, "tcp", p.addr)
	if err != nil {
		return fail("url %s: connect: %v", u.cfg.Path, err)
	}
	defer raw.Close()
	// Stop at once when Run stops.
	defer context.AfterFunc(ctx, func() { raw.SetDeadline(time.Now()) })()
	conn := raw
	if p.tls != nil {
		tc := tls.Client(raw, p.tls[step])
		if err := tc.HandshakeContext(cctx); err != nil {
			return fail("url %s: TLS handshake: %v", u.cfg.Path, err)
		}
		conn = tc
	}
	conn.SetWriteDeadline(earliest(time.Now().Add(p.timeout), end))
	if _, err := conn.Write(u.request); err != nil {
		return fail("url %s: send request: %v", u.cfg.Path, err)
	}
	buf := p.m.buffer()
	defer p.m.release(buf)
	resp := newResponse(u)
	for {
		now := time.Now()
		if !now.Before(end) {
			return fail("url %s: no complete response within %v", u.cfg.Path, exchangeLimit*p.timeout)
		}
		conn.SetReadDeadline(earliest(now.Add(p.timeout), end))
		n, err := conn.Read(*buf)
		if n > 0 {
			if done, res := resp.feed((*buf)[:n]); done {
				return p.verdict(u, res)
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return p.verdict(u, resp.finish(false))
		case errors.Is(err, os.ErrDeadlineExceeded):
			if ctx.Err() != nil {
				return fail("stopped")
			}
			return fail("url %s: read timeout", u.cfg.Path)
		case p.tls != nil:
			// keepalived takes any TLS error (a close without close_notify)
			// as the end of the stream.
			return p.verdict(u, resp.finish(false))
		default:
			return fail("url %s: read: %v", u.cfg.Path, err)
		}
	}
}

func (p *httpProber) verdict(u *urlCheck, r result) result {
	if !r.ok {
		r.reason = "url " + u.cfg.Path + ": " + r.reason
	}
	return r
}

// buffer lends a read buffer; release gives it back.
func (m *Manager) buffer() *[]byte {
	if b, ok := m.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, readBuffer)
	return &b
}

func (m *Manager) release(b *[]byte) { m.bufs.Put(b) }

var _ prober = (*httpProber)(nil)

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
