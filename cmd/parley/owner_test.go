package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/hub/server/hubtest"
	"github.com/parley-im/parley/internal/await"
)

// chainClient is a light client of the test chain at rpc, for checking
// what the chain holds from outside the CLI.
func chainClient(t *testing.T, rpc string) *lookup.Client {
	t.Helper()
	d := await.Value(t, 2*time.Minute, "a light client of the chain", func() (*lookup.Client, error) {
		return lookup.New(context.Background(), lookup.Config{ChainID: "cli-test", Primary: rpc, MaxAge: time.Nanosecond})
	})
	t.Cleanup(func() { d.Close() })
	return d
}

// awaitRecord waits until the verified record of name satisfies ok
// (a change the CLI made is seen a block or so later) and returns it.
func awaitRecord(t *testing.T, d *lookup.Client, name, what string, ok func(*bns.Record) bool) *bns.Record {
	t.Helper()
	return await.Value(t, 2*time.Minute, what+" on the chain", func() (*bns.Record, error) {
		rec, err := d.Lookup(context.Background(), name)
		if err == nil && !ok(rec) {
			err = errors.New("not yet: the record's latest change is " + rec.Op.String())
		}
		return rec, err
	})
}

// tryAsking runs the CLI in home with ask answering its prompts.
func tryAsking(home string, ask func(prompt string) ([]byte, error), args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = runWith(context.Background(), testRunAsking(ask), append([]string{"--home", home}, args...), nil, &out, &errb)
	return code, out.String(), errb.String()
}

