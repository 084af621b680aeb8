package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/internal/cli"
	"github.com/parley-im/parley/internal/screen"
)

// parseRef reads a message's label, NAME/N, as 'parley read' shows it;
// a bare N is the user's own message N. Resolve it against a conversation
// (resolveRef) for the message events refer to.
func parseRef(s, me string) (wire.Ref, error) {
	by, n, ok := strings.Cut(s, "/")
	if !ok {
		by, n = me, s
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	ref := wire.Ref{By: by, Seq: seq}
	if err != nil || ref.Check() != nil {
		return wire.Ref{}, cli.Usage(fmt.Errorf("%q is not a message reference (NAME/N, as 'parley read' shows them)", s))
	}
	return ref, nil
}

// resolveRef reads the label s (parseRef) of a message of conversation
// conv and returns the message's ID, what events refer to.
func resolveRef(c *client.Client, conv, s string) (wire.Ref, error) {
	label, err := parseRef(s, c.Name)
	if err != nil {
		return wire.Ref{}, err
	}
	return c.Resolve(conv, label)
}

// messageHeader is what begins a message's line: when it was written, its
// label and author ("· " for a group's notice).
func messageHeader(m client.Message, clk clock) screen.Block {
	when := ""
	if !m.Time.IsZero() {
		when = clk.stamp(m.Time) + " "
	}
	label, ok := m.Label()
	switch {
	case m.Kind == client.KindNotice:
		return screen.Sprintf("%s· ", when)
	case !ok: // a notice of a timer, say: nothing refers to it
		return screen.Sprintf("%s%s: ", when, m.From)
	case m.Earlier: // from before the conversation started over: no reference reaches it
		return screen.Sprintf("%s[earlier %s] %s: ", when, label, m.From)
	}
	return screen.Sprintf("%s[%s] %s: ", when, label, m.From)
}

// refLabel is how a line names the message m refers to.
func refLabel(m client.Message) string {
	if m.RefLabel != nil {
		return m.RefLabel.String()
	}
	return m.Ref.By + "'s message (no longer here)"
}

// formatMessage renders one conversation entry: its reference, author
// and text (the text's later lines indented under its first), then what
// happened to it. state is the delivery state of the user's own messages
// ("" for others').
func formatMessage(m client.Message, state string, clk clock) screen.Block {
	var b screen.Builder
	b.Add(messageHeader(m, clk))
	if m.Kind == client.KindNotice { // a group's notice: no reference, nobody's words
		b.Printf("%s", m.Text)
		return b.Block()
	}
	switch {
	case m.Deleted:
		b.Printf("(deleted)")
	case m.Kind == wire.KindTimer && m.TTL == 0:
		b.Printf("(turned disappearing messages off)")
	case m.Kind == wire.KindTimer:
		b.Printf("(set disappearing messages to %s)", m.TTL)
	case m.Kind == client.KindUnsupported:
		b.Printf("(a message this version cannot show: %s)", m.Text)
	default:
		if m.Ref != nil {
			b.Printf("↪ %s ", refLabel(m))
		}
		b.Text(m.Text)
		if m.File != nil {
			if m.Text != "" {
				b.Printf(" ")
			}
			label, _ := m.Label()
			b.Printf("📎 %s (%s; get-file %s)", m.File.Name, size(m.File.Size), label)
		}
	}
	if m.Edited {
		b.Printf(" (edited)")
	}
	names := make([]string, 0, len(m.Reactions))
	for n := range m.Reactions {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		b.Printf(" %s%s", m.Reactions[n], n)
	}
	if !m.Expires.IsZero() {
		b.Printf(" ⏳%s", clk.stamp(m.Expires))
	}
	if state != "" {
		b.Printf(" [%s]", state)
	}
	return b.Block()
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// formatEvent renders an event as it arrives (parley watch), with its
// time.
func formatEvent(m client.Message, clk clock) screen.Block {
	var b screen.Builder
	if !m.Time.IsZero() && m.Kind != wire.KindText && m.Kind != client.KindUnsupported && m.Kind != wire.KindTimer {
		b.Printf("%s ", clk.stamp(m.Time))
	}
	switch m.Kind {
	case wire.KindReact:
		if m.Emoji == "" {
			b.Printf("%s took back their reaction to %s", m.From, refLabel(m))
		} else {
			b.Printf("%s reacted %s to %s", m.From, m.Emoji, refLabel(m))
		}
	case wire.KindEdit:
		b.Printf("%s edited %s: ", m.From, refLabel(m))
		b.Text(m.Text)
	case wire.KindDelete:
		b.Printf("%s deleted %s", m.From, refLabel(m))
	case wire.KindProfile:
		b.Printf("%s shared their profile", m.From)
	case client.KindRequest:
		if m.Text != "" {
			b.Printf("%s wants to become a contact (signature checked against the chain): %s — parley contacts accept %s", m.From, m.Text, m.From)
		} else {
			b.Printf("%s wants to become a contact (signature checked against the chain): parley contacts accept %s", m.From, m.From)
		}
	default:
		return formatMessage(m, "", clk)
	}
	return b.Block()
}

func sendCmd(h *home, stdout io.Writer) *cobra.Command {
	var reply string
	cmd := &cobra.Command{
		Use:   "send NAME TEXT|-",
		Short: "Send a message",
		Long: "send sends TEXT to NAME and says what happened: sent (on your hubs, for NAME to fetch), or queued,\n" +
			"why, and when it goes out. With - in place of TEXT, the text is read from standard input (at most\n" +
			"64 KiB; one final line break is dropped). An empty or blank message is refused; send longer texts\n" +
			"as files (send-file).",
		Example: "  parley send bob 'see you at noon'\n  parley send bob 'yes' --reply bob/4\n  fortune | parley send bob -",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := h.text(args[1])
			if err != nil {
				return err
			}
			return h.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
				e := &wire.Event{Kind: wire.KindText, Text: text}
				if reply != "" {
					ref, err := resolveRef(c, args[0], reply)
					if err != nil {
						return err
					}
					e.Ref = &ref
				}
				m, err := c.SendEvent(cmd.Context(), args[0], e)
				return h.outcome(stdout, m, err)
			})(cmd, args)
		},
	}
	cmd.Flags().StringVar(&reply, "reply", "", "the message this one answers (NAME/N)")
	return cmd
}

