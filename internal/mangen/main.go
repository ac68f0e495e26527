// Command mangen writes govs(8), the man page, from a govs binary's own
// help: the commands of "govs help" and each command's flags of "govs
// COMMAND -h", so that the page says what the binary does. make install
// runs it:
//
//	go run ./internal/mangen -govs bin/govs > govs.8
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

func main() {
	govs := flag.String("govs", "bin/govs", "the govs binary to describe")
	date := flag.String("date", pageDate(os.Getenv("SOURCE_DATE_EPOCH"), time.Now()), "the page's date (default: $SOURCE_DATE_EPOCH, else today)")
	flag.Parse()
	page, err := generate(*govs, *date)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mangen:", err)
		os.Exit(1)
	}
	if _, err := os.Stdout.Write(page); err != nil {
		fmt.Fprintln(os.Stderr, "mangen:", err)
		os.Exit(1)
	}
}

// pageDate is the date of $SOURCE_DATE_EPOCH (seconds), for a
// reproducible page, else of now.
func pageDate(epoch string, now time.Time) string {
	if sec, err := strconv.ParseInt(epoch, 10, 64); err == nil {
		now = time.Unix(sec, 0)
	}
	return now.UTC().Format("2006-01-02")
}

// command is a subcommand with its summary and flags.
type command struct {
	name, summary string
	flags         []flagDoc
}

// flagDoc is one flag as Go's flag package prints it.
type flagDoc struct {
	name, arg, help string
}

// generate runs govs for its help and returns the roff page.
func generate(govs, date string) ([]byte, error) {
	help, err := output(govs, "help")
	if err != nil {
		return nil, err
	}
	cmds := parseCommands(help)
	if len(cmds) == 0 {
		return nil, fmt.Errorf("%s help lists no command", govs)
	}
	for i := range cmds {
		out, err := output(govs, cmds[i].name, "-h")
		if err != nil {
			return nil, err
		}
		cmds[i].flags = parseFlags(out)
	}
	var b bytes.Buffer
	write(&b, cmds, date)
	return b.Bytes(), nil
}

// output runs govs with args and returns what it printed; -h prints to
// stderr and exits 0.
func output(govs string, args ...string) (string, error) {
	cmd := exec.Command(govs, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", govs, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// parseCommands reads the "commands:" block of govs help: NAME SUMMARY.
func parseCommands(help string) []command {
	var cmds []command
	in := false
	sc := bufio.NewScanner(strings.NewReader(help))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "commands:":
			in = true
		case in && strings.HasPrefix(line, "  "):
			name, summary, _ := strings.Cut(strings.TrimSpace(line), " ")
			cmds = append(cmds, command{name: name, summary: strings.TrimSpace(summary)})
		case in && strings.TrimSpace(line) == "" && len(cmds) > 0:
			in = false
		}
	}
	return cmds
}

// parseFlags reads Go's flag usage: "  -name arg" lines, each followed by
// tab-indented help lines (or help after a tab on the same line, for a
// boolean flag with a one-letter name).
func parseFlags(usage string) []flagDoc {
	var flags []flagDoc
	sc := bufio.NewScanner(strings.NewReader(usage))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "  -"):
			head, inline, _ := strings.Cut(strings.TrimPrefix(line, "  -"), "\t")
			name, arg, _ := strings.Cut(head, " ")
			flags = append(flags, flagDoc{name: name, arg: strings.TrimSpace(arg), help: strings.TrimSpace(inline)})
		case strings.HasPrefix(line, "    \t") && len(flags) > 0:
			f := &flags[len(flags)-1]
			f.help = strings.TrimSpace(f.help + " " + strings.TrimSpace(line))
		}
	}
	return flags
}

// esc escapes text for roff.
func esc(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// write writes the roff page: NAME, SYNOPSIS, DESCRIPTION, COMMANDS with
// each command's options, SIGNALS, FILES, EXIT STATUS and SEE ALSO.
func write(w io.Writer, cmds []command, date string) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p(`.TH GOVS 8 "%s" "govs" "System Administration"`, date)
	p(".SH NAME")
	p(`govs \- a userspace IP virtual server: keepalived.conf's virtual servers and VRRP without IPVS`)
	p(".SH SYNOPSIS")
	p(`.B govs`)
	p(`.I command`)
	p(`.RI [ flags ]`)
	p(".SH DESCRIPTION")
	p("%s", esc("govs reads the keepalived.conf an operator runs with keepalived and Linux IPVS, holds its virtual addresses with VRRP, health-checks its real servers, and forwards each packet of a virtual service to a real server by direct routing (DR) or IPIP tunnelling (TUN), from AF_PACKET rings served by one worker per CPU. Real servers answer clients directly. It needs no ip_vs module."))
	p(".SH COMMANDS")
	for _, c := range cmds {
		p(".SS %s", esc("govs "+c.name))
		p("%s", esc(c.summary)+".")
		if len(c.flags) == 0 {
			continue
		}
		p(".PP")
		p("Options:")
		for _, f := range c.flags {
			p(".TP")
			if f.arg != "" {
				p(`.BI \-%s " %s"`, esc(f.name), esc(f.arg))
			} else {
				p(`.B \-%s`, esc(f.name))
			}
			p("%s", esc(f.help))
		}
	}
	p(".SH SIGNALS")
	p(".TP\n.B SIGHUP\n%s", esc("govs run reads its configuration again, as govs reload does; a configuration with errors is refused and the old one stays."))
	p(".TP\n.B SIGTERM, SIGINT\n%s", esc("govs run stops: VRRP masters hand over with a priority 0 advert, the virtual addresses and every nftables rule go."))
	p(".SH FILES")
	p(".TP\n.I /etc/keepalived/keepalived.conf\n%s", esc("the configuration, as keepalived's (govs run -f, govs check -f)."))
	p(".TP\n.I /run/govs/govs.sock\n%s", esc("the admin socket of govs run, for govs list, status and reload (root only)."))
	p(".SH EXIT STATUS")
	p(".TP\n.B 0\nSuccess: no error in the configuration.")
	p(".TP\n.B 1\n%s", esc("Findings that stop the configuration (errors, or warnings with --strict), or the running govs could not be reached."))
	p(".TP\n.B 2\n%s", esc("Usage errors and unreadable files."))
	p(".SH SEE ALSO")
	p(`.BR keepalived (8),`)
	p(`.BR keepalived.conf (5),`)
	p(`.BR ipvsadm (8),`)
	p(`.BR systemd.service (5)`)
}
