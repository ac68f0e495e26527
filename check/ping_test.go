package check

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestPingCheck(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		addr string
	}{
		{"127.0.0.1"},
		{"::1"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if a := netip.MustParseAddr(tt.addr); a.Is6() {
				if c, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
					t.Skip("no IPv6 loopback")
				} else {
					c.Close()
				}
			}
			text := "virtual_server " + tt.addr + " 80 {\n lb_algo rr\n lb_kind DR\n protocol TCP\n real_server " + tt.addr + " 80 {\n PING_CHECK {\n connect_timeout 1\n }\n }\n}\n"
			_, c := realChecker(t, text)
			for i := range 2 { // the second reuses the checker: a new sequence number
				start := time.Now()
				r := c.prober.probe(t.Context(), 0)
				if !r.ok || time.Since(start) > time.Second {
					t.Errorf("ping %d: ok = %v (%s) after %v", i, r.ok, r.reason, time.Since(start))
				}
			}
		})
	}
}
