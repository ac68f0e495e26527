package check_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/govs-lb/govs/check"
	"github.com/govs-lb/govs/config"
	"github.com/govs-lb/govs/internal/fakeipvs"
	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/netsim"
)

// BenchmarkTCPCheck10kVsKeepalived measures, in one run and in a network
// namespace lab, the CPU that govs run and keepalived --check spend on the
// same 10,000 TCP_CHECKs at delay_loop 1 s: one virtual server with 10,000
// real servers in 198.18.64.0/18, all local to a host "srv" through one
// local route, where one listener on :80 accepts and closes, and counts.
// The checkers run in a host "lb" routed to that range on the segment
// "lan", where govs's data plane also sits (it must reach the real servers
// there); its filter admits only the VIP's packets, and it has none.
//
// Three programs: keepalived --check; govs run (checkers and data plane);
// "checker", check.Manager alone in a process of its own
// (TestScaleCheckerProcess), which is what the package costs. Each round
// starts each program, waits until its checks run at full rate,
// then reads the CPU time (utime + stime, from /proc, summed over the
// process and its children: keepalived's parent and its checker child)
// over a window, and the connections the listener accepted in it; the
// programs take turns, one at a time. It reports medians over the rounds:
// CPU in percent of one core, the ratio govs/keepalived, checks per second
// and CPU microseconds per check.
//
// keepalived's checker needs the kernel's IPVS: with a virtual_server
// configured, start_check stops at once when ipvs_start fails ("IPVS:
// Can't initialize ipvs"), and this kernel has no ip_vs module. The
// benchmark therefore starts keepalived under a seccomp filter
// (TestKeepalivedFakeIPVS) that makes every IPVS socket option
// (IPPROTO_IP, IP_VS_BASE_CTL .. +15) succeed without reaching the kernel:
// libipvs's netlink family is missing, so it falls back to those socket
// options, the IPVS commands become no-ops, and the checkers run as they
// would with IPVS.
//
// Environment: GOVS_SCALE_ROUNDS (default 2), GOVS_SCALE_WINDOW (default
// 15s), GOVS_SCALE_BASELINE: the path of another govs binary measured in
// the same rounds (to compare before and after a change), GOVS_SCALE_IDLE=1:
// also govs with the same real servers and no checkers (what the daemon
// and its idle data plane cost). Rounds stop once the next could end after
// GOVS_SCALE_BUDGET (default 170s) from the start.
//
//	go test -run '^$' -bench '^BenchmarkTCPCheck10kVsKeepalived$' -benchtime 1x ./check/
func BenchmarkTCPCheck10kVsKeepalived(b *testing.B) {
	netsimtest.RequireRoot(b)
	kaPath := netsimtest.RequireProgram(b, "keepalived")
	if err := fakeipvs.Supported(); err != nil {
		b.Skip(err)
	}
	rounds := kaEnvInt(b, "GOVS_SCALE_ROUNDS", 2)
	window := kaEnvDuration(b, "GOVS_SCALE_WINDOW", 15*time.Second)
	const (
		reals   = 10_000
		warmMax = 20 * time.Second // to reach the full rate after a start
	)
	budget := kaEnvDuration(b, "GOVS_SCALE_BUDGET", 170*time.Second)
	began := time.Now()

	dir := b.TempDir()
	govs := filepath.Join(dir, "govs")
	build := exec.Command("go", "build", "-o", govs, "./cmd/govs")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build ./cmd/govs: %v\n%s", err, out)
	}

	lab := netsimtest.New(b)
	lan, err := lab.AddSegment("lan")
	kaMust(b, err)
	srv, err := lab.AddHost("srv")
	kaMust(b, err)
	lb, err := lab.AddHost("lb")
	kaMust(b, err)
	_, err = srv.Join(lan)
	kaMust(b, err)
	_, err = lb.Join(lan)
	kaMust(b, err)

	// One local route makes every address of the range srv's own.
	servers := netip.MustParsePrefix("198.18.64.0/18")
	lo, err := srv.Netlink().LinkByName("lo")
	kaMust(b, err)
	kaMust(b, srv.Netlink().RouteAdd(&netlink.Route{
		Dst: &net.IPNet{IP: servers.Addr().AsSlice(), Mask: net.CIDRMask(servers.Bits(), 32)}, LinkIndex: lo.Attrs().Index,
		Type: unix.RTN_LOCAL, Table: unix.RT_TABLE_LOCAL, Scope: netlink.SCOPE_HOST,
	}))
	kaMust(b, lb.AddRoute(servers, srv.Addr4("lan")))

	l, err := srv.Listen("tcp", ":80")
	kaMust(b, err)
	b.Cleanup(func() { l.Close() })
	var accepted atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()

	var conf strings.Builder
	conf.WriteString("virtual_server 198.19.0.1 80 {\n    delay_loop 1\n    lb_algo rr\n    lb_kind DR\n    protocol TCP\n")
	base := servers.Addr().As4()
	first := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	for i := range uint32(reals) {
		a := first + 1 + i
		fmt.Fprintf(&conf, "    real_server %d.%d.%d.%d 80 {\n        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n",
			byte(a>>24), byte(a>>16), byte(a>>8), byte(a))
	}
	conf.WriteString("}\n")
	confPath := filepath.Join(dir, "keepalived.conf")
	kaMust(b, os.WriteFile(confPath, []byte(conf.String()), 0o644))

	type system struct {
		name  string
		idle  bool // no checks: no rate to wait for
		start func() (*netsim.Process, error)
		runs  []kaSample
	}
	govsStart := func(bin string) func() (*netsim.Process, error) {
		return func() (*netsim.Process, error) {
			return lb.Start(bin, "run", "-f", confPath, "-interface", "lan", "-workers", "1",
				"-conn-capacity", "4096", "-socket", filepath.Join(dir, "govs.sock"))
		}
	}
	kaDir := filepath.Join(dir, "keepalived")
	kaMust(b, os.MkdirAll(kaDir, 0o755))
	systems := []*system{
		{name: "keepalived", start: func() (*netsim.Process, error) {
			argv := []string{kaPath, "--check", "--dont-fork", "--log-console", "--no-syslog",
				"--use-file", confPath,
				"--pid", filepath.Join(kaDir, "keepalived.pid"),
				"--checkers_pid", filepath.Join(kaDir, "checkers.pid"),
				"--vrrp_pid", filepath.Join(kaDir, "vrrp.pid"),
				"--bfd_pid", filepath.Join(kaDir, "bfd.pid")}
			return lb.StartCmd(fakeipvs.Command("TestKeepalivedFakeIPVS", argv))
		}},
		{name: "govs", start: govsStart(govs)},
		{name: "checker", start: func() (*netsim.Process, error) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestScaleCheckerProcess$")
			cmd.Env = append(os.Environ(), kaCheckerEnv+"="+confPath)
			return lb.StartCmd(cmd)
		}},
	}
	if os.Getenv("GOVS_SCALE_IDLE") != "" {
		// govs with the same real servers and no checker: what the data
		// plane and the daemon cost without probes.
		idle := strings.ReplaceAll(conf.String(), "        TCP_CHECK {\n            connect_timeout 3\n        }\n", "")
		idlePath := filepath.Join(dir, "idle.conf")
		kaMust(b, os.WriteFile(idlePath, []byte(idle), 0o644))
		systems = append(systems, &system{name: "govs-idle", idle: true, start: func() (*netsim.Process, error) {
			return lb.Start(govs, "run", "-f", idlePath, "-interface", "lan", "-workers", "1",
				"-conn-capacity", "4096", "-socket", filepath.Join(dir, "govs.sock"))
		}})
	}
	if bin := os.Getenv("GOVS_SCALE_BASELINE"); bin != "" {
		systems = append(systems, &system{name: "baseline", start: govsStart(bin)})
	}

	// measure starts a system, waits for its full rate, and samples it.
	measure := func(s *system) {
		p, err := s.start()
		if err != nil {
			b.Fatalf("%s: %v", s.name, err)
		}
		defer p.Stop()
		started := time.Now()
		// Full rate: at least 90% of the checks a second, over a second,
		// after at least two seconds (warmup spreads the first probes
		// over delay_loop).
		for {
			a0 := accepted.Load()
			time.Sleep(time.Second)
			rate := accepted.Load() - a0
			select {
			case <-p.Done():
				b.Fatalf("%s exited: %v\n%s", s.name, p.Wait(), kaTail(p.Log(), 15))
			default:
			}
			if time.Since(started) >= 2*time.Second && (s.idle || rate >= reals*90/100) {
				break
			}
			if time.Since(started) > warmMax {
				b.Fatalf("%s: %d checks/s after %v, want %d\n%s", s.name, rate, warmMax, reals, kaTail(p.Log(), 15))
			}
		}
		c0, err := kaTreeCPU(p.Pid())
		kaMust(b, err)
		a0, t0, s0 := accepted.Load(), time.Now(), kaSelfCPU()
		time.Sleep(window)
		c1, err := kaTreeCPU(p.Pid())
		kaMust(b, err)
		s1 := kaSelfCPU()
		el, n := time.Since(t0).Seconds(), float64(accepted.Load()-a0)
		smp := kaSample{
			cpu:    100 * (c1.user + c1.sys - c0.user - c0.sys).Seconds() / el,
			user:   100 * (c1.user - c0.user).Seconds() / el,
			sys:    100 * (c1.sys - c0.sys).Seconds() / el,
			checks: n / el,
			server: 100 * (s1 - s0).Seconds() / el,
			procs:  c1.procs,
		}
		s.runs = append(s.runs, smp)
		b.Logf("%-10s cpu %5.1f%% (user %4.1f%%, sys %4.1f%%) of one core, %6.0f checks/s, %d processes, warm after %v; server side %4.1f%%",
			s.name, smp.cpu, smp.user, smp.sys, smp.checks, smp.procs, t0.Sub(started).Round(100*time.Millisecond), smp.server)
		if !s.idle && smp.checks < reals*0.85 {
			b.Errorf("%s made %.0f checks/s, want about %d", s.name, smp.checks, reals)
		}
	}

	b.ResetTimer()
	for r := range rounds {
		if r > 0 && time.Since(began) > budget-time.Duration(len(systems))*(window+8*time.Second) {
			b.Logf("stopping after %d rounds: time budget", r)
			break
		}
		order := slices.Clone(systems)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, s := range order {
			measure(s)
			time.Sleep(500 * time.Millisecond) // the last probes end
		}
	}
	b.StopTimer()

	med := map[string]kaSample{}
	for _, s := range systems {
		m := kaMedian(s.runs)
		med[s.name] = m
		cpus := make([]string, len(s.runs))
		for i, r := range s.runs {
			cpus[i] = strconv.FormatFloat(r.cpu, 'f', 1, 64)
		}
		b.Logf("%-10s median cpu %5.1f%% (runs %s; user %.1f%%, sys %.1f%%), %6.0f checks/s, %.1f µs CPU/check; server side %.1f%%",
			s.name, m.cpu, strings.Join(cpus, " "), m.user, m.sys, m.checks, 1e4*m.cpu/m.checks, m.server)
		b.ReportMetric(m.cpu, s.name+"-cpu%")
		b.ReportMetric(m.checks, s.name+"-checks/s")
		if !s.idle {
			b.ReportMetric(1e4*m.cpu/m.checks, s.name+"-µs/check")
		}
	}
	b.ReportMetric(med["govs"].cpu/med["keepalived"].cpu, "govs/keepalived")
	b.ReportMetric(med["checker"].cpu/med["keepalived"].cpu, "checker/keepalived")
	// keepalived plans each probe delay_loop after the last one ended, and
	// falls behind 10,000 a second: per check is the fair comparison.
	perCheck := func(m kaSample) float64 { return m.cpu / m.checks }
	b.ReportMetric(perCheck(med["govs"])/perCheck(med["keepalived"]), "govs/keepalived-per-check")
	b.ReportMetric(0, "ns/op")
}

