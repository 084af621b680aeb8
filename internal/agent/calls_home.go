package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cometbft/cometbft/types"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/cli"
)

// routes registers every call of the API (docs/api.md).
func (a *Agent) routes() {
	a.mux = http.NewServeMux()
	p := api.Prefix
	// The agent, the home and the keys.
	a.route("GET "+p+"/agent", a.agentInfo)
	a.route("POST "+p+"/unlock", a.unlock)
	a.route("POST "+p+"/init", a.initHome)
	a.route("POST "+p+"/restore", a.thenStart(a.restore))
	a.route("POST "+p+"/recover", a.thenStart(a.recoverName))
	a.route("POST "+p+"/register", a.register)
	a.route("POST "+p+"/passphrase", a.passphrase)
	a.route("GET "+p+"/status", a.status)
	// The chain.
	a.route("GET "+p+"/names/{name}", a.whois)
	a.route("GET "+p+"/name", a.nameInfo)
	a.route("POST "+p+"/name/renew", a.renew)
	a.route("PUT "+p+"/name/hubs", a.setHubs)
	a.route("POST "+p+"/name/revoke", a.revoke)
	a.route("POST "+p+"/name/transfer", a.transfer)
	a.route("POST "+p+"/name/forget-owner", a.forgetOwner)
	// Devices.
	a.route("GET "+p+"/devices", a.devices)
	a.route("POST "+p+"/devices/remove", a.removeDevice)
	a.route("POST "+p+"/devices/seen", a.devicesSeen)
	a.route("POST "+p+"/hubs/seen", a.hubsSeen)
	a.route("POST "+p+"/devices/offer", a.deviceOffer)
	a.route("POST "+p+"/devices/add", a.addDevice)
	a.route("POST "+p+"/link", a.link)
	a.route("POST "+p+"/link/wait", a.linkWait)
	a.route("POST "+p+"/link/accept", a.thenStart(a.linkAccept))
	// Settings.
	a.route("GET "+p+"/settings", a.settings)
	a.route("PUT "+p+"/settings/read-receipts", a.setReadReceipts)
	a.route("PUT "+p+"/settings/notifications", a.setNotifications)
	a.route("PUT "+p+"/settings/node", a.setNode)
	a.route("PUT "+p+"/settings/trust", a.setTrust)
	a.route("PUT "+p+"/backup", a.setBackup)
	// Contacts and requests.
	a.route("GET "+p+"/contacts", a.contacts)
	a.route("POST "+p+"/contacts", a.addContact)
	a.route("DELETE "+p+"/contacts/{name}", a.removeContact)
	a.route("POST "+p+"/contacts/{name}/accept", a.answer(true))
	a.route("POST "+p+"/contacts/{name}/decline", a.answer(false))
	a.route("POST "+p+"/contacts/{name}/confirm", a.confirm)
	a.route("POST "+p+"/contacts/{name}/reset", a.reset)
	a.route("GET "+p+"/contacts/{name}/safety", a.safety)
	a.route("POST "+p+"/contacts/{name}/verify", a.verify)
	a.route("POST "+p+"/contacts/{name}/unverify", a.unverify)
	a.route("GET "+p+"/contacts/{name}/profile", a.contactProfile)
	a.route("GET "+p+"/requests", a.requests)
	a.route("POST "+p+"/requests/clear", a.clearRequests)
	a.route("POST "+p+"/blocked", a.block)
	a.route("DELETE "+p+"/blocked/{name}", a.unblock)
	a.route("GET "+p+"/profile", a.profile)
	a.route("PUT "+p+"/profile", a.setProfile)
	// Conversations.
	a.route("GET "+p+"/history", a.history)
	a.route("GET "+p+"/search", a.search)
	a.route("GET "+p+"/conversations/{conv}/messages", a.messages)
	a.route("POST "+p+"/conversations/{conv}/messages", a.send)
	a.route("POST "+p+"/conversations/{conv}/read", a.markRead)
	a.route("POST "+p+"/conversations/{conv}/react", a.react)
	a.route("POST "+p+"/conversations/{conv}/edit", a.edit)
	a.route("POST "+p+"/conversations/{conv}/delete", a.deleteMessage)
	a.route("GET "+p+"/conversations/{conv}/timer", a.timer)
	a.route("PUT "+p+"/conversations/{conv}/timer", a.setTimer)
	a.route("POST "+p+"/conversations/{conv}/files", a.sendFile)
	a.route("POST "+p+"/conversations/{conv}/files/get", a.getFile)
	// Groups.
	a.route("GET "+p+"/groups", a.groups)
	a.route("POST "+p+"/groups", a.createGroup)
	a.route("GET "+p+"/groups/{group}", a.group)
	for _, action := range []string{"invite", "remove", "rename", "leave", "hand-over"} {
		a.route("POST "+p+"/groups/{group}/"+action, a.groupAction(action))
	}
	// Events.
	a.mux.HandleFunc("GET "+p+"/events", a.serveEvents)
	a.patterns = append(a.patterns, "GET "+p+"/events")
}

