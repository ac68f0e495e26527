package netsim

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
)

// The address and MAC plan. It is frozen: tests, benchmarks and the demo
// hard-code addresses from it, and captures stay readable because of it.
//
//	segment s (1..255)         198.18.s.0/24        2001:db8:0:s::/64 (s in hex)
//	host h (1..254) on seg s   198.18.s.h           2001:db8:0:s::h   (h in hex)
//	virtual address n (1..254) 198.19.0.n           2001:db8:ffff::n  (n in hex)
//	host h's interface on s    02:67:73:ss:hh:00
//	bridge port facing h       02:67:73:ss:hh:01
//	bridge of segment s        02:67:73:ss:00:00
//
// 0x67 0x73 is "gs". A host keeps its number on every segment it joins, so
// host 3 is 198.18.1.3 on segment 1 and 198.18.2.3 on segment 2. Labs live
// in their own namespaces, so two labs may use the same addresses and MACs.
const (
	// MaxSegments is the largest segment number.
	MaxSegments = 255
	// MaxHosts is the largest host number.
	MaxHosts = 254
)

// SegmentPrefix4 returns the IPv4 prefix of segment seg.
func SegmentPrefix4(seg int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(seg), 0}), 24)
}

// SegmentPrefix6 returns the IPv6 prefix of segment seg.
func SegmentPrefix6(seg int) netip.Prefix {
	return netip.PrefixFrom(addr6(0, byte(seg), 0), 64)
}

// HostAddr4 returns the IPv4 address of host number host on segment seg.
func HostAddr4(seg, host int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, byte(seg), byte(host)})
}

// HostAddr6 returns the IPv6 address of host number host on segment seg.
func HostAddr6(seg, host int) netip.Addr {
	return addr6(0, byte(seg), byte(host))
}

// VIP4 returns the n-th IPv4 virtual address, 198.19.0.n.
func VIP4(n int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 19, 0, byte(n)})
}

// VIP6 returns the n-th IPv6 virtual address, 2001:db8:ffff::n.
func VIP6(n int) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 15: byte(n)})
}

// VIPPrefix4 returns the prefix of the IPv4 virtual addresses, 198.19.0.0/24.
func VIPPrefix4() netip.Prefix { return netip.PrefixFrom(VIP4(0), 24) }

// VIPPrefix6 returns the prefix of the IPv6 virtual addresses,
// 2001:db8:ffff::/64.
func VIPPrefix6() netip.Prefix { return netip.PrefixFrom(VIP6(0), 64) }

// addr6 returns 2001:db8:0:s::h with the fourth group built from hi and lo.
func addr6(hi, lo, host byte) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, hi, lo, 15: host})
}

// HostMAC returns the MAC of host number host's interface on segment seg.
func HostMAC(seg, host int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x67, 0x73, byte(seg), byte(host), 0x00}
}

// PortMAC returns the MAC of the bridge port that faces host number host on
// segment seg.
func PortMAC(seg, host int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x67, 0x73, byte(seg), byte(host), 0x01}
}

// BridgeMAC returns the MAC of segment seg's bridge.
func BridgeMAC(seg int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x67, 0x73, byte(seg), 0x00, 0x00}
}

// nameRE is what host and segment names look like. Both become interface
// names (a host's interface is named after its segment, a bridge port after
// its host), so they stay within IFNAMSIZ.
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,14}$`)

func checkName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%s name %q: want a lowercase letter then up to 14 lowercase letters or digits", kind, name)
	}
	if name == "lo" || name == "br" { // a namespace's loopback; a segment's bridge
		return fmt.Errorf("%s name %q is reserved", kind, name)
	}
	return nil
}

// labNameRE matches a lab's name; namespaceRE matches the namespaces it
// creates, "<lab>-<owner pid>-<host>" and "<lab>-<owner pid>-br-<segment>".
var (
	labNameRE   = regexp.MustCompile(`^gs[0-9a-f]{4}$`)
	namespaceRE = regexp.MustCompile(`^(gs[0-9a-f]{4})-([0-9]+)-(br-)?[a-z][a-z0-9]*$`)
)

// hostNamespace and segmentNamespace name the namespaces of a lab.
func hostNamespace(lab string, pid int, host string) string {
	return fmt.Sprintf("%s-%d-%s", lab, pid, host)
}

func segmentNamespace(lab string, pid int, seg string) string {
	return fmt.Sprintf("%s-%d-br-%s", lab, pid, seg)
}
