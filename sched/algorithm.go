package sched

import (
	"errors"
	"fmt"
	"strings"
)

// Algorithm is an IPVS scheduler as keepalived's lvs_sched (or lb_algo)
// names it. The zero Algorithm is invalid.
type Algorithm uint8

// The schedulers, in the order keepalived's documentation lists them.
const (
	_     Algorithm = iota
	RR              // rr: round robin
	WRR             // wrr: interleaved weighted round robin
	LC              // lc: least connection
	WLC             // wlc: weighted least connection
	LBLC            // lblc: locality-based least connection (not implemented)
	LBLCR           // lblcr: lblc with replication (not implemented)
	DH              // dh: destination hashing
	SH              // sh: source hashing
	MH              // mh: Maglev hashing
	SED             // sed: shortest expected delay
	NQ              // nq: never queue
	FO              // fo: weighted failover
	OVF             // ovf: weighted overflow
	TwoS            // twos: weighted random of two choices
)

var algorithmNames = [...]string{
	RR: "rr", WRR: "wrr", LC: "lc", WLC: "wlc", LBLC: "lblc", LBLCR: "lblcr",
	DH: "dh", SH: "sh", MH: "mh", SED: "sed", NQ: "nq", FO: "fo", OVF: "ovf",
	TwoS: "twos",
}

// ErrUnsupported is returned (wrapped) by New for a scheduler that govs
// recognises but does not implement.
var ErrUnsupported = errors.New("scheduler not supported")

// String returns the lvs_sched spelling, or "invalid".
func (a Algorithm) String() string {
	if a == 0 || int(a) >= len(algorithmNames) {
		return "invalid"
	}
	return algorithmNames[a]
}

// Supported reports whether New can build a scheduler of this algorithm.
func (a Algorithm) Supported() bool {
	return a != 0 && int(a) < len(algorithmNames) && a != LBLC && a != LBLCR
}

// ParseAlgorithm returns the scheduler named as lvs_sched spells it. Names
// are lower case, as IPVS registers them; lblc and lblcr parse (they are
// valid keepalived) but are not Supported.
func ParseAlgorithm(name string) (Algorithm, error) {
	for i, n := range algorithmNames {
		if i != 0 && n == name {
			return Algorithm(i), nil
		}
	}
	lower := strings.ToLower(name)
	for i, n := range algorithmNames {
		if i != 0 && n == lower {
			return 0, fmt.Errorf("unknown scheduler %q: scheduler names are lower case, did you mean %q?", name, n)
		}
	}
	return 0, fmt.Errorf("unknown scheduler %q: expected one of %s", name, strings.Join(algorithmNames[1:], ", "))
}

// unsupportedError explains why a recognised scheduler cannot run.
func unsupportedError(a Algorithm) error {
	return fmt.Errorf("lvs_sched %s: %w: govs does not keep the per-destination-address server table "+
		"that the locality-based schedulers need; use dh (same destination, same real server) "+
		"or mh with consistent hashing instead", a, ErrUnsupported)
}
