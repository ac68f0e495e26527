package netsim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// Bounds of a UDP flow run: every run stops by itself.
const (
	MaxUDPFlows   = 4096
	MaxUDPPackets = 1_000_000
	MaxUDPTimeout = time.Minute
)

// UDPFlows describes a bounded UDP load: Flows sockets, each with its own
// source port, send Packets datagrams each to Target, one round over all
// flows every Interval, and count the datagrams that come back.
type UDPFlows struct {
	Target netip.AddrPort
	// Flows is the number of distinct source ports, 1 to MaxUDPFlows.
	Flows int
	// Packets is the number of datagrams per flow; Flows*Packets is at
	// most MaxUDPPackets.
	Packets int
	// Size is the payload size in bytes; 0 means 64, the minimum is 16.
	Size int
	// Interval is the pause between rounds; 0 means 1ms.
	Interval time.Duration
	// Timeout bounds the whole run, waiting for answers included; 0 means
	// 5s, the maximum is MaxUDPTimeout.
	Timeout time.Duration
}

// FlowResult is what one flow sent and got back.
type FlowResult struct {
	Local    netip.AddrPort
	Sent     int
	Received int
}

// UDPFlowsResult is the outcome of a UDP flow run.
type UDPFlowsResult struct {
	Sent, Received int
	Flows          []FlowResult
}

func (f UDPFlows) withDefaults() (UDPFlows, error) {
	if f.Size == 0 {
		f.Size = 64
	}
	if f.Interval == 0 {
		f.Interval = time.Millisecond
	}
	if f.Timeout == 0 {
		f.Timeout = 5 * time.Second
	}
	switch {
	case !f.Target.IsValid():
		return f, errors.New("udp flows: no target")
	case f.Flows < 1 || f.Flows > MaxUDPFlows:
		return f, fmt.Errorf("udp flows: %d flows, want 1 to %d", f.Flows, MaxUDPFlows)
	case f.Packets < 1 || f.Flows*f.Packets > MaxUDPPackets:
		return f, fmt.Errorf("udp flows: %d packets per flow, want 1 to %d in all", f.Packets, MaxUDPPackets)
	case f.Size < 16 || f.Size > 1400:
		return f, fmt.Errorf("udp flows: size %d, want 16 to 1400", f.Size)
	case f.Timeout < 0 || f.Timeout > MaxUDPTimeout:
		return f, fmt.Errorf("udp flows: timeout %v, want at most %v", f.Timeout, MaxUDPTimeout)
	}
	return f, nil
}

// RunUDPFlows runs the load over conns, one connected socket per flow,
// which it closes when done. Use Host.UDPFlows to run it from a host.
func RunUDPFlows(f UDPFlows, conns []*net.UDPConn) (UDPFlowsResult, error) {
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	f, err := f.withDefaults()
	if err != nil {
		return UDPFlowsResult{}, err
	}
	if len(conns) != f.Flows {
		return UDPFlowsResult{}, fmt.Errorf("udp flows: %d sockets for %d flows", len(conns), f.Flows)
	}
	deadline := time.Now().Add(f.Timeout)
	res := UDPFlowsResult{Flows: make([]FlowResult, f.Flows)}
	received := make([]int, f.Flows) // written by reader i only until wg.Wait
	var wg sync.WaitGroup
	for i, c := range conns {
		res.Flows[i].Local = c.LocalAddr().(*net.UDPAddr).AddrPort()
		c.SetDeadline(deadline)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2048)
			for received[i] < f.Packets {
				if _, err := c.Read(buf); err != nil {
					if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
						return
					}
					continue // for example ECONNREFUSED from an ICMP error
				}
				received[i]++
			}
		}()
	}

	payload := make([]byte, f.Size)
	var sendErr error
send:
	for seq := range f.Packets {
		for i, c := range conns {
			binary.BigEndian.PutUint32(payload[0:], uint32(i))
			binary.BigEndian.PutUint32(payload[4:], uint32(seq))
			if _, err := c.Write(payload); err != nil {
				if time.Now().After(deadline) {
					break send
				}
				if sendErr == nil {
					sendErr = fmt.Errorf("udp flows: send from %v: %w", res.Flows[i].Local, err)
				}
				continue
			}
			res.Flows[i].Sent++
			res.Sent++
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(f.Interval)
	}
	wg.Wait()
	for i, n := range received {
		res.Flows[i].Received = n
		res.Received += n
	}
	return res, sendErr
}
