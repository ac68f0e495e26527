package sched

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// FROZEN. Everything in this file decides which real server a client lands
// on with sh, dh and mh, and how Maglev lays out its table. Two load
// balancers (or two versions of govs during a rolling upgrade) must agree, so
// these functions, constants and word layouts never change; hash_test.go pins
// their output. The hash is written out here rather than imported so that no
// dependency upgrade can move clients.
//
// Two hashes, neither meant to resist an attacker who knows it:
//
//   - hash3, for building tables (Maglev offsets and skips): an
//     xxHash64-style construction on whole 64-bit words (one
//     multiply-rotate-multiply round per word, then xxHash64's avalanche).
//     It is not xxHash64 itself.
//   - flowHash, on the packet path (sh, dh, mh lookups): two folded 128-bit
//     multiplications in the style of wyhash's mum, a few cycles.

// xxHash64's published primes.
const (
	prime1 = 0x9e3779b185ebca87
	prime2 = 0xc2b2ae3d27d4eb4f
	prime3 = 0x165667b19e3779f9
)

// Seeds, frozen. Each use of the hash has its own.
const (
	seedMaglevOffset = 0x6d61676c65762d6f // "maglev-o": a real server's Maglev offset
	seedMaglevSkip   = 0x6d61676c65762d73 // "maglev-s": a real server's Maglev skip
	seedFlow         = 0x666c6f772d6b6579 // "flow-key": a client (sh, mh) or destination (dh)
	seedIndex        = 0x696e6465782d6b79 // "index-ky": AddrPort lookups (not persistent)
	seedTemplate     = 0x74656d706c617465 // "template": persistence slots (not persistent)
)

func round(h, w uint64) uint64 {
	return bits.RotateLeft64(h+w*prime2, 31) * prime1
}

func avalanche(h uint64) uint64 {
	h ^= h >> 33
	h *= prime2
	h ^= h >> 29
	h *= prime3
	h ^= h >> 32
	return h
}

// hash3 hashes three words under a seed. Frozen.
func hash3(seed, a, b, c uint64) uint64 {
	h := seed + prime3
	h = round(h, a)
	h = round(h, b)
	h = round(h, c)
	return avalanche(h)
}

// rehash is the k-th (k >= 1) fallback probe after the hash h. Frozen.
func rehash(h, k uint64) uint64 {
	return avalanche(h + k*prime1)
}

// reduce maps h uniformly onto [0, n) with a multiply instead of a division
// (Lemire's "fast range"). Frozen: it is how every hash becomes a table slot.
func reduce(h, n uint64) uint64 {
	hi, _ := bits.Mul64(h, n)
	return hi
}

// addrWords turns an address into the two hash words of its 16-byte form
// (IPv4 as ::ffff:a.b.c.d), big-endian, and its family word: 4 for IPv4,
// 6 for anything else. Frozen.
func addrWords(a netip.Addr) (hi, lo, fam uint64) {
	// AsSlice, unlike As16, lets the compiler read the words straight from
	// where it stored them; a 16-byte copy in between defeats store
	// forwarding and costs more than the hash. It does not allocate.
	b := a.AsSlice()
	switch len(b) {
	case 4:
		return 0, 0xffff<<32 | uint64(binary.BigEndian.Uint32(b)), 4
	case 16:
		return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:16]), 6
	}
	return 0, 0, 6 // the zero Addr: no flow has it
}

// keyWords are the three hash words of an address and port: the address
// words and fam<<16 | port. Frozen: it is both the canonical real server key
// and the client key (port 0 unless sh-port or mh-port).
func keyWords(a netip.Addr, port uint16) (hi, lo, third uint64) {
	hi, lo, fam := addrWords(a)
	return hi, lo, fam<<16 | uint64(port)
}

// mum multiplies a and b into 128 bits and folds the halves together.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// Flow hash constants, frozen: wyhash's published default secrets.
// flowKey1's upper half is not 0x0000ffff, so the low word of an IPv4
// address never cancels it.
const (
	flowKey0 = 0xa0761d6478bd642f
	flowKey1 = 0xe7037ed1a0b428db
	flowKey2 = 0x8ebc6af09c88c6e3
	flowKey3 = 0x589965cc75374cc3
)

// flowHash is the frozen hash of a client address and port for sh and mh,
// and of a destination address for dh:
//
//	mum(mum(hi^flowKey0, lo^flowKey1) ^ third ^ seedFlow ^ flowKey2, flowKey3)
//
// with hi, lo, third = keyWords(a, port).
func flowHash(a netip.Addr, port uint16) uint64 {
	hi, lo, third := keyWords(a, port)
	return mum(mum(hi^flowKey0, lo^flowKey1)^third^seedFlow^flowKey2, flowKey3)
}
