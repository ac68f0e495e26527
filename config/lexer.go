package config

import (
	"strings"
)

// tokKind is the kind of a lexical token.
type tokKind uint8

const (
	_        tokKind = iota
	tokWord          // a keyword or argument, quotes and escapes resolved
	tokOpen          // {
	tokClose         // }
	tokEOL           // end of a line: keepalived statements are line based
	tokEOF
)

// token is one lexical token with its position.
type token struct {
	kind   tokKind
	quoted bool // the word had quotes or escapes in the file
	text   string
	pos    Pos
}

// isSpace reports whether c separates words, as keepalived's WHITE_SPACE.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

// commentStart returns the index where a comment starts in line, or len(line).
// '#' and '!' start a comment outside quotes; a backslash escapes them.
func commentStart(line string) int {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\':
			i++ // skip the escaped character, quoted or not
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' || c == '!':
			return i
		}
	}
	return len(line)
}

// lexLine appends the tokens of one line to toks, then a tokEOL. col0 is the
// column of line[0] in the file. Comments must already be cut off.
//
// The rules are keepalived's: words split on white space; '{' and '}' are
// tokens of their own wherever they stand outside quotes; a word may mix
// unquoted text with "double" or 'single' quoted parts, which are joined
// with the quotes removed; a backslash escapes the next character as in
// keepalived's quoted strings (\n, \t, \xHH, \nnn octal, \cC, and \C for any
// other C).
func lexLine(toks []token, line string, pos Pos, col0 int, r *reporter) []token {
	return lexWords(toks, line, pos, col0, true, r)
}

// lexWords is lexLine; braces says whether '{' and '}' are tokens.
func lexWords(toks []token, line string, pos Pos, col0 int, braces bool, r *reporter) []token {
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i >= len(line) {
			break
		}
		p := pos
		p.Col = col0 + i
		switch c := line[i]; {
		case braces && c == '{':
			toks = append(toks, token{kind: tokOpen, text: "{", pos: p})
			i++
			continue
		case braces && c == '}':
			toks = append(toks, token{kind: tokClose, text: "}", pos: p})
			i++
			continue
		}
		// Fast path: a plain word is a substring of the line.
		j := i
		for j < len(line) && !isSpace(line[j]) {
			c := line[j]
			if braces && (c == '{' || c == '}') || c == '"' || c == '\'' || c == '\\' {
				break
			}
			j++
		}
		if j == len(line) || isSpace(line[j]) || braces && (line[j] == '{' || line[j] == '}') {
			toks = append(toks, token{kind: tokWord, text: line[i:j], pos: p})
			i = j
			continue
		}
		var b strings.Builder
		b.WriteString(line[i:j])
		i = j
		var quote byte
		var quotePos Pos
	word:
		for i < len(line) {
			c := line[i]
			switch {
			case c == '\\':
				if i+1 >= len(line) {
					r.errorf(Pos{pos.File, pos.Line, col0 + i}, "backslash at end of line (line continuation works only in $PARAMETER definitions)")
					i++
					break word
				}
				n := unescape(&b, line[i+1:])
				i += 1 + n
			case quote != 0:
				if c == quote {
					quote = 0
				} else {
					b.WriteByte(c)
				}
				i++
			case c == '"' || c == '\'':
				quote = c
				quotePos = Pos{pos.File, pos.Line, col0 + i}
				i++
			case isSpace(c) || braces && (c == '{' || c == '}'):
				break word
			default:
				b.WriteByte(c)
				i++
			}
		}
		if quote != 0 {
			r.errorf(quotePos, "unterminated %c quote", quote)
		}
		toks = append(toks, token{kind: tokWord, quoted: true, text: b.String(), pos: p})
	}
	return append(toks, token{kind: tokEOL, pos: Pos{pos.File, pos.Line, col0 + len(line)}})
}

// unescape writes the character escaped by a backslash at the start of s
// and returns how many bytes of s it used. s is not empty.
func unescape(b *strings.Builder, s string) int {
	c := s[0]
	switch c {
	case 'a':
		b.WriteByte('\a')
	case 'b':
		b.WriteByte('\b')
	case 'E':
		b.WriteByte(0x1b)
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'v':
		b.WriteByte('\v')
	case 'x':
		n, v := 1, byte(0)
		for n < len(s) && isHex(s[n]) {
			v = v<<4 | hexVal(s[n])
			n++
		}
		if n == 1 {
			b.WriteByte('x')
			return 1
		}
		b.WriteByte(v)
		return n
	case 'c':
		if len(s) < 2 {
			b.WriteByte('c')
			return 1
		}
		b.WriteByte(s[1] & 0x1f)
		return 2
	case '0', '1', '2', '3', '4', '5', '6', '7':
		n, v := 0, byte(0)
		for n < len(s) && n < 3 && s[n] >= '0' && s[n] <= '7' {
			v = v<<3 | (s[n] - '0')
			n++
		}
		b.WriteByte(v)
		return n
	default:
		b.WriteByte(c)
	}
	return 1
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func hexVal(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// SplitCommand splits a script command line into arguments the way
// keepalived does for notify scripts, misc_path and vrrp_script: words split
// on white space, quotes group words and are removed, backslash escapes as in
// the configuration file. No shell is involved. It reports an unterminated
// quote as an error.
func SplitCommand(s string) ([]string, error) {
	r := &reporter{}
	toks := lexWords(nil, s, Pos{Line: 1}, 1, false, r)
	if len(r.diags) > 0 {
		return nil, &commandError{s, r.diags[0].Msg}
	}
	var args []string
	for _, t := range toks {
		if t.kind == tokWord {
			args = append(args, t.text)
		}
	}
	return args, nil
}

type commandError struct{ cmd, msg string }

func (e *commandError) Error() string { return "command " + quoteArg(e.cmd) + ": " + e.msg }
