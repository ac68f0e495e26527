package netsim

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Segment is one L2 network: a bridge in a namespace of its own, with one
// port for each host that joins it.
type Segment struct {
	lab    *Lab
	name   string
	num    int
	ns     *netNS
	nl     *netlink.Handle
	bridge int // ifindex of the bridge in ns
}

// Link is a host's interface on a segment: the host end of a veth pair
// whose other end is a port of the segment's bridge.
type Link struct {
	Host    *Host
	Segment *Segment
	// Name is the interface's name in the host: the segment's name.
	Name string
	// Index is the interface's index in the host's namespace.
	Index int
	// MAC is HostMAC(segment, host).
	MAC net.HardwareAddr
	// Addr4 and Addr6 are HostAddr4 and HostAddr6 of segment and host,
	// configured with the segment's prefix length.
	Addr4, Addr6 netip.Addr
}

// Hop returns the link's IPv4 address and MAC, to relay to the host
// directly.
func (l *Link) Hop() Hop { return Hop{Addr: l.Addr4, MAC: l.MAC} }

// segmentSysctls keep the bridge's namespace silent: it has no addresses
// and sends nothing of its own.
func segmentSysctls() [][2]string {
	return [][2]string{
		{"net.ipv6.conf.all.disable_ipv6", "1"},
		{"net.ipv6.conf.default.disable_ipv6", "1"},
	}
}

// AddSegment adds a segment: a bridge named "br" in a namespace of its
// own. Its number, which fixes its prefixes, is its position among the
// lab's segments, counting from 1.
func (l *Lab) AddSegment(name string) (*Segment, error) {
	if err := checkName("segment", name); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	for _, s := range l.segments {
		if s.name == name {
			return nil, fmt.Errorf("add segment %s: exists", name)
		}
	}
	if len(l.segments) >= MaxSegments {
		return nil, fmt.Errorf("add segment %s: lab has %d segments already", name, MaxSegments)
	}
	ns, err := createNetNS(segmentNamespace(l.name, l.owner.pid, name))
	if err != nil {
		return nil, fmt.Errorf("add segment %s: %w", name, err)
	}
	s := &Segment{lab: l, name: name, num: len(l.segments) + 1, ns: ns}
	if err := s.setup(); err != nil {
		return nil, errors.Join(fmt.Errorf("add segment %s: %w", name, err), s.remove())
	}
	l.segments = append(l.segments, s)
	l.log.Debug("segment added", "segment", name, "number", s.num, "namespace", ns.name)
	return s, nil
}

func (s *Segment) setup() error {
	if err := setSysctls(s.ns, segmentSysctls()); err != nil {
		return err
	}
	nl, err := netlink.NewHandleAt(netns.NsHandle(s.ns.fd))
	if err != nil {
		return fmt.Errorf("netlink handle: %w", err)
	}
	s.nl = nl
	off := false
	br := &netlink.Bridge{
		LinkAttrs:         netlink.LinkAttrs{Name: "br", HardwareAddr: BridgeMAC(s.num)},
		MulticastSnooping: &off,
	}
	if err := nl.LinkAdd(br); err != nil {
		return fmt.Errorf("add bridge: %w", err)
	}
	if err := nl.LinkSetUp(br); err != nil {
		return fmt.Errorf("set bridge up: %w", err)
	}
	s.bridge = br.Attrs().Index
	return nil
}

func (s *Segment) remove() error {
	if s.nl != nil {
		s.nl.Close()
	}
	if err := s.lab.removeNamespace(s.ns); err != nil {
		return fmt.Errorf("remove segment %s: %w", s.name, err)
	}
	return nil
}

// Name returns the segment's name, which is also the name of the
// interface each member host has on it.
func (s *Segment) Name() string { return s.name }

// Number returns the segment's number, which fixes its prefixes.
func (s *Segment) Number() int { return s.num }

// Prefix4 returns the segment's IPv4 prefix.
func (s *Segment) Prefix4() netip.Prefix { return SegmentPrefix4(s.num) }

// Prefix6 returns the segment's IPv6 prefix.
func (s *Segment) Prefix6() netip.Prefix { return SegmentPrefix6(s.num) }

// Namespace returns the name of the namespace that holds the bridge.
func (s *Segment) Namespace() string { return s.ns.name }

