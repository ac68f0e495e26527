package forward

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"golang.org/x/net/bpf"
)

// The receive filter: a classic BPF program attached to every ring so that
// only frames for the virtual services are copied to userspace.
//
// It accepts a frame when all of these hold:
//
//   - the frame is addressed to this host (packet type PACKET_HOST: not
//     broadcast, multicast, or another host's unicast seen by a bridge port
//     or in promiscuous mode, which a DR forwarder would otherwise forward a
//     second time);
//   - it carries no VLAN tag, neither in the frame nor offloaded into the
//     packet's metadata (tagged frames are not ours);
//   - its EtherType is IPv4 or IPv6, the IP destination is a virtual
//     service's address and the IP protocol is one of that address's
//     services' protocols (for IPv6 the next header may also be an
//     extension header: hop-by-hop, routing, fragment or destination
//     options, which the parser walks).
//
// Ports are not checked: the worker's service lookup does that, and the
// IPv4 options and IPv6 extension headers that move the ports make them
// costly in classic BPF.
//
// Addresses are found by binary search in the program itself: IPv4
// destinations are compared as one 32-bit word, IPv6 destinations one word
// after another (a tree: the addresses sharing the first words share the
// comparisons of those words). Leaves compare up to filterLeaf values
// linearly: about 1.3 instructions per address, so a program of 4096
// instructions (the kernel's limit) holds about 3,000 unrelated addresses
// (IPv4, or IPv6 that share their first 96 bits), and any number of
// consecutive ones, which are compared as ranges. When the services need more, BuildFilter makes the
// filter coarser until it fits: it merges the closest addresses into ranges,
// then matches IPv6 prefixes (/96, /64, /32) instead of addresses, and at
// last accepts every IPv4 or IPv6 frame of the services' protocols. A coarse
// filter only lets more frames through; the worker still drops what is not
// for a service (DropNoService).

// FilterService is one virtual service as the receive filter and the
// ingress guard see it.
type FilterService struct {
	Addr  netip.Addr
	Proto uint8  // IP protocol: 6 TCP, 17 UDP; not 0
	Port  uint16 // destination port; 0 means any port
}

const (
	// filterMaxInsns is the kernel's limit on a classic BPF program
	// (BPF_MAXINSNS).
	filterMaxInsns = 4096
	// filterLeaf is how many values a leaf of the search compares one
	// after the other.
	filterLeaf = 16
	// filterAccept is what the program returns for a frame it takes: the
	// number of bytes to keep, here all of them.
	filterAccept = 0xffffffff
)

// Offsets in an untagged Ethernet frame.
const (
	offEtherType = 12
	offIPv4Proto = 14 + 9
	offIPv4Dst   = 14 + 16
	offIPv6Next  = 14 + 6
	offIPv6Dst   = 14 + 24
)

// ipv6ExtHeaders are the next-header values that the parser walks to find
// TCP or UDP, so the filter lets them through for any IPv6 service.
var ipv6ExtHeaders = [...]uint8{0, 43, 44, 60}

// BuildFilter returns the classic BPF program of the receive filter for the
// services, to attach with RingConfig.Filter or Ring.SetFilter. With no
// services it rejects every frame.
func BuildFilter(services []FilterService) ([]bpf.RawInstruction, error) {
	prog, _, err := buildFilter(services, filterMaxInsns)
	return prog, err
}

// protoSet is a set of IP protocol numbers.
type protoSet [4]uint64

func (s *protoSet) add(p uint8)     { s[p/64] |= 1 << (p % 64) }
func (s protoSet) has(p uint8) bool { return s[p/64]&(1<<(p%64)) != 0 }
func (s protoSet) union(o protoSet) protoSet {
	for i := range s {
		s[i] |= o[i]
	}
	return s
}

// list returns the protocols in s in ascending order.
func (s protoSet) list() []uint8 {
	var l []uint8
	for p := range 256 {
		if s.has(uint8(p)) {
			l = append(l, uint8(p))
		}
	}
	return l
}

