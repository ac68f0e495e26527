package netsim

import "log/slog"

// DefaultStateDir is where labs keep their files when Options.StateDir is
// empty: one directory per lab, named after it, holding the owner record,
// configuration files, logs and captures.
const DefaultStateDir = "/run/govs-netsim"

// Options configures a lab. A nil *Options means the defaults.
type Options struct {
	// Logger receives a line for each thing the lab builds or removes.
	// Nil discards them.
	Logger *slog.Logger
	// StateDir is the parent of the lab's own directory. Empty means
	// DefaultStateDir. Stale labs are found through it, so runs that
	// should clean up after each other must share it.
	StateDir string
}

func (o *Options) logger() *slog.Logger {
	if o == nil || o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

func (o *Options) stateDir() string {
	if o == nil || o.StateDir == "" {
		return DefaultStateDir
	}
	return o.StateDir
}
