package netsim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// ownerlessGrace is how old a lab directory without an owner record must
// be before Sweep takes it for debris rather than a lab being created.
const ownerlessGrace = time.Minute

// Sweep removes what labs of dead processes left behind: it kills the
// processes still running in their namespaces, removes the namespaces (and
// with them every link) and the labs' directories. A lab is stale when the
// process recorded as its owner, in its directory and in its namespaces'
// names, no longer runs. Labs of live processes are never touched. New
// calls Sweep; programs may call it on their own.
func Sweep(opts *Options) error {
	log := opts.logger()
	base := opts.stateDir()
	var errs []error

	// Labs known from their directories.
	stale, live := map[string]bool{}, map[string]bool{}
	dirs, err := os.ReadDir(base)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, d := range dirs {
		name := d.Name()
		if !d.IsDir() || !labNameRE.MatchString(name) {
			continue
		}
		o, err := readOwner(filepath.Join(base, name))
		switch {
		case err == nil && o.alive():
			live[name] = true
		case err == nil:
			stale[name] = true
		case errors.Is(err, os.ErrNotExist):
			if info, err := d.Info(); err == nil && time.Since(info.ModTime()) > ownerlessGrace {
				stale[name] = true
			} else {
				live[name] = true
			}
		default:
			errs = append(errs, err)
		}
	}

	// Namespaces, which carry the owner's PID in their names.
	nss, err := os.ReadDir(netnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, e := range nss {
		m := namespaceRE.FindStringSubmatch(e.Name())
		if m == nil || live[m[1]] {
			continue
		}
		pid, _ := strconv.Atoi(m[2])
		if !stale[m[1]] && (owner{pid: pid}).alive() {
			continue
		}
		path := filepath.Join(netnsDir, e.Name())
		n, err := sweepNamespace(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("removed stale namespace", "namespace", e.Name(), "killed", n)
	}

	for name := range stale {
		if err := os.RemoveAll(filepath.Join(base, name)); err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("removed stale lab directory", "lab", name)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sweep stale labs: %w", err)
	}
	return nil
}

// sweepNamespace kills the processes in a pinned namespace and removes it.
func sweepNamespace(path string) (int, error) {
	n := 0
	// Only a live pin is a namespace: a pin whose mount is gone is an empty
	// file on /run, and its inode number could be any namespace's.
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); errors.Is(err, unix.ENOENT) {
		return 0, nil // another sweeper was faster
	} else if err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	if fs.Type == unix.NSFS_MAGIC {
		var st unix.Stat_t
		if err := unix.Stat(path, &st); errors.Is(err, unix.ENOENT) {
			return 0, nil
		} else if err != nil {
			return 0, fmt.Errorf("stat %s: %w", path, err)
		}
		var err error
		if n, err = killNamespace(st.Ino); err != nil {
			return n, err
		}
	}
	return n, removeNetNS(path)
}
