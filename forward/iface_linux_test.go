package forward

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/netsim"
)

// TestInterfaces checks interface facts, the interface holding an
// address's subnet and routes, in a balancer with two segments.
func TestInterfaces(t *testing.T) {
	lab := netsimtest.New(t)
	lan, err := lab.AddSegment("lan")
	must(t, err)
	wan, err := lab.AddSegment("wan")
	must(t, err)
	lb, err := lab.AddHost("lb")
	must(t, err)
	r1, err := lab.AddHost("r1")
	must(t, err)
	lanLink, err := lb.Join(lan)
	must(t, err)
	wanLink, err := lb.Join(wan)
	must(t, err)
	_, err = r1.Join(wan)
	must(t, err)
	vip := netsim.VIP4(1)
	must(t, lb.AddAddr("lan", netip.PrefixFrom(vip, 32)))
	must(t, lb.AddAddr("lo", netip.PrefixFrom(netsim.VIP4(2), 32)))
	far := netip.MustParsePrefix("198.18.200.0/24")
	gw := netsim.HostAddr4(2, 2) // r1 on wan
	must(t, lb.AddRoute(far, gw))

	must(t, lb.Do(func() error {
		ifi, err := InterfaceByName("lan")
		if err != nil {
			return err
		}
		want := &Interface{
			Index: lanLink.Index, Name: "lan", MAC: mac6(lanLink.MAC), MTU: 1500, Up: true, OperUp: true,
			Addrs: []netip.Prefix{netip.PrefixFrom(lanLink.Addr4, 24), netip.PrefixFrom(vip, 32), netip.PrefixFrom(lanLink.Addr6, 64)},
		}
		got := *ifi
		got.Addrs = nil
		for _, p := range ifi.Addrs { // without the link-local address
			if !p.Addr().IsLinkLocalUnicast() {
				got.Addrs = append(got.Addrs, p)
			}
		}
		if diff := cmp.Diff(want, &got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
			t.Errorf("InterfaceByName(lan) (-want +got):\n%s", diff)
		}
		if byIndex, err := InterfaceByIndex(lanLink.Index); err != nil || byIndex.Name != "lan" {
			t.Errorf("InterfaceByIndex: %v, %v", byIndex, err)
		}
		if _, err := InterfaceByName("nosuch"); err == nil {
			t.Error("InterfaceByName(nosuch): no error")
		}

		for _, tt := range []struct {
			addr string
			want string
		}{
			{"198.18.1.77", "lan"},
			{"198.18.2.77", "wan"},
			{"198.19.0.1", "lan"},        // the VIP, a /32 on lan
			{"2001:db8:0:2::99", "wan"},  // IPv6 subnet
			{"::ffff:198.18.2.5", "wan"}, // mapped
			{"198.19.0.2", ""},           // on lo only
			{"198.18.200.1", ""},         // routed, not on-link
		} {
			ifi, err := InterfaceForAddr(netip.MustParseAddr(tt.addr))
			switch {
			case tt.want == "" && !errors.Is(err, ErrNoInterface):
				t.Errorf("InterfaceForAddr(%s) = %v, %v; want ErrNoInterface", tt.addr, ifi, err)
			case tt.want != "" && (err != nil || ifi.Name != tt.want):
				t.Errorf("InterfaceForAddr(%s) = %v, %v; want %s", tt.addr, ifi, err, tt.want)
			}
		}

		for _, tt := range []struct {
			dst  string
			want Route
		}{
			{"198.18.200.9", Route{Ifindex: wanLink.Index, Gateway: gw, Src: wanLink.Addr4}},
			{"198.18.2.2", Route{Ifindex: wanLink.Index, Src: wanLink.Addr4}},
			{"2001:db8:0:1::7", Route{Ifindex: lanLink.Index, Src: lanLink.Addr6}},
		} {
			dst := netip.MustParseAddr(tt.dst)
			r, err := RouteTo(dst)
			if err != nil {
				t.Errorf("RouteTo(%s): %v", tt.dst, err)
				continue
			}
			if diff := cmp.Diff(tt.want, r, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("RouteTo(%s) (-want +got):\n%s", tt.dst, diff)
			}
			wantHop := dst
			if tt.want.Gateway.IsValid() {
				wantHop = tt.want.Gateway
			}
			if r.NextHop(dst) != wantHop {
				t.Errorf("RouteTo(%s).NextHop = %v", tt.dst, r.NextHop(dst))
			}
		}
		if _, err := RouteTo(netip.MustParseAddr("203.0.113.1")); err == nil {
			t.Error("RouteTo without a route: no error")
		}
		return nil
	}))
}
