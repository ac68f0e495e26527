package netsim

import (
	"fmt"
	"net/netip"
)

// realServerSysctls keep a real server from answering or announcing ARP for
// addresses that are not on the interface asked: its VIPs.
func realServerSysctls() [][2]string {
	return [][2]string{
		{"net.ipv4.conf.all.arp_ignore", "1"},
		{"net.ipv4.conf.all.arp_announce", "2"},
	}
}

// DRRealServer makes the host a Direct Routing real server for the VIPs:
// each VIP on lo (as /32 or /128), and net.ipv4.conf.all.arp_ignore=1 and
// arp_announce=2 so that only the balancer answers ARP for them. The host
// answers clients directly from the VIP. IPv6 needs no sysctl: Linux
// answers neighbour solicitations only for addresses on the interface
// asked. Give the host a default route (AddDefaultRoute) when clients are
// on another segment.
func (h *Host) DRRealServer(vips ...netip.Addr) error {
	if err := h.setSysctls(realServerSysctls()); err != nil {
		return fmt.Errorf("host %s: DR real server: %w", h.name, err)
	}
	for _, v := range vips {
		if err := h.AddAddr("lo", netip.PrefixFrom(v, v.BitLen())); err != nil {
			return fmt.Errorf("DR real server: %w", err)
		}
	}
	return nil
}
