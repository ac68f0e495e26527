package config

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// builder turns the statement tree into the typed model, one block at a
// time. Each block builder handles the keywords the catalogue marks useOK
// and hands every other statement to b.other.
type builder struct {
	r   *reporter
	cfg *Config
	// inst holds, per instance, what validation resolves against
	// global_defs (which may come after the instance in the file).
	inst map[*Instance]*instOpts
	vs   map[*VirtualServer]*vsOpts
}

func build(root *block, r *reporter) *Config {
	b := &builder{r: r, cfg: &Config{Global: defaultGlobal()}}
	for i := range root.nodes {
		n := &root.nodes[i]
		switch n.key.text {
		case "global_defs":
			b.globalDefs(n)
		case "vrrp_script":
			b.vrrpScript(n)
		case "vrrp_sync_group":
			b.syncGroup(n)
		case "vrrp_instance":
			b.instance(n)
		case "virtual_server_group":
			b.serverGroup(n)
		case "virtual_server":
			b.virtualServer(n)
		default:
			b.other(catalogue, nil, n)
		}
	}
	b.resolve()
	return b.cfg
}

// other gives the finding for a statement the block builder does not
// handle: a keyword govs ignores or refuses, a keyword of another block, or
// no keepalived keyword at all.
func (b *builder) other(c *context, owner *node, n *node) {
	k := c.lookup(n.key.text)
	if k == nil {
		b.unknown(c, owner, n)
		return
	}
	switch k.use {
	case useIgnored:
		b.r.warnf(n.key.pos, "%s is not supported by govs and is ignored: %s", n.key.text, k.why)
	case useRefused:
		b.r.errorf(n.key.pos, "%s is not supported by govs: %s", n.key.text, k.why)
	case useNoop:
	case useOK:
		// The catalogue says a builder handles it, but none did.
		b.r.errorf(n.key.pos, "%s: internal error: keyword not handled in %s", n.key.text, c.name)
	}
}

// unknown reports a keyword that is not valid where it stands.
func (b *builder) unknown(c *context, owner *node, n *node) {
	if b.r.full() {
		return // spare the suggestions: nobody will read them
	}
	name := n.key.text
	where := c.name
	if owner != nil {
		where = owner.describe()
	}
	if others := everywhere(name); len(others) > 0 {
		if catalogue.lookup(name) != nil && owner != nil {
			// A top-level block inside another block: a '}' is missing.
			b.r.errorf(n.key.pos, "%s is not valid inside %s (line %d): is a '}' missing before this line?",
				name, where, owner.key.pos.Line)
			return
		}
		var in []string
		for _, o := range others {
			in = append(in, o.name)
		}
		b.r.errorf(n.key.pos, "%s is not valid in %s; it belongs in %s", name, where, strings.Join(in, ", "))
		return
	}
	if s := suggest(name, c); s != "" {
		b.r.errorf(n.key.pos, "unknown keyword %q in %s (did you mean %s?)", name, where, s)
		return
	}
	b.r.errorf(n.key.pos, "unknown keyword %q in %s", name, where)
}

// suggest returns the keyword of c, or failing that of any block, closest
// to name, or "" when none is close.
func suggest(name string, c *context) string {
	best, bestD := "", 1<<30
	try := func(cands []string) {
		for _, k := range cands {
			if d := editDistance(name, k); d < bestD {
				best, bestD = k, d
			}
		}
	}
	try(c.names())
	limit := 2
	if len(name) >= 10 {
		limit = 3
	}
	if bestD > limit {
		best, bestD = "", 1<<30
		try(allKeywordNames)
	}
	if bestD > limit {
		return ""
	}
	return best
}

