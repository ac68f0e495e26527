package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Options changes how Load reads a configuration. The zero value, and a nil
// *Options, read from the operating system's file system.
type Options struct {
	// ConfigID selects conditional lines: "@id line" is kept only when id
	// equals ConfigID, "@^id line" only when it does not, as keepalived's
	// -i/--config-id. Empty means the host name up to its first dot.
	ConfigID string

	// ReadFile reads a file; nil means os.ReadFile.
	ReadFile func(name string) ([]byte, error)
	// Glob lists the files matching a pattern (no braces); nil means
	// filepath.Glob.
	Glob func(pattern string) ([]string, error)
}

func (o *Options) readFile(name string) ([]byte, error) {
	if o != nil && o.ReadFile != nil {
		return o.ReadFile(name)
	}
	return os.ReadFile(name)
}

func (o *Options) glob(pattern string) ([]string, error) {
	if o != nil && o.Glob != nil {
		return o.Glob(pattern)
	}
	return filepath.Glob(pattern)
}

func (o *Options) configID() string {
	if o != nil && o.ConfigID != "" {
		return o.ConfigID
	}
	h, _ := os.Hostname()
	if i := strings.IndexByte(h, '.'); i >= 0 {
		h = h[:i]
	}
	return h
}

// Limits that keep hostile input from hanging or exhausting govs.
const (
	maxIncludeDepth = 32
	maxExpansions   = 64      // parameter substitutions in one line
	maxLineBytes    = 1 << 20 // a line after parameter substitution
)

// Load reads the keepalived configuration in the file path, with its
// includes, and returns the validated model with every finding. The error is
// non-nil only when path itself cannot be read; everything wrong inside the
// configuration is a Diagnostic. The Config is returned even when the
// diagnostics hold errors, built from what could be understood, so that
// tools can show it; do not run it then.
func Load(path string, opts *Options) (*Config, Diagnostics, error) {
	src, err := opts.readFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read configuration: %w", err)
	}
	cfg, diags := Parse(path, src, opts)
	return cfg, diags, nil
}

// Parse is Load for a configuration already in memory; name is used in
// positions and to resolve relative includes.
func Parse(name string, src []byte, opts *Options) (*Config, Diagnostics) {
	r := &reporter{}
	rd := newReader(opts, r)
	rd.file(name, src, Pos{})
	toks := append(rd.toks, token{kind: tokEOF, pos: rd.lastPos})
	tree := parse(toks, r)
	cfg := build(tree, r)
	if cfg != nil {
		validate(cfg, r)
	}
	r.diags.sortStable(rd.fileOrder)
	if r.truncated {
		r.diags = append(r.diags, Diagnostic{Pos: Pos{File: name}, Severity: Error,
			Msg: fmt.Sprintf("too many findings; only the first %d are shown", maxDiagnostics)})
	}
	return cfg, r.diags
}

// reader turns files into one token stream, handling include directives,
// conditional lines and parameter definitions on the way, as keepalived's
// read_line does before any keyword is looked at.
type reader struct {
	opts      *Options
	r         *reporter
	configID  string
	toks      []token
	stack     []string // files being read, outermost first, for cycles
	fileOrder map[string]int
	defs      map[string]string
	lastPos   Pos
}

func newReader(opts *Options, r *reporter) *reader {
	return &reader{opts: opts, r: r, configID: opts.configID(), fileOrder: map[string]int{}}
}

