package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/internal/cli"
	"github.com/parley-im/parley/internal/screen"
)

// repinHint is what to do when the light client has no header it can
// verify from.
const repinHint = "ask someone you trust for the height and hash of a recent header (their 'parley status' shows one), " +
	"then run 'parley settings trust --trust-height H --trust-hash HEX'"

// restoredHint says what to do on a device whose identity was restored
// elsewhere.
func (h *home) restoredHint() string {
	name, node := cmp(h.cfg.Name, "NAME"), cmp(h.cfg.Node, "URL")
	return fmt.Sprintf("go on from the other device; to use this one instead, restore your backup here into a new home "+
		"('parley --home NEWDIR restore %s --node %s') and stop using the other; this home's history stays readable", name, node)
}

// keyChangeHint says what the user can do about a contact's key change.
func keyChangeHint(kc *client.KeyChange) string {
	if kc.Revoked() {
		return fmt.Sprintf("nobody holds the name any more; 'parley contacts remove %s' ends the conversation here", kc.Name)
	}
	return fmt.Sprintf("new safety number %s; after checking it with them, run 'parley contacts confirm %s' (the conversation starts over)",
		kc.Safety, kc.Name)
}

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
			for _, free := range []string{"parley whois", "parley version", "parley help", "parley completion", "parley __complete"} {
				if h.cmd == free || strings.HasPrefix(h.cmd, free+" ") {
					return nil // they change nothing in the home
				}
			}
			return h.lockHome(cmd.Context())
		},
		// After every command that changed something, the encrypted
		// backup (if on) follows.
		PersistentPostRun: func(cmd *cobra.Command, _ []string) {
			if h.c != nil {
				if err := quiet(h.c.Backup(cmd.Context())); err != nil {
					h.warn("backup not updated", err)
				}
			}
		},
	}
	h.root = root
	root.PersistentFlags().StringVar(&h.dir, "home", "", "directory of your identity and messages (default ~/.parley)")
	root.AddCommand(initCmd(h, stdout), registerCmd(h, stdout), whoisCmd(h, stdout), contactsCmd(h, stdout),
		requestsCmd(h, stdout), sendCmd(h, stdout), readCmd(h, stdout), watchCmd(h, stdout, stderr), chatCmd(h),
		reactCmd(h), editCmd(h), deleteCmd(h), timerCmd(h, stdout), profileCmd(h, stdout), settingsCmd(h, stdout),
		sendFileCmd(h, stdout), getFileCmd(h, stdout), backupCmd(h, stdout), restoreCmd(h, stdout),
		groupCmd(h, stdout), nameCmd(h, stdout), statusCmd(h, stdout), searchCmd(h, stdout), passphraseCmd(h, stdout))
	root.AddCommand(blockCmds(h, stdout)...)
	root.AddCommand(cli.VersionCmd(root, stdout, ""))
	offlineErrors(h, root)
	return root
}

func initCmd(h *home, stdout io.Writer) *cobra.Command {
	var (
		cfg       config
		trustHash string
		kdfMemory uint32
	)
	cmd := &cobra.Command{
		Use:   "init --node URL",
		Short: "Create your identity on this device",
		Long: "init makes your keys (Ed25519 owner and signing keys, X25519 and MLKEM768-X25519 encryption keys)\n" +
			"and stores them encrypted under a passphrase (PARLEY_PASSPHRASE or a prompt). It records the chain\n" +
			"node and the trust root: --trust-height/--trust-hash, or the node's latest header, printed so you can check it.",
		Example: "  parley --home ~/.parley init --node http://127.0.0.1:26601 --witness http://127.0.0.1:26611",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := os.Stat(h.path("keystore")); err == nil {
				return fmt.Errorf("%s already holds an identity", h.dir)
			}
			if err := os.MkdirAll(h.dir, 0o700); err != nil {
				return err
			}
			d, err := connectChain(cmd, &cfg, trustHash, h.path(lightDir))
			if err != nil {
				return err
			}
			defer d.Close()
			pass, err := h.newPassphrase("PARLEY_PASSPHRASE", "new passphrase: ")
			if err != nil {
				return err
			}
			ident, err := keystore.New()
			if err != nil {
				return err
			}
			if err := h.saveKeystore(ident, pass, kdfMemory); err != nil {
				return err
			}
			h.cfg = cfg
			if err := h.saveConfig(); err != nil {
				return err
			}
			screen.Printf(stdout, "identity created in %s\nowner key: %s\nchain %s, trusting height %d hash %s\n",
				h.dir, bns.PublicKeyOf(ident.OwnerKey()), cfg.ChainID, cfg.TrustHeight, cfg.TrustHash)
			return nil
		},
	}
	chainFlags(cmd, &cfg, &trustHash)
	kdfFlag(cmd, &kdfMemory)
	return cmd
}

