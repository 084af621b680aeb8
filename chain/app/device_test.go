package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/parley-im/parley/chain/bns"
)

// deviceOf is the offer of a device whose key is a's, labelled label.
func deviceOf(a *account, label string) bns.Device {
	ek, err := hpke.DHKEM(ecdhX25519()).DeriveKeyPair([]byte("device-enc-key-material-" + a.pub.String()))
	if err != nil {
		panic(err)
	}
	return bns.Device{SigningKey: a.pub, EncKeys: []bns.EncKey{{KEM: bns.KEMX25519, Key: ek.PublicKey().Bytes()}}, Label: label}
}

// offerTx is device a's link offer of dev, with its stamp, unsigned.
func offerTx(a *account, dev bns.Device) (*bns.Tx, bns.LinkCode) {
	code := bns.OfferCode(testChain, dev.MarshalOffer())
	stamp, err := bns.SolveOfferPow(context.Background(), testChain, code, a.pub, testParams.PreorderPowDifficulty)
	if err != nil {
		panic(err)
	}
	return &bns.Tx{Type: bns.TxLinkOffer, Offer: dev, PowNonce: stamp}, code
}

// offerForTx is offerTx bound to name (link-offer-for).
func offerForTx(a *account, dev bns.Device, name string) (*bns.Tx, bns.LinkCode) {
	code := bns.OfferCodeFor(testChain, name, dev.MarshalOffer())
	stamp, err := bns.SolveOfferPow(context.Background(), testChain, code, a.pub, testParams.PreorderPowDifficulty)
	if err != nil {
		panic(err)
	}
	return &bns.Tx{Type: bns.TxLinkOfferFor, Offer: dev, Name: name, PowNonce: stamp}, code
}

// offer is device a's signed link offer, labelled label, and its code.
func (a *account) offer(label string) ([]byte, bns.LinkCode) {
	tx, code := offerTx(a, deviceOf(a, label))
	return a.sign(tx), code
}

func (a *account) deviceAdd(name string, code bns.LinkCode) []byte {
	return a.sign(&bns.Tx{Type: bns.TxDeviceAdd, Name: name, Code: code})
}

func (a *account) deviceRemove(name string, dev *account) []byte {
	return a.sign(&bns.Tx{Type: bns.TxDeviceRemove, Name: name, DeviceKey: dev.pub})
}

// history returns the name's complete history, checked against its record.
func (c *chain) history(name string) []*bns.HistoryEntry {
	c.t.Helper()
	res, err := c.app.Query(context.Background(), &abci.RequestQuery{Path: bns.QueryHistory, Data: []byte(name)})
	if err != nil || res.Code != 0 {
		c.t.Fatalf("history of %q: %v %s", name, err, res.Log)
	}
	entries, err := bns.UnmarshalHistory(res.Value)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := bns.VerifyHistory(c.record(name), entries); err != nil {
		c.t.Fatal(err)
	}
	return entries
}

// offerAt returns the offer of code as the chain answers /link, or nil.
func (c *chain) offerAt(code bns.LinkCode) *bns.PendingOffer {
	c.t.Helper()
	res, err := c.app.Query(context.Background(), &abci.RequestQuery{Path: bns.QueryLink, Data: code[:], Prove: true})
	if err != nil || res.Code != 0 {
		c.t.Fatalf("link %x: %v %s", code, err, res.Log)
	}
	if res.Value == nil {
		return nil
	}
	off, err := bns.UnmarshalPendingOffer(res.Value)
	if err != nil {
		c.t.Fatal(err)
	}
	return off
}

func labels(r *bns.Record) []string {
	var out []string
	for _, d := range r.AllDevices() {
		out = append(out, d.Label)
	}
	return out
}

