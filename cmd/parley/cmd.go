package main

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/cli"
	"github.com/parley-im/parley/internal/screen"
)

func rootCmd(h *home, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "parley",
		Short:         "A messenger nobody has to trust",
		Long:          "parley keeps your keys on this device, registers your name on the Parley chain,\nverifies every name it looks up, and sends end-to-end encrypted messages through storage hubs.",
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if h.dir == "" {
				dir, _ := os.UserHomeDir()
				h.dir = dir + "/.parley"
			}
			h.stdin = cmd.InOrStdin()
			h.cmd = cmd.CommandPath()
			return h.frontEnd(cmd)
		},
	}
	h.root = root
	root.PersistentFlags().StringVar(&h.dir, "home", "", "directory of your identity and messages (default: $PARLEY_HOME, else ~/.parley)")
	// parley's global flags (--home, --verbose) may come from the
	// environment as PARLEY_HOME and PARLEY_VERBOSE; a command's own flags
	// do not (a watch's --exec command is given PARLEY_TEXT and the like).
	cli.FlagsFromEnv(root, true)
	root.AddCommand(devicesCmd(h, stdout), linkCmd(h, stdout))
	root.AddCommand(initCmd(h, stdout), registerCmd(h, stdout), whoisCmd(h, stdout), contactsCmd(h, stdout),
		requestsCmd(h, stdout), sendCmd(h, stdout), readCmd(h, stdout), watchCmd(h, stdout, stderr), chatCmd(h),
		reactCmd(h), editCmd(h), deleteCmd(h), timerCmd(h, stdout), profileCmd(h, stdout), settingsCmd(h, stdout),
		sendFileCmd(h, stdout), getFileCmd(h, stdout), backupCmd(h, stdout), restoreCmd(h, stdout), recoverCmd(h, stdout),
		groupCmd(h, stdout), nameCmd(h, stdout), statusCmd(h, stdout), searchCmd(h, stdout), passphraseCmd(h, stdout),
		daemonCmd(h, stderr), webCmd(h, stdout, stderr))
	root.AddCommand(blockCmds(h, stdout)...)
	version := cli.VersionCmd(root, stdout, versionExtra)
	version.Annotations = map[string]string{annotation: noAgent}
	root.AddCommand(version)
	apiUsage(root)
	return root
}

// A command's annotation says what it needs of the home's agent, for the
// front-end build (home_front.go): nothing (noAgent: it runs in the
// front-end), an agent of its own (runsAgent: daemon, web; parley-core
// runs them), or, with no annotation, one to talk to (the front-end
// serves the command if an agent answers on the home's socket, else
// parley-core serves it).
const (
	annotation = "parley-agent"
	noAgent    = "none"
	runsAgent  = "runs"
)

// call makes a command's RunE that connects to the home's agent first.
func (h *home) call(f func(ctx context.Context, c *api.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := h.api(cmd.Context())
		if err != nil {
			return err
		}
		return f(cmd.Context(), c, args)
	}
}

// callOnOff is call for a setting whose one argument is on or off, checked
// before anything else.
func (h *home) callOnOff(f func(ctx context.Context, c *api.Client, on bool) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		on, err := parseOnOff(args[0])
		if err != nil {
			return err
		}
		return h.call(func(ctx context.Context, c *api.Client, _ []string) error { return f(ctx, c, on) })(cmd, args)
	}
}

