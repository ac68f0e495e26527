package netsim

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// Lab is one throwaway network: hosts and segments, each a network
// namespace, plus the servers, processes and files started in them. All of
// it goes away with Close. A Lab is safe for concurrent use.
type Lab struct {
	name  string // "gs" and 4 hex digits; prefixes every namespace
	owner owner
	dir   string
	log   *slog.Logger

	mu       sync.Mutex // guards the fields below
	closed   bool
	hosts    []*Host
	segments []*Segment
	closers  []closer // run last first by Close
	procs    []*Process
}

type closer struct {
	what string
	fn   func() error
}

// New sweeps away labs left behind by dead processes, then creates an empty
// lab with a fresh unique name. Only root can create labs.
func New(opts *Options) (*Lab, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("create lab: %w", os.ErrPermission)
	}
	log := opts.logger()
	base := opts.stateDir()
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("create lab: %w", err)
	}
	if err := Sweep(opts); err != nil {
		log.Warn("sweep stale labs", "err", err)
	}
	o, err := selfOwner()
	if err != nil {
		return nil, fmt.Errorf("create lab: %w", err)
	}
	for range 64 {
		var b [2]byte
		rand.Read(b[:])
		name := "gs" + hex.EncodeToString(b[:])
		dir := filepath.Join(base, name)
		if err := os.Mkdir(dir, 0o755); errors.Is(err, os.ErrExist) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("create lab: %w", err)
		}
		if err := writeOwner(dir, o); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("create lab %s: %w", name, err)
		}
		l := &Lab{name: name, owner: o, dir: dir, log: log.With("lab", name)}
		l.log.Debug("lab created", "dir", dir)
		return l, nil
	}
	return nil, errors.New("create lab: no free name")
}

// Name returns the lab's unique name, "gs" and four hex digits. Every
// namespace of the lab starts with it.
func (l *Lab) Name() string { return l.name }

// Dir returns the lab's directory, for configuration files, logs and
// captures. Close removes it.
func (l *Lab) Dir() string { return l.dir }

// Logger returns the lab's logger.
func (l *Lab) Logger() *slog.Logger { return l.log }

// Host returns the host with that name, or nil.
func (l *Lab) Host(name string) *Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range l.hosts {
		if h.name == name {
			return h
		}
	}
	return nil
}

// Segment returns the segment with that name, or nil.
func (l *Lab) Segment(name string) *Segment {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.segments {
		if s.name == name {
			return s
		}
	}
	return nil
}

// Hosts returns the lab's hosts in the order they were added.
func (l *Lab) Hosts() []*Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.hosts)
}

// Segments returns the lab's segments in the order they were added.
func (l *Lab) Segments() []*Segment {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.segments)
}

// onClose registers fn to run at Close, before processes are stopped and
// namespaces removed. It reports ErrClosed, without running fn, when the
// lab is closed already; callers then clean up themselves.
func (l *Lab) onClose(what string, fn func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.closers = append(l.closers, closer{what: what, fn: fn})
	return nil
}

// Close stops everything the lab started and removes every namespace, link
// and file it created. It is safe to call more than once; calls after the
// first return nil.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	closers, procs, hosts, segments := l.closers, l.procs, l.hosts, l.segments
	l.mu.Unlock()

	var errs []error
	for _, c := range slices.Backward(closers) {
		if err := c.fn(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", c.what, err))
		}
	}
	// Processes stop in parallel: each may take its grace period.
	stopErrs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() { stopErrs[i] = p.Stop() })
	}
	wg.Wait()
	errs = append(errs, stopErrs...)
	for _, h := range hosts {
		errs = append(errs, h.remove())
	}
	for _, s := range segments {
		errs = append(errs, s.remove())
	}
	if err := os.RemoveAll(l.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove lab directory: %w", err))
	}
	err := errors.Join(errs...)
	l.log.Debug("lab closed", "err", err)
	if err != nil {
		return fmt.Errorf("close lab %s: %w", l.name, err)
	}
	return nil
}

// removeNamespace kills what still runs in ns, then removes it.
func (l *Lab) removeNamespace(ns *netNS) error {
	ino, err := ns.inode()
	if err == nil {
		var n int
		n, err = killNamespace(ino)
		if n > 0 {
			l.log.Debug("killed leftover processes", "namespace", ns.name, "count", n)
		}
	}
	return errors.Join(err, ns.close())
}
