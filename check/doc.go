// Package check implements keepalived's health checkers (TCP_CHECK,
// HTTP_GET, SSL_GET, MISC_CHECK, DNS_CHECK, PING_CHECK, UDP_CHECK) and the
// real server and virtual server states they decide: up or down, weight,
// quorum and sorry server.
//
// README.md describes the behaviour as an operator sees it, with what
// differs from keepalived 2.2.7; this comment describes the API for the
// daemon.
//
// # Use
//
//	m := check.NewManager(&check.Options{Logger: log})
//	m.Update(cfg)          // at start, and again at each reload
//	go m.Run(ctx)          // probes until ctx is done, then kills its scripts
//	for range m.Changes() {
//		st := m.State() // immutable snapshot
//		// for each virtual server vs and real server rs of cfg:
//		r, ok := st.Real(vs.Name(), rs.AddrPort())
//		// !ok: the configuration Update has not seen yet: use rs.Weight.
//		// ok && !r.InService: leave rs out of the data plane.
//		// ok && r.InService: add rs with weight r.Weight (0: quiesced),
//		//   last weight r.ConfigWeight.
//		// st.Service(vs.Name()).Sorry, when not nil and InService: add
//		//   the sorry server with weight Sorry.Weight.
//	}
//
// Update before Run installs the state real servers start with (up, or
// down with alpha) so the first snapshot can be built before any probe. A
// Changes value comes at once after each Update and each change of state;
// values coalesce and the checkers never wait for the reader.
//
// # Design
//
//   - One scheduler goroutine keeps every checker in a heap by due time and
//     hands due probes to workers, at most Options.MaxConcurrent at once
//     (512): goroutines, sockets and scripts are bounded whatever the
//     number of real servers. Workers start on demand and leave when idle.
//   - On Linux, TCP_CHECK probes take no worker: the scheduler opens a
//     non-blocking socket and connects; a connection already up (a near
//     server answers within connect) is closed at once, the others wait
//     in one epoll instance that a poller goroutine serves, with the
//     connect_timeouts in a heap (tcppoll_linux.go). This is keepalived's
//     design, one thread and one epoll for all checkers; the same
//     MaxConcurrent bounds it.
//   - The first probe of each checker waits a random time up to warmup
//     (default delay_loop), as in keepalived, which spreads 10,000
//     checkers over the interval; the next probe is delay_loop after each
//     probe ends (a MISC_CHECK: after it starts).
//   - Each probe is bounded by its own timeouts on the real clock; the
//     schedule runs on Options.Clock, which tests fake.
//   - The retry logic of each checker type and the real server, quorum and
//     sorry server rules are keepalived's (machine.go, service.go), applied
//     under one mutex; their effects (log lines, notify scripts, the
//     Changes signal) happen after it is released.
//   - Scripts run without a shell, in their own process group, with
//     /dev/null as stdin, stdout and stderr, as the configured user, after
//     keepalived's script security checks (security_linux.go).
//
// Files, one concern each: manager.go (Manager, Run, the scheduler),
// queue.go (the heap), update.go (Update and reload migration), spec.go
// (what a checker probes), machine.go (retries), service.go (real and
// virtual server state), state.go (the snapshot), notify.go (notify
// scripts), tcp.go, http.go with httpresp.go, misc.go with script.go,
// dns.go, ping.go, udp.go (the checkers), tcppoll_linux.go (TCP_CHECK's
// poller), dial.go and sockopt_linux.go (sockets), security_linux.go
// (users and script security).
package check
