package script

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/govs-lb/govs/config"
)

// DefaultUser runs scripts that name no user when there is no
// global script_user and the user exists, as in keepalived.
const DefaultUser = "keepalived_script"

// Prepare resolves who runs a script and checks the script as
// keepalived's check_script_secure does. It returns an error when
// keepalived would refuse the script (it then does not run: a MISC_CHECK
// is dropped, a notify script skipped), and a warning for an insecure
// script that runs because enable_script_security is off.
//
//   - The user is the script's own, else global_defs' script_user, else
//     keepalived_script if that user exists, else root (govs's own user);
//     with enable_script_security a missing keepalived_script is an error.
//     The group is the one given, else the user's.
//   - A bare name is looked up in PATH, as a file that user may execute.
//   - The path is resolved (symbolic links, "..") and the script run by
//     its resolved path, keeping the name it was given when that is a link
//     to the same file.
//   - A script run as root, or set-uid or set-gid root, must not be
//     writable by anyone but root: every directory from / down must be
//     owned by root and not writable by a non-root group or by others
//     (unless sticky, as /tmp), and so must the file.
func Prepare(cs *config.Script, g *config.Global) (*Command, string, error) {
	if cs == nil || len(cs.Args) == 0 {
		return nil, "", errors.New("empty command")
	}
	text := cs.String()
	uid, gid, err := scriptUser(cs, g)
	if err != nil {
		return nil, "", err
	}
	s := &Command{UID: uid, GID: gid, Text: text}
	s.Cred = uid != uint32(os.Getuid()) || gid != uint32(os.Getgid())
	if isRedirection(cs.Args[0]) {
		// A file test keepalived gives to the shell.
		s.Args = []string{"/bin/sh", "-c", cmdString(cs.Args)}
		return s, "", nil
	}

	args := append([]string(nil), cs.Args...)
	if !strings.Contains(args[0], "/") {
		p, err := lookPath(args[0], uid, gid)
		if err != nil {
			return nil, "", err
		}
		args[0] = p
	}
	abs, err := filepath.Abs(args[0])
	if err != nil {
		return nil, "", fmt.Errorf("script %s cannot be accessed: %w", args[0], err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, "", fmt.Errorf("script %s cannot be accessed: %w", args[0], err)
	}
	// keepalived runs the resolved path, but keeps the name a link gave
	// when the resolved directory holds that name for the same file.
	path, realFile := real, ""
	if filepath.Base(args[0]) != filepath.Base(real) {
		cand := filepath.Join(filepath.Dir(real), filepath.Base(args[0]))
		if sameFile(cand, real) {
			path, realFile = cand, real
		}
	}
	args[0] = path
	s.Args = args

	target := path
	if realFile != "" {
		target = realFile
	}
	fi, err := os.Stat(target)
	if err != nil {
		return nil, "", fmt.Errorf("script %s cannot be accessed: %w", path, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, "", fmt.Errorf("script %s: no file owner", path)
	}
	if !fi.Mode().IsRegular() || !executable(fi.Mode(), st, uid, gid) {
		return nil, "", fmt.Errorf("script %s is not executable for uid:gid %d:%d", path, uid, gid)
	}
	protect := uid == 0 || gid == 0 ||
		st.Uid == 0 && fi.Mode()&0o100 != 0 && fi.Mode()&fs.ModeSetuid != 0 ||
		st.Gid == 0 && fi.Mode()&0o010 != 0 && fi.Mode()&fs.ModeSetgid != 0
	if !protect {
		return s, "", nil
	}
	insecure := checkSecurity(path)
	if insecure == nil && realFile != "" {
		insecure = checkSecurity(realFile)
	}
	if insecure == nil {
		return s, "", nil
	}
	if g.ScriptSecurity {
		return nil, "", fmt.Errorf("script %s is insecure: %w", path, insecure)
	}
	return s, fmt.Sprintf("script %s is insecure (%v); it runs because enable_script_security is off", path, insecure), nil
}

// scriptUser returns the uid and gid that run a script.
func scriptUser(cs *config.Script, g *config.Global) (uid, gid uint32, err error) {
	name, group := cs.User, cs.Group
	if name == "" {
		name, group = g.ScriptUser, g.ScriptGroup
	}
	if name == "" {
		u, err := user.Lookup(DefaultUser)
		if err != nil {
			if g.ScriptSecurity {
				return 0, 0, fmt.Errorf("no script_user and no user %s to run scripts with enable_script_security", DefaultUser)
			}
			return uint32(os.Getuid()), uint32(os.Getgid()), nil
		}
		return ids(u.Uid, u.Gid)
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("script user: %w", err)
	}
	gidText := u.Gid
	if group != "" {
		gr, err := user.LookupGroup(group)
		if err != nil {
			return 0, 0, fmt.Errorf("script group: %w", err)
		}
		gidText = gr.Gid
	}
	return ids(u.Uid, gidText)
}

func ids(uidText, gidText string) (uint32, uint32, error) {
	u, err1 := strconv.ParseUint(uidText, 10, 32)
	g, err2 := strconv.ParseUint(gidText, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("script user ids: %w", err)
	}
	return uint32(u), uint32(g), nil
}

// lookPath finds a bare command name in PATH as keepalived's find_path:
// a regular file the user may execute.
func lookPath(name string, uid, gid uint32) (string, error) {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/bin:/usr/bin"
	}
	denied := false
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().IsRegular() && ok && executable(fi.Mode(), st, uid, gid) {
			return p, nil
		}
		denied = true
	}
	if denied {
		return "", fmt.Errorf("script %s: permission denied in PATH", name)
	}
	return "", fmt.Errorf("script %s not found in PATH", name)
}

// executable is keepalived's is_executable.
func executable(mode fs.FileMode, st *syscall.Stat_t, uid, gid uint32) bool {
	return uid == 0 && mode&0o111 != 0 ||
		uid == st.Uid && mode&0o100 != 0 ||
		uid != st.Uid && (gid == st.Gid && mode&0o010 != 0 || gid != st.Gid && mode&0o001 != 0)
}

// checkSecurity walks a path from / as keepalived's check_security and
// says which part a non-root user could change.
func checkSecurity(path string) error {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	cur := "/"
	for i := -1; i < len(parts); i++ {
		if i >= 0 {
			cur = filepath.Join(cur, parts[i])
		}
		last := i == len(parts)-1
		fi, err := os.Lstat(cur)
		if err != nil {
			return fmt.Errorf("%s: %w", cur, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no owner", cur)
		}
		mode := fi.Mode()
		if !last && !mode.IsDir() || last && !mode.IsRegular() && mode&fs.ModeSymlink == 0 {
			return fmt.Errorf("%s: wrong file type", cur)
		}
		writable := (mode.IsDir() && mode&fs.ModeSticky == 0 || mode.IsRegular()) &&
			(st.Gid != 0 && mode&0o020 != 0 || mode&0o002 != 0)
		if st.Uid != 0 || writable {
			return fmt.Errorf("%s is owned by uid %d with mode %s", cur, st.Uid, mode)
		}
	}
	return nil
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}