// kaSample is one measurement window of one system.
type kaSample struct {
	cpu, user, sys float64 // percent of one core
	checks         float64 // connections accepted per second
	server         float64 // the benchmark's own CPU: the listener, and the softirqs it runs
	procs          int
}

// kaMedian takes each field's median over the samples.
func kaMedian(s []kaSample) kaSample {
	pick := func(f func(kaSample) float64) float64 {
		v := make([]float64, len(s))
		for i := range s {
			v[i] = f(s[i])
		}
		slices.Sort(v)
		if len(v) == 0 {
			return 0
		}
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return kaSample{
		cpu:    pick(func(x kaSample) float64 { return x.cpu }),
		user:   pick(func(x kaSample) float64 { return x.user }),
		sys:    pick(func(x kaSample) float64 { return x.sys }),
		checks: pick(func(x kaSample) float64 { return x.checks }),
		server: pick(func(x kaSample) float64 { return x.server }),
	}
}

type kaCPU struct {
	user, sys time.Duration
	procs     int
}

// kaSelfCPU is the benchmark process's own CPU time.
func kaSelfCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// kaTreeCPU sums utime and stime (all threads) over a process and its
// descendants, from /proc.
func kaTreeCPU(pid int) (kaCPU, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return kaCPU{}, err
	}
	// The fields after the command, which is in parentheses: utime and
	// stime are fields 14 and 15 of the line.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return kaCPU{}, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	const tick = time.Second / 100 // USER_HZ
	sum := kaCPU{user: time.Duration(ut) * tick, sys: time.Duration(st) * tick, procs: 1}
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		for _, k := range strings.Fields(string(kids)) {
			kp, err := strconv.Atoi(k)
			if err != nil {
				continue
			}
			if c, err := kaTreeCPU(kp); err == nil {
				sum.user += c.user
				sum.sys += c.sys
				sum.procs += c.procs
			}
		}
	}
	return sum, nil
}

