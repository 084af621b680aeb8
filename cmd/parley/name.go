package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cometbft/cometbft/types"
	"github.com/spf13/cobra"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/client"
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := h.loadConfig(); err != nil {
				return err
			}
			if h.cfg.Name == "" {
				return errors.New("no name registered yet: run 'parley register NAME --hub URL'")
			}
			d, err := h.directory(ctx)
			if err != nil {
				return err
			}
			defer d.Close()
			rec, err := d.Lookup(ctx, h.cfg.Name)
			if err != nil {
				return err
			}
			lb, err := d.Latest(ctx)
			if err != nil {
				return err
			}
			params, err := d.Params(ctx)
			if err != nil {
				return err
			}
			screen.Printf(stdout, "name:     %s (verified by proof)\nhubs:     %s\n", rec.Name, strings.Join(rec.Profile.Hubs, " "))
			if rec.Live(lb.Height) {
				screen.Printf(stdout, "expires:  height %d, %d blocks from now (height %d); 'parley name renew' extends it\n", rec.ExpiresAt, rec.ExpiresAt-lb.Height, lb.Height)
			} else {
				screen.Printf(stdout, "expires:  %s\n", expiry(rec, lb.Height, params))
			}
			return nil
		},
	}
	renew := &cobra.Command{
		Use:   "renew",
		Short: "Extend your name's registration by the chain's name lifetime",
		Args:  cobra.NoArgs,
		RunE: h.run(func(cmd *cobra.Command, _ *client.Client, _ []string) error {
			d, err := h.chain(cmd.Context())
			if err != nil {
				return err
			}
			height, err := d.Submit(cmd.Context(), h.id.OwnerKey(), &bns.Tx{Type: bns.TxRenew, Name: h.cfg.Name})
			if err != nil {
				return err
			}
			rec, err := d.Lookup(cmd.Context(), h.cfg.Name)
			if err != nil {
				return err
			}
			screen.Printf(stdout, "renewed %s at height %d; it now expires at height %d\n", h.cfg.Name, height, rec.ExpiresAt)
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
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, urls []string) error {
			ctx := cmd.Context()
			for i, u := range urls {
				if err := bns.ValidateHubURL(u); err != nil {
					return cli.Usage(err)
				}
				if slices.Contains(urls[:i], u) {
					return cli.Usage(fmt.Errorf("%s is given twice", u))
				}
			}
			d, err := h.chain(ctx)
			if err != nil {
				return err
			}
			rec, err := d.Lookup(ctx, h.cfg.Name)
			if err != nil {
				return err
			}
			for _, u := range urls {
				if slices.Contains(c.Hubs(), u) {
					continue
				}
				rep, err := c.CopyTo(ctx, u, nil)
				if err != nil {
					return fmt.Errorf("copying your data to %s (nothing published yet; run this again): %w", u, plainOffline(h, err))
				}
				screen.Printf(stdout, "copied %d objects to %s (%d were there already), republished %d from this device\n", rep.Copied, u, rep.Had, rep.Republished)
				for _, d := range rep.Down {
					screen.Printf(stdout, "could not copy: %v\n", plainOffline(h, d))
				}
				for _, l := range rep.Lost {
					screen.Printf(stdout, "lost: %s (only hubs that did not answer held them)\n", l)
				}
			}
			p := rec.Profile
			p.Hubs = urls
			height, err := d.Submit(ctx, h.id.OwnerKey(), &bns.Tx{Type: bns.TxUpdate, Name: h.cfg.Name, Profile: p})
			if err != nil {
				return err
			}
			h.cfg.Hub = urls[0]
			if err := h.saveConfig(); err != nil {
				return err
			}
			now, err := d.Lookup(ctx, h.cfg.Name) // this process reads its own writes
			if err != nil {
				return err
			}
			if err := c.SetHubs(urls, now.Seq); err != nil {
				return err
			}
			if err := quiet(c.Flush(ctx)); err != nil { // what waited, to the new hubs too
				h.warn("messages still queued", err)
			}
			screen.Printf(stdout, "%s's hubs are now %s (height %d); contacts follow on their next lookup\n", h.cfg.Name, strings.Join(urls, " "), height)
			for _, u := range rec.Profile.Hubs {
				if slices.Contains(urls, u) {
					continue
				}
				// Requests that came in meanwhile go with you.
				if n, junk, err := c.MoveInbox(ctx, u, urls[0]); err != nil {
					h.warn("contact requests waiting on "+u+" were not moved", err)
				} else {
					if n > 0 {
						screen.Printf(stdout, "moved %d contact requests from %s to %s\n", n, u, urls[0])
					}
					if junk > 0 {
						screen.Printf(stdout, "left behind %d requests on %s that cannot be opened (junk), and removed them there\n", junk, u)
					}
				}
				if !emptyOld {
					continue
				}
				n, err := c.EmptyHub(ctx, u)
				if client.IsOffline(err) {
					h.warn(u+" was not emptied", err)
					continue
				}
				if err != nil {
					return fmt.Errorf("emptying %s, which your record no longer lists: %w", u, err)
				}
				screen.Printf(stdout, "deleted your %d objects from %s\n", n, u)
			}
			return nil
		}),
	}
	hubs.Flags().BoolVar(&emptyOld, "empty-old", false, "then delete everything of yours from the hubs you leave")
	var confirm string
	revoke := &cobra.Command{
		Use:   "revoke --confirm NAME",
		Short: "Revoke your name for good (a stolen device): nobody can use it again",
		Long: "revoke marks your name revoked on the chain, permanently: contacts are warned that its keys were\n" +
			"revoked and stop sending, and nobody can register it again. Give the name again with --confirm.",
		Args: cobra.NoArgs,
		RunE: h.run(func(cmd *cobra.Command, _ *client.Client, _ []string) error {
			if confirm != h.cfg.Name {
				return cli.Usage(fmt.Errorf("revoking is permanent: give --confirm %s", h.cfg.Name))
			}
			d, err := h.chain(cmd.Context())
			if err != nil {
				return err
			}
			height, err := d.Submit(cmd.Context(), h.id.OwnerKey(), &bns.Tx{Type: bns.TxRevoke, Name: h.cfg.Name})
			if err != nil {
				return err
			}
			screen.Printf(stdout, "revoked %s at height %d\n", h.cfg.Name, height)
			return nil
		}),
	}
	revoke.Flags().StringVar(&confirm, "confirm", "", "your name, to confirm")
	cmd.AddCommand(renew, hubs, revoke)
	return cmd
}

