package speckit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/hubapi"
)

// root is the repository's top directory, from this package's.
const root = "../.."

// table is a markdown table of docs/protocol.md: its header cells and
// rows, each with the line it is on.
type table struct {
	header []string
	rows   []row
}

type row struct {
	line  int
	cells []string
}

// cells splits a markdown table line on its unescaped pipes; a cell
// loses its surrounding spaces and backquotes, and "\|" becomes "|".
func cells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(strings.TrimSuffix(line, "|"), "|")
	var out []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteByte('|')
			i++
		case line[i] == '|':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	out = append(out, cur.String())
	for i, c := range out {
		c = strings.TrimSpace(c)
		if len(c) >= 2 && c[0] == '`' && c[len(c)-1] == '`' {
			c = c[1 : len(c)-1]
		}
		out[i] = c
	}
	return out
}

// specTable returns the one table of docs/protocol.md whose header is
// header; it fails the test if there is none, or more than one, or no row.
func specTable(t *testing.T, header ...string) table {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var found []table
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "|") || !slices.Equal(cells(lines[i]), header) || !strings.HasPrefix(lines[i+1], "| ---") {
			continue
		}
		tb := table{header: header}
		for j := i + 2; j < len(lines) && strings.HasPrefix(lines[j], "|"); j++ {
			c := cells(lines[j])
			if len(c) != len(header) {
				t.Fatalf("protocol.md:%d: %d cells, the table has %d columns", j+1, len(c), len(header))
			}
			tb.rows = append(tb.rows, row{j + 1, c})
		}
		found = append(found, tb)
	}
	if len(found) != 1 || len(found[0].rows) == 0 {
		t.Fatalf("protocol.md has %d tables headed %q (want one, not empty)", len(found), header)
	}
	return found[0]
}

// goFiles parses the non-test Go files of a directory of the repository.
func goFiles(t *testing.T, dir string) []*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// constants returns the string constants of dir whose names start with
// prefix.
func constants(t *testing.T, dir, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range goFiles(t, dir) {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				v := s.(*ast.ValueSpec)
				for i, n := range v.Names {
					if !strings.HasPrefix(n.Name, prefix) || i >= len(v.Values) {
						continue
					}
					if lit, ok := v.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						out[n.Name], _ = strconv.Unquote(lit.Value)
					}
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no constants %s* in %s", prefix, dir)
	}
	return out
}

// stringLiterals returns every string literal of dir's non-test files.
func stringLiterals(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, f := range goFiles(t, dir) {
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s, err := strconv.Unquote(lit.Value)
				if err == nil {
					out[s] = true
				}
			}
			return true
		})
	}
	return out
}

// TestSpecResultCodes: the chain's result codes are those of the table
// in Transactions, number and name.
func TestSpecResultCodes(t *testing.T) {
	tb := specTable(t, "code", "name", "when")
	inSpec := map[uint32]bool{}
	for _, r := range tb.rows {
		n, err := strconv.ParseUint(r.cells[0], 10, 32)
		if err != nil {
			t.Fatalf("protocol.md:%d: code %q", r.line, r.cells[0])
		}
		inSpec[uint32(n)] = true
		if got := bns.Code(n).String(); got != r.cells[1] {
			t.Errorf("protocol.md:%d: code %d is %q in the spec, %q in chain/bns", r.line, n, r.cells[1], got)
		}
	}
	for c := bns.Code(1); !strings.HasPrefix(c.String(), "code("); c++ {
		if !inSpec[uint32(c)] {
			t.Errorf("chain/bns has code %d %s, which protocol.md's table lacks", c, c)
		}
	}
}

// TestSpecEventKinds: the event kinds are those of the Events table.
func TestSpecEventKinds(t *testing.T) {
	tb := specTable(t, "kind", "fields", "effect")
	code := map[string]bool{}
	for _, v := range constants(t, "client/wire", "Kind") {
		code[v] = true
	}
	checkSet(t, tb, 0, code, "client/wire's Kind constants")
}

