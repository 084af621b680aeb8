package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/internal/agent"
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

// TestPassphraseChangedTwiceAtOnce: with a daemon running, two
// `parley passphrase` (or the web app's settings and a command) change
// the passphrase at once. Each opened the keystore with the current one
// and sealed it under its new one, the last write winning: every change
// answered that the keystore is now under its passphrase, and the person
// who believed the first one could never open the keys again. Now the
// changes go one at a time: the first wins, the others find the current
// passphrase no longer opens the keystore (bad_passphrase), and every
// passphrase a change reported opens it.
func TestPassphraseChangedTwiceAtOnce(t *testing.T) {
	rpc, _ := startWorld(t)
	home := filepath.Join(t.TempDir(), "h")
	initHome(t, rpc, home)
	d := startDaemon(t, home)
	d.serving(t, home)

	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  [4]error
	)
	news := [len(errs)]string{}
	for i := range errs {
		news[i] = fmt.Sprintf("the new passphrase number %d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := api.NewUnix(agent.SocketPath(home))
			defer c.Close()
			<-start
			errs[i] = c.ChangePassphrase(context.Background(), api.PassphraseRequest{Current: os.Getenv("PARLEY_PASSPHRASE"), New: news[i]})
		}()
	}
	close(start)
	wg.Wait()
	changed := 0
	for i, err := range errs {
		var e *api.Error
		switch {
		case err == nil:
			changed++
			if _, err := keystore.Load(filepath.Join(home, "keystore"), []byte(news[i])); err != nil {
				t.Errorf("change %d answered that the keystore is under %q, but it does not open with it: %v", i, news[i], err)
			}
		case errors.As(err, &e) && e.Code == api.CodeBadPassphrase:
		default:
			t.Errorf("change %d: %v, want success or %s", i, err, api.CodeBadPassphrase)
		}
	}
	if changed != 1 {
		t.Errorf("%d of %d changes at once answered success, want 1", changed, len(errs))
	}
}