// TestStolenDeviceCannotTakeTheName: a thief holds alice's first device
// (the one that ran init and register) and its passphrase, but not her
// recovery phrase. Whatever the keystore opens to, the thief cannot
// transfer the name to a key of theirs, and 'parley name revoke' and
// 'name transfer' there ask for the phrase and do nothing without it,
// or with a phrase of the thief's: alice's name stays hers, so her
// phrase can still take it back.
func TestStolenDeviceCannotTakeTheName(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	t.Setenv(phraseEnv, "")
	alice := filepath.Join(t.TempDir(), "alice")
	phrase := initWithPhrase(t, rpc, alice)
	if out := parley(t, "--home", alice, "register", "alice", "--hub", hubs[0]); !strings.Contains(out, ownerKeyGone) {
		t.Errorf("register does not say the owner key left the device:\n%s", out)
	}
	awaitName(t, alice, "alice")
	owner, err := keystore.OwnerKeyOf(phrase)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d := chainClient(t, rpc)

	// The thief opens the keystore with the passphrase and signs a
	// transfer with whatever owner key it holds.
	id, err := keystore.Load(filepath.Join(alice, "keystore"), []byte("a test passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	thief := ed25519.NewKeyFromSeed(make([]byte, 32))
	if k := id.OwnerKey(); k != nil {
		h, err := d.Submit(ctx, k, &bns.Tx{Type: bns.TxTransfer, Name: "alice", NewOwner: bns.PublicKeyOf(thief)})
		if err == nil {
			t.Errorf("the thief transferred alice to a key of theirs at height %d with the owner key the stolen device's keystore held", h)
		} else if ce := (*bns.CodeError)(nil); !errors.As(err, &ce) || ce.Code != bns.CodeUnauthorized {
			t.Errorf("the thief's transfer was refused, but not as unauthorized: %v", err)
		}
	}
	// The device's own key signs only what devices may: not a transfer.
	if _, err := d.Submit(ctx, id.SigningKey(), &bns.Tx{Type: bns.TxTransfer, Name: "alice", NewOwner: bns.PublicKeyOf(thief)}); err == nil {
		t.Error("the thief transferred alice with the device's signing key")
	} else if ce := (*bns.CodeError)(nil); !errors.As(err, &ce) || ce.Code != bns.CodeUnauthorized {
		t.Errorf("the device-signed transfer was refused, but not as unauthorized: %v", err)
	}

	// The thief revokes with the CLI, no phrase at hand (nobody to ask).
	code, out, errs := try(alice, "name", "revoke", "--confirm", "alice")
	if code == 0 {
		t.Errorf("the thief revoked alice without the recovery phrase:\n%s", out)
	} else if !strings.Contains(errs, "parley: revoking alice needs its recovery phrase") {
		t.Errorf("revoke without the phrase: exit %d, stderr:\n%s", code, errs)
	}
	// Asked for it, the thief types a phrase of their own, then words
	// that are no phrase: each refused, naming why.
	other, err := keystore.NewPhrase()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ typed, want string }{
		{other, "parley: this recovery phrase does not own the name alice: the phrase gives owner key "},
		{"correct horse battery staple", "parley: "},
	} {
		var asked []string
		ask := func(prompt string) ([]byte, error) { asked = append(asked, prompt); return []byte(c.typed), nil }
		code, out, errs := tryAsking(alice, ask, "name", "transfer", bns.PublicKeyOf(thief).String(), "--confirm", "alice")
		if code != 1 || !strings.Contains(errs, c.want) || len(asked) != 1 || asked[0] != "recovery phrase: " {
			t.Errorf("transfer with %q typed: exit %d after prompts %q\n%s%s", c.typed, code, asked, out, errs)
		}
	}

	// A renewal after every attempt (the device may renew): the record
	// seen once it shows is newer than all of them.
	parley(t, "--home", alice, "name", "renew")
	rec := awaitRecord(t, d, "alice", "the renewal after the attempts", func(r *bns.Record) bool { return r.Op == bns.OpRenew || r.Revoked })
	if rec.Owner != bns.PublicKeyOf(owner) || rec.Revoked {
		t.Fatalf("after the thief's attempts alice's record is owned by %s (the phrase gives %s), revoked: %v", rec.Owner, bns.PublicKeyOf(owner), rec.Revoked)
	}
}

// TestDayToDayFromEveryDevice: alice's first device renews her name
// without the recovery phrase (the owner key is not on it); she links a
// laptop, which renews and moves her hubs with its own key (the record
// names it as the signer and keeps both devices), and bob goes on
// reading her on the new hub. Then she gives the name to carol's owner
// key with her phrase (a wrong one refused first); carol takes it with
// 'parley recover' and her own phrase.
func TestDayToDayFromEveryDevice(t *testing.T) {
	rpc, hubs := startWorldWith(t, longOffers)
	moved := hubtest.Start(t, nil)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	t.Setenv(phraseEnv, "")
	homes := users(t, rpc, hubs[0], "alice", "bob")
	alice := homes["alice"]
	befriend(t, homes, "alice", "bob")
	if id, err := keystore.Load(filepath.Join(alice, "keystore"), []byte("a test passphrase")); err != nil || id.HasOwner() {
		t.Fatalf("alice's keystore after register: %v, holds the owner key: %v", err, id != nil && id.HasOwner())
	}
	d := chainClient(t, rpc)
	ctx := context.Background()
	expires := func() int64 {
		rec, err := d.Lookup(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		return rec.ExpiresAt
	}

	before := expires()
	if out := parley(t, "--home", alice, "name", "renew"); !strings.Contains(out, "renewed alice at height ") {
		t.Fatalf("renew on the first device:\n%s", out)
	}
	awaitRecord(t, d, "alice", "the renewal by the first device", func(r *bns.Record) bool { return r.ExpiresAt > before })

	laptop := filepath.Join(t.TempDir(), "alice-laptop")
	code, lout, lerr, done := startLink(t, rpc, laptop, "--label", "laptop", "--name", "alice")
	parley(t, "--home", alice, "devices", "add", code, "--yes")
	if c := <-done; c != 0 {
		t.Fatalf("link: exit %d\n%s%s", c, lout.String(), lerr.String())
	}
	if id, err := keystore.Load(filepath.Join(laptop, "keystore"), []byte("a test passphrase")); err != nil || id.HasOwner() {
		t.Fatalf("the laptop's keystore: %v, holds an owner key: %v", err, id != nil && id.HasOwner())
	}
	before = expires()
	if out := parley(t, "--home", laptop, "name", "renew"); !strings.Contains(out, "renewed alice at height ") {
		t.Fatalf("renew on the laptop:\n%s", out)
	}
	awaitRecord(t, d, "alice", "the renewal by the laptop", func(r *bns.Record) bool { return r.ExpiresAt > before })
	if out := parley(t, "--home", laptop, "name", "hubs", moved.URL); !strings.Contains(out, "alice's hubs are now "+moved.URL) {
		t.Fatalf("name hubs on the laptop:\n%s", out)
	}
	rec := awaitRecord(t, d, "alice", "the hub move", func(r *bns.Record) bool { return r.Profile.Hubs[0] == moved.URL })
	lid, _ := keystore.Load(filepath.Join(laptop, "keystore"), []byte("a test passphrase"))
	if rec.Signer != bns.PublicKeyOf(lid.SigningKey()) || len(rec.AllDevices()) != 2 || rec.Profile.Hubs[0] != moved.URL {
		t.Fatalf("after the laptop moved the hubs: signer %s, %d devices, hubs %v", rec.Signer, len(rec.AllDevices()), rec.Profile.Hubs)
	}
	awaitName(t, homes["bob"], "alice", "hubs:     "+moved.URL+"\n")
	parley(t, "--home", alice, "send", "bob", "from the new hub")
	if got := parley(t, "--home", homes["bob"], "read", "alice"); !strings.Contains(got, "alice: from the new hub") || strings.Contains(got, "keys changed") {
		t.Fatalf("bob reads alice after her laptop moved her hubs:\n%s", got)
	}

	// alice gives the name to carol's owner key: a wrong phrase first.
	carol := filepath.Join(t.TempDir(), "carol")
	var initOut bytes.Buffer
	if c := runWith(ctx, testRun(), []string{"--home", carol, "init", "--node", rpc}, nil, &initOut, &bytes.Buffer{}); c != 0 {
		t.Fatalf("carol's init: exit %d", c)
	}
	carolPhrase := phraseIn(t, initOut.String())
	carolKey := regexp.MustCompile(`owner key: (ed25519:[0-9a-f]{64})`).FindStringSubmatch(initOut.String())
	if carolKey == nil {
		t.Fatalf("init shows no owner key:\n%s", initOut.String())
	}
	t.Setenv(phraseEnv, carolPhrase)
	if c, _, errs := try(laptop, "name", "transfer", carolKey[1], "--confirm", "alice"); c != 1 || !strings.Contains(errs, "does not own the name alice") {
		t.Fatalf("transfer with carol's phrase: exit %d\n%s", c, errs)
	}
	t.Setenv(phraseEnv, phraseOf(t, alice))
	if out := parley(t, "--home", laptop, "name", "transfer", carolKey[1], "--confirm", "alice"); !strings.Contains(out, "gave alice to "+carolKey[1]) {
		t.Fatalf("transfer with alice's phrase:\n%s", out)
	}
	rec = awaitRecord(t, d, "alice", "the transfer", func(r *bns.Record) bool { return r.Op == bns.OpTransfer })
	if rec.Owner.String() != carolKey[1] || len(rec.AllDevices()) != 0 {
		t.Fatalf("after the transfer: owner %s, %d devices", rec.Owner, len(rec.AllDevices()))
	}
	t.Setenv(phraseEnv, carolPhrase)
	newHome := filepath.Join(t.TempDir(), "carol-alice")
	if out := parley(t, "--home", newHome, "recover", "alice", "--node", rpc, "--hub", moved.URL); !strings.Contains(out, "recovered alice at height ") || !strings.Contains(out, ownerKeyGone) {
		t.Fatalf("carol takes alice:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(newHome, "keystore")); err != nil {
		t.Fatal(err)
	}
}

// TestThiefDeviceIsLoudOnOwnDevices: a thief holds alice's laptop (a
// listed device, with its passphrase) and adds a phone of theirs with
// it. Alice's first device says so loudly, naming the device that added
// it, in 'parley status' (until she looks at 'parley devices', which
// says it too) and she retires both from there; the laptop, which added
// it, is not warned of its own doing.
func TestThiefDeviceIsLoudOnOwnDevices(t *testing.T) {
	rpc, hubs := startWorldWith(t, longOffers)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	homes := users(t, rpc, hubs[0], "alice")
	alice := homes["alice"]
	laptop := filepath.Join(t.TempDir(), "alice-laptop")
	code, out, errb, done := startLink(t, rpc, laptop, "--label", "laptop", "--name", "alice")
	parley(t, "--home", alice, "devices", "add", code, "--yes")
	if c := <-done; c != 0 {
		t.Fatalf("link: exit %d\n%s%s", c, out.String(), errb.String())
	}
	if got := parley(t, "--home", alice, "status"); strings.Contains(got, "WARNING") {
		t.Fatalf("alice's status after she added her laptop herself:\n%s", got)
	}
	if got := parley(t, "--home", laptop, "status"); strings.Contains(got, "WARNING") {
		t.Fatalf("the laptop's status after it joined:\n%s", got)
	}

	// The thief, on the stolen laptop, adds a phone.
	phone := filepath.Join(t.TempDir(), "thief-phone")
	code, out, errb, done = startLink(t, rpc, phone, "--label", "phone", "--name", "alice")
	parley(t, "--home", laptop, "devices", "add", code, "--yes")
	if c := <-done; c != 0 {
		t.Fatalf("the thief's link: exit %d\n%s%s", c, out.String(), errb.String())
	}
	warning := regexp.MustCompile(`WARNING: a new device "phone" \(ed25519:[0-9a-f]{16}…\) was added to alice at height \d+ by laptop, not by this device: ` +
		`if it was not you, remove it \('parley devices remove phone'\) and take the name back with 'parley recover alice' and your recovery phrase`)
	status := await.Value(t, 2*time.Minute, "alice's status to show the phone", func() (string, error) {
		got := parley(t, "--home", alice, "status")
		if !strings.Contains(got, "phone") {
			return "", errors.New("not yet")
		}
		return got, nil
	})
	if !strings.Contains(status, "devices:  WARNING: ") || !warning.MatchString(status) {
		t.Fatalf("alice's status after the thief added a phone:\n%s", status)
	}
	if got := parley(t, "--home", laptop, "status"); strings.Contains(got, "WARNING") {
		t.Fatalf("the laptop is warned of what it did:\n%s", got)
	}
	devs := parley(t, "--home", alice, "devices")
	if !warning.MatchString(devs) || !regexp.MustCompile(`\n  phone +ed25519:[0-9a-f]{16}…  added at height \d+ by laptop\n`).MatchString(devs) {
		t.Fatalf("alice's devices:\n%s", devs)
	}
	if got := parley(t, "--home", alice, "status"); strings.Contains(got, "WARNING") {
		t.Fatalf("alice's status still warns once 'devices' showed the phone:\n%s", got)
	}
	// The thief moves alice's name to another hub from the laptop (a
	// listed device may): her first device warns of it, once.
	parley(t, "--home", laptop, "name", "hubs", hubs[1])
	moved := regexp.MustCompile(`\nhubs:     WARNING: alice's hubs were moved to ` + regexp.QuoteMeta(hubs[1]) + ` at height \d+ by laptop, not by this device: ` +
		`if it was not you, remove it \('parley devices remove laptop'\) and move them back \('parley name hubs URL\.\.\.'\)\n`)
	status = await.Value(t, 2*time.Minute, "alice's status to show the move", func() (string, error) {
		got := parley(t, "--home", alice, "status")
		if !strings.Contains(got, "hubs:     WARNING") {
			return "", errors.New("not yet: " + got)
		}
		return got, nil
	})
	if !moved.MatchString(status) {
		t.Fatalf("alice's status after the thief moved her hubs:\n%s", status)
	}
	if got := parley(t, "--home", alice, "status"); strings.Contains(got, "WARNING") {
		t.Fatalf("alice's status still warns of the move it showed:\n%s", got)
	}
	if got := parley(t, "--home", laptop, "status"); strings.Contains(got, "WARNING") {
		t.Fatalf("the laptop is warned of the move it made:\n%s", got)
	}
	// Alice retires both from her first device, without her phrase.
	parley(t, "--home", alice, "devices", "remove", "phone")
	parley(t, "--home", alice, "devices", "remove", "laptop")
	d := chainClient(t, rpc)
	rec := awaitRecord(t, d, "alice", "both removed", func(r *bns.Record) bool { return len(r.AllDevices()) == 1 })
	if rec.Devices != nil || rec.Op != bns.OpDeviceRemove {
		t.Fatalf("alice's record: %+v", rec)
	}
}

// TestForgetOwner: a home whose keystore holds the owner key (made
// before keystore v2) keeps working; 'parley status' says the key is
// there and what to do; 'name forget-owner' refuses a phrase that does
// not give it, and with the right one removes it: the status no longer
// says it, the device still renews, and revoking then asks for the
// phrase.
func TestForgetOwner(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	t.Setenv(phraseEnv, "")
	homes := users(t, rpc, hubs[0], "alice")
	alice := homes["alice"]
	phrase := phraseOf(t, alice)
	// The keystore as an older home keeps it: the owner key in it.
	path := filepath.Join(alice, "keystore")
	id, err := keystore.Load(path, []byte("a test passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	owner, _ := keystore.OwnerKeyOf(phrase)
	if id, err = id.WithOwner(owner); err != nil {
		t.Fatal(err)
	}
	if err := keystore.Save(path, id, []byte("a test passphrase"), keystore.KDF{Time: 1, Memory: 64, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	if got := parley(t, "--home", alice, "status"); !strings.Contains(got, "owner:    this device holds your name's owner key") ||
		!strings.Contains(got, "'parley name forget-owner' removes it") {
		t.Fatalf("status of a home holding the owner key:\n%s", got)
	}
	other, _ := keystore.NewPhrase()
	t.Setenv(phraseEnv, other)
	if c, _, errs := try(alice, "name", "forget-owner"); c != 1 || !strings.Contains(errs, "nothing was removed") {
		t.Fatalf("forget-owner with another phrase: exit %d\n%s", c, errs)
	}
	t.Setenv(phraseEnv, phrase)
	if got := parley(t, "--home", alice, "name", "forget-owner"); !strings.Contains(got, "the owner key is no longer on this device") {
		t.Fatalf("forget-owner:\n%s", got)
	}
	if id, err := keystore.Load(path, []byte("a test passphrase")); err != nil || id.HasOwner() {
		t.Fatalf("the keystore after forget-owner: %v, holds the owner key: %v", err, id != nil && id.HasOwner())
	}
	if got := parley(t, "--home", alice, "status"); strings.Contains(got, "owner:") {
		t.Fatalf("status after forget-owner:\n%s", got)
	}
	parley(t, "--home", alice, "name", "renew")
	t.Setenv(phraseEnv, "")
	if c, _, errs := try(alice, "name", "revoke", "--confirm", "alice"); c != 1 || !strings.Contains(errs, "revoking alice needs its recovery phrase") {
		t.Fatalf("revoke after forget-owner without the phrase: exit %d\n%s", c, errs)
	}
}
