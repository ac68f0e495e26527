package check

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// dnsType returns the code of a DNS_CHECK query type (SOA by default).
func dnsType(name string) uint16 {
	switch name {
	case "A":
		return 1
	case "NS":
		return 2
	case "CNAME":
		return 5
	case "MX":
		return 15
	case "TXT":
		return 16
	case "AAAA":
		return 28
	}
	return 6
}

// dnsProber is DNS_CHECK: a query for name and type (recursion desired)
// over UDP; an answer with this query's ID and no error code passes,
// whatever it holds, as in keepalived.
type dnsProber struct {
	m       *Manager
	d       *net.Dialer
	addr    string
	timeout time.Duration
	query   []byte // without its ID; nil when the name cannot be encoded
	err     error
}

func newDNSProber(m *Manager, sp *spec) *dnsProber {
	c := sp.cfg
	p := &dnsProber{m: m, d: dialer(c, "udp"), addr: sp.target.String(), timeout: c.ConnectTimeout}
	p.query, p.err = dnsQuery(c.DNS.Name, dnsType(c.DNS.Type))
	return p
}

// dnsQuery builds a query with ID 0: the header (flags RD), the name as
// labels, the type, class IN.
func dnsQuery(name string, qtype uint16) ([]byte, error) {
	q := []byte{0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	name = strings.TrimSuffix(name, ".")
	if name != "" {
		for _, l := range strings.Split(name, ".") {
			if l == "" || len(l) > 63 {
				return nil, errors.New("dns name " + strconv.Quote(name) + " has an empty or too long label")
			}
			q = append(q, byte(len(l)))
			q = append(q, l...)
		}
	}
	q = append(q, 0)
	q = binary.BigEndian.AppendUint16(q, qtype)
	q = binary.BigEndian.AppendUint16(q, 1)
	if len(q) > 512 {
		return nil, errors.New("dns name too long")
	}
	return q, nil
}

func (p *dnsProber) probe(ctx context.Context, _ int) result {
	if p.err != nil {
		return fail("%v", p.err)
	}
	conn, release, err := p.m.dialUDP(ctx, p.d, p.addr, time.Now().Add(p.timeout))
	if err != nil {
		return fail("connect: %v", err)
	}
	defer release()
	q := make([]byte, len(p.query))
	copy(q, p.query)
	id := uint16(rand.Uint32())
	binary.BigEndian.PutUint16(q, id)
	if _, err := conn.Write(q); err != nil {
		return fail("send query: %v", err)
	}
	var buf [1500]byte
	for {
		n, err := conn.Read(buf[:])
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fail("no answer within %v", p.timeout)
			}
			return fail("read: %v", err)
		}
		switch v, rcode := dnsReply(buf[:n], id); v {
		case replyOK:
			return result{ok: true}
		case replyError:
			return fail("answer with rcode %d", rcode)
		}
	}
}

// replyVerdict is what a datagram says to a checker.
type replyVerdict uint8

const (
	_           replyVerdict = iota
	replyIgnore              // not an answer to this query
	replyOK                  // the answer passes
	replyError               // the answer fails the check
)

// dnsReply judges a datagram as keepalived's dns_recv_thread: shorter than
// a header, another ID, or not a response: ignored; a non-zero rcode:
// error; else the check passes.
func dnsReply(b []byte, id uint16) (replyVerdict, int) {
	if len(b) < 12 || binary.BigEndian.Uint16(b) != id {
		return replyIgnore, 0
	}
	flags := binary.BigEndian.Uint16(b[2:])
	if flags&0x8000 == 0 {
		return replyIgnore, 0
	}
	if rc := int(flags & 0xf); rc != 0 {
		return replyError, rc
	}
	return replyOK, 0
}

var _ prober = (*dnsProber)(nil)