// fnode is one item of a sorted list that the filter searches at one level
// of the address: the 32-bit word at that level lies in [lo, hi]. A node
// with sub (then lo == hi) continues with the next word; a node without sub
// matches, for the protocols in protos.
type fnode struct {
	lo, hi uint32
	protos protoSet
	sub    []fnode
}

// allProtos returns the union of the protocols under the nodes.
func allProtos(nodes []fnode) protoSet {
	var s protoSet
	for _, n := range nodes {
		if n.sub != nil {
			s = s.union(allProtos(n.sub))
		} else {
			s = s.union(n.protos)
		}
	}
	return s
}

// buildTree returns the search tree of addresses given as words.
func buildTree(keys map[[4]uint32]protoSet, words int) []fnode {
	sorted := make([][4]uint32, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.SortFunc(sorted, func(a, b [4]uint32) int {
		for i := range a {
			if c := cmp.Compare(a[i], b[i]); c != 0 {
				return c
			}
		}
		return 0
	})
	var build func(ks [][4]uint32, level int) []fnode
	build = func(ks [][4]uint32, level int) []fnode {
		var nodes []fnode
		for i := 0; i < len(ks); {
			j := i
			for j < len(ks) && ks[j][level] == ks[i][level] {
				j++
			}
			n := fnode{lo: ks[i][level], hi: ks[i][level]}
			if level == words-1 {
				n.protos = keys[ks[i]]
			} else {
				n.sub = build(ks[i:j], level+1)
			}
			nodes = append(nodes, n)
			i = j
		}
		return nodes
	}
	return build(sorted, 0)
}

// truncate cuts the tree at depth levels: the nodes at the last level kept
// match whatever follows.
func truncate(nodes []fnode, depth int) []fnode {
	out := slices.Clone(nodes)
	for i := range out {
		if out[i].sub == nil {
			continue
		}
		if depth <= 1 {
			out[i].protos = allProtos(out[i].sub)
			out[i].sub = nil
		} else {
			out[i].sub = truncate(out[i].sub, depth-1)
		}
	}
	return out
}

// gapRef names the gap between two neighbours in a list of matching nodes.
type gapRef struct {
	list *[]fnode
	i    int    // the gap between (*list)[i] and (*list)[i+1]
	size uint32 // values between them
}

// collectGaps appends the gaps of every list whose nodes all match.
func collectGaps(list *[]fnode, gaps []gapRef) []gapRef {
	leaves := true
	for i := range *list {
		if (*list)[i].sub != nil {
			leaves = false
			gaps = collectGaps(&(*list)[i].sub, gaps)
		}
	}
	if leaves {
		for i := 0; i+1 < len(*list); i++ {
			gaps = append(gaps, gapRef{list: list, i: i, size: (*list)[i+1].lo - (*list)[i].hi - 1})
		}
	}
	return gaps
}

// mergeGaps merges the neighbours across the k smallest gaps of the trees
// into ranges.
func mergeGaps(trees []*[]fnode, k int) {
	var gaps []gapRef
	for _, t := range trees {
		gaps = collectGaps(t, gaps)
	}
	slices.SortStableFunc(gaps, func(a, b gapRef) int { return cmp.Compare(a.size, b.size) })
	merge := make(map[*[]fnode][]bool)
	for _, g := range gaps[:min(k, len(gaps))] {
		m := merge[g.list]
		if m == nil {
			m = make([]bool, len(*g.list))
			merge[g.list] = m
		}
		m[g.i] = true // merge node i+1 into node i
	}
	for list, m := range merge {
		var out []fnode
		for i, n := range *list {
			if i > 0 && m[i-1] {
				last := &out[len(out)-1]
				last.hi = n.hi
				last.protos = last.protos.union(n.protos)
				continue
			}
			out = append(out, n)
		}
		*list = out
	}
}

// buildFilter builds the filter within maxInsns instructions and reports
// whether it is exact (no coarsening was needed).
func buildFilter(services []FilterService, maxInsns int) ([]bpf.RawInstruction, bool, error) {
	keys4 := make(map[[4]uint32]protoSet)
	keys6 := make(map[[4]uint32]protoSet)
	for _, s := range services {
		if s.Proto == 0 {
			return nil, false, fmt.Errorf("filter: service %v: protocol 0", s.Addr)
		}
		a := s.Addr.Unmap()
		var k [4]uint32
		switch {
		case a.Is4():
			b := a.As4()
			k[0] = binary.BigEndian.Uint32(b[:])
			ps := keys4[k]
			ps.add(s.Proto)
			keys4[k] = ps
		case a.Is6():
			b := a.As16()
			for i := range k {
				k[i] = binary.BigEndian.Uint32(b[4*i:])
			}
			ps := keys6[k]
			ps.add(s.Proto)
			keys6[k] = ps
		default:
			return nil, false, fmt.Errorf("filter: service with an invalid address")
		}
	}
	v4 := buildTree(keys4, 1)
	v6 := buildTree(keys6, 4)
	v6depth := 4
	v4any, v6any := false, false // match every address of the family
	exact := true
	build := func(v4, v6 []fnode) ([]bpf.RawInstruction, error) {
		return filterProgram(v4, v6, v4any, v6any)
	}
	for {
		prog, err := build(v4, v6)
		if err != nil {
			return nil, false, err
		}
		if len(prog) <= maxInsns {
			return prog, exact, nil
		}
		exact = false
		// Merge the fewest closest neighbours into ranges that make the
		// program fit, found by binary search over their number.
		merged := func(k int) ([]fnode, []fnode, int, error) {
			m4, m6 := cloneTree(v4), cloneTree(v6)
			mergeGaps([]*[]fnode{&m4, &m6}, k)
			p, err := build(m4, m6)
			return m4, m6, len(p), err
		}
		if gaps := len(collectGaps(&v4, collectGaps(&v6, nil))); gaps > 0 {
			m4, m6, n, err := merged(gaps)
			if err != nil {
				return nil, false, err
			}
			if n <= maxInsns {
				lo, hi := 1, gaps
				for lo < hi {
					mid := (lo + hi) / 2
					_, _, n, err := merged(mid)
					if err != nil {
						return nil, false, err
					}
					if n <= maxInsns {
						hi = mid
					} else {
						lo = mid + 1
					}
				}
				m4, m6, _, _ = merged(lo)
			}
			v4, v6 = m4, m6
			continue
		}
		switch {
		case v6depth > 1:
			v6depth--
			v6 = truncate(v6, v6depth)
		case !v6any && len(v6) > 1:
			v6any = true
		case !v4any && len(v4) > 1:
			v4any = true
		default:
			return nil, false, errors.New("filter: does not fit the kernel's limit")
		}
	}
}

// cloneTree returns a deep copy of the nodes.
func cloneTree(nodes []fnode) []fnode {
	out := slices.Clone(nodes)
	for i := range out {
		if out[i].sub != nil {
			out[i].sub = cloneTree(out[i].sub)
		}
	}
	return out
}

// filterProgram generates the program.
func filterProgram(v4, v6 []fnode, v4any, v6any bool) ([]bpf.RawInstruction, error) {
	var a asm
	// Prologue: filterPrologueLen instructions, with local returns only.
	a.ins(bpf.LoadExtension{Num: bpf.ExtType})
	a.ins(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0 /* PACKET_HOST */, SkipTrue: 1})
	a.ins(bpf.RetConstant{Val: 0})
	a.ins(bpf.LoadExtension{Num: bpf.ExtVLANTagPresent})
	a.ins(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1})
	a.ins(bpf.RetConstant{Val: 0})

	l4, l6 := a.newLabel(), a.newLabel()
	a.ins(bpf.LoadAbsolute{Off: offEtherType, Size: 2})
	if len(v4) > 0 {
		a.jeq(0x0800, l4)
	}
	if len(v6) > 0 {
		a.jeq(0x86dd, l6)
	}
	a.ins(bpf.RetConstant{Val: 0})
	if len(v4) > 0 {
		a.label(l4)
		a.family(v4, v4any, offIPv4Proto, offIPv4Dst, protoSet{})
	}
	if len(v6) > 0 {
		var ext protoSet
		for _, p := range ipv6ExtHeaders {
			ext.add(p)
		}
		a.label(l6)
		a.family(v6, v6any, offIPv6Next, offIPv6Dst, ext)
	}
	insns, err := a.link()
	if err != nil {
		return nil, err
	}
	return bpf.Assemble(insns)
}

