package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"net/netip"

	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/netsim"
)

// The CPUs of the topology: the generator's and the balancer's.
const (
	genCPU = "0"
	lbCPU  = "1"
)

// lab is the benchmarks' topology: gen, lb, r1 and r2 on one segment.
type lab struct {
	net  *netsim.Lab
	gen  *netsim.Host
	lb   *netsim.Host
	rs   []*netsim.Host
	vip  netip.Addr
	dir  string
	govs string
}

// newLab builds the topology, with lb's receive steered to lbCPU.
func newLab(b *testing.B) *lab {
	b.Helper()
	nl := netsimtest.New(b)
	seg, err := nl.AddSegment("lan")
	must(b, err)
	l := &lab{net: nl, vip: netsim.VIP4(1), dir: b.TempDir(), govs: govsBinary(b)}
	add := func(name string) *netsim.Host {
		h, err := nl.AddHost(name)
		must(b, err)
		_, err = h.Join(seg)
		must(b, err)
		return h
	}
	l.gen, l.lb = add("gen"), add("lb")
	l.rs = []*netsim.Host{add("r1"), add("r2")}
	run(b, l.lb, "unshare", "-m", "sh", "-c",
		"mount -t sysfs sysfs /sys && echo "+cpuMask(lbCPU)+" > /sys/class/net/lan/queues/rx-0/rps_cpus")
	return l
}

// cpuMask is the hexadecimal mask of one CPU.
func cpuMask(cpu string) string {
	n, _ := strconv.Atoi(cpu)
	return strconv.FormatUint(1<<n, 16)
}

