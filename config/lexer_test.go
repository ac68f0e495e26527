package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// lexString lexes src as one file and returns "text@line:col" per token,
// with "{", "}" and "EOL" for the others, and the diagnostics.
func lexString(src string) ([]string, []string) {
	r := &reporter{}
	rd := newReader(&Options{ConfigID: "main"}, r)
	rd.file("t.conf", []byte(src), Pos{})
	var out []string
	for _, t := range rd.toks {
		switch t.kind {
		case tokWord:
			out = append(out, fmt.Sprintf("%s@%d:%d", t.text, t.pos.Line, t.pos.Col))
		case tokOpen:
			out = append(out, fmt.Sprintf("{@%d:%d", t.pos.Line, t.pos.Col))
		case tokClose:
			out = append(out, fmt.Sprintf("}@%d:%d", t.pos.Line, t.pos.Col))
		case tokEOL:
			out = append(out, "EOL")
		}
	}
	return out, diagStrings(r.diags)
}

func TestLex(t *testing.T) {
	for _, tt := range []struct {
		name  string
		src   string
		want  []string
		diags []string
	}{
		{
			name: "words and braces",
			src:  "global_defs {\n  router_id OX\n}\n",
			want: []string{"global_defs@1:1", "{@1:13", "EOL", "router_id@2:3", "OX@2:13", "EOL", "}@3:1", "EOL"},
		},
		{
			name: "braces split words as keepalived splits lines",
			src:  "url{path /x}",
			want: []string{"url@1:1", "{@1:4", "path@1:5", "/x@1:10", "}@1:12", "EOL"},
		},
		{
			name: "comments with # and ! anywhere",
			src:  "a b # c d\n! whole line\ne f!g\n",
			want: []string{"a@1:1", "b@1:3", "EOL", "e@3:1", "f@3:3", "EOL"},
		},
		{
			name: "double and single quotes keep spaces and comment characters",
			src:  `misc_path "/bin/check # not a comment" 'a b!' x"y z"w`,
			want: []string{"misc_path@1:1", "/bin/check # not a comment@1:11", "a b!@1:40", "xy zw@1:47", "EOL"},
		},
		{
			name: "escapes",
			src:  `s "a\tb\x41\101\"q\\" \# \{`,
			want: []string{"s@1:1", "a\tbAA\"q\\@1:3", "#@1:23", "{@1:26", "EOL"},
		},
		{
			name: "braces inside quotes are text",
			src:  `path "/{x}"`,
			want: []string{"path@1:1", "/{x}@1:6", "EOL"},
		},
		{
			name:  "unterminated quote",
			src:   `path "/x`,
			want:  []string{"path@1:1", "/x@1:6", "EOL"},
			diags: []string{`t.conf:1:6: error: unterminated " quote`},
		},
		{
			name: "carriage returns and tabs",
			src:  "a\tb\r\nc\r\n",
			want: []string{"a@1:1", "b@1:3", "EOL", "c@2:1", "EOL"},
		},
		{
			name: "conditional lines",
			src:  "@main a 1\n@backup b 2\n@^main c 3\n@^backup d 4\n",
			want: []string{"a@1:7", "1@1:9", "EOL", "d@4:10", "4@4:12", "EOL"},
		},
		{
			name: "parameters",
			src:  "$IF=eth0\n$P=${IF}.5\ninterface $IF\nvlan ${P}x $UNDEF\n",
			want: []string{"interface@3:1", "eth0@3:1", "EOL", "vlan@4:1", "eth0.5x@4:1", "$UNDEF@4:1", "EOL"},
		},
		{
			name: "multi-line parameter",
			src:  "$RS= \\\n  real_server ${A} 80 { \\\n    weight 1 \\\n  }\n$A=1.2.3.4\n$RS\n",
			want: []string{"real_server@6:1", "1.2.3.4@6:1", "80@6:1", "{@6:1", "EOL", "weight@6:1", "1@6:1", "EOL", "}@6:1", "EOL"},
		},
		{
			name:  "self-referencing parameter does not hang",
			src:   "$A=x$A \nkw $A\n",
			diags: []string{"t.conf:2:1: error: parameter substitution does not end (more than 64 expansions or a line over 1048576 bytes)"},
		},
		{
			name:  "sequences are refused",
			src:   "~SEQ(i, 1, 3) x $i\n",
			diags: []string{"t.conf:1:1: error: ~SEQ blocks are not supported by govs; expand them into plain lines"},
		},
		{
			name:  "binary data",
			src:   "global_defs {\n\x00\x01\x02",
			diags: []string{"t.conf:2:1: error: file contains a NUL byte: this is binary data, not a keepalived configuration"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, diags := lexString(tt.src)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("tokens (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.diags, diags); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitCommand(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
		err  bool
	}{
		{in: "/etc/keepalived/galera-checker.pl 10.20.29.140", want: []string{"/etc/keepalived/galera-checker.pl", "10.20.29.140"}},
		{in: `/bin/sh -c 'exit 1'`, want: []string{"/bin/sh", "-c", "exit 1"}},
		{in: `"/opt/my script" a\ b {x}`, want: []string{"/opt/my script", "a b", "{x}"}},
		{in: `x 'unterminated`, err: true},
	} {
		got, err := SplitCommand(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("SplitCommand(%q) error = %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("SplitCommand(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

// TestQuoteArg checks that quoting round-trips through the lexer.
func TestQuoteArg(t *testing.T) {
	for _, s := range []string{"plain", "", "two words", `q"uote`, `back\slash`, "#hash", "!bang", "{", "}", "tab\there", "$VAR", "${_PWD}", "'", "é", "\x00\x7f"} {
		line := "k " + quoteArg(s)
		got, diags := lexString(line)
		if len(diags) > 0 || len(got) != 3 || !strings.HasPrefix(got[1], s+"@") {
			t.Errorf("quoteArg(%q) = %s lexes as %q %v", s, line, got, diags)
		}
	}
}
