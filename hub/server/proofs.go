package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/proofs"
)

// ProofChecker counts the accounts of a profile whose social proofs hold
// for address (package hub/proofs checks them over HTTP).
type ProofChecker interface {
	Valid(ctx context.Context, address string, accounts []proofs.Account) int
}

// proofCache remembers how many proofs a profile (by address and ETag)
// had, for proofTTL, so that writes do not fetch the proof pages each time.
type proofCache struct {
	mu sync.Mutex
	m  map[string]provenProfile
}

type provenProfile struct {
	etag  string
	valid int
	at    time.Time
}

const (
	proofTTL      = 10 * time.Minute
	proofCacheMax = 1 << 14
	maxProfile    = 256 << 10
)

// checkProofs applies Gaia's proofsRequired to a write or delete of path:
// the bucket's profile.json (itself always writable) must be a profile
// token signed by the bucket's key whose accounts hold at least
// ProofsRequired valid proofs; otherwise 402 NotEnoughProofError.
func (s *Server) checkProofs(c echo.Context, address, path string) error {
	need := s.cfg.ProofsRequired
	if need <= 0 || path == "profile.json" || strings.HasSuffix(path, "/profile.json") {
		return nil
	}
	ctx := c.Request().Context()
	obj, rc, err := s.cfg.Driver.Get(ctx, address, "profile.json")
	if errors.Is(err, hub.ErrNotFound) {
		return notEnoughProofs("this hub takes writes only from addresses whose profile.json has %d valid social proofs; %s has no profile.json", need, address)
	}
	if err != nil {
		return err
	}
	s.proofs.mu.Lock()
	p, ok := s.proofs.m[address]
	s.proofs.mu.Unlock()
	if !ok || p.etag != obj.ETag || s.cfg.Now().Sub(p.at) > proofTTL {
		b, err := io.ReadAll(io.LimitReader(rc, maxProfile))
		rc.Close()
		if err != nil {
			return err
		}
		p = provenProfile{etag: obj.ETag, valid: s.countProofs(ctx, address, b), at: s.cfg.Now()}
		s.proofs.mu.Lock()
		if s.proofs.m == nil || len(s.proofs.m) >= proofCacheMax {
			s.proofs.m = map[string]provenProfile{}
		}
		s.proofs.m[address] = p
		s.proofs.mu.Unlock()
	} else {
		rc.Close()
	}
	if p.valid < need {
		return notEnoughProofs("Not enough social proofs for gaia hub writes: %s's profile.json has %d valid, this hub needs %d", address, p.valid, need)
	}
	return nil
}

// countProofs reads a profile.json ([{"token": ...}]) and counts its valid
// proofs (0 if it is not a profile token of address).
func (s *Server) countProofs(ctx context.Context, address string, b []byte) int {
	var tokens []struct {
		Token string `json:"token"`
	}
	if json.Unmarshal(b, &tokens) != nil || len(tokens) == 0 {
		return 0
	}
	claim, err := s.verify.VerifyProfileToken(tokens[0].Token, address)
	if err != nil {
		return 0
	}
	var profile struct {
		Account []proofs.Account `json:"account"`
	}
	if json.Unmarshal(claim, &profile) != nil {
		return 0
	}
	if len(profile.Account) > 16 {
		profile.Account = profile.Account[:16] // bound the pages fetched
	}
	return s.cfg.Proofs.Valid(ctx, address, profile.Account)
}

func notEnoughProofs(format string, args ...any) error {
	return fail(hub.ErrNotEnoughProof, format, args...)
}
