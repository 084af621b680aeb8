package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
	"github.com/parley-im/parley/hub/driver/disk"
	"github.com/parley-im/parley/hub/driver/memory"
	"github.com/parley-im/parley/hub/driver/s3"
	"github.com/parley-im/parley/hub/driver/s3/s3test"
	"github.com/parley-im/parley/hub/server"
)

// drivers returns a fresh driver of each kind (the S3 one on a real
// versitygw server).
func drivers(t *testing.T) map[string]func(t *testing.T) hub.Driver {
	return map[string]func(t *testing.T) hub.Driver{
		"memory": func(*testing.T) hub.Driver { return memory.New() },
		"disk": func(t *testing.T) hub.Driver {
			d, err := disk.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		"s3": func(t *testing.T) hub.Driver {
			d, err := s3.New(context.Background(), s3test.Start(t).Config(t))
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
	}
}

// enteringDriver reports each Put as it reaches the driver (after the
// hub's quota check, before the body is read).
type enteringDriver struct {
	hub.Driver
	entered chan struct{}
}

func (d *enteringDriver) Put(ctx context.Context, address, path string, r io.Reader, opt hub.PutOptions) (*hub.Object, error) {
	d.entered <- struct{}{}
	return d.Driver.Put(ctx, address, path, r, opt)
}

// gatedBody sends nothing until its gate opens.
type gatedBody struct {
	gate <-chan struct{}
	r    io.Reader
}

func (b *gatedBody) Read(p []byte) (int, error) {
	<-b.gate
	return b.r.Read(p)
}

// TestQuotaUnderConcurrency: 24 uploads of 400 bytes each (with a
// Content-Length, or chunked) start at once
// against a quota of 1000 bytes, every one past the hub's checks (in the
// driver, or refused) before any body byte is sent; on every driver the address ends up storing at
// most the quota, and the refused uploads answer 507.
func TestQuotaUnderConcurrency(t *testing.T) {
	const (
		quota   = 1000
		uploads = 24
		size    = 400
	)
	for name, newDriver := range drivers(t) {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/chunked=%v", name, chunked), func(t *testing.T) {
				inner := newDriver(t)
				d := &enteringDriver{Driver: inner, entered: make(chan struct{}, uploads)}
				ts := httptest.NewUnstartedServer(nil)
				srv, err := server.New(server.Config{Driver: d, PublicURL: "http://" + ts.Listener.Addr().String(), QuotaBytes: quota})
				if err != nil {
					t.Fatal(err)
				}
				ts.Config.Handler = srv.Handler()
				ts.Start()
				t.Cleanup(func() { srv.Close(); ts.Close() })
				key, _ := secp256k1.GeneratePrivateKey()
				addr := auth.GaiaAddress(key.PubKey().SerializeCompressed())
				tok := "bearer v1:" + auth.MakeGaia(key, auth.GaiaClaims{GaiaChallenge: srv.Challenge(), HubURL: ts.URL})

				gate := make(chan struct{})
				answered := make(chan int, uploads)
				var wg sync.WaitGroup
				for i := range uploads {
					wg.Go(func() {
						body := &gatedBody{gate: gate, r: strings.NewReader(strings.Repeat("x", size))}
						req, _ := http.NewRequest("POST", fmt.Sprintf("%s/store/%s/f%d", ts.URL, addr, i), body)
						req.ContentLength = size
						if chunked {
							req.ContentLength = -1 // the hub reserves the room left
						}
						req.Header.Set("Authorization", tok)
						// The body is asked for only by a handler that reads it: a
						// refused upload is answered without it.
						req.Header.Set("Expect", "100-continue")
						res, err := http.DefaultClient.Do(req)
						if err != nil {
							t.Error(err)
							answered <- 0
							return
						}
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
						answered <- res.StatusCode
					})
				}
				// Open the gate once every upload is either refused or in the
				// driver, waiting for its body.
				statuses := map[int]int{}
				for inFlight := 0; inFlight+statuses[507]+statuses[0] < uploads; {
					select {
					case <-d.entered:
						inFlight++
					case s := <-answered:
						statuses[s]++
					}
				}
				close(gate)
				wg.Wait()
				close(answered)
				for s := range answered {
					statuses[s]++
				}
				var stored int64
				objs, _, err := inner.List(context.Background(), addr, "", "", 1000)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range objs {
					stored += o.Size
				}
				if stored > quota {
					t.Fatalf("%d parallel uploads stored %d bytes under a quota of %d (%.1fx); statuses %v", uploads, stored, quota, float64(stored)/quota, statuses)
				}
				switch {
				case !chunked && (statuses[202] != quota/size || statuses[507] != uploads-quota/size):
					t.Fatalf("statuses %v, want %d accepted and the rest 507", statuses, quota/size)
				case chunked && (statuses[202] < 1 || statuses[202]+statuses[507] != uploads):
					t.Fatalf("statuses %v, want at least one accepted and the rest 507", statuses)
				}
			})
		}
	}
}
