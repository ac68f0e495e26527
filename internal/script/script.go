package script

import (
	"slices"
	"strings"
	"time"
)

// killGrace is how long a script has to exit after SIGTERM before its
// process group gets SIGKILL, as in keepalived's
// misc_check_child_thread.
const killGrace = 2 * time.Second

// Command is a command ready to run: a MISC_CHECK's misc_path, a notify
// script, a vrrp_script. It runs without a shell, in its own process
// group, with stdin, stdout and stderr on /dev/null.
type Command struct {
	// Args is the argument vector; Args[0] is the resolved path, as
	// keepalived rewrites it.
	Args []string
	// UID and GID run the command; Cred says they differ from govs's own
	// and must be set.
	UID, GID uint32
	Cred     bool
	// Text is the command as configured, for logs.
	Text string
}

// Equal reports whether two commands run the same thing as the same user.
func (s *Command) Equal(o *Command) bool {
	if s == nil || o == nil {
		return s == o
	}
	return slices.Equal(s.Args, o.Args) && s.UID == o.UID && s.GID == o.GID && s.Cred == o.Cred
}

// Result is how a command ended.
type Result struct {
	// Status is the exit status, -1 when a signal ended the command or it
	// did not start.
	Status int
	// Signal names the signal that ended it, if one did.
	Signal string
	// TimedOut says govs killed it for running too long.
	TimedOut bool
	// Err says why it could not start.
	Err error
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
