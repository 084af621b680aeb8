package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
	"github.com/parley-im/parley/hub/hubapi"
)

// maxJSONBody bounds the JSON bodies of list-files and revoke-all (Gaia's
// 4096 bytes).
const maxJSONBody = 4096

// objectPath extracts and validates (address, path) from a route of the
// form /<route>/<address>/<path...>. The path is URL-decoded once and one
// trailing '/' is dropped, as Gaia does.
func objectPath(c echo.Context, route string) (string, string, error) {
	raw := strings.TrimPrefix(c.Request().URL.EscapedPath(), "/"+route+"/")
	address, rest, _ := strings.Cut(raw, "/")
	if err := hub.ValidateAddress(address); err != nil {
		return "", "", err
	}
	p, err := url.PathUnescape(rest)
	if err != nil {
		return "", "", fmt.Errorf("%w: path is not URL-encoded correctly", hub.ErrInvalid)
	}
	p = strings.TrimSuffix(p, "/")
	if err := hub.ValidatePath(p); err != nil {
		return "", "", err
	}
	return address, p, nil
}

func (s *Server) hubInfo(c echo.Context) error {
	// The hub's clock, which inbox stamps are dated by and checked against.
	c.Response().Header().Set("Date", s.cfg.Now().UTC().Format(http.TimeFormat))
	return c.JSON(http.StatusOK, hubapi.Info{
		Challenge:     s.verify.Challenge,
		AuthVersion:   "v1",
		MaxUploadMiB:  float64(s.cfg.MaxUploadBytes) / (1 << 20),
		ReadURLPrefix: s.readPrefix(),
		Parley: hubapi.ParleyInfo{
			NativeAuth:      auth.NativeScheme,
			InboxPow:        s.cfg.InboxPowDifficulty,
			InboxStamp:      hub.InboxStampVersion,
			InboxWindow:     int(hub.InboxStampWindow / time.Second),
			InboxMaxBytes:   s.cfg.InboxMaxEnvelope,
			InboxMaxEntries: s.cfg.InboxMaxEntries,
			WatchURL:        s.cfg.PublicURL + "/watch",
			Expiry:          true,
		},
	})
}

func (s *Server) readPrefix() string { return s.cfg.PublicURL + "/read/" }

// authorize verifies the request's token for address and applies the
// address's revocation timestamp.
func (s *Server) authorize(c echo.Context, address string) (*auth.Grant, error) {
	g, err := s.verify.Verify(c.Request().Header.Get("Authorization"), address)
	if err != nil {
		return nil, err
	}
	if s.whitelist != nil && !s.whitelist[g.Signer] {
		return nil, fail(hub.ErrUnauthorized, "Address %s not authorized for writes (this hub serves only the addresses it lists)", g.Signer)
	}
	oldest, err := s.oldestValid(c, address)
	if err != nil {
		return nil, err
	}
	if oldest > 0 && (g.IssuedAt == nil || g.IssuedAt.Unix() < oldest) {
		return nil, fail(hub.ErrRevoked, "token was issued before the bucket's oldest valid timestamp %d (revoke-all)", oldest)
	}
	return g, nil
}

// refuseScope is the answer to a token whose scopes do not allow what it
// is used for.
func refuseScope(format string, args ...any) error {
	return fail(hub.ErrUnauthorized, "token's scopes do not allow "+format, args...)
}

// oldestValid returns the address's revocation timestamp, kept in the
// driver under an internal address (never fetched over HTTP). A hub alone
// caches it; a shared hub (Config.Events) reads it from the shared storage
// on every request, so a revoke-all through any instance holds on every
// instance as soon as it is answered. A stored value in the future (left
// by an older hub, which let any token raise it without bound, or by a
// clock set back) counts as now, and now is stored in its place: no value
// can lock the owner out.
func (s *Server) oldestValid(c echo.Context, address string) (int64, error) {
	s.revMu.Lock()
	defer s.revMu.Unlock()
	if v, ok := s.revoked[address]; ok && !s.shared() {
		if now := s.cfg.Now().Unix(); v > now {
			if err := s.storeOldest(c, address, now); err != nil {
				return 0, err
			}
			v = now
		}
		return v, nil
	}
	v, err := s.loadOldest(c.Request().Context(), address)
	if err != nil {
		return 0, err
	}
	if now := s.cfg.Now().Unix(); v > now {
		if err := s.storeOldest(c, address, now); err != nil {
			return 0, err
		}
		v = now
	}
	if s.shared() {
		return v, nil
	}
	if len(s.revoked) >= revokedCacheMax { // a cache of what the driver holds: start over
		clear(s.revoked)
	}
	s.revoked[address] = v
	return v, nil
}