func initCmd(h *home, stdout io.Writer) *cobra.Command {
	var (
		cc api.ChainConfig
	)
	cmd := &cobra.Command{
		Use:   "init --node URL",
		Short: "Create your identity on this device",
		Long: "init makes your keys: the owner key (Ed25519; it owns your name) from a new recovery phrase of 12\n" +
			"words, shown once and confirmed by typing three of them back ('parley recover' takes your name back\n" +
			"with it on a new device), and this device's keys (Ed25519 signing, X25519 and MLKEM768-X25519\n" +
			"encryption keys). It stores them encrypted under a passphrase (PARLEY_PASSPHRASE or a prompt). It\n" +
			"records the chain node and the trust root: --trust-height/--trust-hash, or the node's latest header,\n" +
			"printed so you can check it.",
		Example: "  parley --home ~/.parley init --node http://127.0.0.1:26601 --witness http://127.0.0.1:26611",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if h.keystoreExists() {
				return errExists(h)
			}
			pass, err := h.newPassphrase("PARLEY_PASSPHRASE", "new passphrase: ")
			if err != nil {
				return err
			}
			// The agent checks it too; checked here first, so that no
			// phrase is shown, and written down, for an init that fails.
			if err := keystore.CheckPassphrase(pass); err != nil {
				return hinted(err, "choose one of at least 12 characters, a few unrelated words say; nothing was changed")
			}
			phrase, err := h.newPhrase(stdout)
			if err != nil {
				return err
			}
			c, err := h.api(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.Init(cmd.Context(), api.InitRequest{ChainConfig: cc, Passphrase: string(pass), RecoveryPhrase: phrase})
			if err != nil {
				return err
			}
			screen.Printf(stdout, "identity created in %s\nowner key: %s\nchain %s, trusting height %d hash %s\n",
				res.Home, res.OwnerKey, res.ChainID, res.TrustHeight, res.TrustHash)
			return nil
		},
	}
	chainFlags(cmd, &cc)
	return cmd
}

// chainFlags are the flags of init and restore that say where the chain is.
func chainFlags(cmd *cobra.Command, cc *api.ChainConfig) {
	cmd.Flags().StringVar(&cc.Node, "node", "", "RPC URL of a chain node (required)")
	cmd.Flags().StringSliceVar(&cc.Witnesses, "witness", nil, "RPC URL of another node to cross-check headers with (repeatable)")
	cmd.Flags().Int64Var(&cc.TrustHeight, "trust-height", 0, "height of a header you trust")
	cmd.Flags().StringVar(&cc.TrustHash, "trust-hash", "", "hash of that header (hex)")
	cmd.MarkFlagRequired("node")
}

func registerCmd(h *home, stdout io.Writer) *cobra.Command {
	var (
		hubs  []string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "register NAME --hub URL",
		Short: "Register your name on the chain",
		Long: "register checks that each hub answers, preorders NAME (a salted commitment, with a proof-of-work\n" +
			"stamp), waits until the preorder is old enough, then reveals it with another stamp, publishing your\n" +
			"public keys and hubs. It returns once anyone can find the name. Interrupted, it resumes where it\n" +
			"stopped. " + bns.NameRules + ".",
		Example: "  parley register alice --hub http://127.0.0.1:4000\n  parley register alice --hub https://hub1.example --hub https://hub2.example",
		Args:    cobra.ExactArgs(1),
		RunE: h.call(func(ctx context.Context, c *api.Client, args []string) error {
			h.progress = func(p *api.Progress) {
				switch p.Stage {
				case "preorder":
					screen.Printf(stdout, "preordering %s (solving the preorder's proof-of-work stamp)...\n", p.Name)
				case "preorder_committed":
					screen.Printf(stdout, "preorder committed at height %d\n", p.Height)
				case "resume":
					screen.Printf(stdout, "resuming: preorder of %s committed at height %d\n", p.Name, p.Height)
				case "register":
					screen.Printf(stdout, "registering %s (solving the stamp, waiting until the preorder is old enough)...\n", p.Name)
				}
			}
			var res api.RegisterResult
			err := h.withPhrase(func(phrase string) (err error) {
				res, err = c.Register(ctx, api.RegisterRequest{Name: args[0], Hubs: hubs, Force: force, RecoveryPhrase: phrase})
				return err
			})
			if err != nil {
				return err
			}
			screen.Printf(stdout, "registered %s at height %d with hubs %s; anyone can find it now\n", res.Name, res.Height, strings.Join(res.Hubs, " "))
			if res.OwnerKeyDropped {
				screen.Println(stdout, ownerKeyGone)
			}
			return nil
		}),
	}
	cmd.Flags().StringSliceVar(&hubs, "hub", nil, "URL of a storage hub you write to (1 to 3; repeat the flag; required)")
	cmd.Flags().BoolVar(&force, "force", false, "register hubs even if they do not answer now")
	cmd.MarkFlagRequired("hub")
	return cmd
}

