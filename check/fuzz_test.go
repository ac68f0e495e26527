package check

import (
	"crypto/md5"
	"regexp"
	"testing"

	"github.com/govs-lb/govs/config"
)

// FuzzHTTPResponse feeds arbitrary responses to the HTTP check's parser,
// whole and in two pieces: it never panics, and the split does not change
// the verdict.
func FuzzHTTPResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"), 3)
	f.Add([]byte("HTTP/1.1 301 Moved\r\nLocation: /\r\n\r\n"), 10)
	f.Add([]byte("HTTP/1.0 200\r\n\r\n"), 0)
	f.Add([]byte("HTTP/1.0 200 OK\r\nContent-Length:\r\n7\r\n\r\nabc"), 20)
	f.Add([]byte("HTTP/1.0 20x OK\r\n\r\n"), 1)
	f.Add([]byte("\r\n\r\n"), 2)
	sum := md5.Sum([]byte("hello"))
	urls := []*urlCheck{
		{cfg: &config.URL{StatusCodes: []config.StatusRange{{Min: 200, Max: 299}}, RegexMaxOffset: -1}},
		{cfg: &config.URL{StatusCodes: []config.StatusRange{{Min: 200, Max: 299}}, RegexMaxOffset: -1}, digest: sum[:]},
		{cfg: &config.URL{StatusCodes: []config.StatusRange{{Min: 100, Max: 599}}, Regex: "h.l+o", RegexMinOffset: 2, RegexMaxOffset: 40}, re: regexp.MustCompile("h.l+o")},
	}
	f.Fuzz(func(t *testing.T, b []byte, split int) {
		for _, u := range urls {
			whole := judge(u, b)
			if split >= 0 && split <= len(b) {
				parts := judge(u, b[:split], b[split:])
				if parts != whole {
					t.Errorf("verdict %+v in one piece, %+v split at %d", whole, parts, split)
				}
			}
		}
		code := statusCode(b)
		if code < 0 || code > 999 {
			t.Errorf("status %d", code)
		}
		if n := contentLength(b); n < -1 {
			t.Errorf("content length %d", n)
		}
	})
}

// judge runs a response through the parser as the prober does.
func judge(u *urlCheck, pieces ...[]byte) result {
	r := newResponse(u)
	for _, p := range pieces {
		if done, res := r.feed(p); done {
			return res
		}
	}
	return r.finish(false)
}

// FuzzDNSReply: the DNS reply check never panics and accepts only a
// response with the query's ID and rcode 0.
func FuzzDNSReply(f *testing.F) {
	f.Add([]byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, uint16(0x1234))
	f.Add([]byte{0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0}, uint16(0x1234))
	f.Add([]byte{0x12, 0x34, 0x01, 0x00}, uint16(0x1234))
	f.Fuzz(func(t *testing.T, b []byte, id uint16) {
		v, rcode := dnsReply(b, id)
		switch v {
		case replyOK:
			if len(b) < 12 || b[0] != byte(id>>8) || b[1] != byte(id) || b[2]&0x80 == 0 || b[3]&0xf != 0 {
				t.Errorf("accepted %x for ID %04x", b, id)
			}
		case replyError:
			if rcode == 0 {
				t.Errorf("error with rcode 0")
			}
		case replyIgnore:
		default:
			t.Errorf("verdict %d", v)
		}
	})
}

// FuzzICMPEcho: the echo parser never panics and reads the header fields.
func FuzzICMPEcho(f *testing.F) {
	f.Add(echoRequest(false, 7, 9))
	f.Add(echoRequest(true, 7, 9))
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, id, seq, ok := parseEcho(b)
		if ok != (len(b) >= 8) {
			t.Fatalf("ok = %v for %d bytes", ok, len(b))
		}
		if ok && (typ != b[0] || id != uint16(b[4])<<8|uint16(b[5]) || seq != uint16(b[6])<<8|uint16(b[7])) {
			t.Errorf("parsed %d %d %d from %x", typ, id, seq, b)
		}
	})
}

// FuzzUDPReply: the UDP reply match never panics, and a reply equal to the
// pattern within the length bounds matches.
func FuzzUDPReply(f *testing.F) {
	f.Add([]byte{1, 2, 3}, []byte{1, 2}, []byte{0xff, 0x0f}, 0, 255)
	f.Fuzz(func(t *testing.T, b, reply, mask []byte, lo, hi int) {
		c := &config.UDPCheck{RequireReply: true, Reply: reply, ReplyMask: mask, MinReplyLength: lo, MaxReplyLength: hi}
		udpReplyMatches(b, c)
		if len(reply) >= lo && len(reply) <= hi && !udpReplyMatches(reply, c) {
			t.Errorf("the pattern itself does not match")
		}
	})
}
