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
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/cli"
	"github.com/parley-im/parley/internal/screen"
)

// messageHeader is what begins a message's line: when it was written, its
// label and author ("· " for a group's notice).
func messageHeader(m api.Message, clk clock) screen.Block {
	when := ""
	if !m.Time.IsZero() {
		when = clk.stamp(m.Time) + " "
	}
	switch {
	case m.Kind == api.KindNotice:
		return screen.Sprintf("%s· ", when)
	case m.Label == "": // a notice of a timer, say: nothing refers to it
		return screen.Sprintf("%s%s: ", when, m.From)
	case m.Earlier: // from before the conversation started over: no reference reaches it
		return screen.Sprintf("%s[earlier %s] %s: ", when, m.Label, m.From)
	}
	return screen.Sprintf("%s[%s] %s: ", when, m.Label, m.From)
}

// refLabel is how a line names the message m refers to.
func refLabel(m api.Message) string {
	if m.RefLabel != "" {
		return m.RefLabel
	}
	by := ""
	if m.Ref != nil {
		by = m.Ref.By
	}
	return by + "'s message (no longer here)"
}

// formatMessage renders one conversation entry: its reference, author
// and text (the text's later lines indented under its first), then what
// happened to it. state is the delivery state of the user's own messages
// ("" for others').
func formatMessage(m api.Message, state string, clk clock) screen.Block {
	var b screen.Builder
	b.Add(messageHeader(m, clk))
	if m.Kind == api.KindNotice { // a group's notice: no reference, nobody's words
		b.Printf("%s", m.Text)
		return b.Block()
	}
	switch {
	case m.Deleted:
		b.Printf("(deleted)")
	case m.Kind == api.KindTimer && m.TTL == 0:
		b.Printf("(turned disappearing messages off)")
	case m.Kind == api.KindTimer:
		b.Printf("(set disappearing messages to %s)", time.Duration(m.TTL)*time.Second)
	case m.Kind == api.KindUnsupported:
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
			b.Printf("📎 %s (%s; get-file %s)", m.File.Name, size(m.File.Size), m.Label)
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

// formatEvent renders a message as it arrives (parley watch), with its
// time.
func formatEvent(m api.Message, clk clock) screen.Block {
	var b screen.Builder
	if !m.Time.IsZero() && m.Kind != api.KindText && m.Kind != api.KindUnsupported && m.Kind != api.KindTimer {
		b.Printf("%s ", clk.stamp(m.Time))
	}
	switch m.Kind {
	case api.KindReact:
		if m.Emoji == "" {
			b.Printf("%s took back their reaction to %s", m.From, refLabel(m))
		} else {
			b.Printf("%s reacted %s to %s", m.From, m.Emoji, refLabel(m))
		}
	case api.KindEdit:
		b.Printf("%s edited %s: ", m.From, refLabel(m))
		b.Text(m.Text)
	case api.KindDelete:
		b.Printf("%s deleted %s", m.From, refLabel(m))
	case api.KindProfile:
		b.Printf("%s shared their profile", m.From)
	default:
		return formatMessage(m, "", clk)
	}
	return b.Block()
}

// formatRequest renders a contact request as it arrives, with its time.
func formatRequest(r api.Request, clk clock) screen.Block {
	var b screen.Builder
	if !r.Time.IsZero() {
		b.Printf("%s ", clk.stamp(r.Time))
	}
	from := r.From
	if r.Device != "" {
		from += fmt.Sprintf(" (from their device %q)", r.Device)
	}
	if r.Greeting != "" {
		b.Printf("%s wants to become a contact (signature checked against the chain): %s — parley contacts accept %s", from, r.Greeting, r.From)
	} else {
		b.Printf("%s wants to become a contact (signature checked against the chain): parley contacts accept %s", from, r.From)
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
			return h.call(func(ctx context.Context, c *api.Client, args []string) error {
				res, err := c.Send(ctx, args[0], api.SendRequest{Text: text, Reply: reply})
				if err != nil {
					return err
				}
				return h.outcome(stdout, res)
			})(cmd, args)
		},
	}
	cmd.Flags().StringVar(&reply, "reply", "", "the message this one answers (NAME/N)")
	return cmd
}

// text is the text of a message as the user gave it: arg, or, for "-",
// standard input (at most api.MaxTextBytes, without one final line
// break); the agent checks it.
func (h *home) text(arg string) (string, error) {
	text := arg
	if arg == "-" {
		if f, ok := h.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			screen.Printf(h.stderr, "parley: type the message, then Ctrl-D on a line of its own\n")
		}
		b, err := io.ReadAll(io.LimitReader(h.stdin, api.MaxTextBytes+3)) // room for a final "\r\n", and one byte too many
		if err != nil {
			return "", fmt.Errorf("reading the message from standard input: %w", err)
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		if len(b) > api.MaxTextBytes {
			return "", hinted(fmt.Errorf("the message on standard input is more than %d bytes, the most a message holds", api.MaxTextBytes),
				"shorten it, or send it as a file: parley send-file NAME FILE")
		}
		text = string(b)
	}
	if !utf8.ValidString(text) { // JSON would carry it changed
		return "", errors.New("the message is not UTF-8 text: nothing was sent")
	}
	return text, nil
}

// outcome tells the user what became of a message: sent, or queued and
// why.
func (h *home) outcome(stdout io.Writer, res api.Sent) error {
	label := res.Message.Label
	switch q := res.Queued; {
	case q != nil && q.Request:
		screen.Printf(stdout, "queued (%s): your contact request has not reached %s yet; this message goes out with it, with your next parley command (or a running watch) once one of %s's hubs answers\n",
			label, q.To, q.To)
	case q != nil:
		screen.Printf(stdout, "queued (%s): %s\n", label, q.Why)
	default:
		screen.Printf(stdout, "sent (%s)\n", label)
	}
	if res.Queued != nil && res.Queued.Detail != "" && h.verbose() {
		screen.Printf(h.stderr, "parley: detail: %s\n", res.Queued.Detail)
	}
	return nil
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
			return h.call(func(ctx context.Context, c *api.Client, args []string) error {
				conv := args[0]
				res, rerr := c.Messages(ctx, conv, true, last)
				if rerr != nil && res.Conversation == "" {
					return rerr
				}
				for _, m := range res.Messages {
					screen.Println(stdout, formatMessage(m, m.State, h.clock))
				}
				if err := c.MarkRead(ctx, conv); err != nil {
					rerr = errors.Join(rerr, err)
				}
				return rerr
			})(cmd, args)
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
		Long: "watch prints each new message, reaction, edit or delete as it arrives, with its time, and each\n" +
			"contact request. It runs the home's agent (unless one runs already: then it follows that one's\n" +
			"events), which holds one change-notification stream per hub your contacts write to, polls a hub that\n" +
			"is unreachable with back-off, and serves every other parley command on this home meanwhile.\n" +
			"Messages are marked delivered, not read. Stop it with Ctrl-C.\n\n" +
			"With --exec, each new message (and contact request) also runs COMMAND with sh -c, the message in\n" +
			"its environment, never in the command line: PARLEY_FROM, PARLEY_CONVERSATION, PARLEY_KIND,\n" +
			"PARLEY_TEXT (control characters shown escaped), PARLEY_REF. What COMMAND prints shows with watch's\n" +
			"own output (control characters escaped). For a desktop notification, say.",
		Example: "  parley watch\n  parley watch --exec 'notify-send \"$PARLEY_FROM\" \"$PARLEY_TEXT\"'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := h.connect(ctx, api.ModeDaemon, false)
			if err != nil {
				return err
			}
			info, err := h.start(ctx, c)
			if err != nil {
				return err
			}
			err = c.Events(ctx, info.Cursor, func(ev api.Event) error {
				switch ev.Type {
				case api.EventMessage:
					screen.Println(stdout, formatEvent(*ev.Message, h.clock))
					if exec != "" && ev.Message.Kind == api.KindText {
						if err := runHook(ctx, exec, hookEnv(*ev.Message), stdout, stderr); err != nil {
							h.warn("--exec", err)
						}
					}
				case api.EventRequest:
					screen.Println(stdout, formatRequest(*ev.Request, h.clock))
					if exec != "" {
						m := api.Message{From: ev.Request.From, To: info.Name, Conversation: ev.Request.From, Kind: "request", Text: ev.Request.Greeting}
						if err := runHook(ctx, exec, hookEnv(m), stdout, stderr); err != nil {
							h.warn("--exec", err)
						}
					}
				default:
					h.sayEvent(ev)
				}
				return nil
			})
			if ctx.Err() != nil {
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&exec, "exec", "", "run COMMAND (sh -c) for each new message, the message in PARLEY_* variables")
	return cmd
}

// start makes sure the agent c reaches has its keys and its duties
// running: an agent this process runs is unlocked here (asking for the
// passphrase) and then serves the home's socket; one that runs elsewhere
// must have been unlocked there. It returns where the event stream
// starts: nothing the agent reports once it runs is missed.
func (h *home) start(ctx context.Context, c *api.Client) (info api.AgentInfo, err error) {
	if info, err = c.Agent(ctx); err != nil {
		return info, err
	}
	if h.runsAgent() {
		if err := h.startLocal(ctx); err != nil {
			return info, err
		}
		cursor := info.Cursor
		if info, err = c.Agent(ctx); err != nil {
			return info, err
		}
		info.Cursor = cursor
	}
	if info.Locked {
		return info, api.Errorf(api.CodeLocked, "the agent serving "+h.dir+" has not been unlocked yet")
	}
	if info.Name == "" {
		return info, api.Errorf(api.CodeNoName, "no name registered yet: run 'parley register NAME --hub URL'")
	}
	return info, nil
}

// sayEvent prints what a watch or chat says of an event that is no
// message: a contact's key change, a hub or the chain that stops or
// starts answering, a problem.
func (h *home) sayEvent(ev api.Event) {
	switch ev.Type {
	case api.EventKeyChange:
		h.sayNote(&api.Note{Message: ev.KeyChange.Message, Hint: ev.KeyChange.Hint})
	case api.EventHub, api.EventChain:
		what := "the chain"
		if ev.Type == api.EventHub {
			what = "hub " + ev.Hub
		}
		if ev.Up != nil && *ev.Up {
			h.said = nil // said again should it go down again
			screen.Printf(h.stderr, "parley: %s answers again\n", what)
		} else if ev.Error != nil {
			h.sayNote(&api.Note{Message: ev.Error.Message, Hint: ev.Error.Hint})
		}
	case api.EventWarning:
		if ev.Error != nil {
			h.sayNote(&api.Note{Message: ev.Error.Message, Hint: ev.Error.Hint, Detail: ev.Error.Detail})
		}
	}
}

// hookEnv is the environment --exec's command gets for m.
func hookEnv(m api.Message) []string {
	text := m.Text
	if m.File != nil {
		text = strings.TrimSpace(text + " [file " + m.File.Name + "]")
	}
	return []string{"PARLEY_FROM=" + screen.Line(m.From), "PARLEY_CONVERSATION=" + screen.Line(m.Conversation),
		"PARLEY_KIND=" + screen.Line(m.Kind), "PARLEY_TEXT=" + screen.Line(text), "PARLEY_REF=" + screen.Line(m.Label)}
}

// runHook runs command with sh -c for a message, which it finds in the
// environment only (env): what a stranger wrote never becomes shell text.
// The command's output passes through to stdout and stderr (through the
// screen's writers, so it cannot carry control sequences either).
func runHook(ctx context.Context, command string, env []string, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c := osexec.CommandContext(ctx, "sh", "-c", command)
	c.Env = childEnv(env...)
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
		RunE: func(cmd *cobra.Command, args []string) error {
			return h.call(func(ctx context.Context, c *api.Client, args []string) error {
				return c.React(ctx, args[0], api.ReactRequest{Ref: args[1], Emoji: args[2]})
			})(cmd, args)
		},
	}
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
			return h.call(func(ctx context.Context, c *api.Client, args []string) error {
				return c.Edit(ctx, args[0], api.EditRequest{Ref: args[1], Text: text})
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
		RunE: func(cmd *cobra.Command, args []string) error {
			return h.call(func(ctx context.Context, c *api.Client, args []string) error {
				return c.Delete(ctx, args[0], api.DeleteRequest{Ref: args[1]})
			})(cmd, args)
		},
	}
}

func timerCmd(h *home, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "timer NAME [DURATION]",
		Short: "Make messages with NAME disappear after DURATION (0 turns it off); without it, show the timer",
		Long: "timer sets disappearing messages for the conversation, both ways: each message sent from now on\n" +
			"leaves its sender's device DURATION after it was sent, and the reader's DURATION after it was\n" +
			"read (a message nobody has read yet waits for its reader). Its sender's hubs delete it on their\n" +
			"own, even while the sender's device is off, once DURATION or 14 days (whichever is longer) have\n" +
			"passed unread; once the reader has fetched it and the sender's timer ran out, the sender's device\n" +
			"deletes it at once (in a group, the hubs do, at that time). With an agent running, the sender's\n" +
			"device deletes it on time.",
		Example: "  parley timer bob 1h\n  parley timer bob 0\n  parley timer bob",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return h.call(func(ctx context.Context, c *api.Client, args []string) error {
					res, err := c.Timer(ctx, args[0])
					if err != nil {
						return err
					}
					if res.Seconds == 0 {
						screen.Printf(stdout, "disappearing messages in %s: off\n", res.Label)
					} else {
						screen.Printf(stdout, "messages in %s disappear %s after they are sent\n", res.Label, time.Duration(res.Seconds)*time.Second)
					}
					return nil
				})(cmd, args)
			}
			d, err := time.ParseDuration(args[1])
			if err != nil || d < 0 {
				return cli.Usage(fmt.Errorf("%q is not a duration such as 30s, 10m or 24h", args[1]))
			}
			return h.call(func(ctx context.Context, c *api.Client, args []string) error {
				res, err := c.SetTimer(ctx, args[0], int64(d/time.Second))
				if err != nil {
					return err
				}
				if d == 0 {
					screen.Printf(stdout, "disappearing messages in %s: off\n", res.Label)
				} else {
					screen.Printf(stdout, "messages in %s now disappear %s after they are sent (from the reader's device, %s after they are read)\n", res.Label, d, d)
				}
				return nil
			})(cmd, args)
		},
	}
}