func whoisCmd(h *home, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:     "whois NAME",
		Short:   "Show a name's verified record and key history",
		Example: "  parley whois bob",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The header store is the home's when no other process uses it;
			// whois never waits for one that does.
			c, err := h.connect(cmd.Context(), api.ModeCommand, true)
			if err != nil {
				return err
			}
			w, err := c.Whois(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			rec := w.Record
			switch {
			case w.Cached && !w.VerifiedAt.IsZero():
				screen.Printf(h.stderr, "parley: the chain does not answer: %s as this device verified it at height %d (%s)\n", rec.Name, w.Height, h.clock.stamp(w.VerifiedAt))
			case w.Cached:
				screen.Printf(h.stderr, "parley: the chain does not answer: %s as this device holds it (the record of the contact, as last checked)\n", rec.Name)
			}
			screen.Printf(stdout, "name:     %s (verified by proof)\nowner:    %s\n", rec.Name, rec.Owner)
			if rec.SigningKey != "" {
				screen.Printf(stdout, "signing:  %s\n", rec.SigningKey)
				for _, k := range rec.EncKeys {
					screen.Printf(stdout, "enc:      %s %s...\n", k.KEM, k.Key[:min(16, len(k.Key))])
				}
				screen.Printf(stdout, "hubs:     %s\n", strings.Join(rec.Hubs, " "))
				if w.Safety != "" {
					screen.Printf(stdout, "safety:   %s (you and %s: %s's device shows the same)\n", w.Safety, rec.Name, rec.Name)
				}
			}
			screen.Printf(stdout, "expires:  height %d%s\nhistory:\n", rec.ExpiresAt, map[bool]string{true: " (REVOKED)"}[rec.Revoked])
			if len(rec.Devices) > 1 {
				screen.Printf(stdout, "devices:\n")
				for _, d := range rec.Devices {
					if d.AddedAt == 0 {
						screen.Printf(stdout, "  %-12s %s  first device\n", d.Label, fingerprint(d.SigningKey))
					} else {
						screen.Printf(stdout, "  %-12s %s  added at height %d\n", d.Label, fingerprint(d.SigningKey), d.AddedAt)
					}
				}
			}
			for _, e := range w.History {
				if e.Note == "" {
					screen.Printf(stdout, "  %3d  height %-8d %s\n", e.Seq, e.Height, e.Op)
				} else {
					screen.Printf(stdout, "  %3d  height %-8d %-9s %s\n", e.Seq, e.Height, e.Op, e.Note)
				}
			}
			return nil
		},
	}
}

// goesOut is what happens next to what is queued.
const goesOut = "it goes out with your next parley command (or a running watch)"