// connectChain learns the chain ID from cfg.Node and opens the verified
// directory from the trust root given (--trust-height/--trust-hash) or,
// if none, the node's latest header, which it records in cfg; the
// verified headers are kept in storeDir. A chain that has no block yet is
// waited for, saying so on stderr.
func connectChain(cmd *cobra.Command, cfg *config, trustHash, storeDir string) (*lookup.Client, error) {
	ctx := cmd.Context()
	id, err := lookup.ChainIDOf(ctx, cfg.Node)
	if err != nil {
		return nil, err
	}
	cfg.ChainID = id
	lc := lookup.Config{ChainID: cfg.ChainID, Primary: cfg.Node, Witnesses: cfg.Witnesses, TrustHeight: cfg.TrustHeight, StoreDir: storeDir,
		OnWait: func() {
			screen.Printf(cmd.ErrOrStderr(), "parley: chain %s has no block yet: waiting for its first one\n", id)
		}}
	if cfg.TrustHeight != 0 {
		if lc.TrustHash, err = lookup.ParseHash(trustHash); err != nil {
			return nil, cli.Usage(err)
		}
	}
	d, err := lookup.New(ctx, lc)
	if err != nil {
		return nil, err
	}
	height, hash := d.TrustRoot()
	cfg.TrustHeight, cfg.TrustHash = height, lookup.HashString(hash)
	if len(cfg.Witnesses) == 0 {
		screen.Printf(cmd.ErrOrStderr(), "parley: warning: no --witness: this device trusts the node %s alone to show it the chain; "+
			"a witness (another node) would catch it showing a fork\n"+
			"parley: hint: add witnesses with 'parley settings node %s --witness URL'\n", cfg.Node, cfg.Node)
	}
	return d, nil
}

// kdfFlag is the hidden flag of the commands that seal a keystore: a
// cheaper Argon2id, for tests only.
func kdfFlag(cmd *cobra.Command, kdfMemory *uint32) {
	cmd.Flags().Uint32Var(kdfMemory, "insecure-kdf-memory", 0, "Argon2id memory in KiB (tests only)")
	cmd.Flags().MarkHidden("insecure-kdf-memory")
}

