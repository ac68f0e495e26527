package check

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/netsimtest"
)

// benchServerEnv makes the test binary a listener process for
// BenchmarkTCPCheck10k, so that accepting connections is not counted in
// the checkers' CPU time.
const benchServerEnv = "GOVS_CHECK_BENCH_SERVER"

// TestBenchServer is the listener process; it skips in a normal run.
func TestBenchServer(t *testing.T) {
	if os.Getenv(benchServerEnv) == "" {
		t.Skip("helper process of BenchmarkTCPCheck10k")
	}
	var addrs []string
	for i := 1; i <= 8; i++ {
		for range 4 {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", i))
			if err != nil {
				t.Fatal(err)
			}
			addrs = append(addrs, l.Addr().String())
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
		}
	}
	fmt.Println(strings.Join(addrs, " "))
	// Serve until the parent closes stdin.
	bufio.NewReader(os.Stdin).ReadString('\n')
}

// BenchmarkTCPCheck10k runs 10,000 TCP_CHECKs at delay_loop 1 s (the
// default warmup spreads them over the second) against 32 loopback
// listeners in another process, and reports the checkers' CPU use as a
// percentage of one core, probes per second, and the most goroutines and
// file descriptors seen.
func BenchmarkTCPCheck10k(b *testing.B) { benchmarkTCPCheck(b, false) }

// BenchmarkSchedule10k is BenchmarkTCPCheck10k with probes that pass at
// once without a system call: the cost of the schedule, the state
// machines and the bookkeeping alone.
func BenchmarkSchedule10k(b *testing.B) { benchmarkTCPCheck(b, true) }

func benchmarkTCPCheck(b *testing.B, noop bool) {
	const (
		reals   = 10000
		measure = 5 * time.Second
	)
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchServer$")
	cmd.Env = append(os.Environ(), benchServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	targets := strings.Fields(line)

	var cfg strings.Builder
	for v := range reals / 1000 {
		fmt.Fprintf(&cfg, "virtual_server 198.19.0.%d 80 {\n delay_loop 1\n lb_algo rr\n lb_kind DR\n protocol TCP\n", v+1)
		for r := range 1000 {
			i := v*1000 + r
			host, port, _ := net.SplitHostPort(targets[i%len(targets)])
			fmt.Fprintf(&cfg, " real_server 198.18.%d.%d 80 {\n  TCP_CHECK {\n   connect_ip %s\n   connect_port %s\n   connect_timeout 2\n  }\n }\n",
				i/250, 1+i%250, host, port)
		}
		cfg.WriteString("}\n")
	}
	m := NewManager(&Options{Logger: netsimtest.Logger(b)})
	var probes, failures atomic.Int64
	if noop {
		m.newProber = func(*spec) prober {
			return proberFunc(func(context.Context, int) result { return result{ok: true} })
		}
	}
	// Counted as they complete, so that TCP_CHECK keeps its own prober
	// (and runs on the poller where there is one).
	m.probed = func(r result) {
		probes.Add(1)
		if !r.ok {
			failures.Add(1)
		}
	}
	if err := m.Update(parse(b, cfg.String())); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); m.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	// Let the warmup pass, then measure.
	time.Sleep(1500 * time.Millisecond)
	maxG, maxFD := 0, 0
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				maxG = max(maxG, runtime.NumGoroutine())
				if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
					maxFD = max(maxFD, len(fds))
				}
			}
		}
	}()
	b.ResetTimer()
	u0, s0 := cpuTime()
	wall0, n0 := time.Now(), probes.Load()
	time.Sleep(measure)
	u1, s1 := cpuTime()
	wall1, n1 := time.Now(), probes.Load()
	b.StopTimer()
	close(stop)
	sampler.Wait()
	wall := wall1.Sub(wall0).Seconds()
	b.ReportMetric(100*(u1-u0+s1-s0).Seconds()/wall, "cpu%")
	b.ReportMetric(100*(u1-u0).Seconds()/wall, "user-cpu%")
	b.ReportMetric(100*(s1-s0).Seconds()/wall, "sys-cpu%")
	b.ReportMetric(float64(n1-n0)/wall, "probes/s")
	b.ReportMetric(float64(maxG), "goroutines")
	b.ReportMetric(float64(maxFD), "fds")
	if f := failures.Load(); f > 0 {
		b.Errorf("%d probes failed", f)
	}
}

// cpuTime is the process's user and system CPU time.
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
