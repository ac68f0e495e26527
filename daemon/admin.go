package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/govs-lb/govs/forward"
)

// The admin protocol: one JSON request a connection, one JSON reply.
type request struct {
	Command string `json:"command"` // "stats", "status" or "reload"
}

// Reply is the admin socket's answer.
type Reply struct {
	Error   string         `json:"error,omitempty"`
	Status  *Status        `json:"status,omitempty"`
	Stats   *forward.Stats `json:"stats,omitempty"`
	Rates   *Rates         `json:"rates,omitempty"`
	Message string         `json:"message,omitempty"`
}

type adminServer struct {
	l    net.Listener
	wg   sync.WaitGroup
	path string
}

// listen opens the admin socket; only root may use it.
func (d *Daemon) listen() (*adminServer, error) {
	path := d.opts.Socket
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	// A socket left by a killed daemon: remove it if nothing answers.
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s: another govs is running", path)
	}
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	s := &adminServer{l: l, path: path}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				d.serve(c)
			}()
		}
	}()
	return s, nil
}

func (s *adminServer) close() {
	s.l.Close()
	s.wg.Wait()
	os.Remove(s.path)
}

func (d *Daemon) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var req request
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&req); err != nil {
		json.NewEncoder(c).Encode(Reply{Error: "bad request: " + err.Error()})
		return
	}
	json.NewEncoder(c).Encode(d.answer(req))
}

func (d *Daemon) answer(req request) Reply {
	switch req.Command {
	case "stats":
		d.mu.Lock()
		var st forward.Stats
		if d.engine != nil {
			st = d.engine.Stats()
		}
		r := d.rates.snapshot()
		d.mu.Unlock()
		return Reply{Stats: &st, Rates: &r}
	case "status":
		d.mu.Lock()
		defer d.mu.Unlock()
		return Reply{Status: d.statusLocked()}
	case "reload":
		if err := d.Reload(); err != nil {
			return Reply{Error: err.Error()}
		}
		return Reply{Message: "reloaded"}
	}
	return Reply{Error: fmt.Sprintf("unknown command %q", req.Command)}
}

// Ask sends a command to the daemon listening on socket.
func Ask(ctx context.Context, socket, command string) (*Reply, error) {
	if socket == "" {
		socket = DefaultSocket
	}
	var dl net.Dialer
	c, err := dl.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, fmt.Errorf("is govs running? %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if err := json.NewEncoder(c).Encode(request{Command: command}); err != nil {
		return nil, err
	}
	var r Reply
	if err := json.NewDecoder(c).Decode(&r); err != nil {
		return nil, fmt.Errorf("reading the daemon's reply: %w", err)
	}
	if r.Error != "" {
		return &r, errors.New(r.Error)
	}
	return &r, nil
}