// text is the text of a message as the user gave it: arg, or, for "-",
// standard input (at most client.MaxTextBytes, without one final line
// break), checked.
func (h *home) text(arg string) (string, error) {
	text := arg
	if arg == "-" {
		if f, ok := h.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			screen.Printf(h.stderr, "parley: type the message, then Ctrl-D on a line of its own\n")
		}
		b, err := io.ReadAll(io.LimitReader(h.stdin, client.MaxTextBytes+3)) // room for a final "\r\n", and one byte too many
		if err != nil {
			return "", fmt.Errorf("reading the message from standard input: %w", err)
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		if len(b) > client.MaxTextBytes {
			return "", hinted(fmt.Errorf("the message on standard input is more than %d bytes, the most a message holds", client.MaxTextBytes),
				"shorten it, or send it as a file: parley send-file NAME FILE")
		}
		text = string(b)
	}
	var te *client.TextError
	if err := client.CheckText(text); errors.As(err, &te) {
		switch {
		case te.Err == client.ErrEmptyText:
			return "", cli.Usage(errors.New("the message is empty: nothing was sent"))
		case te.Err == client.ErrTextTooLong && te.Bytes <= client.MaxTextBytes:
			return "", hinted(fmt.Errorf("the message is %d bytes (%d characters), %d of them control characters, which take 6 bytes each in a message: it does not fit", te.Bytes, te.Chars, te.Controls),
				"send it as a file: parley send-file NAME FILE")
		case te.Err == client.ErrTextTooLong:
			return "", hinted(fmt.Errorf("the message is %d bytes (%d characters); a message holds at most %d bytes", te.Bytes, te.Chars, client.MaxTextBytes),
				"shorten it, or send it as a file: parley send-file NAME FILE")
		}
		return "", errors.New("the message is not UTF-8 text: nothing was sent")
	}
	return text, nil
}

