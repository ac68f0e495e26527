//go:build !linux

package forward

import (
	"net/netip"
)

// Interfaces and routes come from Linux netlink; see iface_linux.go.

func InterfaceByName(string) (*Interface, error) { return nil, errUnimplemented }

func InterfaceByIndex(int) (*Interface, error) { return nil, errUnimplemented }

func InterfaceForAddr(netip.Addr) (*Interface, error) { return nil, errUnimplemented }

func RouteTo(netip.Addr) (Route, error) { return Route{}, errUnimplemented }
