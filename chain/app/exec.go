package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"sync"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/parley-im/parley/chain/bns"
)

// execCtx is everything one transaction's execution may depend on.
type execCtx struct {
	chainID string
	params  bns.Params
	height  int64 // height of the block being built or checked
	index   int64 // position of the transaction in the block
	st      *overlay
	txs     *txCache
	// changes, if set, receives every record change (for the metrics).
	changes *[]nameChange
}

// deliver is the one validation path: it decodes raw, checks it against the
// state and, if it is valid, applies it. A refusal is a *bns.CodeError and
// leaves the state untouched.
func (c *execCtx) deliver(raw []byte) (*bns.Tx, []abci.Event, error) {
	tx, err := c.validate(raw)
	if err != nil {
		return nil, nil, err
	}
	return tx, c.apply(tx), nil
}

// validate checks raw without changing the state.
func (c *execCtx) validate(raw []byte) (*bns.Tx, error) {
	tx, err := c.txs.check(raw, c.chainID, c.params.MaxTxBytes)
	if err != nil {
		return nil, err
	}
	if err := checkExpiry(tx, c.height, c.params); err != nil {
		return nil, err
	}
	acct := c.account(tx.Signer)
	if tx.Nonce != acct.Nonce {
		return nil, badNonce(tx, acct.Nonce)
	}
	if tx.Type.IsDeviceTx() && !c.params.DevicesAt(c.height) {
		if c.params.DevicesHeight == 0 {
			return nil, bns.Errorf(bns.CodeNotYet, "this chain does not take device transactions yet (application protocol 3 is not on)")
		}
		return nil, bns.Errorf(bns.CodeNotYet, "device transactions are taken from height %d; the block is at %d", c.params.DevicesHeight, c.height)
	}
	switch tx.Type {
	case bns.TxLinkOffer, bns.TxLinkOfferFor:
		return tx, c.validateOffer(tx, acct)
	case bns.TxPreorder:
		if c.st.get(bns.PreorderKey(c.height, tx.Commitment)) != nil {
			return nil, bns.Errorf(bns.CodePreorderExists, "commitment %x is already in this block", tx.Commitment[:8])
		}
		if acct.Preorders >= c.params.MaxPreordersPerAccount {
			return nil, bns.Errorf(bns.CodeTooManyPreorders, "%s already holds %d live preorders (at most %d); reveal one or let it expire first", tx.Signer, acct.Preorders, c.params.MaxPreordersPerAccount)
		}
		if !bns.CheckPreorderPow(c.chainID, tx.Commitment, tx.Signer, tx.PowNonce, c.params.PreorderPowDifficulty) {
			return nil, bns.Errorf(bns.CodeBadPow, "preorder stamp %d has fewer than %d leading zero bits", tx.PowNonce, c.params.PreorderPowDifficulty)
		}
		return tx, nil
	case bns.TxRegister:
		return tx, c.validateRegister(tx)
	}
	rec := c.record(tx.Name)
	if rec == nil {
		return nil, bns.Errorf(bns.CodeNameNotFound, "name %q is not registered", tx.Name)
	}
	if rec.Revoked {
		return nil, bns.Errorf(bns.CodeNameRevoked, "name %q was revoked at height %d", tx.Name, rec.UpdatedAt)
	}
	if tx.Type == bns.TxDeviceAdd || tx.Type == bns.TxDeviceRemove {
		return tx, c.validateDevice(tx, rec)
	}
	if rec.Owner != tx.Signer {
		if err := c.deviceMay(tx, rec); err != nil {
			return nil, err
		}
	}
	switch tx.Type {
	case bns.TxUpdate:
		if !rec.Live(c.height) {
			return nil, bns.Errorf(bns.CodeNameExpired, "name %q expired at height %d; renew it first", tx.Name, rec.ExpiresAt)
		}
	case bns.TxTransfer:
		if !rec.Live(c.height) {
			return nil, bns.Errorf(bns.CodeNameExpired, "name %q expired at height %d; renew it first", tx.Name, rec.ExpiresAt)
		}
		if n := c.liveNames(tx.NewOwner); n >= c.params.MaxNamesPerOwner {
			return nil, bns.Errorf(bns.CodeTooManyNames, "%s already holds %d live names", tx.NewOwner, n)
		}
	case bns.TxRenew, bns.TxRevoke:
		if c.height > rec.ExpiresAt+c.params.GracePeriod {
			return nil, bns.Errorf(bns.CodeNameExpired, "name %q expired at height %d and its grace period ended at %d", tx.Name, rec.ExpiresAt, rec.ExpiresAt+c.params.GracePeriod)
		}
		// An expired name stops counting toward the limit; renewing it
		// makes it count again.
		if tx.Type == bns.TxRenew && !rec.Live(c.height) {
			if n := c.liveNames(rec.Owner); n >= c.params.MaxNamesPerOwner {
				return nil, bns.Errorf(bns.CodeTooManyNames, "%s already holds %d live names", rec.Owner, n)
			}
		}
	}
	return tx, nil
}

