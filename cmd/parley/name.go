package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/cli"
	"github.com/parley-im/parley/internal/screen"
)

// nameCmd manages the user's own name on the chain: what register made,
// later. Every change is a transaction signed by the owner key.
func nameCmd(h *home, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "name",
		Short: "Your name on the chain: show it, renew it, change its hubs, revoke it",
		Long: "name shows your name's verified record: its hubs and when it expires. Names expire unless\n" +
			"renewed; after expiry only you may renew during a grace period.",
		Args: cobra.NoArgs,
		RunE: h.call(func(ctx context.Context, c *api.Client, _ []string) error {
			n, err := c.Name(ctx)
			if err != nil {
				return err
			}
			screen.Printf(stdout, "name:     %s (verified by proof)\nhubs:     %s\n", n.Name, strings.Join(n.Hubs, " "))
			if n.Live {
				screen.Printf(stdout, "expires:  height %d, %d blocks from now (height %d); 'parley name renew' extends it\n", n.ExpiresAt, n.ExpiresAt-n.Height, n.Height)
			} else {
				screen.Printf(stdout, "expires:  %s\n", n.Expiry)
			}
			return nil
		}),
	}
	renew := &cobra.Command{
		Use:   "renew",
		Short: "Extend your name's registration by the chain's name lifetime",
		Args:  cobra.NoArgs,
		RunE: h.call(func(ctx context.Context, c *api.Client, _ []string) error {
			r, err := c.Renew(ctx)
			if err != nil {
				return err
			}
			screen.Printf(stdout, "renewed %s at height %d; it now expires at height %d\n", r.Name, r.Height, r.ExpiresAt)
			return nil
		}),
	}
	var emptyOld bool
	hubs := &cobra.Command{
		Use:   "hubs URL [URL...]",
		Short: "Make URL... (1 to 3) your hubs: copy your data to the new ones, then publish them",
		Long: "hubs copies everything in your bucket on your current hubs to each hub that is new to you\n" +
			"(messages, indexes, receipts, profile, files, backup), then updates your record on the chain, so\n" +
			"contacts find all of it on the hubs they read from now on. The first URL becomes the hub this\n" +
			"device talks to first. Contact requests waiting on a hub you leave move to the first URL.\n" +
			"With --empty-old, everything of yours is then deleted from the hubs you leave.\n\n" +
			"A hub that does not answer (one that died) is skipped: what this device holds is written anew\n" +
			"(messages still waiting to go out, indexes, receipts, profile, backup), and what only the dead hub\n" +
			"held is listed as lost (messages contacts had not fetched are skipped by them, not waited for).",
		Example: "  parley name hubs https://hub1.example https://hub2.example",
		Args:    cobra.RangeArgs(1, bns.MaxHubs),
		RunE: h.call(func(ctx context.Context, c *api.Client, urls []string) error {
			res, err := c.SetHubs(ctx, api.HubsRequest{Hubs: urls, EmptyOld: emptyOld})
			for _, cp := range res.Copies {
				screen.Printf(stdout, "copied %d objects to %s (%d were there already), republished %d from this device\n", cp.Copied, cp.Hub, cp.Had, cp.Republished)
				for _, d := range cp.Down {
					screen.Printf(stdout, "could not copy: %s\n", d.Message)
				}
				for _, l := range cp.Lost {
					screen.Printf(stdout, "lost: %s (only hubs that did not answer held them)\n", l)
				}
			}
			if res.Height == 0 {
				return err
			}
			screen.Printf(stdout, "%s's hubs are now %s (height %d); contacts follow on their next lookup\n", h.name(ctx, c), strings.Join(res.Hubs, " "), res.Height)
			emptied := map[string]api.Emptied{}
			for _, e := range res.Emptied {
				emptied[e.Hub] = e
			}
			for _, m := range res.Moved {
				if m.Error != nil {
					h.warn("contact requests waiting on "+m.From+" were not moved", m.Error)
				} else {
					if m.Moved > 0 {
						screen.Printf(stdout, "moved %d contact requests from %s to %s\n", m.Moved, m.From, m.To)
					}
					if m.Junk > 0 {
						screen.Printf(stdout, "left behind %d requests on %s that cannot be opened (junk), and removed them there\n", m.Junk, m.From)
					}
				}
				e, ok := emptied[m.From]
				switch {
				case !ok:
				case e.Error != nil:
					h.warn(m.From+" was not emptied", e.Error)
				default:
					screen.Printf(stdout, "deleted your %d objects from %s\n", e.Deleted, m.From)
				}
			}
			return err
		}),
	}
	hubs.Flags().BoolVar(&emptyOld, "empty-old", false, "then delete everything of yours from the hubs you leave")
	var confirm string
	revoke := &cobra.Command{
		Use:   "revoke --confirm NAME",
		Short: "Revoke your name for good (a stolen device): nobody can use it again",
		Long: "revoke marks your name revoked on the chain, permanently: contacts are warned that its keys were\n" +
			"revoked and stop sending, and nobody can register it again. Give the name again with --confirm.\n" +
			"It is signed by the owner key, which no device keeps: it asks for your recovery phrase\n" +
			"(" + phraseEnv + " in scripts, never a flag) and refuses a phrase that does not own the name\n" +
			"before anything is sent.",
		Example: "  parley name revoke --confirm alice",
		Args:    cobra.NoArgs,
		RunE: h.call(func(ctx context.Context, c *api.Client, _ []string) error {
			name := h.name(ctx, c)
			if confirm != name {
				return cli.Usage(fmt.Errorf("revoking is permanent: give --confirm %s", name))
			}
			var r api.Height
			err := h.withPhrase(func(phrase string) (err error) {
				r, err = c.Revoke(ctx, api.RevokeRequest{Confirm: confirm, RecoveryPhrase: phrase})
				return err
			})
			if err != nil {
				return err
			}
			screen.Printf(stdout, "revoked %s at height %d\n", name, r.Height)
			return nil
		}),
	}
	revoke.Flags().StringVar(&confirm, "confirm", "", "your name, to confirm")
	var transferConfirm string
	transfer := &cobra.Command{
		Use:   "transfer OWNER-KEY --confirm NAME",
		Short: "Give your name to another owner key, for good",
		Long: "transfer gives your name to OWNER-KEY (ed25519:…, the owner key 'parley init' showed its new\n" +
			"holder): the record's keys and devices are cleared, your devices are no longer its devices, and\n" +
			"the new holder publishes their own with 'parley recover NAME' and their recovery phrase. Give the\n" +
			"name again with --confirm. It is signed by the owner key, which no device keeps: it asks for your\n" +
			"recovery phrase (" + phraseEnv + " in scripts, never a flag) and refuses a phrase that does not\n" +
			"own the name before anything is sent.",
		Example: "  parley name transfer ed25519:17b7aed6e8e6cd0e17af3284b9cb7e03992ad1dffaf5c629db164c72db8e6c16 --confirm alice",
		Args:    cobra.ExactArgs(1),
		RunE: h.call(func(ctx context.Context, c *api.Client, args []string) error {
			name := h.name(ctx, c)
			if transferConfirm != name {
				return cli.Usage(fmt.Errorf("giving your name away is permanent: give --confirm %s", name))
			}
			var r api.Height
			err := h.withPhrase(func(phrase string) (err error) {
				r, err = c.Transfer(ctx, api.TransferRequest{Confirm: transferConfirm, NewOwner: args[0], RecoveryPhrase: phrase})
				return err
			})
			if err != nil {
				return err
			}
			screen.Printf(stdout, "gave %s to %s at height %d; its holder takes it with 'parley recover %s'\n", name, args[0], r.Height, name)
			return nil
		}),
	}
	transfer.Flags().StringVar(&transferConfirm, "confirm", "", "your name, to confirm")
	forget := &cobra.Command{
		Use:   "forget-owner",
		Short: "Remove the owner key from this device (a home made before keystore v2)",
		Long: "forget-owner removes your name's owner key from this device's keystore, once you type the\n" +
			"recovery phrase it came from (" + phraseEnv + " in scripts, never a flag): from then on a thief\n" +
			"with this device and its passphrase cannot give your name away or revoke it. This device keeps\n" +
			"renewing the name and moving its hubs with its own key. Homes made now never keep the owner key\n" +
			"once the name is registered; 'parley status' says when this one does. A phrase that does not\n" +
			"give this device's owner key removes nothing.",
		Example: "  parley name forget-owner",
		Args:    cobra.NoArgs,
		RunE: h.call(func(ctx context.Context, c *api.Client, _ []string) error {
			phrase, err := h.readSecret(phraseEnv, "recovery phrase: ")
			if err != nil {
				return err
			}
			defer clear(phrase)
			r, err := c.ForgetOwner(ctx, api.ForgetOwnerRequest{RecoveryPhrase: string(phrase)})
			if err != nil {
				return err
			}
			if !r.Forgotten {
				screen.Println(stdout, "this device holds no owner key: nothing to remove")
				return nil
			}
			screen.Println(stdout, "the owner key is no longer on this device: your recovery phrase alone gives your name away, revokes it or takes it back")
			return nil
		}),
	}
	cmd.AddCommand(renew, hubs, revoke, transfer, forget)
	return cmd
}

