package netsim_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/netsim"
)

// TestDRThroughNftables proves DR real servers: clients reach the VIP
// through a hand-built nftables DR balancer (netdev ingress rewrites the
// MACs and forwards back out of the same port) and the real servers answer
// them directly.
func TestDRThroughNftables(t *testing.T) {
	netsimtest.RequireRoot(t)
	netsimtest.RequireProgram(t, "nft")
	tests := []struct {
		name string
		vip  netip.Addr
		ip   string // nft's name for the network protocol
	}{
		{name: "ipv4", vip: netsim.VIP4(1), ip: "ip"},
		{name: "ipv6", vip: netsim.VIP6(1), ip: "ip6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lab, h := lan(t, "c1", "lb", "r1", "r2")
			must(t, h["lb"].AddAddr("lan", netip.PrefixFrom(tt.vip, tt.vip.BitLen())))
			must(t, h["c1"].AddLinkRoute(netip.PrefixFrom(tt.vip, tt.vip.BitLen()), "lan"))
			for _, r := range []string{"r1", "r2"} {
				must(t, h[r].DRRealServer(tt.vip))
				_, err := h[r].StartHTTPServer(":80")
				must(t, err)
			}
			// The source MAC must become the balancer's, or the bridge
			// learns the client's MAC on the balancer's port.
			rules := fmt.Sprintf(`table netdev dr {
	chain in {
		type filter hook ingress device "lan" priority 0; policy accept;
		%[1]s daddr %[2]s tcp dport 80 ether saddr set %[3]s ether daddr set jhash %[1]s saddr . tcp sport mod 2 map { 0 : %[4]s, 1 : %[5]s } fwd to "lan"
	}
}
`, tt.ip, tt.vip, h["lb"].Link("lan").MAC, h["r1"].Link("lan").MAC, h["r2"].Link("lan").MAC)
			file := filepath.Join(lab.Dir(), "dr.nft")
			must(t, os.WriteFile(file, []byte(rules), 0o644))
			ctx := testContext(t, 10*time.Second)
			_, err := h["lb"].Run(ctx, "nft", "-f", file)
			must(t, err)

			const n = 40
			tally, err := h["c1"].HTTPTally(ctx, netip.AddrPortFrom(tt.vip, 80), n)
			if err != nil {
				t.Fatal(err)
			}
			if tally["r1"] == 0 || tally["r2"] == 0 || tally["r1"]+tally["r2"] != n {
				t.Errorf("tally %v: want both real servers and %d answers", tally, n)
			}
			// The client resolved the VIP to the balancer, not a real server.
			mac, err := h["c1"].Neighbor("lan", tt.vip)
			must(t, err)
			if diff := cmp.Diff(h["lb"].Link("lan").MAC.String(), mac.String()); diff != "" {
				t.Errorf("client's neighbour entry for the VIP (-want +got):\n%s", diff)
			}
		})
	}
}
