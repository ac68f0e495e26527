package version

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		in   Info
		want string
	}{
		{Info{Module: "m", Version: "devel", Go: "go1.26.8"}, "m devel go1.26.8"},
		{Info{Module: "m", Version: "v1.2.3", Commit: "0123456789abcdef", Go: "go1.26.8"}, "m v1.2.3 commit 0123456789ab go1.26.8"},
		{Info{Module: "m", Version: "devel", Commit: "abc", Modified: true}, "m devel commit abc (modified)"},
	} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestGet(t *testing.T) {
	i := Get()
	if i.Module == "" || i.Version == "" || !strings.HasPrefix(i.Go, "go") {
		t.Errorf("Get() = %+v", i)
	}
}
