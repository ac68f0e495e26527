// Package vrrptest holds helpers for the vrrp package's tests: the captured
// keepalived vectors, a fake clock, and an in-memory segment of packet
// connections.
package vrrptest