// TestDeviceLifecycle: a new device offers itself, the owner adds it, the
// added device adds a third, a device removes another; the record lists
// them with the heights they were added at, the history says who did
// what, and /link names the name that took an offer.
func TestDeviceLifecycle(t *testing.T) {
	c := newChain(t, "")
	owner, laptop, tablet := newAccount("owner"), newAccount("laptop"), newAccount("tablet")
	c.claim(owner, "alice")

	offer, code := laptop.offer("laptop")
	c.ok(offer)
	if off := c.offerAt(code); off == nil || off.TakenBy != "" || off.Device.SigningKey != laptop.pub || off.Height != c.height {
		t.Fatalf("offer on chain = %+v", off)
	}
	c.ok(owner.deviceAdd("alice", code))
	added := c.height
	rec := c.record("alice")
	if got := labels(rec); len(got) != 2 || got[0] != bns.FirstDeviceLabel || got[1] != "laptop" {
		t.Fatalf("devices = %v", got)
	}
	if rec.Devices[0].AddedAt != added || rec.Op != bns.OpDeviceAdd || rec.Signer != owner.pub {
		t.Fatalf("record = %+v", rec)
	}
	if off := c.offerAt(code); off == nil || off.TakenBy != "alice" {
		t.Fatalf("taken offer = %+v", off)
	}

	// The listed laptop approves a tablet.
	offer, code = tablet.offer("tablet")
	c.ok(offer)
	c.ok(laptop.deviceAdd("alice", code))
	rec = c.record("alice")
	if got := labels(rec); len(got) != 3 || got[2] != "tablet" || rec.Signer != laptop.pub {
		t.Fatalf("devices = %v, signer %s", got, rec.Signer)
	}
	// The tablet removes the laptop.
	c.ok(tablet.deviceRemove("alice", laptop))
	rec = c.record("alice")
	if got := labels(rec); len(got) != 2 || got[1] != "tablet" || rec.Op != bns.OpDeviceRemove || rec.Signer != tablet.pub {
		t.Fatalf("after remove: devices = %v, op %s, signer %s", got, rec.Op, rec.Signer)
	}

	h := c.history("alice")
	var ops []string
	for _, e := range h {
		ops = append(ops, e.Op.String()+" by "+e.Signer.String()[8:12])
	}
	want := []string{
		"register by " + owner.pub.String()[8:12],
		"device-add by " + owner.pub.String()[8:12],
		"device-add by " + laptop.pub.String()[8:12],
		"device-remove by " + tablet.pub.String()[8:12],
	}
	if len(ops) != len(want) {
		t.Fatalf("history = %v, want %v", ops, want)
	}
	for i := range want {
		if ops[i] != want[i] {
			t.Errorf("history[%d] = %s, want %s", i, ops[i], want[i])
		}
	}
	if len(h[2].Devices) != 2 || len(h[3].Devices) != 1 {
		t.Errorf("entries' device lists: %d, %d", len(h[2].Devices), len(h[3].Devices))
	}

	// The owner moving hubs keeps the list.
	moved := c.record("alice").Profile.Clone()
	moved.Hubs = []string{"http://127.0.0.1:4001"}
	c.ok(owner.update("alice", moved))
	if rec := c.record("alice"); len(rec.Devices) != 1 || rec.Profile.Hubs[0] != "http://127.0.0.1:4001" {
		t.Fatalf("after moving hubs: %d devices", len(rec.Devices))
	}
	// The owner's update with a new first device (the recovery) replaces
	// the whole list.
	c.ok(owner.update("alice", testProfile("recovered")))
	if rec := c.record("alice"); len(rec.Devices) != 0 || rec.Op != bns.OpUpdate {
		t.Fatalf("after update: %d devices", len(rec.Devices))
	}
}

