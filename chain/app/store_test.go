package app

import (
	"context"
	"fmt"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
)

// countingReader is a parent state that counts its reads.
type countingReader struct {
	values map[string][]byte
	gets   map[string]int
}

func (r *countingReader) Get(key []byte) ([]byte, error) {
	r.gets[string(key)]++
	return r.values[string(key)], nil
}

func (r *countingReader) Set(key, value []byte) (bool, error) {
	r.values[string(key)] = value
	return true, nil
}

func (r *countingReader) Remove(key []byte) ([]byte, bool, error) {
	delete(r.values, string(key))
	return nil, true, nil
}

func TestOverlayReadsTheParentOnce(t *testing.T) {
	parent := &countingReader{values: map[string][]byte{"a": []byte("1")}, gets: map[string]int{}}
	o := newOverlay(parent)
	for range 3 {
		if got := o.get([]byte("a")); string(got) != "1" {
			t.Fatalf("get a = %q, want 1", got)
		}
		if got := o.get([]byte("b")); got != nil {
			t.Fatalf("get b = %q, want nothing", got)
		}
	}
	if parent.gets["a"] != 1 || parent.gets["b"] != 1 {
		t.Fatalf("parent read a %d and b %d times, want once each", parent.gets["a"], parent.gets["b"])
	}
	o.set([]byte("a"), []byte("2"))
	o.delete([]byte("c"))
	o.set([]byte("b"), []byte("3"))
	for key, want := range map[string]string{"a": "2", "b": "3", "c": ""} {
		if got := o.get([]byte(key)); string(got) != want {
			t.Errorf("staged %s = %q, want %q", key, got, want)
		}
	}
	if err := o.flush(parent); err != nil {
		t.Fatal(err)
	}
	// After a flush the parent has changed: what the overlay read before
	// is stale and must be read again.
	parent.values["a"] = []byte("4")
	if got := o.get([]byte("a")); string(got) != "4" {
		t.Fatalf("get a after flush = %q, want the parent's 4", got)
	}
}

func TestOverlayReadsAreBounded(t *testing.T) {
	parent := &countingReader{values: map[string][]byte{}, gets: map[string]int{}}
	for i := range maxOverlayReads + 10 {
		parent.values[fmt.Sprint(i)] = []byte(fmt.Sprint("v", i))
	}
	o := newOverlay(parent)
	for range 2 {
		for i := range maxOverlayReads + 10 {
			if got, want := string(o.get([]byte(fmt.Sprint(i)))), fmt.Sprint("v", i); got != want {
				t.Fatalf("get %d = %q, want %q", i, got, want)
			}
		}
	}
	if len(o.reads) != maxOverlayReads {
		t.Fatalf("overlay keeps %d values, want at most %d", len(o.reads), maxOverlayReads)
	}
}

// TestRegistrationReadsEachKeyOnce: CheckTx and the block's execution each
// read a registration's account, preorder and record from the tree once,
// though validation and application read them again.
func TestRegistrationReadsEachKeyOnce(t *testing.T) {
	const n = 20
	c := newChain(t, "")
	var accts []*account
	var pre, reg [][]byte
	for i := range n {
		a := newAccount(fmt.Sprint("reads-", i))
		accts = append(accts, a)
		pre = append(pre, a.preorder(fmt.Sprint("reads", i)))
	}
	c.ok(pre...)
	c.age()
	for i, a := range accts {
		reg = append(reg, c.register(a, fmt.Sprint("reads", i)))
	}
	for _, tx := range reg {
		if res, _ := c.app.CheckTx(context.Background(), &abci.RequestCheckTx{Tx: tx}); res.Code != 0 {
			t.Fatal(res.Log)
		}
	}
	if got, want := c.app.check.parentReads, 3*n; got != want {
		t.Errorf("CheckTx of %d registrations read the tree %d times, want %d", n, got, want)
	}
	c.app.mu.Lock()
	x := c.app.execute(c.height+1, reg)
	c.app.mu.Unlock()
	for i, r := range x.results {
		if r.Code != 0 {
			t.Fatalf("registration %d: %s", i, r.Log)
		}
	}
	// The block's maintenance reads nothing at this height (no preorder has
	// expired, no pruning check is due).
	if got, want := x.st.parentReads, 3*n; got != want {
		t.Errorf("executing %d registrations read the tree %d times, want %d", n, got, want)
	}
}