// deviceMay applies the day-to-day rule (docs/devices.md, Where the
// owner key lives) to tx on rec signed by another key than the owner's:
// from the devices height, a device the record lists (the first one
// included) may renew the name and may update its profile when only the
// hubs change; transfer, revoke and any other update (new keys for the
// first device, which replaces the whole device list) stay the owner's.
func (c *execCtx) deviceMay(tx *bns.Tx, rec *bns.Record) error {
	if _, ok := rec.Device(tx.Signer); !ok {
		return bns.Errorf(bns.CodeUnauthorized, "%s does not own %q", tx.Signer, tx.Name)
	}
	if !c.params.DevicesAt(c.height) {
		return bns.Errorf(bns.CodeUnauthorized, "%s is a device of %q: only its owner key may %s it before the devices height", tx.Signer, tx.Name, tx.Type)
	}
	switch tx.Type {
	case bns.TxRenew:
		return nil
	case bns.TxUpdate:
		p := tx.Profile
		if p.SigningKey == rec.Profile.SigningKey && slices.EqualFunc(p.EncKeys, rec.Profile.EncKeys, func(a, b bns.EncKey) bool {
			return a.KEM == b.KEM && bytes.Equal(a.Key, b.Key)
		}) {
			return nil
		}
		return bns.Errorf(bns.CodeUnauthorized, "%s is a device of %q: a device may change only its hubs; new keys for the first device take the owner key (the recovery phrase)", tx.Signer, tx.Name)
	}
	return bns.Errorf(bns.CodeUnauthorized, "%s is a device of %q: only its owner key (the recovery phrase) may %s it", tx.Signer, tx.Name, tx.Type)
}

// validateOffer applies the link-offer rules: no offer with its code on
// the chain, a live-preorder slot free (an offer counts as a preorder),
// and a valid stamp. ValidateBasic checked the offer's keys and label,
// and that its key signed it.
func (c *execCtx) validateOffer(tx *bns.Tx, acct *bns.Account) error {
	code := offerOf(tx, c.height).Code(c.chainID)
	if c.st.get(bns.OfferKey(code)) != nil {
		return bns.Errorf(bns.CodeOfferTaken, "an offer with code %x is on the chain already", code[:4])
	}
	if acct.Preorders >= c.params.MaxPreordersPerAccount {
		return bns.Errorf(bns.CodeTooManyPreorders, "%s already holds %d live preorders and offers (at most %d)", tx.Signer, acct.Preorders, c.params.MaxPreordersPerAccount)
	}
	if !bns.CheckOfferPow(c.chainID, code, tx.Signer, tx.PowNonce, c.params.PreorderPowDifficulty) {
		return bns.Errorf(bns.CodeBadPow, "offer stamp %d has fewer than %d leading zero bits", tx.PowNonce, c.params.PreorderPowDifficulty)
	}
	return nil
}

