package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/netsim"
)

// startDaemon runs d in host as govs run does, until the test ends or the
// returned function (which may be called more than once) is called, and
// waits for its admin socket to answer.
func startDaemon(t testing.TB, host *netsim.Host, d *Daemon) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- host.Do(func() error { return d.Run(ctx) }) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("run did not stop")
			}
		})
	}
	t.Cleanup(stop)
	netsimtest.Eventually(t, 5*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := Ask(ctx, d.opts.Socket, "status")
		return err
	})
	return stop
}

const stormConf = `virtual_server %s 80 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
%s}
`

// tcpCheck is a real server's TCP_CHECK, so that every reload restarts
// checkers too.
const tcpCheck = "        TCP_CHECK {\n            connect_timeout 1\n        }\n"

// stormRequest is one HTTP/1.0 request on a new connection from a fixed
// local port, which the storm reuses as soon as the connection is gone.
// It returns the answering host's name.
func stormRequest(h *netsim.Host, vip netip.AddrPort, port int) (string, error) {
	d := net.Dialer{
		LocalAddr: &net.TCPAddr{Port: port},
		Timeout:   3 * time.Second,
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
			})
			return errors.Join(err, serr)
		},
	}
	var c net.Conn
	if err := h.Do(func() error {
		var err error
		c, err = d.Dial("tcp", vip.String())
		return err
	}); err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
		return "", err
	}
	return readName(bufio.NewReader(c))
}

// readName reads one answer of netsim's HTTP server: host=NAME.
func readName(r *bufio.Reader) (string, error) {
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := bufio.NewReader(resp.Body).WriteTo(&b); err != nil {
		return "", err
	}
	name, ok := strings.CutPrefix(strings.TrimSpace(b.String()), "host=")
	if resp.StatusCode != http.StatusOK || !ok {
		return "", fmt.Errorf("answer %s %q", resp.Status, b.String())
	}
	return name, nil
}

// TestReloadStorm is a stream of new connections, from local ports that
// are reused as soon as a connection ends, across 20 reloads that each
// remove a real server and add another: every request is answered, none
// after a retransmitted SYN (a lost packet). Keep-alive connections keep
// flowing, to the real servers that stay and to the removed ones, which
// drain.
func TestReloadStorm(t *testing.T) {
	hosts := lanLab(t, "c1", "c2", "lb", "r1", "r2", "r3", "r4")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	vip := netsim.VIP4(1)
	target := netip.AddrPortFrom(vip, 80)
	must(hosts["lb"].AddAddr("lan", netip.PrefixFrom(vip, 32)))
	rs, _ := webLab(t, hosts, vip, "c1", "c2", "r1", "r2", "r3", "r4")
	// r2 and r3 stay; r1 and r4 take turns.
	sets := [2]string{
		fmt.Sprintf(stormConf, vip, realServers(tcpCheck, rs[0], rs[1], rs[2])),
		fmt.Sprintf(stormConf, vip, realServers(tcpCheck, rs[1], rs[2], rs[3])),
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	must(os.WriteFile(conf, []byte(sets[0]), 0o644))
	d, err := New(Options{ConfigFile: conf, Socket: filepath.Join(dir, "govs.sock"), Workers: 2, ConnCapacity: 1 << 14, Logger: netsimtest.Logger(t)})
	must(err)
	startDaemon(t, hosts["lb"], d)
	netsimtest.Eventually(t, 5*time.Second, func() error {
		_, err := hosts["c1"].HTTPTally(context.Background(), target, 3)
		return err
	})

	// Keep-alive connections from c2, a request every 50ms each.
	type keeper struct {
		server        string
		requests      int
		err           error
		lastOK, ended time.Time
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	keepers := make([]*keeper, 12)
	for i := range keepers {
		k := &keeper{}
		keepers[i] = k
		c, err := hosts["c2"].DialContext(context.Background(), "tcp", target.String())
		must(err)
		t.Cleanup(func() { c.Close() })
		r := bufio.NewReader(c)
		ask := func() (string, error) {
			c.SetDeadline(time.Now().Add(3 * time.Second))
			if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: govs\r\n\r\n")); err != nil {
				return "", err
			}
			return readName(r)
		}
		k.server, err = ask()
		must(err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				name, err := ask()
				if err == nil && name != k.server {
					err = fmt.Errorf("answered by %s, not %s", name, k.server)
				}
				if err != nil {
					k.err, k.ended = err, time.Now()
					return
				}
				k.requests++
				k.lastOK = time.Now()
			}
		}()
	}

	// New connections from c1: 6 streams, each cycling through 40 local
	// ports of its own.
	var total, slow atomic.Int64
	var failMu sync.Mutex
	var failures []string
	used := make([]atomic.Int64, 6*40)
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				slot := g*40 + i%40
				start := time.Now()
				_, err := stormRequest(hosts["c1"], target, 42000+slot)
				if errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EADDRNOTAVAIL) {
					continue // the client's own socket is not gone yet
				}
				total.Add(1)
				used[slot].Add(1)
				if took := time.Since(start); took > 900*time.Millisecond {
					slow.Add(1)
				}
				if err != nil {
					failMu.Lock()
					failures = append(failures, fmt.Sprintf("port %d: %v", 42000+slot, err))
					failMu.Unlock()
				}
			}
		}()
	}

	// 20 reloads, 250ms apart; each removes r1 or r4 and adds the other.
	start := time.Now()
	removedAt := map[string][]time.Time{}
	for i := range 20 {
		time.Sleep(250 * time.Millisecond)
		next := (i + 1) % 2
		must(os.WriteFile(conf, []byte(sets[next]), 0o644))
		if err := d.Reload(); err != nil {
			t.Fatalf("reload %d: %v", i+1, err)
		}
		gone := "r1"
		if next == 0 {
			gone = "r4"
		}
		removedAt[gone] = append(removedAt[gone], time.Now())
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)

	n := total.Load()
	t.Logf("%d new connections in %v (%.0f/s), %d failed, %d answered only after a retransmission", n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), len(failures), slow.Load())
	st := d.engine.Stats()
	t.Logf("data plane: verdicts %v, expired for a removed real server %d, stateless %d", st.Verdicts, st.NoDestExpired, st.Stateless)
	if n < 1000 {
		t.Errorf("only %d new connections: the storm is too thin to tell", n)
	}
	for i := range used {
		if used[i].Load() < 3 {
			t.Errorf("local port %d was used %d times: the test wants ports reused", 42000+i, used[i].Load())
			break
		}
	}
	for i, f := range failures {
		if i == 10 {
			t.Errorf("... and %d more", len(failures)-10)
			break
		}
		t.Errorf("request failed: %s", f)
	}
	if slow.Load() > 0 {
		t.Errorf("%d requests were answered only after a retransmission: a packet was lost", slow.Load())
	}
	for i, k := range keepers {
		if k.err != nil {
			t.Errorf("keep-alive connection %d to %s broke after %d requests: %v", i, k.server, k.requests, k.err)
		}
		if k.requests < 50 {
			t.Errorf("keep-alive connection %d to %s made only %d requests", i, k.server, k.requests)
		}
	}
	if d.engine.Stats().Draining == 0 {
		t.Errorf("no real server is draining: the keep-alive connections of the one removed last should hold it")
	}
}