// Join connects the host to the segment through a veth pair: the host end
// is named after the segment and gets the host's MAC and addresses on it,
// the other end, named after the host, is a bridge port. Both are up when
// Join returns.
//
// The host end's GSO limit is one segment, so the host sends frames of at
// most the MTU as a real NIC would, rather than veth's 64 KiB super-frames
// that a userspace forwarder reading AF_PACKET could not send on. Checksum
// offload stays on: frames still arrive with partial checksums
// (TP_STATUS_CSUMNOTREADY), and forwarders must complete them.
func (h *Host) Join(s *Segment) (*Link, error) {
	if h.lab != s.lab {
		return nil, fmt.Errorf("join %s to %s: different labs", h.name, s.name)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.links {
		if l.Segment == s {
			return nil, fmt.Errorf("join %s to %s: joined already", h.name, s.name)
		}
	}
	l, err := h.join(s)
	if err != nil {
		return nil, fmt.Errorf("join %s to %s: %w", h.name, s.name, err)
	}
	h.links = append(h.links, l)
	h.lab.log.Debug("host joined segment", "host", h.name, "segment", s.name, "mac", l.MAC.String(), "addr4", l.Addr4, "addr6", l.Addr6)
	return l, nil
}

func (h *Host) join(s *Segment) (*Link, error) {
	port := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{
			Name:         h.name,
			HardwareAddr: PortMAC(s.num, h.num),
			MasterIndex:  s.bridge,
		},
		PeerName:         s.name,
		PeerHardwareAddr: HostMAC(s.num, h.num),
		PeerNamespace:    netlink.NsFd(h.ns.fd),
	}
	if err := s.nl.LinkAdd(port); err != nil {
		return nil, fmt.Errorf("add veth pair: %w", err)
	}
	if err := s.nl.LinkSetUp(port); err != nil {
		return nil, fmt.Errorf("set bridge port up: %w", err)
	}
	nl, err := h.nl.LinkByName(s.name)
	if err != nil {
		return nil, fmt.Errorf("find host end: %w", err)
	}
	if err := h.nl.LinkSetGSOMaxSegs(nl, 1); err != nil {
		return nil, fmt.Errorf("limit GSO: %w", err)
	}
	l := &Link{
		Host:    h,
		Segment: s,
		Name:    s.name,
		Index:   nl.Attrs().Index,
		MAC:     HostMAC(s.num, h.num),
		Addr4:   HostAddr4(s.num, h.num),
		Addr6:   HostAddr6(s.num, h.num),
	}
	for _, p := range []netip.Prefix{
		netip.PrefixFrom(l.Addr4, s.Prefix4().Bits()),
		netip.PrefixFrom(l.Addr6, s.Prefix6().Bits()),
	} {
		if err := h.AddAddr(s.name, p); err != nil {
			return nil, err
		}
	}
	// The veth was created in the bridge's namespace and took its
	// per-interface defaults there: with duplicate address detection on,
	// the link-local address would stay tentative for a second after the
	// link comes up, and the first neighbour solicitations with it.
	if err := h.setSysctls([][2]string{{"net.ipv6.conf." + s.name + ".accept_dad", "0"}}); err != nil {
		return nil, fmt.Errorf("turn off DAD on %s: %w", s.name, err)
	}
	if err := h.nl.LinkSetUp(nl); err != nil {
		return nil, fmt.Errorf("set %s up: %w", s.name, err)
	}
	// The kernel's link watcher brings a new carrier into service (its
	// operational state, then its queueing discipline) asynchronously;
	// until then frames are dropped, and the first connection of a test
	// waits a second for a retransmission.
	if err := waitOperUp(h.nl, l.Index); err != nil {
		return nil, fmt.Errorf("host end: %w", err)
	}
	if err := waitOperUp(s.nl, port.Attrs().Index); err != nil {
		return nil, fmt.Errorf("bridge port: %w", err)
	}
	// IPv6 installs an address's prefix route from a work queue once the
	// link is up; a packet routed before that is dropped.
	if err := waitRoute(h.nl, l.Index, s.Prefix6()); err != nil {
		return nil, fmt.Errorf("host end: %w", err)
	}
	return l, nil
}

// waitRoute polls until the link has a route to dst.
func waitRoute(nl *netlink.Handle, index int, dst netip.Prefix) error {
	deadline := time.Now().Add(operUpTimeout)
	for {
		routes, err := nl.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{LinkIndex: index}, netlink.RT_FILTER_OIF)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Dst != nil {
				if p, ok := netip.AddrFromSlice(r.Dst.IP); ok {
					ones, _ := r.Dst.Mask.Size()
					if netip.PrefixFrom(p, ones) == dst {
						return nil
					}
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no route to %s after %v", dst, operUpTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// operUpTimeout bounds how long Join waits for a link to come up.
const operUpTimeout = 2 * time.Second

// waitOperUp polls until the link's operational state is up.
func waitOperUp(nl *netlink.Handle, index int) error {
	deadline := time.Now().Add(operUpTimeout)
	for {
		l, err := nl.LinkByIndex(index)
		if err != nil {
			return err
		}
		if l.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("link %s not up after %v: %s", l.Attrs().Name, operUpTimeout, l.Attrs().OperState)
		}
		time.Sleep(time.Millisecond)
	}
}
