package netsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// StartHTTPServer starts an HTTPServer inside the host, answering with the
// host's name, on a TCP address such as ":80" or "198.19.0.1:80". The lab
// closes it at Close.
func (h *Host) StartHTTPServer(address string) (*HTTPServer, error) {
	l, err := h.Listen("tcp", address)
	if err != nil {
		return nil, err
	}
	s := StartHTTPServer(l, h.name)
	if err := h.lab.onClose("http server on "+h.name, s.Close); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// StartTCPEcho starts a TCPEcho inside the host on a TCP address. The lab
// closes it at Close.
func (h *Host) StartTCPEcho(address string) (*TCPEcho, error) {
	l, err := h.Listen("tcp", address)
	if err != nil {
		return nil, err
	}
	e := StartTCPEcho(l)
	if err := h.lab.onClose("tcp echo on "+h.name, e.Close); err != nil {
		return nil, errors.Join(err, e.Close())
	}
	return e, nil
}

// StartUDPEcho starts a UDPEcho inside the host on a UDP address, which
// should name the address clients send to (see UDPEcho). The lab closes it
// at Close.
func (h *Host) StartUDPEcho(address netip.AddrPort) (*UDPEcho, error) {
	c, err := h.ListenUDP("udp", net.UDPAddrFromAddrPort(address))
	if err != nil {
		return nil, err
	}
	e := StartUDPEcho(c)
	if err := h.lab.onClose("udp echo on "+h.name, e.Close); err != nil {
		return nil, errors.Join(err, e.Close())
	}
	return e, nil
}

// HTTPTally makes n connection-per-request GETs from the host to target
// and counts which server answered; see the function HTTPTally.
func (h *Host) HTTPTally(ctx context.Context, target netip.AddrPort, n int) (map[string]int, error) {
	tally, err := HTTPTally(ctx, h.DialContext, target.String(), n)
	if err != nil {
		return tally, fmt.Errorf("host %s: %w", h.name, err)
	}
	return tally, nil
}

// UDPFlows runs a bounded UDP load from the host; see UDPFlows.
func (h *Host) UDPFlows(f UDPFlows) (UDPFlowsResult, error) {
	if _, err := f.withDefaults(); err != nil {
		return UDPFlowsResult{}, err
	}
	conns := make([]*net.UDPConn, 0, f.Flows)
	raddr := net.UDPAddrFromAddrPort(f.Target)
	err := h.Do(func() error {
		for range f.Flows {
			c, err := net.DialUDP("udp", nil, raddr)
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	})
	if err != nil {
		for _, c := range conns {
			c.Close()
		}
		return UDPFlowsResult{}, fmt.Errorf("host %s: udp flows: %w", h.name, err)
	}
	res, err := RunUDPFlows(f, conns)
	if err != nil {
		return res, fmt.Errorf("host %s: %w", h.name, err)
	}
	return res, nil
}
