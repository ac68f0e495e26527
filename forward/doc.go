// Package forward is govs's data plane: it takes every packet addressed to a
// virtual service off the wire through AF_PACKET rings, picks a real server,
// and sends the packet on by direct routing (a new destination MAC) or IPIP
// tunnelling, with one worker per CPU.
//
// The pieces, one concern a file:
//
//   - types.go, verdict.go: the shared vocabulary: addresses as 16-byte
//     arrays, flow keys, the parsed view of a frame, and the verdict of every
//     packet (forwarded, or why dropped), which feeds tests and counters.
//   - packet.go: the frame parser, pure and fuzzed.
//   - rewrite.go, csum.go, icmp.go: DR and IPIP rewrites, checksum
//     completion for partially checksummed frames, ICMP "fragmentation
//     needed".
//   - conntrack.go: the per-worker connection table: fixed capacity,
//     pointer-free entries, IPVS's TCP states and timeouts, lazy expiry.
//   - ring_linux.go, tx_linux.go, filter.go: TPACKET_V3 receive rings in a
//     fanout group, batched transmit, the classic BPF filter.
//   - nft_linux.go: the nftables netdev ingress rules that keep the kernel
//     out of virtual service traffic.
//   - neigh_linux.go: real server MAC addresses from the kernel's neighbour
//     table, resolved with ARP or NDP when missing.
//   - snapshot.go, worker.go, engine.go: the configuration snapshot swapped
//     atomically, the per-packet pipeline, the workers' lifecycle.
//
// The per-packet path allocates nothing and takes no lock.
package forward
