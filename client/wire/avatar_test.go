package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

func encoded(t testing.TB, format string, w, h int) []byte {
	var b bytes.Buffer
	img := image.NewGray(image.Rect(0, 0, w, h))
	var err error
	switch format {
	case "png":
		err = png.Encode(&b, img)
	case "jpeg":
		err = jpeg.Encode(&b, img, nil)
	case "gif":
		err = gif.Encode(&b, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCheckAvatar(t *testing.T) {
	for _, f := range []string{"png", "jpeg", "gif"} {
		got, w, h, err := CheckAvatar(encoded(t, f, 64, 48))
		if got != f || w != 64 || h != 48 || err != nil {
			t.Errorf("%s: %s %d×%d %v", f, got, w, h, err)
		}
	}
	big := encoded(t, "png", MaxAvatarSide+1, 1)
	bomb := encoded(t, "png", 1, 1)
	copy(bomb[16:24], []byte{0, 1, 0, 0, 0, 1, 0, 0})                        // the header claims 65536×65536 pixels,
	binary.BigEndian.PutUint32(bomb[29:33], crc32.ChecksumIEEE(bomb[12:29])) // with a valid checksum
	if _, err := png.DecodeConfig(bytes.NewReader(bomb)); err != nil {
		t.Fatalf("the header bomb is not a valid PNG header: %v", err)
	}
	for name, b := range map[string][]byte{
		"svg":            []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`),
		"html":           []byte("<html><script>alert(1)</script>"),
		"png magic only": []byte("\x89PNG\r\n\x1a\nnot a png"),
		"too wide":       big,
		"header bomb":    bomb,
		"too many bytes": append(encoded(t, "png", 1, 1), make([]byte, MaxAvatar)...),
	} {
		if _, _, _, err := CheckAvatar(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := SealProfile(make([]byte, 32), Profile{Avatar: b}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s sealed in a profile: %v", name, err)
		}
	}
}

func FuzzCheckAvatar(f *testing.F) {
	f.Add(encoded(f, "png", 2, 2))
	f.Add(encoded(f, "jpeg", 2, 2))
	f.Add(encoded(f, "gif", 2, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		format, w, h, err := CheckAvatar(b)
		if err == nil && (format == "" || w < 1 || h < 1 || w > MaxAvatarSide || h > MaxAvatarSide || len(b) > MaxAvatar) {
			t.Fatalf("accepted %s %d×%d of %d bytes", format, w, h, len(b))
		}
	})
}
