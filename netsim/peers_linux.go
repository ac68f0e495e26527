package netsim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// peerReadyTimeout bounds how long a peer program may take to be ready.
const peerReadyTimeout = 5 * time.Second

// lookPeer finds an optional peer program; ErrNotInstalled if absent.
func lookPeer(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, ErrNotInstalled)
	}
	return path, nil
}

// peerDir creates a directory in the lab's directory for one peer program.
func (h *Host) peerDir(program string) (string, error) {
	dir, err := os.MkdirTemp(h.lab.dir, h.name+"."+program+".")
	if err != nil {
		return "", fmt.Errorf("host %s: %w", h.name, err)
	}
	return dir, nil
}

// waitFor polls ready every 10ms until it returns nil, the process exits,
// or peerReadyTimeout passes.
func waitFor(p *Process, what string, ready func() error) error {
	deadline := time.Now().Add(peerReadyTimeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("%s exited before %s: %v\n%s", p.cmd.Path, what, p.Wait(), p.Log())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not %s after %v: %w\n%s", p.cmd.Path, what, peerReadyTimeout, err, p.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Capture is a tcpdump process writing a pcap file.
type Capture struct {
	*Process
	// Path is the pcap file, in the lab's directory.
	Path string
}

// StartTcpdump captures on an interface of the host (or "any") into a pcap
// file in the lab's directory, with an optional filter expression, and
// returns once tcpdump listens. Stop the capture to flush and read it.
// ErrNotInstalled when tcpdump is not installed.
func (h *Host) StartTcpdump(ifname string, filter ...string) (*Capture, error) {
	path, err := lookPeer("tcpdump")
	if err != nil {
		return nil, err
	}
	dir, err := h.peerDir("tcpdump")
	if err != nil {
		return nil, err
	}
	pcap := filepath.Join(dir, ifname+".pcap")
	// -Z root: tcpdump would drop to its own user and could not write to
	// the lab's directory. -U: write each packet at once.
	// --immediate-mode: libpcap otherwise reads TPACKET_V3 blocks as they
	// retire (up to a second), and a Stop loses what the last block held.
	args := append([]string{"-Z", "root", "-U", "--immediate-mode", "-n", "-i", ifname, "-w", pcap}, filter...)
	p, err := h.Start(path, args...)
	if err != nil {
		return nil, err
	}
	err = waitFor(p, "listening", func() error {
		if !strings.Contains(p.Log(), "listening on") {
			return errors.New("no \"listening on\" line yet")
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("host %s: %w", h.name, err), p.Stop())
	}
	return &Capture{Process: p, Path: pcap}, nil
}

// StartNginx runs nginx in the host, a single process in the foreground,
// answering "host=NAME\n" on every listen address (nginx's listen syntax:
// "80", "198.19.0.1:80", "[2001:db8:ffff::1]:80") as HTTPServer does, with
// its configuration, logs and temporary files in the lab's directory. It
// returns once the first address accepts connections. ErrNotInstalled when
// nginx is not installed.
func (h *Host) StartNginx(listen ...string) (*Process, error) {
	path, err := lookPeer("nginx")
	if err != nil {
		return nil, err
	}
	if len(listen) == 0 {
		return nil, fmt.Errorf("host %s: nginx: no listen address", h.name)
	}
	dir, err := h.peerDir("nginx")
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "daemon off;\nmaster_process off;\npid %s/nginx.pid;\nerror_log stderr notice;\n", dir)
	fmt.Fprintf(&b, "events { worker_connections 256; }\nhttp {\n  access_log off;\n")
	for _, t := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "  %s_temp_path %s/%s;\n", t, dir, t)
	}
	fmt.Fprintf(&b, "  server {\n")
	for _, l := range listen {
		fmt.Fprintf(&b, "    listen %s;\n", l)
	}
	fmt.Fprintf(&b, "    location / { default_type text/plain; return 200 \"host=%s\\n\"; }\n  }\n}\n", h.name)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		return nil, fmt.Errorf("host %s: nginx: %w", h.name, err)
	}
	// -e: the compiled-in error log is opened before the configuration
	// is read.
	p, err := h.Start(path, "-p", dir, "-c", conf, "-e", "stderr")
	if err != nil {
		return nil, err
	}
	addr := listen[0]
	if port, ok := strings.CutPrefix(addr, "*:"); ok {
		addr = port
	}
	if !strings.Contains(addr, ":") {
		addr = "127.0.0.1:" + addr // a bare port listens on all addresses
	}
	err = waitFor(p, "accepting connections", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		c, err := h.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("host %s: %w", h.name, err), p.Stop())
	}
	return p, nil
}

// StartKeepalived runs keepalived in the host with the configuration text
// config, in the foreground and logging to the process's log file, with its
// configuration and PID files in the lab's directory; args are added to
// the command line (for example "--vrrp"). It returns once keepalived has
// started; whether it reached a state is for the caller to poll (the VIP
// on an interface, VRRP adverts in a capture). ErrNotInstalled when
// keepalived is not installed.
func (h *Host) StartKeepalived(config string, args ...string) (*Process, error) {
	path, err := lookPeer("keepalived")
	if err != nil {
		return nil, err
	}
	dir, err := h.peerDir("keepalived")
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		return nil, fmt.Errorf("host %s: keepalived: %w", h.name, err)
	}
	cmdline := []string{
		"--dont-fork", "--log-console", "--log-detail", "--no-syslog",
		"--use-file", conf,
		"--pid", filepath.Join(dir, "keepalived.pid"),
		"--vrrp_pid", filepath.Join(dir, "vrrp.pid"),
		"--checkers_pid", filepath.Join(dir, "checkers.pid"),
		"--bfd_pid", filepath.Join(dir, "bfd.pid"),
	}
	p, err := h.Start(path, append(cmdline, args...)...)
	if err != nil {
		return nil, err
	}
	err = waitFor(p, "started", func() error {
		if _, err := os.Stat(filepath.Join(dir, "keepalived.pid")); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("host %s: %w", h.name, err), p.Stop())
	}
	return p, nil
}