// file lexes one file. from is the include directive that named it.
func (rd *reader) file(name string, src []byte, from Pos) {
	if _, ok := rd.fileOrder[name]; !ok {
		rd.fileOrder[name] = len(rd.fileOrder)
	}
	if i := bytes.IndexByte(src, 0); i >= 0 {
		line := 1 + bytes.Count(src[:i], []byte{'\n'})
		rd.r.errorf(Pos{name, line, 1 + i - (bytes.LastIndexByte(src[:i], '\n') + 1)},
			"file contains a NUL byte: this is binary data, not a keepalived configuration")
		return
	}
	if need := len(rd.toks) + countTokens(src); need > cap(rd.toks) {
		toks := make([]token, len(rd.toks), need+need/8)
		copy(toks, rd.toks)
		rd.toks = toks
	}
	rd.stack = append(rd.stack, name)
	defer func() { rd.stack = rd.stack[:len(rd.stack)-1] }()

	s := string(src)
	lineNo := 0
	for len(s) > 0 {
		lineNo++
		var line string
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			line, s = s, ""
		}
		pos := Pos{File: name, Line: lineNo}
		// Multi-line parameter definition: "$NAME= \" then lines ending in '\'.
		if def, ok := rd.startMultiline(line); ok {
			var body []string
			for len(s) > 0 {
				lineNo++
				var l string
				if i := strings.IndexByte(s, '\n'); i >= 0 {
					l, s = s[:i], s[i+1:]
				} else {
					l, s = s, ""
				}
				l = strings.TrimRight(l[:commentStart(l)], " \t\r")
				more := strings.HasSuffix(l, "\\")
				l = strings.TrimSpace(strings.TrimSuffix(l, "\\"))
				if l != "" {
					body = append(body, l)
				}
				if !more {
					break
				}
			}
			rd.defs[def] = strings.Join(body, "\n")
			continue
		}
		rd.line(line, pos)
	}
	rd.lastPos = Pos{File: name, Line: lineNo + 1, Col: 1}
}

// countTokens returns about how many tokens src holds: its words, braces
// and lines, comments included. It sizes the token slice in one go.
func countTokens(src []byte) int {
	n := 1
	inWord := false
	for _, c := range src {
		switch {
		case c == '\n':
			n++
			inWord = false
		case c == ' ' || c == '\t' || c == '\r':
			inWord = false
		case c == '{' || c == '}':
			n++
			inWord = false
		default:
			if !inWord {
				n++
				inWord = true
			}
		}
	}
	return n
}

// startMultiline reports whether line starts a multi-line definition and
// returns the parameter's name.
func (rd *reader) startMultiline(line string) (string, bool) {
	if strings.IndexByte(line, '$') < 0 {
		return "", false
	}
	l := strings.TrimSpace(strings.TrimRight(line[:commentStart(line)], "\r"))
	if len(l) < 4 || l[0] != '$' || !strings.HasSuffix(l, "\\") {
		return "", false
	}
	l = strings.TrimSpace(strings.TrimSuffix(l, "\\"))
	if !strings.HasSuffix(l, "=") || !isParamName(l[1:len(l)-1]) {
		return "", false
	}
	if rd.defs == nil {
		rd.defs = map[string]string{}
	}
	return l[1 : len(l)-1], true
}

// line handles one physical line: comment, condition, definition,
// substitution, include, then tokens.
func (rd *reader) line(raw string, pos Pos) {
	line := raw[:commentStart(raw)]
	col := 1
	for len(line) > 0 && isSpace(line[0]) {
		line = line[1:]
		col++
	}
	for len(line) > 0 && isSpace(line[len(line)-1]) {
		line = line[:len(line)-1]
	}
	if line == "" {
		return
	}
	if line[0] == '@' {
		var ok bool
		var n int
		if line, n, ok = rd.conditional(line); !ok {
			return
		}
		col += n
	}
	if line[0] == '$' {
		if name, value, ok := strings.Cut(line[1:], "="); ok && isParamName(name) {
			if rd.defs == nil {
				rd.defs = map[string]string{}
			}
			rd.defs[name] = strings.TrimSpace(value)
			return
		}
	}
	if strings.HasPrefix(line, "~SEQ") || strings.HasPrefix(line, "~LST") {
		rd.r.errorf(Pos{pos.File, pos.Line, col}, "%s blocks are not supported by govs; expand them into plain lines", line[:4])
		return
	}
	if strings.IndexByte(line, '$') >= 0 && (rd.defs != nil || strings.Contains(line, "${_")) {
		// Substitution first, so that "include ${_PWD}/x.conf" works.
		expanded, ok := rd.substitute(line, pos)
		if !ok {
			return
		}
		if expanded != line {
			// A multi-line parameter expands into several lines.
			// Columns in expanded text would point nowhere in the file:
			// every token of the line gets the line's first column.
			for _, l := range strings.Split(expanded, "\n") {
				l = strings.TrimSpace(l[:commentStart(l)])
				if l != "" {
					start := len(rd.toks)
					rd.tokens(l, pos, col)
					for i := start; i < len(rd.toks); i++ {
						if rd.toks[i].pos.File == pos.File && rd.toks[i].pos.Line == pos.Line {
							rd.toks[i].pos.Col = col
						}
					}
				}
			}
			return
		}
	}
	rd.tokens(line, pos, col)
}