// expiry says where rec stands at height now: when it expires; once
// expired, for how long its owner may still renew it; after that, that it
// is anyone's.
func expiry(rec *bns.Record, now int64, p bns.Params) string {
	end := rec.ExpiresAt + p.GracePeriod // the last height a renewal lands at
	switch {
	case rec.Revoked:
		return "REVOKED: the name can never be used again"
	case rec.Live(now):
		return fmt.Sprintf("expires at height %d (%d blocks from now)", rec.ExpiresAt, rec.ExpiresAt-now)
	case now < end:
		return fmt.Sprintf("EXPIRED at height %d (%d blocks ago): only you can renew it, for %d more blocks (until height %d), then anyone may register it: run 'parley name renew'",
			rec.ExpiresAt, now-rec.ExpiresAt, end-now, end)
	default:
		return fmt.Sprintf("EXPIRED at height %d, and renewal ended at height %d: anyone may register it now", rec.ExpiresAt, end)
	}
}

// statusCmd shows, for a person checking that all is well, the chain this
// device trusts, the user's name, each hub and what waits for it.
func statusCmd(h *home, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Check the chain, your name and your hubs, and what waits to go out",
		Long: "status shows the chain node this device asks and the newest header its light client verified,\n" +
			"when your name expires, whether each of your hubs answers (and how fast), how many messages wait\n" +
			"for each, and your contacts, groups and settings.",
		Args: cobra.NoArgs,
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			ctx := cmd.Context()
			d, err := h.chain(ctx)
			var lb *types.LightBlock
			if err == nil {
				lb, err = d.Latest(ctx)
			}
			var oe *client.OfflineError
			switch {
			case errors.As(h.offline(err), &oe):
				screen.Printf(stdout, "chain:    %s: UNREACHABLE: %v\n", h.cfg.ChainID, oe)
			case err != nil:
				return err
			default:
				screen.Printf(stdout, "chain:    %s via %s (%d witnesses), verified height %d (%s), hash %s\n",
					h.cfg.ChainID, h.cfg.Node, len(h.cfg.Witnesses), lb.Height, lb.Time.UTC().Format("2006-01-02 15:04:05 UTC"), lookup.HashString(lb.Hash()))
			}
			var params bns.Params
			if lb == nil {
				// The name's record needs the chain.
			} else if params, err = d.Params(ctx); err != nil {
				screen.Printf(stdout, "name:     %s: %v\n", h.cfg.Name, err)
			} else if rec, err := d.Lookup(ctx, h.cfg.Name); err != nil {
				screen.Printf(stdout, "name:     %s: %v\n", h.cfg.Name, err)
			} else {
				screen.Printf(stdout, "name:     %s, %s\n", rec.Name, expiry(rec, lb.Height, params))
			}
			switch err := c.CheckOwnRecord(ctx); {
			case errors.Is(err, client.ErrNotMine):
				screen.Printf(stdout, "keys:     WARNING: %v\n", err)
			case err != nil:
				screen.Printf(stdout, "keys:     not checked: %v\n", err)
			default:
				screen.Println(stdout, "keys:     the chain holds this device's keys")
			}
			st := c.Status(ctx)
			for _, hs := range st.Hubs {
				state := fmt.Sprintf("ok (%s)", hs.Latency.Round(100*time.Microsecond))
				if hs.Err != nil {
					state = "UNREACHABLE: " + hs.Err.Error()
				}
				switch {
				case hs.Waiting == 1:
					state += "; 1 message waits for it"
				case hs.Waiting > 1:
					state += fmt.Sprintf("; %d messages wait for it", hs.Waiting)
				}
				screen.Printf(stdout, "hub:      %s %s\n", hs.URL, state)
			}
			if st.Deletions > 0 {
				screen.Printf(stdout, "pending:  %d deletions from your hubs\n", st.Deletions)
			}
			screen.Printf(stdout, "contacts: %d (%d blocked); groups: %d\nsettings: backup %s, read receipts %s\n",
				st.Contacts, st.Blocked, st.Groups, onOff(st.Backup), onOff(st.ReadReceipts))
			return nil
		}),
	}
}
