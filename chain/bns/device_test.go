package bns

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func sampleDevices(t *testing.T) []Device {
	keys := sampleTxs(t)[1].Profile.EncKeys
	return []Device{
		{SigningKey: PublicKeyOf(testKey(5)), EncKeys: keys[:1], Label: "laptop", AddedAt: 40},
		{SigningKey: PublicKeyOf(testKey(6)), EncKeys: keys, Label: "phone-2", AddedAt: 41},
	}
}

// TestRecordV3: a record with devices and a signer is of version 3 and
// round-trips, in the chain's state and as saved; one without a signer
// stays of version 2 (written before the chain took devices on); a
// version 3 without a signer, or with a device that does not decode, is
// malformed. Its newest history entry is of version 2 and carries the
// devices and the signer.
func TestRecordV3(t *testing.T) {
	p := sampleTxs(t)[1].Profile
	r := &Record{Name: "alice", Owner: PublicKeyOf(testKey(1)), Profile: p, RegisteredAt: 4, ExpiresAt: 100, UpdatedAt: 41,
		Seq: 3, Op: OpDeviceAdd, Devices: sampleDevices(t), Signer: PublicKeyOf(testKey(5)), HistoryHash: [32]byte{7}}
	b := r.Marshal()
	if b[0] != 3 {
		t.Fatalf("record version %d", b[0])
	}
	for _, parse := range []func([]byte) (*Record, error){UnmarshalRecord, UnmarshalSavedRecord} {
		got, err := parse(b)
		if err != nil || !bytes.Equal(got.Marshal(), b) || len(got.Devices) != 2 || got.Devices[1].Label != "phone-2" {
			t.Fatalf("record v3 round trip: %v", err)
		}
	}
	// The same record before devices: version 2, as it was.
	v2 := *r
	v2.Devices, v2.Signer, v2.Op = nil, PublicKey{}, OpUpdate
	if b2 := v2.Marshal(); b2[0] != 2 {
		t.Fatalf("record without a signer: version %d", b2[0])
	} else if got, err := UnmarshalRecord(b2); err != nil || !bytes.Equal(got.Marshal(), b2) {
		t.Fatalf("record v2 round trip: %v", err)
	}
	// Version 3 without a signer.
	bad := bytes.Clone(b)
	copy(bad[len(bad)-64:len(bad)-32], make([]byte, 32))
	if _, err := UnmarshalRecord(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("record v3 without a signer: %v", err)
	}
	// A device count beyond the limit.
	n := bytes.Index(b, r.Devices[0].SigningKey[:]) - 2
	bad = bytes.Clone(b)
	bad[n] = MaxDevicesLimit
	if _, err := UnmarshalRecord(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a device count of %d: %v", MaxDevicesLimit, err)
	}
	if _, err := UnmarshalRecord(append(b, 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte: %v", err)
	}
	e := r.Latest()
	eb := e.Marshal()
	if eb[0] != 2 || e.Signer != r.Signer || len(e.Devices) != 2 {
		t.Fatalf("latest entry: version %d", eb[0])
	}
	hs, err := UnmarshalHistory(MarshalHistory([]*HistoryEntry{v2.Latest(), e}))
	if err != nil || hs[0].Marshal()[0] != 1 || !bytes.Equal(hs[1].Marshal(), eb) {
		t.Fatalf("history of an entry v1 and an entry v2: %v", err)
	}
	// The record's devices all, the first one's keys the profile's.
	all := r.AllDevices()
	if len(all) != 3 || all[0].Label != FirstDeviceLabel || all[0].SigningKey != p.SigningKey {
		t.Fatalf("AllDevices = %+v", all)
	}
	if d, ok := r.Device(PublicKeyOf(testKey(6))); !ok || d.AddedAt != 41 {
		t.Fatalf("Device = %+v %v", d, ok)
	}
	if _, ok := r.Device(r.Owner); ok {
		t.Fatal("the owner key is no device")
	}
}

// TestDeviceLayout: a listed device is the offer's bytes then i64 added
// height; an offer is u8 1 ‖ signing key ‖ u8 count ‖ (u16 KEM ‖
// str(key))… ‖ str(label) (docs/protocol.md, Devices); a pending offer
// is u8 1 ‖ offer ‖ i64 height ‖ str(name).
func TestDeviceLayout(t *testing.T) {
	d := sampleDevices(t)[0]
	offer := d.MarshalOffer()
	want := append([]byte{1}, d.SigningKey[:]...)
	want = append(want, 1, 0x00, 0x20, 0, 32)
	want = append(want, d.EncKeys[0].Key...)
	want = append(want, 0, 6)
	want = append(want, "laptop"...)
	if !bytes.Equal(offer, want) {
		t.Fatalf("offer = %x, want %x", offer, want)
	}
	var e encoder
	d.encode(&e)
	if !bytes.Equal(e.b, append(bytes.Clone(offer), 0, 0, 0, 0, 0, 0, 0, 40)) {
		t.Fatalf("device = %x", e.b)
	}
	po := &PendingOffer{Device: Device{SigningKey: d.SigningKey, EncKeys: d.EncKeys, Label: d.Label}, Height: 9, TakenBy: "alice"}
	pb := po.Marshal()
	if !bytes.Equal(pb, append(append(append([]byte{1}, offer...), 0, 0, 0, 0, 0, 0, 0, 9, 0, 5), "alice"...)) {
		t.Fatalf("pending offer = %x", pb)
	}
	if got, err := UnmarshalPendingOffer(pb); err != nil || !bytes.Equal(got.Marshal(), pb) {
		t.Fatalf("pending offer round trip: %v", err)
	}
	if got, err := UnmarshalOffer(offer); err != nil || got.Label != "laptop" {
		t.Fatalf("offer round trip: %v", err)
	}
	for name, b := range map[string][]byte{
		"trailing byte":  append(bytes.Clone(offer), 0),
		"version 2":      append([]byte{2}, offer[1:]...),
		"cut":            offer[:len(offer)-1],
		"upper label":    append(bytes.Clone(offer[:len(offer)-6]), "Laptop"...),
		"three enc keys": append(append(bytes.Clone(offer[:33]), 3), offer[34:]...),
	} {
		if _, err := UnmarshalOffer(b); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	// The code: SHA-256("parley/device-link/v1" ‖ str(chain ID) ‖ offer)[0:10].
	code := OfferCode("c", offer)
	if !CheckOfferCode("c", offer, code) || CheckOfferCode("d", offer, code) || CheckOfferCode("c", append(bytes.Clone(offer), 0), code) {
		t.Fatal("CheckOfferCode")
	}
	if got := hex.EncodeToString(OfferKey(code)[:2]); got != hex.EncodeToString([]byte("l/")) {
		t.Fatalf("offer key %s", got)
	}
}

// TestOfferPow: a link-offer stamp binds the chain, the code and the
// signer.
func TestOfferPow(t *testing.T) {
	ctx := t.Context()
	signer := PublicKeyOf(testKey(5))
	code := LinkCode{1}
	n, err := SolveOfferPow(ctx, "c", code, signer, 10)
	if err != nil || !CheckOfferPow("c", code, signer, n, 10) {
		t.Fatalf("solve: %v", err)
	}
	hits := 0
	for _, ok := range []bool{CheckOfferPow("d", code, signer, n, 10), CheckOfferPow("c", LinkCode{2}, signer, n, 10), CheckOfferPow("c", code, PublicKeyOf(testKey(6)), n, 10)} {
		if ok {
			hits++
		}
	}
	if hits > 1 { // each holds by chance with probability 2^-10
		t.Fatal("the stamp does not bind chain, code and signer")
	}
}

// TestParamsV3: params with a devices height are of version 3 and carry
// max_devices; a version 3 without a height is malformed.
func TestParamsV3(t *testing.T) {
	p := LocalParams()
	p.MaxDevices, p.DevicesHeight = 5, 12
	b := p.Marshal()
	got, err := UnmarshalParams(b)
	if err != nil || got != p || b[0] != 3 {
		t.Fatalf("params v3: %+v %v", got, err)
	}
	copy(b[len(b)-8:], make([]byte, 8))
	if _, err := UnmarshalParams(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("params v3 without a height: %v", err)
	}
	if g, err := ParseGenesisParams([]byte(`{"preorder_ttl":100,"min_preorder_age":2,"pow_difficulty":8,"preorder_pow_difficulty":8,"max_preorders_per_account":4,"name_lifetime":100000,"grace_period":1000,"max_tx_bytes":8192,"max_names_per_owner":256,"max_tx_ttl":100}`)); err != nil || g.MaxDevices != DefaultMaxDevices {
		t.Fatalf("genesis without max_devices: %+v %v", g, err)
	}
}

// FuzzUnmarshalRecord: a record (any version a client may have saved),
// a history answer or an offer entry decodes only from its one encoding:
// whatever decodes re-encodes to exactly the input.
func FuzzUnmarshalRecord(f *testing.F) {
	p := Profile{SigningKey: PublicKeyOf(testKey(2)), EncKeys: []EncKey{{KEM: KEMX25519, Key: bytes.Repeat([]byte{9}, 32)}}, Hubs: []string{"https://a.example"}}
	devs := []Device{{SigningKey: PublicKeyOf(testKey(5)), EncKeys: p.EncKeys, Label: "laptop", AddedAt: 40}}
	r := &Record{Name: "alice", Owner: PublicKeyOf(testKey(1)), Profile: p, Seq: 2, Op: OpDeviceAdd, Devices: devs, Signer: PublicKeyOf(testKey(1))}
	f.Add(r.Marshal())
	r2 := *r
	r2.Devices, r2.Signer, r2.Op = nil, PublicKey{}, OpUpdate
	f.Add(r2.Marshal())
	f.Add(MarshalHistory([]*HistoryEntry{r2.Latest(), r.Latest()}))
	f.Add((&PendingOffer{Device: Device{SigningKey: devs[0].SigningKey, EncKeys: p.EncKeys, Label: "laptop"}, Height: 3, TakenBy: "alice"}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		if rec, err := UnmarshalSavedRecord(b); err == nil && !bytes.Equal(rec.Marshal(), b) {
			t.Fatalf("record re-encodes differently")
		} else if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("record error does not wrap ErrMalformed: %v", err)
		}
		if hs, err := UnmarshalHistory(b); err == nil && !bytes.Equal(MarshalHistory(hs), b) {
			t.Fatalf("history re-encodes differently")
		}
		if po, err := UnmarshalPendingOffer(b); err == nil && !bytes.Equal(po.Marshal(), b) {
			t.Fatalf("offer entry re-encodes differently")
		}
	})
}