// thenStart runs a call that sets a home up with a name (restore,
// recover) and, once it succeeded and closed what it opened (the header
// store among them), opens a daemon's client and starts its duties, as
// unlocking or registering does: without them, a daemon set up from a
// browser would follow nothing (no request, no message live) until it
// ran again.
func (a *Agent) thenStart(setUp func(*call) (any, error)) func(*call) (any, error) {
	return func(k *call) (any, error) {
		res, err := setUp(k)
		if err != nil {
			return res, err
		}
		if err := a.Start(k.ctx); err != nil {
			k.warn("the agent's duties did not start", err)
		}
		return res, nil
	}
}

func (a *Agent) agentInfo(k *call) (any, error) {
	return api.AgentInfo{API: "v1", Version: cli.Version(), PID: os.Getpid(), Home: a.home.dir, Name: a.home.config().Name,
		Mode: a.opts.Mode, Locked: a.Locked(), Started: a.started, Identity: a.home.hasIdentity(), Cursor: a.events.cursor(),
		Linking: a.home.config().Linking}, nil
}

func (a *Agent) unlock(k *call) (any, error) {
	var req api.UnlockRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	return nil, a.Unlock(k.ctx, []byte(req.Passphrase))
}

// connectChain learns the chain ID from cc.Node and opens the verified
// directory from the trust root given or, if none, the node's latest
// header, which it records in cfg; the verified headers are kept in
// storeDir. A chain that has no block yet is waited for (progress
// chain_wait).
func (a *Agent) connectChain(k *call, cc api.ChainConfig, cfg *config, storeDir string) (*lookup.Client, error) {
	ctx := k.ctx
	if cc.Node == "" {
		return nil, usagef("give the chain's node (--node URL)")
	}
	cfg.Node, cfg.Witnesses, cfg.TrustHeight = cc.Node, cc.Witnesses, cc.TrustHeight
	id, err := lookup.ChainIDOf(ctx, cfg.Node)
	if err != nil {
		return nil, err
	}
	cfg.ChainID = id
	lc := lookup.Config{ChainID: cfg.ChainID, Primary: cfg.Node, Witnesses: cfg.Witnesses, TrustHeight: cfg.TrustHeight, StoreDir: storeDir,
		OnWait: func() { k.progress(api.Progress{Stage: "chain_wait", Name: id}) }}
	if cfg.TrustHeight != 0 {
		if lc.TrustHash, err = lookup.ParseHash(cc.TrustHash); err != nil {
			return nil, usage(err)
		}
	}
	d, err := lookup.New(ctx, lc)
	if err != nil {
		return nil, err
	}
	height, hash := d.TrustRoot()
	cfg.TrustHeight, cfg.TrustHash = height, lookup.HashString(hash)
	if len(cfg.Witnesses) == 0 {
		k.addNote(&api.Note{Code: "no_witness",
			Message: fmt.Sprintf("warning: no --witness: this device trusts the node %s alone to show it the chain; a witness (another node) would catch it showing a fork", cfg.Node),
			Hint:    fmt.Sprintf("add witnesses with 'parley settings node %s --witness URL'", cfg.Node)})
	}
	return d, nil
}

// saveKeystore seals id under pass into the home's keystore, at the cost
// Options.KeystoreKDF sets (tests only) or the default. The caller holds
// keystoreMu.
func (a *Agent) saveKeystore(id *keystore.Identity, pass []byte) error {
	kdf := keystore.DefaultKDF()
	if a.opts.KeystoreKDF != nil {
		kdf = *a.opts.KeystoreKDF
	}
	return keystore.Save(a.home.path(keystoreF), id, pass, kdf)
}

// errExists: the home holds an identity already.
func (a *Agent) errExists() error {
	return coded(api.CodeExists, fmt.Errorf("%s already holds an identity", a.home.dir), "")
}

// newHome checks the passphrase a new identity's keystore is to be sealed
// under, makes the home and connects to the chain cc names, filling cfg:
// the first steps of init, restore and recover.
func (a *Agent) newHome(k *call, passphrase string, cc api.ChainConfig, cfg *config) (*lookup.Client, error) {
	if err := keystore.CheckPassphrase([]byte(passphrase)); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(a.home.dir, 0o700); err != nil {
		return nil, err
	}
	return a.connectChain(k, cc, cfg, a.home.path(lightDir))
}

func (a *Agent) initHome(k *call) (any, error) {
	var req api.InitRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	a.keystoreMu.Lock()
	defer a.keystoreMu.Unlock()
	if a.home.hasIdentity() {
		return nil, a.errExists()
	}
	var cfg config
	d, err := a.newHome(k, req.Passphrase, req.ChainConfig, &cfg)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	phrase, drawn := req.RecoveryPhrase, ""
	if phrase == "" {
		if phrase, err = keystore.NewPhrase(); err != nil {
			return nil, err
		}
		drawn = phrase
	}
	ident, err := identityOfPhrase(phrase)
	if err != nil {
		return nil, err
	}
	if err := a.saveKeystore(ident, []byte(req.Passphrase)); err != nil {
		return nil, err
	}
	if err := a.home.update(func(c *config) { *c = cfg }); err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.id = ident
	a.mu.Unlock()
	return api.InitResult{Home: a.home.dir, OwnerKey: bns.PublicKeyOf(ident.OwnerKey()).String(), ChainID: cfg.ChainID,
		TrustHeight: cfg.TrustHeight, TrustHash: cfg.TrustHash, RecoveryPhrase: drawn}, nil
}