func blockCmds(h *home, stdout io.Writer) []*cobra.Command {
	block := &cobra.Command{
		Use:   "block NAME",
		Short: "Block NAME: refuse their requests and messages",
		Long: "block stops reading NAME's hubs, refuses their contact requests unseen, deletes the receipt that\n" +
			"told them what you read, and moves your profile under a new key they do not get. What they send\n" +
			"while blocked is never shown, even after unblock. Your other devices block NAME too.",
		Args: cobra.ExactArgs(1),
		RunE: h.call(func(ctx context.Context, c *api.Client, args []string) error {
			if err := c.Block(ctx, args[0]); err != nil {
				return err
			}
			screen.Printf(stdout, "blocked %s\n", args[0])
			return nil
		}),
	}
	unblock := &cobra.Command{
		Use:   "unblock NAME",
		Short: "Let NAME reach you again",
		Long:  "unblock lets NAME reach you again, on all your devices.",
		Args:  cobra.ExactArgs(1),
		RunE: h.call(func(ctx context.Context, c *api.Client, args []string) error {
			if err := c.Unblock(ctx, args[0]); err != nil {
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
		RunE: h.call(func(ctx context.Context, c *api.Client, args []string) error {
			var (
				p   api.Profile
				err error
				who string
			)
			if len(args) == 1 {
				who = args[0]
				p, err = c.ContactProfile(ctx, who, true)
			} else {
				var info api.AgentInfo
				if info, err = c.Agent(ctx); err == nil {
					who = info.Name
					p, err = c.Profile(ctx)
				}
			}
			if err != nil {
				return err
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
			"content) of at most %d KiB and %d×%d pixels. Your other devices take the profile as theirs.", wire.MaxAvatar>>10, wire.MaxAvatarSide, wire.MaxAvatarSide),
		Example: "  parley profile set --name 'Alice L.' --status 'in Wonderland' --avatar me.png",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var u api.ProfileUpdate
			if cmd.Flags().Changed("name") {
				u.DisplayName = &name
			}
			if cmd.Flags().Changed("status") {
				u.Status = &status
			}
			if avatar != "" {
				b, err := readAvatar(avatar)
				if err != nil {
					return err
				}
				u.Avatar = b
			}
			return h.call(func(ctx context.Context, c *api.Client, _ []string) error {
				err := c.SetProfile(ctx, u)
				var ae *api.Error
				if errors.As(err, &ae) && ae.Code == api.CodeNotAvatar {
					return &api.Error{Code: ae.Code, Message: avatar + ": " + ae.Message, Hint: ae.Hint, Detail: ae.Detail}
				}
				if err != nil {
					return err
				}
				screen.Println(stdout, "profile updated; your contacts see it")
				return nil
			})(cmd, args)
		},
	}
	set.Flags().StringVar(&name, "name", "", "display name")
	set.Flags().StringVar(&status, "status", "", "status line")
	set.Flags().StringVar(&avatar, "avatar", "", "image file (PNG, JPEG or GIF)")
	cmd.AddCommand(set)
	return cmd
}

// readAvatar reads an avatar from path, reading no more than an avatar
// may hold (the agent checks it by its content).
func readAvatar(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, wire.MaxAvatar+1))
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
		RunE: h.call(func(ctx context.Context, c *api.Client, _ []string) error {
			s, err := c.Settings(ctx)
			if err != nil {
				return err
			}
			screen.Printf(stdout, "read-receipts: %s\nnotifications: %s\nblocked: %s\nnode: %s\nwitnesses: %s\n", onOff(s.ReadReceipts),
				onOff(s.Notifications), strings.Join(s.Blocked, ", "), s.Node, strings.Join(s.Witnesses, " "))
			return nil
		}),
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "read-receipts on|off",
		Short: "Tell contacts what you have read (on by default)",
		Long: "Off, contacts still see what was delivered; what they were told was read is withdrawn.\n" +
			"The setting holds on all your devices (the latest change, on any of them, wins).",
		Args: cobra.ExactArgs(1),
		RunE: h.callOnOff(func(ctx context.Context, c *api.Client, on bool) error {
			if err := c.SetReadReceipts(ctx, on); err != nil {
				return err
			}
			screen.Printf(stdout, "read-receipts: %s\n", onOff(on))
			return nil
		}),
	}, &cobra.Command{
		Use:   "notifications on|off",
		Short: "Show a desktop notification for each new message (off by default)",
		Long: "On, the agent (parley daemon, a chat or a watch) shows a desktop notification through the\n" +
			"freedesktop notification service on the session D-Bus, where there is one, for each new message\n" +
			"and contact request: \"new message from NAME\", nothing of the message itself.",
		Args: cobra.ExactArgs(1),
		RunE: h.callOnOff(func(ctx context.Context, c *api.Client, on bool) error {
			if err := c.SetNotifications(ctx, on); err != nil {
				return err
			}
			screen.Printf(stdout, "notifications: %s\n", onOff(on))
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
		RunE: h.call(func(ctx context.Context, c *api.Client, args []string) error {
			res, err := c.SetNode(ctx, api.NodeRequest{Node: args[0], Witnesses: witnesses})
			if err != nil {
				return err
			}
			screen.Printf(stdout, "node %s, %d witnesses, chain %s\n", res.Node, res.Witnesses, res.ChainID)
			return nil
		}),
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
		RunE: h.call(func(ctx context.Context, c *api.Client, _ []string) error {
			res, err := c.SetTrust(ctx, api.TrustRequest{Height: height, Hash: hash})
			if err != nil {
				return err
			}
			screen.Printf(stdout, "trusting height %d hash %s; verified up to height %d\n", res.Height, res.Hash, res.VerifiedHeight)
			return nil
		}),
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

func sendFileCmd(h *home, stdout io.Writer) *cobra.Command {
	var caption string
	cmd := &cobra.Command{
		Use:   "send-file NAME PATH",
		Short: "Send a file",
		Long: "send-file encrypts the file in 1 MiB chunks, each under its own key, stores them on your hubs and\n" +
			"sends NAME a message that references them. Interrupted, run it again: it resumes the upload.",
		Example: "  parley send-file bob holiday.mov --caption 'the video'",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := abs(args[1])
			if err != nil {
				return err
			}
			return h.call(func(ctx context.Context, c *api.Client, args []string) error {
				res, err := c.SendFile(ctx, args[0], api.SendFileRequest{Path: path, Caption: caption})
				if err != nil {
					return err
				}
				m := res.Message
				screen.Printf(stdout, "sent %s as %s (%s)\n", m.File.Name, m.Label, size(m.File.Size))
				return nil
			})(cmd, args)
		},
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
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.GetFileRequest{Ref: args[1]}
			var err error
			if out != "" {
				req.Dest, err = abs(out)
			} else {
				req.Dir, err = abs(".")
			}
			if err != nil {
				return err
			}
			return h.call(func(ctx context.Context, c *api.Client, args []string) error {
				res, err := c.GetFile(ctx, args[0], req)
				if err != nil {
					return err
				}
				shown := filepath.Base(res.Path)
				if out != "" {
					shown = out
				}
				screen.Printf(stdout, "saved %s (SHA-256 checked)\n", shown)
				return nil
			})(cmd, args)
		},
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
		RunE: h.call(func(ctx context.Context, c *api.Client, args []string) error {
			want := strings.Join(args, " ")
			res, err := c.Search(ctx, want, in)
			if err != nil {
				return err
			}
			for _, m := range res.Messages {
				screen.Printf(stdout, "%s\t%s\n", m.Conversation, formatMessage(m, "", h.clock))
			}
			if len(res.Messages) == 0 {
				screen.Printf(stdout, "no message contains %q\n", strings.ToLower(want))
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&in, "in", "", "only the conversation with NAME (or #GROUP-ID)")
	return cmd
}
