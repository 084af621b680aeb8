package agent

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/internal/api"
)

// Several devices per name (docs/devices.md): the devices the user's
// record lists, retiring one, and linking a new one (the new device
// offers itself on the chain and waits; an existing one adds it and
// writes its welcome).

// linkPoll is how often a waiting new device asks the chain whether its
// offer was taken, and whether the welcome is on the hubs.
const linkPoll = 500 * time.Millisecond

// offerRecheck bounds the wait for a newer header before a link code the
// chain does not show is called absent.
const offerRecheck = 10 * time.Second

// apiDevices lists rec's devices; this is the agent's device key.
func apiDevices(rec *bns.Record, this bns.PublicKey) []api.Device {
	var out []api.Device
	for _, d := range rec.AllDevices() {
		out = append(out, api.Device{Label: d.Label, SigningKey: d.SigningKey.String(), AddedAt: d.AddedAt, This: d.SigningKey == this})
	}
	return out
}

// devicesOf is rec's devices as the API carries them, each naming the
// device that added it (from hist, the record's verified history), and
// marking New those another device (or the owner key) added after this
// one (me) joined that seen does not list.
func devicesOf(rec *bns.Record, hist []*bns.HistoryEntry, me bns.PublicKey, seen []string) []api.Device {
	in := func(ds []bns.Device, k bns.PublicKey) (bns.Device, bool) {
		for _, d := range ds {
			if d.SigningKey == k {
				return d, true
			}
		}
		return bns.Device{}, false
	}
	by := map[bns.PublicKey]string{}
	var before []bns.Device
	for _, e := range hist {
		after := (&bns.Record{Profile: e.Profile, Devices: e.Devices}).AllDevices()
		if e.Op == bns.OpDeviceAdd {
			who := "the owner key"
			if d, ok := in(before, e.Signer); ok && e.Signer != e.Owner {
				who = d.Label
			}
			for _, d := range after {
				if _, ok := in(before, d.SigningKey); !ok {
					by[d.SigningKey] = who
				}
			}
		}
		before = after
	}
	mine, _ := rec.Device(me)
	out := apiDevices(rec, me)
	for i, d := range rec.AllDevices() {
		out[i].AddedBy = by[d.SigningKey]
		out[i].New = d.SigningKey != me && d.AddedAt > mine.AddedAt && by[d.SigningKey] != "" && by[d.SigningKey] != mine.Label &&
			!slices.Contains(seen, d.SigningKey.String())
	}
	return out
}

// hubsMoved is the latest change of rec's hubs (from hist, its verified
// history) when a device other than this one (me) signed it after this
// one joined, the hubs are still the ones it set, and no front-end has
// shown it (seenAt); otherwise nil. A move signed by the owner key
// (the recovery phrase) is not warned of.
func hubsMoved(rec *bns.Record, hist []*bns.HistoryEntry, me bns.PublicKey, seenAt int64) *api.HubsMove {
	var last *bns.HistoryEntry
	var by bns.Device
	var prev []string
	for i, e := range hist {
		if i > 0 && !slices.Equal(prev, e.Profile.Hubs) {
			if d, ok := (&bns.Record{Profile: hist[i-1].Profile, Devices: hist[i-1].Devices}).Device(e.Signer); ok && e.Signer != e.Owner {
				last, by = e, d
			} else {
				last = nil
			}
		}
		prev = e.Profile.Hubs
	}
	mine, ok := rec.Device(me)
	if last == nil || !ok || by.SigningKey == me || last.Height <= mine.AddedAt || last.Height <= seenAt ||
		!slices.Equal(last.Profile.Hubs, rec.Profile.Hubs) {
		return nil
	}
	return &api.HubsMove{Hubs: slices.Clone(last.Profile.Hubs), Height: last.Height, By: by.Label}
}

