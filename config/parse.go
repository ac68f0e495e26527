package config

import "strings"

// node is one statement: a keyword, its arguments on the same line, and the
// block that follows it, if any.
type node struct {
	key   token
	args  []token
	block *block
}

// block is the { ... } after a keyword.
type block struct {
	open   Pos
	close  Pos // zero when the block is never closed
	nodes  []node
	broken bool // nested too deep or never closed: contents incomplete
}

// maxDepth bounds block nesting. keepalived's deepest block is five levels
// (virtual_server, real_server, HTTP_GET, url); 10,000 nested braces get an
// error, not a stack overflow.
const maxDepth = 32

// describe names a statement for messages: its keyword and first argument.
func (n *node) describe() string {
	s := n.key.text
	for i, a := range n.args {
		if i == 2 {
			s += " ..."
			break
		}
		s += " " + a.text
	}
	return s
}

type parser struct {
	toks []token
	i    int
	r    *reporter
	// scratch collects the statements of the blocks being parsed, as a
	// stack: a block's statements are copied out to a slice of their own,
	// of the right size, when the block ends.
	scratch []node
	// blocks is a slab that blocks are taken from, a chunk at a time.
	blocks []block
}

// newBlock returns a block from the slab.
func (p *parser) newBlock(open Pos) *block {
	if len(p.blocks) == 0 {
		p.blocks = make([]block, 256)
	}
	b := &p.blocks[0]
	p.blocks = p.blocks[1:]
	b.open = open
	return b
}

// parse builds the statement tree of a whole configuration.
func parse(toks []token, r *reporter) *block {
	p := &parser{toks: toks, r: r}
	root := &block{}
	root.nodes, _, _ = p.block(0, nil)
	return root
}

// block parses statements up to the '}' that closes the current block, or
// to the end of input. It reports whether the block was closed and where.
func (p *parser) block(depth int, owner *node) ([]node, bool, Pos) {
	base := len(p.scratch)
	done := func() []node {
		nodes := append([]node(nil), p.scratch[base:]...)
		clear(p.scratch[base:])
		p.scratch = p.scratch[:base]
		return nodes
	}
	for {
		t := p.toks[p.i]
		switch t.kind {
		case tokEOF:
			return done(), false, Pos{}
		case tokEOL:
			p.i++
		case tokClose:
			p.i++
			if depth == 0 {
				p.r.errorf(t.pos, "unexpected '}': no block is open here")
				continue
			}
			return done(), true, t.pos
		case tokOpen:
			p.i++
			p.r.errorf(t.pos, "'{' without a keyword before it")
			p.skipBlock(t)
		case tokWord:
			start := p.i
			for p.toks[p.i].kind == tokWord {
				p.i++
			}
			n := node{key: p.toks[start], args: p.toks[start+1 : p.i : p.i]}
			if p.opensBlock() {
				open := p.toks[p.i]
				p.i++
				n.block = p.newBlock(open.pos)
				if depth+1 >= maxDepth {
					p.r.errorf(open.pos, "blocks nested more than %d deep", maxDepth)
					n.block.broken = !p.skipBlock(open)
				} else {
					var closed bool
					n.block.nodes, closed, n.block.close = p.block(depth+1, &n)
					if !closed {
						n.block.broken = true
						p.r.errorf(open.pos, "%s: this '{' is never closed (a '}' is missing at the end of the block that starts here)", n.describe())
					}
				}
			}
			p.scratch = append(p.scratch, n)
		}
	}
}

// opensBlock reports whether a '{' follows, on the same line or, as
// keepalived allows, alone on a following line. It consumes the end of lines
// in between only when it does.
func (p *parser) opensBlock() bool {
	j := p.i
	for p.toks[j].kind == tokEOL {
		j++
	}
	if p.toks[j].kind != tokOpen {
		return false
	}
	p.i = j
	return true
}

// skipBlock skips to the '}' matching an already consumed '{', counting
// nesting without recursion. It reports whether that '}' was found.
func (p *parser) skipBlock(open token) bool {
	depth := 1
	for {
		t := p.toks[p.i]
		switch t.kind {
		case tokEOF:
			p.r.errorf(open.pos, "this '{' is never closed")
			return false
		case tokOpen:
			depth++
		case tokClose:
			depth--
			if depth == 0 {
				p.i++
				return true
			}
		}
		p.i++
	}
}

// argsText joins a statement's arguments for messages.
func argsText(args []token) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a.text)
	}
	return b.String()
}
