// Package daemon runs a keepalived configuration: it turns the config model
// into forwarding snapshots, owns the data plane, the VRRP instances and the
// health checkers, serves the admin socket, and reloads.
package daemon