// kaCheckerEnv names the configuration TestScaleCheckerProcess checks.
const kaCheckerEnv = "GOVS_SCALE_CHECKER_CONF"

// TestScaleCheckerProcess is a helper process of
// BenchmarkTCPCheck10kVsKeepalived; it skips in a normal run. It runs the
// checkers of a configuration, check.Manager alone, as govs run does
// (a State snapshot at each change) without its data plane, until SIGTERM.
func TestScaleCheckerProcess(t *testing.T) {
	path := os.Getenv(kaCheckerEnv)
	if path == "" {
		t.Skip("helper process of BenchmarkTCPCheck10kVsKeepalived")
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Parse(path, text, &config.Options{ConfigID: "scale"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	m := check.NewManager(&check.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err := m.Update(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-m.Changes():
				m.State()
			}
		}
	}()
	m.Run(ctx)
}

// TestKeepalivedFakeIPVS is a helper process of
// BenchmarkTCPCheck10kVsKeepalived, which runs keepalived through it as if
// the kernel had IPVS (internal/fakeipvs); it skips in a normal run.
func TestKeepalivedFakeIPVS(t *testing.T) {
	fakeipvs.Exec()
	t.Skip("helper process of BenchmarkTCPCheck10kVsKeepalived")
}

func kaEnvInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		tb.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func kaEnvDuration(tb testing.TB, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		tb.Fatalf("%s=%q: want a positive duration", name, v)
	}
	return d
}

func kaMust(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func kaTail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
