package sched

import (
	"fmt"
	"net/netip"
)

// Scheduler picks a real server for each new flow of one virtual service.
// It is built once per snapshot by New and is then safe for concurrent use:
// Pick takes no lock and allocates nothing.
type Scheduler interface {
	// Algorithm returns the scheduler's lvs_sched name.
	Algorithm() Algorithm
	// Pick returns the index, in the slice given to New, of the real server
	// that the new flow f goes to, or false when no real server can take it
	// (all quiesced, all overflowing, or, for sh/dh/mh without fallback, the
	// client's real server is quiesced).
	Pick(f Flow) (int, bool)
	// Len returns the number of real servers.
	Len() int
	// Backend returns real server i as given to New (with Counters filled in).
	Backend(i int) Backend
	// Index returns the index of the real server at ap, if there is one.
	Index(ap netip.AddrPort) (int, bool)
}

// Every scheduler implements Scheduler.
var (
	_ Scheduler = (*rr)(nil)
	_ Scheduler = (*wrr)(nil)
	_ Scheduler = (*lc)(nil)
	_ Scheduler = (*wlc)(nil)
	_ Scheduler = (*sed)(nil)
	_ Scheduler = (*nq)(nil)
	_ Scheduler = (*fo)(nil)
	_ Scheduler = (*ovf)(nil)
	_ Scheduler = (*twos)(nil)
	_ Scheduler = (*srcHash)(nil)
	_ Scheduler = (*dh)(nil)
)

// Options tunes the schedulers that have options. The zero Options (or nil)
// gives the defaults. Options that do not apply to the chosen scheduler are
// ignored, as keepalived ignores sh-* flags on other schedulers.
type Options struct {
	// MHTableSize is mh's lookup table size M: a prime from 251 to
	// MaxMHTableSize, no smaller than the number of real servers. 0 means
	// DefaultMHTableSize. Maglev suggests M >= 100 times the real servers.
	MHTableSize int
	// MHPort (mh-port) hashes the client port as well as its address.
	MHPort bool
	// MHFallback (mh-fallback) sends a client whose real server is quiesced
	// to another real server instead of dropping the flow.
	MHFallback bool
	// SHPort (sh-port) hashes the client port as well as its address.
	SHPort bool
	// SHFallback (sh-fallback) sends a client whose real server is quiesced
	// to another real server instead of dropping the flow.
	SHFallback bool
}

// Maglev table sizes.
const (
	DefaultMHTableSize = 65537
	MinMHTableSize     = 251
	MaxMHTableSize     = 1<<24 - 3 // the largest prime below 2^24
)

// New builds the scheduler alg over backends, which it copies. It rejects
// lblc and lblcr (ErrUnsupported), more than MaxBackends real servers,
// invalid or repeated addresses, weights above MaxWeight and bad options.
func New(alg Algorithm, backends []Backend, opts *Options) (Scheduler, error) {
	if opts == nil {
		opts = &Options{}
	}
	if !alg.Supported() {
		if alg == LBLC || alg == LBLCR {
			return nil, unsupportedError(alg)
		}
		return nil, fmt.Errorf("new scheduler: invalid algorithm %d", alg)
	}
	b, err := newBase(alg, backends)
	if err != nil {
		return nil, fmt.Errorf("new %s scheduler: %w", alg, err)
	}
	switch alg {
	case RR:
		return newRR(b), nil
	case WRR:
		return newWRR(b), nil
	case LC:
		return newLC(b), nil
	case WLC:
		return newWLC(b), nil
	case SED:
		return newSED(b), nil
	case NQ:
		return newNQ(b), nil
	case FO:
		return newFO(b), nil
	case OVF:
		return newOVF(b), nil
	case TwoS:
		return newTwoS(b), nil
	case SH:
		return newSH(b, opts.SHPort, opts.SHFallback), nil
	case DH:
		return newDH(b), nil
	case MH:
		m := opts.MHTableSize
		if m == 0 {
			m = DefaultMHTableSize
		}
		if m < MinMHTableSize || m > MaxMHTableSize || !isPrime(uint64(m)) {
			return nil, fmt.Errorf("new mh scheduler: table size %d is not a prime from %d to %d",
				m, MinMHTableSize, MaxMHTableSize)
		}
		if len(backends) > m {
			return nil, fmt.Errorf("new mh scheduler: %d real servers do not fit a table of %d", len(backends), m)
		}
		return newMH(b, uint32(m), opts.MHPort, opts.MHFallback), nil
	}
	return nil, fmt.Errorf("new scheduler: invalid algorithm %d", alg)
}

