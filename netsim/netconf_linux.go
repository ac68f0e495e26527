package netsim

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Addresses, routes and neighbours of a host, set through its netlink
// handle.

// link finds an interface of the host by name.
func (h *Host) link(ifname string) (netlink.Link, error) {
	l, err := h.nl.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("host %s: find interface %s: %w", h.name, ifname, err)
	}
	return l, nil
}

// AddAddr adds an address with its prefix length to an interface, for
// example a VIP as 198.19.0.1/32 on "lo". IPv6 addresses skip duplicate
// address detection.
func (h *Host) AddAddr(ifname string, p netip.Prefix) error {
	l, err := h.link(ifname)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: ipNet(p)}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	if err := h.nl.AddrAdd(l, a); err != nil {
		return fmt.Errorf("host %s: add %s to %s: %w", h.name, p, ifname, err)
	}
	return nil
}

// DelAddr removes an address from an interface.
func (h *Host) DelAddr(ifname string, p netip.Prefix) error {
	l, err := h.link(ifname)
	if err != nil {
		return err
	}
	if err := h.nl.AddrDel(l, &netlink.Addr{IPNet: ipNet(p)}); err != nil {
		return fmt.Errorf("host %s: remove %s from %s: %w", h.name, p, ifname, err)
	}
	return nil
}

// AddRoute adds a route to dst through the gateway gw, which must be
// reachable on a connected segment. A zero dst of gw's family (0.0.0.0/0 or
// ::/0) is the default route.
func (h *Host) AddRoute(dst netip.Prefix, gw netip.Addr) error {
	r := &netlink.Route{Dst: ipNet(dst), Gw: gw.AsSlice()}
	if err := h.nl.RouteAdd(r); err != nil {
		return fmt.Errorf("host %s: add route to %s via %s: %w", h.name, dst, gw, err)
	}
	return nil
}

// AddLinkRoute adds a route that makes dst directly reachable on an
// interface: the host resolves those addresses with ARP or NDP there. A
// client on the balancer's segment reaches VIPs this way:
// AddLinkRoute(VIPPrefix4(), "lan").
func (h *Host) AddLinkRoute(dst netip.Prefix, ifname string) error {
	l, err := h.link(ifname)
	if err != nil {
		return err
	}
	r := &netlink.Route{Dst: ipNet(dst), LinkIndex: l.Attrs().Index, Scope: netlink.SCOPE_LINK}
	if err := h.nl.RouteAdd(r); err != nil {
		return fmt.Errorf("host %s: add route to %s on %s: %w", h.name, dst, ifname, err)
	}
	return nil
}

// AddDefaultRoute adds a default route through gw, IPv4 or IPv6 after gw.
func (h *Host) AddDefaultRoute(gw netip.Addr) error {
	dst := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if gw.Is6() {
		dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	return h.AddRoute(dst, gw)
}

// AddNeighbor adds a permanent neighbour (ARP or NDP) entry on an interface.
func (h *Host) AddNeighbor(ifname string, ip netip.Addr, mac net.HardwareAddr) error {
	l, err := h.link(ifname)
	if err != nil {
		return err
	}
	n := &netlink.Neigh{
		LinkIndex:    l.Attrs().Index,
		Family:       family(ip),
		State:        netlink.NUD_PERMANENT,
		IP:           ip.AsSlice(),
		HardwareAddr: mac,
	}
	if err := h.nl.NeighSet(n); err != nil {
		return fmt.Errorf("host %s: add neighbour %s at %s on %s: %w", h.name, ip, mac, ifname, err)
	}
	return nil
}

// Neighbor returns the MAC the host's neighbour table holds for ip on an
// interface, or nil if it has none that is usable.
func (h *Host) Neighbor(ifname string, ip netip.Addr) (net.HardwareAddr, error) {
	l, err := h.link(ifname)
	if err != nil {
		return nil, err
	}
	ns, err := h.nl.NeighList(l.Attrs().Index, family(ip))
	if err != nil {
		return nil, fmt.Errorf("host %s: list neighbours on %s: %w", h.name, ifname, err)
	}
	for _, n := range ns {
		a, ok := netip.AddrFromSlice(n.IP)
		if ok && a.Unmap() == ip && n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) == 0 && len(n.HardwareAddr) > 0 {
			return n.HardwareAddr, nil
		}
	}
	return nil, nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func family(a netip.Addr) int {
	if a.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}
