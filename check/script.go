package check

import (
	"slices"
	"strings"
	"time"
)

// killGrace is how long a script has to exit after SIGTERM before its
// process group gets SIGKILL, as in keepalived's
// misc_check_child_thread.
const killGrace = 2 * time.Second

// script is a command ready to run: a MISC_CHECK's misc_path, a notify
// script. It runs without a shell, in its own process group, with stdin,
// stdout and stderr on /dev/null.
type script struct {
	// args is the argument vector; args[0] is the resolved path, as
	// keepalived rewrites it.
	args []string
	// uid and gid run the script; cred says they differ from govs's own
	// and must be set.
	uid, gid uint32
	cred     bool
	// text is the command as configured, for logs.
	text string
}

func (s *script) equal(o *script) bool {
	if s == nil || o == nil {
		return s == o
	}
	return slices.Equal(s.args, o.args) && s.uid == o.uid && s.gid == o.gid && s.cred == o.cred
}

// scriptResult is how a script ended.
type scriptResult struct {
	// status is the exit status, -1 when a signal ended the script or it
	// did not start.
	status int
	// signal names the signal that ended it, if one did.
	signal string
	// timedOut says govs killed it for running too long.
	timedOut bool
	// err says why it could not start.
	err error
}

// cmdString quotes a command as keepalived's cmd_str does for system():
// every word in single quotes, but a first word that is a redirection.
func cmdString(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if i == 0 && (strings.HasPrefix(a, "<") || strings.HasPrefix(a, ">")) {
			b.WriteString(a)
			continue
		}
		b.WriteByte('\'')
		b.WriteString(a)
		b.WriteByte('\'')
	}
	return b.String()
}

// isRedirection reports a command keepalived hands to the shell as a file
// test: "</path" (white space allowed after the <).
func isRedirection(arg0 string) bool {
	if !strings.HasPrefix(arg0, "<") {
		return false
	}
	return strings.HasPrefix(strings.TrimLeft(arg0[1:], " \t"), "/")
}