// hubsSeen notes that a front-end showed the person the hubs move at
// the height given: status warns of it no more.
func (a *Agent) hubsSeen(k *call) (any, error) {
	var req api.HubsSeenRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	return nil, a.home.update(func(c *config) { c.SeenHubsAt = max(c.SeenHubsAt, req.Height) })
}

// userRecord opens the client (the keys unlocked) and returns the
// identity, the chain and the user's verified record.
func (a *Agent) userRecord(k *call) (*keystore.Identity, *lookup.Client, *bns.Record, error) {
	if _, err := a.client(k.ctx, k); err != nil {
		return nil, nil, nil, err
	}
	id, err := a.identity("")
	if err != nil {
		return nil, nil, nil, err
	}
	d, err := a.chain.open(k.ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	rec, err := d.Lookup(k.ctx, a.home.config().Name)
	if err != nil {
		return nil, nil, nil, a.chain.note(err)
	}
	return id, d, rec, nil
}

// onChain is the prelude of the calls that need the chain but not the
// user's record: the request read into req, the home's config loaded,
// check (if not nil) passed, then the chain opened.
func (a *Agent) onChain(k *call, req any, check func() error) (*lookup.Client, error) {
	if err := k.decode(req); err != nil {
		return nil, err
	}
	if err := a.home.loadConfig(); err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(); err != nil {
			return nil, err
		}
	}
	return a.chain.open(k.ctx)
}

// errRetired: this device is not one the record lists (removed, or the
// name recovered elsewhere).
func errRetired(name string) error {
	return coded(api.CodeNotADevice, fmt.Errorf("this device is no longer a device of %s: its keys are not in the record on the chain", name),
		"another of your devices removed it, or the name was recovered elsewhere; 'parley whois "+name+"' shows the history")
}

func (a *Agent) devices(k *call) (any, error) {
	id, d, rec, err := a.userRecord(k)
	if err != nil {
		return nil, err
	}
	h, err := d.Height(k.ctx)
	if err != nil {
		return nil, a.chain.note(err)
	}
	_, hist, err := d.History(k.ctx, rec.Name)
	if err != nil {
		return nil, a.chain.note(err)
	}
	return api.Devices{Name: rec.Name, Height: h - 1, Devices: devicesOf(rec, hist, bns.PublicKeyOf(id.SigningKey()), a.home.config().SeenDevices)}, nil
}

// devicesSeen notes that the front-end showed the person the devices it
// names (their warnings included): they are new no more. Keys the record
// does not list are dropped, so the list stays bounded by max_devices.
func (a *Agent) devicesSeen(k *call) (any, error) {
	var req api.DevicesSeenRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	_, _, rec, err := a.userRecord(k)
	if err != nil {
		return nil, err
	}
	seen := slices.Clone(a.home.config().SeenDevices)
	for _, key := range req.SigningKeys {
		if pk, err := bns.ParsePublicKey(key); err == nil && !slices.Contains(seen, key) {
			if _, ok := rec.Device(pk); ok {
				seen = append(seen, key)
			}
		}
	}
	seen = slices.DeleteFunc(seen, func(key string) bool {
		pk, err := bns.ParsePublicKey(key)
		_, ok := rec.Device(pk)
		return err != nil || !ok
	})
	return nil, a.home.update(func(c *config) { c.SeenDevices = seen })
}

func (a *Agent) removeDevice(k *call) (any, error) {
	var req api.DeviceRemoveRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	id, d, rec, err := a.userRecord(k)
	if err != nil {
		return nil, err
	}
	me := bns.PublicKeyOf(id.SigningKey())
	if _, ok := rec.Device(me); !ok {
		return nil, errRetired(rec.Name)
	}
	var target *bns.Device
	for _, dev := range rec.AllDevices() {
		if dev.Label == req.Label {
			target = &dev
		}
	}
	if target == nil {
		return nil, usagef("%s has no device labelled %q ('parley devices' lists them)", rec.Name, req.Label)
	}
	// Any device, the first included, is removed by this device (a
	// listed one); the only device is replaced by a recovery, never
	// removed.
	if len(rec.Devices) == 0 {
		return nil, usagef("%q is %s's only device: 'parley recover' on a new device replaces it", req.Label, rec.Name)
	}
	height, err := d.RemoveDevice(k.ctx, id.SigningKey(), rec.Name, target.SigningKey)
	if err != nil {
		return nil, a.chain.note(err)
	}
	return api.DeviceChange{Name: rec.Name, Label: target.Label, SigningKey: target.SigningKey.String(), Height: height}, nil
}

