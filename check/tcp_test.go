package check

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/checktest"
)

func TestTCPCheck(t *testing.T) {
	open, _ := acceptor(t)
	closed := checktest.ClosedPort(t)

	tests := []struct {
		name    string
		addr    netip.AddrPort
		checker string
		ok      bool
	}{
		{"open port", open, "TCP_CHECK { connect_timeout 2 }", true},
		{"closed port", closed, "TCP_CHECK { connect_timeout 2 }", false},
		{"connect_port", closed, "TCP_CHECK { connect_port " + itoa(int(open.Port())) + " }", true},
		{"connect_ip", netip.AddrPortFrom(netip.MustParseAddr("198.18.0.1"), open.Port()), "TCP_CHECK { connect_ip 127.0.0.1 }", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, d := probeOnce(t, serverAt(tt.addr, "", tt.checker), 0)
			if r.ok != tt.ok {
				t.Errorf("ok = %v (%s), want %v", r.ok, r.reason, tt.ok)
			}
			if d > time.Second {
				t.Errorf("probe took %v", d)
			}
		})
	}
	// bindto sets the source address.
	open, from := acceptor(t)
	r, _ := probeOnce(t, serverAt(open, "", "TCP_CHECK { bindto 127.0.0.2 }"), 0)
	if !r.ok {
		t.Fatalf("bindto: %s", r.reason)
	}
	if got := <-from; got != netip.MustParseAddr("127.0.0.2") {
		t.Errorf("connection from %v, want bindto 127.0.0.2", got)
	}
	// fwmark and bind_if need CAP_NET_ADMIN and CAP_NET_RAW.
	if os.Geteuid() == 0 {
		r, _ = probeOnce(t, serverAt(open, "", "TCP_CHECK { fwmark 7\n bind_if lo }"), 0)
		if !r.ok {
			t.Errorf("fwmark and bind_if: %s", r.reason)
		}
		r, _ = probeOnce(t, serverAt(open, "", "TCP_CHECK { bind_if nosuchif0 }"), 0)
		if r.ok {
			t.Errorf("bind_if to a missing interface passed")
		}
	}
}

// acceptor listens on loopback and reports where connections come from.
func acceptor(t *testing.T) (netip.AddrPort, <-chan netip.Addr) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	from := make(chan netip.Addr, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			select {
			case from <- c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr():
			default:
			}
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).AddrPort(), from
}

// TestTCPConnectTimeout: a server whose accept queue is full does not
// answer SYNs; the check fails after connect_timeout.
func TestTCPConnectTimeout(t *testing.T) {
	addr := checktest.FullBacklog(t)
	r, d := probeOnce(t, serverAt(addr, "", "TCP_CHECK { connect_timeout 0.3 }"), 0)
	if r.ok {
		t.Fatalf("connection to a full backlog succeeded")
	}
	if d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("failed after %v (%s), want about connect_timeout 0.3 s", d, r.reason)
	}
	if !strings.Contains(r.reason, "timeout") {
		t.Logf("reason: %s", r.reason)
	}
}
