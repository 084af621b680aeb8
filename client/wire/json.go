package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// unmarshalStrict decodes the JSON of an event, a profile or group
// receipts into v after checking the rules of docs/protocol.md (Events),
// which every implementation applies alike: valid UTF-8, one value and
// nothing after it, no member name twice in an object, member names
// matched exactly (encoding/json alone would take "K" or "\u212a" for
// "k"), numbers integers of magnitude at most 2^53 - 1 (I-JSON), byte
// strings canonical base64 (encoding/json alone skips line breaks in
// them and takes any pad bits), nesting at most maxJSONDepth deep.
func unmarshalStrict(b []byte, v any) error {
	if !utf8.Valid(b) {
		return errors.New("not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := checkValue(dec, reflect.TypeOf(v), 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err == nil {
		return errors.New("more than one JSON value")
	}
	if err := checkSurrogates(b); err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// checkSurrogates refuses a \u escape of a surrogate that is not half of
// a pair (encoding/json would read U+FFFD in its place, another reader
// the lone surrogate). b is JSON that parsed.
func checkSurrogates(b []byte) error {
	hex4 := func(i int) rune {
		if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
			return -1
		}
		r, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
		if err != nil {
			return -1
		}
		return rune(r)
	}
	inString := false
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '"':
			inString = !inString
		case inString && b[i] == '\\':
			r := hex4(i)
			switch {
			case r >= 0xd800 && r < 0xdc00:
				if lo := hex4(i + 6); lo < 0xdc00 || lo >= 0xe000 {
					return errors.New("an unpaired surrogate escape")
				}
				i += 11
			case r >= 0xdc00 && r < 0xe000:
				return errors.New("an unpaired surrogate escape")
			default:
				i++ // the escaped character
			}
		}
	}
	return nil
}

// maxJSONDepth bounds the nesting of objects and arrays.
const maxJSONDepth = 16

var integer = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

const maxSafeInteger = 1<<53 - 1

// checkValue reads one JSON value from dec, which t (the Go type it
// decodes into, or nil where any value is taken) describes.
func checkValue(dec *json.Decoder, t reflect.Type, depth int) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if depth > maxJSONDepth {
		return errors.New("JSON nested too deep")
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok := tok.(type) {
	case string:
		if t != nil && t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			b, err := base64.StdEncoding.DecodeString(tok)
			if err != nil || base64.StdEncoding.EncodeToString(b) != tok {
				return fmt.Errorf("%q is not canonical base64", tok)
			}
		}
	case json.Number:
		s := tok.String()
		if !integer.MatchString(s) {
			return fmt.Errorf("number %s is not an integer", s)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > maxSafeInteger || n < -maxSafeInteger {
			return fmt.Errorf("integer %s beyond 2^53 - 1", s)
		}
	case json.Delim:
		switch tok {
		case '[':
			var elem reflect.Type
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				elem = t.Elem()
			}
			for dec.More() {
				if err := checkValue(dec, elem, depth+1); err != nil {
					return err
				}
			}
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key := k.(string)
				if seen[key] {
					return fmt.Errorf("member %q twice", key)
				}
				seen[key] = true
				var field reflect.Type
				if t != nil {
					switch t.Kind() {
					case reflect.Map:
						field = t.Elem()
					case reflect.Struct:
						if field, err = structField(t, key); err != nil {
							return err
						}
					}
				}
				if err := checkValue(dec, field, depth+1); err != nil {
					return err
				}
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return err
		}
	}
	return nil
}

// structField is the type of t's field whose JSON name is key, nil if it
// has none; a key that encoding/json would match only by case folding is
// refused.
func structField(t reflect.Type, key string) (reflect.Type, error) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if name == key {
			return f.Type, nil
		}
		if strings.EqualFold(name, key) || strings.EqualFold(strings.ReplaceAll(strings.ReplaceAll(key, "\u212a", "k"), "\u017f", "s"), name) {
			return nil, fmt.Errorf("member %q is not %q", key, name)
		}
	}
	return nil, nil
}
