// Package drivertest is the conformance suite every hub.Driver must pass:
// call Run from the driver's own tests.
package drivertest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/parley-im/parley/hub"
)

// Run runs the suite; newDriver returns a fresh, empty driver each call.
func Run(t *testing.T, newDriver func(t *testing.T) hub.Driver) {
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
		t.Run(tc.name, func(t *testing.T) { tc.f(t, newDriver(t)) })
	}
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