// family generates the code for one address family: the protocol into X,
// checked against the union of the family's protocols (and extra, for IPv6
// extension headers), then the search of the destination address.
func (a *asm) family(nodes []fnode, any bool, offProto, offDst uint32, extra protoSet) {
	union := allProtos(nodes).union(extra)
	a.ins(bpf.LoadAbsolute{Off: offProto, Size: 1})
	a.ins(bpf.TAX{})
	a.protoCheck(union.list())
	if any {
		a.ins(bpf.RetConstant{Val: filterAccept})
		return
	}
	a.ins(bpf.LoadAbsolute{Off: offDst, Size: 4})
	a.search(nodes, offDst, union, extra)
}

// protoCheck returns 0 unless A is one of protos, else falls through.
func (a *asm) protoCheck(protos []uint8) {
	ok := a.newLabel()
	for _, p := range protos {
		a.jeq(uint32(p), ok)
	}
	a.ins(bpf.RetConstant{Val: 0})
	a.label(ok)
}

// search generates the binary search of A (the address word at offset off)
// among nodes. union is the set of protocols already checked; a matching
// node with fewer protocols checks X against its own (plus extra).
func (a *asm) search(nodes []fnode, off uint32, union, extra protoSet) {
	if len(nodes) > filterLeaf {
		mid := len(nodes) / 2
		right := a.newLabel()
		a.jump(bpf.JumpGreaterOrEqual, nodes[mid].lo, right, a.next())
		a.search(nodes[:mid], off, union, extra)
		a.label(right)
		a.search(nodes[mid:], off, union, extra)
		return
	}
	// A leaf: the nodes one after the other, in ascending order, so a
	// value below a node's range is below all that follow.
	acc, rej := a.newLabel(), a.newLabel()
	type target struct {
		label  int
		protos protoSet
		sub    []fnode
	}
	var targets []target
	targetOf := func(n fnode) int {
		if n.sub == nil && n.protos.union(extra) == union {
			return acc
		}
		if n.sub == nil {
			for _, t := range targets {
				if t.sub == nil && t.protos == n.protos {
					return t.label
				}
			}
		}
		t := target{label: a.newLabel(), protos: n.protos, sub: n.sub}
		targets = append(targets, t)
		return t.label
	}
	for _, n := range nodes {
		t := targetOf(n)
		if n.lo == n.hi {
			a.jump(bpf.JumpEqual, n.lo, t, a.next())
			continue
		}
		a.jump(bpf.JumpLessThan, n.lo, rej, a.next())
		a.jump(bpf.JumpLessOrEqual, n.hi, t, a.next())
	}
	a.label(rej)
	a.ins(bpf.RetConstant{Val: 0})
	a.label(acc)
	a.ins(bpf.RetConstant{Val: filterAccept})
	for _, t := range targets {
		a.label(t.label)
		if t.sub != nil {
			a.ins(bpf.LoadAbsolute{Off: off + 4, Size: 4})
			a.search(t.sub, off+4, union, extra)
			continue
		}
		a.ins(bpf.TXA{})
		a.protoCheck(t.protos.union(extra).list())
		a.ins(bpf.RetConstant{Val: filterAccept})
	}
}