// conditional applies "@id" and "@^id" and returns the rest of the line and
// how many bytes were cut from its start.
func (rd *reader) conditional(line string) (string, int, bool) {
	neg := strings.HasPrefix(line, "@^")
	ofs := 1
	if neg {
		ofs = 2
	}
	end := strings.IndexAny(line, " \t")
	if end < 0 {
		return "", 0, false
	}
	id := line[ofs:end]
	if (id == rd.configID) == neg {
		return "", 0, false
	}
	rest := strings.TrimLeft(line[end:], " \t")
	return rest, len(line) - len(rest), rest != ""
}

func isParamName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// substitute replaces ${NAME}, and $NAME followed by white space or the end
// of the line, by the parameter's value, again and again as keepalived does,
// up to a bound. Unknown parameters stay as they are.
func (rd *reader) substitute(line string, pos Pos) (string, bool) {
	for n := 0; ; n++ {
		out, changed := rd.substituteOnce(line, pos)
		if !changed {
			return out, true
		}
		if n >= maxExpansions || len(out) > maxLineBytes {
			rd.r.errorf(Pos{pos.File, pos.Line, 1}, "parameter substitution does not end (more than %d expansions or a line over %d bytes)", maxExpansions, maxLineBytes)
			return "", false
		}
		line = out
	}
}

func (rd *reader) substituteOnce(line string, pos Pos) (string, bool) {
	var b strings.Builder
	changed := false
	for {
		i := strings.IndexByte(line, '$')
		if i < 0 {
			break
		}
		if i > 0 && line[i-1] == '\\' {
			// An escaped '$' is not a parameter.
			b.WriteString(line[:i+1])
			line = line[i+1:]
			continue
		}
		b.WriteString(line[:i])
		rest := line[i+1:]
		var name string
		var after string
		braced := strings.HasPrefix(rest, "{")
		if braced {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				b.WriteByte('$')
				line = rest
				continue
			}
			name, after = rest[1:end], rest[end+1:]
		} else {
			end := 0
			for end < len(rest) && !isSpace(rest[end]) {
				end++
			}
			name, after = rest[:end], rest[end:]
		}
		value, ok := rd.param(name, pos)
		if !ok || !isParamName(name) {
			b.WriteByte('$')
			line = rest
			continue
		}
		b.WriteString(value)
		changed = true
		line = after
	}
	b.WriteString(line)
	return b.String(), changed
}

// param returns the value of a parameter, including keepalived's predefined
// ones.
func (rd *reader) param(name string, pos Pos) (string, bool) {
	if v, ok := rd.defs[name]; ok {
		return v, true
	}
	switch name {
	case "_PWD":
		dir, err := filepath.Abs(filepath.Dir(pos.File))
		if err != nil {
			dir = filepath.Dir(pos.File)
		}
		return dir, true
	case "_INSTANCE":
		return rd.configID, true
	case "_HASH":
		return "#", true
	case "_BANG":
		return "!", true
	}
	return "", false
}

// tokens lexes a finished line. An include directive is read from the
// raw line, as keepalived does, so that braces in its pattern are glob
// braces, not blocks.
func (rd *reader) tokens(line string, pos Pos, col int) {
	if strings.HasPrefix(line, "include") {
		kw, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexAny(kw, "\t"); i >= 0 {
			kw, rest = kw[:i], kw[i+1:]+" "+rest
		}
		if mode, ok := includeModes[kw]; ok {
			rest = strings.TrimSpace(rest)
			argCol := col + len(line) - len(strings.TrimLeft(line[len(kw):], " \t"))
			args := lexWords(nil, rest, pos, argCol, false, rd.r)
			args = args[:len(args)-1] // the EOL
			if len(args) != 1 {
				rd.r.errorf(Pos{pos.File, pos.Line, col}, "%s takes one file name or pattern", kw)
				return
			}
			rd.include(kw, mode, args[0], pos)
			return
		}
	}
	rd.toks = lexLine(rd.toks, line, pos, col, rd.r)
}

// includeMode says which include failures are errors, as keepalived's
// include variants and include_check.
type includeMode uint8

