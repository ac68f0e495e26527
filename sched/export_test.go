package sched

// Hooks into unexported state for the external tests.

var (
	Hash3     = hash3
	FlowHash  = flowHash
	Reduce    = reduce
	Rehash    = rehash
	MixGCD    = gcd
	IsPrime   = isPrime
	KeyWords  = keyWords
	Canonical = canonical
)

func FastMod(d, x uint32) uint32 { return newFastMod(d).mod(x) }

// Slots returns the lookup table of an sh, dh or mh scheduler in canonical
// indices, as built, and the canonical-to-caller permutation.
func Slots(s Scheduler) (slots, perm []uint16) {
	var t *hashTable
	switch s := s.(type) {
	case *srcHash:
		t = &s.t
	case *dh:
		t = &s.t
	default:
		return nil, nil
	}
	canon := make([]uint16, s.Len())
	for c, i := range t.perm {
		canon[i] = uint16(c)
	}
	slots = make([]uint16, len(t.slots))
	for j, i := range t.slots {
		slots[j] = canon[i]
	}
	return slots, t.perm
}

// SetPosition sets an rr or wrr scheduler's position.
func SetPosition(s Scheduler, p uint32) {
	switch s := s.(type) {
	case *rr:
		s.pos.Store(p)
	case *wrr:
		s.pos.Store(p)
	}
}

// WRRTable reports whether a wrr scheduler uses its table form.
func WRRTable(s Scheduler) bool { return s.(*wrr).seq != nil }

// NewWRRGroups builds a wrr scheduler in group form whatever its cycle
// length.
func NewWRRGroups(backends []Backend) (Scheduler, error) {
	b, err := newBase(WRR, backends)
	if err != nil {
		return nil, err
	}
	return newWRRLimit(b, 0), nil
}

// SetRandom replaces a twos scheduler's random source.
func SetRandom(s Scheduler, f func(n uint64) uint64) { s.(*twos).rnd = f }

// MaglevTurns exposes IPVS mh's turn computation.
var MaglevTurns = maglevTurns
