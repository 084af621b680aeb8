package bns

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Name rules. A name is 1 to MaxNameLen characters from a-z, 0-9 and '-'.
// It starts with a letter, does not end with '-', and has no "--" (which
// would let names imitate punycode "xn--" labels). Uppercase is refused rather
// than folded, so every name has exactly one spelling; there is no Unicode, so
// there are no homographs.
const MaxNameLen = 40

// NameRules says which names are allowed, for error messages.
const NameRules = "a name is 1 to 40 characters from a-z, 0-9 and '-', starts with a letter, does not end with '-' and has no \"--\""

// ErrInvalidName is wrapped by ValidateName's errors.
var ErrInvalidName = errors.New("invalid name")

// ValidateName reports whether s is a valid name, and why not. The error
// quotes the name and the first character at fault as given (Go-quoted, so
// control and invisible characters show escaped) and ends with [NameRules].
func ValidateName(s string) error {
	bad := func(why string, args ...any) error {
		return fmt.Errorf("%w %q: %s (%s)", ErrInvalidName, s, fmt.Sprintf(why, args...), NameRules)
	}
	if len(s) == 0 {
		return fmt.Errorf("%w: empty (%s)", ErrInvalidName, NameRules)
	}
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !utf8.ValidString(s[i:i+1]):
			return bad("byte %#x at %d is not text", s[i], i)
		case r >= 'A' && r <= 'Z':
			return bad("%q is uppercase (use %q)", r, r+'a'-'A')
		case r > utf8.RuneSelf:
			return bad("%q (U+%04X) is not allowed", r, r)
		case r != '-' && (r < 'a' || r > 'z') && (r < '0' || r > '9'):
			return bad("%q is not allowed", r)
		case i == 0 && (r < 'a' || r > 'z'):
			return bad("starts with %q, not a letter", r)
		case r == '-' && s[i-1] == '-':
			return bad("contains \"--\"")
		case r == '-' && i == len(s)-1:
			return bad("ends with '-'")
		}
	}
	if len(s) > MaxNameLen { // all ASCII by now: bytes are characters
		return bad("%d characters, at most %d", len(s), MaxNameLen)
	}
	return nil
}
