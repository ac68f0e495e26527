package netsim

import (
	"context"
	"fmt"
	"net"
)

// DialContext opens a connection from inside the host, as
// net.Dialer.DialContext does. Use it as an http.Transport's DialContext.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", h.name, err)
	}
	return c, nil
}

// Listen opens a stream listener inside the host, as net.Listen does.
func (h *Host) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := h.Do(func() error {
		var err error
		l, err = net.Listen(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", h.name, err)
	}
	return l, nil
}

// ListenUDP opens a UDP socket inside the host, as net.ListenUDP does.
func (h *Host) ListenUDP(network string, laddr *net.UDPAddr) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := h.Do(func() error {
		var err error
		c, err = net.ListenUDP(network, laddr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", h.name, err)
	}
	return c, nil
}