// TestBoundOffer: a link offer bound to alice (link-offer-for, as
// 'parley link --name alice' makes) is taken by alice only: bob, who saw
// its code, is refused offer_for_another and the offer stays free; alice
// then adds it. The stored offer says whom it is for, and its code
// commits to the name.
func TestBoundOffer(t *testing.T) {
	c := newChain(t, "")
	owner, bob, tablet := newAccount("owner"), newAccount("bob"), newAccount("tablet")
	c.claim(owner, "alice")
	c.claim(bob, "bob")
	tx, code := offerForTx(tablet, deviceOf(tablet, "tablet"), "alice")
	if code == bns.OfferCode(testChain, tx.Offer.MarshalOffer()) {
		t.Fatal("a bound offer has the unbound offer's code")
	}
	c.ok(tablet.sign(tx))
	if off := c.offerAt(code); off == nil || off.For != "alice" || off.TakenBy != "" {
		t.Fatalf("the bound offer on chain = %+v", off)
	}
	if got := c.block(bob.deviceAdd("bob", code)); got[0] != bns.CodeOfferForAnother {
		t.Fatalf("bob adds alice's bound offer to his name: code %s, want %s", got[0], bns.CodeOfferForAnother)
	}
	if off := c.offerAt(code); off == nil || off.TakenBy != "" {
		t.Fatalf("after bob's attempt, the offer = %+v", off)
	}
	c.ok(owner.deviceAdd("alice", code))
	if got := labels(c.record("alice")); len(got) != 2 || got[1] != "tablet" {
		t.Fatalf("alice's devices = %v", got)
	}
	if off := c.offerAt(code); off == nil || off.TakenBy != "alice" || off.For != "alice" {
		t.Fatalf("the taken bound offer = %+v", off)
	}
	if got := labels(c.record("bob")); len(got) != 1 {
		t.Fatalf("bob's devices = %v", got)
	}
}

