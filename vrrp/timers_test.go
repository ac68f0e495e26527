package vrrp

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMasterDownInterval(t *testing.T) {
	tests := []struct {
		name    string
		version int
		advert  time.Duration
		prio    uint8
		want    time.Duration
	}{
		// The vectors README: 3.609 s for priority 100, advert_int 1.
		{"v2 prio 100", 2, time.Second, 100, 3609375 * time.Microsecond},
		{"v3 prio 100", 3, time.Second, 100, 3609375 * time.Microsecond},
		{"v2 prio 150", 2, time.Second, 150, 3414062 * time.Microsecond},
		// VRRPv2 skew ignores advert_int; VRRPv3's scales with it.
		{"v2 advert 2", 2, 2 * time.Second, 100, 6609375 * time.Microsecond},
		{"v3 advert 2", 3, 2 * time.Second, 100, 7218750 * time.Microsecond},
		// 156 * 50 * 625 / 16 = 304687.5, truncated as keepalived does.
		{"v3 advert 0.5", 3, 500 * time.Millisecond, 100, 1804687 * time.Microsecond},
		{"v3 advert 0.1 prio 254", 3, 100 * time.Millisecond, 254, 300781 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := masterDownInterval(tt.version, 3, tt.advert, tt.prio)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
