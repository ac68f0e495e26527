package vrrp

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/govs-lb/govs/internal/vrrptest"
)

// TestGARPFrameIsKeepalived's: the frame govs sends is the captured one.
func TestGARPFrameIsKeepalived(t *testing.T) {
	frames := vrrptest.Select(vrrptest.Vectors(t), "vec-garp.pcap")
	if len(frames) == 0 {
		t.Fatal("no GARP vectors")
	}
	for _, f := range frames {
		mac := net.HardwareAddr(f.Data[6:12])
		got, err := garpFrame(mac, netip.MustParseAddr("198.18.1.100"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("\n got %x\nwant %x", got, f.Data)
		}
	}
}
