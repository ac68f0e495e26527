// Package bench measures govs side by side with what an operator would run
// instead, on one namespace lab topology, in one run: kernel IP forwarding,
// an nftables netdev DR rule set (what nftlb builds), HAProxy in TCP mode,
// a client talking to a real server directly, and govs.
//
// The benchmarks are ordinary `go test -bench` benchmarks (root, Linux):
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/
//
// Each case repeats its systems in turns (system after system, repetition
// after repetition), so that drift of the machine hits all alike, and
// reports each repetition with b.ReportMetric. `make bench` runs them
// through cmd/govs-bench, which shows progress and writes RESULTS.md,
// results.json and chart.png with package report.
//
// The topology, the same for every system: a generator host "gen", a
// balancer "lb" and two real servers "r1" and "r2", on one bridged
// segment. The balancer's work runs on CPU 1: the kernel's (forwarding,
// nftables) through receive packet steering on lb's interface, govs's and
// HAProxy's processes with their CPU affinity; the generator (trafgen,
// wrk) runs on CPU 0.
package bench