// withPhrase runs call with the recovery phrase of PARLEY_RECOVERY_PHRASE
// when it is set; otherwise with none, and when the agent answers that
// the phrase is needed (phrase_needed: the owner key is on no device), it
// asks for it and runs call again. With nobody to ask (no terminal), the
// agent's answer is the error. The phrase is cleared after use.
func (h *home) withPhrase(call func(phrase string) error) error {
	if p := os.Getenv(phraseEnv); p != "" {
		return call(p)
	}
	err := call("")
	if !api.IsCode(err, api.CodePhraseNeeded) {
		return err
	}
	ask := h.ask
	if ask == nil {
		ask = askTerminal
	}
	p, aerr := ask("recovery phrase: ")
	if aerr != nil || len(p) == 0 {
		return err
	}
	defer clear(p)
	return call(string(p))
}

// name is the home's registered name, as its agent says ("" if none).
func (h *home) name(ctx context.Context, c *api.Client) string {
	info, _ := c.Agent(ctx)
	return info.Name
}

// statusCmd shows, for a person checking that all is well, the chain this
// device trusts, the user's name, each hub and what waits for it.
func statusCmd(h *home, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Check the chain, your name and your hubs, and what waits to go out",
		Long: "status shows the chain node this device asks and the newest header its light client verified,\n" +
			"when your name expires, whether each of your hubs answers (and how fast), how many messages wait\n" +
			"for each, your contacts, groups and settings, and whether an agent serves this home.",
		Args: cobra.NoArgs,
		RunE: h.call(func(ctx context.Context, c *api.Client, _ []string) error {
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			ch := st.Chain
			switch {
			case ch.Error != nil && ch.Error.Code == api.CodeOffline:
				screen.Printf(stdout, "chain:    %s: UNREACHABLE: %s\n", ch.ID, ch.Error.Message)
			case ch.Error != nil:
				return ch.Error
			default:
				screen.Printf(stdout, "chain:    %s via %s (%d witnesses), verified height %d (%s), hash %s\n",
					ch.ID, ch.Node, ch.Witnesses, ch.Height, ch.Time.UTC().Format("2006-01-02 15:04:05 UTC"), ch.Hash)
			}
			switch {
			case st.NameError != nil:
				screen.Printf(stdout, "name:     %s: %s\n", st.Name, st.NameError.Message)
			case st.NameState != "":
				screen.Printf(stdout, "name:     %s, %s\n", st.Name, st.NameState)
			}
			switch st.Keys {
			case "not_mine":
				screen.Printf(stdout, "keys:     WARNING: %s\n", st.KeysError.Message)
			case "unchecked":
				screen.Printf(stdout, "keys:     not checked: %s\n", st.KeysError.Message)
			default:
				screen.Println(stdout, "keys:     the chain holds this device's keys")
			}
			for _, dev := range st.NewDevices {
				screen.Printf(stdout, "devices:  WARNING: %s\n", newDeviceWarning(st.Name, dev))
			}
			if m := st.HubsMoved; m != nil {
				screen.Printf(stdout, "hubs:     WARNING: %s's hubs were moved to %s at height %d by %s, not by this device: if it was not you, "+
					"remove it ('parley devices remove %s') and move them back ('parley name hubs URL...')\n",
					st.Name, strings.Join(m.Hubs, " "), m.Height, m.By, m.By)
				// Shown: status warns of this move no more.
				if err := c.HubsSeen(ctx, api.HubsSeenRequest{Height: m.Height}); err != nil {
					return err
				}
			}
			if st.OwnerKeyHere {
				screen.Println(stdout, "owner:    this device holds your name's owner key (made before keystore v2, or the chain takes no device signatures yet): "+
					"stolen with its passphrase, it could give your name away; once your recovery phrase is written down, 'parley name forget-owner' removes it")
			}
			for _, hs := range st.Hubs {
				state := fmt.Sprintf("ok (%.1fms)", hs.LatencyMS)
				if hs.Error != nil {
					state = "UNREACHABLE: " + hs.Error.Message
				}
				switch {
				case hs.Waiting == 1:
					state += "; 1 message waits for it"
				case hs.Waiting > 1:
					state += fmt.Sprintf("; %d messages wait for it", hs.Waiting)
				}
				screen.Printf(stdout, "hub:      %s %s\n", hs.URL, state)
			}
			switch {
			case st.Requests == 1:
				screen.Println(stdout, "pending:  1 contact request none of its hubs took yet: it goes out with your next command ('parley contacts' says which)")
			case st.Requests > 1:
				screen.Printf(stdout, "pending:  %d contact requests none of their hubs took yet: they go out with your next command ('parley contacts' says which)\n", st.Requests)
			}
			if st.Deletions > 0 {
				screen.Printf(stdout, "pending:  %d deletions from your hubs\n", st.Deletions)
			}
			screen.Printf(stdout, "contacts: %d (%d blocked); groups: %d\nsettings: backup %s, read receipts %s\n",
				st.Contacts, st.Blocked, st.Groups, onOff(st.Backup), onOff(st.ReadReceipts))
			info, err := c.Agent(ctx)
			if err == nil && info.Mode == "daemon" {
				screen.Printf(stdout, "agent:    pid %d, running since %s\n", info.PID, h.clock.stamp(info.Started))
			} else {
				screen.Println(stdout, "agent:    none runs: each command serves itself ('parley daemon' runs one)")
			}
			return nil
		}),
	}
}

var _ = errors.New
