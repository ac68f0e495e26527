package check

import (
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/checktest"
)

func TestUDPCheck(t *testing.T) {
	echo := checktest.NewUDPServer(t, func(q []byte) [][]byte { return [][]byte{q} })
	silent := checktest.NewUDPServer(t, func([]byte) [][]byte { return nil })
	closed := checktest.ClosedPort(t)
	tests := []struct {
		name    string
		srv     *checktest.UDPServer
		checker string
		ok      bool
	}{
		{"echo", echo, "", true},
		{"silence passes without require_reply", silent, "", true},
		{"silence fails with require_reply", silent, "require_reply", false},
		{"reply matches", echo, "payload 0102ab\n require_reply 01 x2", true},
		{"reply differs", echo, "payload 0102ab\n require_reply 01 03", false},
		{"reply too short", echo, "payload 0102ab\n require_reply 01\n min_reply_length 4", false},
		{"reply too long", echo, "payload 0102ab\n require_reply 01\n max_reply_length 2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, d := probeOnce(t, serverAt(tt.srv.Addr(), "", "UDP_CHECK {\n connect_timeout 0.3\n "+tt.checker+"\n}"), 0)
			if r.ok != tt.ok || d > time.Second {
				t.Errorf("ok = %v (%s) after %v, want %v", r.ok, r.reason, d, tt.ok)
			}
		})
	}
	r, d := probeOnce(t, serverAt(closed, "", "UDP_CHECK {\n connect_timeout 2\n}"), 0)
	if r.ok || d > time.Second {
		t.Errorf("port unreachable: ok = %v (%s) after %v, want a quick failure", r.ok, r.reason, d)
	}
}
