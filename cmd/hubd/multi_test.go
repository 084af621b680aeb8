package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
	"github.com/parley-im/parley/hub/driver/s3/s3test"
	"github.com/parley-im/parley/hub/natslog/natstest"
	"github.com/parley-im/parley/internal/await"
)

// publicURL is the one URL of the hub the instances serve, as users
// publish it: the test's clients reach it through a "load balancer" (a
// transport that dials the instance it is told to).
const publicURL = "http://hub.test"

type instance struct{ *hubProc }

// cluster is versitygw, a NATS server and hubd instances on one bucket.
type cluster struct {
	env []string
}

func newCluster(t *testing.T) *cluster {
	s3 := s3test.Start(t)
	nats := natstest.Start(t)
	bucket := s3.Config(t).Bucket
	return &cluster{env: []string{
		"HUBD_DRIVER=s3", "HUBD_S3_ENDPOINT=" + s3.Endpoint, "HUBD_S3_BUCKET=" + bucket, "HUBD_S3_TLS=false",
		"HUBD_S3_ACCESS_KEY=" + s3test.AccessKey, "HUBD_S3_SECRET_KEY=" + s3test.SecretKey,
		"HUBD_NATS=" + nats.URL, "HUBD_PUBLIC_URL=" + publicURL, "HUBD_SERVER_NAME=drill",
		"HUBD_SWEEP_EVERY=200ms", "HUBD_QUOTA_MB=0.0625", "HUBD_LOG_LEVEL=warn",
	}}
}

// start runs one more instance.
func (c *cluster) start(t *testing.T, name string) *instance {
	t.Helper()
	p := startHubd(t, name, append(c.env, "HUBD_INSTANCE="+name)...)
	return &instance{p}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// via is an HTTP client that sends every request for publicURL to inst,
// as a load balancer would.
func via(inst *instance) *http.Client {
	d := &net.Dialer{}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, inst.addr)
		},
		MaxIdleConnsPerHost: 64,
	}}
}