// offerOf reads the offer of a typed link code, verified: a mistyped code
// is a usage error, one the chain proves absent no_offer.
func (a *Agent) offerOf(k *call, d *lookup.Client, typed string) (wire.LinkCode, *bns.PendingOffer, error) {
	code, err := wire.ParseLinkCode(typed)
	if err != nil {
		return code, nil, usagef("%q is not a link code (%v): type it as the new device shows it, e.g. JN74-DBE2-B23F-YBTX-9", typed, err)
	}
	off, err := d.Link(k.ctx, bns.LinkCode(code))
	if errors.Is(err, lookup.ErrNotFound) {
		// An offer made in the last block is not in the state the newest
		// header proves yet: asked once more, two blocks later (bounded).
		if h, herr := d.Height(k.ctx); herr == nil {
			deadline := time.Now().Add(offerRecheck)
			for time.Now().Before(deadline) {
				if now, herr := d.Height(k.ctx); herr != nil || now > h+1 {
					break
				}
				select {
				case <-k.ctx.Done():
					return code, nil, k.ctx.Err()
				case <-time.After(linkPoll):
				}
			}
			off, err = d.Link(k.ctx, bns.LinkCode(code))
		}
	}
	if errors.Is(err, lookup.ErrNotFound) {
		return code, nil, coded(api.CodeNoOffer, errors.New("no device is waiting with this code (never offered, or its offer expired)"),
			"check the code on the new device; if it waited too long, run 'parley link' there again")
	}
	if err != nil {
		return code, nil, a.chain.note(err)
	}
	return code, off, nil
}

func apiOffer(code wire.LinkCode, off *bns.PendingOffer) api.DeviceOffer {
	return api.DeviceOffer{Code: code.String(), Label: off.Device.Label, SigningKey: off.Device.SigningKey.String(), Height: off.Height, TakenBy: off.TakenBy, For: off.For}
}

func (a *Agent) deviceOffer(k *call) (any, error) {
	var req api.LinkCodeRequest
	d, err := a.onChain(k, &req, nil)
	if err != nil {
		return nil, err
	}
	code, off, err := a.offerOf(k, d, req.Code)
	if err != nil {
		return nil, err
	}
	return apiOffer(code, off), nil
}

