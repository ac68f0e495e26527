package config

import (
	"net/netip"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func modelsEqual(a, b *Config) bool {
	return cmp.Equal(a, b, cmpopts.IgnoreTypes(Pos{}), cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}), cmpopts.EquateEmpty())
}
