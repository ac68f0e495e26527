package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Pos is a position in a configuration file. Line and Col count from 1; Col
// counts bytes. The zero Pos means "no position".
type Pos struct {
	File string
	Line int
	Col  int
}

// IsValid reports whether p names a place in a file.
func (p Pos) IsValid() bool { return p.Line > 0 }

// String formats p as file:line:col, the form editors and compilers use.
func (p Pos) String() string {
	switch {
	case !p.IsValid() && p.File == "":
		return "-"
	case !p.IsValid():
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col)
}

// Severity says whether a Diagnostic stops the configuration from running.
type Severity uint8

const (
	_ Severity = iota
	// Warning marks something govs ignores or corrects, as keepalived would.
	Warning
	// Error marks a configuration that govs refuses to run.
	Error
)

func (s Severity) String() string {
	switch s {
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return "severity(" + strconv.Itoa(int(s)) + ")"
}

// A Diagnostic is one finding about a configuration, tied to where it is.
type Diagnostic struct {
	Pos      Pos
	Severity Severity
	Msg      string
}

// String formats d as "file:line:col: error: message".
func (d Diagnostic) String() string {
	return d.Pos.String() + ": " + d.Severity.String() + ": " + d.Msg
}

// Diagnostics is the list of findings of one Load, in file order.
type Diagnostics []Diagnostic

// HasErrors reports whether any finding is an Error.
func (ds Diagnostics) HasErrors() bool { return ds.Count(Error) > 0 }

// Count returns how many findings have severity s.
func (ds Diagnostics) Count(s Severity) int {
	n := 0
	for _, d := range ds {
		if d.Severity == s {
			n++
		}
	}
	return n
}

// Err returns nil when there is no Error, else an error listing the errors.
func (ds Diagnostics) Err() error {
	var errs []error
	for _, d := range ds {
		if d.Severity == Error {
			errs = append(errs, errors.New(d.String()))
		}
	}
	return errors.Join(errs...)
}

// String formats every finding on a line of its own.
func (ds Diagnostics) String() string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// sortStable orders findings by file order of first appearance, then line and
// column, keeping the order of findings at the same place.
func (ds Diagnostics) sortStable(fileOrder map[string]int) {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i].Pos, ds[j].Pos
		if a.File != b.File {
			return fileOrder[a.File] < fileOrder[b.File]
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// maxDiagnostics bounds how many findings one Load reports, so that a binary
// file or a 10 MB file of garbage gives a readable answer.
const maxDiagnostics = 200

// reporter collects diagnostics. It is not safe for concurrent use.
type reporter struct {
	diags     Diagnostics
	truncated bool
}

func (r *reporter) add(pos Pos, sev Severity, format string, args ...any) {
	if len(r.diags) >= maxDiagnostics {
		r.truncated = true
		return
	}
	r.diags = append(r.diags, Diagnostic{Pos: pos, Severity: sev, Msg: fmt.Sprintf(format, args...)})
}

// full reports whether no more findings will be kept.
func (r *reporter) full() bool { return len(r.diags) >= maxDiagnostics }

func (r *reporter) errorf(pos Pos, format string, args ...any) { r.add(pos, Error, format, args...) }

func (r *reporter) warnf(pos Pos, format string, args ...any) { r.add(pos, Warning, format, args...) }