// validateDevice applies the device-add and device-remove rules (the
// name exists and is not revoked, checked by the caller): the signer is
// the owner or a listed device; an add needs a live name, an offer that
// is on the chain, unexpired and not taken, whose key and label the
// record does not list, and room under max_devices; a remove needs the
// name live or in its grace period and the device listed, and not the
// only one (removing the first device makes the next one the first).
func (c *execCtx) validateDevice(tx *bns.Tx, rec *bns.Record) error {
	if _, ok := rec.Device(tx.Signer); !ok && rec.Owner != tx.Signer {
		return bns.Errorf(bns.CodeUnauthorized, "%s is neither the owner nor a device of %q", tx.Signer, tx.Name)
	}
	if tx.Type == bns.TxDeviceRemove {
		if c.height > rec.ExpiresAt+c.params.GracePeriod {
			return bns.Errorf(bns.CodeNameExpired, "name %q expired at height %d and its grace period ended at %d", tx.Name, rec.ExpiresAt, rec.ExpiresAt+c.params.GracePeriod)
		}
		if _, ok := rec.Device(tx.DeviceKey); !ok {
			return bns.Errorf(bns.CodeDeviceNotFound, "%q lists no device %s", tx.Name, tx.DeviceKey)
		}
		if tx.DeviceKey == rec.Profile.SigningKey {
			if len(rec.Devices) == 0 {
				return bns.Errorf(bns.CodeUnauthorized, "%s is the only device of %q: an update by the owner key (parley recover) replaces it", tx.DeviceKey, tx.Name)
			}
		}
		return nil
	}
	if !rec.Live(c.height) {
		return bns.Errorf(bns.CodeNameExpired, "name %q expired at height %d; renew it first", tx.Name, rec.ExpiresAt)
	}
	off := c.offer(tx.Code)
	switch {
	case off == nil || c.height > off.Height+c.params.PreorderTTL:
		return bns.Errorf(bns.CodeOfferNotFound, "no link offer with this code (never made, or expired: offers last %d blocks)", c.params.PreorderTTL)
	case off.TakenBy != "":
		return bns.Errorf(bns.CodeOfferTaken, "the offer was taken by %q already", off.TakenBy)
	case off.For != "" && off.For != tx.Name:
		return bns.Errorf(bns.CodeOfferForAnother, "the offer is for %q only, not %q", off.For, tx.Name)
	}
	if _, ok := rec.Device(off.Device.SigningKey); ok || off.Device.SigningKey == rec.Owner {
		return bns.Errorf(bns.CodeDeviceExists, "%q lists %s already", tx.Name, off.Device.SigningKey)
	}
	for _, d := range rec.AllDevices() {
		if d.Label == off.Device.Label {
			return bns.Errorf(bns.CodeDeviceExists, "%q has a device labelled %q already", tx.Name, d.Label)
		}
	}
	if n := int64(len(rec.AllDevices())); n >= c.params.MaxDevices {
		return bns.Errorf(bns.CodeTooManyDevices, "%q lists %d devices, at most %d", tx.Name, n, c.params.MaxDevices)
	}
	return nil
}

// checkExpiry refuses a transaction at a height above its expiry, or whose
// expiry is more than max_tx_ttl blocks above the height. It depends on
// the bytes and the height only, so a proposal holding such a
// transaction is refused whole.
func checkExpiry(tx *bns.Tx, height int64, p bns.Params) error {
	switch {
	case height > tx.ExpiresAt:
		return bns.Errorf(bns.CodeTxExpired, "transaction expired at height %d; the block is at %d: sign it again", tx.ExpiresAt, height)
	case tx.ExpiresAt > height+p.MaxTxTTL:
		return bns.Errorf(bns.CodeExpiryTooFar, "expiry height %d is more than max_tx_ttl (%d) blocks above %d", tx.ExpiresAt, p.MaxTxTTL, height)
	}
	return nil
}

func badNonce(tx *bns.Tx, next uint64) error {
	return bns.Errorf(bns.CodeBadNonce, "nonce %d for %s, want %d", tx.Nonce, tx.Signer, next)
}

// validateRegister applies the register rules. A registration is final:
// nothing, an earlier preorder included, takes a name from its owner
// before its grace period ends.
func (c *execCtx) validateRegister(tx *bns.Tx) error {
	commitment := bns.PreorderCommitment(c.chainID, tx.Name, tx.Salt, tx.Signer)
	pre := c.preorder(tx.PreorderHeight, commitment)
	switch {
	case pre == nil:
		return bns.Errorf(bns.CodePreorderNotFound, "no pending preorder by %s at height %d for this name and salt (preorders expire after %d blocks)", tx.Signer, tx.PreorderHeight, c.params.PreorderTTL)
	case c.height < pre.Height+c.params.MinPreorderAge:
		return bns.Errorf(bns.CodePreorderTooRecent, "preorder at height %d may be revealed from height %d on (min_preorder_age %d); this block is %d", pre.Height, pre.Height+c.params.MinPreorderAge, c.params.MinPreorderAge, c.height)
	case c.height > pre.Height+c.params.PreorderTTL:
		return bns.Errorf(bns.CodePreorderExpired, "preorder at height %d expired at %d", pre.Height, pre.Height+c.params.PreorderTTL)
	}
	if !bns.CheckPow(c.chainID, tx.Name, tx.Signer, tx.PowNonce, c.params.PowDifficulty) {
		return bns.Errorf(bns.CodeBadPow, "stamp %d has fewer than %d leading zero bits", tx.PowNonce, c.params.PowDifficulty)
	}
	if rec := c.record(tx.Name); rec != nil {
		switch {
		case rec.Revoked:
			return bns.Errorf(bns.CodeNameRevoked, "name %q was revoked at height %d", tx.Name, rec.UpdatedAt)
		case c.height <= rec.ExpiresAt+c.params.GracePeriod:
			return bns.Errorf(bns.CodeNameTaken, "name %q is registered (since height %d) and held until height %d", tx.Name, rec.RegisteredAt, rec.ExpiresAt+c.params.GracePeriod)
		}
	}
	if n := c.liveNames(tx.Signer); n >= c.params.MaxNamesPerOwner {
		return bns.Errorf(bns.CodeTooManyNames, "%s already holds %d live names", tx.Signer, n)
	}
	return nil
}

