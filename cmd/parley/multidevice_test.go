package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/internal/await"
)

// linkHome makes the home laptop (initialized, with keys of its own) a
// device of name, approved by the device of the home approver, on the
// chain at rpc, with the library: an offer signed by the laptop's key, a
// device-add signed by the approver's; then the laptop's config names
// name and its hub. (The commands that do this from a terminal, 'parley
// link' and 'parley devices add', are another change's.) It returns the
// laptop's device key.
func linkHome(t *testing.T, rpc, approver, laptop, name, hub, label string) bns.PublicKey {
	t.Helper()
	ctx := context.Background()
	pass := []byte(os.Getenv("PARLEY_PASSPHRASE"))
	newID, err := keystore.Load(filepath.Join(laptop, "keystore"), pass)
	if err != nil {
		t.Fatal(err)
	}
	oldID, err := keystore.Load(filepath.Join(approver, "keystore"), pass)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := lookup.New(ctx, lookup.Config{ChainID: "cli-test", Primary: rpc, MaxAge: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	p, err := newID.Profile([]string{hub})
	if err != nil {
		t.Fatal(err)
	}
	code, _, err := dir.OfferDevice(ctx, newID.SigningKey(), bns.Device{SigningKey: p.SigningKey, EncKeys: p.EncKeys, Label: label})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddDevice(ctx, oldID.SigningKey(), name, code); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(laptop, "config.json")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["name"], cfg["hub"] = name, hub
	if b, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p.SigningKey
}

// TestTwoDevicesFromTheCLI: alice on her phone (first device) and on a
// laptop linked to her name, bob on one device, each a home run by the
// real command tree against a real chain node and hubs. Bob's message
// reaches both of alice's devices; what the laptop sends reaches bob as
// alice's and shows on the phone as alice's own; once the phone removes
// the laptop, bob's next message reaches the phone only, and what the
// laptop writes after its removal never shows at bob's.
func TestTwoDevicesFromTheCLI(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	phone, laptop, bob := filepath.Join(t.TempDir(), "phone"), filepath.Join(t.TempDir(), "laptop"), filepath.Join(t.TempDir(), "bob")
	for _, h := range []string{phone, laptop, bob} {
		initHome(t, rpc, h)
	}
	parley(t, "--home", phone, "register", "alice", "--hub", hubs[0])
	parley(t, "--home", bob, "register", "bob", "--hub", hubs[1])
	awaitName(t, phone, "bob")
	awaitName(t, bob, "alice")
	befriend(t, map[string]string{"alice": phone, "bob": bob}, "alice", "bob")

	laptopKey := linkHome(t, rpc, phone, laptop, "alice", hubs[0], "laptop")
	awaitName(t, bob, "alice", "device-add")
	if out := parley(t, "--home", laptop, "contacts", "add", "bob"); !strings.Contains(out, "bob is a contact on this device too") {
		t.Fatalf("contacts add bob on the laptop: %s", out)
	}

	parley(t, "--home", bob, "send", "alice", "hello, both of you")
	for _, h := range []string{phone, laptop} {
		if out := parley(t, "--home", h, "read", "bob"); !strings.Contains(out, "bob: hello, both of you") {
			t.Fatalf("%s reads bob:\n%s", filepath.Base(h), out)
		}
	}

	parley(t, "--home", laptop, "send", "bob", "from the laptop")
	if out := parley(t, "--home", bob, "read", "alice"); !strings.Contains(out, "alice: from the laptop") {
		t.Fatalf("bob reads alice:\n%s", out)
	}
	if out := parley(t, "--home", phone, "read", "bob"); !strings.Contains(out, "from the laptop") {
		t.Fatalf("the phone does not show what the laptop sent:\n%s", out)
	}

	// The phone's owner removes the laptop (the library, as above).
	ctx := context.Background()
	dir, err := lookup.New(ctx, lookup.Config{ChainID: "cli-test", Primary: rpc, MaxAge: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	phoneID, err := keystore.Load(filepath.Join(phone, "keystore"), []byte("a test passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.RemoveDevice(ctx, phoneID.SigningKey(), "alice", laptopKey); err != nil {
		t.Fatal(err)
	}
	awaitName(t, bob, "alice", "device-remove")
	parley(t, "--home", bob, "send", "alice", "only the phone now")
	if out := parley(t, "--home", phone, "read", "bob"); !strings.Contains(out, "bob: only the phone now") {
		t.Fatalf("the phone reads bob:\n%s", out)
	}
	if _, out, errs := try(laptop, "read", "bob"); strings.Contains(out, "only the phone now") {
		t.Fatalf("the removed laptop reads what bob sent after its removal:\n%s%s", out, errs)
	}
	try(laptop, "send", "bob", "still here") // it may go to its hub; bob's device must not show it
	parley(t, "--home", phone, "send", "bob", "the phone again")
	await.NoError(t, 2*time.Minute, "bob to read the phone's message", func() error {
		out := parley(t, "--home", bob, "read", "alice")
		if strings.Contains(out, "still here") {
			t.Fatalf("bob shows what the removed laptop sent:\n%s", out)
		}
		if !strings.Contains(out, "alice: the phone again") {
			return os.ErrNotExist
		}
		return nil
	})
}
