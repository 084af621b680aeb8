package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	qrcode "github.com/skip2/go-qrcode"
	"golang.org/x/image/webp"

	"github.com/parley-im/parley/internal/api"
)

// maxFileName bounds an uploaded file's name (bytes).
const maxFileName = 255

// maxQR bounds the text of a QR code (a safety number is 60 digits and
// spaces).
const maxQR = 256

// client is a new client of the agent's API; progress and notes of its
// calls go to onProgress and onNote (nil: dropped).
func (s *Server) client(onProgress func(*api.Progress), onNote func(*api.Note)) *api.Client {
	c := api.NewUnix(s.opts.Socket)
	c.OnProgress, c.OnNote = onProgress, onNote
	return c
}

// answerError writes err as the API's envelope, with its status.
func answerError(w http.ResponseWriter, err error) {
	var e *api.Error
	if !errors.As(err, &e) {
		e = &api.Error{Code: api.CodeOffline, Message: "the Parley agent does not answer", Hint: "is parley web (or parley daemon) still running?"}
	}
	writeError(w, api.HTTPStatus(e.Code), e)
}

// fileName checks the name a browser gives an uploaded file: one path
// element, UTF-8, no NUL, at most maxFileName bytes. Anything else in it
// (markup, bidi controls) is the sender's choice and is shown as text.
func fileName(n string) (string, error) {
	switch {
	case n == "", n == ".", n == "..", strings.ContainsAny(n, "/\\\x00"), !utf8.ValidString(n):
		return "", api.Errorf(api.CodeUsage, "a file's name must be one path element")
	case len(n) > maxFileName:
		return "", api.Errorf(api.CodeUsage, "a file's name is longer than 255 bytes")
	}
	return n, nil
}

// upload is POST /web/upload?conv=CONV&name=NAME[&caption=TEXT] with the
// file's bytes as the body: saved in a private temporary directory, sent
// by the agent, removed. The answer is NDJSON as the API's (api.Frame):
// the agent's progress ("send"), notes, and the result, api.Sent.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, api.Errorf(api.CodeNoRoute, "upload with POST"))
		return
	}
	q := r.URL.Query()
	conv := q.Get("conv")
	name, err := fileName(q.Get("name"))
	if err != nil {
		answerError(w, err)
		return
	}
	if conv == "" {
		answerError(w, api.Errorf(api.CodeUsage, "say which conversation the file goes to (conv)"))
		return
	}
	if r.ContentLength > s.opts.MaxUpload {
		writeError(w, http.StatusRequestEntityTooLarge, api.Errorf(api.CodeTooLarge, "the file is larger than parley web takes"))
		return
	}
	dir, err := os.MkdirTemp(s.opts.TempDir, "parley-web-")
	if err != nil {
		s.log.Error("no temporary directory for an upload", "error", err)
		writeError(w, http.StatusInternalServerError, api.Errorf(api.CodeInternal, "parley web cannot keep the file for sending"))
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		writeError(w, http.StatusInternalServerError, api.Errorf(api.CodeInternal, "parley web cannot keep the file for sending"))
		return
	}
	_, err = io.Copy(f, http.MaxBytesReader(w, r.Body, s.opts.MaxUpload))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			writeError(w, http.StatusRequestEntityTooLarge, api.Errorf(api.CodeTooLarge, "the file is larger than parley web takes"))
			return
		}
		writeError(w, http.StatusBadRequest, api.Errorf(api.CodeBadRequest, "the upload ended early"))
		return
	}
	w.Header().Set("Content-Type", api.NDJSON)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	var mu sync.Mutex
	frame := func(f api.Frame) {
		mu.Lock()
		defer mu.Unlock()
		b, _ := json.Marshal(f)
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		w.Write(append(b, '\n'))
		rc.Flush()
	}
	c := s.client(func(p *api.Progress) { frame(api.Frame{Progress: p}) }, func(n *api.Note) { frame(api.Frame{Note: n}) })
	defer c.Close()
	sent, err := c.SendFile(r.Context(), conv, api.SendFileRequest{Path: path, Caption: q.Get("caption")})
	var e *api.Error
	if err != nil && !errors.As(err, &e) {
		e = &api.Error{Code: api.CodeOffline, Message: "the Parley agent does not answer"}
	}
	frame(api.Frame{Done: true, Result: sent, Error: e})
}

