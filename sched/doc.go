// Package sched implements the IPVS schedulers (rr, wrr, lc, wlc, sed, nq,
// sh, dh, mh, fo, ovf, twos) and IPVS-style persistence templates: pure,
// allocation-free logic that picks a real server for each new flow.
//
// README.md describes each scheduler as an operator sees it; this comment
// describes the API for the data plane.
//
// # Schedulers
//
// The data plane builds one [Scheduler] per (virtual service, real servers,
// weights) snapshot with [New] and then only reads it. Pick is safe for
// concurrent use by every worker, takes no lock and allocates nothing. The
// only state that changes after New is
//
//   - the rr/wrr position, an atomic counter on its own cache line, and
//   - the per-real-server [Counters] (active and inactive connections), which
//     the data plane updates with atomic adds. A Counters pointer belongs to
//     the real server, not to the snapshot: pass the same pointer to the next
//     New for an unchanged real server and its counts carry over.
//
// Pick takes the [Flow] by value (passing a pointer through the interface
// would make it escape) and returns an index into the backends slice given to
// New, in the order given. rr, wrr, lc, wlc, sed, nq, fo, ovf and twos use
// that order as IPVS uses its destination list (the order keepalived adds real
// servers). The hashing schedulers (sh, dh, mh) sort the real servers by a
// frozen canonical key (address family, 16-byte address, port) before
// building their tables, so two load balancers given the same real servers in
// any order build byte-identical tables and send each client to the same real
// server.
//
// Weights: Backend.Weight 0 quiesces a real server (no new flows; the data
// plane's connection table keeps its existing ones). Backend.LastWeight is
// IPVS's last_weight, the last non-zero weight of a quiesced real server: sh,
// dh and mh lay out their tables with it, so quiescing a real server moves
// none of the other clients. The daemon should set it to the configured
// weight.
//
// twos draws its random numbers from math/rand/v2's top-level functions,
// which read per-thread runtime state: no lock and no shared cache line.
//
// # Persistence
//
// [Templates] is the persistence_timeout / persistence_granularity table,
// one for the whole data plane, shared by all workers and all virtual
// services: a fixed-capacity, pointer-free, lock-free hash table of
// IPVS-style templates. For a new flow of a persistent virtual service the
// data plane calls
//
//	key := sched.NewTemplateKey(serviceID, flow.Src, granularity)
//	idx, ref, outcome := templates.Pick(scheduler, key, flow, timeout, now)
//
// stores ref with the flow's connection entry, and calls
// templates.Release(ref, now) when the entry goes. The outcome feeds
// counters. The clock is injected: "now" is nanoseconds of any monotonic
// clock the caller chooses, read once per batch.
//
// # Frozen inputs
//
// The hash functions in hash.go, their constants, the canonical real server
// key, the Maglev permutation (maglev.go) and the sh/dh bucket layout
// (buckets.go) are frozen: changing them moves clients between real servers
// during a rolling upgrade. Golden tests pin them.
package sched