// base holds what every scheduler keeps: the real servers in the caller's
// order, the ones that can take new flows, and an AddrPort index.
type base struct {
	alg      Algorithm
	backends []Backend
	// up lists, in the caller's order, the real servers with Weight > 0,
	// with their weights and counters side by side for the loops of the
	// connection-counting schedulers.
	up        []uint16
	upWeight  []uint64
	upCounter []*Counters
	// index is an open-addressing table of real server index+1 (0 = empty)
	// keyed by hash of AddrPort; its length is a power of two.
	index []uint16
}

func newBase(alg Algorithm, backends []Backend) (*base, error) {
	if len(backends) > MaxBackends {
		return nil, fmt.Errorf("%d real servers, at most %d", len(backends), MaxBackends)
	}
	b := &base{alg: alg, backends: make([]Backend, len(backends))}
	copy(b.backends, backends)
	size := 4
	for size < 2*len(backends) {
		size <<= 1
	}
	b.index = make([]uint16, size)
	for i := range b.backends {
		be := &b.backends[i]
		if !be.Addr.Addr().IsValid() {
			return nil, fmt.Errorf("real server %d: no address", i)
		}
		if be.Weight > MaxWeight || be.LastWeight > MaxWeight {
			return nil, fmt.Errorf("real server %s: weight above %d", be.Addr, MaxWeight)
		}
		if j, dup := b.Index(be.Addr); dup {
			return nil, fmt.Errorf("real server %s: given twice (at %d and %d)", be.Addr, j, i)
		}
		b.insertIndex(i)
		if be.Counters == nil {
			be.Counters = new(Counters)
		}
		if be.Weight > 0 {
			b.up = append(b.up, uint16(i))
			b.upWeight = append(b.upWeight, uint64(be.Weight))
			b.upCounter = append(b.upCounter, be.Counters)
		}
	}
	return b, nil
}

func indexHash(ap netip.AddrPort) uint64 {
	hi, lo, third := keyWords(ap.Addr(), ap.Port())
	return hash3(seedIndex, hi, lo, third)
}

func (b *base) insertIndex(i int) {
	mask := uint64(len(b.index) - 1)
	for h := indexHash(b.backends[i].Addr) & mask; ; h = (h + 1) & mask {
		if b.index[h] == 0 {
			b.index[h] = uint16(i + 1)
			return
		}
	}
}

func (b *base) Algorithm() Algorithm { return b.alg }

func (b *base) Len() int { return len(b.backends) }

func (b *base) Backend(i int) Backend { return b.backends[i] }

func (b *base) Index(ap netip.AddrPort) (int, bool) {
	mask := uint64(len(b.index) - 1)
	for h := indexHash(ap) & mask; ; h = (h + 1) & mask {
		e := b.index[h]
		if e == 0 {
			return -1, false
		}
		if b.backends[e-1].Addr == ap {
			return int(e - 1), true
		}
	}
}

// layoutWeight is the weight sh, dh and mh build their tables with, IPVS's
// last_weight: the weight, or for a quiesced real server its last non-zero
// weight.
func (be *Backend) layoutWeight() uint64 {
	if be.Weight > 0 {
		return uint64(be.Weight)
	}
	return uint64(be.LastWeight)
}

// cacheLinePad keeps a field written by every worker (the rr/wrr position)
// off the cache lines that hold read-only fields.
type cacheLinePad [64]byte