// outcome tells the user what became of message m, sent with error err:
// sent, or queued and why.
func (h *home) outcome(stdout io.Writer, m client.Message, err error) error {
	var q *client.QueuedError
	label, _ := m.Label()
	switch {
	case errors.As(err, &q) && q.Request:
		screen.Printf(stdout, "queued (%s): your contact request has not reached %s yet; this message goes out with it, with your next parley command (or a running watch) once one of %s's hubs answers\n",
			label, q.To, q.To)
	case errors.As(err, &q):
		screen.Printf(stdout, "queued (%s): %s\n", label, queuedWhy(q))
	case err != nil:
		return err
	default:
		screen.Printf(stdout, "sent (%s)\n", label)
	}
	if err != nil && h.verbose() {
		screen.Printf(h.stderr, "parley: detail: %v\n", err)
	}
	return nil
}

// queuedOK turns "queued" into a note: the message is safe on this
// device; the note says why no hub took it and what sends it.
func (h *home) queuedOK(err error) error {
	var q *client.QueuedError
	if errors.As(err, &q) {
		screen.Printf(h.stderr, "parley: queued: %s\n", queuedWhy(q))
		return nil
	}
	if errors.Is(err, client.ErrQueued) && client.IsOffline(err) {
		// The offline line (sayOffline) names what does not answer.
		screen.Println(h.stderr, "parley: queued: it goes out with a later parley command, once what is offline answers")
		return nil
	}
	if errors.Is(err, client.ErrQueued) {
		h.warn("", err)
		return nil
	}
	return err
}

func readCmd(h *home, stdout io.Writer) *cobra.Command {
	var last int
	cmd := &cobra.Command{
		Use:   "read NAME",
		Short: "Fetch new messages from NAME and show the conversation",
		Long: "read fetches what NAME wrote since last time, shows the whole conversation in the order it was\n" +
			"said, and marks it read (NAME learns it unless read receipts are off). Each message shows the time\n" +
			"it was written, in your time zone (with its date when not today), and a reference NAME/N for\n" +
			"replies, reactions, edits and deletes: N counts NAME's messages in the conversation, from 1. Each\n" +
			"of your messages shows [queued], [sent], [delivered] or [read]. --last N shows only the newest N.",
		Example: "  parley read bob\n  parley read bob --last 20",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, name := cmd.Context(), args[0]
			c, err := h.client(ctx)
			if err != nil {
				return err
			}
			var kc *client.KeyChange
			if err := c.CheckKeys(ctx, name); errors.As(err, &kc) {
				// The conversation is closed: what it holds is shown, nothing new is read.
				h.warn("", kc)
			}
			_, rerr := c.Receive(ctx, name)
			if errors.Is(rerr, client.ErrKeysChanged) {
				rerr = nil // said above
			}
			rerr = quiet(rerr) // their hubs down: what was fetched before is shown
			r, _ := c.ReceiptFrom(ctx, name)
			var (
				groupReceipts map[string]wire.Receipt
				others        int
			)
			if strings.HasPrefix(name, "#") {
				groupReceipts, _ = c.GroupReceipts(ctx, name[1:])
				for _, g := range c.Groups() {
					if "#"+g.ID == name {
						others = len(g.Members) - 1
					}
				}
			}
			conv := c.Conversation(name)
			if last > 0 && len(conv) > last {
				conv = conv[len(conv)-last:]
			}
			for _, m := range conv {
				state := ""
				switch {
				case m.From != c.Name:
				case groupReceipts != nil && c.StateOf(name, m.Seq, r) != client.StateQueued:
					state = client.GroupState(m.Seq, others, groupReceipts)
				default:
					state = c.StateOf(name, m.Seq, r)
				}
				screen.Println(stdout, formatMessage(m, state, h.clock))
			}
			if err := quiet(c.MarkRead(ctx, name)); err != nil {
				rerr = errors.Join(rerr, err)
			}
			return rerr
		},
	}
	cmd.Flags().IntVar(&last, "last", 0, "show only the newest N messages (0: all)")
	return cmd
}

