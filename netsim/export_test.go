package netsim

import "net/netip"

// The ranges RFC 2544 and RFC 3849 set aside; the lab uses nothing else.
var (
	benchmarking4  = netip.MustParsePrefix("198.18.0.0/15")
	documentation6 = netip.MustParsePrefix("2001:db8::/32")
)
