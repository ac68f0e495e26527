package vrrp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/govs-lb/govs/config"
)

// ErrUnsupported is returned where the system network is not available
// (other operating systems than Linux).
var ErrUnsupported = errors.New("vrrp: not supported on this system")

// Network is what the Manager needs of the operating system. SystemNetwork
// is the real one; tests give their own.
type Network interface {
	// Interface describes a network interface.
	Interface(name string) (Link, error)
	// Listen opens the advert socket of spec. Its ReadFrom returns whole
	// IPv4 packets (header included) and its WriteTo sends whole IPv4
	// packets (the header is the caller's) to a *net.IPAddr.
	Listen(spec SocketSpec) (net.PacketConn, error)
	// AddAddr and DelAddr add and remove a virtual address on ifname.
	AddAddr(ifname string, v config.VIP) error
	DelAddr(ifname string, v config.VIP) error
	// SendGARP sends one gratuitous ARP for addr from ifname.
	SendGARP(ifname string, addr netip.Addr) error
	// WatchLinks calls fn with each interface's state when it changes,
	// until ctx is done.
	WatchLinks(ctx context.Context, fn func(name string, up bool)) error
	// Close releases what the Network holds.
	Close() error
}

// Link describes a network interface.
type Link struct {
	Index int
	MAC   net.HardwareAddr
	// Up is IFF_UP and IFF_RUNNING, as keepalived tracks interfaces.
	Up bool
	// Addrs are the interface's IPv4 addresses, primary first.
	Addrs []netip.Addr
}

// SocketSpec says which adverts a socket receives.
type SocketSpec struct {
	Interface string // empty for a unicast instance without interface
	Proto     int    // ProtoVRRP or ProtoAH
	// Group is the multicast group to join; invalid for unicast.
	Group netip.Addr
	// Unicast is the local address unicast adverts arrive at.
	Unicast netip.Addr
}

// Clock tells the time and waits; tests give a fake.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives when d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