// apply changes the state for a validated transaction and returns its events.
func (c *execCtx) apply(tx *bns.Tx) []abci.Event {
	acct := c.account(tx.Signer)
	acct.Nonce = tx.Nonce + 1
	c.schedule(tx.Signer, acct, max(acct.PruneAt, tx.ExpiresAt+1))
	switch tx.Type {
	case bns.TxPreorder, bns.TxLinkOffer, bns.TxLinkOfferFor:
		acct.Preorders++
	case bns.TxRegister:
		acct.Preorders--
	}
	defer c.setAccount(tx.Signer, acct)
	if tx.Type.IsOffer() {
		off := offerOf(tx, c.height)
		code := off.Code(c.chainID)
		c.st.set(bns.OfferKey(code), off.Marshal())
		c.st.set(bns.OfferExpiryKey(c.height+c.params.PreorderTTL+2, code), bns.PruneValue)
		return []abci.Event{{Type: "bns", Attributes: []abci.EventAttribute{
			{Key: "op", Value: "link-offer", Index: true},
			{Key: "account", Value: hex.EncodeToString(tx.Signer[:]), Index: true},
		}}}
	}
	if tx.Type == bns.TxPreorder {
		c.st.set(bns.PreorderKey(c.height, tx.Commitment), (&bns.Preorder{Owner: tx.Signer, Index: c.index}).Marshal())
		return []abci.Event{{Type: "bns", Attributes: []abci.EventAttribute{
			{Key: "op", Value: "preorder", Index: true},
			{Key: "account", Value: hex.EncodeToString(tx.Signer[:]), Index: true},
		}}}
	}

	rec := c.record(tx.Name)
	var change nameChange
	if rec != nil {
		// The entry the record held until now joins the stored history.
		c.st.set(bns.HistoryKey(tx.Name, rec.Seq), rec.Latest().Marshal())
		change = nameChange{had: true, oldExpires: rec.ExpiresAt, oldRevoked: rec.Revoked}
	}
	var op bns.Op
	switch tx.Type {
	case bns.TxRegister:
		commitment := bns.PreorderCommitment(c.chainID, tx.Name, tx.Salt, tx.Signer)
		pre := c.preorder(tx.PreorderHeight, commitment)
		c.st.delete(bns.PreorderKey(pre.Height, commitment))
		op = bns.OpRegister
		if rec == nil {
			rec = &bns.Record{Name: tx.Name}
		} else if rec.Owner != tx.Signer { // its grace period is over
			prev := c.account(rec.Owner)
			removeName(prev, tx.Name)
			c.setAccount(rec.Owner, prev)
		}
		rec.Owner = tx.Signer
		rec.Profile = tx.Profile.Clone()
		rec.Devices = nil
		rec.PreorderHeight, rec.PreorderIndex = pre.Height, pre.Index
		rec.RegisteredAt = c.height
		rec.ExpiresAt = c.height + c.params.NameLifetime
		c.addName(tx.Signer, acct, tx.Name)
	case bns.TxUpdate:
		// An update by the owner that gives the first device another
		// signing key replaces the whole device list: the recovery
		// (docs/devices.md). One that keeps it (new hubs, new
		// encryption keys) keeps the list.
		op = bns.OpUpdate
		if tx.Profile.SigningKey != rec.Profile.SigningKey {
			rec.Devices = nil
		}
		rec.Profile = tx.Profile.Clone()
	case bns.TxTransfer:
		op = bns.OpTransfer
		removeName(acct, tx.Name)
		rec.Owner = tx.NewOwner
		rec.Profile = bns.Profile{}
		rec.Devices = nil
		next := c.account(tx.NewOwner)
		c.addName(tx.NewOwner, next, tx.Name)
		if next.PruneAt == 0 {
			// An account that never sent a transaction gets its pruning
			// check when the name may stop being held.
			c.schedule(tx.NewOwner, next, rec.ExpiresAt+c.params.GracePeriod+1)
		}
		c.setAccount(tx.NewOwner, next)
	case bns.TxRenew:
		op = bns.OpRenew
		rec.ExpiresAt = c.height + c.params.NameLifetime
	case bns.TxRevoke:
		op = bns.OpRevoke
		rec.Revoked = true
		rec.Profile = bns.Profile{}
		rec.Devices = nil
		removeName(acct, tx.Name)
	case bns.TxDeviceAdd:
		op = bns.OpDeviceAdd
		off := c.offer(tx.Code)
		dev := off.Device.Clone()
		dev.AddedAt = c.height
		rec.Devices = append(rec.Devices, dev)
		off.TakenBy = tx.Name
		c.st.set(bns.OfferKey(tx.Code), off.Marshal())
	case bns.TxDeviceRemove:
		op = bns.OpDeviceRemove
		if tx.DeviceKey == rec.Profile.SigningKey {
			// The next device becomes the first: its keys the profile's.
			next := rec.Devices[0]
			rec.Profile.SigningKey, rec.Profile.EncKeys = next.SigningKey, next.Clone().EncKeys
			rec.Devices = rec.Devices[1:]
		} else {
			rec.Devices = slices.DeleteFunc(rec.Devices, func(d bns.Device) bool { return d.SigningKey == tx.DeviceKey })
		}
	}
	if c.params.DevicesAt(c.height) {
		rec.Signer = tx.Signer
	}
	rec.UpdatedAt = c.height
	rec.Seq++
	rec.Op = op
	rec.HistoryHash = rec.Latest().Chain(rec.HistoryHash)
	c.st.set(bns.RecordKey(tx.Name), rec.Marshal())
	if c.changes != nil {
		change.newExpires, change.newRevoked = rec.ExpiresAt, rec.Revoked
		*c.changes = append(*c.changes, change)
	}

	return []abci.Event{{Type: "bns", Attributes: []abci.EventAttribute{
		{Key: "op", Value: op.String(), Index: true},
		{Key: "name", Value: tx.Name, Index: true},
		{Key: "owner", Value: hex.EncodeToString(rec.Owner[:]), Index: true},
		{Key: "seq", Value: strconv.FormatUint(rec.Seq, 10), Index: false},
	}}}
}

