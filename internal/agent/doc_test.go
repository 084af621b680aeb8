package agent

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/internal/api"
)

// TestAPIDocumented: docs/api.md has a section for every call the agent
// serves, a row for every error code and every event type.
func TestAPIDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	a := New(Options{Home: t.TempDir()})
	if len(a.patterns) < 50 {
		t.Fatalf("the agent serves %d calls: the list of patterns is not kept", len(a.patterns))
	}
	params := strings.NewReplacer("{name}", "{NAME}", "{conv}", "{CONV}", "{group}", "{GROUP}")
	for _, p := range a.patterns {
		p = params.Replace(p)
		if strings.Contains(doc, "`"+p+"`") || strings.Contains(doc, "`"+p+"[") {
			continue
		}
		// The group actions share one heading.
		if i := strings.LastIndex(p, "/"); strings.HasPrefix(p, "POST /v1/groups/{GROUP}/") && strings.Contains(doc, "`"+p[i:]+"`") {
			continue
		}
		t.Errorf("docs/api.md does not document %s", p)
	}
	// api.Codes lists every code constant of internal/api.
	src, err := os.ReadFile("../api/errors.go")
	if err != nil {
		t.Fatal(err)
	}
	consts := regexp.MustCompile(`(?m)^\s+Code\w+\s+Code = "([a-z_]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(consts) != len(api.Codes()) {
		t.Errorf("internal/api/errors.go has %d codes, api.Codes lists %d", len(consts), len(api.Codes()))
	}
	for _, c := range consts {
		if !slices.Contains(api.Codes(), api.Code(c[1])) {
			t.Errorf("api.Codes does not list %s", c[1])
		}
	}
	for _, c := range api.Codes() {
		if !strings.Contains(doc, "| `"+string(c)+"` |") {
			t.Errorf("docs/api.md has no row for the error code %s", c)
		}
	}
	for _, e := range api.EventTypes() {
		if !strings.Contains(doc, "`"+e+"`") {
			t.Errorf("docs/api.md does not describe the event type %s", e)
		}
	}
}

// TestAPIBoundsAreTheClients: the bounds internal/api states for
// front-ends are the client's.
func TestAPIBoundsAreTheClients(t *testing.T) {
	if api.MaxTextBytes != client.MaxTextBytes {
		t.Fatalf("api.MaxTextBytes is %d, client.MaxTextBytes %d", api.MaxTextBytes, client.MaxTextBytes)
	}
}
