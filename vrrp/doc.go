// Package vrrp implements VRRP versions 2 and 3, RFC 3768 and RFC 5798, as
// keepalived 2.2.7 speaks them on the wire, for IPv4.
//
// The package has three layers:
//
//   - the wire format (packet.go, ah.go, checksum.go): Packet, Parse and
//     Packet.Marshal, byte-identical to keepalived's adverts, with PASS and
//     AH (HMAC-MD5-96) authentication;
//   - the state machine (machine.go, node*.go, sync.go, track.go): a pure
//     Machine holding every instance and sync group, stepped by events
//     (an advert, the clock reaching a deadline, a tracked interface or
//     script changing, shutdown) with the time passed in, and acting through
//     an injected Effects;
//   - the Manager (manager.go and the *_linux.go files): it runs a Machine
//     for a config.Config, with raw sockets, netlink addresses, gratuitous
//     ARPs, link tracking and scripts, each behind an interface of Options
//     that tests replace.
//
// A daemon runs a Manager:
//
//	m := vrrp.NewManager(&vrrp.Options{Logger: log, Forward: forward})
//	if err := m.Update(cfg); err != nil { ... }      // start and every reload
//	go m.Run(ctx)                                      // until ctx is done
//	m.States()                                         // for status: name -> state
//
// Options.Forward hears when an instance's virtual services are to be
// forwarded: just before its VIPs are added, and no longer just after they
// are removed.
//
// On the way out Run sends priority-0 adverts for its masters, removes
// their addresses and runs notify_stop, as keepalived does on SIGTERM.
package vrrp