// TestDeviceRefusals: each rule of the device transactions, as an attack
// or a mistake, refused with its code and changing nothing.
func TestDeviceRefusals(t *testing.T) {
	type world struct {
		c                              *chain
		owner, laptop, stranger, other *account
		laptopCode                     bns.LinkCode
	}
	// setup: alice (owner) with her laptop listed; bob (other) with a name.
	setup := func(t *testing.T) *world {
		w := &world{c: newChain(t, ""), owner: newAccount("owner"), laptop: newAccount("laptop"), stranger: newAccount("stranger"), other: newAccount("other")}
		w.c.claim(w.owner, "alice")
		w.c.claim(w.other, "bob")
		offer, code := w.laptop.offer("laptop")
		w.c.ok(offer)
		w.c.ok(w.owner.deviceAdd("alice", code))
		w.laptopCode = code
		return w
	}
	// offered: dev's offer, labelled label, on the chain; its code.
	offered := func(w *world, dev *account, label string) bns.LinkCode {
		offer, code := dev.offer(label)
		w.c.ok(offer)
		return code
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, w *world) []byte
		want bns.Code
	}{
		{"a stranger adds a device", func(t *testing.T, w *world) []byte {
			return w.stranger.deviceAdd("alice", offered(w, newAccount("stranger-phone"), "phone"))
		}, bns.CodeUnauthorized},
		{"a stranger adds its own device (an offer it signed)", func(t *testing.T, w *world) []byte {
			return w.stranger.deviceAdd("alice", offered(w, w.stranger, "phone"))
		}, bns.CodeUnauthorized},
		{"a stranger removes a device", func(t *testing.T, w *world) []byte {
			return w.stranger.deviceRemove("alice", w.laptop)
		}, bns.CodeUnauthorized},
		{"another name's owner adds to alice", func(t *testing.T, w *world) []byte {
			return w.other.deviceAdd("alice", offered(w, newAccount("bob-phone"), "phone"))
		}, bns.CodeUnauthorized},
		{"a removed device adds a device", func(t *testing.T, w *world) []byte {
			w.c.ok(w.owner.deviceRemove("alice", w.laptop))
			return w.laptop.deviceAdd("alice", offered(w, newAccount("thief-phone"), "phone"))
		}, bns.CodeUnauthorized},
		{"a removed device removes another", func(t *testing.T, w *world) []byte {
			tablet := newAccount("tablet")
			w.c.ok(w.owner.deviceAdd("alice", offered(w, tablet, "tablet")))
			w.c.ok(w.owner.deviceRemove("alice", w.laptop))
			return w.laptop.deviceRemove("alice", tablet)
		}, bns.CodeUnauthorized},
		{"a device replaces the owner's profile", func(t *testing.T, w *world) []byte {
			return w.laptop.update("alice", testProfile("thief"))
		}, bns.CodeUnauthorized},
		{"a device transfers the name", func(t *testing.T, w *world) []byte {
			return w.laptop.transfer("alice", w.stranger)
		}, bns.CodeUnauthorized},
		{"a device revokes the name", func(t *testing.T, w *world) []byte {
			return w.laptop.revoke("alice")
		}, bns.CodeUnauthorized},
		{"a device gives the first device new keys", func(t *testing.T, w *world) []byte {
			p := testProfile("thief")
			p.Hubs = w.c.record("alice").Profile.Hubs
			return w.laptop.update("alice", p)
		}, bns.CodeUnauthorized},
		{"a device gives the first device new encryption keys", func(t *testing.T, w *world) []byte {
			p := w.c.record("alice").Profile.Clone()
			p.EncKeys = testProfile("thief").EncKeys
			return w.laptop.update("alice", p)
		}, bns.CodeUnauthorized},
		{"a removed device renews the name", func(t *testing.T, w *world) []byte {
			w.c.ok(w.owner.deviceRemove("alice", w.laptop))
			return w.laptop.renew("alice")
		}, bns.CodeUnauthorized},
		{"a removed device moves the hubs", func(t *testing.T, w *world) []byte {
			w.c.ok(w.owner.deviceRemove("alice", w.laptop))
			p := w.c.record("alice").Profile.Clone()
			p.Hubs = []string{"http://127.0.0.1:4666"}
			return w.laptop.update("alice", p)
		}, bns.CodeUnauthorized},
		{"another name's device renews alice", func(t *testing.T, w *world) []byte {
			return firstDevice(w.c, w.other, "bob").renew("alice")
		}, bns.CodeUnauthorized},
		{"a device removes the only device", func(t *testing.T, w *world) []byte {
			w.c.ok(w.laptop.deviceRemove("alice", firstDevice(w.c, w.owner, "alice")))
			return w.laptop.deviceRemove("alice", w.laptop)
		}, bns.CodeUnauthorized},
		{"a replayed device-add", func(t *testing.T, w *world) []byte {
			dev := newAccount("tablet")
			offer, code := dev.offer("tablet")
			w.c.ok(offer)
			raw := w.owner.deviceAdd("alice", code)
			w.c.ok(raw)
			w.c.ok(w.owner.deviceRemove("alice", dev))
			return raw
		}, bns.CodeBadNonce},
		{"a replayed device-remove", func(t *testing.T, w *world) []byte {
			raw := w.owner.deviceRemove("alice", w.laptop)
			w.c.ok(raw)
			return raw
		}, bns.CodeBadNonce},
		{"a squatter takes an offer bound to alice into his own name", func(t *testing.T, w *world) []byte {
			dev := newAccount("alice-tablet")
			tx, code := offerForTx(dev, deviceOf(dev, "tablet"), "alice")
			w.c.ok(dev.sign(tx))
			return w.other.deviceAdd("bob", code)
		}, bns.CodeOfferForAnother},
		{"an offer bound to another name than it says (its code is another's)", func(t *testing.T, w *world) []byte {
			dev := newAccount("alice-tablet")
			tx, _ := offerForTx(dev, deviceOf(dev, "tablet"), "alice")
			w.c.ok(dev.sign(tx))
			// The unbound code of the same keys names no offer.
			_, unbound := offerTx(dev, deviceOf(dev, "tablet"))
			return w.other.deviceAdd("bob", unbound)
		}, bns.CodeOfferNotFound},
		{"an offer bound to no valid name", func(t *testing.T, w *world) []byte {
			dev := newAccount("alice-tablet")
			tx, _ := offerForTx(dev, deviceOf(dev, "tablet"), "Alice!")
			return dev.sign(tx)
		}, bns.CodeInvalidName},
		{"an offer signed by another key than it offers", func(t *testing.T, w *world) []byte {
			tx, _ := offerTx(w.stranger, deviceOf(newAccount("victim"), "phone"))
			return w.stranger.sign(tx)
		}, bns.CodeUnauthorized},
		{"an offer without its stamp", func(t *testing.T, w *world) []byte {
			dev := newAccount("tablet")
			tx, _ := offerTx(dev, deviceOf(dev, "tablet"))
			for tx.PowNonce++; bns.CheckOfferPow(testChain, bns.OfferCode(testChain, tx.Offer.MarshalOffer()), dev.pub, tx.PowNonce, testParams.PreorderPowDifficulty); tx.PowNonce++ {
			}
			return dev.sign(tx)
		}, bns.CodeBadPow},
		{"an offer with a bad label", func(t *testing.T, w *world) []byte {
			dev := newAccount("tablet")
			tx, _ := offerTx(dev, deviceOf(dev, "Tablet"))
			return dev.sign(tx)
		}, bns.CodeInvalidProfile},
		{"the same offer twice", func(t *testing.T, w *world) []byte {
			dev := newAccount("tablet")
			raw, _ := dev.offer("tablet")
			w.c.ok(raw)
			return dev.sign(func() *bns.Tx { tx, _ := offerTx(dev, deviceOf(dev, "tablet")); return tx }())
		}, bns.CodeOfferTaken},
		{"a made-up code", func(t *testing.T, w *world) []byte {
			return w.owner.deviceAdd("alice", bns.LinkCode{1, 2, 3})
		}, bns.CodeOfferNotFound},
		{"an expired offer", func(t *testing.T, w *world) []byte {
			code := offered(w, newAccount("tablet"), "tablet")
			w.c.skip(int(testParams.PreorderTTL))
			return w.owner.deviceAdd("alice", code)
		}, bns.CodeOfferNotFound},
		{"an offer another name took", func(t *testing.T, w *world) []byte {
			return w.other.deviceAdd("bob", w.laptopCode)
		}, bns.CodeOfferTaken},
		{"a label listed already", func(t *testing.T, w *world) []byte {
			return w.owner.deviceAdd("alice", offered(w, newAccount("tablet"), "laptop"))
		}, bns.CodeDeviceExists},
		{"the first device's label", func(t *testing.T, w *world) []byte {
			return w.owner.deviceAdd("alice", offered(w, newAccount("tablet"), bns.FirstDeviceLabel))
		}, bns.CodeDeviceExists},
		{"a key listed already (another offer of it)", func(t *testing.T, w *world) []byte {
			return w.owner.deviceAdd("alice", offered(w, w.laptop, "laptop-two"))
		}, bns.CodeDeviceExists},
		{"the owner key as a device", func(t *testing.T, w *world) []byte {
			return w.owner.deviceAdd("alice", offered(w, w.owner, "owner"))
		}, bns.CodeDeviceExists},
		{"too many devices", func(t *testing.T, w *world) []byte {
			w.c.ok(w.owner.deviceAdd("alice", offered(w, newAccount("tablet"), "tablet"))) // 3 of max_devices 3
			return w.owner.deviceAdd("alice", offered(w, newAccount("watch"), "watch"))
		}, bns.CodeTooManyDevices},
		{"removing a device not listed", func(t *testing.T, w *world) []byte {
			return w.owner.deviceRemove("alice", w.stranger)
		}, bns.CodeDeviceNotFound},
		{"removing another name's device", func(t *testing.T, w *world) []byte {
			first := &account{pub: w.c.record("bob").Profile.SigningKey}
			return w.owner.deviceRemove("alice", first)
		}, bns.CodeDeviceNotFound},
		{"adding to a revoked name", func(t *testing.T, w *world) []byte {
			w.c.ok(w.owner.revoke("alice"))
			return w.owner.deviceAdd("alice", offered(w, newAccount("tablet"), "tablet"))
		}, bns.CodeNameRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := setup(t)
			raw := tc.run(t, w)
			before := w.c.record("alice")
			if got := w.c.block(raw)[0]; got != tc.want {
				t.Fatalf("code %s, want %s", got, tc.want)
			}
			if after := w.c.record("alice"); !bytes.Equal(after.Marshal(), before.Marshal()) {
				t.Fatal("a refused transaction changed the record")
			}
		})
	}
}

