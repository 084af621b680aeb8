package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/parley-im/parley/hub/auth"
	"github.com/parley-im/parley/internal/await"
	"github.com/parley-im/parley/internal/cli"
)

var hubdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hubd-bin")
	if err != nil {
		panic(err)
	}
	hubdBin = filepath.Join(dir, "hubd")
	if out, err := exec.Command("go", "build", "-o", hubdBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build hubd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type hubProc struct {
	cmd  *exec.Cmd
	url  string        // where it serves, as it said
	addr string        // host:port of url
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

// servingLine is what hubd prints on stdout once it listens.
var servingLine = regexp.MustCompile(`(?m)^hubd: serving (https?)://(\S+) `)

// servedAt waits until hubd's stdout (out) says where it listens, and
// returns that URL and address: hubd is told 127.0.0.1:0 and picks the
// port itself, so no other process can take it between a test choosing
// it and hubd binding it.
func servedAt(t *testing.T, out fmt.Stringer, done <-chan struct{}, logs fmt.Stringer) (url, addr string) {
	t.Helper()
	m := await.Value(t, time.Minute, "hubd to say where it serves", func() ([]string, error) {
		select {
		case <-done:
			t.Fatalf("hubd exited before serving:\n%s", logs.String())
		default:
		}
		if m := servingLine.FindStringSubmatch(out.String()); m != nil {
			return m, nil
		}
		return nil, fmt.Errorf("its stdout: %q", out.String())
	})
	return m[1] + "://" + m[2], m[2]
}

// startHubd runs hubd with env (and the test's environment) on a port it
// picks on 127.0.0.1, and returns once it serves; named name in what the
// test logs if it fails.
func startHubd(t *testing.T, name string, env ...string) *hubProc {
	t.Helper()
	cmd := exec.Command(hubdBin)
	cmd.Env = append(append(os.Environ(), env...), "HUBD_LISTEN=127.0.0.1:0")
	var out, logs syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &hubProc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, logs.String())
		}
	})
	p.url, p.addr = servedAt(t, &out, p.done, &logs)
	return p
}

// startHub runs hubd with the disk driver in dir; settings come from the
// environment, to exercise that path too.
func startHub(t *testing.T, dir string) *hubProc {
	t.Helper()
	return startHubd(t, "hubd", "HUBD_DATA="+dir, "HUBD_PUBLIC_URL=http://hub.test", "HUBD_SERVER_NAME=drill")
}

func token(key *secp256k1.PrivateKey) string {
	return "bearer v1:" + auth.MakeGaia(key, auth.GaiaClaims{GaiaChallenge: auth.Challenge("drill")})
}

// TestCrashConsistency kills hubd with SIGKILL while 16 writers store
// objects, restarts it on the same data, and checks that every
// acknowledged write reads back byte-identical and that every write in
// flight is either absent or complete: never half-present.
func TestCrashConsistency(t *testing.T) {
	dir := t.TempDir()
	hub := startHub(t, dir)
	key, _ := secp256k1.GeneratePrivateKey()
	bucket := auth.GaiaAddress(key.PubKey().SerializeCompressed())
	tok := token(key)

	type write struct {
		path string
		data []byte
	}
	var (
		mu       sync.Mutex
		acked    []write
		inflight []write
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				data := make([]byte, 1024+(i%7)*40000)
				rand.Read(data)
				wr := write{fmt.Sprintf("w%d/obj%d", w, i), data}
				req, _ := http.NewRequest("POST", hub.url+"/store/"+bucket+"/"+wr.path, bytes.NewReader(data))
				req.Header.Set("Authorization", tok)
				res, err := client.Do(req)
				mu.Lock()
				if err == nil && res.StatusCode == 202 {
					acked = append(acked, wr)
				} else {
					inflight = append(inflight, wr)
				}
				mu.Unlock()
				if err != nil {
					return // the hub is gone
				}
				res.Body.Close()
			}
		}(w)
	}
	// Let some writes land, then crash it.
	await.True(t, time.Minute, "200 acknowledged writes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 200
	})
	hub.cmd.Process.Signal(syscall.SIGKILL)
	<-hub.done
	wg.Wait()

	hub = startHub(t, dir) // on the same data, at another port
	read := func(path string) (int, []byte) {
		res, err := http.Get(hub.url + "/read/" + bucket + "/" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	for _, w := range acked {
		if code, b := read(w.path); code != 200 || !bytes.Equal(b, w.data) {
			t.Fatalf("acknowledged write %s lost or changed after the crash (status %d, %d of %d bytes)", w.path, code, len(b), len(w.data))
		}
	}
	for _, w := range inflight {
		if code, b := read(w.path); code == 200 && !bytes.Equal(b, w.data) {
			t.Fatalf("unacknowledged write %s is half-present (%d of %d bytes)", w.path, len(b), len(w.data))
		}
	}
	t.Logf("%d acknowledged and %d in-flight writes checked after SIGKILL", len(acked), len(inflight))
	filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(de.Name(), ".tmp-") {
			t.Errorf("temporary file %s survived the restart", p)
		}
		return nil
	})
}

