// Command govs-bench runs package bench's benchmarks, shows which case,
// which system and which repetition runs and the time left, and writes
// RESULTS.md, results.json and chart.png. make bench runs it as root from
// the module's root:
//
//	go run ./bench/cmd/govs-bench [-out bench] [-quick]
//
// BENCH_QUICK=1 (or -quick) makes a short run: one repetition, short
// windows. Interrupted (SIGINT, SIGTERM), it stops the benchmarks and
// removes every namespace, rule and process they made.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/govs-lb/govs/bench"
	"github.com/govs-lb/govs/bench/report"
	"github.com/govs-lb/govs/netsim"
)

func main() {
	out := flag.String("out", "bench", "directory for RESULTS.md, results.json and chart.png")
	quick := flag.Bool("quick", false, "a short run (as BENCH_QUICK=1)")
	keep := flag.Bool("keep", false, "keep the work directory (logs, the benchmarks' output)")
	flag.Parse()
	if *quick {
		os.Setenv("BENCH_QUICK", "1")
	}
	if err := run(*out, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "govs-bench:", err)
		os.Exit(1)
	}
}

func run(out string, keep bool) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root: the benchmarks build network namespaces")
	}
	settings := bench.Current()
	work, err := os.MkdirTemp("", "govs-bench-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("work directory:", work)
	} else {
		defer os.RemoveAll(work)
	}

	fmt.Println("building govs and the benchmarks")
	govs := filepath.Join(work, "govs")
	if err := command("go", "build", "-o", govs, "./cmd/govs"); err != nil {
		return err
	}
	testBin := filepath.Join(work, "bench.test")
	if err := command("go", "test", "-c", "-o", testBin, "./bench"); err != nil {
		return err
	}

	events := filepath.Join(work, "events.jsonl")
	logPath := filepath.Join(work, "bench.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(testBin, "-test.run", "^$", "-test.bench", "^Benchmark(PacketRate|HTTP|Scale|Control)$",
		"-test.benchtime", "1x", "-test.timeout", "40m", "-test.v")
	cmd.Dir = "bench"
	cmd.Env = append(os.Environ(), "GOVS_BENCH_OUT="+events, "GOVS_BENCH_GOVS="+govs)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	prog := &progress{settings: settings, start: start, total: bench.Steps(settings)}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var runErr error
loop:
	for {
		select {
		case runErr = <-done:
			break loop
		case s := <-sigs:
			fmt.Printf("\n%v: stopping the benchmarks and cleaning up\n", s)
			unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
			<-done
			sweep()
			return fmt.Errorf("interrupted by %v", s)
		case <-tick.C:
			prog.update(events)
		}
	}
	prog.update(events)
	sweep() // nothing should be left; a benchmark that failed may leave a lab
	samples, failures := readEvents(events)
	logText, _ := os.ReadFile(logPath)
	skipped := skips(string(logText))
	if runErr != nil {
		fmt.Fprintf(os.Stderr, "the benchmarks failed (%v); the end of their log:\n%s\n", runErr, tail(string(logText), 40))
		if len(samples) == 0 {
			return runErr
		}
	}
	for _, f := range failures {
		fmt.Fprintln(os.Stderr, "failed:", f)
	}

	r := &report.Run{
		Date: time.Now().UTC(), Machine: machine(), Kernel: kernel(), Go: runtime.Version(),
		Commit: commit(), Quick: settings.Quick, Method: method(settings), Samples: samples,
		Skipped: skipped,
	}
	for _, c := range bench.Cases() {
		r.Cases = append(r.Cases, c.CaseInfo)
	}
	if err := write(r, out); err != nil {
		return err
	}
	fmt.Printf("done in %v: %s\n", time.Since(start).Round(time.Second), filepath.Join(out, "RESULTS.md"))
	return runErr
}