func watchCmd(h *home, stdout, stderr io.Writer) *cobra.Command {
	var exec string
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Print messages from all contacts as they arrive",
		Long: "watch holds one change-notification stream per hub your contacts write to and prints each new\n" +
			"message, reaction, edit or delete as it arrives, with its time. While a hub is unreachable it polls it with\n" +
			"back-off. Messages are marked delivered, not read. Stop it with Ctrl-C.\n\n" +
			"With --exec, each new message (and contact request) also runs COMMAND with sh -c, the message in\n" +
			"its environment, never in the command line: PARLEY_FROM, PARLEY_CONVERSATION, PARLEY_KIND,\n" +
			"PARLEY_TEXT (control characters shown escaped), PARLEY_REF. What COMMAND prints shows with watch's\n" +
			"own output (control characters escaped). For a desktop notification, say.",
		Example: "  parley watch\n  parley watch --exec 'notify-send \"$PARLEY_FROM\" \"$PARLEY_TEXT\"'",
		Args:    cobra.NoArgs,
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			err := c.Watch(cmd.Context(), func(m client.Message) {
				if m.Kind == client.KindReceipt || m.Kind == wire.KindReceipts || m.Kind == client.KindExpired {
					return // parley read shows what was delivered and read
				}
				screen.Println(stdout, formatEvent(m, h.clock))
				if exec != "" && (m.Kind == wire.KindText || m.Kind == client.KindRequest) {
					if err := runHook(cmd.Context(), exec, c.Name, m, stdout, stderr); err != nil {
						h.warn("--exec", err)
					}
				}
			}, func(err error) {
				h.warn("", err)
			})
			if cmd.Context().Err() != nil {
				return nil
			}
			return err
		}),
	}
	cmd.Flags().StringVar(&exec, "exec", "", "run COMMAND (sh -c) for each new message, the message in PARLEY_* variables")
	return cmd
}

// hookRef is the label of m for PARLEY_REF ("" if it has none).
func hookRef(m client.Message) string {
	if l, ok := m.Label(); ok {
		return l.String()
	}
	return ""
}

// runHook runs command with sh -c for message m, which it finds in the
// environment only: what a stranger wrote never becomes shell text. The
// command's output passes through to stdout and stderr (through the
// screen's writers, so it cannot carry control sequences either).
func runHook(ctx context.Context, command, me string, m client.Message, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c := osexec.CommandContext(ctx, "sh", "-c", command)
	text := m.Text
	if m.File != nil {
		text = strings.TrimSpace(text + " [file " + m.File.Name + "]")
	}
	c.Env = append(os.Environ(), "PARLEY_FROM="+screen.Line(m.From), "PARLEY_CONVERSATION="+screen.Line(client.ConversationOf(me, m)),
		"PARLEY_KIND="+screen.Line(m.Kind), "PARLEY_TEXT="+screen.Line(text), "PARLEY_REF="+screen.Line(hookRef(m)))
	c.Stdout, c.Stderr = stdout, stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("the command failed: %w", err)
	}
	return nil
}

func reactCmd(h *home) *cobra.Command {
	return &cobra.Command{
		Use:     "react NAME REF EMOJI",
		Short:   "React to a message (an empty EMOJI takes the reaction back)",
		Example: "  parley react bob bob/3 👍\n  parley react bob bob/3 ''",
		Args:    cobra.ExactArgs(3),
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if _, err := parseRef(args[1], c.Name); err != nil {
				return err
			}
			if _, err := c.Receive(cmd.Context(), args[0]); quiet(err) != nil { // the message may be new
				h.warn("", err)
			}
			ref, err := resolveRef(c, args[0], args[1])
			if err != nil {
				return err
			}
			return h.queuedOK(c.React(cmd.Context(), args[0], ref, args[2]))
		}),
	}
}

// ownRef reads the label of one of the user's messages.
func ownRef(s, me string) (wire.Ref, error) {
	ref, err := parseRef(s, me)
	if err == nil && ref.By != me {
		err = cli.Usage(fmt.Errorf("%s is %s's message: only its author can change it", ref, ref.By))
	}
	return ref, err
}

// ownSeq resolves the label s of one of the user's messages in
// conversation conv to its sequence number.
func ownSeq(c *client.Client, conv, s string) (uint64, error) {
	label, err := ownRef(s, c.Name)
	if err != nil {
		return 0, err
	}
	ref, err := c.Resolve(conv, label)
	return ref.Seq, err
}

func editCmd(h *home) *cobra.Command {
	return &cobra.Command{
		Use:     "edit NAME REF TEXT|-",
		Short:   "Replace the text of one of your messages",
		Long:    "edit replaces the text of your message REF (N, or YOURNAME/N); - reads the new text from standard input, as send does.",
		Example: "  parley edit bob 4 'see you at one'",
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := h.text(args[2])
			if err != nil {
				return err
			}
			return h.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
				seq, err := ownSeq(c, args[0], args[1])
				if err != nil {
					return err
				}
				return h.queuedOK(c.Edit(cmd.Context(), args[0], seq, text))
			})(cmd, args)
		},
	}
}

