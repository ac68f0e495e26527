package vrrp

import "time"

// Timer arithmetic is keepalived's (vrrp.h VRRP_TIMER_SKEW_CALC and
// VRRP_MS_DOWN_TIMER), in microseconds with its integer divisions, so that
// govs and keepalived time out within the same microsecond:
//
//	VRRPv2: skew = (256 - priority) * 1 s / 256, whatever advert_int is
//	        (RFC 3768: Skew_Time = (256 - Priority) / 256 seconds)
//	VRRPv3: skew = (256 - priority) * Master_Adver_Interval / 256
//	        (RFC 5798), computed as (256-p) * centiseconds * 625 / 16 µs
//	master_down_interval = down_timer_adverts (3) * Master_Adver_Interval + skew
//
// For priority 100 and advert_int 1 s both give 3.609375 s.

// skewTime returns the skew for priority prio (pass 1 for the minimum
// skew, keepalived's VRRP_TIMER_SKEW_MIN).
func skewTime(version int, masterAdverInt time.Duration, weight int) time.Duration {
	if version == 3 {
		cs := int64(masterAdverInt / (10 * time.Millisecond))
		return time.Duration(int64(weight)*cs*625/16) * time.Microsecond
	}
	return time.Duration(int64(weight)*1000000/256) * time.Microsecond
}

// skew returns (256 - prio)'s skew.
func skew(version int, masterAdverInt time.Duration, prio uint8) time.Duration {
	return skewTime(version, masterAdverInt, 256-int(prio))
}

// masterDownInterval returns down_timer_adverts * Master_Adver_Interval +
// skew.
func masterDownInterval(version, adverts int, masterAdverInt time.Duration, prio uint8) time.Duration {
	return time.Duration(adverts)*masterAdverInt + skew(version, masterAdverInt, prio)
}