// TestSpecScopes: the native token scopes are those of the table.
func TestSpecScopes(t *testing.T) {
	tb := specTable(t, "scope", "domain", "allows")
	code := map[string]bool{}
	for _, v := range constants(t, "hub/auth", "Scope") {
		code[v] = true
	}
	checkSet(t, tb, 0, code, "hub/auth's Scope constants")
}

// checkSet fails for each row whose column col is not in code, and for
// each value of code no row has.
func checkSet(t *testing.T, tb table, col int, code map[string]bool, what string) {
	t.Helper()
	inSpec := map[string]bool{}
	for _, r := range tb.rows {
		v := r.cells[col]
		if inSpec[v] {
			t.Errorf("protocol.md:%d: %q twice", r.line, v)
		}
		inSpec[v] = true
		if !code[v] {
			t.Errorf("protocol.md:%d: %q is not among %s", r.line, v, what)
		}
	}
	for v := range code {
		if !inSpec[v] {
			t.Errorf("%s include %q, which protocol.md's table lacks", what, v)
		}
	}
}

// labelLike is what a label of the code looks like: the literals the
// code must not hold without the spec listing them.
var labelLike = regexp.MustCompile(`^(parley/|Whisper)`)

// TestSpecLabels: every label of the Labels table is a string literal
// of the package it names, and every "parley/…" or "Whisper…" literal
// of the client, hub and chain formats is in the table, with its
// package.
func TestSpecLabels(t *testing.T) {
	tb := specTable(t, "label", "package", "use")
	pkgs := []string{"client", "client/store", "client/wire", "client/ratchet", "client/keystore", "hub", "hub/auth", "chain/bns", "internal/agent"}
	lits := map[string]map[string]bool{}
	for _, p := range pkgs {
		lits[p] = stringLiterals(t, p)
	}
	inSpec := map[string]string{}
	for _, r := range tb.rows {
		label := strings.ReplaceAll(r.cells[0], `\n`, "\n")
		pkg := r.cells[1]
		if _, ok := lits[pkg]; !ok {
			t.Errorf("protocol.md:%d: label %q names package %q, not one of %v", r.line, r.cells[0], pkg, pkgs)
			continue
		}
		if old, dup := inSpec[label]; dup {
			t.Errorf("protocol.md:%d: label %q twice (also in %s)", r.line, r.cells[0], old)
		}
		inSpec[label] = pkg
		if !lits[pkg][label] {
			t.Errorf("protocol.md:%d: label %q is no string literal of %s", r.line, r.cells[0], pkg)
		}
	}
	for _, p := range pkgs {
		kdf := kdfLabels(t, p)
		for l := range kdf {
			lits[p][l] = true
		}
		for l := range lits[p] {
			if !labelLike.MatchString(l) && !kdf[l] {
				continue
			}
			if got, ok := inSpec[l]; !ok || got != p {
				t.Errorf("%s uses the label %q, which protocol.md's Labels table does not list for %s", p, l, p)
			}
		}
	}
}

// kdfFuncs are the functions whose string arguments are labels: HKDF
// (hkdf.Key) and the client's wrappers of it.
var kdfFuncs = map[string]bool{"Key": true, "groupDerive": true, "derive": true, "LocalKey": true}

// kdfLabels returns the string literals of dir passed to a kdfFuncs
// call, alone or as the first operand of a concatenation ("header|" +
// pair).
func kdfLabels(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, f := range goFiles(t, dir) {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			var name string
			switch fn := call.Fun.(type) {
			case *ast.Ident:
				name = fn.Name
			case *ast.SelectorExpr:
				name = fn.Sel.Name
			}
			if !kdfFuncs[name] {
				return true
			}
			for _, a := range call.Args {
				for {
					b, ok := a.(*ast.BinaryExpr)
					if !ok || b.Op != token.ADD {
						break
					}
					a = b.X
				}
				if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil {
						out[s] = true
					}
				}
			}
			return true
		})
	}
	return out
}