func (a *Agent) restore(k *call) (any, error) {
	var req api.RestoreRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	ctx, name := k.ctx, req.Name
	a.keystoreMu.Lock()
	defer a.keystoreMu.Unlock()
	if a.home.hasIdentity() {
		return nil, a.errExists()
	}
	var cfg config
	d, err := a.newHome(k, req.Passphrase, req.ChainConfig, &cfg)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	id, c, err := client.Restore(ctx, name, []byte(req.BackupPassphrase), d, a.home.path(stateF), a.opts.ClientOptions...)
	if err != nil {
		return nil, err
	}
	if err := a.saveKeystore(id, []byte(req.Passphrase)); err != nil {
		return nil, err
	}
	rec, err := d.Lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	cfg.Name, cfg.Hub = name, rec.Profile.Hubs[0]
	if err := a.home.update(func(x *config) { *x = cfg }); err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.id = id
	a.mu.Unlock()
	return api.RestoreResult{Name: name, Contacts: len(c.Contacts()), Messages: len(c.History())}, nil
}

func randomSalt() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func (a *Agent) register(k *call) (any, error) {
	var req api.RegisterRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	ctx, name, hubs := k.ctx, req.Name, req.Hubs
	if err := bns.ValidateName(name); err != nil {
		return nil, usage(err)
	}
	if len(hubs) == 0 || len(hubs) > bns.MaxHubs {
		return nil, usagef("give 1 to %d --hub URLs", bns.MaxHubs)
	}
	for _, u := range hubs {
		if err := bns.ValidateHubURL(u); err != nil {
			return nil, usagef("--hub: %w", err)
		}
	}
	hub := strings.Join(hubs, " ")
	if err := a.home.loadConfig(); err != nil {
		return nil, err
	}
	id, err := a.identity("passphrase: ")
	if err != nil {
		return nil, err
	}
	if !id.HasOwner() {
		// The owner key left once a name was registered here: the
		// phrase gives it for this registration, not saved.
		if req.RecoveryPhrase == "" {
			return nil, coded(api.CodePhraseNeeded, fmt.Errorf("registering %s needs your recovery phrase: the owner key left this device once a name was registered here", name),
				"type it when asked, or give it in "+phraseEnvName+" (never as a flag)")
		}
		canonical, err := keystore.NormalizePhrase(req.RecoveryPhrase)
		if err != nil {
			return nil, coded(api.CodeBadPhrase, err, phraseHint)
		}
		key, err := keystore.OwnerKeyOf(canonical)
		if err != nil {
			return nil, err
		}
		with, err := id.WithOwner(key)
		if err != nil {
			return nil, coded(api.CodeNotOwner, fmt.Errorf("this recovery phrase gives owner key %s, and this home's is %s: nothing was sent", bns.PublicKeyOf(key), id.Owner()),
				"type the phrase 'parley init' showed for this home; a phrase of another home is another identity")
		}
		id = with
	}
	if !req.Force {
		if err := checkHubs(ctx, hubs, id); err != nil {
			return nil, err
		}
	}
	d, err := a.chain.open(ctx)
	if err != nil {
		return nil, err
	}
	var p pendingRegistration
	if b, err := os.ReadFile(a.home.path(registerF)); err == nil {
		json.Unmarshal(b, &p)
	}
	if p.Name != name || p.Hub != hub {
		salt, err := randomSalt()
		if err != nil {
			return nil, err
		}
		p = pendingRegistration{Name: name, Hub: hub, Salt: salt}
	}
	saltBytes, _ := hex.DecodeString(p.Salt)
	var salt [32]byte
	copy(salt[:], saltBytes)
	save := func() error {
		b, _ := json.Marshal(p)
		return keystore.WriteFileAtomic(a.home.path(registerF), b)
	}
	// The name is not looked up first: that would tell the node which
	// name is wanted before the preorder hides it.
	if p.PreorderHeight == 0 {
		if err := save(); err != nil { // the salt is kept before it is committed to
			return nil, err
		}
		k.progress(api.Progress{Stage: "preorder", Name: name})
		if p.PreorderHeight, err = d.Preorder(ctx, id.OwnerKey(), name, salt); err != nil {
			return nil, a.registerRefused(name, err)
		}
		if err := save(); err != nil {
			return nil, err
		}
		k.progress(api.Progress{Stage: "preorder_committed", Name: name, Height: p.PreorderHeight})
	} else {
		k.progress(api.Progress{Stage: "resume", Name: name, Height: p.PreorderHeight})
	}
	profile, err := id.Profile(hubs)
	if err != nil {
		return nil, err
	}
	k.progress(api.Progress{Stage: "register", Name: name})
	height, err := d.Register(ctx, id.OwnerKey(), name, salt, p.PreorderHeight, profile)
	if err != nil {
		return nil, a.registerRefused(name, err)
	}
	os.Remove(a.home.path(registerF))
	if err := a.home.update(func(c *config) { c.Name, c.Hub = name, hubs[0] }); err != nil {
		return nil, err
	}
	res := api.RegisterResult{Name: name, Height: height, Hubs: hubs}
	// The owner key leaves the device: from now on its devices renew the
	// name and move its hubs, and the recovery phrase alone transfers,
	// revokes or takes it back (docs/devices.md).
	if res.OwnerKeyDropped, err = a.dropOwner(ctx, d, id, height); err != nil {
		k.warn("the owner key is still on this device", err)
	}
	if err := a.Start(ctx); err != nil {
		k.warn("the agent's duties did not start", err)
	}
	return res, nil
}