const (
	incNoMatchOK    includeMode = 1 << iota // includer: a pattern may match nothing
	incEachBrace                            // includeb, includea: every brace alternative must match
	incDefaultModes includeMode = 0
)

var includeModes = map[string]includeMode{
	"include":  incDefaultModes,
	"includer": incNoMatchOK,
	"includem": incDefaultModes,
	"includew": incDefaultModes,
	"includeb": incEachBrace,
	"includea": incEachBrace,
}

// include reads the files an include directive names, in glob order.
func (rd *reader) include(kw string, mode includeMode, arg token, pos Pos) {
	pattern := arg.text
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(pos.File), pattern)
	}
	if len(rd.stack) >= maxIncludeDepth {
		rd.r.errorf(arg.pos, "%s %q: includes nested more than %d deep", kw, arg.text, maxIncludeDepth)
		return
	}
	alts := expandBraces(pattern, maxBraceAlternatives)
	if alts == nil {
		rd.r.errorf(arg.pos, "%s %q: brace expression expands to more than %d patterns", kw, arg.text, maxBraceAlternatives)
		return
	}
	var files []string
	seen := map[string]bool{}
	for _, alt := range alts {
		matches, err := rd.opts.glob(alt)
		if err != nil {
			rd.r.errorf(arg.pos, "%s %q: bad pattern: %v", kw, arg.text, err)
			return
		}
		sort.Strings(matches)
		if len(matches) == 0 && mode&incEachBrace != 0 && len(alts) > 1 {
			rd.r.errorf(arg.pos, "%s %q: %q matches no file", kw, arg.text, alt)
		}
		for _, m := range matches {
			if !seen[m] {
				seen[m] = true
				files = append(files, m)
			}
		}
	}
	if len(files) == 0 {
		if mode&incNoMatchOK == 0 {
			rd.r.errorf(arg.pos, "%s %q matches no file (use includer for an optional include)", kw, arg.text)
		}
		return
	}
	for _, f := range files {
		if cyc := rd.cycle(f); cyc != "" {
			rd.r.errorf(arg.pos, "%s %q: include cycle: %s", kw, arg.text, cyc)
			continue
		}
		src, err := rd.opts.readFile(f)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && mode&incNoMatchOK != 0 {
				continue
			}
			rd.r.errorf(arg.pos, "%s %q: %v", kw, arg.text, err)
			continue
		}
		rd.file(f, src, arg.pos)
	}
}

// cycle returns a description of the include chain if f is already being
// read, else "".
func (rd *reader) cycle(f string) string {
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return filepath.Clean(a)
		}
		return filepath.Clean(p)
	}
	af := abs(f)
	for i, s := range rd.stack {
		if abs(s) == af {
			chain := append(append([]string{}, rd.stack[i:]...), f)
			return strings.Join(chain, " includes ")
		}
	}
	return ""
}

// maxBraceAlternatives bounds brace expansion: "{a,b}" repeated 40 times
// would otherwise make a trillion patterns.
const maxBraceAlternatives = 1024

// expandBraces expands csh-style braces: "a{b,c}d" gives "abd", "acd".
// Nested braces work; an unbalanced brace is taken literally. It returns nil
// when the expansion would give more than limit patterns.
func expandBraces(p string, limit int) []string {
	open := -1
	depth := 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '{':
			if depth == 0 {
				open = i
			}
			depth++
		case '}':
			if depth == 0 {
				continue
			}
			depth--
			if depth > 0 {
				continue
			}
			// Split p[open+1:i] on top-level commas.
			var alts []string
			d, last := 0, open+1
			for j := open + 1; j < i; j++ {
				switch p[j] {
				case '{':
					d++
				case '}':
					d--
				case ',':
					if d == 0 {
						alts = append(alts, p[last:j])
						last = j + 1
					}
				}
			}
			alts = append(alts, p[last:i])
			if len(alts) == 1 {
				// "{x}" is not a brace expression for glob(3) either.
				continue
			}
			var out []string
			for _, a := range alts {
				more := expandBraces(p[:open]+a+p[i+1:], limit-len(out))
				if more == nil {
					return nil
				}
				out = append(out, more...)
			}
			return out
		}
	}
	if limit < 1 {
		return nil
	}
	return []string{p}
}
