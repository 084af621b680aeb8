package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/hubapi"
)

// InboxEventPrefix starts the path of the change event an inbox post
// makes; such events go only to watchers authenticated as the inbox's
// owner.
const InboxEventPrefix = "_inbox/"

// The inbox: anyone may append a small envelope to an address's inbox
// without authenticating (envelopes are sealed to the owner's key by the
// sender, so the hub cannot tell who sent one), paying with a stamp that
// works once (hub.CheckInboxStamp); the owner lists, reads and deletes
// them with a token. Envelopes live in the driver under the internal
// address "_inbox", as "<address>/<id>", ids ordered by arrival; the
// stamps taken, under "_stamps", by digest, until their window ends.

func (s *Server) inboxPost(c echo.Context) error {
	address := c.Param("address")
	if err := hub.ValidateAddress(address); err != nil {
		return err
	}
	if !s.inboxRL.allow(c.RealIP()) {
		return fmt.Errorf("%w: too many inbox posts from this source; at most %d a minute", hub.ErrRateLimited, s.cfg.InboxPerMinute)
	}
	if cl := c.Request().ContentLength; cl > s.cfg.InboxMaxEnvelope {
		return fail(hub.ErrTooLarge, "envelope of %d bytes, at most %d", cl, s.cfg.InboxMaxEnvelope)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, s.cfg.InboxMaxEnvelope))
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return fail(hub.ErrBadRequest, "empty envelope")
	}
	hv := c.Request().Header.Get(hub.InboxStampHeader)
	if hv == "" {
		return fail(hub.ErrBadRequest, "missing %s stamp (%s.<time>.<nonce>)", hub.InboxStampHeader, hub.InboxStampVersion)
	}
	stamp, err := hub.ParseInboxStamp(hv)
	if err != nil {
		return fail(hub.ErrBadRequest, "%v", err)
	}
	digest, err := hub.CheckInboxStamp(s.verify.HubURL, address, body, stamp, s.cfg.InboxPowDifficulty, s.cfg.Now())
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	objs, _, err := s.cfg.Driver.List(ctx, inboxBucket, address+"/", "", s.cfg.InboxMaxEntries)
	if err != nil {
		return err
	}
	if len(objs) >= s.cfg.InboxMaxEntries {
		return fail(hub.ErrInboxFull, "inbox of %s holds %d envelopes, the most it may", address, len(objs))
	}
	// The fuller the inbox, the more work a post costs: junk that fills
	// it pays for every envelope more than for the last.
	if need := hub.InboxDifficulty(s.cfg.InboxPowDifficulty, len(objs), s.cfg.InboxMaxEntries); need > s.cfg.InboxPowDifficulty {
		if _, err := hub.CheckInboxStamp(s.verify.HubURL, address, body, stamp, need, s.cfg.Now()); err != nil {
			c.Response().Header().Set(hub.InboxDifficultyHeader, strconv.Itoa(need))
			return fmt.Errorf("%w (the inbox holds %d of %d envelopes: a stamp of %d bits is needed now)", err, len(objs), s.cfg.InboxMaxEntries, need)
		}
	}
	// Each stamp is taken once: the hub remembers it (by its digest, in
	// the driver, so every process on the same storage does) until its
	// window has passed, when it is refused for its time anyway.
	until := time.Unix(stamp.Time, 0).Add(hub.InboxStampWindow + time.Second)
	_, err = s.cfg.Driver.Put(ctx, stampBucket, hex.EncodeToString(digest[:]), strings.NewReader(""), hub.PutOptions{IfNoneMatch: true, Expires: until})
	if errors.Is(err, hub.ErrPrecondition) {
		return fmt.Errorf("%w: post a new request with a new stamp", hub.ErrStampUsed)
	}
	if err != nil {
		return err
	}
	id := newInboxID(s)
	if _, err := s.cfg.Driver.Put(ctx, inboxBucket, address+"/"+id, strings.NewReader(string(body)), hub.PutOptions{IfNoneMatch: true, ContentType: "application/octet-stream"}); err != nil {
		return err
	}
	// The owner's watchers learn of it (only theirs: see watch).
	s.changed(ctx, Event{Address: address, Path: InboxEventPrefix + id, Op: "put"}, 0)
	return c.JSON(http.StatusAccepted, map[string]string{"id": id})
}

func newInboxID(s *Server) string {
	r := make([]byte, 6)
	rand.Read(r)
	return fmt.Sprintf("%020d-%s", s.cfg.Now().UnixNano(), hex.EncodeToString(r))
}

func validInboxID(id string) bool {
	ts, r, ok := strings.Cut(id, "-")
	if !ok || len(ts) != 20 || len(r) != 12 {
		return false
	}
	_, err1 := strconv.ParseUint(ts, 10, 64)
	_, err2 := hex.DecodeString(r)
	return err1 == nil && err2 == nil
}

func (s *Server) inboxOwner(c echo.Context) (string, error) {
	address := c.Param("address")
	if err := hub.ValidateAddress(address); err != nil {
		return "", err
	}
	g, err := s.authorize(c, address)
	if err != nil {
		return "", err
	}
	if !g.AllowInbox() {
		return "", refuseScope("reading the inbox")
	}
	return address, nil
}

func (s *Server) inboxList(c echo.Context) error {
	address, err := s.inboxOwner(c)
	if err != nil {
		return err
	}
	objs, _, err := s.cfg.Driver.List(c.Request().Context(), inboxBucket, address+"/", "", s.cfg.InboxMaxEntries)
	if err != nil {
		return err
	}
	entries := make([]hubapi.InboxEntry, 0, len(objs))
	for _, o := range objs {
		entries = append(entries, hubapi.InboxEntry{ID: strings.TrimPrefix(o.Path, address+"/"), Size: o.Size, Received: o.Modified.Unix()})
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": entries})
}

// inboxEntry authorizes the owner and returns the stored path of the
// envelope the route names.
func (s *Server) inboxEntry(c echo.Context) (string, error) {
	address, err := s.inboxOwner(c)
	if err != nil {
		return "", err
	}
	id := c.Param("id")
	if !validInboxID(id) {
		return "", fail(hub.ErrNotFound, "no such envelope")
	}
	return address + "/" + id, nil
}

func (s *Server) inboxGet(c echo.Context) error {
	path, err := s.inboxEntry(c)
	if err != nil {
		return err
	}
	_, rc, err := s.cfg.Driver.Get(c.Request().Context(), inboxBucket, path)
	if err != nil {
		return err
	}
	defer rc.Close()
	return c.Stream(http.StatusOK, "application/octet-stream", rc)
}

func (s *Server) inboxDelete(c echo.Context) error {
	path, err := s.inboxEntry(c)
	if err != nil {
		return err
	}
	if err := s.cfg.Driver.Delete(c.Request().Context(), inboxBucket, path, hub.DeleteOptions{}); err != nil {
		return err
	}
	return c.NoContent(http.StatusAccepted)
}