// dropOwner removes the owner seed from id and from the home's keystore
// (keystore v2: zeroed and flagged), on a chain that takes devices'
// signatures for renewals and hub moves at height (application protocol
// 3); on an older chain the device keeps it, since nothing else could
// renew the name. It reports whether it dropped it.
func (a *Agent) dropOwner(ctx context.Context, d *lookup.Client, id *keystore.Identity, height int64) (bool, error) {
	if !id.HasOwner() {
		return false, nil
	}
	params, err := d.Params(ctx)
	if err != nil {
		return false, err
	}
	if !params.DevicesAt(height) {
		return false, nil
	}
	a.keystoreMu.Lock()
	defer a.keystoreMu.Unlock()
	id.DropOwner()
	return true, keystore.Resave(a.home.path(keystoreF), id)
}

// checkHubs asks each hub for its hub_info, as the client will: a hub
// that does not answer, or is no Parley hub, is refused before anything
// goes to the chain.
func checkHubs(ctx context.Context, hubs []string, id *keystore.Identity) error {
	for _, u := range hubs {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		_, err := hubclient.Dial(cctx, u, id.SigningKey(), nil)
		cancel()
		if err != nil {
			return fmt.Errorf("hub %s does not answer as a Parley hub (%v): nothing was registered; check the URL, or give --force to register it anyway", u, rootCause(err))
		}
	}
	return nil
}

// rootCause is the innermost error of a chain ("connection refused").
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// registerRefused says what a refusal of the chain means for the person
// registering, and drops a pending preorder that can no longer be used.
func (a *Agent) registerRefused(name string, err error) error {
	var ce *bns.CodeError
	if !errors.As(err, &ce) {
		return err
	}
	drop := func() { os.Remove(a.home.path(registerF)) }
	refused := func(err error) error { return coded(api.CodeChainRefused, err, "") }
	switch ce.Code {
	case bns.CodeNameTaken:
		drop()
		return refused(fmt.Errorf("%s is taken: someone else registered it first, and a registration is final; nothing was registered for you ('parley whois %s' shows its owner): choose another name", name, name))
	case bns.CodeNameRevoked:
		drop()
		return refused(fmt.Errorf("%s was revoked by its owner and can never be registered again: choose another name", name))
	case bns.CodePreorderExpired, bns.CodePreorderNotFound:
		drop()
		return refused(fmt.Errorf("your preorder of %s can no longer be revealed (it expired): run 'parley register %s' again to start over", name, name))
	case bns.CodeTooManyNames:
		return refused(fmt.Errorf("your key already holds as many live names as the chain allows: %s", ce.Msg))
	case bns.CodeTooManyPreorders:
		return refused(fmt.Errorf("your key has as many registrations under way as the chain allows; finish one, or wait until they expire: %s", ce.Msg))
	}
	return err
}

func (a *Agent) passphrase(k *call) (any, error) {
	var req api.PassphraseRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	if err := a.home.loadConfig(); err != nil {
		return nil, err
	}
	a.keystoreMu.Lock()
	defer a.keystoreMu.Unlock()
	id, err := keystore.Load(a.home.path(keystoreF), []byte(req.Current))
	if err != nil {
		return nil, err
	}
	if err := keystore.CheckPassphrase([]byte(req.New)); err != nil {
		return nil, err
	}
	if err := a.saveKeystore(id, []byte(req.New)); err != nil {
		return nil, err
	}
	a.mu.Lock()
	if a.id != nil {
		a.id = id // the same keys, remembering the new file's key (keystore.Resave)
	}
	a.mu.Unlock()
	return nil, nil
}

// apiRecord is rec as the API carries it.
func apiRecord(rec *bns.Record) api.Record {
	out := api.Record{Name: rec.Name, Owner: rec.Owner.String(), Hubs: slices.Clone(rec.Profile.Hubs), ExpiresAt: rec.ExpiresAt,
		UpdatedAt: rec.UpdatedAt, Revoked: rec.Revoked, Seq: rec.Seq}
	if !rec.Profile.IsEmpty() {
		out.SigningKey = rec.Profile.SigningKey.String()
		for _, k := range rec.Profile.EncKeys {
			out.EncKeys = append(out.EncKeys, api.EncKey{KEM: bns.KEMName(k.KEM), Key: hex.EncodeToString(k.Key)})
		}
		out.Devices = apiDevices(rec, bns.PublicKey{})
	}
	return out
}