func dialVia(t *testing.T, inst *instance, key ed25519.PrivateKey) *hubclient.Client {
	t.Helper()
	c, err := hubclient.Dial(context.Background(), publicURL, key, via(inst))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newKey() ed25519.PrivateKey {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	return k
}

// watcher collects the changes a watch stream delivers.
type watcher struct {
	mu     sync.Mutex
	events []hubclient.Event
	ready  chan struct{}
	done   chan error
	stop   context.CancelFunc
}

func watch(t *testing.T, c *hubclient.Client, follows []hubclient.Follow, cursor string) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{ready: make(chan struct{}), done: make(chan error, 1), stop: cancel}
	go func() {
		w.done <- c.Watch(ctx, follows, cursor, func(ev hubclient.Event) error {
			if ev.Kind == "ready" {
				close(w.ready)
				return nil
			}
			w.mu.Lock()
			w.events = append(w.events, ev)
			w.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(cancel)
	select {
	case <-w.ready:
	case err := <-w.done:
		t.Fatalf("watch ended before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("watch not ready")
	}
	return w
}

func (w *watcher) seen() []hubclient.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]hubclient.Event(nil), w.events...)
}

func (w *watcher) paths() map[string]string {
	m := map[string]string{}
	for _, ev := range w.seen() {
		if ev.Kind == "change" {
			m[ev.Path] = ev.ETag
		}
	}
	return m
}

// TestInstancesShareOneBucket runs versitygw, a NATS server and two hubd
// instances on one bucket, as an operator behind a load balancer would,
// and checks from a user's seat that the two are one hub: a watcher on one
// instance hears of every write through the other and resumes its cursor
// on either; a revoke-all through one holds on the other; 32 racers on
// both get one winner; quotas count the other instance's writes; expired
// objects are gone from both; and when one instance is killed under write
// load, every acknowledged write is readable through the other, and its
// change reached the other's watchers.
func TestInstancesShareOneBucket(t *testing.T) {
	cl := newCluster(t)
	a, b := cl.start(t, "hub-a"), cl.start(t, "hub-b")
	ctx := context.Background()
	key := newKey()
	aliceA, aliceB := dialVia(t, a, key), dialVia(t, b, key)
	alice := aliceA.Address()

	t.Run("watch", func(t *testing.T) {
		w := watch(t, aliceA, []hubclient.Follow{{Address: alice, Prefix: "w/"}, {Address: alice, Prefix: "_inbox/"}}, "")
		want := map[string]string{}
		for i := range 20 {
			p := fmt.Sprintf("w/%02d", i)
			etag, err := aliceB.Put(ctx, p, []byte(p), "", hubclient.Cond{})
			if err != nil {
				t.Fatal(err)
			}
			want[p] = etag
		}
		bob := dialVia(t, b, nil)
		id, err := bob.InboxPost(ctx, alice, []byte("sealed request"))
		if err != nil {
			t.Fatal(err)
		}
		want["_inbox/"+id] = ""
		await.True(t, time.Minute, "the watcher on A to hear of 21 changes made through B", func() bool { return len(w.paths()) == len(want) })
		for p, etag := range want {
			if got, ok := w.paths()[p]; !ok || got != etag {
				t.Errorf("watcher on A: %s has etag %q (seen %v), want %q", p, got, ok, etag)
			}
		}
		seqs := w.seen()
		for i := 1; i < len(seqs); i++ {
			if seqs[i].Seq <= seqs[i-1].Seq {
				t.Fatalf("events out of order: %d after %d", seqs[i].Seq, seqs[i-1].Seq)
			}
		}
	})

	t.Run("resume on the other instance", func(t *testing.T) {
		w := watch(t, aliceA, []hubclient.Follow{{Address: alice, Prefix: "r/"}}, "")
		for i := range 5 {
			aliceB.Put(ctx, fmt.Sprintf("r/%d", i), []byte("x"), "", hubclient.Cond{})
		}
		await.True(t, time.Minute, "5 changes on A", func() bool { return len(w.seen()) == 5 })
		w.stop()
		<-w.done
		cursor := w.seen()[4].Cursor
		var missed []string
		for i := 5; i < 12; i++ { // while the watcher is away, through A
			p := fmt.Sprintf("r/%d", i)
			if _, err := aliceA.Put(ctx, p, []byte("x"), "", hubclient.Cond{}); err != nil {
				t.Fatal(err)
			}
			missed = append(missed, p)
		}
		w2 := watch(t, aliceB, []hubclient.Follow{{Address: alice, Prefix: "r/"}}, cursor)
		await.True(t, time.Minute, "the 7 missed changes on B", func() bool { return len(w2.seen()) >= len(missed) })
		var got []string
		for _, ev := range w2.seen() {
			if ev.Kind != "change" {
				t.Fatalf("resuming on B from A's cursor %s: %s event", cursor, ev.Kind)
			}
			got = append(got, ev.Path)
		}
		if strings.Join(got, " ") != strings.Join(missed, " ") {
			t.Fatalf("resumed on B with A's cursor: got %v, want exactly the missed %v", got, missed)
		}
	})

	t.Run("revoke-all through one holds on the other", func(t *testing.T) {
		old := "bearer " + auth.MakeNative(key, publicURL, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), nil)
		write := func(inst *instance, tok, path string) (int, string) {
			req, _ := http.NewRequest("POST", publicURL+"/store/"+alice+"/"+path, strings.NewReader("data"))
			req.Header.Set("Authorization", tok)
			res, err := via(inst).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			return res.StatusCode, string(body)
		}
		if code, body := write(b, old, "before"); code != 202 { // B has seen and cached this token
			t.Fatalf("old token before the revocation: %d %s", code, body)
		}
		req, _ := http.NewRequest("POST", publicURL+"/revoke-all/"+alice, strings.NewReader(`{"oldestValidTimestamp":`+strconv.FormatInt(time.Now().Unix(), 10)+`}`))
		req.Header.Set("Authorization", "bearer "+auth.MakeNative(key, publicURL, time.Now(), time.Now().Add(time.Hour), nil))
		res, err := via(a).Do(req)
		if err != nil || res.StatusCode != 202 {
			t.Fatalf("revoke-all through A: %v %v", res.StatusCode, err)
		}
		res.Body.Close()
		code, body := write(b, old, "after")
		if code != http.StatusUnauthorized || !strings.Contains(body, "AuthTokenTimestampValidationError") {
			t.Fatalf("the revoked token through B, right after A answered the revoke-all: %d %s (want 401 AuthTokenTimestampValidationError)", code, body)
		}
		// The owner's client makes a fresh token and goes on, on both.
		if _, err := aliceB.Put(ctx, "after", []byte("fresh"), "", hubclient.Cond{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("32 racers on two instances, one winner", func(t *testing.T) {
		racers := make([]*hubclient.Client, 32)
		for i := range racers {
			racers[i] = dialVia(t, []*instance{a, b}[i%2], key)
		}
		race := func(path string, cond func(i int) hubclient.Cond) (winner int) {
			var (
				wg   sync.WaitGroup
				wins atomic.Int32
				lost atomic.Int32
				mu   sync.Mutex
			)
			winner = -1
			start := make(chan struct{})
			for i, c := range racers {
				wg.Go(func() {
					<-start
					_, err := c.Put(ctx, path, []byte(fmt.Sprintf("racer %d", i)), "", cond(i))
					switch {
					case err == nil:
						wins.Add(1)
						mu.Lock()
						winner = i
						mu.Unlock()
					case errors.Is(err, hub.ErrPrecondition):
						lost.Add(1)
					default:
						t.Errorf("racer %d: %v", i, err)
					}
				})
			}
			close(start)
			wg.Wait()
			if wins.Load() != 1 || lost.Load() != 31 {
				t.Fatalf("%s: %d winners and %d refused with 412, want 1 and 31", path, wins.Load(), lost.Load())
			}
			for _, inst := range []*instance{a, b} {
				got, _, err := dialVia(t, inst, nil).Get(ctx, alice, path)
				if err != nil || string(got) != fmt.Sprintf("racer %d", winner) {
					t.Fatalf("%s through %s: %q %v, want the winner's", path, inst.url, got, err)
				}
			}
			return winner
		}
		race("race/create", func(int) hubclient.Cond { return hubclient.Cond{IfNoneMatch: true} })
		etag, err := aliceA.Put(ctx, "race/cas", []byte("v0"), "", hubclient.Cond{})
		if err != nil {
			t.Fatal(err)
		}
		race("race/cas", func(int) hubclient.Cond { return hubclient.Cond{IfMatch: etag} })
	})

	t.Run("quota counts the other instance's writes", func(t *testing.T) {
		qkey := newKey()
		qa, qb := dialVia(t, a, qkey), dialVia(t, b, qkey)
		w := watch(t, dialVia(t, b, nil), []hubclient.Follow{{Address: qa.Address()}}, "")
		if _, err := qb.Put(ctx, "small", []byte("x"), "", hubclient.Cond{}); err != nil { // B counts the address's usage now
			t.Fatal(err)
		}
		big := bytes.Repeat([]byte("q"), 40<<10)
		if _, err := qa.Put(ctx, "big-a", big, "", hubclient.Cond{}); err != nil {
			t.Fatal(err)
		}
		await.True(t, time.Minute, "B to hear of A's write", func() bool { _, ok := w.paths()["big-a"]; return ok })
		if _, err := qb.Put(ctx, "big-b", big, "", hubclient.Cond{}); !errors.Is(err, hub.ErrQuota) {
			t.Fatalf("40 KiB through B after 40 KiB through A, quota 64 KiB: %v, want hub.ErrQuota", err)
		}
	})

	t.Run("expired objects are gone from both", func(t *testing.T) {
		exp := strconv.FormatInt(time.Now().Add(2*time.Second).Unix(), 10)
		put := func(inst *instance, path, body, expires string) {
			req, _ := http.NewRequest("POST", publicURL+"/store/"+alice+"/"+path, strings.NewReader(body))
			req.Header.Set("Authorization", "bearer "+auth.MakeNative(key, publicURL, time.Now(), time.Now().Add(time.Hour), nil))
			if expires != "" {
				req.Header.Set("X-Parley-Expires", expires)
			}
			res, err := via(inst).Do(req)
			if err != nil || res.StatusCode != 202 {
				t.Fatalf("put %s: %v %v", path, err, res.StatusCode)
			}
			res.Body.Close()
		}
		w := watch(t, dialVia(t, b, nil), []hubclient.Follow{{Address: alice, Prefix: "x/"}}, "")
		put(a, "x/gone", "short-lived", exp)
		put(a, "x/again", "short-lived", exp)
		status := func(inst *instance, path string) int {
			res, err := via(inst).Get(publicURL + "/read/" + alice + "/" + path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		await.True(t, time.Minute, "x/gone and x/again to expire on both", func() bool {
			return status(a, "x/gone") == 404 && status(b, "x/gone") == 404 && status(b, "x/again") == 404
		})
		put(b, "x/again", "rewritten for good", "") // both instances sweep meanwhile
		await.True(t, time.Minute, "a sweeper to delete x/gone", func() bool {
			for _, ev := range w.seen() {
				if ev.Path == "x/gone" && ev.Op == "delete" {
					return true
				}
			}
			return false
		})
		for _, inst := range []*instance{a, b} {
			got, _, err := dialVia(t, inst, nil).Get(ctx, alice, "x/again")
			if err != nil || string(got) != "rewritten for good" {
				t.Fatalf("x/again rewritten after it expired, through %s: %q %v", inst.url, got, err)
			}
		}
	})

	t.Run("one instance killed under write load", func(t *testing.T) {
		c := cl.start(t, "hub-c")
		w := watch(t, dialVia(t, b, nil), []hubclient.Follow{{Address: alice, Prefix: "k/"}}, "")
		writer := dialVia(t, c, key)
		var (
			mu    sync.Mutex
			acked = map[string]string{} // path → content
			wg    sync.WaitGroup
		)
		for wr := range 8 {
			wg.Go(func() {
				for i := 0; ; i++ {
					p := fmt.Sprintf("k/%d/%d", wr, i)
					data := make([]byte, 512+i%3000)
					rand.Read(data)
					if _, err := writer.Put(ctx, p, data, "", hubclient.Cond{}); err != nil {
						return // the instance is gone
					}
					mu.Lock()
					acked[p] = string(data)
					mu.Unlock()
				}
			})
		}
		await.True(t, time.Minute, "100 acknowledged writes through C", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) >= 100
		})
		c.cmd.Process.Signal(syscall.SIGKILL)
		<-c.done
		wg.Wait()
		reader := dialVia(t, b, nil)
		for p, data := range acked {
			got, _, err := reader.Get(ctx, alice, p)
			if err != nil || string(got) != data {
				t.Fatalf("acknowledged write %s through the killed instance, read through B: %d bytes, %v", p, len(got), err)
			}
		}
		await.True(t, time.Minute, "B's watcher to have heard of every acknowledged write", func() bool {
			seen := w.paths()
			for p := range acked {
				if _, ok := seen[p]; !ok {
					return false
				}
			}
			return true
		})
		t.Logf("%d acknowledged writes through the killed instance, all readable and announced through B", len(acked))
	})
}
