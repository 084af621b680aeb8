package bns

import (
	"errors"
	"fmt"
)

// Name rules. A name is 1 to MaxNameLen characters from a-z, 0-9 and '-'.
// It starts with a letter, does not end with '-', and has no "--" (which
// would let names imitate punycode "xn--" labels). Uppercase is refused rather
// than folded, so every name has exactly one spelling; there is no Unicode, so
// there are no homographs.
const MaxNameLen = 40

// ErrInvalidName is wrapped by ValidateName's errors.
var ErrInvalidName = errors.New("invalid name")

// ValidateName reports whether s is a valid name, and why not.
func ValidateName(s string) error {
	if len(s) == 0 {
		return fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("%w: %d characters, at most %d", ErrInvalidName, len(s), MaxNameLen)
	}
	if c := s[0]; c < 'a' || c > 'z' {
		return fmt.Errorf("%w: %q must start with a lowercase letter", ErrInvalidName, s)
	}
	if s[len(s)-1] == '-' {
		return fmt.Errorf("%w: %q ends with '-'", ErrInvalidName, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-':
			if s[i-1] == '-' {
				return fmt.Errorf("%w: %q contains \"--\"", ErrInvalidName, s)
			}
		default:
			return fmt.Errorf("%w: %q has character %q at %d (allowed: a-z, 0-9, '-')", ErrInvalidName, s, c, i)
		}
	}
	return nil
}