func (a *Agent) whois(k *call) (any, error) {
	ctx, name := k.ctx, k.param("name")
	if err := a.home.loadConfig(); err != nil {
		return nil, err
	}
	d, err := a.chain.open(ctx)
	var (
		rec    *bns.Record
		hist   []*bns.HistoryEntry
		height int64
	)
	if err == nil {
		rec, hist, height, err = d.HistoryAt(ctx, name)
		err = a.chain.note(err)
	}
	if client.IsOffline(err) {
		// The chain down: as last verified (in memory, or sealed in the
		// home, so that it outlives the agent).
		w, ok, cerr := a.cachedRecord(k, name)
		if cerr != nil {
			return nil, cerr
		}
		if ok {
			w.Cached = true
			return w, nil
		}
		// A contact: the record confirmed for them, as the state holds it
		// (sealed there, so it outlives the agent: a restarted daemon,
		// which opens the state when it starts, answers from it).
		if c := a.opened(); c != nil {
			if rec, err := c.ContactRecord(name); err == nil && rec != nil {
				return api.Whois{Record: apiRecord(rec), Cached: true}, nil
			}
		}
	}
	if err != nil {
		return nil, err
	}
	out := api.Whois{Record: apiRecord(rec), VerifiedAt: a.opts.Now(), Height: height}
	for i, e := range hist {
		var note string
		if i > 0 {
			note = historyNote(hist[i-1], e)
		}
		out.History = append(out.History, api.HistoryEntry{Seq: e.Seq, Height: e.Height, Op: e.Op.String(), Note: note})
	}
	a.records.put(name, out)
	if !rec.Profile.IsEmpty() && a.home.config().Name != "" {
		id, err := a.identity("passphrase (for the safety number): ")
		switch {
		case errors.Is(err, keystore.ErrBadPassphrase):
			return nil, err
		case err != nil:
			k.warn("the safety number needs your keys", err)
		default:
			own, err := id.Profile(nil)
			if err != nil {
				return nil, err
			}
			out.Safety = safetyNumber(a.home.config().Name, own, rec)
		}
	}
	a.saveRecords(k)
	return out, nil
}