func contactsCmd(h *home, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "contacts",
		Short: "List contacts; add, accept, decline, confirm, verify or remove them",
		Long: "contacts lists each contact with its display name (from its profile), whether its keys on the\n" +
			"chain are still the ones you confirmed, whether you verified them in person (contacts verify),\n" +
			"unread messages and whether you block it. A name you asked that has not answered yet shows\n" +
			"where your request stands: queued (none of their hubs took it yet) or sent, waiting for them.",
		Args: cobra.NoArgs,
		RunE: h.call(func(ctx context.Context, c *api.Client, _ []string) error {
			list, err := c.Contacts(ctx)
			if err != nil {
				return err
			}
			for _, ct := range list.Contacts {
				n := ct.Name
				var line screen.Builder
				line.Printf("%s", n)
				if ct.DisplayName != "" {
					line.Printf(" (%s)", ct.DisplayName)
				}
				switch {
				case ct.Keys == "revoked":
					line.Printf("\tREVOKED at height %d: nothing can be sent to it (parley contacts remove %s)", ct.KeyChange.Height, n)
				case ct.Keys == "free":
					line.Printf("\tEXPIRED at height %d, and anyone may register it now: nothing is sent to it or read from it", ct.KeyChange.ExpiredAt)
				case ct.Keys == "changed":
					line.Printf("\tKEYS CHANGED at height %d (%s): nothing is sent or read until you run 'parley contacts confirm %s'", ct.KeyChange.Height, ct.KeyChange.Reason, n)
				case ct.Asking == "queued":
					line.Printf("\trequest queued: %s once one of %s's hubs answers", goesOut, n)
				case ct.Asking == "sent":
					line.Printf("\trequest sent, waiting for %s to accept", n)
				case ct.Asking == "introduced":
					line.Printf("\tintroduced, waiting for %s to answer", n)
				case ct.Keys == "unchecked":
					line.Printf("\tkeys as confirmed, not re-checked (the chain does not answer)")
				case ct.Keys == "error":
					line.Printf("\tkeys not checked: %s", ct.CheckError.Message)
				case ct.Verified:
					line.Printf("\tkeys as confirmed, verified in person")
				default:
					line.Printf("\tkeys as confirmed, not verified (parley contacts verify %s)", n)
				}
				if ct.GraceUntil > 0 {
					line.Printf("\tEXPIRED: only %s can renew the name, until height %d; after that nothing more is sent to it", n, ct.GraceUntil)
				}
				if ct.Unread > 0 {
					line.Printf("\t%d unread", ct.Unread)
				}
				if ct.Blocked {
					line.Printf("\tBLOCKED")
				}
				screen.Println(stdout, line.Block())
			}
			return nil
		}),
	}
	var (
		greeting, resetGreeting string // each command its own: a shared variable took the last default registered
		known                   bool
	)
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Ask NAME to become a contact (through their hub inbox, or directly with --known)",
		Long: "add sends NAME a contact request through their hub inbox, sealed to their verified key.\n" +
			"With --known (you both know each other's names and both run add), no inbox is used: the pair\n" +
			"introduces itself on the hub of the name that sorts first, at a path only the two can compute.",
		Example: "  parley contacts add bob --message 'hi, it is alice'\n  parley contacts add bob --known",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if strings.TrimSpace(greeting) == "" {
				return cli.Usage(errors.New("the first message (--message) is empty: leave the flag out for the default"))
			}
			return h.call(func(ctx context.Context, c *api.Client, _ []string) error {
				res, err := c.AddContact(ctx, api.AddContactRequest{Name: name, Greeting: greeting, Known: known})
				if err != nil {
					return err
				}
				switch res.Outcome {
				case "intro_pending":
					screen.Printf(stdout, "waiting for %s to add you (their introduction comes first); run this again after they do\n", name)
				case "intro_queued":
					screen.Printf(stdout, "introduction to %s queued: %s\n", name, res.Queued.Why)
				case "request_queued":
					screen.Printf(stdout, "request to %s queued: %s\n", name, res.Queued.Why)
				case "greeting_queued":
					screen.Printf(stdout, "request sent to %s; your first message is queued: %s\n", name, res.Queued.Why)
				case "introduced":
					screen.Printf(stdout, "%s is a contact (introduced directly, no inbox)\n", name)
				default:
					screen.Printf(stdout, "request sent to %s, sealed to their verified key\n", name)
				}
				return nil
			})(cmd, args)
		},
	}
	add.Flags().StringVar(&greeting, "message", "Hello! Let's talk on Parley.", "first message")
	add.Flags().BoolVar(&known, "known", false, "you both know each other's names: introduce directly, without the inbox")
	answer := func(use string, accept bool) *cobra.Command {
		return &cobra.Command{
			Use:   use + " NAME",
			Short: strings.ToUpper(use[:1]) + use[1:] + " NAME's contact request",
			Args:  cobra.ExactArgs(1),
			RunE: h.call(func(ctx context.Context, c *api.Client, args []string) error {
				if err := c.Answer(ctx, args[0], accept); err != nil {
					return err
				}
				screen.Printf(stdout, "%sed %s\n", strings.TrimSuffix(use, "e"), args[0])
				return nil
			}),
		}
	}
	confirm := &cobra.Command{
		Use:   "confirm NAME",
		Short: "Accept NAME's new keys after a key-change warning: the conversation starts over",
		Long: "When a contact's record on the chain changes owner or keys (a new device, a transfer, the name\n" +
			"expiring and someone else registering it), parley closes the conversation: nothing more is sent to\n" +
			"or read from the old keys. Compare the new safety number with the name's holder over another\n" +
			"channel, then confirm: the old messages stay as earlier ones, and a new contact request, sealed to\n" +
			"the new keys, starts a new conversation once they accept it. A revoked name cannot be confirmed.",
		Example: "  parley whois bob\n  parley contacts confirm bob",
		Args:    cobra.ExactArgs(1),
		RunE: h.call(func(ctx context.Context, c *api.Client, args []string) error {
			name := args[0]
			res, err := c.ConfirmKeys(ctx, name)
			switch {
			case res.Unchanged:
				screen.Printf(stdout, "%s's keys on the chain are the ones you confirmed: nothing to do\n", name)
			case res.Safety != "":
				screen.Printf(stdout, "confirmed %s's new keys (safety number %s); new request sent to %s: the conversation starts over when they accept\n",
					name, res.Safety, name)
			}
			return err
		}),
	}
	reset := &cobra.Command{
		Use:   "reset NAME",
		Short: "Start the conversation with NAME over (after restoring an old backup)",
		Long: "reset drops the conversation's keys and sends NAME a new contact request; their client takes it\n" +
			"in place of the old conversation when they accept.",
		Args: cobra.ExactArgs(1),
		RunE: h.call(func(ctx context.Context, c *api.Client, args []string) error {
			if err := c.Reset(ctx, args[0], resetGreeting); err != nil {
				return err
			}
			screen.Printf(stdout, "new request sent to %s; the conversation starts over when they accept\n", args[0])
			return nil
		}),
	}
	reset.Flags().StringVar(&resetGreeting, "message", "I restored an old backup: let's start over.", "first message")
	verify := &cobra.Command{
		Use:   "verify NAME [SAFETY-NUMBER]",
		Short: "Mark NAME verified once you compared their safety number in person",
		Long: "Without a number, verify prints the safety number of you and NAME (of your keys and the ones of\n" +
			"NAME's you confirmed): one number, the same on both devices, for you to compare with the one NAME's\n" +
			"device shows ('parley contacts verify YOU' or 'parley whois YOU'), face to face or over a channel you\n" +
			"trust. Give the number back (spaces optional) and NAME is marked verified, until their keys change.",
		Example: "  parley contacts verify bob\n  parley contacts verify bob '12345 67890 ...'",
		Args:    cobra.RangeArgs(1, 2),
		RunE: h.call(func(ctx context.Context, c *api.Client, args []string) error {
			if len(args) == 1 {
				s, err := c.Safety(ctx, args[0])
				if err != nil {
					return err
				}
				screen.Printf(stdout, "safety number of you and %s: %s\ncompare it with the one %s's device shows ('parley contacts verify %s' or 'parley whois %s'), then: parley contacts verify %s 'NUMBER'\n",
					args[0], s.Safety, args[0], s.Me, s.Me, args[0])
				return nil
			}
			if err := c.Verify(ctx, args[0], args[1]); err != nil {
				return err
			}
			screen.Printf(stdout, "%s is verified: the safety number matches the keys you confirmed\n", args[0])
			return nil
		}),
	}
	unverify := &cobra.Command{
		Use:   "unverify NAME",
		Short: "Take back the mark that NAME is verified",
		Args:  cobra.ExactArgs(1),
		RunE: h.call(func(ctx context.Context, c *api.Client, args []string) error {
			if err := c.Unverify(ctx, args[0]); err != nil {
				return err
			}
			screen.Printf(stdout, "%s is no longer marked verified\n", args[0])
			return nil
		}),
	}
	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove NAME: delete your conversation with them here and what you wrote them on your hubs",
		Long: "remove deletes the conversation with NAME from this device, and from your hubs everything you wrote\n" +
			"for them (messages, files, the conversation's index and receipt); your profile moves under a new key\n" +
			"they do not get. What they wrote stays on their hubs. They can send you a new contact request.",
		Args: cobra.ExactArgs(1),
		RunE: h.call(func(ctx context.Context, c *api.Client, args []string) error {
			if err := c.RemoveContact(ctx, args[0]); err != nil {
				return err
			}
			screen.Printf(stdout, "removed %s and what you wrote them from your hubs\n", args[0])
			return nil
		}),
	}
	cmd.AddCommand(add, answer("accept", true), answer("decline", false), confirm, reset, verify, unverify, remove)
	return cmd
}

