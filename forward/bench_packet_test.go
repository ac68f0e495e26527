package forward

import (
	"strconv"
	"testing"
)

// Goals: ParseFrame of a TCP/IPv4 frame under 10 ns; checksums over 1500
// bytes above 5 GB/s; nothing allocates.

func BenchmarkParseFrame(b *testing.B) {
	for _, bb := range []struct {
		name  string
		frame []byte
	}{
		{"tcp4", specTCP4(TCPAck).build()},
		{"udp4", specUDP4(512).build()},
		{"tcp6", specTCP6(TCPAck).build()},
		{"tcp6-ext", specHBHFrag().build()},
	} {
		b.Run(bb.name, func(b *testing.B) {
			var p Packet
			b.ReportAllocs()
			for b.Loop() {
				if ParseFrame(bb.frame, &p) != Forwarded {
					b.Fatal("not parsed")
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
		})
	}
}

func BenchmarkSetMACs(b *testing.B) {
	f := specTCP4(TCPAck).build()
	b.ReportAllocs()
	for b.Loop() {
		SetMACs(f, pktMACReal, pktMACBalancer)
	}
}

func BenchmarkEncapIPIP(b *testing.B) {
	for _, size := range []int{64, 1480} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			f := specTCP4Payload(size - 40).build()
			var p Packet
			ParseFrame(f, &p)
			out := make([]byte, 2048)
			src, dst := pktLB4.As4(), pktReal4.As4()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var id uint16
			for b.Loop() {
				id++
				if EncapIPIP(out, &p, pktMACReal, pktMACBalancer, src, dst, id) == 0 {
					b.Fatal("not encapsulated")
				}
			}
		})
	}
}

func BenchmarkFragNeeded(b *testing.B) {
	f := specTCP4Payload(1480).build()
	var p Packet
	ParseFrame(f, &p)
	out := make([]byte, 256)
	vip := pktVIP4.As4()
	b.ReportAllocs()
	for b.Loop() {
		if FragNeeded(out, &p, pktMACBalancer, vip, 1480) == 0 {
			b.Fatal("no answer")
		}
	}
}

// BenchmarkCompleteChecksum sums size bytes of L4 segment (b.SetBytes gives
// MB/s: 5000 MB/s is the goal at 1500).
func BenchmarkCompleteChecksum(b *testing.B) {
	for _, size := range []int{64, 1500, 9000} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			f := specTCP4Payload(size - 20).build() // L4 segment of size bytes
			var p Packet
			ParseFrame(f, &p)
			b.SetBytes(int64(p.End - p.L4))
			b.ReportAllocs()
			for b.Loop() {
				CompleteChecksum(f, p.L4, 16, p.End, false)
			}
		})
	}
}

func BenchmarkL4Checksum(b *testing.B) {
	for _, bb := range []struct {
		name  string
		frame []byte
	}{
		{"tcp4-1500", specTCP4Payload(1460).build()},
		{"udp6-1500", specUDP6(1452).build()},
	} {
		b.Run(bb.name, func(b *testing.B) {
			var p Packet
			ParseFrame(bb.frame, &p)
			b.SetBytes(int64(p.End - p.L4))
			b.ReportAllocs()
			for b.Loop() {
				_ = L4Checksum(&p)
			}
		})
	}
}
