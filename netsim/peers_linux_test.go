package netsim_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/netsim"
)

func skipNotInstalled(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, netsim.ErrNotInstalled) {
		t.Skip(err)
	}
	must(t, err)
}

func TestNginxAnswersWithHostName(t *testing.T) {
	t.Parallel()
	_, h := lan(t, "c1", "web")
	_, err := h["web"].StartNginx("80")
	skipNotInstalled(t, err)
	tally, err := h["c1"].HTTPTally(testContext(t, 5*time.Second), netip.AddrPortFrom(h["web"].Addr4("lan"), 80), 3)
	must(t, err)
	if diff := cmp.Diff(map[string]int{"web": 3}, tally); diff != "" {
		t.Errorf("tally (-want +got):\n%s", diff)
	}
}

// TestKeepalivedTakesVIP starts Debian's keepalived as the only VRRP
// router of a segment and captures its adverts from another host.
func TestKeepalivedTakesVIP(t *testing.T) {
	t.Parallel()
	_, h := lan(t, "ka", "obs")
	capture, err := h["obs"].StartTcpdump("lan", "vrrp")
	skipNotInstalled(t, err)
	vip := netsim.VIP4(7)
	conf := fmt.Sprintf(`vrrp_instance VI_1 {
    state MASTER
    interface lan
    virtual_router_id 51
    priority 255
    advert_int 1
    virtual_ipaddress {
        %s/32
    }
}
`, vip)
	ka, err := h["ka"].StartKeepalived(conf, "--vrrp")
	skipNotInstalled(t, err)
	netsimtest.Eventually(t, 10*time.Second, func() error {
		addrs, err := h["ka"].Netlink().AddrList(nil, 0)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if ip, _ := netip.AddrFromSlice(a.IP); ip.Unmap() == vip {
				return nil
			}
		}
		return fmt.Errorf("keepalived has not added %v; log:\n%s", vip, ka.Log())
	})
	// The gratuitous ARP and adverts are on the wire; a pcap holds more
	// than its 24-byte header once one packet is written.
	netsimtest.Eventually(t, 5*time.Second, func() error {
		st, err := os.Stat(capture.Path)
		if err != nil {
			return err
		}
		if st.Size() <= 24 {
			return fmt.Errorf("capture %s has no packets", capture.Path)
		}
		return nil
	})
	must(t, capture.Stop())
}
