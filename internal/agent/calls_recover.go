package agent

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/internal/api"
)

// The recovery phrase (docs/devices.md): init makes the owner key from
// one, recover takes a name back with it on a new device.

// errNotOwner: the phrase's owner key does not own the name.
var errNotOwner = errors.New("this recovery phrase does not own the name")

// phraseHint is what to do about a phrase that is not one.
const phraseHint = "type the words as you wrote them down, separated by spaces; the first four letters of each are enough"

// identityOfPhrase is the identity of a phrase as a person typed it: the
// owner key from the phrase, this device's keys fresh. A phrase that is
// not one is bad_phrase, saying which word is wrong when it can.
func identityOfPhrase(typed string) (*keystore.Identity, error) {
	phrase, err := keystore.NormalizePhrase(typed)
	if err != nil {
		return nil, coded(api.CodeBadPhrase, err, phraseHint)
	}
	return keystore.FromPhrase(phrase)
}

func (a *Agent) recoverName(k *call) (any, error) {
	var req api.RecoverRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	ctx, name := k.ctx, req.Name
	if err := bns.ValidateName(name); err != nil {
		return nil, usage(err)
	}
	if len(req.Hubs) > bns.MaxHubs {
		return nil, usagef("give 1 to %d --hub URLs", bns.MaxHubs)
	}
	for _, u := range req.Hubs {
		if err := bns.ValidateHubURL(u); err != nil {
			return nil, usagef("--hub: %w", err)
		}
	}
	a.keystoreMu.Lock()
	defer a.keystoreMu.Unlock()
	if a.home.hasIdentity() {
		return nil, coded(api.CodeExists, fmt.Errorf("%s already holds an identity", a.home.dir),
			"recover into a new home: 'parley --home NEWDIR recover "+name+" --node URL'")
	}
	ident, err := identityOfPhrase(req.RecoveryPhrase)
	if err != nil {
		return nil, err
	}
	var cfg config
	d, err := a.newHome(k, req.Passphrase, req.ChainConfig, &cfg)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	rec, err := d.Lookup(ctx, name)
	if errors.Is(err, lookup.ErrNotFound) {
		return nil, coded(api.CodeNameNotFound, fmt.Errorf("%s is not registered", name), "check the name: 'parley whois "+name+"' shows what the chain holds")
	}
	if err != nil {
		return nil, err
	}
	owner := bns.PublicKeyOf(ident.OwnerKey())
	if subtle.ConstantTimeCompare(rec.Owner[:], owner[:]) != 1 {
		return nil, coded(api.CodeNotOwner, fmt.Errorf("%w %s: the phrase gives owner key %s, and %s is owned by %s", errNotOwner, name, owner, name, rec.Owner),
			"check the words; a phrase made by another 'parley init' is another identity")
	}
	if rec.Revoked {
		return nil, coded(api.CodeRevoked, fmt.Errorf("%s was revoked: nobody can hold it again, not even with its recovery phrase", name), "")
	}
	// A name that expired while every device was lost is renewed first,
	// while its grace period lasts (only its owner may then).
	lb, err := d.Latest(ctx)
	if err != nil {
		return nil, err
	}
	params, err := d.Params(ctx)
	if err != nil {
		return nil, err
	}
	renew := !rec.Live(lb.Height)
	if renew && !rec.InGrace(lb.Height, params) {
		return nil, coded(api.CodeChainRefused, fmt.Errorf("%s expired at height %d and its grace period ended at height %d: anyone may register it now", name, rec.ExpiresAt, rec.ExpiresAt+params.GracePeriod),
			"if nobody has, register it again: 'parley init' in a new home, then 'parley register "+name+" --hub URL'")
	}
	hubs := req.Hubs
	if len(hubs) == 0 {
		hubs = rec.Profile.Hubs
	}
	if len(hubs) == 0 {
		return nil, usagef("%s's record lists no hub: give 1 to %d --hub URLs", name, bns.MaxHubs)
	}
	profile, err := ident.Profile(hubs)
	if err != nil {
		return nil, err
	}
	// The backup is read first: it lives in the bucket of the keys the
	// record publishes until the update.
	var backup *client.RecoveredState
	if req.BackupPassphrase != "" {
		if backup, err = client.ReadBackupForRecovery(ctx, name, []byte(req.BackupPassphrase), d, a.opts.ClientOptions...); err != nil {
			return nil, err
		}
	}
	// Whatever fails from here, recovering again mends it: each run
	// makes and publishes new keys. So the keys are saved only once the
	// chain took them.
	var renewed int64
	if renew {
		if renewed, err = d.Submit(ctx, ident.OwnerKey(), &bns.Tx{Type: bns.TxRenew, Name: name}); err != nil {
			return nil, hinted(fmt.Errorf("renewing %s, which expired at height %d: %w", name, rec.ExpiresAt, err), "nothing was saved here; run 'parley recover "+name+"' again")
		}
	}
	height, err := d.Submit(ctx, ident.OwnerKey(), &bns.Tx{Type: bns.TxUpdate, Name: name, Profile: profile})
	if err != nil {
		return nil, hinted(fmt.Errorf("publishing this device's keys: %w", err), "nothing was saved here; run 'parley recover "+name+"' again")
	}
	// The owner key does not stay (docs/devices.md): the phrase keeps it.
	params, err = d.Params(ctx)
	if err != nil {
		return nil, err
	}
	dropped := params.DevicesAt(height)
	if dropped {
		ident.DropOwner()
	}
	if err := a.saveKeystore(ident, []byte(req.Passphrase)); err != nil {
		return nil, hinted(fmt.Errorf("the keys were published but not saved here: %w", err), "run 'parley recover "+name+"' again: it publishes new ones")
	}
	cfg.Name, cfg.Hub = name, hubs[0]
	if err := a.home.update(func(x *config) { *x = cfg }); err != nil {
		return nil, err
	}
	res := api.RecoverResult{Name: name, Height: height, Hubs: hubs, RenewedAt: renewed, OwnerKeyDropped: dropped}
	if backup != nil {
		c, err := client.Recovered(ctx, name, ident, d, a.home.path(stateF), backup, []byte(req.BackupPassphrase), a.opts.ClientOptions...)
		if err != nil {
			return nil, hinted(fmt.Errorf("the name is recovered, but not what the backup held: %w", err),
				"the name is this device's now; 'parley contacts' shows what came back, and 'parley backup on' writes a new backup")
		}
		res.Contacts, res.Messages = len(c.Contacts()), len(c.History())
	}
	a.mu.Lock()
	a.id = ident
	a.mu.Unlock()
	return res, nil
}