// previewable are the image types shown in the page (never SVG: it can
// hold script), each with the decoder of its header.
var previewable = map[string]func(io.Reader) (image.Config, error){
	"image/png": png.DecodeConfig, "image/jpeg": jpeg.DecodeConfig, "image/gif": gif.DecodeConfig, "image/webp": webp.DecodeConfig,
}

// MaxPreviewSide bounds the width and height of an image shown as a
// preview: a few hundred kilobytes can declare 30,000×30,000 pixels, which
// the browser decodes to gigabytes each time the conversation opens.
// Larger images are attachments.
const MaxPreviewSide = 4096

// preview reports whether the file f, of the sniffed type ct, is shown in
// the page: a previewable type whose header decodes and says at most
// MaxPreviewSide pixels each way. It reads f's start; the caller seeks
// back.
func preview(f io.Reader, ct string) bool {
	decode := previewable[ct]
	if decode == nil {
		return false
	}
	cfg, err := decode(io.LimitReader(f, 1<<20))
	return err == nil && cfg.Width >= 1 && cfg.Height >= 1 && cfg.Width <= MaxPreviewSide && cfg.Height <= MaxPreviewSide
}

// download is GET /web/file?conv=CONV&ref=REF[&inline=1]: the file of
// message REF, fetched by the agent into a private temporary directory
// and sent to the browser: an attachment under its name, or, inline=1
// and an image (sniffed, never SVG) of at most MaxPreviewSide pixels each
// way by its header, the image.
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, api.Errorf(api.CodeNoRoute, "download with GET"))
		return
	}
	q := r.URL.Query()
	dir, err := os.MkdirTemp(s.opts.TempDir, "parley-web-")
	if err != nil {
		writeError(w, http.StatusInternalServerError, api.Errorf(api.CodeInternal, "parley web cannot keep the file"))
		return
	}
	defer os.RemoveAll(dir)
	c := s.client(nil, nil)
	defer c.Close()
	saved, err := c.GetFile(r.Context(), q.Get("conv"), api.GetFileRequest{Ref: q.Get("ref"), Dir: dir})
	if err != nil {
		answerError(w, err)
		return
	}
	f, err := os.Open(saved.Path)
	if err != nil {
		writeError(w, http.StatusInternalServerError, api.Errorf(api.CodeInternal, "parley web cannot read the file the agent saved"))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		writeError(w, http.StatusInternalServerError, api.Errorf(api.CodeInternal, "parley web cannot read the file the agent saved"))
		return
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	f.Seek(0, io.SeekStart)
	ct := http.DetectContentType(head[:n])
	inline := q.Get("inline") == "1" && preview(f, ct)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		writeError(w, http.StatusInternalServerError, api.Errorf(api.CodeInternal, "parley web cannot read the file the agent saved"))
		return
	}
	h := w.Header()
	// What a file holds never runs as the app.
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	// Cache-Control stays no-store (ServeHTTP): a file kept in the
	// browser's cache would outlive the session, in the clear on disk.
	if inline {
		h.Set("Content-Type", ct)
		h.Set("Content-Disposition", "inline")
	} else {
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filepath.Base(saved.Path)}))
	}
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// avatar is GET /web/avatar[?name=NAME]: the user's avatar, or a
// contact's as this device holds it; 404 (no_profile) if none.
func (s *Server) avatar(w http.ResponseWriter, r *http.Request) {
	c := s.client(nil, nil)
	defer c.Close()
	var (
		p   api.Profile
		err error
	)
	if name := r.URL.Query().Get("name"); name != "" {
		p, err = c.ContactProfile(r.Context(), name, false)
	} else {
		p, err = c.Profile(r.Context())
	}
	if err != nil {
		answerError(w, err)
		return
	}
	ct := http.DetectContentType(p.Avatar)
	if len(p.Avatar) == 0 || !preview(bytes.NewReader(p.Avatar), ct) {
		writeError(w, http.StatusNotFound, api.Errorf(api.CodeNoProfile, "no avatar"))
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.Write(p.Avatar)
}

// qr is GET /web/qr?text=TEXT: TEXT (a safety number) as a QR code, PNG.
func (s *Server) qr(w http.ResponseWriter, r *http.Request) {
	text := r.URL.Query().Get("text")
	if text == "" || len(text) > maxQR {
		writeError(w, http.StatusBadRequest, api.Errorf(api.CodeUsage, "a QR code of 1 to 256 bytes of text"))
		return
	}
	png, err := qrcode.Encode(text, qrcode.Medium, 256)
	if err != nil {
		writeError(w, http.StatusInternalServerError, api.Errorf(api.CodeInternal, "no QR code of that text"))
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(png)
}