// chainFlags are the flags of init and restore that say where the chain is.
func chainFlags(cmd *cobra.Command, cfg *config, trustHash *string) {
	cmd.Flags().StringVar(&cfg.Node, "node", "", "RPC URL of a chain node (required)")
	cmd.Flags().StringSliceVar(&cfg.Witnesses, "witness", nil, "RPC URL of another node to cross-check headers with (repeatable)")
	cmd.Flags().Int64Var(&cfg.TrustHeight, "trust-height", 0, "height of a header you trust")
	cmd.Flags().StringVar(trustHash, "trust-hash", "", "hash of that header (hex)")
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
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, name := cmd.Context(), args[0]
			if err := bns.ValidateName(name); err != nil {
				return cli.Usage(err)
			}
			if len(hubs) == 0 || len(hubs) > bns.MaxHubs {
				return cli.Usage(fmt.Errorf("give 1 to %d --hub URLs", bns.MaxHubs))
			}
			for _, u := range hubs {
				if err := bns.ValidateHubURL(u); err != nil {
					return cli.Usage(fmt.Errorf("--hub: %w", err))
				}
			}
			hub := strings.Join(hubs, " ")
			if err := h.unlock(); err != nil {
				return err
			}
			if !force {
				if err := checkHubs(ctx, hubs, h.id); err != nil {
					return err
				}
			}
			d, err := h.directory(ctx)
			if err != nil {
				return err
			}
			defer d.Close()
			var p pendingRegistration
			if b, err := os.ReadFile(h.path("register.json")); err == nil {
				json.Unmarshal(b, &p)
			}
			if p.Name != name || p.Hub != hub {
				salt, err := randomSalt()
				if err != nil {
					return err
				}
				p = pendingRegistration{Name: name, Hub: hub, Salt: salt}
			}
			saltBytes, _ := hex.DecodeString(p.Salt)
			var salt [32]byte
			copy(salt[:], saltBytes)
			save := func() error {
				b, _ := json.Marshal(p)
				return keystore.WriteFileAtomic(h.path("register.json"), b)
			}
			// The name is not looked up first: that would tell the node
			// which name is wanted before the preorder hides it.
			if p.PreorderHeight == 0 {
				if err := save(); err != nil { // the salt is kept before it is committed to
					return err
				}
				screen.Printf(stdout, "preordering %s (solving the preorder's proof-of-work stamp)...\n", name)
				if p.PreorderHeight, err = d.Preorder(ctx, h.id.OwnerKey(), name, salt); err != nil {
					return registerRefused(h, name, err)
				}
				if err := save(); err != nil {
					return err
				}
				screen.Printf(stdout, "preorder committed at height %d\n", p.PreorderHeight)
			} else {
				screen.Printf(stdout, "resuming: preorder of %s committed at height %d\n", name, p.PreorderHeight)
			}
			profile, err := h.id.Profile(hubs)
			if err != nil {
				return err
			}
			screen.Printf(stdout, "registering %s (solving the stamp, waiting until the preorder is old enough)...\n", name)
			height, err := d.Register(ctx, h.id.OwnerKey(), name, salt, p.PreorderHeight, profile)
			if err != nil {
				return registerRefused(h, name, err)
			}
			os.Remove(h.path("register.json"))
			h.cfg.Name, h.cfg.Hub = name, hubs[0]
			if err := h.saveConfig(); err != nil {
				return err
			}
			screen.Printf(stdout, "registered %s at height %d with hubs %s; anyone can find it now\n", name, height, hub)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&hubs, "hub", nil, "URL of a storage hub you write to (1 to 3; repeat the flag; required)")
	cmd.Flags().BoolVar(&force, "force", false, "register hubs even if they do not answer now")
	cmd.MarkFlagRequired("hub")
	return cmd
}

// checkHubs asks each hub for its hub_info, as the client will: a hub
// that does not answer, or is no Parley hub, is refused before anything
// goes to the chain.
func checkHubs(ctx context.Context, hubs []string, id *keystore.Identity) error {
	for _, u := range hubs {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		_, err := hubclient.Dial(cctx, u, id.SigningKey(), nil)
		cancel()
		if err != nil {
			return fmt.Errorf("hub %s does not answer as a Parley hub (%v): nothing was registered; check the URL, or give --force to register it anyway", u, rootCause(err))
		}
	}
	return nil
}

// rootCause is the innermost error of a chain ("connection refused"), for
// a message that says what happened without the layers it went through.
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// registerRefused says what a refusal of the chain means for the person
// registering, and drops a pending preorder that can no longer be used.
func registerRefused(h *home, name string, err error) error {
	var ce *bns.CodeError
	if !errors.As(err, &ce) {
		return err
	}
	drop := func() { os.Remove(h.path("register.json")) }
	switch ce.Code {
	case bns.CodeNameTaken:
		drop()
		return fmt.Errorf("%s is taken: someone else registered it first, and a registration is final; nothing was registered for you ('parley whois %s' shows its owner): choose another name", name, name)
	case bns.CodeNameRevoked:
		drop()
		return fmt.Errorf("%s was revoked by its owner and can never be registered again: choose another name", name)
	case bns.CodePreorderExpired, bns.CodePreorderNotFound:
		drop()
		return fmt.Errorf("your preorder of %s can no longer be revealed (it expired): run 'parley register %s' again to start over", name, name)
	case bns.CodeTooManyNames:
		return fmt.Errorf("your key already holds as many live names as the chain allows: %s", ce.Msg)
	case bns.CodeTooManyPreorders:
		return fmt.Errorf("your key has as many registrations under way as the chain allows; finish one, or wait until they expire: %s", ce.Msg)
	}
	return err
}