func deleteCmd(h *home) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME REF",
		Short: "Delete one of your messages for both of you",
		Long: "delete tells NAME to delete the message and removes its blob from your hubs; your index says it\n" +
			"was deleted, so NAME's client skips it if it was not read yet.",
		Example: "  parley delete bob 4",
		Args:    cobra.ExactArgs(2),
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			seq, err := ownSeq(c, args[0], args[1])
			if err != nil {
				return err
			}
			return h.queuedOK(c.Delete(cmd.Context(), args[0], seq))
		}),
	}
}

func timerCmd(h *home, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "timer NAME DURATION",
		Short: "Make messages with NAME disappear after DURATION (0 turns it off)",
		Long: "timer sets disappearing messages for the conversation, both ways: each message sent from now on\n" +
			"leaves its sender's device DURATION after it was sent, and the reader's DURATION after it was\n" +
			"read (a message nobody has read yet waits for its reader). Its sender's hubs delete it on their\n" +
			"own, even while the sender's device is off, once DURATION or 14 days (whichever is longer) have\n" +
			"passed unread; once the reader has fetched it and the sender's timer ran out, the sender's device\n" +
			"deletes it at once (in a group, the hubs do, at that time).",
		Example: "  parley timer bob 1h\n  parley timer bob 0",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := time.ParseDuration(args[1])
			if err != nil || d < 0 {
				return cli.Usage(fmt.Errorf("%q is not a duration such as 30s, 10m or 24h", args[1]))
			}
			c, err := h.client(cmd.Context())
			if err != nil {
				return err
			}
			if err := h.queuedOK(c.SetTimer(cmd.Context(), args[0], d)); err != nil {
				return err
			}
			label := conversationLabel(c, args[0])
			if d == 0 {
				screen.Printf(stdout, "disappearing messages in %s: off\n", label)
			} else {
				screen.Printf(stdout, "messages in %s now disappear %s after they are sent (from the reader's device, %s after they are read)\n", label, d, d)
			}
			return nil
		},
	}
}

func blockCmds(h *home, stdout io.Writer) []*cobra.Command {
	block := &cobra.Command{
		Use:   "block NAME",
		Short: "Block NAME: refuse their requests and messages",
		Long: "block stops reading NAME's hubs, refuses their contact requests unseen, deletes the receipt that\n" +
			"told them what you read, and moves your profile under a new key they do not get. What they send\n" +
			"while blocked is never shown, even after unblock.",
		Args: cobra.ExactArgs(1),
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if err := c.Block(cmd.Context(), args[0]); err != nil {
				return err
			}
			screen.Printf(stdout, "blocked %s\n", args[0])
			return nil
		}),
	}
	unblock := &cobra.Command{
		Use:   "unblock NAME",
		Short: "Let NAME reach you again",
		Args:  cobra.ExactArgs(1),
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if err := c.Unblock(cmd.Context(), args[0]); err != nil {
				return err
			}
			screen.Printf(stdout, "unblocked %s\n", args[0])
			return nil
		}),
	}
	return []*cobra.Command{block, unblock}
}

