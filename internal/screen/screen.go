// Package screen is the commands' one output layer: everything parley
// prints passes through it, so nothing someone else wrote (message text,
// names, references, group names and IDs, file names, profile fields,
// reactions, and errors that quote them) reaches a terminal raw.
//
// Three pieces, each closing one way around it:
//
//   - [Line] and [Text] render remote strings: every control character
//     (C0 but in Text the newline, DEL, C1, U+2028/2029), every bidi
//     control (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069), every
//     invisible character (zero-width space, word joiner, BOM, soft
//     hyphen, fillers; tag characters outside a flag) and every invalid
//     UTF-8 byte is shown as an escape (\x1b, \u202e, \u200b), so it can
//     neither drive the terminal (title, clear screen, colours), reorder
//     what follows it, nor hide in a name ("ali\u200bce"). [Text] keeps a message's lines but begins
//     every line after the first with an indent, so no line of a message
//     can pose as a line of the program's own (or the user's).
//   - [Printf] is how commands print: every string, error or Stringer
//     argument is rendered as a [Line]; only a [Block], which only this
//     package makes, keeps its lines.
//   - [Writer] wraps the process's stdout and stderr: whatever reaches it
//     is escaped as by [Clean] (tabs and newlines pass), so even a print
//     that went around [Printf] cannot send a control sequence. The
//     program's own sequences (a progress bar's carriage return, colour)
//     go through [Writer.Control], which writes them only to a terminal.
//
// The package holds no state; it does not read or write anything but the
// writers it is given.
package screen

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/mattn/go-runewidth"
	"golang.org/x/term"
)

// inert reports whether r may be shown as it is.
func inert(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0: // C0, DEL, C1
		return false
	case r == 0x061c, r == 0x200e, r == 0x200f, // Arabic letter mark, LRM, RLM
		r >= 0x202a && r <= 0x202e, // LRE, RLE, PDF, LRO, RLO
		r >= 0x2066 && r <= 0x2069, // LRI, RLI, FSI, PDI
		r == 0x2028, r == 0x2029:   // line and paragraph separators
		return false
	case invisible(r), isTag(r): // tags only in a flag's sequence: escape
		return false
	}
	return true
}

// invisible reports whether r shows nothing and joins nothing a script or
// an emoji needs: a zero-width space, word joiner, invisible operators,
// byte order mark, soft hyphen, fillers, deprecated format controls. In
// a name they made "ali\u200bce" look like "alice", or a name look empty.
// The joiners U+200C and U+200D and the variation selectors stay: scripts
// and emoji need them.
func invisible(r rune) bool {
	switch {
	case r == 0x00ad, r == 0x034f, r == 0x115f, r == 0x1160, r == 0x17b4, r == 0x17b5,
		r >= 0x180b && r <= 0x180e, r == 0x200b, r >= 0x2060 && r <= 0x2064,
		r >= 0x206a && r <= 0x206f, r == 0x3164, r == 0xfeff, r == 0xffa0,
		r >= 0xfff9 && r <= 0xfffb, r >= 0x1d173 && r <= 0x1d17a:
		return true
	}
	return false
}

// isTag reports whether r is a tag character (U+E0000–U+E007F): invisible,
// they can carry hidden text; only a flag's sequence (U+1F3F4, tags,
// U+E007F) shows them (escape).
func isTag(r rune) bool { return r >= 0xe0000 && r <= 0xe007f }

// flagTags reports, for each rune of s that is a tag, whether it belongs to a
// flag's tag sequence: U+1F3F4 then U+E0020–U+E007E up to U+E007F.
func flagTags(s string) map[int]bool {
	var (
		ok    map[int]bool
		start = -1 // the byte offset of the sequence's first tag
		tags  []int
	)
	for i, r := range s {
		switch {
		case r == 0x1f3f4:
			start, tags = i, nil
		case start >= 0 && r >= 0xe0020 && r <= 0xe007e:
			tags = append(tags, i)
		case start >= 0 && r == 0xe007f && len(tags) > 0:
			if ok == nil {
				ok = map[int]bool{}
			}
			for _, t := range tags {
				ok[t] = true
			}
			ok[i] = true
			start = -1
		default:
			start = -1
		}
	}
	return ok
}

// escape renders s with every rune for which keep is false (and every
// invalid UTF-8 byte) replaced by its escape.
func escape(s string, keep func(rune) bool) string {
	clean, tags := true, false
	for _, r := range s {
		tags = tags || isTag(r)
		if r == utf8.RuneError || !keep(r) {
			clean = false
		}
	}
	var flags map[int]bool // a flag's tags, kept
	if tags {
		flags = flagTags(s)
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case keep(r), flags[i]:
			b.WriteString(s[i : i+n])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += n
	}
	return b.String()
}

// Line renders s for one line of a terminal: controls, newlines and tabs
// included, bidi controls and invalid UTF-8 are shown escaped. It is
// idempotent: Line(Line(s)) == Line(s).
func Line(s string) string { return escape(s, inert) }

