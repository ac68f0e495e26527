package check

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"hash"
	"regexp"

	"github.com/govs-lb/govs/config"
)

// Limits of what an HTTP check reads.
const (
	// maxHeader is keepalived's: the status line and headers must fit in
	// its 4 KiB buffer (less the terminating NUL).
	maxHeader = 4095
	// maxBody bounds the body an HTTP check reads. A digest covers the
	// body (up to its Content-Length): beyond maxBody it cannot match. A
	// url block without digest passes once maxBody bytes have come.
	maxBody = 16 << 20
	// maxRegexSubject bounds what a regex is matched against: the
	// response's first bytes, headers included, as keepalived matches the
	// stream from its first byte.
	maxRegexSubject = 1 << 20
)

// urlCheck is a url block ready to be checked.
type urlCheck struct {
	cfg     *config.URL
	request []byte
	digest  []byte // nil without digest
	re      *regexp.Regexp
}

// response follows an HTTP response as it arrives and decides whether a
// url block passes, as keepalived's http_process_response and
// http_handle_response. The zero value is not ready: use newResponse.
type response struct {
	u       *urlCheck
	head    []byte // bytes before the end of the headers
	header  bool   // the end of the headers was seen
	status  int
	clen    int64 // Content-Length, -1 unknown
	md5     hash.Hash
	body    int64 // body bytes seen
	subject []byte
}

func newResponse(u *urlCheck) *response {
	r := &response{u: u, clen: -1}
	if u.digest != nil {
		r.md5 = md5.New()
	}
	return r
}

// feed takes the next bytes of the response. It returns done with the
// verdict when it is known before the end of the stream: a status code
// that is not accepted, headers too long, or maxBody reached.
func (r *response) feed(b []byte) (done bool, res result) {
	if r.u.re != nil && len(r.subject) < maxRegexSubject {
		n := min(len(b), maxRegexSubject-len(r.subject))
		r.subject = append(r.subject, b[:n]...)
	}
	if !r.header {
		room := maxHeader - len(r.head)
		take := min(len(b), room)
		r.head = append(r.head, b[:take]...)
		end := bytes.Index(r.head, []byte("\r\n\r\n"))
		if end < 0 {
			if len(r.head) >= maxHeader {
				return true, fail("no end of HTTP headers in the first %d bytes", maxHeader)
			}
			return false, result{}
		}
		r.header = true
		r.status = statusCode(r.head)
		r.clen = contentLength(r.head[:end+4])
		if !r.statusOK() {
			return true, r.badStatus()
		}
		body := r.head[end+4:]
		// What the header buffer did not take is body too.
		rest := b[take:]
		r.head = r.head[:end+4]
		if d, res := r.addBody(body); d {
			return d, res
		}
		return r.addBody(rest)
	}
	return r.addBody(b)
}

func (r *response) addBody(b []byte) (bool, result) {
	if len(b) == 0 {
		return false, result{}
	}
	if r.md5 != nil && (r.clen < 0 || r.body < r.clen) {
		n := int64(len(b))
		if r.clen >= 0 {
			n = min(n, r.clen-r.body)
		}
		r.md5.Write(b[:n])
	}
	r.body += int64(len(b))
	if r.body >= maxBody {
		return true, r.finish(true)
	}
	return false, result{}
}

// finish decides at the end of the stream, or once maxBody bytes came
// (capped).
func (r *response) finish(capped bool) result {
	if !r.header {
		return fail("no HTTP response received")
	}
	if !r.statusOK() {
		return r.badStatus()
	}
	if r.u.digest != nil {
		if capped && (r.clen < 0 || r.clen > maxBody) {
			return fail("body larger than %d bytes: digest not checked", maxBody)
		}
		if !bytes.Equal(r.md5.Sum(nil), r.u.digest) {
			return fail("MD5 digest %s, want %x", hex.EncodeToString(r.md5.Sum(nil)), r.u.digest)
		}
	}
	if r.u.re != nil && r.regexMatch() == r.u.cfg.RegexNoMatch {
		if r.u.cfg.RegexNoMatch {
			return fail("regex %q matched", r.u.cfg.Regex)
		}
		return fail("regex %q did not match", r.u.cfg.Regex)
	}
	return result{ok: true}
}

// regexMatch looks for a match of the regex that starts between
// regex_min_offset and regex_max_offset, counted from the response's first
// byte as keepalived counts them.
func (r *response) regexMatch() bool {
	lo, hi := r.u.cfg.RegexMinOffset, r.u.cfg.RegexMaxOffset
	if hi >= 0 && lo > hi {
		lo, hi = 0, -1 // keepalived ignores inconsistent offsets
	}
	if lo > len(r.subject) {
		return false
	}
	loc := r.u.re.FindIndex(r.subject[lo:])
	if loc == nil {
		return false
	}
	return hi < 0 || lo+loc[0] <= hi
}

func (r *response) statusOK() bool {
	for _, sr := range r.u.cfg.StatusCodes {
		if r.status >= sr.Min && r.status <= sr.Max {
			return true
		}
	}
	return false
}

func (r *response) badStatus() result {
	if r.status == 0 {
		return fail("no HTTP status code in %q", firstLine(r.head))
	}
	return fail("HTTP status %d", r.status)
}

// statusCode extracts the status code as keepalived's extract_status_code:
// after the first space of the status line, exactly three digits followed
// by a space. It returns 0 when there is none (which no url accepts).
func statusCode(b []byte) int {
	i := 0
	for i < len(b) && b[i] != ' ' && b[i] != '\r' {
		i++
	}
	if i >= len(b) || b[i] != ' ' {
		return 0
	}
	i++
	if i+3 >= len(b) || b[i+3] != ' ' {
		return 0
	}
	code := 0
	for _, c := range b[i : i+3] {
		if c < '0' || c > '9' {
			return 0
		}
		code = code*10 + int(c-'0')
	}
	return code
}

// contentLength extracts Content-Length as keepalived's
// extract_content_length, which is strtoul after the first
// "Content-Length:" (this exact case) in the headers, followed by the end
// of the line. It returns -1 when there is none, or it is malformed or
// beyond any body (keepalived's SIZE_MAX).
func contentLength(head []byte) int64 {
	if i := bytes.IndexByte(head, 0); i >= 0 {
		head = head[:i] // keepalived searches a C string
	}
	const tag = "Content-Length:"
	i := bytes.Index(head, []byte(tag))
	if i < 0 {
		return -1
	}
	b := head[i+len(tag):]
	j := 0
	for j < len(b) && isCSpace(b[j]) {
		j++
	}
	neg := false
	if j < len(b) && (b[j] == '+' || b[j] == '-') {
		neg = b[j] == '-'
		j++
	}
	start := j
	var n int64
	huge := false
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		if n > (1<<62)/10 {
			huge = true
		} else {
			n = n*10 + int64(b[j]-'0')
		}
		j++
	}
	end := j
	if j == start {
		end, n = 0, 0 // strtoul: no number, the end is where it started
	}
	if end < len(b) && b[end] != '\r' && b[end] != '\n' {
		return -1
	}
	if huge || neg && n != 0 {
		return -1
	}
	return n
}

func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	return b[:min(len(b), 80)]
}