func requestsCmd(h *home, stdout io.Writer) *cobra.Command {
	var clear bool
	cmd := &cobra.Command{
		Use:   "requests",
		Short: "List contact requests waiting in your inbox, with what each says",
		Long: "requests lists the contact requests in your inbox on each of your hubs, each checked against the\n" +
			"sender's keys on the chain, with its first message (its beginning, if long); nothing is read from\n" +
			"the sender's hubs before you accept. Anyone can post to an inbox; what cannot be opened (not sealed\n" +
			"to your keys, malformed, or not signed by the sender's key) is listed with a '?': --clear removes it,\n" +
			"saying what it removed. A request whose sender cannot be checked yet stays either way.",
		Example: "  parley requests\n  parley requests --clear",
		Args:    cobra.NoArgs,
		RunE: h.call(func(ctx context.Context, c *api.Client, _ []string) error {
			if clear {
				res, err := c.ClearRequests(ctx)
				for _, j := range res.Removed {
					screen.Printf(stdout, "removed\t%s on %s: %s\n", j.ID, j.Hub, j.Reason)
				}
				if err != nil {
					return err
				}
				screen.Printf(stdout, "removed %d requests that cannot be opened\n", len(res.Removed))
			}
			rs, err := c.Requests(ctx)
			if err != nil {
				return err
			}
			for _, p := range rs.Requests {
				how := "signature verified against the chain"
				if p.Device != "" {
					how = "from their device " + strconv.Quote(p.Device) + "; " + how
				}
				if g := p.Greeting; g != "" {
					screen.Printf(stdout, "%s\t(%s): %s\n", p.From, how, g)
				} else {
					screen.Printf(stdout, "%s\t(%s)\n", p.From, how)
				}
			}
			for _, id := range rs.Waiting {
				screen.Printf(stdout, "?\t%s: waiting: the sender's name is not on the chain yet (as your node sees it); kept, and checked again by the next 'parley requests' or a running watch\n", id)
			}
			junk := 0
			for _, r := range rs.Refused {
				screen.Printf(stdout, "?\t%s: refused: %s\n", r.ID, r.Reason)
				if r.Junk {
					junk++
				}
			}
			if junk > 0 {
				screen.Printf(h.stderr, "parley: hint: %d of them cannot be opened, ever: 'parley requests --clear' removes them\n", junk)
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&clear, "clear", false, "first remove the requests that cannot be opened, and say which")
	return cmd
}
