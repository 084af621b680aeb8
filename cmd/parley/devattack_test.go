package main

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/hub/driver/memory"
	"github.com/parley-im/parley/hub/server"
	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/await"
)

// TestSetUpAndLinkAtOnce: the web app's first run is open in two tabs,
// and the person chooses "set up a new name" in one and "link to a name
// I have" in the other (or double-clicks "link"): init and link run at
// once on the empty home. Each found it empty; link wrote its keystore
// without waiting for init's, so the phrase init showed could own
// nothing the home holds, or the code link showed offered keys the home
// no longer has. One setup at a time: exactly one succeeds, the others
// are 409 exists, and what it showed is the keystore's.
func TestSetUpAndLinkAtOnce(t *testing.T) {
	rpc, _ := startWorld(t)
	const pass = "correct horse battery staple"
	home := filepath.Join(t.TempDir(), "h")
	login := startWeb(t, home)
	app := origin(login)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	res, err := browser.Get(login)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()

	type answer struct {
		call   string
		status int
		env    struct {
			Result json.RawMessage `json:"result"`
			Error  *api.Error      `json:"error"`
		}
	}
	cc := api.ChainConfig{Node: rpc}
	initBody, _ := json.Marshal(api.InitRequest{ChainConfig: cc, Passphrase: pass})
	linkBody, _ := json.Marshal(api.LinkRequest{ChainConfig: cc, Label: "laptop", Passphrase: pass})
	answers := []answer{{call: "link"}, {call: "init"}, {call: "link"}, {call: "init"}}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := map[string][]byte{"init": initBody, "link": linkBody}[answers[i].call]
			req, _ := http.NewRequest("POST", app+"/api/v1/"+answers[i].call, strings.NewReader(string(body)))
			req.Header.Set("Origin", app)
			req.Header.Set("Content-Type", "application/json")
			<-start
			res, err := browser.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			answers[i].status = res.StatusCode
			json.NewDecoder(res.Body).Decode(&answers[i].env)
		}()
	}
	close(start)
	wg.Wait()

	id, err := keystore.Load(filepath.Join(home, "keystore"), []byte(pass))
	if err != nil {
		t.Fatal(err)
	}
	made := 0
	for i, a := range answers {
		switch {
		case a.status == http.StatusOK:
			made++
			if a.call == "init" {
				var r api.InitResult
				json.Unmarshal(a.env.Result, &r)
				if got := bns.PublicKeyOf(id.OwnerKey()).String(); r.OwnerKey != got {
					t.Errorf("%s %d showed the recovery phrase of owner key %s, but the home's keystore holds %s", a.call, i, r.OwnerKey, got)
				}
			} else {
				var r api.DeviceOffer
				json.Unmarshal(a.env.Result, &r)
				if got := bns.PublicKeyOf(id.SigningKey()).String(); r.SigningKey != got {
					t.Errorf("%s %d showed a link code offering device key %s, but the home's keystore holds %s", a.call, i, r.SigningKey, got)
				}
			}
		case a.env.Error != nil && a.env.Error.Code == api.CodeExists:
		default:
			t.Errorf("%s %d: %d %+v, want 200 or 409 exists", a.call, i, a.status, a.env.Error)
		}
	}
	if made != 1 {
		t.Errorf("%d of %d setups and links at once succeeded, want 1", made, len(answers))
	}
}

