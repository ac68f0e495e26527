package sched

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Granularity is persistence_granularity: how much of the client address a
// persistence template covers. keepalived writes it as an IPv4 netmask
// (255.255.255.0) for IPv4 services and as a prefix length (64) for IPv6
// services. The zero Granularity covers whole addresses, as IPVS does
// without persistence_granularity. A granularity of one family leaves
// addresses of the other family whole.
type Granularity struct {
	fam  uint8 // 0 (whole addresses), 4 or 6
	bits uint8
}

// GranularityV4 returns the IPv4 granularity of a /bits netmask, 0 to 32.
// 0 (netmask 0.0.0.0) puts every client under one template.
func GranularityV4(bits int) (Granularity, error) {
	if bits < 0 || bits > 32 {
		return Granularity{}, fmt.Errorf("IPv4 persistence_granularity /%d: expected 0 to 32", bits)
	}
	return Granularity{fam: 4, bits: uint8(bits)}, nil
}

// GranularityV6 returns the IPv6 granularity of a /bits prefix, 1 to 128 as
// keepalived accepts.
func GranularityV6(bits int) (Granularity, error) {
	if bits < 1 || bits > 128 {
		return Granularity{}, fmt.Errorf("IPv6 persistence_granularity %d: expected a prefix length from 1 to 128", bits)
	}
	return Granularity{fam: 6, bits: uint8(bits)}, nil
}

// ParseGranularity parses keepalived's persistence_granularity value: a
// dotted-quad IPv4 netmask whose ones are contiguous, or a decimal IPv6
// prefix length from 1 to 128, told apart (as keepalived does for a service
// of unknown family) by the presence of a dot.
func ParseGranularity(s string) (Granularity, error) {
	if strings.Contains(s, ".") {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return Granularity{}, fmt.Errorf("persistence_granularity %q: not an IPv4 netmask", s)
		}
		b := a.As4()
		m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		ones := 0
		for ones < 32 && m&(1<<(31-ones)) != 0 {
			ones++
		}
		if ones < 32 && m<<ones != 0 {
			return Granularity{}, fmt.Errorf("persistence_granularity %q: netmask ones are not contiguous", s)
		}
		return GranularityV4(ones)
	}
	if s == "" || strings.TrimLeft(s, "0123456789") != "" || len(s) > 3 {
		return Granularity{}, fmt.Errorf("persistence_granularity %q: expected an IPv4 netmask or an IPv6 prefix length", s)
	}
	n, _ := strconv.Atoi(s)
	g, err := GranularityV6(n)
	if err != nil {
		return Granularity{}, fmt.Errorf("persistence_granularity %q: expected an IPv6 prefix length from 1 to 128", s)
	}
	return g, nil
}

// String returns the keepalived spelling (netmask or prefix length), or ""
// for the zero Granularity.
func (g Granularity) String() string {
	switch g.fam {
	case 4:
		m := ^uint32(0)
		if g.bits < 32 {
			m = ^(^uint32(0) >> g.bits)
		}
		return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
	case 6:
		return strconv.Itoa(int(g.bits))
	}
	return ""
}

// Bits returns the prefix length g keeps of an IPv4 (is4) or IPv6 address.
func (g Granularity) Bits(is4 bool) int {
	switch {
	case is4 && g.fam == 4, !is4 && g.fam == 6:
		return int(g.bits)
	case is4:
		return 32
	}
	return 128
}

// Mask returns client with the bits g does not keep cleared.
func (g Granularity) Mask(client netip.Addr) netip.Addr {
	p, err := client.Prefix(g.Bits(client.Is4()))
	if err != nil {
		return client
	}
	return p.Addr()
}

// maskWords clears the bits g does not keep from an address's hash words
// (addrWords), allocation-free.
func (g Granularity) maskWords(hi, lo, fam uint64) (uint64, uint64) {
	switch {
	case g.fam == 4 && fam == 4:
		lo &^= uint64(1)<<(32-g.bits) - 1
	case g.fam == 6 && fam == 6 && g.bits <= 64:
		hi &^= uint64(1)<<(64-g.bits) - 1
		lo = 0
	case g.fam == 6 && fam == 6:
		lo &^= uint64(1)<<(128-g.bits) - 1
	}
	return hi, lo
}
