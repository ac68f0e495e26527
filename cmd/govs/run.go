package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/govs-lb/govs/daemon"
)

// runDaemon is "govs run": it forwards the configuration's virtual servers
// until SIGTERM or SIGINT; SIGHUP reloads the configuration.
func runDaemon(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("govs run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", defaultConfig, "configuration `file`")
	configID := fs.String("i", "", "config `id` for @id conditional lines")
	iface := fs.String("interface", "", "`interface` to capture and send on (default: the one holding the virtual addresses' subnet)")
	workers := fs.Int("workers", 0, "data plane workers (default: one per CPU)")
	conns := fs.Int("conn-capacity", 0, "connection table entries per worker (default 1048576)")
	socket := fs.String("socket", daemon.DefaultSocket, "admin socket `path`")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	metrics := fs.String("metrics", "", "serve Prometheus metrics at http://`ADDR`/metrics (host:port, e.g. 127.0.0.1:9110; default off)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "govs run: %v\n", err)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	notify := newNotifier()
	d, err := daemon.New(daemon.Options{
		ConfigFile: *file, ConfigID: *configID, Interface: *iface, Workers: *workers,
		ConnCapacity: *conns, Socket: *socket, Logger: log, MetricsAddr: *metrics,
		Ready: func() {
			if err := notify.ready(); err != nil {
				log.Warn("telling systemd govs is ready", "err", err)
			}
		},
	})
	var cerr *daemon.ConfigError
	switch {
	case errors.As(err, &cerr):
		for _, d := range cerr.Diags {
			fmt.Fprintln(stderr, d)
		}
		fmt.Fprintf(stderr, "govs run: %s has errors; not starting (see govs check)\n", *file)
		return exitFindings
	case err != nil:
		fmt.Fprintf(stderr, "govs run: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				notify.reloading()
				d.Reload()
				notify.ready()
			case <-ctx.Done():
				notify.stopping()
				return
			}
		}
	}()
	if err := d.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "govs run: %v\n", err)
		return exitFindings
	}
	return exitOK
}

// adminOpts are the flags of the commands that talk to a running govs.
type adminOpts struct {
	socket            string
	stats, rate, json bool
}

// adminFlags parses the flags of command name; its int is the exit
// status to return when it is not ok (0 for -h).
func adminFlags(name string, args []string, stderr io.Writer) (*adminOpts, int, bool) {
	o := &adminOpts{}
	fs := flag.NewFlagSet("govs "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.socket, "socket", daemon.DefaultSocket, "admin socket `path` of the running govs")
	switch name {
	case "list":
		fs.BoolVar(&o.stats, "stats", false, "connections, packets and bytes (as ipvsadm --stats)")
		fs.BoolVar(&o.rate, "rate", false, "rates over the last 2 seconds (as ipvsadm --rate)")
		fs.Bool("n", true, "numeric output (always; accepted for ipvsadm habits)")
		fs.BoolVar(&o.json, "json", false, "print the list as a JSON document, with stats and rates (format 1: see README)")
	case "status":
		fs.BoolVar(&o.json, "json", false, "print the status as a JSON document (format 1: see README)")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, exitOK, false
		}
		return nil, exitUsage, false
	}
	return o, 0, true
}

// writeJSON prints v indented, as the --json flags do.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func ask(socket, command string) (*daemon.Reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return daemon.Ask(ctx, socket, command)
}

// list is "govs list": ipvsadm -Ln [--stats|--rate] for govs.
func list(args []string, stdout, stderr io.Writer) int {
	o, code, ok := adminFlags("list", args, stderr)
	if !ok {
		return code
	}
	r, err := ask(o.socket, "stats")
	if err != nil {
		fmt.Fprintf(stderr, "govs list: %v\n", err)
		return exitFindings
	}
	if o.json {
		if err := writeJSON(stdout, daemon.NewList(r)); err != nil {
			fmt.Fprintf(stderr, "govs list: %v\n", err)
			return exitFindings
		}
		return exitOK
	}
	daemon.WriteList(stdout, r, daemon.ListOptions{Stats: o.stats, Rate: o.rate})
	return exitOK
}

// status is "govs status": what the running govs does. Once it returns,
// the data plane holds what it says (govs list shows the same).
func status(args []string, stdout, stderr io.Writer) int {
	o, code, ok := adminFlags("status", args, stderr)
	if !ok {
		return code
	}
	r, err := ask(o.socket, "status")
	if err != nil {
		fmt.Fprintf(stderr, "govs status: %v\n", err)
		return exitFindings
	}
	if o.json {
		if err := writeJSON(stdout, r.Status); err != nil {
			fmt.Fprintf(stderr, "govs status: %v\n", err)
			return exitFindings
		}
		return exitOK
	}
	fmt.Fprint(stdout, r.Status)
	return exitOK
}

// reload is "govs reload": the running govs reads its configuration again.
func reload(args []string, stdout, stderr io.Writer) int {
	o, code, ok := adminFlags("reload", args, stderr)
	if !ok {
		return code
	}
	if _, err := ask(o.socket, "reload"); err != nil {
		fmt.Fprintf(stderr, "govs reload: %v\n", err)
		return exitFindings
	}
	fmt.Fprintln(stdout, "reloaded")
	return exitOK
}
