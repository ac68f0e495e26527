// Command govs is a userspace IP virtual server: it runs keepalived.conf's
// virtual servers and VRRP instances without the kernel's IPVS.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/govs-lb/govs/config"
	"github.com/govs-lb/govs/internal/version"
)

const defaultConfig = "/etc/keepalived/keepalived.conf"

// Exit codes, as keepalived -t and most linters: 0 clean, 1 findings that
// stop the configuration, 2 usage errors and unreadable files.
const (
	exitOK       = 0
	exitFindings = 1
	exitUsage    = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: govs <command> [flags]

commands:
  run      forward the virtual servers and run the VRRP instances of a configuration
  check    check a keepalived.conf and print what is wrong in it (like keepalived -t)
  list     list virtual services and real servers of a running govs (like ipvsadm -Ln)
  status   show the state of a running govs
  reload   make a running govs read its configuration again
  version  print the version

Run "govs <command> -h" for a command's flags.
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "check":
		return check(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		return printVersion(args[1:], stdout, stderr)
	case "run":
		return runDaemon(args[1:], stderr)
	case "list":
		return list(args[1:], stdout, stderr)
	case "status":
		return status(args[1:], stdout, stderr)
	case "reload":
		return reload(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "govs: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

// printVersion is "govs version [--json]": the module version and the
// commit the binary was built from.
func printVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("govs version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the build information as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	v := version.Get()
	if *asJSON {
		if err := writeJSON(stdout, v); err != nil {
			return exitFindings
		}
		return exitOK
	}
	fmt.Fprintln(stdout, "govs", v)
	return exitOK
}

func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("govs check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", defaultConfig, "configuration `file` to check")
	verbose := fs.Bool("v", false, "also print the effective configuration as tables")
	strict := fs.Bool("strict", false, "count warnings as errors")
	configID := fs.String("i", "", "config `id` for @id conditional lines (default: the host name up to its first dot)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: govs check [-f FILE] [-v] [--strict] [-i ID]\n\n"+
			"Prints each finding as FILE:LINE:COL: error|warning: message, then a summary.\n"+
			"Exit status: 0 no error, 1 errors (or warnings with --strict), 2 unreadable file.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "govs check: unexpected argument %q (use -f FILE)\n", fs.Arg(0))
		return exitUsage
	}
	cfg, diags, err := config.Load(*file, &config.Options{ConfigID: *configID})
	if err != nil {
		fmt.Fprintf(stderr, "govs check: %v\n", err)
		return exitUsage
	}
	for _, d := range diags {
		fmt.Fprintln(stdout, d)
	}
	nerr, nwarn := diags.Count(config.Error), diags.Count(config.Warning)
	failed := nerr > 0 || *strict && nwarn > 0
	if *verbose && cfg != nil {
		if len(diags) > 0 {
			fmt.Fprintln(stdout)
		}
		cfg.WriteTable(stdout)
		fmt.Fprintln(stdout)
	}
	verdict := "OK"
	if failed {
		verdict = "FAILED"
	}
	fmt.Fprintf(stdout, "%s: %s: %d error%s, %d warning%s; %d VRRP instance%s, %d virtual server%s, %d real server%s\n",
		*file, verdict, nerr, plural(nerr), nwarn, plural(nwarn),
		len(cfg.Instances), plural(len(cfg.Instances)), len(cfg.VirtualServers), plural(len(cfg.VirtualServers)),
		countRS(cfg), plural(countRS(cfg)))
	if failed {
		return exitFindings
	}
	return exitOK
}

func countRS(cfg *config.Config) int {
	n := 0
	for _, vs := range cfg.VirtualServers {
		n += len(vs.RealServers)
	}
	return n
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