// editDistance is the Damerau-Levenshtein (optimal string alignment)
// distance, so that a swapped pair of letters counts one. Words longer than
// 64 bytes are never close to a keyword.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	var rows [3][65]int // two rows back, one back, current
	prev2, prev, cur := &rows[0], &rows[1], &rows[2]
	for j := 0; j <= len(b); j++ {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// --- shape of statements ---

// nargs checks that n has between lo and hi arguments (hi < 0: no limit).
func (b *builder) nargs(n *node, lo, hi int) bool {
	got := len(n.args)
	if got >= lo && (hi < 0 || got <= hi) {
		return true
	}
	var want string
	switch {
	case lo == hi && lo == 0:
		want = "takes no argument"
	case lo == hi && lo == 1:
		want = "takes one argument"
	case lo == hi:
		want = "takes " + strconv.Itoa(lo) + " arguments"
	case hi < 0:
		want = "takes at least " + strconv.Itoa(lo) + " argument" + plural(lo)
	default:
		want = "takes " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi) + " arguments"
	}
	pos := n.key.pos
	if got > hi && hi >= 0 {
		pos = n.args[hi].pos
	}
	b.r.errorf(pos, "%s %s, not %d", n.key.text, want, got)
	return false
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// noBlock reports a block after a keyword that takes none.
func (b *builder) noBlock(n *node) {
	if n.block != nil {
		b.r.errorf(n.block.open, "%s does not take a { } block", n.key.text)
	}
}

// needBlock reports a missing block and returns the block's statements.
func (b *builder) needBlock(n *node) []node {
	if n.block == nil {
		b.r.errorf(n.key.pos, "%s needs a { } block", n.key.text)
		return nil
	}
	return n.block.nodes
}

// single checks the common shape "keyword VALUE" and returns VALUE.
func (b *builder) single(n *node) (token, bool) {
	b.noBlock(n)
	if !b.nargs(n, 1, 1) {
		return token{}, false
	}
	return n.args[0], true
}

// flag checks the shape "keyword" and returns true.
func (b *builder) flag(n *node) bool {
	b.noBlock(n)
	b.nargs(n, 0, 0)
	return true
}

// optBool reads "keyword [<BOOL>]": no argument means true.
func (b *builder) optBool(n *node) bool {
	b.noBlock(n)
	if !b.nargs(n, 0, 1) || len(n.args) == 0 {
		return true
	}
	v, ok := parseBool(n.args[0].text)
	if !ok {
		b.r.errorf(n.args[0].pos, "%s: %q is not a boolean (on, off, true, false, yes or no)", n.key.text, n.args[0].text)
	}
	return v
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "on", "true", "yes":
		return true, true
	case "off", "false", "no":
		return false, true
	}
	return false, false
}

// --- values ---

// intArg reads an integer in [lo, hi].
func (b *builder) intArg(kw string, t token, lo, hi int) (int, bool) {
	v, err := strconv.ParseInt(t.text, 10, 64)
	if err != nil {
		b.r.errorf(t.pos, "%s: %q is not an integer", kw, t.text)
		return 0, false
	}
	if v < int64(lo) || v > int64(hi) {
		b.r.errorf(t.pos, "%s: %d is out of range %d-%d", kw, v, lo, hi)
		return 0, false
	}
	return int(v), true
}

// intValue reads "keyword N" with N in [lo, hi].
func (b *builder) intValue(n *node, lo, hi int) (int, bool) {
	t, ok := b.single(n)
	if !ok {
		return 0, false
	}
	return b.intArg(n.key.text, t, lo, hi)
}

// timer reads a time in seconds, with a fraction down to microseconds, as
// keepalived's <TIMER>, in [lo, hi].
func (b *builder) timer(kw string, t token, lo, hi time.Duration) (time.Duration, bool) {
	d, ok := parseSeconds(t.text)
	if !ok {
		b.r.errorf(t.pos, "%s: %q is not a time in seconds", kw, t.text)
		return 0, false
	}
	if d < lo || d > hi {
		b.r.errorf(t.pos, "%s: %s is out of range %s-%s", kw, t.text, seconds(lo), seconds(hi))
		return 0, false
	}
	return d, true
}

// timerValue reads "keyword SECONDS".
func (b *builder) timerValue(n *node, lo, hi time.Duration) (time.Duration, bool) {
	t, ok := b.single(n)
	if !ok {
		return 0, false
	}
	return b.timer(n.key.text, t, lo, hi)
}