func (a *Agent) addDevice(k *call) (any, error) {
	var req api.LinkCodeRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	id, d, rec, err := a.userRecord(k)
	if err != nil {
		return nil, err
	}
	if _, ok := rec.Device(bns.PublicKeyOf(id.SigningKey())); !ok {
		return nil, errRetired(rec.Name)
	}
	code, off, err := a.offerOf(k, d, req.Code)
	if err != nil {
		return nil, err
	}
	// A device of the user's already (its welcome reached no hub the
	// first time): the welcome is written again, nothing is submitted.
	added := func() (int64, bool) {
		dev, ok := rec.Device(off.Device.SigningKey)
		return dev.AddedAt, ok && off.TakenBy == rec.Name
	}
	height, again := added()
	if off.TakenBy != "" && !again {
		return nil, coded(api.CodeChainRefused, fmt.Errorf("the device with code %s was added to %s already", code, off.TakenBy), "a code serves once: run 'parley link' again on the new device")
	}
	if off.For != "" && off.For != rec.Name {
		// The chain refuses it too (offer_for_another).
		return nil, coded(api.CodeChainRefused, fmt.Errorf("the device with code %s offers itself to %s only, not to %s", code, off.For, rec.Name),
			"add only your own device, showing its code to you now; this one is someone else's")
	}
	if !again {
		height, err = d.AddDevice(k.ctx, id.SigningKey(), rec.Name, bns.LinkCode(code))
		var ce *bns.CodeError
		if errors.As(err, &ce) && ce.Code == bns.CodeOfferTaken {
			// Taken in a block newer than the state read above: by this
			// name, it was a first add whose welcome failed.
			if _, off, err = a.offerOf(k, d, req.Code); err == nil {
				if rec, err = d.Lookup(k.ctx, rec.Name); err == nil {
					if height, again = added(); !again {
						err = ce
					}
				}
			}
		}
		if err != nil {
			return nil, a.chain.note(err)
		}
	}
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	if err := c.WriteWelcome(k.ctx, code, off.Device, req.History); err != nil {
		return nil, hinted(fmt.Errorf("%s joined %s at height %d, but its welcome reached no hub: %w", off.Device.Label, rec.Name, height, err),
			"run 'parley devices add "+code.String()+"' again once your hub answers: it writes the welcome again")
	}
	return api.DeviceChange{Name: rec.Name, Label: off.Device.Label, SigningKey: off.Device.SigningKey.String(), Height: height}, nil
}

// link makes this device's keys in an empty home and offers them on the
// chain; the keys are saved (the home then holds an identity without a
// name, as after init) so that wait and accept find them.
func (a *Agent) link(k *call) (any, error) {
	var req api.LinkRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	if err := bns.ValidateDeviceLabel(req.Label); err != nil {
		return nil, usagef("--label %q: %v", req.Label, err)
	}
	if req.Label == bns.FirstDeviceLabel {
		return nil, usagef("--label %q is the first device's: choose another (laptop, phone-2…)", req.Label)
	}
	a.keystoreMu.Lock() // one setup at a time: an init (or another link) at once finds this one's identity
	defer a.keystoreMu.Unlock()
	if req.Name != "" {
		if err := bns.ValidateName(req.Name); err != nil {
			return nil, usagef("--name %q: %v", req.Name, err)
		}
	}
	if a.home.hasIdentity() {
		return nil, coded(api.CodeExists, fmt.Errorf("%s already holds an identity", a.home.dir), "link into a new home: 'parley --home NEWDIR link --node URL'")
	}
	var cfg config
	d, err := a.newHome(k, req.Passphrase, req.ChainConfig, &cfg)
	if err != nil {
		return nil, err
	}
	defer d.Close() // wait and accept open the home's chain with the header store
	id, err := keystore.New()
	if err != nil {
		return nil, err
	}
	p, err := id.Profile(nil)
	if err != nil {
		return nil, err
	}
	dev := bns.Device{SigningKey: p.SigningKey, EncKeys: p.EncKeys, Label: req.Label}
	code, height, err := d.OfferDeviceFor(k.ctx, id.SigningKey(), dev, req.Name)
	if err != nil {
		return nil, err
	}
	id.DropOwner() // a linked device holds its own keys only (docs/devices.md)
	if err := a.saveKeystore(id, []byte(req.Passphrase)); err != nil {
		return nil, err
	}
	cfg.Linking, cfg.LinkingAt = wire.LinkCode(code).String(), height
	if err := a.home.update(func(c *config) { *c = cfg }); err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.id = id
	a.mu.Unlock()
	return api.DeviceOffer{Code: wire.LinkCode(code).String(), Label: dev.Label, SigningKey: dev.SigningKey.String(), Height: height, For: req.Name}, nil
}

