package netsim

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Host is a machine of the lab: a network namespace with a loopback and
// one interface per segment it joins.
type Host struct {
	lab  *Lab
	name string
	num  int
	ns   *netNS
	nl   *netlink.Handle

	mu    sync.Mutex // guards links
	links []*Link
}

// hostSysctls are set in every new host namespace before any interface
// exists, so that new interfaces inherit them: IPv6 addresses are usable at
// once (no duplicate address detection) and hosts send no router
// solicitations to clutter captures.
func hostSysctls() [][2]string {
	return [][2]string{
		{"net.ipv6.conf.all.accept_dad", "0"},
		{"net.ipv6.conf.default.accept_dad", "0"},
		{"net.ipv6.conf.default.router_solicitations", "0"},
	}
}

// AddHost adds a host: a new namespace with its loopback up. Its number,
// which fixes its addresses and MACs, is its position among the lab's
// hosts, counting from 1.
func (l *Lab) AddHost(name string) (*Host, error) {
	if err := checkName("host", name); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	for _, h := range l.hosts {
		if h.name == name {
			return nil, fmt.Errorf("add host %s: exists", name)
		}
	}
	if len(l.hosts) >= MaxHosts {
		return nil, fmt.Errorf("add host %s: lab has %d hosts already", name, MaxHosts)
	}
	ns, err := createNetNS(hostNamespace(l.name, l.owner.pid, name))
	if err != nil {
		return nil, fmt.Errorf("add host %s: %w", name, err)
	}
	h := &Host{lab: l, name: name, num: len(l.hosts) + 1, ns: ns}
	if err := h.setup(); err != nil {
		return nil, errors.Join(fmt.Errorf("add host %s: %w", name, err), h.remove())
	}
	l.hosts = append(l.hosts, h)
	l.log.Debug("host added", "host", name, "number", h.num, "namespace", ns.name)
	return h, nil
}

func (h *Host) setup() error {
	if err := h.setSysctls(hostSysctls()); err != nil {
		return err
	}
	nl, err := netlink.NewHandleAt(netns.NsHandle(h.ns.fd))
	if err != nil {
		return fmt.Errorf("netlink handle: %w", err)
	}
	h.nl = nl
	lo, err := nl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := nl.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// remove kills what runs in the namespace and removes it.
func (h *Host) remove() error {
	if h.nl != nil {
		h.nl.Close()
	}
	if err := h.lab.removeNamespace(h.ns); err != nil {
		return fmt.Errorf("remove host %s: %w", h.name, err)
	}
	return nil
}

// Name returns the host's name.
func (h *Host) Name() string { return h.name }

// Number returns the host's number, which fixes its addresses and MACs.
func (h *Host) Number() int { return h.num }

// Lab returns the lab the host belongs to.
func (h *Host) Lab() *Lab { return h.lab }

// Namespace returns the name of the host's namespace, as `ip netns` lists it.
func (h *Host) Namespace() string { return h.ns.name }

// NamespacePath returns the path of the host's pinned namespace file.
func (h *Host) NamespacePath() string { return h.ns.path }

// NamespaceFD returns a descriptor of the host's namespace, for APIs that
// take one (nftables.WithNetNSFd, netlink.NewHandleAt). The lab owns it: it
// is valid until Close and must not be closed. Libraries that open a
// socket per operation need it rather than Do: google/nftables, unless
// AsLasting, dials netlink on each Flush, so a Conn made inside Do but
// used after it would act on the caller's namespace.
func (h *Host) NamespaceFD() int { return h.ns.fd }

// Netlink returns a netlink handle bound to the host's namespace. The lab
// owns it: do not close it.
func (h *Host) Netlink() *netlink.Handle { return h.nl }

// Do runs fn on a fresh goroutine whose OS thread is locked inside the
// host's namespace, and waits for it. Sockets fn opens belong to the
// host's namespace for their whole life and may be used from any goroutine
// after Do returns. Goroutines fn starts run in the caller's namespace, not
// the host's. A panic in fn is re-raised in the caller.
func (h *Host) Do(fn func() error) error {
	return h.ns.do(fn)
}

// Link returns the host's link to the segment with that name, or nil.
func (h *Host) Link(segment string) *Link {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.links {
		if l.Segment.name == segment {
			return l
		}
	}
	return nil
}

// Links returns the host's links in the order they were made.
func (h *Host) Links() []*Link {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.links)
}

// Addr4 returns the host's IPv4 address on the named segment, or the zero
// Addr if the host has not joined it.
func (h *Host) Addr4(segment string) netip.Addr {
	if l := h.Link(segment); l != nil {
		return l.Addr4
	}
	return netip.Addr{}
}

// Addr6 returns the host's IPv6 address on the named segment, or the zero
// Addr if the host has not joined it.
func (h *Host) Addr6(segment string) netip.Addr {
	if l := h.Link(segment); l != nil {
		return l.Addr6
	}
	return netip.Addr{}
}