// TestFirstDeviceRemoved: the owner, or another listed device (the
// person retiring a stolen first device from their laptop, without the
// recovery phrase), removes the first device; the next one becomes the
// first (its keys the profile's), the hubs stay.
func TestFirstDeviceRemoved(t *testing.T) {
	for _, by := range []string{"owner", "laptop"} {
		t.Run(by, func(t *testing.T) {
			c := newChain(t, "")
			owner, laptop := newAccount("owner"), newAccount("laptop")
			c.claim(owner, "alice")
			before := c.record("alice")
			offer, code := laptop.offer("laptop")
			c.ok(offer)
			c.ok(owner.deviceAdd("alice", code))
			signer := map[string]*account{"owner": owner, "laptop": laptop}[by]
			c.ok(signer.deviceRemove("alice", &account{pub: before.Profile.SigningKey}))
			rec := c.record("alice")
			if rec.Profile.SigningKey != laptop.pub || len(rec.Devices) != 0 || rec.Profile.Hubs[0] != before.Profile.Hubs[0] || rec.Signer != signer.pub {
				t.Fatalf("after removing the first device: %+v", rec)
			}
			// The only device left cannot be removed: an update replaces it.
			if got := c.block(signer.deviceRemove("alice", laptop))[0]; got != bns.CodeUnauthorized {
				t.Fatalf("removing the only device: %s", got)
			}
		})
	}
}