// account returns the state of a signing key; a key never seen (or
// pruned) has the zero Account.
func (c *execCtx) account(pub bns.PublicKey) *bns.Account {
	b := c.st.get(bns.AccountKey(pub))
	if b == nil {
		return &bns.Account{}
	}
	a, err := bns.UnmarshalAccount(b)
	if err != nil {
		panic("app: stored account: " + err.Error())
	}
	return a
}

func (c *execCtx) setAccount(pub bns.PublicKey, a *bns.Account) {
	c.st.set(bns.AccountKey(pub), a.Marshal())
}

// schedule moves the account's pruning check to height at or, from the
// devices height on, to the first multiple of bns.PruneInterval at or
// after it (the caller saves the account).
func (c *execCtx) schedule(pub bns.PublicKey, a *bns.Account, at int64) {
	if c.params.DevicesAt(c.height) {
		at = (at + bns.PruneInterval - 1) / bns.PruneInterval * bns.PruneInterval
	}
	if a.PruneAt == at {
		return
	}
	if a.PruneAt != 0 {
		c.st.delete(bns.PruneKey(a.PruneAt, pub))
	}
	c.st.set(bns.PruneKey(at, pub), bns.PruneValue)
	a.PruneAt = at
}

// holds reports whether the account holds anything at this height (a live
// preorder, or a name that is live or in its grace period) and, if so, the
// next height at which that may have changed.
func (c *execCtx) holds(pub bns.PublicKey, a *bns.Account) (bool, int64) {
	next, held := int64(math.MaxInt64), false
	if a.Preorders > 0 {
		// Every preorder in the state was made before this block, and is
		// dropped by the start of block h+preorder_ttl+1.
		next, held = c.height+c.params.PreorderTTL+1, true
	}
	for _, name := range a.Names {
		if rec := c.record(name); c.held(pub, rec) {
			next, held = min(next, rec.ExpiresAt+c.params.GracePeriod+1), true
		}
	}
	return held, max(next, c.height+1)
}