// slowBody feeds its bytes in pieces, waiting for a signal halfway.
type slowBody struct {
	data []byte
	half chan struct{} // closed when half is sent
	goOn chan struct{} // closed to send the rest
	sent int
}

func (s *slowBody) Read(p []byte) (int, error) {
	if s.sent >= len(s.data) {
		return 0, io.EOF
	}
	if s.sent == len(s.data)/2 {
		close(s.half)
		<-s.goOn
	}
	n := copy(p, s.data[s.sent:min(len(s.data), s.sent+len(s.data)/2)])
	s.sent += n
	return n, nil
}

// TestGracefulShutdown: SIGTERM while an upload is half sent; the upload
// completes and is acknowledged, then hubd exits 0.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	hub := startHub(t, dir)
	key, _ := secp256k1.GeneratePrivateKey()
	bucket := auth.GaiaAddress(key.PubKey().SerializeCompressed())
	body := &slowBody{data: bytes.Repeat([]byte("x"), 1<<16), half: make(chan struct{}), goOn: make(chan struct{})}
	req, _ := http.NewRequest("POST", hub.url+"/store/"+bucket+"/slow", body)
	req.ContentLength = int64(len(body.data))
	req.Header.Set("Authorization", token(key))
	result := make(chan int, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			result <- -1
			return
		}
		res.Body.Close()
		result <- res.StatusCode
	}()
	<-body.half
	// Wait until hubd is handling the upload (not just holding it in a
	// socket buffer): the scrape itself is one request in flight.
	await.NoError(t, time.Minute, "the upload to reach a handler", func() error {
		if m := metrics(t, hub.url); !strings.Contains(m, "hub_requests_in_flight 2") {
			return fmt.Errorf("metrics:\n%s", m)
		}
		return nil
	})
	hub.cmd.Process.Signal(syscall.SIGTERM)
	// The signal makes hubd stop accepting; the upload is still open.
	await.True(t, time.Minute, "hubd to stop accepting", func() bool {
		res, err := http.Get(hub.url + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err != nil
	})
	close(body.goOn)
	if code := <-result; code != 202 {
		t.Fatalf("in-flight upload answered %d during shutdown", code)
	}
	select {
	case <-hub.done:
		if hub.err != nil {
			t.Fatalf("hubd exited with %v", hub.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("hubd did not exit after SIGTERM")
	}
	hub = startHub(t, dir) // on the same data, at another port
	res, err := http.Get(hub.url + "/read/" + bucket + "/slow")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("upload finished during shutdown is missing: %v", err)
	}
	res.Body.Close()
}

func TestUsageErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"--data", t.TempDir()}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--public-url is required") {
		t.Fatalf("missing --public-url: exit %d, %q", code, errb.String())
	}
	errb.Reset()
	if code := run(t.Context(), []string{"--public-url", "http://x", "--driver", "tape"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `hubd: --driver "tape": want disk, s3 or memory`) {
		t.Fatalf("unknown driver: exit %d, %q", code, errb.String())
	}
	// Instances share storage only through S3: --nats with a disk
	// directory or memory is refused before anything starts.
	errb.Reset()
	if code := run(t.Context(), []string{"--public-url", "http://x", "--driver", "memory", "--nats", "nats://127.0.0.1:1"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--nats") {
		t.Fatalf("--nats with the memory driver: exit %d, %q", code, errb.String())
	}
	// A stamp difficulty clients would refuse once an inbox fills.
	errb.Reset()
	if code := run(t.Context(), []string{"--public-url", "http://x", "--driver", "memory", "--inbox-pow", "20"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--inbox-pow 20") || !strings.Contains(errb.String(), "give 13 or less") {
		t.Fatalf("--inbox-pow 20: exit %d, %q", code, errb.String())
	}
	// The public URL is what users publish and tokens name: a URL the
	// chain would refuse is refused here too.
	for _, u := range []string{"hub.example", "ftp://hub.example", "https://hub.example/?x=1"} {
		errb.Reset()
		if code := run(t.Context(), []string{"--public-url", u, "--driver", "memory"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--public-url") {
			t.Fatalf("--public-url %s: exit %d, %q", u, code, errb.String())
		}
	}
}

func metrics(t *testing.T, url string) string {
	res, err := http.Get(url + "/metrics")
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// TestHelpAndVersion: 'hubd help' and 'hubd --version' answer (they were
// unknown: exit 2), as 'hubd version' does.
func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"--version"}, {"version"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 0 {
			t.Errorf("hubd %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
		}
		want := "hubd runs a storage hub"
		if args[0] == "--version" || args[0] == "version" {
			want = "hubd " + cli.Version()
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("hubd %s printed %q, want %q", strings.Join(args, " "), out.String(), want)
		}
	}
}
