package checktest

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// RawServer answers every TCP connection with a fixed response, then
// closes it (or keeps it open with Linger), and records what the client
// sent before the first empty line.
type RawServer struct {
	l        net.Listener
	response []byte
	linger   bool
	mu       sync.Mutex
	requests [][]byte
	wg       sync.WaitGroup
}

// NewRawServer serves response on 127.0.0.1 until the test ends. With
// linger set it does not close the connection after the response, as a
// server that ignores "Connection: close".
func NewRawServer(tb testing.TB, response string, linger bool) *RawServer {
	tb.Helper()
	s := &RawServer{l: listen(tb), response: []byte(response), linger: linger}
	s.wg.Add(1)
	go s.serve()
	tb.Cleanup(func() { s.l.Close(); s.wg.Wait() })
	return s
}

// Addr returns the server's address.
func (s *RawServer) Addr() netip.AddrPort { return addrOf(s.l) }

// Requests returns the requests received so far.
func (s *RawServer) Requests() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.requests...)
}

func (s *RawServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			req := readRequest(c)
			s.mu.Lock()
			s.requests = append(s.requests, req)
			s.mu.Unlock()
			c.Write(s.response)
			if s.linger {
				io.Copy(io.Discard, c) // until the client gives up
			}
		}()
	}
}

// readRequest reads up to the end of an HTTP request's headers.
func readRequest(c net.Conn) []byte {
	var req []byte
	buf := make([]byte, 1024)
	for {
		n, err := c.Read(buf)
		req = append(req, buf[:n]...)
		if err != nil || len(req) > 64<<10 || containsEnd(req) {
			return req
		}
	}
}

func containsEnd(b []byte) bool {
	for i := 0; i+3 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' && b[i+2] == '\r' && b[i+3] == '\n' {
			return true
		}
	}
	return false
}

// Flood answers each request with an HTTP header and then an endless body,
// as a server sending 10 GB would, until the client closes. Sent counts the
// bytes written.
type Flood struct {
	l    net.Listener
	Sent atomic.Int64
	wg   sync.WaitGroup
}

// NewFlood starts a Flood on 127.0.0.1 until the test ends.
func NewFlood(tb testing.TB, header string) *Flood {
	tb.Helper()
	f := &Flood{l: listen(tb)}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		chunk := make([]byte, 64<<10)
		for {
			c, err := f.l.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer c.Close()
				readRequest(c)
				if _, err := c.Write([]byte(header)); err != nil {
					return
				}
				for f.Sent.Load() < 10<<30 {
					c.SetWriteDeadline(time.Now().Add(10 * time.Second))
					n, err := c.Write(chunk)
					f.Sent.Add(int64(n))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	tb.Cleanup(func() { f.l.Close(); f.wg.Wait() })
	return f
}

// Addr returns the server's address.
func (f *Flood) Addr() netip.AddrPort { return addrOf(f.l) }

// Trickle accepts connections and sends one byte of an endless response
// every interval; with interval 0 it sends nothing at all (a hung server).
// It holds each connection until the client closes it or the test ends.
type Trickle struct {
	l     net.Listener
	conns atomic.Int64
	wg    sync.WaitGroup
	mu    sync.Mutex
	open  map[net.Conn]bool
}

// NewTrickle starts a Trickle on 127.0.0.1 until the test ends.
func NewTrickle(tb testing.TB, interval time.Duration) *Trickle {
	tb.Helper()
	t := &Trickle{l: listen(tb), open: map[net.Conn]bool{}}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		for {
			c, err := t.l.Accept()
			if err != nil {
				return
			}
			t.conns.Add(1)
			t.mu.Lock()
			t.open[c] = true
			t.mu.Unlock()
			t.wg.Add(1)
			go func() {
				defer t.wg.Done()
				defer func() {
					t.mu.Lock()
					delete(t.open, c)
					t.mu.Unlock()
					c.Close()
				}()
				if interval == 0 {
					io.Copy(io.Discard, c) // until the client closes
					return
				}
				if _, err := c.Write([]byte("HTTP/1.0 200 OK\r\n")); err != nil {
					return
				}
				for {
					time.Sleep(interval)
					if _, err := c.Write([]byte("x")); err != nil {
						return
					}
				}
			}()
		}
	}()
	tb.Cleanup(func() {
		t.l.Close()
		t.mu.Lock()
		for c := range t.open {
			c.Close()
		}
		t.mu.Unlock()
		t.wg.Wait()
	})
	return t
}

// Addr returns the server's address.
func (t *Trickle) Addr() netip.AddrPort { return addrOf(t.l) }

// Conns returns how many connections were accepted.
func (t *Trickle) Conns() int64 { return t.conns.Load() }

// UDPServer answers each datagram with what Answer returns (nothing when
// it returns nil), on 127.0.0.1.
type UDPServer struct {
	c      *net.UDPConn
	answer func(req []byte) [][]byte
	wg     sync.WaitGroup
}

// NewUDPServer starts a UDPServer until the test ends.
func NewUDPServer(tb testing.TB, answer func(req []byte) [][]byte) *UDPServer {
	tb.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	s := &UDPServer{c: c, answer: answer}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			for _, a := range s.answer(append([]byte(nil), buf[:n]...)) {
				c.WriteToUDPAddrPort(a, from)
			}
		}
	}()
	tb.Cleanup(func() { c.Close(); s.wg.Wait() })
	return s
}

// Addr returns the server's address.
func (s *UDPServer) Addr() netip.AddrPort { return s.c.LocalAddr().(*net.UDPAddr).AddrPort() }

// ClosedPort returns a loopback address and port where nothing listens,
// for TCP and UDP.
func ClosedPort(tb testing.TB) netip.AddrPort {
	tb.Helper()
	l := listen(tb)
	a := addrOf(l)
	l.Close()
	return a
}

func listen(tb testing.TB) net.Listener {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	return l
}

func addrOf(l net.Listener) netip.AddrPort { return l.Addr().(*net.TCPAddr).AddrPort() }

// FullBacklog returns a loopback address whose listener never accepts and
// whose accept queue is full: connections to it time out, as to a hung
// host.
func FullBacklog(tb testing.TB) netip.AddrPort {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatalf("socket: %v", err)
	}
	tb.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatalf("bind: %v", err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		tb.Fatalf("listen: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		tb.Fatalf("getsockname: %v", err)
	}
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*syscall.SockaddrInet4).Port))
	// Fill the queue: with a backlog of 0 the kernel takes one connection,
	// then drops SYNs.
	for range 3 {
		c, err := net.DialTimeout("tcp", addr.String(), 200*time.Millisecond)
		if err != nil {
			break
		}
		tb.Cleanup(func() { c.Close() })
	}
	return addr
}