// revocationKey is where an address's revocation timestamp is stored:
// under the internal address, or where Gaia keeps it (GaiaRevocation).
func (s *Server) revocationKey(address string) (string, string) {
	if s.cfg.GaiaRevocation {
		return address + gaiaAuthSuffix, gaiaAuthPath
	}
	return revocationBucket, address
}

// Where Gaia stores a bucket's revocation timestamp: the object
// authTimestamp of the bucket "<address>-auth".
const (
	gaiaAuthSuffix = "-auth"
	gaiaAuthPath   = "authTimestamp"
)

// loadOldest reads an address's stored revocation timestamp (0: none);
// with GaiaRevocation, the later of Gaia's place and the internal one
// (where a hub that stored none there yet keeps it).
func (s *Server) loadOldest(ctx context.Context, address string) (int64, error) {
	v, _, err := s.readOldest(ctx, revocationBucket, address)
	if err != nil || !s.cfg.GaiaRevocation {
		return v, err
	}
	g, _, err := s.readOldest(ctx, address+gaiaAuthSuffix, gaiaAuthPath)
	return max(v, g), err
}

// readOldest reads one stored revocation timestamp and its object (0 and
// nil: none).
func (s *Server) readOldest(ctx context.Context, bucket, path string) (int64, *hub.Object, error) {
	obj, rc, err := s.cfg.Driver.Get(ctx, bucket, path)
	if errors.Is(err, hub.ErrNotFound) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	b, _ := io.ReadAll(io.LimitReader(rc, 64))
	rc.Close()
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("stored revocation of %s/%s: %w", bucket, path, err)
	}
	return v, obj, nil
}

// revokedCacheMax bounds the addresses whose revocation timestamps are
// kept in memory (about 100 bytes each).
const revokedCacheMax = 1 << 16

// storeOldest stores an address's revocation timestamp; the caller holds
// revMu.
func (s *Server) storeOldest(c echo.Context, address string, ts int64) error {
	bucket, path := s.revocationKey(address)
	_, err := s.cfg.Driver.Put(c.Request().Context(), bucket, path, strings.NewReader(strconv.FormatInt(ts, 10)), hub.PutOptions{ContentType: "text/plain"})
	if err == nil {
		s.revoked[address] = ts
	}
	return err
}

// raiseOldest stores ts as the address's revocation timestamp unless a
// later one is stored. A shared hub reads what is stored and replaces it
// only if it is still that (If-Match), so that two revocations through
// two instances at once keep the later one.
func (s *Server) raiseOldest(c echo.Context, address string, ts int64) error {
	s.revMu.Lock()
	defer s.revMu.Unlock()
	if !s.shared() {
		return s.storeOldest(c, address, max(ts, s.revoked[address]))
	}
	ctx := c.Request().Context()
	bucket, path := s.revocationKey(address)
	for {
		var cond hub.PutOptions
		v, obj, err := s.readOldest(ctx, bucket, path)
		switch {
		case err != nil:
			return err
		case obj == nil:
			cond.IfNoneMatch = true
		case v >= ts && v <= s.cfg.Now().Unix():
			return nil
		default:
			cond.IfMatch = obj.ETag
		}
		cond.ContentType = "text/plain"
		_, err = s.cfg.Driver.Put(ctx, bucket, path, strings.NewReader(strconv.FormatInt(ts, 10)), cond)
		if !errors.Is(err, hub.ErrPrecondition) {
			return err
		}
	}
}

func conditions(h http.Header) (hub.PutOptions, error) {
	var opt hub.PutOptions
	im, inm := h.Get("If-Match"), h.Get("If-None-Match")
	if im != "" && inm != "" {
		return opt, fail(hub.ErrPrecondition, "Request should not contain both if-match and if-none-match")
	}
	if inm != "" {
		if inm != "*" {
			return opt, fail(hub.ErrPrecondition, "Misuse of the if-none-match header: only * is supported")
		}
		opt.IfNoneMatch = true
	}
	opt.IfMatch = unquoteETag(im)
	return opt, nil
}

