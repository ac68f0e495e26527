package netsim

import (
	"errors"
	"io"
	"maps"
	"net"
	"net/netip"
	"sync"
)

// TCPEcho writes back whatever each connection sends.
type TCPEcho struct {
	l  net.Listener
	wg sync.WaitGroup // the accept loop and one per connection

	mu     sync.Mutex // guards conns and closed
	conns  map[net.Conn]struct{}
	closed bool

	closeOnce sync.Once
	closeErr  error
}

// StartTCPEcho serves on l until Close. The server owns l.
func StartTCPEcho(l net.Listener) *TCPEcho {
	e := &TCPEcho{l: l, conns: make(map[net.Conn]struct{})}
	e.wg.Add(1)
	go e.accept()
	return e
}

func (e *TCPEcho) accept() {
	defer e.wg.Done()
	for {
		c, err := e.l.Accept()
		if err != nil {
			return
		}
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			c.Close()
			return
		}
		e.conns[c] = struct{}{}
		e.wg.Add(1)
		e.mu.Unlock()
		go func() {
			defer e.wg.Done()
			io.Copy(c, c)
			c.Close()
			e.mu.Lock()
			delete(e.conns, c)
			e.mu.Unlock()
		}()
	}
}

// Addr returns the address the server listens on.
func (e *TCPEcho) Addr() net.Addr { return e.l.Addr() }

// Close stops the server, closes its connections and waits for them.
func (e *TCPEcho) Close() error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		e.closeErr = e.l.Close()
		for c := range e.conns {
			c.Close()
		}
		e.mu.Unlock()
		e.wg.Wait()
	})
	return e.closeErr
}

// UDPEcho writes back every datagram to its sender and counts datagrams
// per flow (sender address and port). Bind it to the address clients send
// to (a VIP, on a DR or TUN real server): an unbound socket would answer
// from the interface's address, which clients do not expect.
type UDPEcho struct {
	c    *net.UDPConn
	done chan struct{} // closed when the loop has returned

	mu    sync.Mutex // guards flows
	flows map[netip.AddrPort]int

	closeOnce sync.Once
	closeErr  error
}

// StartUDPEcho serves on c until Close. The server owns c.
func StartUDPEcho(c *net.UDPConn) *UDPEcho {
	e := &UDPEcho{c: c, done: make(chan struct{}), flows: make(map[netip.AddrPort]int)}
	go e.loop()
	return e
}

func (e *UDPEcho) loop() {
	defer close(e.done)
	buf := make([]byte, 65536)
	for {
		n, from, err := e.c.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		e.mu.Lock()
		e.flows[from]++
		e.mu.Unlock()
		e.c.WriteToUDPAddrPort(buf[:n], from)
	}
}

// Addr returns the address the server listens on.
func (e *UDPEcho) Addr() net.Addr { return e.c.LocalAddr() }

// Flows returns how many datagrams each flow has sent so far.
func (e *UDPEcho) Flows() map[netip.AddrPort]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.flows)
}

// Packets returns how many datagrams the server has received.
func (e *UDPEcho) Packets() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, v := range e.flows {
		n += v
	}
	return n
}

// Close stops the server and waits for it.
func (e *UDPEcho) Close() error {
	e.closeOnce.Do(func() {
		e.closeErr = e.c.Close()
		<-e.done
	})
	return e.closeErr
}