func must(b testing.TB, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// run runs a program in h and fails the benchmark when it fails.
func run(b testing.TB, h *netsim.Host, name string, args ...string) string {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := h.Run(ctx, name, args...)
	if err != nil {
		b.Fatalf("%s: %s %s: %v\n%s", h.Name(), name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// nft loads an nftables rule set into h.
func nft(b testing.TB, h *netsim.Host, ruleset string) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "rules.nft")
	must(b, os.WriteFile(path, []byte(ruleset), 0o644))
	run(b, h, "nft", "-f", path)
}

var (
	govsOnce sync.Once
	govsPath string
	govsErr  error
)

// govsBinary returns the govs binary to measure: GOVS_BENCH_GOVS, else one
// built once for the run.
func govsBinary(b testing.TB) string {
	if p := os.Getenv("GOVS_BENCH_GOVS"); p != "" {
		return p
	}
	govsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "govs-bench-")
		if err != nil {
			govsErr = err
			return
		}
		govsPath = filepath.Join(dir, "govs")
		out, err := exec.Command("go", "build", "-o", govsPath, "github.com/govs-lb/govs/cmd/govs").CombinedOutput()
		if err != nil {
			govsErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if govsErr != nil {
		b.Fatal(govsErr)
	}
	return govsPath
}

// sink makes a real server count the benchmark's packets and drop them at
// once, at ingress: its work is then the same whichever system sends.
func sink(b testing.TB, h *netsim.Host) {
	nft(b, h, `table netdev sink {
	chain in {
		type filter hook ingress device "lan" priority 0; policy accept;
		ip protocol { udp, ipencap } drop
	}
}
`)
}

// startGovs runs govs on lb with a keepalived.conf of one virtual server
// (proto, port) to the real servers by method (DR or TUN), on lbCPU, and
// returns once it lists the service.
func startGovs(b *testing.B, l *lab, proto string, port int, method string) *netsim.Process {
	b.Helper()
	var reals []netip.Addr
	for _, r := range l.rs {
		reals = append(reals, r.Addr4("lan"))
	}
	return startGovsTo(b, l, proto, port, method, reals)
}

// startGovsTo is startGovs to the real servers reals, with govs run's
// extra flags.
func startGovsTo(b *testing.B, l *lab, proto string, port int, method string, reals []netip.Addr, flags ...string) *netsim.Process {
	b.Helper()
	must(b, l.lb.AddAddr("lan", netip.PrefixFrom(l.vip, 32)))
	var c strings.Builder
	fmt.Fprintf(&c, "virtual_server %s %d {\n    lb_algo rr\n    lb_kind %s\n    protocol %s\n", l.vip, port, method, proto)
	for _, r := range reals {
		fmt.Fprintf(&c, "    real_server %s %d {\n    }\n", r, port)
	}
	c.WriteString("}\n")
	p, _ := startGovsConf(b, l.lb, l.govs, l.dir, c.String(), func(list string) bool {
		return strings.Count(list, "->") >= len(reals)
	}, append([]string{"-workers", "1"}, flags...)...)
	return p
}

// startGovsConf runs govs on h, on lbCPU, with the keepalived.conf text
// conf and govs run's flags, its files in dir, and returns with its admin
// socket once ready accepts the output of govs list.
func startGovsConf(b *testing.B, h *netsim.Host, govs, dir, conf string, ready func(list string) bool, flags ...string) (*netsim.Process, string) {
	b.Helper()
	path := filepath.Join(dir, "keepalived.conf")
	must(b, os.WriteFile(path, []byte(conf), 0o644))
	sock := filepath.Join(dir, "govs.sock")
	args := append([]string{"-c", lbCPU, govs, "run", "-f", path, "-interface", "lan", "-socket", sock}, flags...)
	p, err := h.Start("taskset", args...)
	must(b, err)
	b.Cleanup(func() { p.Stop() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := exec.Command(govs, "list", "-socket", sock).CombinedOutput()
		if err == nil && ready(string(out)) {
			return p, sock
		}
		select {
		case <-p.Done():
			b.Fatalf("govs exited: %v\n%s", p.Wait(), p.Log())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("govs was not ready: %v\n%s\n%s", err, tail(string(out), 10), p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// nftDR loads the rule set an nftables DR balancer uses (nftlb's): at lb's
// ingress, frames to the service get the MAC of a real server picked by a
// hash of the client's address and port, and leave by the same interface,
// without the kernel's stack.
func nftDR(b *testing.B, l *lab, proto string, port int) {
	b.Helper()
	must(b, l.lb.AddAddr("lan", netip.PrefixFrom(l.vip, 32)))
	var elems []string
	for i, r := range l.rs {
		elems = append(elems, fmt.Sprintf("%d : %s", i, r.Link("lan").MAC))
	}
	nft(b, l.lb, fmt.Sprintf(`table netdev govs-bench {
	chain in {
		type filter hook ingress device "lan" priority 0; policy accept;
		ip daddr %s %s dport %d ether saddr set %s ether daddr set jhash ip saddr . %s sport mod %d map { %s } fwd to "lan"
	}
}
`, l.vip, proto, port, l.lb.Link("lan").MAC, proto, len(l.rs), strings.Join(elems, ", ")))
}

// cpuBusy returns CPU cpu's busy time so far (user, nice, system, irq,
// softirq), from /proc/stat.
func cpuBusy(b testing.TB, cpu string) time.Duration {
	f, err := os.Open("/proc/stat")
	must(b, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 8 || fs[0] != "cpu"+cpu {
			continue
		}
		var ticks int64
		for _, i := range []int{1, 2, 3, 6, 7} {
			n, _ := strconv.ParseInt(fs[i], 10, 64)
			ticks += n
		}
		return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ 100
	}
	b.Fatalf("/proc/stat: no cpu%s", cpu)
	return 0
}

// rxPackets returns the frames h's interface received.
func rxPackets(b testing.TB, h *netsim.Host) uint64 {
	link, err := h.Netlink().LinkByName("lan")
	must(b, err)
	return link.Attrs().Statistics.RxPackets
}

// recorder writes the progress file of cmd/govs-bench, when there is one.
type recorder struct {
	mu  sync.Mutex
	enc *json.Encoder
	f   *os.File
}

var rec = openRecorder()

func openRecorder() *recorder {
	p := os.Getenv("GOVS_BENCH_OUT")
	if p == "" {
		return &recorder{}
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return &recorder{}
	}
	return &recorder{enc: json.NewEncoder(f), f: f}
}

func (r *recorder) write(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.enc != nil {
		r.enc.Encode(e)
		r.f.Sync()
	}
}