func profileCmd(h *home, stdout io.Writer) *cobra.Command {
	var saveAvatar string
	cmd := &cobra.Command{
		Use:   "profile [NAME] [--avatar FILE]",
		Short: "Show your profile, or a contact's; save its avatar",
		Long: "A profile (display name, status, avatar) is stored encrypted on your hubs; only your contacts get its key.\n" +
			"--avatar FILE saves the avatar (a PNG, JPEG or GIF image, checked by its content) in FILE, which must\n" +
			"not exist yet.",
		Example: "  parley profile\n  parley profile bob\n  parley profile bob --avatar bob.png",
		Args:    cobra.MaximumNArgs(1),
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			p := c.MyProfile()
			who := c.Name
			if len(args) == 1 {
				who = args[0]
				if _, err := c.Receive(cmd.Context(), who); quiet(err) != nil {
					h.warn("", err)
				}
				q, err := c.ContactProfile(cmd.Context(), who)
				if err != nil {
					return err
				}
				p = *q
			}
			screen.Printf(stdout, "name:   %s\nstatus: %s\navatar: %s\n", cmp(p.DisplayName, who), p.Status, avatarInfo(p.Avatar))
			if saveAvatar == "" {
				return nil
			}
			if len(p.Avatar) == 0 {
				return fmt.Errorf("%s has no avatar", who)
			}
			f, err := os.OpenFile(saveAvatar, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // never over a file
			if err != nil {
				return fmt.Errorf("cannot save the avatar: %w", err)
			}
			if _, err := f.Write(p.Avatar); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			screen.Printf(stdout, "saved %s's avatar in %s\n", who, saveAvatar)
			return nil
		}),
	}
	cmd.Flags().StringVar(&saveAvatar, "avatar", "", "save the avatar in FILE (which must not exist)")
	var (
		name, status, avatar string
	)
	set := &cobra.Command{
		Use:   "set",
		Short: "Set your display name, status and avatar",
		Long: fmt.Sprintf("set changes what your contacts see of you. An avatar is a PNG, JPEG or GIF image (judged by its\n"+
			"content) of at most %d KiB and %d×%d pixels.", wire.MaxAvatar>>10, wire.MaxAvatarSide, wire.MaxAvatarSide),
		Example: "  parley profile set --name 'Alice L.' --status 'in Wonderland' --avatar me.png",
		Args:    cobra.NoArgs,
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			p := c.MyProfile()
			if cmd.Flags().Changed("name") {
				p.DisplayName = name
			}
			if cmd.Flags().Changed("status") {
				p.Status = status
			}
			if avatar != "" {
				b, err := readAvatar(avatar)
				if err != nil {
					return err
				}
				p.Avatar = b
			}
			if err := c.SetProfile(cmd.Context(), p); err != nil {
				return h.queuedOK(err)
			}
			screen.Println(stdout, "profile updated; your contacts see it")
			return nil
		}),
	}
	set.Flags().StringVar(&name, "name", "", "display name")
	set.Flags().StringVar(&status, "status", "", "status line")
	set.Flags().StringVar(&avatar, "avatar", "", "image file (PNG, JPEG or GIF)")
	cmd.AddCommand(set)
	return cmd
}

// errNotAvatar: a file given as an avatar is not an image parley takes.
var errNotAvatar = errors.New("not an avatar parley takes")

// readAvatar reads an avatar from path, reading no more than an avatar
// may hold, and checks it by its content (wire.CheckAvatar).
func readAvatar(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, wire.MaxAvatar+1))
	if err != nil {
		return nil, err
	}
	if _, _, _, err := wire.CheckAvatar(b); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", path, errNotAvatar, err)
	}
	return b, nil
}

// avatarInfo describes an avatar: its format, size and pixels.
func avatarInfo(b []byte) string {
	if len(b) == 0 {
		return "none"
	}
	format, w, h, err := wire.CheckAvatar(b)
	if err != nil {
		return "not an image (" + size(int64(len(b))) + ")"
	}
	return fmt.Sprintf("%s, %d×%d pixels, %s", strings.ToUpper(format), w, h, size(int64(len(b))))
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func settingsCmd(h *home, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "settings",
		Short: "Show or change settings",
		Args:  cobra.NoArgs,
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			screen.Printf(stdout, "read-receipts: %s\nblocked: %s\nnode: %s\nwitnesses: %s\n", onOff(c.ReadReceipts()),
				strings.Join(c.Blocked(), ", "), h.cfg.Node, strings.Join(h.cfg.Witnesses, " "))
			return nil
		}),
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "read-receipts on|off",
		Short: "Tell contacts what you have read (on by default)",
		Long:  "Off, contacts still see what was delivered; what they were told was read is withdrawn.",
		Args:  cobra.ExactArgs(1),
		RunE: h.runOnOff(func(cmd *cobra.Command, c *client.Client, on bool) error {
			if err := c.SetReadReceipts(cmd.Context(), on); err != nil {
				return err
			}
			screen.Printf(stdout, "read-receipts: %s\n", onOff(on))
			return nil
		}),
	})
	var witnesses []string
	node := &cobra.Command{
		Use:   "node URL [--witness URL]...",
		Short: "Ask another node of the same chain (and other witnesses)",
		Long: "node makes URL the chain node this device asks, and --witness the nodes its headers are checked\n" +
			"against. The node must serve the chain this device trusts (the same chain ID); the trust root\n" +
			"stays, and the light client checks the new node's headers from it.",
		Example: "  parley settings node http://127.0.0.1:26611 --witness http://127.0.0.1:26601",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := h.loadConfig(); err != nil {
				return err
			}
			id, err := lookup.ChainIDOf(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if id != h.cfg.ChainID {
				return fmt.Errorf("%s serves chain %q, not %q, the one this device trusts", args[0], id, h.cfg.ChainID)
			}
			h.cfg.Node, h.cfg.Witnesses = args[0], witnesses
			d, err := h.directory(cmd.Context()) // checks the node's headers from the trust root, and saves
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			defer d.Close()
			if err := h.saveConfig(); err != nil {
				return err
			}
			screen.Printf(stdout, "node %s, %d witnesses, chain %s\n", args[0], len(witnesses), id)
			return nil
		},
	}
	node.Flags().StringSliceVar(&witnesses, "witness", nil, "RPC URL of another node to cross-check headers with (repeatable)")
	cmd.AddCommand(node, trustCmd(h, stdout))
	return cmd
}