func whoisCmd(h *home, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:     "whois NAME",
		Short:   "Show a name's verified record and key history",
		Example: "  parley whois bob",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := h.loadConfig(); err != nil {
				return err
			}
			h.tryLock(cmd.Context()) // the header store is the home's, when no other process uses it
			d, err := h.directory(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			rec, hist, err := d.History(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			screen.Printf(stdout, "name:     %s (verified by proof)\nowner:    %s\n", rec.Name, rec.Owner)
			if !rec.Profile.IsEmpty() {
				screen.Printf(stdout, "signing:  %s\n", rec.Profile.SigningKey)
				for _, k := range rec.Profile.EncKeys {
					screen.Printf(stdout, "enc:      %s %x...\n", bns.KEMName(k.KEM), k.Key[:8])
				}
				screen.Printf(stdout, "hubs:     %s\n", strings.Join(rec.Profile.Hubs, " "))
				if number, err := h.safetyNumber(rec); err != nil {
					return err
				} else if number != "" {
					screen.Printf(stdout, "safety:   %s (you and %s: %s's device shows the same)\n", number, rec.Name, rec.Name)
				}
			}
			screen.Printf(stdout, "expires:  height %d%s\nhistory:\n", rec.ExpiresAt, map[bool]string{true: " (REVOKED)"}[rec.Revoked])
			for _, e := range hist {
				screen.Printf(stdout, "  %3d  height %-8d %s\n", e.Seq, e.Height, e.Op)
			}
			return nil
		},
	}
}

