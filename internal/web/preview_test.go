package web_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-im/parley/internal/api"
)

// fileAgent is an agent's socket that answers files/get with a file of
// the given content, as the real agent saves what a contact shared.
func fileAgent(t *testing.T, name string, content []byte) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/conversations/{conv}/files/get", func(w http.ResponseWriter, r *http.Request) {
		var req api.GetFileRequest
		json.NewDecoder(r.Body).Decode(&req)
		p := filepath.Join(req.Dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", api.JSON)
		json.NewEncoder(w).Encode(api.Envelope{Result: api.Saved{Path: p}})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return sock
}

// pngBomb is a PNG whose header says w×h pixels (1 bit each), its rows
// all zero: a few hundred kilobytes that a browser decodes to w·h·4
// bytes.
func pngBomb(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	chunk("IHDR", append(ihdr, 1, 0, 0, 0, 0)) // 1-bit greyscale
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	row := make([]byte, 1+(w+7)/8)
	for range h {
		zw.Write(row)
	}
	zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return b.Bytes()
}

// TestHugeImageNotPreviewed: a contact shares a PNG of 107 KiB whose
// header says 30,000×30,000 pixels. The conversation showed it as a
// preview (inline, image/png), and the browser decoded 3.6 GB for it
// each time the conversation opened. A preview is now given only for an
// image whose header says at most 4,096 pixels each way; anything else is
// an attachment, downloaded as it is. A small image still previews.
func TestHugeImageNotPreviewed(t *testing.T) {
	bomb := pngBomb(t, 30000, 30000)
	if len(bomb) > 1<<20 {
		t.Fatalf("the bomb is %d bytes", len(bomb))
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(bomb)); err != nil || cfg.Width != 30000 {
		t.Fatalf("the bomb's header: %+v %v", cfg, err)
	}
	var small bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	img.Set(1, 1, color.RGBA{200, 0, 0, 255})
	png.Encode(&small, img)
	for _, tc := range []struct {
		name    string
		content []byte
		inline  bool
	}{
		{"huge.png", bomb, false},
		{"small.png", small.Bytes(), true},
	} {
		s := startWeb(t, fileAgent(t, tc.name, tc.content))
		b := signIn(t, s)
		res := do(t, b, "GET", s.Origin()+"/web/file?conv=bob&ref=bob/1&inline=1", nil, nil)
		res.Body.Close()
		ct, cd := res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition")
		if inline := ct == "image/png" && cd == "inline"; res.StatusCode != http.StatusOK || inline != tc.inline {
			t.Errorf("%s as a preview: %s, Content-Type %q, Content-Disposition %q; want inline %v", tc.name, res.Status, ct, cd, tc.inline)
		}
	}
}