// Clean is Line but keeps newlines and tabs: what [Writer] does to every
// byte it is given.
func Clean(s string) string {
	return escape(s, func(r rune) bool { return r == '\n' || r == '\t' || inert(r) })
}

// Block is text rendered by this package, possibly of several lines;
// [Printf] prints it as it is. Only this package makes one.
type Block struct{ s string }

func (b Block) String() string { return b.s }

// Text renders a multi-line text (a message): each line as [Line] renders
// it (tabs become four spaces), every line after the first prefixed by
// indent. Newlines at the end are dropped; "\r\n" counts as one newline.
func Text(s, indent string) Block {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n"), "\n")
	for i, l := range lines {
		l = Line(strings.ReplaceAll(l, "\t", "    "))
		if i > 0 {
			l = Line(indent) + l
		}
		lines[i] = l
	}
	return Block{strings.Join(lines, "\n")}
}

// Join makes one block of blocks and the program's own strings (sep is
// the program's too; strings among the parts are rendered as [Line]).
func Join(sep string, parts ...any) Block {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(fmt.Sprint(render(p)))
	}
	return Block{Clean(b.String())}
}

// Sprintf is [Printf] to a [Block].
func Sprintf(format string, args ...any) Block {
	return Block{Clean(fmt.Sprintf(format, renderAll(args)...))}
}

// Printf formats to w as fmt.Fprintf does, after rendering each argument:
// a string, error, fmt.Stringer or []string as [Line]; a [Block] as it
// is; anything else (numbers, byte slices in %x) untouched. format is the
// program's own.
func Printf(w io.Writer, format string, args ...any) {
	io.WriteString(w, Clean(fmt.Sprintf(format, renderAll(args)...)))
}

// Println prints its arguments as [Printf] renders them, separated by
// spaces, then a newline.
func Println(w io.Writer, args ...any) {
	io.WriteString(w, Join(" ", args...).s+"\n")
}

func renderAll(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = render(a)
	}
	return out
}

func render(a any) any {
	switch v := a.(type) {
	case Block:
		return v.s
	case *Block:
		return v.s
	case string:
		return Line(v)
	case error:
		return Line(v.Error())
	case fmt.Stringer:
		return Line(v.String())
	case []string:
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = Line(x)
		}
		return s
	case nil:
		return ""
	}
	if v := reflect.ValueOf(a); v.Kind() == reflect.String { // a named string type
		return Line(v.String())
	}
	return a
}

// Builder builds a [Block] piece by piece. The zero value is empty.
type Builder struct{ b strings.Builder }

// Printf appends as [Printf] prints.
func (b *Builder) Printf(format string, args ...any) {
	b.b.WriteString(Clean(fmt.Sprintf(format, renderAll(args)...)))
}

// Text appends s as [Text] renders it, the lines after its first indented
// to the column where s begins, so they stand under it.
func (b *Builder) Text(s string) {
	cur := b.b.String()
	col := runewidth.StringWidth(cur[strings.LastIndexByte(cur, '\n')+1:])
	b.b.WriteString(Text(s, strings.Repeat(" ", col)).s)
}

// Add appends a block.
func (b *Builder) Add(x Block) { b.b.WriteString(x.s) }

// Len is the length in bytes of what the builder holds.
func (b *Builder) Len() int { return b.b.Len() }

// Block returns what was built.
func (b *Builder) Block() Block { return Block{b.b.String()} }

// Writer escapes what it is given as [Clean] does before passing it on;
// an incomplete UTF-8 sequence at the end of one Write waits for the
// next. It is not safe for concurrent use.
type Writer struct {
	w        io.Writer
	terminal bool
	pending  []byte
}

// NewWriter makes w a Writer; terminal says whether w is a terminal (see
// [IsTerminal]), which only [Writer.Control] and [Writer.Terminal] heed.
func NewWriter(w io.Writer, terminal bool) *Writer {
	return &Writer{w: w, terminal: terminal}
}

// IsTerminal reports whether w is a file open on a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// Terminal reports whether the writer is a terminal: progress bars and
// colour are for terminals only.
func (w *Writer) Terminal() bool { return w.terminal }

// Write writes p escaped. It returns len(p) once the escaped bytes are
// written (or held, for an incomplete rune at the end).
func (w *Writer) Write(p []byte) (int, error) {
	b := append(w.pending, p...)
	w.pending = nil
	// Hold back the start of a rune cut off at the end.
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				w.pending = append([]byte(nil), b[i:]...)
				b = b[:i]
			}
			break
		}
	}
	if _, err := io.WriteString(w.w, Clean(string(b))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Control writes the program's own control sequence seq (a carriage
// return, a colour) as it is, and only to a terminal.
func (w *Writer) Control(seq string) {
	if w.terminal {
		io.WriteString(w.w, seq)
	}
}
