package main

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/parley-im/parley/internal/api"
)

// TestSetUpTwiceAtOnce: the web app's first-run page is open in two
// tabs (or a `parley init` runs while the page sets up), and both set the
// device up at once. Each found the home empty, drew a recovery phrase
// and wrote its keystore over the other's: both answered 200, each with a
// phrase, and the person wrote down one that did not make the home's
// owner key: the name they then registered could never be recovered with
// it. Now one setup at a time: the second finds the first's identity
// (409 exists), and the phrase shown is the keystore's.
func TestSetUpTwiceAtOnce(t *testing.T) {
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
		status int
		env    struct {
			Result api.InitResult `json:"result"`
			Error  *api.Error     `json:"error"`
		}
	}
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		answers [4]answer
	)
	body, _ := json.Marshal(api.InitRequest{ChainConfig: api.ChainConfig{Node: rpc}, Passphrase: pass})
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", app+"/api/v1/init", strings.NewReader(string(body)))
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

	ks, err := os.ReadFile(filepath.Join(home, "keystore"))
	if err != nil {
		t.Fatal(err)
	}
	made := 0
	for i, a := range answers {
		switch {
		case a.status == http.StatusOK:
			made++
			if !strings.Contains(string(ks), "# owner: "+a.env.Result.OwnerKey+"\n") {
				t.Errorf("tab %d was shown the recovery phrase of owner key %s, but the home's keystore holds another:\n%s", i, a.env.Result.OwnerKey, ks)
			}
		case a.env.Error != nil && a.env.Error.Code == api.CodeExists:
		default:
			t.Errorf("tab %d: %d %+v, want 200 or 409 exists", i, a.status, a.env.Error)
		}
	}
	if made != 1 {
		t.Errorf("%d of %d setups at once made an identity, want 1", made, len(answers))
	}
}
