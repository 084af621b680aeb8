package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
)

// store/testdata/state-v1 is a home's state file and history log written by the
// client before it was split into parts (record_state_test.go recorded
// it), with the identity that opens it.
const fixturePassphrase = "the fixture's passphrase"

// fixtureMeta is store/testdata/state-v1/fixture.json.
type fixtureMeta struct {
	Name  string `json:"name"`
	Hub   string `json:"hub"`   // the user's first hub
	Group string `json:"group"` // the ID of the group "team"
	File  string `json:"file"`  // the base name of the file whose upload was interrupted
}

// openFixture opens a copy of store/testdata/state-v1 with the chain down.
func openFixture(t *testing.T) (*client.Client, fixtureMeta) {
	t.Helper()
	src := filepath.Join("store", "testdata", "state-v1")
	var meta fixtureMeta
	b, err := os.ReadFile(filepath.Join(src, "fixture.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	id, err := keystore.Load(filepath.Join(src, "keystore"), []byte(fixturePassphrase))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(src, "state*"))
	if len(files) < 2 {
		t.Fatalf("the fixture holds %v: a state file and its history log are expected", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.Open(context.Background(), meta.Name, id, unreachableChain{}, meta.Hub, filepath.Join(dir, "state"))
	if err != nil {
		t.Fatalf("opening the recorded state: %v", err)
	}
	return c, meta
}

// TestRecordedStateV1: a home written by the client before its split
// opens, with everything it held: contacts, blocks, key changes, the
// queued request, the conversation's history (edits, reactions,
// deletions, a timer), the group, the settings, what waits to go out.
func TestRecordedStateV1(t *testing.T) {
	c, meta := openFixture(t)
	ctx := context.Background()
	if got, want := c.Contacts(), []string{"bob", "carol", "dave", "erin", "frank"}; !slices.Equal(got, want) {
		t.Errorf("contacts %v, want %v", got, want)
	}
	if got := c.Blocked(); !slices.Equal(got, []string{"dave"}) {
		t.Errorf("blocked %v, want [dave]", got)
	}
	if !c.Verified("bob") || c.Verified("carol") {
		t.Errorf("verified: bob %v, carol %v; want bob only", c.Verified("bob"), c.Verified("carol"))
	}
	if c.ReadReceipts() {
		t.Error("read receipts are on; the fixture turned them off")
	}
	if !client.BackupOn(c) {
		t.Error("backup is off; the fixture turned it on")
	}
	if p := c.MyProfile(); p.DisplayName != "Alice A." || p.Status != "recording" {
		t.Errorf("own profile %+v", p)
	}
	if p, err := c.ContactProfile(ctx, "bob"); err != nil || p.DisplayName != "Bob B." {
		t.Errorf("bob's profile as last read: %+v, %v", p, err)
	}
	if got := c.Hubs(); len(got) != 2 || got[0] != meta.Hub {
		t.Errorf("hubs %v, want two, %s first", got, meta.Hub)
	}
	if a := c.Asking(ctx, "erin"); a != client.RequestQueued {
		t.Errorf("the request to erin: %v, want RequestQueued", a)
	}
	var kc *client.KeyChange
	if _, err := c.Receive(ctx, client.ContactConv("frank")); !errors.As(err, &kc) || kc.Name != "frank" {
		t.Errorf("frank's conversation, closed by a key change: %v", err)
	}
	if r, err := c.ReceiptFrom(ctx, "bob"); err != nil || r.Delivered == 0 {
		t.Errorf("bob's receipt as last read: %+v, %v", r, err)
	}

	// The conversation with bob, as it stood.
	var lines []string
	for _, m := range c.Conversation(client.ContactConv("bob")) {
		s := m.From + ":" + m.Kind + ":" + m.Text
		if m.Deleted {
			s = m.From + ":(deleted)"
		}
		if m.Edited {
			s += "*"
		}
		if m.Ref != nil {
			s += "@" + m.Ref.String()
		}
		for _, who := range []string{"alice", "bob"} {
			if e := m.Reactions[who]; e != "" {
				s += "+" + who + e
			}
		}
		if m.TTL > 0 || !m.Expires.IsZero() {
			s += "(timed)"
		}
		lines = append(lines, s)
	}
	want := []string{
		"alice:text:hi bob",
		"bob:text:hello alice+alice👋",
		"alice:(deleted)", // edited, then deleted while the first hub was down
		"alice:text:glad@bob/0",
		"alice:(deleted)",
		"alice:timer:(timed)",
		"alice:text:this disappears(timed)",
		"alice:text:while my first hub is down(timed)",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("the conversation with bob:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if n := c.Unread(client.ContactConv("bob")); n != 0 {
		t.Errorf("%d unread from bob, want 0", n)
	}

	// The group.
	gs := c.Groups()
	if len(gs) != 1 || gs[0].ID != meta.Group || gs[0].Name != "team" || !slices.Equal(gs[0].Members, []string{"alice", "bob", "carol"}) || gs[0].Gone {
		t.Fatalf("groups %+v", gs)
	}
	if !client.HasGroupKeys(c, meta.Group) {
		t.Error("the group's keys are missing")
	}
	var group []string
	for _, m := range c.Conversation(client.GroupConv(meta.Group)) {
		if m.Kind != client.KindNotice {
			s := m.From + ":" + m.Text
			for _, who := range []string{"alice", "bob", "carol"} {
				if e := m.Reactions[who]; e != "" {
					s += "+" + who + e
				}
			}
			group = append(group, s)
		}
	}
	if got, want := strings.Join(group, "|"), "alice:welcome+carol🎉|bob:thanks"; got != want {
		t.Errorf("the group's messages: %s, want %s", got, want)
	}

	// What waits to go out: the message the first hub lacks, the
	// deletion, and the file's chunks on one hub.
	st := c.Status(ctx)
	if st.Contacts != 5 || st.Blocked != 1 || st.Groups != 1 || !st.Backup || st.ReadReceipts || st.Deletions == 0 {
		t.Errorf("status %+v", st)
	}
	if len(st.Hubs) != 2 || st.Hubs[0].URL != meta.Hub || st.Hubs[0].Waiting == 0 || st.Hubs[1].Waiting != 0 {
		t.Errorf("waiting per hub: %+v", st.Hubs)
	}
}
