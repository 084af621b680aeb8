package client

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxTextBytes bounds the text of a message (and of an edit or a
// greeting), in bytes of UTF-8.
const MaxTextBytes = 64 << 10

// maxEncoded bounds what a text takes in an event (JSON): twice
// MaxTextBytes, with room for the rest of the event in the largest blob.
const maxEncoded = 2 * MaxTextBytes

// Errors of CheckText.
var (
	ErrEmptyText   = errors.New("client: the message is empty")
	ErrTextTooLong = errors.New("client: the message is too long")
	ErrTextInvalid = errors.New("client: the message is not UTF-8 text")
)

// TextError is text CheckText refuses, counted as the user typed it.
type TextError struct {
	Err          error // ErrEmptyText, ErrTextTooLong or ErrTextInvalid
	Bytes, Chars int   // the text's length in bytes and characters
	// Controls counts the text's control characters (but tabs and line
	// breaks): in an event each takes 6 bytes, so a text of many may not
	// fit although its bytes do.
	Controls int
}

func (e *TextError) Error() string {
	switch {
	case e.Err == ErrTextTooLong && e.Bytes <= MaxTextBytes:
		return fmt.Sprintf("%v: %d bytes (%d characters), %d of them control characters, which take 6 bytes each in a message", e.Err, e.Bytes, e.Chars, e.Controls)
	case e.Err == ErrTextTooLong:
		return fmt.Sprintf("%v: %d bytes (%d characters); a message holds at most %d bytes", e.Err, e.Bytes, e.Chars, MaxTextBytes)
	}
	return e.Err.Error()
}

func (e *TextError) Unwrap() error { return e.Err }

// CheckText accepts text a person can send: UTF-8, not empty or blank, at
// most MaxTextBytes, and small enough once encoded in an event (where
// quotes, backslashes, tabs and line breaks take 2 bytes, other control
// characters and U+2028/U+2029 6), so that any text it accepts fits in a
// message blob. Else it returns a *TextError.
func CheckText(text string) error {
	e := &TextError{Bytes: len(text), Chars: utf8.RuneCountInString(text)}
	encoded := 0
	for _, r := range text {
		switch {
		case r == '"' || r == '\\' || r == '\t' || r == '\n' || r == '\r':
			encoded += 2
		case r < 0x20:
			encoded += 6
			e.Controls++
		case r == 0x2028 || r == 0x2029:
			encoded += 6
		default:
			encoded += utf8.RuneLen(r)
		}
	}
	switch {
	case strings.TrimSpace(text) == "":
		e.Err = ErrEmptyText
	case !utf8.ValidString(text):
		e.Err = ErrTextInvalid
	case len(text) > MaxTextBytes || encoded > maxEncoded:
		e.Err = ErrTextTooLong
	default:
		return nil
	}
	return e
}