// trustCmd pins a new trust root: after the device was offline longer
// than the trusting period, or when the nodes no longer keep the old one.
func trustCmd(h *home, stdout io.Writer) *cobra.Command {
	var (
		height int64
		hash   string
	)
	cmd := &cobra.Command{
		Use:   "trust --trust-height H --trust-hash HEX",
		Short: "Pin a new trust root: a recent header you know to be on the chain",
		Long: "trust makes the header at height H with hash HEX the one this device's light client verifies from,\n" +
			"in place of every header it verified before. Use it when parley says the device was offline longer\n" +
			"than the trusting period, or that the nodes no longer keep the header it trusts. Take H and HEX from\n" +
			"someone you trust ('parley status' shows the newest header their device verified), never from the\n" +
			"node alone: a node that lies could show you a chain of its own. The header is checked (its hash, its\n" +
			"validators' signatures, the witnesses) before it replaces anything.",
		Example: "  parley settings trust --trust-height 120345 --trust-hash 6A1F...C03B",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sum, err := lookup.ParseHash(hash)
			if err != nil || height <= 0 {
				return cli.Usage(errors.New("give the header as --trust-height H (a positive height) and --trust-hash HEX (64 hex digits)"))
			}
			if err := h.loadConfig(); err != nil {
				return err
			}
			h.cfg.TrustHeight, h.cfg.TrustHash = height, lookup.HashString(sum)
			lc, err := h.lookupConfig()
			if err != nil {
				return err
			}
			// Verified into a new store, which replaces the old one only then.
			fresh := h.path(lightDir + ".new")
			os.RemoveAll(fresh)
			lc.StoreDir = fresh
			d, err := lookup.New(cmd.Context(), lc)
			if err != nil {
				os.RemoveAll(fresh)
				return err
			}
			lb, err := d.Latest(cmd.Context())
			d.Close()
			if err != nil {
				os.RemoveAll(fresh)
				return err
			}
			if err := os.RemoveAll(h.path(lightDir)); err != nil {
				return err
			}
			if err := os.Rename(fresh, h.path(lightDir)); err != nil {
				return err
			}
			if err := h.saveConfig(); err != nil {
				return err
			}
			screen.Printf(stdout, "trusting height %d hash %s; verified up to height %d\n", height, h.cfg.TrustHash, lb.Height)
			return nil
		},
	}
	cmd.Flags().Int64Var(&height, "trust-height", 0, "height of a recent header you trust (required)")
	cmd.Flags().StringVar(&hash, "trust-hash", "", "hash of that header, hex (required)")
	cmd.MarkFlagRequired("trust-height")
	cmd.MarkFlagRequired("trust-hash")
	return cmd
}