// historyNote says what a key history entry changed from the one before
// it: the owner, the signing key (a recovery publishes new keys: so does
// an owner key in other hands), the encryption keys alone, the hubs.
// Nothing for a renewal, a revocation or the first entry's register.
func historyNote(prev, e *bns.HistoryEntry) string {
	short := func(k bns.PublicKey) string { return k.String()[:len("ed25519:")+16] + "…" }
	if e.Op == bns.OpDeviceAdd || e.Op == bns.OpDeviceRemove {
		return deviceNote(prev, e, short)
	}
	var notes []string
	if e.Owner != prev.Owner {
		notes = append(notes, "new owner "+short(e.Owner))
	}
	switch {
	case e.Profile.IsEmpty() || prev.Profile.IsEmpty() && e.Owner != prev.Owner:
	case e.Profile.SigningKey != prev.Profile.SigningKey:
		notes = append(notes, "new keys: signing key "+short(e.Profile.SigningKey))
	case !slices.EqualFunc(e.Profile.EncKeys, prev.Profile.EncKeys, func(a, b bns.EncKey) bool { return a.KEM == b.KEM && bytes.Equal(a.Key, b.Key) }):
		notes = append(notes, "new encryption keys")
	}
	if !e.Profile.IsEmpty() && !prev.Profile.IsEmpty() && !slices.Equal(e.Profile.Hubs, prev.Profile.Hubs) {
		notes = append(notes, "hubs: "+strings.Join(e.Profile.Hubs, " "))
	}
	return strings.Join(notes, "; ")
}

// deviceNote says which device an entry added or removed, and who signed
// it: "laptop ed25519:3f… (by first)"; a removal of the first device
// says which device became the first.
func deviceNote(prev, e *bns.HistoryEntry, short func(bns.PublicKey) string) string {
	before := (&bns.Record{Profile: prev.Profile, Devices: prev.Devices}).AllDevices()
	after := (&bns.Record{Profile: e.Profile, Devices: e.Devices}).AllDevices()
	in := func(ds []bns.Device, k bns.PublicKey) bool {
		return slices.ContainsFunc(ds, func(d bns.Device) bool { return d.SigningKey == k })
	}
	var notes []string
	list, other := after, before
	if e.Op == bns.OpDeviceRemove {
		list, other = before, after
	}
	for _, d := range list {
		if !in(other, d.SigningKey) {
			notes = append(notes, d.Label+" "+short(d.SigningKey))
		}
	}
	if e.Op == bns.OpDeviceRemove && len(after) > 0 && len(before) > 0 && after[0].SigningKey != before[0].SigningKey {
		for _, d := range before {
			if d.SigningKey == after[0].SigningKey {
				notes = append(notes, d.Label+" is the first device now")
			}
		}
	}
	by := ""
	switch {
	case e.Signer.IsZero():
	case e.Signer == prev.Owner:
		by = " (by the owner key)"
	default:
		for _, d := range before {
			if d.SigningKey == e.Signer {
				by = " (by " + d.Label + ")"
			}
		}
	}
	return strings.Join(notes, "; ") + by
}
