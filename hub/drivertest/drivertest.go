// Package drivertest is the conformance suite every hub.Driver must pass:
// call Run from the driver's own tests.
//
// It owns the Driver contract's tests; it must not know any one driver,
// and is for tests only.
package drivertest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/hub"
)

// Clock is a settable clock for a driver under test.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set sets the clock.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Run runs the suite; newDriver returns a fresh, empty driver each call,
// whose clock is now.
func Run(t *testing.T, newDriver func(t *testing.T, now func() time.Time) hub.Driver) {
	for _, tc := range []struct {
		name string
		f    func(t *testing.T, d hub.Driver)
	}{
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"Conditions", testConditions},
		{"Delete", testDelete},
		{"List", testList},
		{"NestedNames", testNested},
		{"OddNames", testOddNames},
		{"LargeBlob", testLarge},
		{"FailedWriteKeepsOld", testFailedWrite},
		{"ConcurrentCreate", testConcurrentCreate},
		{"ConcurrentCompareAndSwap", testConcurrentCAS},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, newDriver(t, time.Now)) })
	}
	t.Run("Expiry", func(t *testing.T) {
		clk := &Clock{now: time.Now().Truncate(time.Second)}
		testExpiry(t, newDriver(t, clk.Now), clk)
	})
	t.Run("ExpiryOverwritten", func(t *testing.T) {
		clk := &Clock{now: time.Now().Truncate(time.Second)}
		testExpiryOverwritten(t, newDriver(t, clk.Now), clk)
	})
}

var ctx = context.Background()

const addr = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"

