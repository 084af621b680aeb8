// Package clienttest makes clients in bulk for the tests and benchmarks
// of what runs on package client (the client's own, the agent's): many
// names registered on a test chain, each a client introduced to one user.
//
// It is for tests only: it registers through the light client it is
// given and keeps nothing on disk (the clients' state is in memory).
package clienttest

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"

	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
)

// parallel is how many contacts register at once.
const parallel = 16

// Contacts registers n names a0000, a0001… (they sort before most names,
// so each writes the introduction: case 1 of the protocol's introduction
// rule), name i on hubs[i%len(hubs)], through dir; each, a new client
// with its state in memory, introduces itself to to with greeting. It
// returns the clients in name order, or an error naming the first
// contact that failed.
func Contacts(ctx context.Context, dir *lookup.Client, hubs []string, n int, to, greeting string) ([]*client.Client, error) {
	cs := make([]*client.Client, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			name := fmt.Sprintf("a%04d", i)
			if cs[i], errs[i] = contact(ctx, dir, name, hubs[i%len(hubs)], to, greeting); errs[i] != nil {
				errs[i] = fmt.Errorf("%s: %w", name, errs[i])
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return cs, nil
}

// contact registers name with new keys on hub and introduces it to to.
func contact(ctx context.Context, dir *lookup.Client, name, hub, to, greeting string) (*client.Client, error) {
	id, err := keystore.New()
	if err != nil {
		return nil, err
	}
	profile, err := id.Profile([]string{hub})
	if err != nil {
		return nil, err
	}
	var salt [32]byte
	rand.Read(salt[:])
	h, err := dir.Preorder(ctx, id.OwnerKey(), name, salt)
	if err != nil {
		return nil, err
	}
	if _, err := dir.Register(ctx, id.OwnerKey(), name, salt, h, profile); err != nil {
		return nil, err
	}
	c, err := client.New(ctx, name, id, dir, hub)
	if err != nil {
		return nil, err
	}
	return c, c.Introduce(ctx, to, greeting)
}
