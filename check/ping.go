package check

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
)

// ICMP message types of echo requests and replies.
const (
	icmp4EchoRequest = 8
	icmp4EchoReply   = 0
	icmp6EchoRequest = 128
	icmp6EchoReply   = 129
	// echoPayload is the size of keepalived's echo data.
	echoPayload = 128
)

// pingProber is PING_CHECK: an ICMP or ICMPv6 echo request to connect_ip
// (by default the real server); an echo reply within connect_timeout
// passes. It uses an unprivileged ping socket, or a raw socket where the
// ping_group_range sysctl does not allow ping sockets (keepalived widens
// the sysctl instead: govs leaves the system's settings alone).
type pingProber struct {
	m       *Manager
	dst     netip.Addr
	src     netip.Addr
	timeout time.Duration
	seq     uint16 // probes of a checker never overlap
}

func newPingProber(m *Manager, sp *spec) *pingProber {
	return &pingProber{m: m, dst: sp.target.Addr().Unmap(), src: localAddr(sp.cfg), timeout: sp.cfg.ConnectTimeout}
}

func (p *pingProber) probe(ctx context.Context, _ int) result {
	v6 := p.dst.Is6()
	laddr := "0.0.0.0"
	if v6 {
		laddr = "::"
	}
	if p.src.IsValid() {
		laddr = p.src.String()
	}
	raw := false
	var pc *icmp.PacketConn
	err := p.m.do(func() error {
		var err error
		network := "udp4"
		if v6 {
			network = "udp6"
		}
		pc, err = icmp.ListenPacket(network, laddr)
		if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
			raw = true
			network = "ip4:icmp"
			if v6 {
				network = "ip6:ipv6-icmp"
			}
			pc, err = icmp.ListenPacket(network, laddr)
		}
		return err
	})
	if err != nil {
		return fail("open ICMP socket: %v", err)
	}
	defer pc.Close()
	defer context.AfterFunc(ctx, func() { pc.SetDeadline(time.Now()) })()

	p.seq++
	id := uint16(rand.Uint32())
	msg := echoRequest(v6, id, p.seq)
	var to net.Addr = &net.UDPAddr{IP: p.dst.AsSlice(), Zone: p.dst.Zone()}
	if raw {
		to = &net.IPAddr{IP: p.dst.AsSlice(), Zone: p.dst.Zone()}
	}
	pc.SetDeadline(time.Now().Add(p.timeout))
	if _, err := pc.WriteTo(msg, to); err != nil {
		return fail("send echo request: %v", err)
	}
	var buf [1500]byte
	for {
		n, peer, err := pc.ReadFrom(buf[:])
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fail("no echo reply within %v", p.timeout)
			}
			return fail("read: %v", err)
		}
		typ, rid, rseq, ok := parseEcho(buf[:n])
		if raw {
			// A raw socket sees every ICMP message of the host: only the
			// reply to this request counts.
			if !ok || !fromAddr(peer, p.dst) || typ != echoReplyType(v6) || rid != id || rseq != p.seq {
				continue
			}
			return result{ok: true}
		}
		// A ping socket gets the replies to its own requests only; like
		// keepalived, the first message decides.
		if !ok || typ != echoReplyType(v6) {
			return fail("got ICMP message type %d, not an echo reply", typ)
		}
		return result{ok: true}
	}
}

func echoReplyType(v6 bool) byte {
	if v6 {
		return icmp6EchoReply
	}
	return icmp4EchoReply
}

// echoRequest builds an echo request with keepalived's payload. The
// checksum is computed for ICMPv4; the kernel fills it in for ICMPv6.
func echoRequest(v6 bool, id, seq uint16) []byte {
	b := make([]byte, 8, 8+echoPayload)
	b[0] = icmp4EchoRequest
	if v6 {
		b[0] = icmp6EchoRequest
	}
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	b = append(b, keepalivedPattern(echoPayload)...)
	if !v6 {
		binary.BigEndian.PutUint16(b[2:], checksum(b))
	}
	return b
}

// parseEcho reads the header of an ICMP message: its type, and the
// identifier and sequence number of an echo message.
func parseEcho(b []byte) (typ byte, id, seq uint16, ok bool) {
	if len(b) < 8 {
		return 0, 0, 0, false
	}
	return b[0], binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:]), true
}

func fromAddr(peer net.Addr, want netip.Addr) bool {
	var ip net.IP
	switch a := peer.(type) {
	case *net.IPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	default:
		return false
	}
	got, ok := netip.AddrFromSlice(ip)
	return ok && got.Unmap() == want.WithZone("")
}

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// keepalivedPattern fills n bytes with keepalived's set_buf text.
func keepalivedPattern(n int) []byte {
	const s = "keepalived check - "
	b := make([]byte, 0, n)
	for len(b) < n {
		b = append(b, s[:min(len(s), n-len(b))]...)
	}
	return b
}

var _ prober = (*pingProber)(nil)