// parseSeconds parses "3", "0.5", "2.71828" (microsecond resolution).
func parseSeconds(s string) (time.Duration, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" && (!hasFrac || frac == "") {
		return 0, false
	}
	var w int64
	for _, c := range []byte(whole) {
		if c < '0' || c > '9' {
			return 0, false
		}
		w = w*10 + int64(c-'0')
		if w > math.MaxInt64/int64(time.Second)-1 {
			return 0, false
		}
	}
	d := time.Duration(w) * time.Second
	scale := time.Duration(100 * time.Millisecond)
	for _, c := range []byte(frac) {
		if c < '0' || c > '9' {
			return 0, false
		}
		d += time.Duration(c-'0') * scale
		scale /= 10
	}
	if d%time.Microsecond != 0 {
		d -= d % time.Microsecond
	}
	return d, true
}

// seconds formats d as keepalived writes a timer: "3", "0.5".
func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// addr reads an IPv4 or IPv6 address.
func (b *builder) addr(kw string, t token) (netip.Addr, bool) {
	a, err := netip.ParseAddr(t.text)
	if err != nil || a.Zone() != "" {
		b.r.errorf(t.pos, "%s: %q is not an IPv4 or IPv6 address", kw, t.text)
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// port reads a port number 1-65535 (0 when allowZero).
func (b *builder) port(kw string, t token, allowZero bool) (uint16, bool) {
	lo := 1
	if allowZero {
		lo = 0
	}
	v, ok := b.intArg(kw, t, lo, 65535)
	return uint16(v), ok
}

// ifname checks an interface name.
func (b *builder) ifname(kw string, t token) (string, bool) {
	s := t.text
	if s == "" || len(s) > 15 || strings.ContainsAny(s, "/ \t") || s == "." || s == ".." {
		b.r.errorf(t.pos, "%s: %q is not a valid interface name (1-15 characters, no '/' or white space)", kw, s)
		return "", false
	}
	return s, true
}

// script reads "keyword COMMAND [USER [GROUP]]".
func (b *builder) script(n *node) *Script {
	b.noBlock(n)
	if !b.nargs(n, 1, 3) {
		return nil
	}
	args, err := SplitCommand(n.args[0].text)
	if err != nil {
		b.r.errorf(n.args[0].pos, "%s: %v", n.key.text, err)
		return nil
	}
	if len(args) == 0 {
		b.r.errorf(n.args[0].pos, "%s: empty command", n.key.text)
		return nil
	}
	s := &Script{Args: args}
	if len(n.args) > 1 {
		s.User = n.args[1].text
	}
	if len(n.args) > 2 {
		s.Group = n.args[2].text
	}
	return s
}

// setScript stores a notify script, reporting a second one for the same
// event as keepalived does.
func (b *builder) setScript(dst **Script, n *node) {
	s := b.script(n)
	if s == nil {
		return
	}
	if *dst != nil {
		b.r.errorf(n.key.pos, "%s is given twice", n.key.text)
		return
	}
	*dst = s
}

// onceSet remembers the keywords met in one block. Most blocks have a few
// keywords: it scans a small array of pointers into the block's statements,
// kept on the stack, and turns to a map for long blocks.
type onceSet struct {
	list [16]*node
	n    int
	m    map[string]Pos
}

// once reports a keyword given twice in the same block.
// Blocks (real_server, url, virtual_ipaddress, ...) add up instead.
func (b *builder) once(seen *onceSet, n *node) {
	if n.block != nil {
		return
	}
	kw := n.key.text
	var prev Pos
	dup := false
	switch {
	case seen.m != nil:
		prev, dup = seen.m[kw]
		seen.m[kw] = n.key.pos
	default:
		for i := 0; i < seen.n; i++ {
			if seen.list[i].key.text == kw {
				prev, dup = seen.list[i].key.pos, true
				seen.list[i] = n
				break
			}
		}
		if dup {
			break
		}
		if seen.n < len(seen.list) {
			seen.list[seen.n] = n
			seen.n++
			break
		}
		seen.m = map[string]Pos{kw: n.key.pos}
		for _, o := range seen.list {
			seen.m[o.key.text] = o.key.pos
		}
	}
	if dup {
		b.r.warnf(n.key.pos, "%s is given twice in this block (first at line %d); the last one counts", kw, prev.Line)
	}
}