// firstDevice is the account of the first device that c.register gave
// owner's name (testProfile's signing key).
func firstDevice(c *chain, owner *account, name string) *account {
	s := sha256.Sum256([]byte("sig" + name + owner.pub.String()))
	priv := ed25519.NewKeyFromSeed(s[:])
	a := &account{priv: priv, pub: bns.PublicKeyOf(priv), expiresAt: testExpiry}
	if c.record(name).Profile.SigningKey != a.pub {
		c.t.Fatalf("%s's first device is not the one registered", name)
	}
	return a
}

// TestDayToDaySigners: who may sign what (docs/protocol.md, Rules): the
// owner everything; the first device and a linked device renew the name
// and move its hubs (the devices are kept, the record names the device
// that signed); neither transfers, revokes or replaces the first
// device's keys (the recovery), which stay the owner key's, that is the
// recovery phrase's.
func TestDayToDaySigners(t *testing.T) {
	type signer struct {
		name string
		of   func(c *chain, owner, laptop *account) *account
	}
	signers := []signer{
		{"owner", func(c *chain, owner, laptop *account) *account { return owner }},
		{"first device", func(c *chain, owner, laptop *account) *account { return firstDevice(c, owner, "alice") }},
		{"linked device", func(c *chain, owner, laptop *account) *account { return laptop }},
		{"stranger", func(c *chain, owner, laptop *account) *account { return newAccount("stranger") }},
	}
	moved := func(c *chain) bns.Profile {
		p := c.record("alice").Profile.Clone()
		p.Hubs = []string{"http://127.0.0.1:4001", "http://127.0.0.1:4002"}
		return p
	}
	for _, tc := range []struct {
		tx   string
		make func(c *chain, a *account) []byte
		// want per signer: owner, first device, linked device, stranger
		want [4]bns.Code
		// check, for an accepted one, the record after
		check func(t *testing.T, before, after *bns.Record)
	}{
		{"renew", func(c *chain, a *account) []byte { return a.renew("alice") },
			[4]bns.Code{bns.CodeOK, bns.CodeOK, bns.CodeOK, bns.CodeUnauthorized},
			func(t *testing.T, before, after *bns.Record) {
				if after.ExpiresAt <= before.ExpiresAt || after.Op != bns.OpRenew || len(after.Devices) != 1 {
					t.Fatalf("after renewing: expires %d (was %d), op %s, %d devices", after.ExpiresAt, before.ExpiresAt, after.Op, len(after.Devices))
				}
			}},
		{"move hubs", func(c *chain, a *account) []byte { return a.update("alice", moved(c)) },
			[4]bns.Code{bns.CodeOK, bns.CodeOK, bns.CodeOK, bns.CodeUnauthorized},
			func(t *testing.T, before, after *bns.Record) {
				if len(after.Profile.Hubs) != 2 || after.Profile.SigningKey != before.Profile.SigningKey || len(after.Devices) != 1 || after.Op != bns.OpUpdate {
					t.Fatalf("after moving hubs: %+v", after)
				}
			}},
		{"new first device (recovery)", func(c *chain, a *account) []byte { return a.update("alice", testProfile("recovered")) },
			[4]bns.Code{bns.CodeOK, bns.CodeUnauthorized, bns.CodeUnauthorized, bns.CodeUnauthorized},
			func(t *testing.T, before, after *bns.Record) {
				if len(after.Devices) != 0 {
					t.Fatalf("after the recovery: %d devices", len(after.Devices))
				}
			}},
		{"transfer", func(c *chain, a *account) []byte { return a.transfer("alice", newAccount("thief")) },
			[4]bns.Code{bns.CodeOK, bns.CodeUnauthorized, bns.CodeUnauthorized, bns.CodeUnauthorized},
			func(t *testing.T, before, after *bns.Record) {
				if after.Owner != newAccount("thief").pub {
					t.Fatalf("after the transfer: owner %s", after.Owner)
				}
			}},
		{"revoke", func(c *chain, a *account) []byte { return a.revoke("alice") },
			[4]bns.Code{bns.CodeOK, bns.CodeUnauthorized, bns.CodeUnauthorized, bns.CodeUnauthorized},
			func(t *testing.T, before, after *bns.Record) {
				if !after.Revoked {
					t.Fatal("not revoked")
				}
			}},
	} {
		for i, s := range signers {
			t.Run(tc.tx+" by "+s.name, func(t *testing.T) {
				c := newChain(t, "")
				owner, laptop := newAccount("owner"), newAccount("laptop")
				c.claim(owner, "alice")
				offer, code := laptop.offer("laptop")
				c.ok(offer)
				c.ok(owner.deviceAdd("alice", code))
				a := s.of(c, owner, laptop)
				before := c.record("alice")
				if got := c.block(tc.make(c, a))[0]; got != tc.want[i] {
					t.Fatalf("code %s, want %s", got, tc.want[i])
				}
				after := c.record("alice")
				if tc.want[i] != bns.CodeOK {
					if !bytes.Equal(after.Marshal(), before.Marshal()) {
						t.Fatal("a refused transaction changed the record")
					}
					return
				}
				if after.Signer != a.pub {
					t.Fatalf("the record names signer %s, not %s", after.Signer, a.pub)
				}
				tc.check(t, before, after)
			})
		}
	}
}

