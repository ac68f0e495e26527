package config

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestCatalogueKnowsKeepalived checks that every keyword keepalived 2.2.7
// installs is in the catalogue, in the same block.
func TestCatalogueKnowsKeepalived(t *testing.T) {
	f, err := os.Open("testdata/keepalived-2.2.7-keywords.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		path, kw, _ := strings.Cut(line, " ")
		c := catalogue
		if path != "-" {
			for _, p := range strings.Split(path, "/") {
				k := c.lookup(p)
				if k == nil || k.sub == nil {
					t.Errorf("%s: block %s is not in the catalogue", line, p)
					c = nil
					break
				}
				c = k.sub
			}
		}
		if c == nil {
			continue
		}
		if c.lookup(kw) == nil {
			t.Errorf("keepalived keyword %q in %s is not in the catalogue", kw, path)
		}
		n++
	}
	if n < 450 {
		t.Fatalf("read only %d keywords", n)
	}
}

// TestCatalogueEntries checks the catalogue's own consistency.
func TestCatalogueEntries(t *testing.T) {
	seen := map[*context]bool{}
	var walk func(path string, c *context)
	walk = func(path string, c *context) {
		if seen[c] {
			return
		}
		seen[c] = true
		for name, k := range c.keywords {
			if k.name != name {
				t.Errorf("%s: entry %q named %q", path, name, k.name)
			}
			if k.use == 0 {
				t.Errorf("%s %s: no use", path, name)
			}
			if (k.use == useIgnored || k.use == useRefused) && k.why == "" {
				t.Errorf("%s %s: ignored or refused without a reason", path, name)
			}
			if k.sub != nil && k.values {
				t.Errorf("%s %s: both a block of keywords and of values", path, name)
			}
			if k.sub != nil {
				walk(path+"/"+name, k.sub)
			}
		}
	}
	walk("", catalogue)
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"lb_algo", "lb_algo", 0},
		{"lb_alog", "lb_algo", 1},
		{"lb_algoo", "lb_algo", 1},
		{"lbalgo", "lb_algo", 1},
		{"delay_lop", "delay_loop", 1},
		{"", "abc", 3},
	} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