// unquoteETag accepts an ETag with or without RFC quotes (and W/).
func unquoteETag(s string) string {
	s = strings.TrimPrefix(s, "W/")
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

func (s *Server) store(c echo.Context) error {
	address, path, err := objectPath(c, "store")
	if err != nil {
		return err
	}
	g, err := s.authorize(c, address)
	if err != nil {
		return err
	}
	if !g.AllowPut(path) {
		return refuseScope("writing %q", path)
	}
	if !g.AllowArchival(path) {
		return refuseScope("modifying %q (its archival scopes name other paths)", path)
	}
	if err := s.checkProofs(c, address, path); err != nil {
		return err
	}
	opt, err := conditions(c.Request().Header)
	if err != nil {
		return err
	}
	opt.ContentType = c.Request().Header.Get("Content-Type")
	if opt.ContentType == "" {
		opt.ContentType = "application/octet-stream"
	}
	if len(opt.ContentType) > 1024 {
		return fail(hub.ErrBadRequest, "content type longer than 1024 bytes")
	}
	if opt.Expires, err = s.expiryOf(c.Request().Header); err != nil {
		return err
	}
	if cl := c.Request().ContentLength; cl > s.cfg.MaxUploadBytes {
		return fail(hub.ErrTooLarge, "object of %d bytes, at most %d bytes", cl, s.cfg.MaxUploadBytes)
	}
	if g.Archival() {
		// Gaia's archival write: the current version, if any, is kept
		// as a history file first.
		if _, err := s.archive(c, address, path); err != nil && !errors.Is(err, hub.ErrNotFound) {
			return err
		}
	}
	obj, old, err := s.putObject(c, address, path, http.MaxBytesReader(c.Response(), c.Request().Body, s.cfg.MaxUploadBytes), c.Request().ContentLength, opt)
	if err != nil {
		return err
	}
	s.changed(c.Request().Context(), Event{Address: address, Path: path, ETag: obj.ETag, Op: "put"}, obj.Size-old)
	return c.JSON(http.StatusAccepted, hubapi.StoreAnswer{PublicURL: s.readPrefix() + address + "/" + path, ETag: obj.ETag})
}

// putObject writes within the address's quota: room is reserved before
// the body is read (see quotas). It returns the object and the size of
// the one it replaced (without a quota it is not looked up, and the
// object's own size is returned: no change is counted).
func (s *Server) putObject(c echo.Context, address, path string, body io.Reader, want int64, opt hub.PutOptions) (*hub.Object, int64, error) {
	ctx := c.Request().Context()
	if s.quota == nil {
		obj, err := s.cfg.Driver.Put(ctx, address, path, body, opt)
		if err != nil {
			return nil, 0, err
		}
		return obj, obj.Size, nil
	}
	unlock := s.quota.paths.lock(address, path)
	defer unlock()
	var old int64
	cur, err := s.cfg.Driver.Stat(ctx, address, path)
	switch {
	case err == nil:
		old = cur.Size
	case !errors.Is(err, hub.ErrNotFound):
		return nil, 0, err
	}
	r, err := s.quota.reserve(ctx, address, want, old, s.cfg.MaxUploadBytes)
	if err != nil {
		return nil, 0, err
	}
	obj, err := s.cfg.Driver.Put(ctx, address, path, &quotaReader{r: body, max: r.max}, opt)
	if err != nil {
		s.quota.settle(r, -1)
		return nil, 0, err
	}
	s.quota.settle(r, obj.Size)
	return obj, old, nil
}

func (s *Server) deleteFile(c echo.Context) error {
	address, path, err := objectPath(c, "delete")
	if err != nil {
		return err
	}
	g, err := s.authorize(c, address)
	if err != nil {
		return err
	}
	if !g.AllowDelete(path) {
		return refuseScope("deleting %q", path)
	}
	if !g.AllowArchival(path) {
		return refuseScope("modifying %q (its archival scopes name other paths)", path)
	}
	if err := s.checkProofs(c, address, path); err != nil {
		return err
	}
	ctx := c.Request().Context()
	ifMatch := unquoteETag(c.Request().Header.Get("If-Match"))
	if g.Archival() {
		// Gaia's archival delete renames the file to a history file:
		// copied, then deleted if it is still the version copied.
		obj, err := s.archive(c, address, path)
		if err != nil {
			return err
		}
		if ifMatch != "" && ifMatch != "*" && ifMatch != obj.ETag {
			return fmt.Errorf("%w: ETag is %s, If-Match %s", hub.ErrPrecondition, obj.ETag, ifMatch)
		}
		ifMatch = obj.ETag
	}
	var size int64
	if s.quota != nil {
		unlock := s.quota.paths.lock(address, path)
		defer unlock()
		if cur, err := s.cfg.Driver.Stat(ctx, address, path); err == nil {
			size = cur.Size
		}
	}
	if err := s.cfg.Driver.Delete(ctx, address, path, hub.DeleteOptions{IfMatch: ifMatch}); err != nil {
		return err
	}
	if s.quota != nil {
		s.quota.adjust(address, -size)
	}
	s.changed(ctx, Event{Address: address, Path: path, Op: "delete"}, -size)
	return c.NoContent(http.StatusAccepted)
}

// isHistory reports whether path names a history file (its last segment
// starts with auth.HistoryPrefix).
func isHistory(path string) bool {
	return strings.HasPrefix(path[strings.LastIndexByte(path, '/')+1:], auth.HistoryPrefix)
}

// historyPath names the history file of path at now, as Gaia does:
// "<dir>/.history.<Unix ms>.<10 random letters and digits>.<name>". A
// name too long for that to be a valid path is refused (403).
func (s *Server) historyPath(path string) (string, error) {
	const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	id := make([]byte, 10)
	rand.Read(id)
	for i := range id {
		id[i] = alnum[int(id[i])%len(alnum)]
	}
	i := strings.LastIndexByte(path, '/') + 1
	h := fmt.Sprintf("%s%s%d.%s.%s", path[:i], auth.HistoryPrefix, s.cfg.Now().UnixMilli(), id, path[i:])
	if err := hub.ValidatePath(h); err != nil {
		return "", fmt.Errorf("%w: the file name is too long to keep its history (at most %d bytes with archival scopes)", hub.ErrInvalid, hub.MaxSegmentLen-(len(h)-len(path)))
	}
	return h, nil
}

// archive copies the object at path to a new history file (within the
// quota) and returns the object copied; hub.ErrNotFound if there is none.
func (s *Server) archive(c echo.Context, address, path string) (*hub.Object, error) {
	ctx := c.Request().Context()
	cur, rc, err := s.cfg.Driver.Get(ctx, address, path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	hist, err := s.historyPath(path)
	if err != nil {
		return nil, err
	}
	obj, _, err := s.putObject(c, address, hist, rc, cur.Size, hub.PutOptions{IfNoneMatch: true, ContentType: cur.ContentType, Expires: cur.Expires})
	if err != nil {
		return nil, fmt.Errorf("keeping the history of %s: %w", path, err)
	}
	s.changed(ctx, Event{Address: address, Path: hist, ETag: obj.ETag, Op: "put"}, obj.Size)
	return cur, nil
}

// readJSON decodes a small JSON body into v; an empty body is {}.
func readJSON(c echo.Context, v any) error {
	b, err := io.ReadAll(io.LimitReader(c.Request().Body, maxJSONBody+1))
	if err != nil {
		return err
	}
	if len(b) > maxJSONBody {
		return fail(hub.ErrTooLarge, "JSON body larger than %d bytes", maxJSONBody)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fail(hub.ErrBadRequest, "Invalid JSON: %v", err)
	}
	return nil
}

func (s *Server) listFiles(c echo.Context) error {
	address := c.Param("address")
	if err := hub.ValidateAddress(address); err != nil {
		return err
	}
	g, err := s.authorize(c, address)
	if err != nil {
		return err
	}
	if !g.AllowList() {
		return refuseScope("listing the bucket")
	}
	var req struct {
		Page *string `json:"page"`
		Stat bool    `json:"stat"`
	}
	if err := readJSON(c, &req); err != nil {
		return err
	}
	after := ""
	if req.Page != nil && *req.Page != "" {
		b, err := base64.RawURLEncoding.DecodeString(*req.Page)
		if err != nil {
			return fail(hub.ErrBadRequest, "invalid page token")
		}
		after = string(b)
	}
	objs, more, err := s.cfg.Driver.List(c.Request().Context(), address, "", after, s.cfg.PageSize)
	if err != nil {
		return err
	}
	entries := make([]any, 0, len(objs))
	for _, o := range objs {
		if g.Archival() && isHistory(o.Path) {
			continue // Gaia hides history files from archival tokens
		}
		if req.Stat {
			e := hubapi.ListEntry{Name: o.Path, ETag: o.ETag, ContentLength: o.Size, ContentType: o.ContentType, LastModified: o.Modified.Unix(), Exists: true}
			if !o.Expires.IsZero() {
				e.Expires = o.Expires.Unix()
			}
			entries = append(entries, e)
		} else {
			entries = append(entries, o.Path)
		}
	}
	var page any
	if more && len(objs) > 0 {
		page = base64.RawURLEncoding.EncodeToString([]byte(objs[len(objs)-1].Path))
		if len(entries) == 0 {
			entries = append(entries, nil) // a page emptied by the filter: Gaia's null marker (Stacks.js skips it and goes on)
		}
	}
	return c.JSON(http.StatusAccepted, map[string]any{"entries": entries, "page": page})
}

// revokeAll moves the address's oldest valid timestamp. Unlike Gaia, the
// token must itself pass the revocation check (a revoked token moves
// nothing), and the timestamp may not be beyond now plus auth.MaxClockSkew
// (400); one in the future within the skew is stored as now. So a leaked
// token can at most revoke the tokens made before it is used, never lock
// the owner out.
func (s *Server) revokeAll(c echo.Context) error {
	address := c.Param("address")
	if err := hub.ValidateAddress(address); err != nil {
		return err
	}
	g, err := s.authorize(c, address)
	if err != nil {
		return err
	}
	if !g.AllowRevokeAll() {
		return refuseScope("revoke-all")
	}
	var req struct {
		Oldest json.RawMessage `json:"oldestValidTimestamp"`
	}
	if err := readJSON(c, &req); err != nil {
		return err
	}
	raw := strings.Trim(string(req.Oldest), `"`)
	if raw == "" || raw == "0" || raw == "null" {
		return fail(hub.ErrBadRequest, "Invalid JSON: missing oldestValidTimestamp")
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return fail(hub.ErrBadRequest, "Invalid oldestValidTimestamp %q", raw)
	}
	now := s.cfg.Now()
	if f > float64(now.Add(auth.MaxClockSkew).Unix()) {
		return fail(hub.ErrBadRequest, "oldestValidTimestamp %s is in the future: this hub's clock says %d, and allows %v of skew", raw, now.Unix(), auth.MaxClockSkew)
	}
	ts := min(int64(f), now.Unix())
	cur, err := s.oldestValid(c, address)
	if err != nil {
		return err
	}
	if ts > cur { // only ever raised
		if err := s.raiseOldest(c, address, ts); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusAccepted, map[string]string{"status": "success"})
}

// read serves GET and HEAD of an object, as the Gaia reader does.
func (s *Server) read(c echo.Context) error {
	address, path, err := objectPath(c, "read")
	if err != nil {
		if address, path = s.gaiaRevocationRead(c); address == "" {
			return fail(hub.ErrNotFound, "File not found")
		}
	}
	obj, rc, err := s.cfg.Driver.Get(c.Request().Context(), address, path)
	if errors.Is(err, hub.ErrNotFound) {
		return fail(hub.ErrNotFound, "File not found")
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	h := c.Response().Header()
	h.Set("ETag", obj.ETag)
	h.Set("Last-Modified", obj.Modified.UTC().Format(http.TimeFormat))
	h.Set("Cache-Control", "no-cache")
	if !obj.Expires.IsZero() {
		h.Set(ExpiresHeader, strconv.FormatInt(obj.Expires.Unix(), 10))
	}
	if inm := c.Request().Header.Get("If-None-Match"); inm != "" && unquoteETag(inm) == obj.ETag {
		return c.NoContent(http.StatusNotModified)
	}
	h.Set("Content-Length", strconv.FormatInt(obj.Size, 10))
	ct := obj.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	if !passive(ct) {
		h.Set("Content-Disposition", "attachment")
	}
	if c.Request().Method == http.MethodHead {
		h.Set("Content-Type", ct)
		return c.NoContent(http.StatusOK)
	}
	return c.Stream(http.StatusOK, ct, rc)
}

// gaiaRevocationRead recognizes a read of a revocation timestamp where
// Gaia serves it, "<address>-auth/authTimestamp", when the hub stores it
// there (Config.GaiaRevocation); it returns "" otherwise.
func (s *Server) gaiaRevocationRead(c echo.Context) (string, string) {
	if !s.cfg.GaiaRevocation {
		return "", ""
	}
	raw := strings.TrimPrefix(c.Request().URL.EscapedPath(), "/read/")
	bucket, path, _ := strings.Cut(raw, "/")
	address, ok := strings.CutSuffix(bucket, gaiaAuthSuffix)
	if !ok || path != gaiaAuthPath || hub.ValidateAddress(address) != nil {
		return "", ""
	}
	return bucket, path
}

// passive reports whether a browser shows content of type ct without
// running anything in the hub's origin: raw bytes, JSON, plain text,
// raster images, audio and video. Everything else (HTML, SVG, XML,
// JavaScript, PDF, unknown or malformed types) is served as an
// attachment, with the stored type, so Stacks.js reads it as before.
func passive(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch mt {
	case "application/octet-stream", "application/json", "text/plain",
		"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif":
		return true
	}
	major, _, _ := strings.Cut(mt, "/")
	return major == "audio" || major == "video"
}
