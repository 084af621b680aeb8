package hub

import (
	"errors"
	"strings"
	"testing"
)

func TestValidatePath(t *testing.T) {
	for _, tc := range []struct {
		p  string
		ok bool
	}{
		{"a", true}, {"dir/file.json", true}, {"ünï/文件", true}, {"a.b.c", true}, {".hidden", true},
		{"", false}, {"..", false}, {"a/../b", false}, {"a..b", false}, {"./a", false}, {"a/./b", false},
		{"/a", false}, {"a/", false}, {"a//b", false}, {"a\\b", false}, {"a\x00b", false}, {"a\nb", false},
		{"\xff", false}, {strings.Repeat("a/", 100) + "a", false}, {strings.Repeat("x", MaxSegmentLen+1), false},
	} {
		err := ValidatePath(tc.p)
		if (err == nil) != tc.ok {
			t.Errorf("ValidatePath(%q) = %v, want ok=%v", tc.p, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidatePath(%q) error does not wrap ErrInvalid", tc.p)
		}
	}
}

// FuzzValidatePath: an accepted path never has a segment that could walk
// out of its directory or hide, and never panics.
func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{"a/b", "..", "a/./b", "%2e%2e", "ü/x", "a//b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if ValidatePath(p) != nil {
			return
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "\\\x00") {
				t.Fatalf("accepted path %q has segment %q", p, seg)
			}
		}
	})
}
