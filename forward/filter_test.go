package forward

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"golang.org/x/net/bpf"
)

// filterVM returns a VM running prog without its prologue (the packet type
// and offloaded VLAN checks use BPF extensions the VM does not implement;
// the ring tests check them in the kernel).
// filterPrologueLen is the number of instructions that check the packet
// type and the offloaded VLAN tag: BPF extensions that the x/net/bpf
// virtual machine of the tests does not implement.
const filterPrologueLen = 6

func filterVM(t testing.TB, prog []bpf.RawInstruction) *bpf.VM {
	t.Helper()
	insns, ok := bpf.Disassemble(prog)
	if !ok {
		t.Fatal("filter does not disassemble")
	}
	want := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
		bpf.LoadExtension{Num: bpf.ExtVLANTagPresent},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
	}
	for i, w := range want {
		if insns[i] != w {
			t.Fatalf("prologue instruction %d: got %v, want %v", i, insns[i], w)
		}
	}
	vm, err := bpf.NewVM(insns[filterPrologueLen:])
	if err != nil {
		t.Fatalf("filter: %v", err)
	}
	return vm
}

// testFrame returns an Ethernet frame with an IP header to dst with
// protocol proto (IPv6: next header) and a few bytes of payload.
func testFrame(dst netip.Addr, proto uint8) []byte {
	if dst.Is4() {
		f := make([]byte, 14+20+8)
		binary.BigEndian.PutUint16(f[12:], 0x0800)
		f[14] = 0x45
		binary.BigEndian.PutUint16(f[16:], 28)
		f[23] = proto
		copy(f[26:], []byte{198, 18, 1, 1})
		d := dst.As4()
		copy(f[30:], d[:])
		return f
	}
	f := make([]byte, 14+40+8)
	binary.BigEndian.PutUint16(f[12:], 0x86dd)
	f[14] = 0x60
	binary.BigEndian.PutUint16(f[18:], 8)
	f[20] = proto
	d := dst.As16()
	copy(f[38:], d[:])
	return f
}

func accepts(t testing.TB, vm *bpf.VM, frame []byte) bool {
	t.Helper()
	n, err := vm.Run(frame)
	if err != nil {
		t.Fatalf("run filter: %v", err)
	}
	return n != 0
}