// TestOffersExpire: an offer lasts preorder_ttl blocks, counts as a live
// preorder of its signer, and is swept (l/ and q/ gone, the count back)
// at the start of block height + preorder_ttl + 2; /link then proves it
// absent.
func TestOffersExpire(t *testing.T) {
	c := newChain(t, "")
	dev := newAccount("tablet")
	offer, code := dev.offer("tablet")
	c.ok(offer)
	made := c.height
	acct := func() *bns.Account {
		res, _ := c.app.Query(context.Background(), &abci.RequestQuery{Path: bns.QueryNonce, Data: dev.pub[:]})
		a, err := bns.UnmarshalAccount(res.Value)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if a := acct(); a.Preorders != 1 {
		t.Fatalf("live preorders %d", a.Preorders)
	}
	for c.height < made+testParams.PreorderTTL+1 {
		c.skip(1)
	}
	if c.offerAt(code) == nil {
		t.Fatal("offer swept too early")
	}
	c.skip(1)
	if off := c.offerAt(code); off != nil {
		t.Fatalf("offer at %d, past its expiry: %+v", c.height, off)
	}
	if a := acct(); a.Preorders != 0 {
		t.Fatalf("live preorders %d after the sweep", a.Preorders)
	}
	if k := c.app.committed.Load(); k != nil {
		if v, _ := k.Get(bns.OfferExpiryKey(made+testParams.PreorderTTL+2, code)); v != nil {
			t.Fatal("expiry key left behind")
		}
	}
}

// TestDevicesUpgrade: a chain that began before protocol 3 (records of
// version 2, entries of version 1, params of version 2) takes devices on
// at its devices height without a new genesis: before it device
// transactions are refused (not_yet) and nothing is written in the new
// versions; at it the params gain the height, the block asks CometBFT for
// app version 3, and from then on changes write records of version 3 and
// entries of version 2 whose history still verifies; two nodes fed the
// same blocks agree, and a restart keeps it.
func TestDevicesUpgrade(t *testing.T) {
	const upgrade = 12
	dir := t.TempDir()
	c := newChainWith(t, Config{Dir: dir, DevicesHeight: upgrade})
	ref := newChainWith(t, Config{DevicesHeight: upgrade})
	run := func(txs ...[]byte) []bns.Code {
		ref.block(txs...)
		return c.block(txs...)
	}
	if info, _ := c.app.Info(context.Background(), &abci.RequestInfo{}); info.AppVersion != 2 {
		t.Fatalf("app version before the upgrade %d", info.AppVersion)
	}
	owner, laptop := newAccount("owner"), newAccount("laptop")
	run(owner.preorder("alice"))
	for range testParams.MinPreorderAge - 1 {
		run()
	}
	run(c.register(owner, "alice"))
	if got := run(firstDevice(c, owner, "alice").renew("alice"))[0]; got != bns.CodeUnauthorized {
		t.Fatalf("the first device renews before the devices height: %s", got)
	}
	offer, code := laptop.offer("laptop")
	if got := run(offer)[0]; got != bns.CodeNotYet {
		t.Fatalf("offer before the devices height: %s", got)
	}
	run(owner.update("alice", testProfile("second")))
	raw, _ := c.app.Query(context.Background(), &abci.RequestQuery{Path: bns.QueryName, Data: []byte("alice")})
	if raw.Value[0] != 2 {
		t.Fatalf("record version %d before the upgrade", raw.Value[0])
	}
	for c.height < upgrade-1 {
		run()
	}
	c.height++
	res, err := c.app.FinalizeBlock(context.Background(), &abci.RequestFinalizeBlock{Height: c.height, Txs: [][]byte{offer}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.app.Commit(context.Background(), &abci.RequestCommit{}); err != nil {
		t.Fatal(err)
	}
	ref.block(offer)
	if res.TxResults[0].Code != 0 || res.ConsensusParamUpdates == nil || res.ConsensusParamUpdates.Version.App != AppVersion {
		t.Fatalf("upgrade block: code %d, param updates %v", res.TxResults[0].Code, res.ConsensusParamUpdates)
	}
	if info, _ := c.app.Info(context.Background(), &abci.RequestInfo{}); info.AppVersion != 3 {
		t.Fatalf("app version after the upgrade %d", info.AppVersion)
	}
	if p := c.app.Params(); p.DevicesHeight != upgrade || p.MaxDevices != bns.DefaultMaxDevices {
		t.Fatalf("params after the upgrade %+v", p)
	}
	run(owner.deviceAdd("alice", code))
	raw, _ = c.app.Query(context.Background(), &abci.RequestQuery{Path: bns.QueryName, Data: []byte("alice")})
	if raw.Value[0] != 3 {
		t.Fatalf("record version %d after the upgrade", raw.Value[0])
	}
	h := c.history("alice")
	if len(h) != 3 || h[0].Marshal()[0] != 1 || h[1].Marshal()[0] != 1 || h[2].Marshal()[0] != 2 || h[2].Signer != owner.pub {
		t.Fatalf("history across the upgrade: %d entries", len(h))
	}
	if !bytes.Equal(c.hash(), ref.hash()) {
		t.Fatal("two nodes disagree after the upgrade")
	}
	if got := c.app.Close(); got != nil {
		t.Fatal(got)
	}
	again := newChainWith(t, Config{Dir: dir}) // the setting no longer matters
	if p := again.app.Params(); p.DevicesHeight != upgrade {
		t.Fatalf("params after a restart %+v", p)
	}
	if info, _ := again.app.Info(context.Background(), &abci.RequestInfo{}); info.AppVersion != 3 || !bytes.Equal(info.LastBlockAppHash, ref.hash()) {
		t.Fatalf("after a restart: app version %d", info.AppVersion)
	}
}