// linkWait waits until a name takes this device's offer (or the call's
// deadline passes: canceled), and says which.
func (a *Agent) linkWait(k *call) (any, error) {
	var req api.LinkAcceptRequest
	d, err := a.onChain(k, &req, nil)
	if err != nil {
		return nil, err
	}
	seen := false
	for {
		code, off, err := a.offerOf(k, d, req.Code)
		switch {
		case err != nil && !seen && api.IsCode(a.apiError(err), api.CodeNoOffer) && !a.offerGone(k, d, code):
			// The header this device verified last may be older than the
			// offer's block: asked again once a newer one is.
		case err != nil:
			return nil, err
		case off.TakenBy != "":
			return apiOffer(code, off), nil
		default:
			seen = true
		}
		select {
		case <-k.ctx.Done():
			return nil, k.ctx.Err()
		case <-time.After(linkPoll):
		}
	}
}

// offerGone reports whether this device's own offer of code (the one
// link made, at the height it kept) should be in the state the newest
// verified header proves: then its absence means it expired unseen (a
// page that comes back to it after its lifetime), and waiting on would
// never end.
func (a *Agent) offerGone(k *call, d *lookup.Client, code wire.LinkCode) bool {
	cfg := a.home.config()
	mine, err := wire.ParseLinkCode(cfg.Linking)
	if err != nil || mine != code || cfg.LinkingAt <= 0 {
		return false
	}
	h, err := d.Height(k.ctx)
	return err == nil && h > cfg.LinkingAt+1 // header h proves the state after block h-1
}

// linkAccept makes this device one of req.Name's: the chain must say
// that name took the offer, the verified record must list this device,
// and the welcome must open (sealed to this device, signed by a device
// the record lists); then the state it carries becomes this device's.
func (a *Agent) linkAccept(k *call) (any, error) {
	var (
		req api.LinkAcceptRequest
		id  *keystore.Identity
	)
	d, err := a.onChain(k, &req, func() (err error) {
		if a.home.config().Name != "" {
			return coded(api.CodeExists, fmt.Errorf("this device is %s's already", a.home.config().Name), "")
		}
		id, err = a.identity("passphrase: ")
		return err
	})
	if err != nil {
		return nil, err
	}
	code, off, err := a.offerOf(k, d, req.Code)
	if err != nil {
		return nil, err
	}
	if off.Device.SigningKey != bns.PublicKeyOf(id.SigningKey()) {
		return nil, usagef("the code %s is not this device's offer", code)
	}
	if off.TakenBy == "" || off.TakenBy != req.Name {
		return nil, coded(api.CodeNotADevice, fmt.Errorf("the chain says the offer was taken by %q, not %q", off.TakenBy, req.Name), "")
	}
	var w *wire.Welcome
	for {
		w, err = client.ReadWelcome(k.ctx, req.Name, code, id, d)
		if !errors.Is(err, client.ErrNoWelcome) {
			break
		}
		select {
		case <-k.ctx.Done():
			return nil, fmt.Errorf("waiting for the welcome on %s's hubs: %w", req.Name, k.ctx.Err())
		case <-time.After(linkPoll):
		}
	}
	if err != nil {
		return nil, err
	}
	rec, err := d.Lookup(k.ctx, req.Name)
	if err != nil {
		return nil, err
	}
	approver, _ := rec.Device(w.Approver)
	opts := append([]client.Option{client.WithClock(a.opts.Now), client.WithHTTPClient(a.httpClient())}, a.opts.ClientOptions...)
	c, err := client.Linked(k.ctx, req.Name, id, a.chain, a.home.path(stateF), w, opts...)
	if err != nil {
		return nil, err
	}
	if err := a.home.update(func(x *config) { x.Name, x.Hub, x.Linking, x.LinkingAt = req.Name, rec.Profile.Hubs[0], "", 0 }); err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.c = c
	a.mu.Unlock()
	return api.Linked{Name: req.Name, Label: off.Device.Label, Approver: approver.Label, Contacts: len(c.Contacts()), Messages: len(c.History()), Groups: len(c.Groups())}, nil
}
