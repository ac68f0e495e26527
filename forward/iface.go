// Interfaces and routes as the engine sees them; read from the kernel in iface_linux.go.

package forward

import (
	"errors"
	"net/netip"
)

// Interface is a network interface as the engine sees it.
type Interface struct {
	Index int
	Name  string
	MAC   [6]byte // zero for interfaces without one (lo, tun)
	MTU   int
	// Up reports the administrative state (IFF_UP); OperUp the
	// operational one (carrier).
	Up, OperUp bool
	// Addrs are the interface's IPv4 and IPv6 addresses with their
	// prefix lengths, IPv4 unmapped.
	Addrs []netip.Prefix
	// Loopback reports IFF_LOOPBACK.
	Loopback bool
}

// Route is the kernel's route to a destination.
type Route struct {
	// Ifindex is the output interface.
	Ifindex int
	// Gateway is the next hop when the destination is not on-link;
	// invalid (the zero Addr) when it is.
	Gateway netip.Addr
	// Src is the preferred source address.
	Src netip.Addr
	// MTU is the route's MTU lock, 0 when the route has none (the
	// interface's MTU applies).
	MTU int
}

// NextHop returns the address whose MAC a frame to dst gets: the gateway,
// or dst itself when it is on-link.
func (r Route) NextHop(dst netip.Addr) netip.Addr {
	if r.Gateway.IsValid() {
		return r.Gateway
	}
	return dst
}

// ErrNoInterface is returned by InterfaceForAddr when no interface holds a
// subnet with the address.
var ErrNoInterface = errors.New("no interface holds the address's subnet")
