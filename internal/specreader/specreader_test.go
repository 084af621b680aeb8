package specreader

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const vectors = "../../testdata/vectors"

// The packages' recorded vectors the reader checks besides: the hub's
// native token and inbox stamp, the safety number, a group link, a v2
// backup, owner keys of recovery phrases, a device offer's link code.
var hubVectors = []string{"../../hub/auth/testdata/native-token.txt", "../../hub/testdata/inbox-stamp.txt",
	"../../client/wire/testdata/safety.txt", "../../client/wire/testdata/link.txt", "../../client/wire/testdata/backup.txt",
	"../../client/keystore/testdata/recovery.txt", "../../client/wire/testdata/devicelink.txt",
	"../../client/wire/testdata/devicesession.txt"}

// node returns the node binary, with the reader's dependencies installed.
func node(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the independent reader needs Node.js 20.19+ and npm (apt-get install nodejs npm)")
	}
	if _, err := os.Stat("node_modules/@noble/post-quantum/package.json"); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Fatal("npm is not installed: it installs the reader's @noble libraries")
		}
		if out, err := exec.Command(npm, "ci", "--no-audit", "--no-fund").CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	return node
}

var tally = regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed$`)

// TestSpecReader: the reader written from the spec alone opens every
// vector with the outcome the vector expects, makes the recorded native
// token again byte for byte, computes the recorded inbox stamp's digest,
// the safety number and a group link's paths and key, opens a v2
// backup from name and passphrase, derives the owner keys of recovery
// phrases and a device offer's link code, its text and welcome path.
func TestSpecReader(t *testing.T) {
	out, err := exec.Command(node(t), append([]string{"reader.mjs", vectors}, hubVectors...)...).CombinedOutput()
	m := tally.FindStringSubmatch(string(out))
	if err != nil || m == nil || m[2] != "0" {
		t.Fatalf("the independent reader: %v\n%s", err, out)
	}
	names, _ := filepath.Glob(filepath.Join(vectors, "*.txt"))
	if m[1] != strconv.Itoa(len(names)+len(hubVectors)) {
		t.Fatalf("the reader passed %s vectors of %d\n%s", m[1], len(names), out)
	}
}

// TestSpecReaderRefusesWrongExpectations: the reader is not vacuous: a
// vector whose expectation is wrong fails, by name.
func TestSpecReaderRefusesWrongExpectations(t *testing.T) {
	dir := t.TempDir()
	names, _ := filepath.Glob(filepath.Join(vectors, "*.txt"))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Base(n) {
		case "message-pq-step.txt", "handshake-v2-hybrid.txt", "group.txt":
			b = []byte(strings.Replace(string(b), "expect: success", "expect: mac", 1))
		case "message-replay.txt":
			b = []byte(strings.Replace(string(b), "expect: replay", "expect: success", 1))
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(n)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(node(t), "reader.mjs", dir).CombinedOutput()
	if err == nil {
		t.Fatalf("the reader passed vectors with wrong expectations\n%s", out)
	}
	for _, want := range []string{
		"FAIL message-pq-step.txt: got success, want mac",
		"FAIL handshake-v2-hybrid.txt: got success, want mac",
		"FAIL group.txt: got success, want mac",
		"FAIL message-replay.txt: got replay, want success",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the reader did not say %q\n%s", want, out)
		}
	}
	if m := tally.FindStringSubmatch(string(out)); m == nil || m[2] != "4" {
		t.Errorf("want 4 failed\n%s", out)
	}
}
