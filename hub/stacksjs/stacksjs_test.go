package stacksjs

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/parley-im/parley/hub/driver/disk"
	"github.com/parley-im/parley/hub/server"
)

func TestStacksJSStorageClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the Stacks.js compatibility suite needs Node.js 18+ and npm (apt-get install nodejs npm)")
	}
	if _, err := os.Stat("node_modules/@stacks/storage/package.json"); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Fatal("npm is not installed: it installs @stacks/storage for this test")
		}
		out, err := exec.Command(npm, "ci", "--no-audit", "--no-fund").CombinedOutput()
		if err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	d, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	srv, err := server.New(server.Config{Driver: d, PublicURL: "http://" + ts.Listener.Addr().String(), PageSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	defer ts.Close()
	defer srv.Close()

	out, err := exec.Command(node, "compat.mjs", ts.URL).CombinedOutput()
	var report []string
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(l, "[DEBUG]") {
			report = append(report, l)
		}
	}
	if err != nil || !strings.Contains(string(out), " passed, 0 failed") {
		t.Fatalf("Stacks.js against the hub: %v\n%s", err, strings.Join(report, "\n"))
	}
}