// write writes the run's three files into dir.
func write(r *report.Run, dir string) error {
	var md, js, png bytes.Buffer
	if err := r.Markdown(&md, "chart.png"); err != nil {
		return err
	}
	if err := r.WriteJSON(&js); err != nil {
		return err
	}
	if err := r.Chart(&png, "udp-64", "http-close"); err != nil {
		return err
	}
	for name, b := range map[string]*bytes.Buffer{"RESULTS.md": &md, "results.json": &js, "chart.png": &png} {
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// progress prints a line for each step the benchmarks start.
type progress struct {
	settings bench.Settings
	start    time.Time
	total    int
	seen     int64 // bytes of the events file read
	started  int
	pending  string
}

func (p *progress) update(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(p.seen, io.SeekStart); err != nil {
		return
	}
	data, _ := io.ReadAll(f)
	p.seen += int64(len(data))
	p.pending += string(data)
	for {
		line, rest, ok := strings.Cut(p.pending, "\n")
		if !ok {
			return
		}
		p.pending = rest
		var e bench.Event
		if json.Unmarshal([]byte(line), &e) != nil || !e.Start {
			continue
		}
		p.started++
		reps := p.settings.Reps
		for _, c := range bench.Cases() {
			if c.Name == e.Case {
				reps = c.Repetitions(p.settings)
			}
		}
		fmt.Printf("[%d/%d] %-15s %-10s rep %d/%d   elapsed %v, about %v left\n", p.started, p.total,
			e.Case, e.System, e.Rep, reps, time.Since(p.start).Round(time.Second), p.left().Round(time.Second))
	}
}

// left estimates the time left from the steps not started, with the
// estimate scaled by how the run went so far.
func (p *progress) left() time.Duration {
	var planned, done time.Duration
	i := 0
	for _, c := range bench.Cases() {
		for range len(c.Systems) * c.Repetitions(p.settings) {
			i++
			if i < p.started {
				done += bench.StepTime(p.settings, c)
			} else {
				planned += bench.StepTime(p.settings, c)
			}
		}
	}
	if done > 0 {
		planned = time.Duration(float64(planned) * float64(time.Since(p.start)) / float64(done))
	}
	return planned
}

// readEvents returns the samples of the events file, and the steps that
// started and left none.
func readEvents(path string) ([]report.Sample, []string) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	var samples []report.Sample
	open := map[string]bool{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e bench.Event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		key := fmt.Sprintf("%s/%s/rep=%d", e.Case, e.System, e.Rep)
		if e.Start {
			open[key] = true
			order = append(order, key)
			continue
		}
		if e.Sample != nil {
			samples = append(samples, *e.Sample)
			delete(open, key)
		}
	}
	var failed []string
	for _, k := range order {
		if open[k] {
			failed = append(failed, k)
		}
	}
	return samples, failed
}

// skips returns the reasons of the benchmarks that skipped.
func skips(log string) []string {
	var out []string
	lines := strings.Split(log, "\n")
	for i, l := range lines {
		if strings.Contains(l, "--- SKIP:") && i+1 < len(lines) {
			name := strings.Fields(strings.TrimSpace(l))[2]
			out = append(out, name+": "+strings.TrimSpace(lines[i+1]))
		}
	}
	if !bench.HaveIPVS() {
		out = append(out, "IPVS: this kernel has no ip_vs module; not measured")
	}
	return out
}

func sweep() {
	if err := netsim.Sweep(&netsim.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		fmt.Fprintln(os.Stderr, "cleaning up:", err)
	}
}

func command(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// machine describes the CPU, its cores and the memory.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(strings.Split(string(b), "\n")[0], "MemTotal:"), "%d", &kb)
		mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
	}
	return fmt.Sprintf("%s, %d CPUs%s", model, runtime.NumCPU(), mem)
}

func kernel() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if exec.Command("git", "diff", "--quiet", "HEAD").Run() != nil {
		c += " (modified)"
	}
	return c
}

func method(s bench.Settings) string {
	reps := fmt.Sprintf("%d repetitions", s.Reps)
	if s.Reps == 1 {
		reps = "one repetition (BENCH_QUICK)"
	}
	return fmt.Sprintf(`Every system runs on the same namespace lab: a generator host, a balancer and two real servers on one bridged segment (veth pairs). The balancer's work runs on CPU 1: the kernel's (IP forwarding, nftables) through receive packet steering on the balancer's interface, govs's and HAProxy's processes by CPU affinity; the generator (trafgen, wrk) runs on CPU 0. Each system gets a fresh lab for each measurement; systems take turns within each repetition, so that drift hits all alike. Figures are medians over %s, with min..max.

Packet rate: trafgen sends UDP frames of 10,000 flows (source ports 10000-19999) to the VIP as fast as it can; the real servers count them and drop them at ingress. pkts/s is what the real servers received in a %v window after %v of warm-up; offered-pkts/s what the balancer received; cpu-ns/pkt the balancer CPU's busy time (user, system, irq, softirq) per delivered packet; cpu1-%% that CPU's use. kernel: the balancer's routing table, an ECMP route to both real servers hashed on ports. nft-dr: an nftables netdev ingress rule that sets the destination MAC from a jhash of the client's address and port and forwards the frame (nftlb's DSR). govs-dr, govs-tun: govs run, one worker, rr.

HTTP: wrk, one thread, 32 connections, %v, against nginx on the real servers; http-close sends "Connection: close" (a connection per request), http-keepalive keeps them open. direct: to one real server's own address. haproxy: HAProxy in TCP mode, one thread, round robin. p50-ms and p99-ms are wrk's latency percentiles; errors are wrk's socket errors and non-2xx answers.

Scale: govs DR under the packet-rate flood of 64-byte frames. scale-servers: 1, 100 and 10,000 real servers (addresses beyond r1 and r2 with permanent neighbour entries pointing at r1's or r2's MAC). scale-flows: 10,000, 1,010,000 and 4,040,000 flows (101 source addresses times 10,000 or 40,000 source ports), the connection table sized at 1.5 times the flows; trafgen first sends the flows at 60,000 a second until the table holds 99%% of them, then the window measures them at full rate. conns is the table's flows (govs list -json), rss-MiB the govs process's resident memory (VmRSS) at the end.

Control plane: keepalived (Debian's) and govs with the same keepalived.conf. rs-fail: two DR real servers running nginx, TCP_CHECK (delay_loop 1, connect_timeout 1, retry 0), a client on gen opening a new connection to the VIP every 3 ms; r1's nginx is killed, and ms is the time until the start of the last new connection that still went to r1 (govs), or until keepalived logs that it removes r1 (keepalived: this kernel has no ip_vs, so its IPVS socket options are faked, and IPVS would apply the removal at once). Detection is paced by delay_loop, so expect anything from 0 to 1,000 ms on either. vrrp-stop and vrrp-death: two balancers (priority 150 and 100, advert_int 1) each answering its name over HTTP on port 81, and a client asking the VIP every 10 ms on a new connection; the master gets SIGTERM (vrrp-stop: it sends a priority 0 advert, and the backup takes over after its skew time, 0.61 s) or loses its link (vrrp-death: the backup waits for its master-down interval, 3.61 s after the last advert it heard), and ms is the time until the send time of the first request the backup answers.`,
		reps, s.PacketWindow, s.PacketWarm, s.HTTPDuration)
}