// TestRecoverRetiresLinkedDevices: alice has a phone and a linked laptop;
// both are stolen. On a new device she recovers the name with her
// phrase. Once bob confirms her new keys, nothing he sends reaches either
// stolen device, and nothing the laptop writes reaches bob.
func TestRecoverRetiresLinkedDevices(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	phone, bob := filepath.Join(t.TempDir(), "alice"), filepath.Join(t.TempDir(), "bob")
	phrase := initWithPhrase(t, rpc, phone)
	initHome(t, rpc, bob)
	parley(t, "--home", phone, "register", "alice", "--hub", hubs[0])
	parley(t, "--home", bob, "register", "bob", "--hub", hubs[1])
	awaitName(t, phone, "bob")
	awaitName(t, bob, "alice")
	befriend(t, map[string]string{"alice": phone, "bob": bob}, "alice", "bob")

	laptop := filepath.Join(t.TempDir(), "alice-laptop")
	code, out, errb, done := startLink(t, rpc, laptop, "--label", "laptop", "--name", "alice")
	parley(t, "--home", phone, "devices", "add", code, "--yes")
	if c := <-done; c != 0 {
		t.Fatalf("link: exit %d\n%s%s", c, out.String(), errb.String())
	}
	awaitName(t, bob, "alice", "device-add")
	parley(t, "--home", bob, "send", "alice", "before the theft")
	for _, h := range []string{phone, laptop} {
		if got := parley(t, "--home", h, "read", "bob"); !strings.Contains(got, "bob: before the theft") {
			t.Fatalf("%s reads bob:\n%s", filepath.Base(h), got)
		}
	}
	parley(t, "--home", laptop, "send", "bob", "from the laptop")
	if got := parley(t, "--home", bob, "read", "alice"); !strings.Contains(got, "alice: from the laptop") {
		t.Fatalf("bob reads alice:\n%s", got)
	}

	// Both stolen: a new device, the phrase.
	alice := filepath.Join(t.TempDir(), "alice-new")
	t.Setenv("PARLEY_RECOVERY_PHRASE", phrase)
	if got := parley(t, "--home", alice, "recover", "alice", "--node", rpc); !strings.Contains(got, "recovered alice at height ") {
		t.Fatalf("recover: %s", got)
	}
	awaitName(t, bob, "alice", "new keys: signing key")
	parley(t, "--home", bob, "contacts", "confirm", "alice")
	parley(t, "--home", bob, "send", "alice", "after the recovery")
	parley(t, "--home", alice, "contacts", "accept", "bob")
	if got := parley(t, "--home", alice, "read", "bob"); !strings.Contains(got, "bob: after the recovery") {
		t.Fatalf("the recovered alice reads:\n%s", got)
	}
	for _, h := range []string{phone, laptop} {
		if _, got, errs := try(h, "read", "bob"); strings.Contains(got, "after the recovery") {
			t.Errorf("the stolen %s reads what bob sent after the recovery:\n%s%s", filepath.Base(h), got, errs)
		}
	}
	try(laptop, "send", "bob", "the thief writes")
	parley(t, "--home", alice, "send", "bob", "the recovered device writes")
	await.NoError(t, 2*time.Minute, "bob to read the recovered device", func() error {
		got := parley(t, "--home", bob, "read", "alice")
		if strings.Contains(got, "the thief writes") {
			t.Fatalf("bob shows what the stolen laptop wrote after the recovery:\n%s", got)
		}
		if !strings.Contains(got, "alice: the recovered device writes") {
			return os.ErrNotExist
		}
		return nil
	})
}

// refusingHub is a hub that, while refuse is set, answers 503 to every
// write of a welcome (k/): a hub down at the wrong moment, or one whose
// operator wants a link to fail.
func refusingHub(t *testing.T) (string, *atomic.Bool) {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	srv, err := server.New(server.Config{Driver: memory.New(), PublicURL: "http://" + ts.Listener.Addr().String(), InboxPowDifficulty: 6})
	if err != nil {
		t.Fatal(err)
	}
	refuse := &atomic.Bool{}
	h := srv.Handler()
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse.Load() && r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/store/") && strings.Contains(r.URL.Path, "/k/") {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
	ts.Start()
	t.Cleanup(func() { srv.Close(); ts.Close() })
	return ts.URL, refuse
}