func contactsCmd(h *home, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "contacts",
		Short: "List contacts; add, accept, decline, confirm, verify or remove them",
		Long: "contacts lists each contact with its display name (from its profile), whether its keys on the\n" +
			"chain are still the ones you confirmed, whether you verified them in person (contacts verify),\n" +
			"unread messages and whether you block it. A name you asked that has not answered yet shows\n" +
			"where your request stands: queued (none of their hubs took it yet) or sent, waiting for them.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := h.client(ctx)
			if err != nil {
				return err
			}
			blocked := c.Blocked()
			for _, n := range c.Contacts() {
				var line screen.Builder
				line.Printf("%s", n)
				if p, err := c.ContactProfile(ctx, n); err == nil && p.DisplayName != "" {
					line.Printf(" (%s)", p.DisplayName)
				}
				var kc *client.KeyChange
				err := c.CheckKeys(ctx, n)
				asking := c.Asking(ctx, n)
				switch {
				case errors.As(err, &kc) && kc.Revoked():
					line.Printf("\tREVOKED at height %d: nothing can be sent to it (parley contacts remove %s)", kc.Height, n)
				case errors.As(err, &kc):
					line.Printf("\tKEYS CHANGED at height %d (%s): nothing is sent or read until you run 'parley contacts confirm %s'", kc.Height, kc.Reason, n)
				case asking == client.RequestQueued:
					line.Printf("\trequest queued: %s once one of %s's hubs answers", goesOut, n)
				case asking == client.RequestSent:
					line.Printf("\trequest sent, waiting for %s to accept", n)
				case asking == client.IntroWritten:
					line.Printf("\tintroduced, waiting for %s to answer", n)
				case client.IsOffline(err):
					line.Printf("\tkeys as confirmed, not re-checked (the chain does not answer)")
				case err != nil:
					line.Printf("\tkeys not checked: %v", err)
				case c.Verified(n):
					line.Printf("\tkeys as confirmed, verified in person")
				default:
					line.Printf("\tkeys as confirmed, not verified (parley contacts verify %s)", n)
				}
				if u := c.Unread(n); u > 0 {
					line.Printf("\t%d unread", u)
				}
				if slices.Contains(blocked, n) {
					line.Printf("\tBLOCKED")
				}
				screen.Println(stdout, line.Block())
			}
			return nil
		},
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
			return h.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
				if name == c.Name {
					return cli.Usage(fmt.Errorf("%s is your own name: add someone else's", name))
				}
				var err error
				if known {
					err = c.Introduce(cmd.Context(), name, greeting)
				} else {
					err = c.Request(cmd.Context(), name, greeting)
				}
				var q *client.QueuedError
				switch {
				case errors.Is(err, client.ErrIntroPending):
					screen.Printf(stdout, "waiting for %s to add you (their introduction comes first); run this again after they do\n", name)
				case errors.As(err, &q) && q.Intro:
					screen.Printf(stdout, "introduction to %s queued: %s\n", name, queuedWhy(q))
				case errors.As(err, &q) && q.Request:
					screen.Printf(stdout, "request to %s queued: %s\n", name, queuedWhy(q))
				case errors.As(err, &q): // the greeting waits for the user's hub
					screen.Printf(stdout, "request sent to %s; your first message is queued: %s\n", name, queuedWhy(q))
				case errors.Is(err, client.ErrNoAnswer):
					return hinted(fmt.Errorf("you asked %s already; they have not answered yet", name),
						fmt.Sprintf("to ask again: 'parley contacts remove %s', then 'parley contacts add %s'", name, name))
				case errors.Is(err, client.ErrAlreadyContact):
					return hinted(fmt.Errorf("%s is a contact already", name),
						fmt.Sprintf("if %s removed you, 'parley contacts reset %s' sends them a new request", name, name))
				case err != nil:
					return err
				case known:
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
			RunE: h.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
				if err := c.Answer(cmd.Context(), args[0], accept); err != nil {
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
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			ctx, name := cmd.Context(), args[0]
			if err := c.CheckKeys(ctx, name); !errors.Is(err, client.ErrKeysChanged) {
				if err == nil {
					screen.Printf(stdout, "%s's keys on the chain are the ones you confirmed: nothing to do\n", name)
				}
				return err
			}
			rec, err := c.ConfirmKeys(ctx, name)
			if rec != nil {
				screen.Printf(stdout, "confirmed %s's new keys (safety number %s); new request sent to %s: the conversation starts over when they accept\n",
					name, c.SafetyNumber(rec), name)
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
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if err := c.Reset(cmd.Context(), args[0], resetGreeting); err != nil {
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
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if len(args) == 1 {
				rec, err := c.ContactRecord(args[0])
				if err != nil {
					return err
				}
				screen.Printf(stdout, "safety number of you and %s: %s\ncompare it with the one %s's device shows ('parley contacts verify %s' or 'parley whois %s'), then: parley contacts verify %s 'NUMBER'\n",
					args[0], c.SafetyNumber(rec), args[0], c.Name, c.Name, args[0])
				return nil
			}
			if err := c.Verify(cmd.Context(), args[0], args[1]); err != nil {
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
		RunE: h.run(func(_ *cobra.Command, c *client.Client, args []string) error {
			if err := c.Unverify(args[0]); err != nil {
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
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if err := c.RemoveContact(cmd.Context(), args[0]); err != nil {
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
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			if clear {
				junk, err := c.ClearUndecodable(cmd.Context())
				for _, j := range junk {
					screen.Printf(stdout, "removed\t%s on %s: %s\n", j.ID, j.Hub, j.Reason)
				}
				if err != nil {
					return err
				}
				screen.Printf(stdout, "removed %d requests that cannot be opened\n", len(junk))
			}
			pending, bad, err := c.Requests(cmd.Context())
			if err != nil {
				return err
			}
			for _, p := range pending {
				if g := p.Intro.Greeting; g != "" {
					screen.Printf(stdout, "%s\t(signature verified against the chain): %s\n", p.From, g)
				} else {
					screen.Printf(stdout, "%s\t(signature verified against the chain)\n", p.From)
				}
			}
			junk := 0
			for id, e := range bad {
				if errors.Is(e, client.ErrSenderUnknown) {
					screen.Printf(stdout, "?\t%s: waiting: the sender's name is not on the chain yet (as your node sees it); kept, and checked again by the next 'parley requests' or a running watch\n", id)
					continue
				}
				screen.Printf(stdout, "?\t%s: refused: %v\n", id, e)
				if errors.Is(e, client.ErrUndecodable) {
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