func TestFilter(t *testing.T) {
	vip4 := netip.MustParseAddr("198.19.0.1")
	vip6 := netip.MustParseAddr("2001:db8:ffff::1")
	services := []FilterService{
		{Addr: vip4, Proto: 6, Port: 80},
		{Addr: vip4, Proto: 6, Port: 443},
		{Addr: netip.MustParseAddr("198.19.0.2"), Proto: 17, Port: 53},
		{Addr: vip6, Proto: 6, Port: 80},
		{Addr: netip.MustParseAddr("::ffff:198.19.0.3"), Proto: 17}, // mapped: IPv4
	}
	prog, err := BuildFilter(services)
	if err != nil {
		t.Fatal(err)
	}
	vm := filterVM(t, prog)
	vlan := testFrame(vip4, 6)
	vlan = append(vlan[:12:12], append([]byte{0x81, 0x00, 0x00, 0x05}, vlan[12:]...)...)
	arp := testFrame(vip4, 6)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	tests := []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"ipv4 tcp to vip", testFrame(vip4, 6), true},
		{"ipv4 udp to tcp-only vip", testFrame(vip4, 17), false},
		{"ipv4 icmp to vip", testFrame(vip4, 1), false},
		{"ipv4 udp to udp vip", testFrame(netip.MustParseAddr("198.19.0.2"), 17), true},
		{"ipv4 tcp to udp vip", testFrame(netip.MustParseAddr("198.19.0.2"), 6), false},
		{"ipv4 udp to mapped vip", testFrame(netip.MustParseAddr("198.19.0.3"), 17), true},
		{"ipv4 tcp to other", testFrame(netip.MustParseAddr("198.19.0.4"), 6), false},
		{"ipv6 tcp to vip", testFrame(vip6, 6), true},
		{"ipv6 fragment to vip", testFrame(vip6, 44), true},
		{"ipv6 hop-by-hop to vip", testFrame(vip6, 0), true},
		{"ipv6 udp to vip", testFrame(vip6, 17), false},
		{"ipv6 icmp to vip", testFrame(vip6, 58), false},
		{"ipv6 tcp to other", testFrame(netip.MustParseAddr("2001:db8:ffff::2"), 6), false},
		{"ipv6 tcp to other prefix", testFrame(netip.MustParseAddr("2001:db8:fffe::1"), 6), false},
		{"vlan tagged", vlan, false},
		{"arp", arp, false},
		{"truncated ipv4", testFrame(vip4, 6)[:32], false},
		{"truncated ipv6", testFrame(vip6, 6)[:50], false},
		{"runt", []byte{1, 2, 3}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := accepts(t, vm, tt.frame); got != tt.want {
				t.Errorf("accepts = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFilterEmpty(t *testing.T) {
	prog, err := BuildFilter(nil)
	if err != nil {
		t.Fatal(err)
	}
	vm := filterVM(t, prog)
	for _, f := range [][]byte{testFrame(netip.MustParseAddr("198.19.0.1"), 6), testFrame(netip.MustParseAddr("2001:db8::1"), 6)} {
		if accepts(t, vm, f) {
			t.Errorf("empty filter accepts %x", f)
		}
	}
}

func TestFilterErrors(t *testing.T) {
	for _, s := range [][]FilterService{
		{{Addr: netip.MustParseAddr("198.19.0.1")}},
		{{Proto: 6}},
	} {
		if _, err := BuildFilter(s); err == nil {
			t.Errorf("BuildFilter(%v): no error", s)
		}
	}
}

// randomServices returns n services on random addresses: IPv4 in
// 198.18.0.0/15, IPv6 in a few /96s of 2001:db8::/32, some of them
// consecutive.
func randomServices(r *rand.Rand, n4, n6 int) []FilterService {
	var s []FilterService
	protos := []uint8{6, 17}
	for i := 0; i < n4; i++ {
		a := [4]byte{198, 18 + byte(r.IntN(2)), byte(r.IntN(256)), byte(r.IntN(256))}
		s = append(s, FilterService{Addr: netip.AddrFrom4(a), Proto: protos[r.IntN(2)], Port: uint16(r.IntN(3))})
		if r.IntN(4) == 0 { // the next address too
			a[3]++
			s = append(s, FilterService{Addr: netip.AddrFrom4(a), Proto: 6})
		}
	}
	for i := 0; i < n6; i++ {
		var a [16]byte
		copy(a[:], []byte{0x20, 0x01, 0x0d, 0xb8})
		a[7] = byte(r.IntN(3))
		a[11] = byte(r.IntN(2))
		binary.BigEndian.PutUint32(a[12:], r.Uint32N(1<<16))
		s = append(s, FilterService{Addr: netip.AddrFrom16(a), Proto: protos[r.IntN(2)]})
	}
	return s
}

// checkFilter runs frames to every service address, to neighbours of them
// and to random addresses through the filter: no service frame may be
// rejected, and an exact filter accepts nothing else.
func checkFilter(t *testing.T, r *rand.Rand, services []FilterService, max int) (length int, exact bool) {
	t.Helper()
	prog, exact, err := buildFilter(services, max)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) > max {
		t.Fatalf("filter has %d instructions, limit %d", len(prog), max)
	}
	vm := filterVM(t, prog)
	type key struct {
		a netip.Addr
		p uint8
	}
	want := make(map[key]bool)
	for _, s := range services {
		want[key{s.Addr.Unmap(), s.Proto}] = true
	}
	check := func(a netip.Addr, p uint8) {
		got := accepts(t, vm, testFrame(a, p))
		w := want[key{a, p}]
		if a.Is6() && (p == 44 || p == 0) { // extension headers: any service of the address
			w = want[key{a, 6}] || want[key{a, 17}]
		}
		if w && !got {
			t.Fatalf("filter rejects %v proto %d", a, p)
		}
		if !w && got && exact {
			t.Fatalf("exact filter accepts %v proto %d", a, p)
		}
	}
	for _, s := range services {
		a := s.Addr.Unmap()
		for _, p := range []uint8{6, 17, 1, 44} {
			check(a, p)
			check(a.Next(), p)
			check(a.Prev(), p)
		}
	}
	for range 2000 {
		var a netip.Addr
		if r.IntN(2) == 0 {
			a = netip.AddrFrom4([4]byte{198, 18 + byte(r.IntN(2)), byte(r.IntN(256)), byte(r.IntN(256))})
		} else {
			var b [16]byte
			copy(b[:], []byte{0x20, 0x01, 0x0d, 0xb8})
			b[7] = byte(r.IntN(3))
			b[11] = byte(r.IntN(2))
			binary.BigEndian.PutUint32(b[12:], r.Uint32N(1<<16))
			a = netip.AddrFrom16(b)
		}
		check(a, 6)
	}
	return len(prog), exact
}

func TestFilterRandom(t *testing.T) {
	tests := []struct {
		name      string
		n4, n6    int
		max       int
		wantExact bool
	}{
		{"few", 5, 3, filterMaxInsns, true},
		{"hundreds", 300, 100, filterMaxInsns, true},
		{"two thousand ipv4", 1600, 0, filterMaxInsns, true},
		{"thousand ipv6", 0, 1000, filterMaxInsns, true},
		{"coarse ipv4", 4000, 0, filterMaxInsns, false},
		{"coarse both", 3000, 3000, filterMaxInsns, false},
		{"tiny limit", 200, 200, 64, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 1))
			n, exact := checkFilter(t, r, randomServices(r, tt.n4, tt.n6), tt.max)
			t.Logf("%d IPv4 and %d IPv6 services: %d instructions, exact %v", tt.n4, tt.n6, n, exact)
			if exact != tt.wantExact {
				t.Errorf("exact = %v, want %v", exact, tt.wantExact)
			}
		})
	}
}

// FuzzFilter builds filters from fuzzed service sets and checks that no
// frame to a service is rejected (and nothing else accepted when exact),
// with a small instruction limit so that coarsening runs too.
func FuzzFilter(f *testing.F) {
	f.Add(uint64(1), uint8(5), uint8(3), uint16(200))
	f.Add(uint64(2), uint8(200), uint8(200), uint16(40))
	f.Fuzz(func(t *testing.T, seed uint64, n4, n6 uint8, max uint16) {
		if max < 64 { // the smallest program of both families, coarsest
			max = 64
		}
		r := rand.New(rand.NewPCG(seed, 2))
		checkFilter(t, r, randomServices(r, int(n4), int(n6)), int(max))
	})
}

func BenchmarkBuildFilter(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	s := randomServices(r, 1000, 200)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BuildFilter(s); err != nil {
			b.Fatal(err)
		}
	}
}