func (a *Agent) nameInfo(k *call) (any, error) {
	ctx := k.ctx
	if err := a.home.loadConfig(); err != nil {
		return nil, err
	}
	cfg := a.home.config()
	if cfg.Name == "" {
		return nil, coded(api.CodeNoName, errors.New("no name registered yet: run 'parley register NAME --hub URL'"), "")
	}
	d, err := a.chain.open(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := d.Lookup(ctx, cfg.Name)
	if err != nil {
		return nil, a.chain.note(err)
	}
	lb, err := d.Latest(ctx)
	if err != nil {
		return nil, a.chain.note(err)
	}
	params, err := d.Params(ctx)
	if err != nil {
		return nil, a.chain.note(err)
	}
	return api.NameInfo{Name: rec.Name, Hubs: rec.Profile.Hubs, ExpiresAt: rec.ExpiresAt, Height: lb.Height, Live: rec.Live(lb.Height),
		Expiry: expiry(rec, lb.Height, params)}, nil
}

// expiry says where rec stands at height now: when it expires; once
// expired, for how long its owner may still renew it; after that, that it
// is anyone's.
func expiry(rec *bns.Record, now int64, p bns.Params) string {
	end := rec.ExpiresAt + p.GracePeriod // the last height a renewal lands at
	switch {
	case rec.Revoked:
		return "REVOKED: the name can never be used again"
	case rec.Live(now):
		return fmt.Sprintf("expires at height %d (%d blocks from now)", rec.ExpiresAt, rec.ExpiresAt-now)
	case now < end:
		return fmt.Sprintf("EXPIRED at height %d (%d blocks ago): only you can renew it, for %d more blocks (until height %d), then anyone may register it: run 'parley name renew'",
			rec.ExpiresAt, now-rec.ExpiresAt, end-now, end)
	default:
		return fmt.Sprintf("EXPIRED at height %d, and renewal ended at height %d: anyone may register it now", rec.ExpiresAt, end)
	}
}

func (a *Agent) renew(k *call) (any, error) {
	ctx := k.ctx
	if _, err := a.client(ctx, k); err != nil {
		return nil, err
	}
	id, _ := a.identity("")
	name := a.home.config().Name
	d, err := a.chain.open(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := d.Lookup(ctx, name)
	if err != nil {
		return nil, a.chain.note(err)
	}
	signer, err := dailySigner(ctx, d, rec, id, "renew it")
	if err != nil {
		return nil, err
	}
	height, err := d.Submit(ctx, signer, &bns.Tx{Type: bns.TxRenew, Name: name})
	if err != nil {
		return nil, err
	}
	rec, err = d.Lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	return api.Renewed{Name: name, Height: height, ExpiresAt: rec.ExpiresAt}, nil
}

func (a *Agent) revoke(k *call) (any, error) {
	var req api.RevokeRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	ctx := k.ctx
	if _, err := a.client(ctx, k); err != nil {
		return nil, err
	}
	id, _ := a.identity("")
	name := a.home.config().Name
	if req.Confirm != name {
		return nil, usagef("revoking is permanent: give --confirm %s", name)
	}
	d, err := a.chain.open(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := d.Lookup(ctx, name)
	if err != nil {
		return nil, a.chain.note(err)
	}
	owner, err := ownerKeyFor(rec, id, req.RecoveryPhrase, "revoking")
	if err != nil {
		return nil, err
	}
	height, err := d.Submit(ctx, owner, &bns.Tx{Type: bns.TxRevoke, Name: name})
	if err != nil {
		return nil, err
	}
	return api.Height{Height: height}, nil
}

// forgetOwner removes the owner seed from the keystore of a home made
// before keystore v2, once the recovery phrase given is the one it came
// from (so the person keeps it elsewhere); a wrong phrase removes
// nothing.
func (a *Agent) forgetOwner(k *call) (any, error) {
	var req api.ForgetOwnerRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	id, err := a.identity("passphrase: ")
	if err != nil {
		return nil, err
	}
	if !id.HasOwner() {
		return api.ForgetOwnerResult{}, nil
	}
	canonical, err := keystore.NormalizePhrase(req.RecoveryPhrase)
	if err != nil {
		return nil, coded(api.CodeBadPhrase, err, phraseHint)
	}
	key, err := keystore.OwnerKeyOf(canonical)
	if err != nil {
		return nil, err
	}
	if pub, own := bns.PublicKeyOf(key), id.Owner(); subtle.ConstantTimeCompare(pub[:], own[:]) != 1 {
		return nil, coded(api.CodeNotOwner, fmt.Errorf("this recovery phrase gives owner key %s, and this device holds %s: nothing was removed", pub, id.Owner()),
			"check the words; if this home was made before recovery phrases, it has none: keep the owner key here")
	}
	a.keystoreMu.Lock()
	defer a.keystoreMu.Unlock()
	id.DropOwner()
	if err := keystore.Resave(a.home.path(keystoreF), id); err != nil {
		return nil, err
	}
	return api.ForgetOwnerResult{Forgotten: true}, nil
}

// transfer gives the name to another owner key, signed by the owner key
// (the recovery phrase's, or this device's if it holds it).
func (a *Agent) transfer(k *call) (any, error) {
	var req api.TransferRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	ctx := k.ctx
	if _, err := a.client(ctx, k); err != nil {
		return nil, err
	}
	id, _ := a.identity("")
	name := a.home.config().Name
	if req.Confirm != name {
		return nil, usagef("giving your name away is permanent: give --confirm %s", name)
	}
	to, err := bns.ParsePublicKey(req.NewOwner)
	if err != nil {
		return nil, usagef("the new owner is an owner key, as 'parley init' shows it (ed25519: and 64 hex digits): %w", err)
	}
	d, err := a.chain.open(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := d.Lookup(ctx, name)
	if err != nil {
		return nil, a.chain.note(err)
	}
	if to == rec.Owner {
		return nil, usagef("%s is %s's owner key already", to, name)
	}
	owner, err := ownerKeyFor(rec, id, req.RecoveryPhrase, "giving away")
	if err != nil {
		return nil, err
	}
	height, err := d.Submit(ctx, owner, &bns.Tx{Type: bns.TxTransfer, Name: name, NewOwner: to})
	if err != nil {
		return nil, err
	}
	return api.Height{Height: height}, nil
}

func (a *Agent) setHubs(k *call) (any, error) {
	var req api.HubsRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	ctx, urls := k.ctx, req.Hubs
	if len(urls) == 0 || len(urls) > bns.MaxHubs {
		return nil, usagef("give 1 to %d hub URLs", bns.MaxHubs)
	}
	for i, u := range urls {
		if err := bns.ValidateHubURL(u); err != nil {
			return nil, usage(err)
		}
		if slices.Contains(urls[:i], u) {
			return nil, usagef("%s is given twice", u)
		}
	}
	c, err := a.client(ctx, k)
	if err != nil {
		return nil, err
	}
	id, _ := a.identity("")
	name := a.home.config().Name
	d, err := a.chain.open(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := d.Lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	signer, err := dailySigner(ctx, d, rec, id, "move its hubs")
	if err != nil {
		return nil, err
	}
	out := &api.HubsResult{Hubs: urls}
	for _, u := range urls {
		if slices.Contains(c.Hubs(), u) {
			continue
		}
		rep, err := c.CopyTo(ctx, u, func(done, total int) {
			k.progress(api.Progress{Stage: "copy", Name: u, Done: int64(done), Total: int64(total)})
		})
		if err != nil {
			return out, fmt.Errorf("copying your data to %s (nothing published yet; run this again): %w", u, a.plainOffline(err))
		}
		hc := api.HubCopy{Hub: u, Copied: rep.Copied, Had: rep.Had, Republished: rep.Republished, Lost: rep.Lost}
		for _, d := range rep.Down {
			hc.Down = append(hc.Down, a.apiError(a.plainOffline(d)))
		}
		out.Copies = append(out.Copies, hc)
	}
	p := rec.Profile
	p.Hubs = urls
	height, err := d.Submit(ctx, signer, &bns.Tx{Type: bns.TxUpdate, Name: name, Profile: p})
	if err != nil {
		return out, err
	}
	out.Height = height
	if err := a.home.update(func(c *config) { c.Hub = urls[0] }); err != nil {
		return out, err
	}
	now, err := d.Lookup(ctx, name) // this process reads its own writes
	if err != nil {
		return out, err
	}
	if err := c.SetHubs(urls, now.Seq); err != nil {
		return out, err
	}
	if err := quiet(c.Flush(ctx)); err != nil { // what waited, to the new hubs too
		k.warn("messages still queued", err)
	}
	for _, u := range rec.Profile.Hubs {
		if slices.Contains(urls, u) {
			continue
		}
		// Requests that came in meanwhile go with you.
		n, junk, err := c.MoveInbox(ctx, u, urls[0])
		out.Moved = append(out.Moved, api.InboxMove{From: u, To: urls[0], Moved: n, Junk: junk, Error: a.apiError(err)})
		if !req.EmptyOld {
			continue
		}
		deleted, err := c.EmptyHub(ctx, u)
		if err != nil && !client.IsOffline(err) {
			return out, fmt.Errorf("emptying %s, which your record no longer lists: %w", u, err)
		}
		out.Emptied = append(out.Emptied, api.Emptied{Hub: u, Deleted: deleted, Error: a.apiError(a.plainOffline(err))})
	}
	return out, nil
}

func (a *Agent) status(k *call) (any, error) {
	ctx := k.ctx
	c, err := a.client(ctx, k)
	if err != nil {
		return nil, err
	}
	cfg := a.home.config()
	out := api.Status{Name: cfg.Name, Chain: api.ChainStatus{ID: cfg.ChainID, Node: cfg.Node, Witnesses: len(cfg.Witnesses)}}
	d, err := a.chain.open(ctx)
	var lb *types.LightBlock
	if err == nil {
		lb, err = d.Latest(ctx)
		err = a.chain.note(err)
	}
	switch {
	case client.IsOffline(err):
		out.Chain.Error = a.apiError(err)
	case err != nil:
		return nil, err
	default:
		out.Chain.Height, out.Chain.Time, out.Chain.Hash = lb.Height, lb.Time.UTC(), lookup.HashString(lb.Hash())
	}
	if lb != nil {
		if params, err := d.Params(ctx); err != nil {
			out.NameError = a.apiError(err)
		} else if rec, hist, err := d.History(ctx, cfg.Name); err != nil {
			out.NameError = a.apiError(err)
		} else {
			out.NameState = expiry(rec, lb.Height, params)
			if id, err := a.identity(""); err == nil {
				for _, dev := range devicesOf(rec, hist, bns.PublicKeyOf(id.SigningKey()), cfg.SeenDevices) {
					if dev.New {
						out.NewDevices = append(out.NewDevices, dev)
					}
				}
				out.OwnerKeyHere = id.HasOwner() && id.Owner() == rec.Owner
				out.HubsMoved = hubsMoved(rec, hist, bns.PublicKeyOf(id.SigningKey()), cfg.SeenHubsAt)
			}
		}
	}
	switch err := c.CheckOwnRecord(ctx); {
	case errors.Is(err, client.ErrNotMine):
		out.Keys, out.KeysError = "not_mine", a.apiError(err)
	case err != nil:
		out.Keys, out.KeysError = "unchecked", a.apiError(err)
	default:
		out.Keys = "ok"
	}
	st := c.Status(ctx)
	for _, hs := range st.Hubs {
		h := api.HubStatus{URL: hs.URL, Waiting: hs.Waiting, Error: a.apiError(hs.Err)}
		if hs.Err == nil {
			h.LatencyMS = float64(hs.Latency) / float64(time.Millisecond)
		}
		out.Hubs = append(out.Hubs, h)
	}
	out.Deletions, out.Requests, out.Contacts, out.Blocked, out.Groups = st.Deletions, st.Requests, st.Contacts, st.Blocked, st.Groups
	out.Backup, out.ReadReceipts = st.Backup, st.ReadReceipts
	return out, nil
}

func (a *Agent) settings(k *call) (any, error) {
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	cfg := a.home.config()
	return api.Settings{ReadReceipts: c.ReadReceipts(), Notifications: cfg.Notifications, Blocked: nonNil(c.Blocked()),
		Node: cfg.Node, Witnesses: nonNil(cfg.Witnesses)}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *Agent) setReadReceipts(k *call) (any, error) {
	var req api.OnOff
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	return nil, c.SetReadReceipts(k.ctx, req.On)
}

func (a *Agent) setNotifications(k *call) (any, error) {
	var req api.OnOff
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	if err := a.home.loadConfig(); err != nil {
		return nil, err
	}
	return nil, a.home.update(func(c *config) { c.Notifications = req.On })
}

func (a *Agent) setNode(k *call) (any, error) {
	var req api.NodeRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	if err := a.home.loadConfig(); err != nil {
		return nil, err
	}
	id, err := lookup.ChainIDOf(k.ctx, req.Node)
	if err != nil {
		return nil, err
	}
	cfg := a.home.config()
	if id != cfg.ChainID {
		return nil, fmt.Errorf("%s serves chain %q, not %q, the one this device trusts", req.Node, id, cfg.ChainID)
	}
	cfg.Node, cfg.Witnesses = req.Node, req.Witnesses
	lc, err := a.home.lookupConfig(cfg)
	if err != nil {
		return nil, err
	}
	var lb *types.LightBlock
	if err := a.chain.swap(func() error { // the header store is opened by one directory at a time
		d, err := lookup.New(k.ctx, lc) // checks the node's headers from the trust root
		if err != nil {
			return fmt.Errorf("%s: %w", req.Node, err)
		}
		lb, err = d.Latest(k.ctx)
		d.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", req.Node, err)
		}
		return a.home.update(func(c *config) {
			c.Node, c.Witnesses = req.Node, req.Witnesses
			if a.home.locked {
				c.TrustHeight, c.TrustHash = lb.Height, lookup.HashString(lb.Hash())
			}
		})
	}); err != nil {
		return nil, err
	}
	return api.NodeResult{Node: req.Node, Witnesses: len(req.Witnesses), ChainID: id}, nil
}

func (a *Agent) setTrust(k *call) (any, error) {
	var req api.TrustRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	sum, err := lookup.ParseHash(req.Hash)
	if err != nil || req.Height <= 0 {
		return nil, usagef("give the header as --trust-height H (a positive height) and --trust-hash HEX (64 hex digits)")
	}
	if err := a.home.loadConfig(); err != nil {
		return nil, err
	}
	cfg := a.home.config()
	cfg.TrustHeight, cfg.TrustHash = req.Height, lookup.HashString(sum)
	lc, err := a.home.lookupConfig(cfg)
	if err != nil {
		return nil, err
	}
	// Verified into a new store, which replaces the old one only then.
	fresh := a.home.path(lightDir + ".new")
	os.RemoveAll(fresh)
	lc.StoreDir = fresh
	d, err := lookup.New(k.ctx, lc)
	if err != nil {
		os.RemoveAll(fresh)
		return nil, err
	}
	lb, err := d.Latest(k.ctx)
	d.Close()
	if err != nil {
		os.RemoveAll(fresh)
		return nil, err
	}
	if err := a.chain.swap(func() error {
		if err := os.RemoveAll(a.home.path(lightDir)); err != nil {
			return err
		}
		if err := os.Rename(fresh, a.home.path(lightDir)); err != nil {
			return err
		}
		return a.home.update(func(c *config) { c.TrustHeight, c.TrustHash = cfg.TrustHeight, cfg.TrustHash })
	}); err != nil {
		return nil, err
	}
	return api.TrustResult{Height: req.Height, Hash: cfg.TrustHash, VerifiedHeight: lb.Height}, nil
}

func (a *Agent) setBackup(k *call) (any, error) {
	var req api.BackupRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	if !req.On {
		return nil, c.DisableBackup(k.ctx)
	}
	if err := keystore.CheckPassphrase([]byte(req.Passphrase)); err != nil {
		return nil, err
	}
	return nil, c.EnableBackup(k.ctx, []byte(req.Passphrase))
}

// safetyNumber is the safety number of the user (name, with the profile
// own) and rec.
func safetyNumber(name string, own bns.Profile, rec *bns.Record) string {
	return wire.SafetyNumber(name, own, rec.Name, rec.Profile)
}

// dailySigner is the key that signs a renewal or a hub move of rec (what
// a device does day to day): this device's signing key when rec lists
// the device and the chain takes devices' signatures for them
// (application protocol 3), else the owner key if this device holds it
// (a home made before keystore v2, or on an older chain). Otherwise it
// refuses before anything is sent, saying why.
func dailySigner(ctx context.Context, d *lookup.Client, rec *bns.Record, id *keystore.Identity, what string) (ed25519.PrivateKey, error) {
	_, listed := rec.Device(bns.PublicKeyOf(id.SigningKey()))
	if listed {
		lb, err := d.Latest(ctx)
		if err != nil {
			return nil, err
		}
		params, err := d.Params(ctx)
		if err != nil {
			return nil, err
		}
		if params.DevicesAt(lb.Height + 1) {
			return id.SigningKey(), nil
		}
	}
	if k := id.OwnerKey(); k != nil && bns.PublicKeyOf(k) == rec.Owner {
		return k, nil
	}
	if !listed {
		return nil, coded(api.CodeNotADevice, fmt.Errorf("this device is no longer a device of %s, so it cannot %s", rec.Name, what),
			"'parley whois "+rec.Name+"' shows when it was removed or replaced; run it on a device the record lists")
	}
	return nil, coded(api.CodeNotOwner, fmt.Errorf("this chain takes only %s's owner key to %s (it runs no application protocol 3 yet), and this device does not hold it", rec.Name, what),
		"run it on the device that holds the owner key, or take the name back with 'parley recover' and your recovery phrase")
}

// ownerKeyFor is the owner key of rec for what only it signs (transfer,
// revoke): the recovery phrase's when one is given (refused, naming why,
// when it is not a phrase or not rec's owner's), else this device's if it
// holds it; without either, phrase_needed. Nothing is sent before it
// answers.
func ownerKeyFor(rec *bns.Record, id *keystore.Identity, phrase, doing string) (ed25519.PrivateKey, error) {
	if phrase == "" {
		if k := id.OwnerKey(); k != nil && bns.PublicKeyOf(k) == rec.Owner {
			return k, nil
		}
		return nil, coded(api.CodePhraseNeeded, fmt.Errorf("%s %s needs its recovery phrase: its owner key is on no device", doing, rec.Name),
			"type it when asked, or give it in "+phraseEnvName+" (never as a flag)")
	}
	canonical, err := keystore.NormalizePhrase(phrase)
	if err != nil {
		return nil, coded(api.CodeBadPhrase, err, phraseHint)
	}
	k, err := keystore.OwnerKeyOf(canonical)
	if err != nil {
		return nil, err
	}
	if pub := bns.PublicKeyOf(k); subtle.ConstantTimeCompare(pub[:], rec.Owner[:]) != 1 {
		return nil, coded(api.CodeNotOwner, fmt.Errorf("%w %s: the phrase gives owner key %s, and %s is owned by %s; nothing was sent", errNotOwner, rec.Name, pub, rec.Name, rec.Owner),
			"check the words; a phrase made by another 'parley init' is another identity")
	}
	return k, nil
}

// phraseEnvName is where front-ends read a recovery phrase from in
// scripts (never a flag).
const phraseEnvName = "PARLEY_RECOVERY_PHRASE"
