// Package schedtest provides real server sets and flows for tests and
// benchmarks of sched and of the packages that use it; every address is in
// 198.18.0.0/15 or 2001:db8::/32.
package schedtest