// held reports whether owner still holds the name of rec: not revoked, and
// live or in its grace period.
func (c *execCtx) held(owner bns.PublicKey, rec *bns.Record) bool {
	return rec != nil && rec.Owner == owner && !rec.Revoked && c.height <= rec.ExpiresAt+c.params.GracePeriod
}

// liveNames counts the names owner holds that have not expired: those
// count toward max_names_per_owner.
func (c *execCtx) liveNames(owner bns.PublicKey) int64 {
	var n int64
	for _, name := range c.account(owner).Names {
		if rec := c.record(name); rec != nil && rec.Owner == owner && rec.Live(c.height) {
			n++
		}
	}
	return n
}

func (c *execCtx) record(name string) *bns.Record {
	b := c.st.get(bns.RecordKey(name))
	if b == nil {
		return nil
	}
	r, err := bns.UnmarshalRecord(b)
	if err != nil {
		panic("app: stored record: " + err.Error())
	}
	return r
}

// offerOf is the pending offer a link-offer (bound or not) makes at
// height.
func offerOf(tx *bns.Tx, height int64) *bns.PendingOffer {
	off := &bns.PendingOffer{Device: tx.Offer.Clone(), Height: height}
	if tx.Type == bns.TxLinkOfferFor {
		off.For = tx.Name
	}
	return off
}

// offer returns the link offer of code, or nil.
func (c *execCtx) offer(code bns.LinkCode) *bns.PendingOffer {
	b := c.st.get(bns.OfferKey(code))
	if b == nil {
		return nil
	}
	p, err := bns.UnmarshalPendingOffer(b)
	if err != nil {
		panic("app: stored offer: " + err.Error())
	}
	return p
}

func (c *execCtx) preorder(height int64, commitment [32]byte) *bns.Preorder {
	if height <= 0 {
		return nil
	}
	b := c.st.get(bns.PreorderKey(height, commitment))
	if b == nil {
		return nil
	}
	p, err := bns.UnmarshalPreorder(b, height)
	if err != nil {
		panic("app: stored preorder: " + err.Error())
	}
	return p
}

// addName adds name to the names of owner's account a, dropping those the
// owner no longer holds (past their grace period), so the list stays
// bounded. The caller saves a.
func (c *execCtx) addName(owner bns.PublicKey, a *bns.Account, name string) {
	a.Names = slices.DeleteFunc(a.Names, func(n string) bool { return n != name && !c.held(owner, c.record(n)) })
	if i, found := slices.BinarySearch(a.Names, name); !found {
		a.Names = slices.Insert(a.Names, i, name)
	}
}

// removeName removes name from the names of account a. The caller saves a.
func removeName(a *bns.Account, name string) {
	if i, found := slices.BinarySearch(a.Names, name); found {
		a.Names = slices.Delete(a.Names, i, i+1)
	}
}

// txCache remembers transactions that passed the stateless checks (size,
// decoding, ValidateBasic, signature for this chain), so a transaction
// checked at CheckTx is not decoded and verified again in PrepareProposal,
// ProcessProposal and FinalizeBlock. The checks are pure functions of the
// bytes, so the cache cannot change an outcome. Cached transactions are
// shared: nothing may modify them.
type txCache struct {
	mu sync.Mutex
	ok map[[32]byte]*bns.Tx
}

const txCacheMax = 1 << 16

func newTxCache() *txCache { return &txCache{ok: make(map[[32]byte]*bns.Tx)} }

func (s *txCache) check(raw []byte, chainID string, maxBytes int64) (*bns.Tx, error) {
	if int64(len(raw)) > maxBytes {
		return nil, bns.Errorf(bns.CodeTooLarge, "transaction of %d bytes, at most %d", len(raw), maxBytes)
	}
	h := sha256.Sum256(raw)
	s.mu.Lock()
	tx, ok := s.ok[h]
	s.mu.Unlock()
	if ok {
		return tx, nil
	}
	tx, err := bns.DecodeTx(raw)
	if err != nil {
		return nil, bns.Errorf(bns.CodeMalformed, "%v", err)
	}
	if err = tx.ValidateBasic(); err != nil {
		return nil, err
	}
	if !tx.VerifySignature(chainID) {
		return nil, bns.Errorf(bns.CodeBadSignature, "signature of %s does not verify for chain %q", tx.Signer, chainID)
	}
	s.mu.Lock()
	if len(s.ok) >= txCacheMax {
		clear(s.ok)
	}
	s.ok[h] = tx
	s.mu.Unlock()
	return tx, nil
}
