package main

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/internal/api"
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
