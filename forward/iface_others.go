//go:build !linux

package forward

import (
	"errors"
	"net/netip"
)

// Interfaces and routes come from Linux netlink; see iface_linux.go.

type Interface struct {
	Index      int
	Name       string
	MAC        [6]byte
	MTU        int
	Up, OperUp bool
	Addrs      []netip.Prefix
	Loopback   bool
}

type Route struct {
	Ifindex int
	Gateway netip.Addr
	Src     netip.Addr
	MTU     int
}

func (r Route) NextHop(dst netip.Addr) netip.Addr {
	if r.Gateway.IsValid() {
		return r.Gateway
	}
	return dst
}

var ErrNoInterface = errors.New("no interface holds the address's subnet")

func InterfaceByName(string) (*Interface, error) { return nil, errUnimplemented }

func InterfaceByIndex(int) (*Interface, error) { return nil, errUnimplemented }

func InterfaceForAddr(netip.Addr) (*Interface, error) { return nil, errUnimplemented }

func RouteTo(netip.Addr) (Route, error) { return Route{}, errUnimplemented }
