package config

import (
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var checkKinds = map[string]CheckKind{
	"TCP_CHECK": CheckTCP, "HTTP_GET": CheckHTTP, "SSL_GET": CheckSSL, "MISC_CHECK": CheckMisc,
	"DNS_CHECK": CheckDNS, "PING_CHECK": CheckPing, "UDP_CHECK": CheckUDP,
}

// dnsTypes are the query types DNS_CHECK sends.
var dnsTypes = []string{"A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"}

// checker reads a checker block. sub is its catalogue context.
func (b *builder) checker(n *node, sub *context) (*Checker, chkOpts) {
	kind := checkKinds[n.key.text]
	c := &Checker{
		Pos:              n.key.pos,
		Kind:             kind,
		ConnectTimeout:   -1,
		DelayLoop:        -1,
		Retry:            -1,
		DelayBeforeRetry: -1,
		Warmup:           -1,
	}
	var o chkOpts
	if len(n.args) > 0 {
		b.r.errorf(n.args[0].pos, "%s takes no argument before its block", n.key.text)
	}
	switch kind {
	case CheckHTTP, CheckSSL:
		c.HTTP = &HTTPCheck{Protocol: "1.0"}
	case CheckMisc:
		c.Misc = &MiscCheck{}
	case CheckDNS:
		c.DNS = &DNSCheck{Type: "SOA", Name: "."}
	case CheckUDP:
		c.UDP = &UDPCheck{MaxReplyLength: 255}
	}
	var miscUser, miscGroup string
	nodes := b.needBlock(n)
	var seen onceSet
	for i := range nodes {
		s := &nodes[i]
		kw := s.key.text
		if kw != "url" {
			b.once(&seen, s)
		}
		if sub.lookup(kw) == nil || sub.lookup(kw).use != useOK {
			b.other(sub, n, s)
			continue
		}
		switch kw {
		case "connect_ip":
			if t, ok := b.single(s); ok {
				if a, ok := b.addr(kw, t); ok {
					c.ConnectIP = a
				}
			}
		case "connect_port":
			if t, ok := b.single(s); ok {
				if p, ok := b.port(kw, t, false); ok {
					c.ConnectPort = p
				}
			}
		case "bindto":
			if t, ok := b.single(s); ok {
				if a, ok := b.addr(kw, t); ok {
					c.BindTo = a
				}
			}
		case "bind_port":
			if t, ok := b.single(s); ok {
				if p, ok := b.port(kw, t, false); ok {
					c.BindPort = p
				}
			}
		case "bind_if":
			if t, ok := b.single(s); ok {
				if name, ok := b.ifname(kw, t); ok {
					c.BindIf = name
				}
			}
		case "fwmark":
			if v, ok := b.intValue(s, 0, 1<<32-1); ok {
				c.FWMark = uint32(v)
			}
		case "nb_get_retry":
			b.r.warnf(s.key.pos, "nb_get_retry is deprecated: use retry (keepalived says the same)")
			t := CheckTiming{-1, -1, -1, -1, -1}
			b.timing(&t, s)
			if t.Retry >= 0 {
				c.Retry = t.Retry
			}
		case "connect_timeout", "delay_loop", "retry", "delay_before_retry", "warmup":
			t := CheckTiming{c.DelayLoop, c.ConnectTimeout, c.Retry, c.DelayBeforeRetry, c.Warmup}
			b.timing(&t, s)
			c.DelayLoop, c.ConnectTimeout, c.Retry, c.DelayBeforeRetry, c.Warmup = t.DelayLoop, t.ConnectTimeout, t.Retry, t.DelayBeforeRetry, t.Warmup
		case "alpha":
			v := b.optBool(s)
			o.alpha = &v
		case "log_all_failures":
			v := b.optBool(s)
			o.logAll = &v
		case "virtualhost":
			if t, ok := b.single(s); ok {
				c.HTTP.VirtualHost = t.text
			}
		case "http_protocol":
			if t, ok := b.single(s); ok {
				switch strings.ToUpper(t.text) {
				case "1.0", "1.1":
					c.HTTP.Protocol = t.text
				case "1.0C":
					c.HTTP.Protocol = "1.0C"
				default:
					b.r.errorf(t.pos, "http_protocol: %q is not 1.0, 1.0C or 1.1", t.text)
				}
			}
		case "enable_sni":
			c.HTTP.EnableSNI = b.optBool(s)
		case "fast_recovery":
			c.HTTP.FastRecovery = b.optBool(s)
		case "url":
			if u, ok := b.url(s); ok {
				c.HTTP.URLs = append(c.HTTP.URLs, u)
			}
		case "misc_path":
			c.Misc.Script = b.script(s)
		case "misc_timeout":
			if v, ok := b.intValue(s, 1, maxTimer); ok {
				c.Misc.Timeout = time.Duration(v) * time.Second
			}
		case "misc_dynamic":
			c.Misc.Dynamic = b.flag(s)
		case "user":
			b.noBlock(s)
			if b.nargs(s, 1, 2) {
				miscUser = s.args[0].text
				if len(s.args) == 2 {
					miscGroup = s.args[1].text
				}
			}
		case "type":
			if t, ok := b.single(s); ok {
				up := strings.ToUpper(t.text)
				found := false
				for _, d := range dnsTypes {
					found = found || d == up
				}
				if !found {
					b.r.errorf(t.pos, "type: %q is not a DNS_CHECK query type (%s)", t.text, strings.Join(dnsTypes, ", "))
				} else {
					c.DNS.Type = up
				}
			}
		case "name":
			if t, ok := b.single(s); ok {
				if strings.Contains(t.text, "..") || (len(t.text) > 1 && strings.HasPrefix(t.text, ".")) {
					b.r.errorf(t.pos, "name: %q has an empty label", t.text)
				} else {
					c.DNS.Name = t.text
				}
			}
		case "payload":
			b.noBlock(s)
			if b.nargs(s, 1, -1) {
				if p, _, ok := b.hexString(s, false); ok {
					c.UDP.Payload = p
				}
			}
		case "require_reply":
			b.noBlock(s)
			c.UDP.RequireReply = true
			if len(s.args) > 0 {
				if p, m, ok := b.hexString(s, true); ok {
					c.UDP.Reply, c.UDP.ReplyMask = p, m
				}
			}
		case "min_reply_length":
			if v, ok := b.intValue(s, 0, 65535); ok {
				c.UDP.MinReplyLength = v
			}
		case "max_reply_length":
			if v, ok := b.intValue(s, 0, 65535); ok {
				c.UDP.MaxReplyLength = v
			}
		default:
			b.other(sub, n, s)
		}
	}
	switch kind {
	case CheckHTTP, CheckSSL:
		if len(c.HTTP.URLs) == 0 {
			b.r.errorf(n.key.pos, "%s has no url block", n.key.text)
			return nil, o
		}
	case CheckMisc:
		if c.Misc.Script == nil {
			b.r.errorf(n.key.pos, "MISC_CHECK has no misc_path")
			return nil, o
		}
		if miscUser != "" {
			c.Misc.Script.User, c.Misc.Script.Group = miscUser, miscGroup
		}
	case CheckUDP:
		if c.UDP.MinReplyLength > c.UDP.MaxReplyLength {
			b.r.errorf(n.key.pos, "UDP_CHECK: min_reply_length %d is above max_reply_length %d", c.UDP.MinReplyLength, c.UDP.MaxReplyLength)
		}
	}
	return c, o
}

// hexString reads keepalived's free-format hex: "Ab12f 3 456" is
// AB 12 0F 03 45 06; with wildcards, x or X matches any nibble and the mask
// says which bits count.
func (b *builder) hexString(n *node, wildcards bool) ([]byte, []byte, bool) {
	var data, mask []byte
	for _, t := range n.args {
		s := t.text
		if len(s)%2 == 1 {
			s = "0" + s
		}
		for i := 0; i < len(s); i += 2 {
			var v, m byte
			for j := 0; j < 2; j++ {
				c := s[i+j]
				v <<= 4
				m <<= 4
				switch {
				case isHex(c):
					v |= hexVal(c)
					m |= 0xf
				case wildcards && (c == 'x' || c == 'X'):
				default:
					b.r.errorf(t.pos, "%s: %q is not a hex string", n.key.text, t.text)
					return nil, nil, false
				}
			}
			data = append(data, v)
			mask = append(mask, m)
		}
	}
	return data, mask, true
}

// url reads a url block of HTTP_GET or SSL_GET.
func (b *builder) url(n *node) (URL, bool) {
	u := URL{Pos: n.key.pos, RegexMaxOffset: -1}
	if len(n.args) > 0 {
		b.r.errorf(n.args[0].pos, "url takes no argument before its block")
	}
	var regex token
	var flags string
	sub := catalogue.lookup("virtual_server").sub.lookup("real_server").sub.lookup("HTTP_GET").sub.lookup("url").sub
	nodes := b.needBlock(n)
	var seen onceSet
	for i := range nodes {
		s := &nodes[i]
		kw := s.key.text
		b.once(&seen, s)
		switch kw {
		case "path":
			if t, ok := b.single(s); ok {
				u.Path = t.text
			}
		case "digest":
			if t, ok := b.single(s); ok {
				d := strings.ToLower(t.text)
				if _, err := hex.DecodeString(d); err != nil || len(d) != 32 {
					b.r.errorf(t.pos, "digest: %q is not an MD5 digest (32 hex digits, as genhash prints)", t.text)
				} else {
					u.Digest = d
				}
			}
		case "status_code":
			b.noBlock(s)
			if b.nargs(s, 1, -1) {
				u.StatusCodes = nil
				for _, t := range s.args {
					if r, ok := b.statusRange(t); ok {
						u.StatusCodes = append(u.StatusCodes, r)
					}
				}
			}
		case "virtualhost":
			if t, ok := b.single(s); ok {
				u.VirtualHost = t.text
			}
		case "regex":
			if t, ok := b.single(s); ok {
				regex = t
			}
		case "regex_no_match":
			u.RegexNoMatch = b.flag(s)
		case "regex_options":
			b.noBlock(s)
			for _, t := range s.args {
				switch t.text {
				case "caseless":
					flags += "i"
				case "multiline":
					flags += "m"
				case "dotall":
					flags += "s"
				case "ungreedy":
					flags += "U"
				default:
					b.r.warnf(t.pos, "regex_options: %s has no equivalent in Go's regexp syntax and is ignored", t.text)
				}
			}
		case "regex_min_offset":
			if v, ok := b.intValue(s, 0, 1<<31-1); ok {
				u.RegexMinOffset = v
			}
		case "regex_max_offset":
			if v, ok := b.intValue(s, 0, 1<<31-1); ok {
				u.RegexMaxOffset = v
			}
		default:
			b.other(sub, n, s)
		}
	}
	if regex.kind == tokWord {
		expr := regex.text
		if flags != "" {
			expr = "(?" + flags + ")" + expr
		}
		if _, err := regexp.Compile(expr); err != nil {
			b.r.errorf(regex.pos, "regex: %v (govs uses Go's RE2 syntax, close to but not PCRE2)", err)
		} else {
			u.Regex = expr
		}
	}
	if u.Path == "" {
		b.r.errorf(n.key.pos, "url has no path")
		return u, false
	}
	if len(u.StatusCodes) == 0 {
		u.StatusCodes = []StatusRange{{200, 299}}
	}
	return u, true
}

// statusRange reads "200" or "200-299".
func (b *builder) statusRange(t token) (StatusRange, bool) {
	lo, hi, isRange := strings.Cut(t.text, "-")
	a, err1 := strconv.Atoi(lo)
	z := a
	var err2 error
	if isRange {
		z, err2 = strconv.Atoi(hi)
	}
	if err1 != nil || err2 != nil || a < 100 || z > 599 || z < a {
		b.r.errorf(t.pos, "status_code: %q is not an HTTP status code or range (100-599)", t.text)
		return StatusRange{}, false
	}
	return StatusRange{a, z}, true
}
