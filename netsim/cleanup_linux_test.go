package netsim_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/netsimtest"
	"github.com/govs-lb/govs/netsim"
	"golang.org/x/sys/unix"
)

// footprint is what a lab leaves on the machine, found by its name.
type footprint struct {
	namespaces []string // in /run/netns
	rootLinks  []string // interfaces of the root namespace
	users      []int    // PIDs of processes (other than zombies) in the lab's namespaces
	threads    []string // threads of this process in the lab's namespaces
	dirs       []string // lab directories
}

func (f footprint) empty() bool {
	return len(f.namespaces)+len(f.rootLinks)+len(f.users)+len(f.threads)+len(f.dirs) == 0
}

// footprintOf looks for what lab name left behind; inodes are those of the
// lab's namespaces, recorded while they existed.
func footprintOf(t *testing.T, name string, inodes map[string]bool) footprint {
	t.Helper()
	var f footprint
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), name) {
			f.namespaces = append(f.namespaces, e.Name())
		}
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err == nil && strings.Contains(string(out), name) {
		f.namespaces = append(f.namespaces, "ip netns list: "+string(out))
	}
	ifs, err := net.Interfaces()
	must(t, err)
	for _, i := range ifs {
		if strings.Contains(i.Name, name) {
			f.rootLinks = append(f.rootLinks, i.Name)
		}
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		link, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if inodes[link] && !zombie(pid) && pid != os.Getpid() {
			f.users = append(f.users, pid)
		}
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		link, _ := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net")
		if inodes[link] {
			f.threads = append(f.threads, task.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(netsim.DefaultStateDir, name)); err == nil {
		f.dirs = append(f.dirs, filepath.Join(netsim.DefaultStateDir, name))
	}
	return f
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // gone
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && len(b) > i+2 && b[i+2] == 'Z'
}

// alive reports whether pid runs (and is not a zombie).
func alive(pid int) bool {
	return unix.Kill(pid, 0) == nil && !zombie(pid)
}

// busyLab fills a lab with one of everything it can own, including a
// process that left its process group and session.
func busyLab(t *testing.T, lab *netsim.Lab) (inodes map[string]bool, pids []int) {
	t.Helper()
	lan, err := lab.AddSegment("lan")
	must(t, err)
	wan, err := lab.AddSegment("wan")
	must(t, err)
	inodes = make(map[string]bool)
	var hosts []*netsim.Host
	for _, name := range []string{"c1", "lb", "r1"} {
		h, err := lab.AddHost(name)
		must(t, err)
		_, err = h.Join(lan)
		must(t, err)
		hosts = append(hosts, h)
		var st unix.Stat_t
		must(t, unix.Stat(h.NamespacePath(), &st))
		inodes[fmt.Sprintf("net:[%d]", st.Ino)] = true
	}
	c1, lb, r1 := hosts[0], hosts[1], hosts[2]
	_, err = c1.Join(wan)
	must(t, err)
	vip := netsim.VIP4(1)
	_, err = r1.TUNRealServer(vip)
	must(t, err)
	_, err = r1.StartHTTPServer(":80")
	must(t, err)
	_, err = r1.StartTCPEcho(":7")
	must(t, err)
	_, err = r1.StartUDPEcho(netip.AddrPortFrom(vip, 7))
	must(t, err)
	_, err = lb.StartIPIPRelay(netsim.IPIPRelayConfig{Link: lb.Link("lan"), VIP: vip, Port: 80, Targets: []netsim.Hop{r1.Link("lan").Hop()}})
	must(t, err)
	p, err := c1.Start("sleep", "60")
	must(t, err)
	pids = append(pids, p.Pid())
	// A daemon that escaped: new session, parent gone.
	out, err := c1.Run(context.Background(), "sh", "-c", "setsid sleep 61 </dev/null >/dev/null 2>&1 & echo $!")
	must(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	must(t, err)
	pids = append(pids, pid)
	must(t, os.WriteFile(filepath.Join(lab.Dir(), "stray"), []byte("x"), 0o644))
	return inodes, pids
}

func TestCloseLeavesNothing(t *testing.T) {
	netsimtest.RequireRoot(t)
	netsimtest.RequireProgram(t, "ip")
	lab, err := netsim.New(&netsim.Options{Logger: netsimtest.Logger(t)})
	must(t, err)
	t.Cleanup(func() { lab.Close() }) // in case the test fails early
	inodes, pids := busyLab(t, lab)
	if f := footprintOf(t, lab.Name(), inodes); len(f.namespaces) < 5 || len(f.users) != 2 {
		t.Fatalf("before Close: %+v, want 5 namespaces (and the line of ip netns list) and 2 processes", f)
	}

	must(t, lab.Close())
	netsimtest.Eventually(t, 2*time.Second, func() error {
		if f := footprintOf(t, lab.Name(), inodes); !f.empty() {
			return fmt.Errorf("after Close: %+v", f)
		}
		return nil
	})
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d still runs", pid)
		}
	}
	if err := lab.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := lab.AddHost("late"); !errors.Is(err, netsim.ErrClosed) {
		t.Errorf("AddHost after Close: %v, want ErrClosed", err)
	}
}

// staleHelperEnv makes TestStaleLabIsSwept, run as a child, build a lab,
// report it and wait to be killed.
const staleHelperEnv = "NETSIM_STALE_HELPER"

func TestStaleLabIsSwept(t *testing.T) {
	if os.Getenv(staleHelperEnv) == "1" {
		lab, err := netsim.New(nil)
		must(t, err)
		inodes, pids := busyLab(t, lab)
		var ino []string
		for k := range inodes {
			ino = append(ino, k)
		}
		fmt.Printf("lab %s %s %s\n", lab.Name(), strings.Join(ino, ","), strings.Trim(fmt.Sprint(pids), "[]"))
		time.Sleep(time.Minute) // killed long before
		return
	}
	netsimtest.RequireRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestStaleLabIsSwept$", "-test.count=1")
	cmd.Env = append(os.Environ(), staleHelperEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = os.Stderr
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	fields := strings.Fields(line)
	if len(fields) < 3 || fields[0] != "lab" {
		t.Fatalf("helper said %q", line)
	}
	name := fields[1]
	inodes := make(map[string]bool)
	for _, ino := range strings.Split(fields[2], ",") {
		inodes[ino] = true
	}
	var pids []int
	for _, s := range fields[3:] {
		pid, _ := strconv.Atoi(s)
		pids = append(pids, pid)
	}

	// The owner dies without closing its lab.
	must(t, cmd.Process.Kill())
	cmd.Wait()
	// Another test process creating a lab may sweep first; then there is
	// less left, and the checks below hold all the same.
	if f := footprintOf(t, name, inodes); len(f.namespaces) == 0 || len(f.dirs) == 0 {
		t.Logf("killed owner left only %+v", f)
	}

	must(t, netsim.Sweep(&netsim.Options{Logger: netsimtest.Logger(t)}))
	netsimtest.Eventually(t, 2*time.Second, func() error {
		if f := footprintOf(t, name, inodes); !f.empty() {
			return fmt.Errorf("after Sweep: %+v", f)
		}
		return nil
	})
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d still runs", pid)
		}
	}
}