// sentinels are package hub's error sentinels, by name, as the Errors
// table names them.
var sentinels = map[string]error{
	"ErrBadRequest": hub.ErrBadRequest, "ErrUnauthorized": hub.ErrUnauthorized, "ErrRevoked": hub.ErrRevoked,
	"ErrNotEnoughProof": hub.ErrNotEnoughProof, "ErrInvalid": hub.ErrInvalid, "ErrBadStamp": hub.ErrBadStamp,
	"ErrNotFound": hub.ErrNotFound, "ErrTimeout": hub.ErrTimeout, "ErrStampUsed": hub.ErrStampUsed,
	"ErrPrecondition": hub.ErrPrecondition, "ErrTooLarge": hub.ErrTooLarge, "ErrInboxFull": hub.ErrInboxFull,
	"ErrRateLimited": hub.ErrRateLimited, "ErrBusy": hub.ErrBusy, "ErrQuota": hub.ErrQuota,
}

// TestSpecErrorClasses: the Errors table is exactly the error classes
// the hub answers and the client reads (hub/hubapi.Classes): each row's
// status, class and sentinel.
func TestSpecErrorClasses(t *testing.T) {
	tb := specTable(t, "status", "class", "sentinel", "meaning")
	nameOf := map[error]string{}
	for n, err := range sentinels {
		nameOf[err] = n
	}
	inSpec := map[string]bool{}
	for _, r := range tb.rows {
		if _, known := sentinels[r.cells[2]]; !known {
			t.Errorf("protocol.md:%d: sentinel %q is not one of package hub's", r.line, r.cells[2])
			continue
		}
		inSpec[r.cells[0]+" "+r.cells[1]+" "+r.cells[2]] = true
	}
	for _, c := range hubapi.Classes {
		k := fmt.Sprintf("%d %s %s", c.Status, c.Name, nameOf[c.Err])
		if !inSpec[k] {
			t.Errorf("hubapi.Classes has %s, which protocol.md's Errors table lacks", k)
		}
		delete(inSpec, k)
	}
	for k := range inSpec {
		t.Errorf("protocol.md's Errors table has %s, which is not in hubapi.Classes", k)
	}
}

// TestSpecAnchors: every link within docs/protocol.md (#anchor) names a
// heading of it, as GitHub makes anchors (lower case, punctuation
// dropped, spaces as hyphens).
func TestSpecAnchors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	drop := regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	for _, l := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(strings.TrimLeft(l, "#"), " "); ok && strings.HasPrefix(l, "#") {
			anchors[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
		}
	}
	links := regexp.MustCompile(`\]\(#([^)]*)\)`).FindAllStringSubmatch(string(b), -1)
	if len(links) < 10 {
		t.Fatalf("%d links within protocol.md: the scan no longer sees them", len(links))
	}
	for _, m := range links {
		if !anchors[m[1]] {
			t.Errorf("protocol.md links to #%s, which no heading makes", m[1])
		}
	}
}

// TestSpecGenesisParams: the genesis parameters table lists exactly the
// fields of bns.Params, each with its default and local value.
func TestSpecGenesisParams(t *testing.T) {
	tb := specTable(t, "field", "meaning", "default", "local (`--params local`)")
	values := func(p bns.Params) map[string]string {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.Number
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for k, v := range m {
			out[k] = v.String()
		}
		return out
	}
	def, local := values(bns.DefaultParams()), values(bns.LocalParams())
	inSpec := map[string]bool{}
	for _, r := range tb.rows {
		f := r.cells[0]
		inSpec[f] = true
		d, ok := def[f]
		if !ok {
			t.Errorf("protocol.md:%d: %s is no field of bns.Params", r.line, f)
			continue
		}
		if got := strings.ReplaceAll(r.cells[2], ",", ""); got != d {
			t.Errorf("protocol.md:%d: %s defaults to %s in the spec, %s in chain/bns", r.line, f, r.cells[2], d)
		}
		if got := strings.ReplaceAll(r.cells[3], ",", ""); got != local[f] {
			t.Errorf("protocol.md:%d: %s is %s locally in the spec, %s in chain/bns", r.line, f, r.cells[3], local[f])
		}
	}
	for f := range def {
		if !inSpec[f] {
			t.Errorf("bns.Params has %s, which protocol.md's genesis table lacks", f)
		}
	}
}
