package forward

import (
	"encoding/binary"
	"math/bits"
)

// svcTable maps (address, port, protocol) to a service index: an
// open-addressing hash table built once per snapshot and then only read,
// pointer-free, with a hash cheaper than a Go map's for this fixed key.
// At most half full, so that a probe is short.
type svcTable struct {
	slots []svcSlot
	mask  uint64
	n     int
}

// svcSlot holds a key as 8-byte words, compared word by word.
type svcSlot struct {
	a, b uint64 // the address's two halves, little endian
	pp   uint32 // port<<8 | proto
	used bool
	svc  int32
}

// svcWords returns a key's words.
func svcWords(addr *Addr16, port uint16, proto uint8) (uint64, uint64, uint32) {
	return binary.LittleEndian.Uint64(addr[0:8]), binary.LittleEndian.Uint64(addr[8:16]), uint32(port)<<8 | uint32(proto)
}

func newSvcTable(entries int) svcTable {
	size := 16
	for size < 2*entries {
		size <<= 1
	}
	return svcTable{slots: make([]svcSlot, size), mask: uint64(size - 1)}
}

func svcHash(a, b uint64, pp uint32) uint64 {
	hi, lo := bits.Mul64(a^0x9e3779b97f4a7c15, b^uint64(pp)<<32^0xd6e8feb86659fd93)
	return hi ^ lo
}

// get returns the service index of (addr, port, proto), or -1.
func (t *svcTable) get(addr *Addr16, port uint16, proto uint8) int32 {
	if t.n == 0 {
		return -1
	}
	a, b, pp := svcWords(addr, port, proto)
	for i := svcHash(a, b, pp) & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if !s.used {
			return -1
		}
		if s.a == a && s.b == b && s.pp == pp {
			return s.svc
		}
	}
}

// put sets k's service index. The table must have room: it is sized for
// the entries at construction.
func (t *svcTable) put(k *svcKey, svc int32) {
	a, b, pp := svcWords(&k.addr, k.port, k.proto)
	for i := svcHash(a, b, pp) & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if !s.used {
			*s = svcSlot{a: a, b: b, pp: pp, used: true, svc: svc}
			t.n++
			return
		}
		if s.a == a && s.b == b && s.pp == pp {
			s.svc = svc
			return
		}
	}
}