// asm is a small assembler for classic BPF with labels. Conditional jumps
// reach at most 255 instructions ahead; link inserts an unconditional jump
// (32-bit offset) after a conditional jump whose target is farther.
type asm struct {
	prog   []asmInsn
	labels []int // label -> index in prog of the instruction it marks
}

type asmInsn struct {
	ins      bpf.Instruction // when not a jump
	cond     bpf.JumpTest
	val      uint32
	jt, jf   int  // labels, for a conditional jump
	ja       int  // label, for an unconditional jump
	isCond   bool // conditional jump
	isJa     bool // unconditional jump
	labelsAt []int
}

func (a *asm) newLabel() int {
	a.labels = append(a.labels, -1)
	return len(a.labels) - 1
}

// label marks the next instruction.
func (a *asm) label(l int) { a.labels[l] = len(a.prog) }

// next returns a label for the instruction after the next one emitted:
// the fall-through of a jump about to be emitted.
func (a *asm) next() int {
	l := a.newLabel()
	a.labels[l] = len(a.prog) + 1
	return l
}

func (a *asm) ins(i bpf.Instruction) { a.prog = append(a.prog, asmInsn{ins: i}) }

func (a *asm) jeq(v uint32, target int) { a.jump(bpf.JumpEqual, v, target, a.next()) }