// parseOnOff reads a setting's on|off argument.
func parseOnOff(s string) (bool, error) {
	if s != "on" && s != "off" {
		return false, cli.Usage(fmt.Errorf("say on or off, not %q", s))
	}
	return s == "on", nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// progressBar draws a transfer's progress on w, one redraw per percent,
// if w is a terminal (else nothing: a log gets no bar).
func progressBar(w *screen.Writer, label string) client.Progress {
	if !w.Terminal() {
		return nil
	}
	last := -1
	return func(done, total int64) {
		pct := 100
		if total > 0 {
			pct = int(done * 100 / total)
		}
		if pct == last {
			return
		}
		last = pct
		bar := strings.Repeat("=", pct/4) + strings.Repeat(" ", 25-pct/4)
		w.Control("\r")
		screen.Printf(w, "%s [%s] %3d%% %s / %s", label, bar, pct, size(done), size(total))
		if done == total {
			screen.Println(w)
		}
	}
}

func sendFileCmd(h *home, stdout io.Writer) *cobra.Command {
	var caption string
	cmd := &cobra.Command{
		Use:   "send-file NAME PATH",
		Short: "Send a file",
		Long: "send-file encrypts the file in 1 MiB chunks, each under its own key, stores them on your hubs and\n" +
			"sends NAME a message that references them. Interrupted, run it again: it resumes the upload.",
		Example: "  parley send-file bob holiday.mov --caption 'the video'",
		Args:    cobra.ExactArgs(2),
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			m, err := c.SendFile(cmd.Context(), args[0], args[1], caption, progressBar(h.stderr, "sending"))
			if err := h.queuedOK(err); err != nil {
				return err
			}
			label, _ := m.Label()
			screen.Printf(stdout, "sent %s as %s (%s)\n", m.File.Name, label, size(m.File.Size))
			return nil
		}),
	}
	cmd.Flags().StringVar(&caption, "caption", "", "text sent with the file")
	return cmd
}

func getFileCmd(h *home, stdout io.Writer) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "get-file NAME REF",
		Short: "Download a file a message shares",
		Long: "get-file fetches every chunk, checks each one and the whole file's SHA-256, and only then writes\n" +
			"the file (default: its name, in the current directory). Interrupted, run it again: it resumes.",
		Example: "  parley get-file alice alice/7 --out ~/Downloads/holiday.mov",
		Args:    cobra.ExactArgs(2),
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if _, err := parseRef(args[1], c.Name); err != nil {
				return err
			}
			if _, err := c.Receive(cmd.Context(), args[0]); quiet(err) != nil {
				h.warn("", err)
			}
			ref, err := resolveRef(c, args[0], args[1])
			if err != nil {
				return err
			}
			dest := out
			if dest == "" {
				for _, m := range c.Conversation(args[0]) {
					if m.ID() == ref && m.File != nil {
						dest = filepath.Base(m.File.Name)
					}
				}
			}
			if dest == "" || dest == "." || dest == "/" {
				return fmt.Errorf("message %s with %s shares no file", args[1], args[0])
			}
			if err := c.GetFile(cmd.Context(), args[0], ref, dest, progressBar(h.stderr, "receiving")); err != nil {
				return err
			}
			screen.Printf(stdout, "saved %s (SHA-256 checked)\n", dest)
			return nil
		}),
	}
	cmd.Flags().StringVar(&out, "out", "", "where to write the file")
	return cmd
}

func searchCmd(h *home, stdout io.Writer) *cobra.Command {
	var in string
	cmd := &cobra.Command{
		Use:   "search WORDS",
		Short: "Find messages on this device that contain WORDS (any case), in every conversation",
		Long: "search looks through the history on this device (nothing is asked of a hub): messages and file\n" +
			"names that contain WORDS, ignoring case, newest last, each with its conversation and reference.",
		Example: "  parley search lunch\n  parley search 'usual place' --in bob",
		Args:    cobra.MinimumNArgs(1),
		RunE: h.run(func(_ *cobra.Command, c *client.Client, args []string) error {
			want := strings.ToLower(strings.Join(args, " "))
			found := 0
			for _, m := range c.History() {
				conv := client.ConversationOf(c.Name, m)
				if m.Deleted || (in != "" && conv != in) {
					continue
				}
				text := strings.ToLower(m.Text)
				if m.File != nil {
					text += " " + strings.ToLower(m.File.Name)
				}
				if strings.Contains(text, want) {
					screen.Printf(stdout, "%s\t%s\n", conv, formatMessage(m, "", h.clock))
					found++
				}
			}
			if found == 0 {
				screen.Printf(stdout, "no message contains %q\n", want)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&in, "in", "", "only the conversation with NAME (or #GROUP-ID)")
	return cmd
}
