package app

import (
	"crypto/sha256"
	"encoding/hex"
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
	if next := c.nonce(tx.Signer); tx.Nonce != next {
		return nil, badNonce(tx, next)
	}
	switch tx.Type {
	case bns.TxPreorder:
		if c.st.get(bns.PreorderKey(c.height, tx.Commitment)) != nil {
			return nil, bns.Errorf(bns.CodePreorderExists, "commitment %x is already in this block", tx.Commitment[:8])
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
	if rec.Owner != tx.Signer {
		return nil, bns.Errorf(bns.CodeUnauthorized, "%s does not own %q", tx.Signer, tx.Name)
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
		if n := len(c.names(tx.NewOwner)); int64(n) >= c.params.MaxNamesPerOwner {
			return nil, bns.Errorf(bns.CodeTooManyNames, "%s already holds %d names", tx.NewOwner, n)
		}
	case bns.TxRenew, bns.TxRevoke:
		if c.height > rec.ExpiresAt+c.params.GracePeriod {
			return nil, bns.Errorf(bns.CodeNameExpired, "name %q expired at height %d and its grace period ended at %d", tx.Name, rec.ExpiresAt, rec.ExpiresAt+c.params.GracePeriod)
		}
	}
	return tx, nil
}

func badNonce(tx *bns.Tx, next uint64) error {
	return bns.Errorf(bns.CodeBadNonce, "nonce %d for %s, want %d", tx.Nonce, tx.Signer, next)
}

func (c *execCtx) validateRegister(tx *bns.Tx) error {
	commitment := bns.PreorderCommitment(c.chainID, tx.Name, tx.Salt, tx.Signer)
	pre := c.preorder(tx.PreorderHeight, commitment)
	switch {
	case pre == nil:
		return bns.Errorf(bns.CodePreorderNotFound, "no pending preorder by %s at height %d for this name and salt (preorders expire after %d blocks)", tx.Signer, tx.PreorderHeight, c.params.PreorderTTL)
	case pre.Height >= c.height:
		return bns.Errorf(bns.CodePreorderTooRecent, "preorder at height %d; register must come in a later block", pre.Height)
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
		case c.displaces(rec, pre):
			// An earlier preorder takes the name back from a later one.
		case c.height <= rec.ExpiresAt+c.params.GracePeriod:
			return bns.Errorf(bns.CodeNameTaken, "name %q is held until height %d", tx.Name, rec.ExpiresAt+c.params.GracePeriod)
		}
	}
	if n := len(c.names(tx.Signer)); int64(n) >= c.params.MaxNamesPerOwner {
		return bns.Errorf(bns.CodeTooManyNames, "%s already holds %d names", tx.Signer, n)
	}
	return nil
}

// displaces reports whether a register backed by pre takes the name from
// rec: rec is still within its contest window (its preorder's TTL) and pre
// came first.
func (c *execCtx) displaces(rec *bns.Record, pre *bns.Preorder) bool {
	if rec.Revoked || rec.Owner == pre.Owner || c.height > rec.PreorderHeight+c.params.PreorderTTL {
		return false
	}
	return pre.Height < rec.PreorderHeight || (pre.Height == rec.PreorderHeight && pre.Index < rec.PreorderIndex)
}

// apply changes the state for a validated transaction and returns its events.
func (c *execCtx) apply(tx *bns.Tx) []abci.Event {
	c.st.set(bns.NonceKey(tx.Signer), bns.MarshalNonce(tx.Nonce+1))
	if tx.Type == bns.TxPreorder {
		c.st.set(bns.PreorderKey(c.height, tx.Commitment), (&bns.Preorder{Owner: tx.Signer, Index: c.index}).Marshal())
		return []abci.Event{{Type: "bns", Attributes: []abci.EventAttribute{
			{Key: "op", Value: "preorder", Index: true},
			{Key: "account", Value: hex.EncodeToString(tx.Signer[:]), Index: true},
		}}}
	}

	rec := c.record(tx.Name)
	var op bns.Op
	switch tx.Type {
	case bns.TxRegister:
		commitment := bns.PreorderCommitment(c.chainID, tx.Name, tx.Salt, tx.Signer)
		pre := c.preorder(tx.PreorderHeight, commitment)
		c.st.delete(bns.PreorderKey(pre.Height, commitment))
		op = bns.OpRegister
		if rec == nil {
			rec = &bns.Record{Name: tx.Name}
		} else {
			if c.displaces(rec, pre) {
				op = bns.OpDisplace
			}
			c.removeName(rec.Owner, tx.Name)
		}
		rec.Owner = tx.Signer
		rec.Profile = tx.Profile.Clone()
		rec.PreorderHeight, rec.PreorderIndex = pre.Height, pre.Index
		rec.RegisteredAt = c.height
		rec.ExpiresAt = c.height + c.params.NameLifetime
		c.addName(tx.Signer, tx.Name)
	case bns.TxUpdate:
		op = bns.OpUpdate
		rec.Profile = tx.Profile.Clone()
	case bns.TxTransfer:
		op = bns.OpTransfer
		c.removeName(rec.Owner, tx.Name)
		rec.Owner = tx.NewOwner
		rec.Profile = bns.Profile{}
		c.addName(tx.NewOwner, tx.Name)
	case bns.TxRenew:
		op = bns.OpRenew
		rec.ExpiresAt = c.height + c.params.NameLifetime
	case bns.TxRevoke:
		op = bns.OpRevoke
		rec.Revoked = true
		rec.Profile = bns.Profile{}
		c.removeName(rec.Owner, tx.Name)
	}
	rec.UpdatedAt = c.height
	entry := &bns.HistoryEntry{
		Seq: rec.Seq + 1, Height: c.height, Op: op, Owner: rec.Owner,
		Profile: rec.Profile, ExpiresAt: rec.ExpiresAt, Revoked: rec.Revoked,
	}
	rec.Seq = entry.Seq
	rec.HistoryHash = entry.Chain(rec.HistoryHash)
	c.st.set(bns.HistoryKey(tx.Name, entry.Seq), entry.Marshal())
	c.st.set(bns.RecordKey(tx.Name), rec.Marshal())

	return []abci.Event{{Type: "bns", Attributes: []abci.EventAttribute{
		{Key: "op", Value: op.String(), Index: true},
		{Key: "name", Value: tx.Name, Index: true},
		{Key: "owner", Value: hex.EncodeToString(rec.Owner[:]), Index: true},
		{Key: "seq", Value: strconv.FormatUint(rec.Seq, 10), Index: false},
	}}}
}

func (c *execCtx) nonce(account bns.PublicKey) uint64 {
	b := c.st.get(bns.NonceKey(account))
	if b == nil {
		return 0
	}
	n, err := bns.UnmarshalNonce(b)
	if err != nil {
		panic("app: stored nonce: " + err.Error())
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

func (c *execCtx) names(owner bns.PublicKey) []string {
	b := c.st.get(bns.OwnerKey(owner))
	if b == nil {
		return nil
	}
	names, err := bns.UnmarshalNames(b)
	if err != nil {
		panic("app: stored names: " + err.Error())
	}
	return names
}

func (c *execCtx) addName(owner bns.PublicKey, name string) {
	names := c.names(owner)
	i, found := slices.BinarySearch(names, name)
	if !found {
		names = slices.Insert(names, i, name)
	}
	c.st.set(bns.OwnerKey(owner), bns.MarshalNames(names))
}

func (c *execCtx) removeName(owner bns.PublicKey, name string) {
	names := c.names(owner)
	i, found := slices.BinarySearch(names, name)
	if !found {
		return
	}
	names = slices.Delete(names, i, i+1)
	if len(names) == 0 {
		c.st.delete(bns.OwnerKey(owner))
		return
	}
	c.st.set(bns.OwnerKey(owner), bns.MarshalNames(names))
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
