package speckit

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestArchitectureListsEveryPackage: every package of the module (a
// directory with Go files other than tests, or a test-only package with a
// doc.go) has a package doc comment, and docs/architecture.md names it
// (`path`) with its role. A package added without both fails here.
func TestArchitectureListsEveryPackage(t *testing.T) {
	arch, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules" || name == "vendor") {
			return filepath.SkipDir
		}
		names, _ := filepath.Glob(filepath.Join(path, "*.go"))
		doc := false
		var sources int
		for _, n := range names {
			if strings.HasSuffix(n, "_test.go") {
				continue
			}
			sources++
			f, err := parser.ParseFile(token.NewFileSet(), n, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				return err
			}
			doc = doc || f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != ""
		}
		if sources == 0 {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		pkgs = append(pkgs, rel)
		if !doc {
			t.Errorf("%s has no package doc comment (what it owns, what it must not do)", rel)
		}
		if !strings.Contains(string(arch), "`"+rel+"`") {
			t.Errorf("docs/architecture.md does not name %s (`%s`) and its role", rel, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 40 {
		t.Fatalf("found only %d packages under %s: %v", len(pkgs), root, pkgs)
	}
}
