package netsim

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlan(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"SegmentPrefix4(1)", SegmentPrefix4(1).String(), "198.18.1.0/24"},
		{"SegmentPrefix4(255)", SegmentPrefix4(255).String(), "198.18.255.0/24"},
		{"SegmentPrefix6(1)", SegmentPrefix6(1).String(), "2001:db8:0:1::/64"},
		{"SegmentPrefix6(255)", SegmentPrefix6(255).String(), "2001:db8:0:ff::/64"},
		{"HostAddr4(2,3)", HostAddr4(2, 3).String(), "198.18.2.3"},
		{"HostAddr6(2,3)", HostAddr6(2, 3).String(), "2001:db8:0:2::3"},
		{"HostAddr6(2,254)", HostAddr6(2, 254).String(), "2001:db8:0:2::fe"},
		{"VIP4(1)", VIP4(1).String(), "198.19.0.1"},
		{"VIP6(1)", VIP6(1).String(), "2001:db8:ffff::1"},
		{"VIPPrefix4", VIPPrefix4().String(), "198.19.0.0/24"},
		{"VIPPrefix6", VIPPrefix6().String(), "2001:db8:ffff::/64"},
		{"HostMAC(2,3)", HostMAC(2, 3).String(), "02:67:73:02:03:00"},
		{"PortMAC(2,3)", PortMAC(2, 3).String(), "02:67:73:02:03:01"},
		{"BridgeMAC(2)", BridgeMAC(2).String(), "02:67:73:02:00:00"},
		{"hostNamespace", hostNamespace("gs12ab", 42, "c1"), "gs12ab-42-c1"},
		{"segmentNamespace", segmentNamespace("gs12ab", 42, "lan"), "gs12ab-42-br-lan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// Every address the plan hands out is in the documentation ranges.
func TestPlanStaysInTestRanges(t *testing.T) {
	for seg := 1; seg <= MaxSegments; seg++ {
		for _, host := range []int{1, MaxHosts} {
			a4, a6 := HostAddr4(seg, host), HostAddr6(seg, host)
			if !benchmarking4.Contains(a4) || !documentation6.Contains(a6) {
				t.Fatalf("segment %d host %d: %v %v outside the test ranges", seg, host, a4, a6)
			}
			if !SegmentPrefix4(seg).Contains(a4) || !SegmentPrefix6(seg).Contains(a6) {
				t.Fatalf("segment %d host %d: %v %v outside the segment", seg, host, a4, a6)
			}
		}
	}
	for n := 1; n <= 254; n++ {
		if !benchmarking4.Contains(VIP4(n)) || !documentation6.Contains(VIP6(n)) {
			t.Fatalf("VIP %d outside the test ranges", n)
		}
	}
}

func TestNamespaceNamesMatchSweep(t *testing.T) {
	tests := []struct {
		name  string
		match bool
	}{
		{hostNamespace("gs12ab", 42, "c1"), true},
		{segmentNamespace("gs12ab", 42, "lan"), true},
		{"gs12ab-42-", false},
		{"gs12-42-c1", false},
		{"gsxyzw-42-c1", false},
		{"other", false},
	}
	for _, tt := range tests {
		if got := namespaceRE.MatchString(tt.name); got != tt.match {
			t.Errorf("%q: match %v, want %v", tt.name, got, tt.match)
		}
	}
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"c1", true},
		{"lan", true},
		{"abcdefghijklmno", true}, // 15, IFNAMSIZ-1
		{"abcdefghijklmnop", false},
		{"", false},
		{"lo", false},
		{"br", false},
		{"1a", false},
		{"a-b", false},
		{"A", false},
	}
	for _, tt := range tests {
		if err := checkName("host", tt.name); (err == nil) != tt.ok {
			t.Errorf("checkName(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
