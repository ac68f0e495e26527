package sched_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/govs-lb/govs/sched"
)

func TestParseGranularity(t *testing.T) {
	tests := []struct {
		in      string
		bits4   int
		bits6   int
		wantErr string
	}{
		{"255.255.255.255", 32, 128, ""},
		{"255.255.255.0", 24, 128, ""},
		{"255.255.128.0", 17, 128, ""},
		{"0.0.0.0", 0, 128, ""},
		{"128", 32, 128, ""},
		{"64", 32, 64, ""},
		{"1", 32, 1, ""},
		{"255.0.255.0", 0, 0, "not contiguous"},
		{"0.255.255.255", 0, 0, "not contiguous"},
		{"255.255.255", 0, 0, "not an IPv4 netmask"},
		{"255.255.255.0.0", 0, 0, "not an IPv4 netmask"},
		{"::ffff:255.255.255.0", 0, 0, "not an IPv4 netmask"},
		{"0", 0, 0, "from 1 to 128"},
		{"129", 0, 0, "from 1 to 128"},
		{"1000", 0, 0, "expected an IPv4 netmask or an IPv6 prefix length"},
		{"-1", 0, 0, "expected an IPv4 netmask or an IPv6 prefix length"},
		{"+24", 0, 0, "expected an IPv4 netmask or an IPv6 prefix length"},
		{"", 0, 0, "expected an IPv4 netmask or an IPv6 prefix length"},
		{"ffff::", 0, 0, "expected an IPv4 netmask or an IPv6 prefix length"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			g, err := sched.ParseGranularity(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.Bits(true) != tt.bits4 || g.Bits(false) != tt.bits6 {
				t.Errorf("bits %d/%d, want %d/%d", g.Bits(true), g.Bits(false), tt.bits4, tt.bits6)
			}
			if g.String() != tt.in {
				t.Errorf("String() = %q, want %q", g.String(), tt.in)
			}
		})
	}
}

func TestGranularityMask(t *testing.T) {
	v4, _ := sched.GranularityV4(24)
	v6, _ := sched.GranularityV6(56)
	tests := []struct {
		g    sched.Granularity
		in   string
		want string
	}{
		{sched.Granularity{}, "198.19.7.9", "198.19.7.9"},
		{sched.Granularity{}, "2001:db8::9", "2001:db8::9"},
		{v4, "198.19.7.9", "198.19.7.0"},
		{v4, "2001:db8::9", "2001:db8::9"},
		{v6, "2001:db8:1:2ff::9", "2001:db8:1:200::"},
		{v6, "198.19.7.9", "198.19.7.9"},
	}
	for _, tt := range tests {
		if got := tt.g.Mask(netip.MustParseAddr(tt.in)); got.String() != tt.want {
			t.Errorf("%q.Mask(%s) = %s, want %s", tt.g, tt.in, got, tt.want)
		}
	}
	for _, bits := range []int{-1, 33} {
		if _, err := sched.GranularityV4(bits); err == nil {
			t.Errorf("GranularityV4(%d) succeeded", bits)
		}
	}
	for _, bits := range []int{0, 129} {
		if _, err := sched.GranularityV6(bits); err == nil {
			t.Errorf("GranularityV6(%d) succeeded", bits)
		}
	}
}
