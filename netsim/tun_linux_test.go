package netsim_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/govs-lb/govs/netsim"
)

// TestTUNThroughIPIPRelay proves TUN real servers: clients' TCP connections
// to the VIP complete through a userspace balancer that encapsulates their
// packets in IPIP, and the real servers answer them directly.
func TestTUNThroughIPIPRelay(t *testing.T) {
	_, h := lan(t, "c1", "lb", "r1", "r2")
	vip := netsim.VIP4(1)
	must(t, h["lb"].AddAddr("lan", netip.PrefixFrom(vip, 32)))
	must(t, h["c1"].AddLinkRoute(netsim.VIPPrefix4(), "lan"))
	var decaps []*netsim.Decap
	for _, r := range []string{"r1", "r2"} {
		d, err := h[r].TUNRealServer(vip)
		must(t, err)
		decaps = append(decaps, d)
		_, err = h[r].StartHTTPServer(":80")
		must(t, err)
	}
	relay, err := h["lb"].StartIPIPRelay(netsim.IPIPRelayConfig{
		Link:    h["lb"].Link("lan"),
		VIP:     vip,
		Port:    80,
		Targets: []netsim.Hop{h["r1"].Link("lan").Hop(), h["r2"].Link("lan").Hop()},
	})
	must(t, err)

	const n = 40
	tally, err := h["c1"].HTTPTally(testContext(t, 10*time.Second), netip.AddrPortFrom(vip, 80), n)
	if err != nil {
		t.Fatalf("%v (relay %+v)", err, relay.Stats())
	}
	if tally["r1"] == 0 || tally["r2"] == 0 || tally["r1"]+tally["r2"] != n {
		t.Errorf("tally %v: want both real servers and %d answers", tally, n)
	}
	st := relay.Stats()
	// Each connection sends at least SYN, ACK, request, FIN.
	if st.Forwarded < 4*n || st.TooBig != 0 || st.Malformed != 0 {
		t.Errorf("relay stats %+v: want at least %d forwarded, nothing dropped", st, 4*n)
	}
	if st.ChecksumsCompleted == 0 {
		t.Logf("relay stats %+v: no partial checksums seen", st)
	}
	for i, d := range decaps {
		if !d.Kernel && d.Packets() == 0 {
			t.Errorf("real server %d decapsulated no packets", i+1)
		}
	}
}