func etag(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func put(t *testing.T, d hub.Driver, path string, data []byte, opt hub.PutOptions) *hub.Object {
	t.Helper()
	obj, err := d.Put(ctx, addr, path, bytes.NewReader(data), opt)
	if err != nil {
		t.Fatalf("put %s: %v", path, err)
	}
	return obj
}

func get(t *testing.T, d hub.Driver, path string) (*hub.Object, []byte) {
	t.Helper()
	obj, rc, err := d.Get(ctx, addr, path)
	if err != nil {
		t.Fatalf("get %s: %v", path, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return obj, b
}

func testPutGet(t *testing.T, d hub.Driver) {
	data := []byte("hello, hub")
	obj := put(t, d, "dir/file.txt", data, hub.PutOptions{ContentType: "text/plain"})
	if obj.ETag != etag(data) || obj.Size != int64(len(data)) || obj.Path != "dir/file.txt" {
		t.Fatalf("put returned %+v", obj)
	}
	got, b := get(t, d, "dir/file.txt")
	if !bytes.Equal(b, data) || got.ETag != obj.ETag || got.ContentType != "text/plain" || got.Size != obj.Size {
		t.Fatalf("get returned %+v %q", got, b)
	}
	if st, err := d.Stat(ctx, addr, "dir/file.txt"); err != nil || st.ETag != obj.ETag || st.Modified.IsZero() {
		t.Fatalf("stat: %+v %v", st, err)
	}
	if _, _, err := d.Get(ctx, addr, "missing"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	if _, err := d.Stat(ctx, "1OtherAddress", "dir/file.txt"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("another address sees the object: %v", err)
	}
	put(t, d, "empty", nil, hub.PutOptions{})
	if obj, b := get(t, d, "empty"); len(b) != 0 || obj.Size != 0 || obj.ETag != etag(nil) {
		t.Fatalf("empty object: %+v", obj)
	}
}

func testOverwrite(t *testing.T, d hub.Driver) {
	put(t, d, "f", []byte("one"), hub.PutOptions{ContentType: "a/b"})
	put(t, d, "f", []byte("two!"), hub.PutOptions{ContentType: "c/d"})
	obj, b := get(t, d, "f")
	if string(b) != "two!" || obj.ContentType != "c/d" || obj.ETag != etag([]byte("two!")) {
		t.Fatalf("after overwrite: %+v %q", obj, b)
	}
}

func testConditions(t *testing.T, d hub.Driver) {
	first := put(t, d, "c", []byte("v1"), hub.PutOptions{IfNoneMatch: true})
	if _, err := d.Put(ctx, addr, "c", strings.NewReader("v2"), hub.PutOptions{IfNoneMatch: true}); !errors.Is(err, hub.ErrPrecondition) {
		t.Fatalf("If-None-Match on an existing object: %v", err)
	}
	if _, err := d.Put(ctx, addr, "c", strings.NewReader("v2"), hub.PutOptions{IfMatch: "0123"}); !errors.Is(err, hub.ErrPrecondition) {
		t.Fatalf("If-Match with a wrong ETag: %v", err)
	}
	if _, err := d.Put(ctx, addr, "missing", strings.NewReader("v2"), hub.PutOptions{IfMatch: first.ETag}); !errors.Is(err, hub.ErrPrecondition) {
		t.Fatalf("If-Match on a missing object: %v", err)
	}
	if _, b := get(t, d, "c"); string(b) != "v1" {
		t.Fatalf("a refused write changed the object: %q", b)
	}
	if _, err := d.Stat(ctx, addr, "missing"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("a refused write created an object: %v", err)
	}
	second := put(t, d, "c", []byte("v2"), hub.PutOptions{IfMatch: first.ETag})
	if second.ETag == first.ETag {
		t.Fatal("ETag did not change")
	}
	put(t, d, "c", []byte("v3"), hub.PutOptions{IfMatch: "*"})
}

func testDelete(t *testing.T, d hub.Driver) {
	obj := put(t, d, "x/y", []byte("data"), hub.PutOptions{})
	if err := d.Delete(ctx, addr, "x/y", hub.DeleteOptions{IfMatch: "bad"}); !errors.Is(err, hub.ErrPrecondition) {
		t.Fatalf("delete with a wrong ETag: %v", err)
	}
	if err := d.Delete(ctx, addr, "x/y", hub.DeleteOptions{IfMatch: obj.ETag}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stat(ctx, addr, "x/y"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("deleted object still there: %v", err)
	}
	if err := d.Delete(ctx, addr, "x/y", hub.DeleteOptions{}); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("delete of a missing object: %v", err)
	}
	put(t, d, "x/y", []byte("again"), hub.PutOptions{IfNoneMatch: true})
}

func testList(t *testing.T, d hub.Driver) {
	if objs, more, err := d.List(ctx, addr, "", "", 10); err != nil || len(objs) != 0 || more {
		t.Fatalf("empty bucket: %v %v %v", objs, more, err)
	}
	var want []string
	for i := 0; i < 25; i++ {
		p := fmt.Sprintf("p/%02d.json", i)
		want = append(want, p)
		put(t, d, p, []byte(p), hub.PutOptions{ContentType: "application/json"})
	}
	put(t, d, "q/other", []byte("x"), hub.PutOptions{})
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		objs, more, err := d.List(ctx, addr, "p/", after, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.ETag != etag([]byte(o.Path)) || o.Size != int64(len(o.Path)) || o.ContentType != "application/json" {
				t.Fatalf("list entry %+v", o)
			}
			got = append(got, o.Path)
			after = o.Path
		}
		if !more {
			break
		}
		if pages > 5 {
			t.Fatal("listing does not end")
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("listed %v, want %v", got, want)
	}
	all, _, _ := d.List(ctx, addr, "", "", 100)
	if len(all) != 26 {
		t.Fatalf("full listing has %d entries", len(all))
	}
	if objs, _, _ := d.List(ctx, "1OtherAddress", "", "", 100); len(objs) != 0 {
		t.Fatalf("another address lists %d objects", len(objs))
	}
}

func testNested(t *testing.T, d hub.Driver) {
	put(t, d, "a", []byte("file a"), hub.PutOptions{})
	put(t, d, "a/b", []byte("file a/b"), hub.PutOptions{})
	put(t, d, "a/b/c", []byte("file a/b/c"), hub.PutOptions{})
	for _, p := range []string{"a", "a/b", "a/b/c"} {
		if _, b := get(t, d, p); string(b) != "file "+p {
			t.Fatalf("%s = %q", p, b)
		}
	}
	objs, _, _ := d.List(ctx, addr, "", "", 10)
	if len(objs) != 3 || objs[0].Path != "a" || objs[2].Path != "a/b/c" {
		t.Fatalf("list = %+v", objs)
	}
}

func testOddNames(t *testing.T, d hub.Driver) {
	names := []string{"with space.txt", "per%cent", "%2E%2E", "ünïcødé/文件", ".hidden", "a.o", "a.o/x", "~tilde", "q?x=1#frag", strings.Repeat("n", hub.MaxSegmentLen)}
	for _, n := range names {
		if err := hub.ValidatePath(n); err != nil {
			t.Fatalf("test name %q invalid: %v", n, err)
		}
		put(t, d, n, []byte(n), hub.PutOptions{})
	}
	for _, n := range names {
		if _, b := get(t, d, n); string(b) != n {
			t.Fatalf("%q = %q", n, b)
		}
	}
	objs, _, _ := d.List(ctx, addr, "", "", 100)
	if len(objs) != len(names) {
		t.Fatalf("listed %d of %d odd names", len(objs), len(names))
	}
}

func testLarge(t *testing.T, d hub.Driver) {
	data := make([]byte, 8<<20+17)
	for i := range data {
		data[i] = byte(i * 7)
	}
	obj := put(t, d, "big.bin", data, hub.PutOptions{})
	got, b := get(t, d, "big.bin")
	if !bytes.Equal(b, data) || got.Size != int64(len(data)) || obj.ETag != etag(data) {
		t.Fatal("large blob differs")
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("client went away")
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

func testFailedWrite(t *testing.T, d hub.Driver) {
	put(t, d, "f", []byte("old"), hub.PutOptions{})
	if _, err := d.Put(ctx, addr, "f", &failingReader{n: 1 << 16}, hub.PutOptions{}); err == nil {
		t.Fatal("a write whose body failed succeeded")
	}
	if _, b := get(t, d, "f"); string(b) != "old" {
		t.Fatalf("a failed write changed the object: %d bytes", len(b))
	}
	if _, err := d.Put(ctx, addr, "g", &failingReader{n: 10}, hub.PutOptions{}); err == nil {
		t.Fatal("a failed write succeeded")
	}
	if _, err := d.Stat(ctx, addr, "g"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("a failed write left an object: %v", err)
	}
	if objs, _, _ := d.List(ctx, addr, "", "", 10); len(objs) != 1 {
		t.Fatalf("after failed writes the bucket lists %d objects", len(objs))
	}
}

func testConcurrentCreate(t *testing.T, d hub.Driver) {
	const n = 16
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := d.Put(ctx, addr, "race", strings.NewReader(fmt.Sprint("writer ", i)), hub.PutOptions{IfNoneMatch: true})
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, hub.ErrPrecondition):
				t.Errorf("writer %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d writers created the object, want exactly 1", wins.Load())
	}
}

// testConcurrentCAS: writers increment a counter with If-Match; no update
// is lost.
func testConcurrentCAS(t *testing.T, d hub.Driver) {
	put(t, d, "counter", []byte("0"), hub.PutOptions{})
	const writers, each = 8, 10
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < each; {
				obj, rc, err := d.Get(ctx, addr, "counter")
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(rc)
				rc.Close()
				var v int
				fmt.Sscan(string(b), &v)
				_, err = d.Put(ctx, addr, "counter", strings.NewReader(fmt.Sprint(v+1)), hub.PutOptions{IfMatch: obj.ETag})
				if err == nil {
					done++
				} else if !errors.Is(err, hub.ErrPrecondition) {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if _, b := get(t, d, "counter"); string(b) != fmt.Sprint(writers*each) {
		t.Fatalf("counter = %s, want %d", b, writers*each)
	}
}

// sweep runs d's sweeper and returns the paths it reports gone.
func sweep(t *testing.T, d hub.Driver) []string {
	t.Helper()
	var gone []string
	if err := d.Sweep(ctx, func(address string, obj hub.Object) {
		if address != addr {
			t.Errorf("swept %s of another address %s", obj.Path, address)
		}
		gone = append(gone, obj.Path)
	}); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	slices.Sort(gone)
	return gone
}

// testExpiry: an object written with an expiry is served until then;
// from then on it is gone for Get, Stat, List, Delete and conditions, and
// the sweeper deletes it for good (setting the clock back does not bring
// it back), reporting it once. Objects without expiry, or expiring later,
// stay.
func testExpiry(t *testing.T, d hub.Driver, clk *Clock) {
	start := clk.Now()
	soon, later := start.Add(90*time.Second), start.Add(time.Hour)
	obj := put(t, d, "m/soon", []byte("disappearing"), hub.PutOptions{Expires: soon})
	if !obj.Expires.Equal(soon) {
		t.Fatalf("put returned expiry %v, want %v", obj.Expires, soon)
	}
	put(t, d, "m/later", []byte("later"), hub.PutOptions{Expires: later})
	put(t, d, "m/kept", []byte("kept"), hub.PutOptions{})
	put(t, d, "m/nested/soon", []byte("nested"), hub.PutOptions{Expires: soon})
	if got, b := get(t, d, "m/soon"); string(b) != "disappearing" || !got.Expires.Equal(soon) {
		t.Fatalf("before expiry: %+v %q", got, b)
	}
	if st, err := d.Stat(ctx, addr, "m/soon"); err != nil || !st.Expires.Equal(soon) {
		t.Fatalf("stat before expiry: %+v %v", st, err)
	}
	if objs, _, _ := d.List(ctx, addr, "m/", "", 10); len(objs) != 4 || objs[3].Path != "m/soon" || !objs[3].Expires.Equal(soon) {
		t.Fatalf("list before expiry: %+v", objs)
	}
	if gone := sweep(t, d); len(gone) != 0 {
		t.Fatalf("sweep before expiry deleted %v", gone)
	}

	clk.Set(soon) // expired at its expiry time
	for _, p := range []string{"m/soon", "m/nested/soon"} {
		if _, _, err := d.Get(ctx, addr, p); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("get of expired %s: %v", p, err)
		}
		if _, err := d.Stat(ctx, addr, p); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("stat of expired %s: %v", p, err)
		}
	}
	objs, _, err := d.List(ctx, addr, "", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, o := range objs {
		listed = append(listed, o.Path)
	}
	if strings.Join(listed, ",") != "m/kept,m/later" {
		t.Fatalf("list after expiry: %v", listed)
	}
	if err := d.Delete(ctx, addr, "m/nested/soon", hub.DeleteOptions{}); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("delete of an expired object: %v", err)
	}
	if _, err := d.Put(ctx, addr, "m/soon", strings.NewReader("x"), hub.PutOptions{IfMatch: obj.ETag}); !errors.Is(err, hub.ErrPrecondition) {
		t.Fatalf("If-Match of an expired object: %v", err)
	}

	if gone := sweep(t, d); strings.Join(gone, ",") != "m/nested/soon,m/soon" {
		t.Fatalf("sweep reported %v", gone)
	}
	if gone := sweep(t, d); len(gone) != 0 {
		t.Fatalf("second sweep reported %v", gone)
	}
	clk.Set(start) // deleted, not hidden
	for _, p := range []string{"m/soon", "m/nested/soon"} {
		if _, err := d.Stat(ctx, addr, p); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("swept %s is back when the clock is set back: %v", p, err)
		}
	}
	if _, b := get(t, d, "m/later"); string(b) != "later" {
		t.Fatalf("m/later = %q", b)
	}
	clk.Set(later.Add(time.Hour))
	if gone := sweep(t, d); strings.Join(gone, ",") != "m/later" {
		t.Fatalf("sweep an hour later reported %v", gone)
	}
	if _, b := get(t, d, "m/kept"); string(b) != "kept" {
		t.Fatalf("an object without expiry: %q", b)
	}
}

// testExpiryOverwritten: an object overwritten before its expiry takes
// the new write's expiry (or none), and the sweeper leaves it alone; one
// recreated after its expiry with If-None-Match is a new object.
func testExpiryOverwritten(t *testing.T, d hub.Driver, clk *Clock) {
	start := clk.Now()
	put(t, d, "a", []byte("v1"), hub.PutOptions{Expires: start.Add(time.Minute)})
	put(t, d, "a", []byte("v2"), hub.PutOptions{}) // expiry dropped
	put(t, d, "b", []byte("v1"), hub.PutOptions{Expires: start.Add(time.Minute)})
	put(t, d, "b", []byte("v2"), hub.PutOptions{Expires: start.Add(time.Hour)}) // extended
	put(t, d, "c", []byte("v1"), hub.PutOptions{Expires: start.Add(time.Minute)})
	clk.Set(start.Add(2 * time.Minute))
	put(t, d, "c", []byte("v2"), hub.PutOptions{IfNoneMatch: true}) // the expired one counts as absent
	if gone := sweep(t, d); len(gone) != 0 {
		t.Fatalf("sweep deleted overwritten objects %v", gone)
	}
	for _, p := range []string{"a", "b", "c"} {
		if obj, b := get(t, d, p); string(b) != "v2" {
			t.Fatalf("%s = %q (%+v)", p, b, obj)
		}
	}
	clk.Set(start.Add(2 * time.Hour))
	if gone := sweep(t, d); strings.Join(gone, ",") != "b" {
		t.Fatalf("sweep reported %v", gone)
	}
}