// TestWelcomeWrittenAgain: alice approves her laptop, but her hub refuses
// the welcome (down, or its operator's doing): the device is on her name
// and the laptop waits for a welcome that is not there. The error says to
// run 'parley devices add CODE' again; doing so must write the welcome
// (it said "added to alice already" and the laptop could never finish).
func TestWelcomeWrittenAgain(t *testing.T) {
	rpc, _ := startWorld(t)
	hub, refuse := refusingHub(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	phone := filepath.Join(t.TempDir(), "alice")
	initHome(t, rpc, phone)
	parley(t, "--home", phone, "register", "alice", "--hub", hub)

	laptop := filepath.Join(t.TempDir(), "alice-laptop")
	code, out, errb, done := startLink(t, rpc, laptop, "--label", "laptop", "--name", "alice")
	refuse.Store(true)
	exit, _, errs := try(phone, "devices", "add", code, "--yes")
	if exit != 1 || !strings.Contains(errs, "its welcome reached no hub") || !strings.Contains(errs, "parley devices add "+code) {
		t.Fatalf("devices add with the hub refusing the welcome: exit %d\n%s", exit, errs)
	}
	refuse.Store(false)
	exit, got, errs := try(phone, "devices", "add", code, "--yes")
	if exit != 0 || !strings.Contains(got, "its welcome is on your hubs") {
		t.Fatalf("devices add again, as the hint says: exit %d\n%s%s", exit, got, errs)
	}
	if c := <-done; c != 0 || !strings.Contains(out.String(), "this device is alice's laptop now") {
		t.Fatalf("link: exit %d\n%s%s", c, out.String(), errb.String())
	}
}

// TestEditAndDeleteOnALinkedDevice: on her laptop alice edits and deletes
// what she wrote there; what her phone wrote, shown on the laptop with
// its own label, is the phone's to change. The agent dropped the device
// from the reference, so the laptop's edit and delete named the phone's
// message of the same number in the phone's stream (or none).
func TestEditAndDeleteOnALinkedDevice(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	homes := users(t, rpc, hubs[0], "alice", "bob")
	phone, bob := homes["alice"], homes["bob"]
	befriend(t, homes, "alice", "bob")
	laptop := linkLaptop(t, rpc, phone, bob)

	parley(t, "--home", phone, "send", "bob", "from the phone")
	parley(t, "--home", laptop, "send", "bob", "first from the laptop")
	parley(t, "--home", laptop, "send", "bob", "second from the laptop")
	label := func(home, text string) string {
		t.Helper()
		got := parley(t, "--home", home, "read", "bob")
		m := regexp.MustCompile(`\[(alice/\d+)\] alice: ` + regexp.QuoteMeta(text)).FindStringSubmatch(got)
		if m == nil {
			t.Fatalf("%s shows no %q:\n%s", filepath.Base(home), text, got)
		}
		return m[1]
	}
	first, second, phones := label(laptop, "first from the laptop"), label(laptop, "second from the laptop"), label(laptop, "from the phone")

	if code, out, errs := try(laptop, "edit", "bob", first, "first, edited on the laptop"); code != 0 {
		t.Fatalf("the laptop edits its own %s: exit %d\n%s%s", first, code, out, errs)
	}
	if code, out, errs := try(laptop, "delete", "bob", second); code != 0 {
		t.Fatalf("the laptop deletes its own %s: exit %d\n%s%s", second, code, out, errs)
	}
	if code, _, errs := try(laptop, "delete", "bob", phones); code == 0 || !strings.Contains(errs, "written on another of your devices") {
		t.Fatalf("the laptop deletes the phone's %s: exit %d\n%s", phones, code, errs)
	}
	await.NoError(t, 2*time.Minute, "bob to see the laptop's edit and delete", func() error {
		got := parley(t, "--home", bob, "read", "alice")
		if !strings.Contains(got, "alice: from the phone") {
			t.Fatalf("bob lost the phone's message:\n%s", got)
		}
		if !strings.Contains(got, "first, edited on the laptop") || strings.Contains(got, "second from the laptop") {
			return os.ErrNotExist
		}
		return nil
	})
}
