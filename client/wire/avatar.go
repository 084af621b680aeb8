package wire

import (
	"bytes"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
)

// MaxAvatarSide bounds an avatar's width and height, in pixels.
const MaxAvatarSide = 1024

// CheckAvatar accepts an avatar only if its content (never a name or a
// declared type) is a PNG, JPEG or GIF image of at most MaxAvatar bytes
// whose header says at most MaxAvatarSide pixels each way; it returns the
// format ("png", "jpeg" or "gif") and the size. Only the header is
// decoded. Anything else wraps ErrMalformed: no SVG, HTML or script, and
// no image that would take a viewer gigabytes to decode.
func CheckAvatar(b []byte) (format string, width, height int, err error) {
	if len(b) > MaxAvatar {
		return "", 0, 0, fmt.Errorf("%w: avatar of %d bytes, at most %d", ErrMalformed, len(b), MaxAvatar)
	}
	var (
		cfg    image.Config
		decode func([]byte) (image.Config, error)
	)
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		format, decode = "png", func(b []byte) (image.Config, error) { return png.DecodeConfig(bytes.NewReader(b)) }
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		format, decode = "jpeg", func(b []byte) (image.Config, error) { return jpeg.DecodeConfig(bytes.NewReader(b)) }
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		format, decode = "gif", func(b []byte) (image.Config, error) { return gif.DecodeConfig(bytes.NewReader(b)) }
	default:
		return "", 0, 0, fmt.Errorf("%w: an avatar must be a PNG, JPEG or GIF image", ErrMalformed)
	}
	if cfg, err = decode(b); err != nil {
		return "", 0, 0, fmt.Errorf("%w: avatar: %s: %v", ErrMalformed, format, err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxAvatarSide || cfg.Height > MaxAvatarSide {
		return "", 0, 0, fmt.Errorf("%w: avatar of %d×%d pixels, at most %d×%d", ErrMalformed, cfg.Width, cfg.Height, MaxAvatarSide, MaxAvatarSide)
	}
	return format, cfg.Width, cfg.Height, nil
}