func (a *asm) jump(cond bpf.JumpTest, v uint32, jt, jf int) {
	a.prog = append(a.prog, asmInsn{isCond: true, cond: cond, val: v, jt: jt, jf: jf})
}

// link resolves the labels, inserting long jumps where needed.
func (a *asm) link() ([]bpf.Instruction, error) {
	// Attach labels to instructions so that insertions move them along.
	// Labels never placed are never used.
	prog := a.prog
	for l, at := range a.labels {
		if at >= len(prog) {
			return nil, fmt.Errorf("filter: label %d past the end", l)
		}
		if at >= 0 {
			prog[at].labelsAt = append(prog[at].labelsAt, l)
		}
	}
	positions := func() []int {
		pos := make([]int, len(a.labels))
		for i := range pos {
			pos[i] = -1 << 30 // an unplaced label makes any jump to it fail
		}
		for i, in := range prog {
			for _, l := range in.labelsAt {
				pos[l] = i
			}
		}
		return pos
	}
	for {
		pos := positions()
		var out []asmInsn
		changed := false
		for i, in := range prog {
			if !in.isCond {
				out = append(out, in)
				continue
			}
			// Offsets are counted in the program as it was; an
			// insertion makes later ones larger, so the loop repeats
			// until nothing changes.
			far := func(l int) bool { return pos[l]-i-1 > 255 }
			var tramps []asmInsn
			if far(in.jt) {
				l := a.newLabel()
				tramps = append(tramps, asmInsn{isJa: true, ja: in.jt, labelsAt: []int{l}})
				in.jt = l
			}
			if far(in.jf) {
				l := a.newLabel()
				tramps = append(tramps, asmInsn{isJa: true, ja: in.jf, labelsAt: []int{l}})
				in.jf = l
			}
			if len(tramps) > 0 {
				changed = true
			}
			out = append(out, in)
			out = append(out, tramps...)
		}
		prog = out
		if !changed {
			break
		}
	}
	pos := positions()
	insns := make([]bpf.Instruction, len(prog))
	for i, in := range prog {
		switch {
		case in.isJa:
			if pos[in.ja]-i-1 < 0 {
				return nil, fmt.Errorf("filter: jump out of range at %d", i)
			}
			insns[i] = bpf.Jump{Skip: uint32(pos[in.ja] - i - 1)}
		case in.isCond:
			jt, jf := pos[in.jt]-i-1, pos[in.jf]-i-1
			if jt < 0 || jf < 0 || jt > 255 || jf > 255 {
				return nil, fmt.Errorf("filter: jump out of range at %d", i)
			}
			insns[i] = bpf.JumpIf{Cond: in.cond, Val: in.val, SkipTrue: uint8(jt), SkipFalse: uint8(jf)}
		default:
			insns[i] = in.ins
		}
	}
	return insns, nil
}
