package check

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/govs-lb/govs/internal/checktest"
)

// dnsAnswer answers a query with flags (QR set) and rcode, after the
// given decoys.
func dnsAnswer(rcode uint16, decoys ...[]byte) func([]byte) [][]byte {
	return func(q []byte) [][]byte {
		if len(q) < 12 {
			return nil
		}
		a := append([]byte(nil), q...)
		binary.BigEndian.PutUint16(a[2:], 0x8180|rcode)
		return append(append([][]byte(nil), decoys...), a)
	}
}

func TestDNSCheck(t *testing.T) {
	queries := make(chan []byte, 1)
	record := func(q []byte) [][]byte {
		select {
		case queries <- q:
		default:
		}
		return dnsAnswer(0)(q)
	}
	srv := checktest.NewUDPServer(t, record)
	r, _ := probeOnce(t, serverAt(srv.Addr(), "", "DNS_CHECK {\n type AAAA\n name www.example.org.\n connect_timeout 1\n}"), 0)
	if !r.ok {
		t.Fatalf("answered query: %s", r.reason)
	}
	want := []byte{0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0, 0, 28, 0, 1}
	if diff := cmp.Diff(want, (<-queries)[2:]); diff != "" {
		t.Errorf("query (-want +got)\n%s", diff)
	}

	wrongID := func(q []byte) [][]byte {
		a := append([]byte(nil), q...)
		a[0] ^= 0xff
		a[2] |= 0x80
		return [][]byte{a}
	}
	tests := []struct {
		name   string
		answer func([]byte) [][]byte
		ok     bool
		within time.Duration
	}{
		{"default SOA of the root", dnsAnswer(0), true, time.Second},
		{"NXDOMAIN fails", dnsAnswer(3), false, time.Second},
		{"short, wrong ID and query messages are ignored", dnsAnswer(0, []byte{1, 2, 3}), true, time.Second},
		{"only a wrong ID: timeout", wrongID, false, 2 * time.Second},
		{"no answer: timeout", func([]byte) [][]byte { return nil }, false, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := checktest.NewUDPServer(t, tt.answer)
			r, d := probeOnce(t, serverAt(srv.Addr(), "", "DNS_CHECK {\n connect_timeout 0.5\n}"), 0)
			if r.ok != tt.ok || d > tt.within {
				t.Errorf("ok = %v (%s) after %v, want %v within %v", r.ok, r.reason, d, tt.ok, tt.within)
			}
		})
	}
	// Port unreachable fails at once.
	r, d := probeOnce(t, serverAt(checktest.ClosedPort(t), "", "DNS_CHECK {\n connect_timeout 2\n}"), 0)
	if r.ok || d > time.Second {
		t.Errorf("closed port: ok = %v (%s) after %v", r.ok, r.reason, d)
	}
}
