// Package version tells which govs this is: the module version and the
// commit it was built from, as the go command records them in the binary.
package version

import (
	"fmt"
	"runtime/debug"
)

// commit and modified are set by make build (-ldflags -X) from git, for
// builds where the go command records no VCS information (-buildvcs=false,
// or no git).
var commit, modified string

// Info is what the binary knows of its build.
type Info struct {
	// Module is the main module's path.
	Module string `json:"module"`
	// Version is the module version (v1.2.3, a pseudo-version), or
	// "devel" for a build from a work tree.
	Version string `json:"version"`
	// Commit is the VCS revision, empty when the build did not record
	// one; Modified says the work tree had uncommitted changes.
	Commit   string `json:"commit,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	// Time is the commit's time, RFC 3339, when recorded.
	Time string `json:"time,omitempty"`
	// Go is the toolchain that built the binary.
	Go string `json:"go"`
}

// Get reads the running binary's build information.
func Get() Info {
	info := Info{Module: "github.com/govs-lb/govs", Version: "devel"}
	info.Commit, info.Modified = commit, modified == "true"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	info.Go = bi.GoVersion
	if bi.Main.Path != "" {
		info.Module = bi.Main.Path
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		info.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		case "vcs.time":
			info.Time = s.Value
		}
	}
	return info
}

// String is one line: "devel commit 1234abcd5678 (modified) go1.26.8".
func (i Info) String() string {
	s := i.Version
	if i.Commit != "" {
		c := i.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		s += " commit " + c
		if i.Modified {
			s += " (modified)"
		}
	}
	if i.Go != "" {
		s += " " + i.Go
	}
	return fmt.Sprintf("%s %s", i.Module, s)
}
