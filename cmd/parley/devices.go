package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"
	"github.com/spf13/cobra"

	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/screen"
)

// Several devices per name (docs/devices.md): list them, retire one,
// link a new one (parley link on it, parley devices add on one that
// already is).

// fingerprint is a device key as a listing shows it: its first 16 hex
// digits.
func fingerprint(key string) string {
	if len(key) > len("ed25519:")+16 {
		return key[:len("ed25519:")+16] + "…"
	}
	return key
}

// errNotApproved: the person did not approve a device.
var errNotApproved = errors.New("not approved; nothing was changed")

// approve asks a yes/no question (h.ask in tests, else the terminal); yes
// answers it without asking, and without either the answer is no.
func (h *home) approve(stdout io.Writer, question string, yes bool) error {
	if yes {
		return nil
	}
	ask := h.ask
	if ask == nil {
		w, ok := stdout.(*screen.Writer)
		if !ok || !w.Terminal() {
			return hinted(errNotApproved, "no terminal to ask on: give --yes once you checked it")
		}
		ask = askLine
	}
	ans, err := ask(question + " [y/N] ")
	if err != nil {
		return err
	}
	if a := strings.ToLower(strings.TrimSpace(string(ans))); a != "y" && a != "yes" {
		return errNotApproved
	}
	return nil
}

// askLine asks a question on the terminal and reads the answer (shown as
// typed: it is no secret).
func askLine(prompt string) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, errors.New("no terminal to ask on")
	}
	defer tty.Close()
	screen.Printf(tty, "%s", prompt)
	line, err := bufio.NewReader(io.LimitReader(tty, 256)).ReadString('\n')
	if err != nil && line == "" {
		return nil, err
	}
	return []byte(line), nil
}

// newDeviceWarning is the loud notice of a device another device (or the
// owner key) added to the user's name since this one joined: a stolen
// device adding the thief's is seen here.
func newDeviceWarning(name string, d api.Device) string {
	return fmt.Sprintf("a new device %q (%s) was added to %s at height %d by %s, not by this device: if it was not you, "+
		"remove it ('parley devices remove %s') and take the name back with 'parley recover %s' and your recovery phrase",
		d.Label, fingerprint(d.SigningKey), name, d.AddedAt, d.AddedBy, d.Label, name)
}

func devicesCmd(h *home, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List your name's devices; add or remove one",
		Long: "devices lists the devices your name's record on the chain lists (verified by proof): each one's\n" +
			"label, key fingerprint and the height it was added at; this device is marked. 'devices add CODE'\n" +
			"approves a new device that runs 'parley link' and shows CODE; 'devices remove LABEL' retires one:\n" +
			"from the block that removes it, your contacts stop encrypting to it at their next lookup, and it\n" +
			"can no longer act for your name. Removal is not remote erasure: it keeps what it already holds.",
		Example: "  parley devices\n  parley devices add JN74-DBE2-B23F-YBTX-9\n  parley devices remove laptop",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := h.api(cmd.Context())
			if err != nil {
				return err
			}
			ds, err := c.Devices(cmd.Context())
			if err != nil {
				return err
			}
			var shown []string
			for _, d := range ds.Devices {
				if d.New {
					screen.Printf(stdout, "WARNING: %s\n", newDeviceWarning(ds.Name, d))
				}
				shown = append(shown, d.SigningKey)
			}
			screen.Printf(stdout, "%s's devices (verified at height %d):\n", ds.Name, ds.Height)
			for _, d := range ds.Devices {
				added := "first device"
				if d.AddedAt != 0 {
					added = fmt.Sprintf("added at height %d", d.AddedAt)
					if d.AddedBy != "" {
						added += " by " + d.AddedBy
					}
				}
				this := ""
				if d.This {
					this = "  (this device)"
				}
				screen.Printf(stdout, "  %-12s %s  %s%s\n", d.Label, fingerprint(d.SigningKey), added, this)
			}
			// Shown, warnings and all: new no more ('parley status' stops
			// warning of them).
			return c.DevicesSeen(cmd.Context(), api.DevicesSeenRequest{SigningKeys: shown})
		},
	}
	var (
		history, yes bool
	)
	add := &cobra.Command{
		Use:   "add CODE",
		Short: "Approve a new device that shows CODE (run 'parley link' on it first)",
		Long: "add reads the offer of CODE on the chain (verified), shows the new device's label and key, asks you\n" +
			"to approve, then adds it to your name on the chain and writes its welcome, sealed to it, on your\n" +
			"hubs: your contacts, groups, settings and, with --history, your history. The new device opens it\n" +
			"and becomes one of your devices.",
		Example: "  parley devices add JN74-DBE2-B23F-YBTX-9\n  parley devices add jn74dbe2b23fybtx9 --history --yes",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := h.api(cmd.Context())
			if err != nil {
				return err
			}
			off, err := c.DeviceOffer(cmd.Context(), api.LinkCodeRequest{Code: args[0]})
			if err != nil {
				return err
			}
			if off.TakenBy != "" {
				// Taken by this name: a device of the user's whose welcome
				// reached no hub; the agent writes it again.
				if ds, err := c.Devices(cmd.Context()); err != nil || ds.Name != off.TakenBy {
					return hinted(fmt.Errorf("the device with code %s was added to %s already", off.Code, off.TakenBy), "a code serves once: run 'parley link' again on the new device")
				}
			}
			screen.Printf(stdout, "device %q, key %s, offered at height %d\n", off.Label, fingerprint(off.SigningKey), off.Height)
			if err := h.approve(stdout, fmt.Sprintf("add device %q to your name? Do it only if you just ran 'parley link' on it", off.Label), yes); err != nil {
				return err
			}
			res, err := c.AddDevice(cmd.Context(), api.LinkCodeRequest{Code: off.Code, History: history})
			if err != nil {
				return err
			}
			screen.Printf(stdout, "added %s to %s at height %d; its welcome is on your hubs\n", res.Label, res.Name, res.Height)
			return nil
		},
	}
	add.Flags().BoolVar(&history, "history", false, "send your history to the new device too")
	add.Flags().BoolVar(&yes, "yes", false, "approve without asking (you checked the label and key)")
	remove := &cobra.Command{
		Use:     "remove LABEL",
		Short:   "Retire one of your devices (on the chain)",
		Example: "  parley devices remove laptop",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := h.api(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.RemoveDevice(cmd.Context(), api.DeviceRemoveRequest{Label: args[0]})
			if err != nil {
				return err
			}
			screen.Printf(stdout, "removed %s (%s) from %s at height %d: your contacts stop encrypting to it at their next lookup\n",
				res.Label, fingerprint(res.SigningKey), res.Name, res.Height)
			return nil
		},
	}
	cmd.AddCommand(add, remove)
	return cmd
}

// linkWait is how long 'parley link' waits for an approval by default:
// about as long as an offer lasts on a chain of one-second blocks.
const linkWait = 10 * time.Minute

func linkCmd(h *home, stdout io.Writer) *cobra.Command {
	var (
		cc          api.ChainConfig
		label, name string
		wait        time.Duration
		yes         bool
	)
	cmd := &cobra.Command{
		Use:   "link --node URL [--label L]",
		Short: "Make this device one of your name's (approve it on a device you have)",
		Long: "link makes this device's keys (stored under a new passphrase: PARLEY_PASSPHRASE or a prompt),\n" +
			"offers them on the chain and prints a link code (and a QR code on a terminal). On a device of\n" +
			"your name, run 'parley devices add CODE': once it approves, this device reads its welcome from\n" +
			"your hubs (your contacts, groups, settings, history if sent), checks it against the chain, and\n" +
			"becomes one of your devices. It waits --wait at most. The code names this device's keys only:\n" +
			"whoever adds it, this device asks whether that is your name (or checks --name).",
		Example: "  parley --home ~/.parley-laptop link --node http://127.0.0.1:26601 --label laptop\n" +
			"  parley link --node http://127.0.0.1:26601 --label phone-2 --name alice",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if h.keystoreExists() {
				return hinted(errExists(h), "link into a new home: 'parley --home NEWDIR link --node URL'")
			}
			pass, err := h.newPassphrase("PARLEY_PASSPHRASE", "new passphrase for this device: ")
			if err != nil {
				return err
			}
			c, err := h.api(cmd.Context())
			if err != nil {
				return err
			}
			off, err := c.Link(cmd.Context(), api.LinkRequest{ChainConfig: cc, Label: label, Passphrase: string(pass), Name: name})
			if err != nil {
				return err
			}
			screen.Printf(stdout, "link code: %s\n", off.Code)
			if w, ok := stdout.(*screen.Writer); ok && w.Terminal() {
				if q, err := qrcode.New(off.Code, qrcode.Medium); err == nil {
					screen.Printf(stdout, "%s", q.ToSmallString(false))
				}
			}
			screen.Printf(stdout, "on a device of your name, run: parley devices add %s\nwaiting for it (at most %s)...\n", off.Code, wait)
			ctx, cancel := context.WithTimeout(cmd.Context(), wait)
			defer cancel()
			taken, err := c.LinkWait(ctx, api.LinkAcceptRequest{Code: off.Code})
			if err != nil {
				if ctx.Err() != nil && cmd.Context().Err() == nil {
					return hinted(fmt.Errorf("no device approved this one within %s", wait),
						"this home keeps its keys but joined no name; run 'parley link' again in a new home (the code expires with its offer)")
				}
				return err
			}
			switch {
			case name != "" && taken.TakenBy != name:
				return fmt.Errorf("this device was added to %q, not %q: it does not take it (nothing of %s's is read)", taken.TakenBy, name, taken.TakenBy)
			case name == "":
				if err := h.approve(stdout, fmt.Sprintf("added to %q: is that your name?", taken.TakenBy), yes); err != nil {
					return err
				}
			}
			res, err := c.LinkAccept(ctx, api.LinkAcceptRequest{Code: off.Code, Name: taken.TakenBy})
			if err != nil {
				return err
			}
			by := ""
			if res.Approver != "" {
				by = " (approved by " + res.Approver + ")"
			}
			screen.Printf(stdout, "this device is %s's %s now%s: %d contacts, %d groups, %d messages\n", res.Name, res.Label, by, res.Contacts, res.Groups, res.Messages)
			return nil
		},
	}
	chainFlags(cmd, &cc)
	cmd.Flags().StringVar(&label, "label", "device", "this device's label: 1 to 32 of a-z, 0-9 and - (public, on the chain)")
	cmd.Flags().StringVar(&name, "name", "", "the name this device is to join: the offer is bound to it on the chain (no other name can add it), and any other is refused without asking")
	cmd.Flags().DurationVar(&wait, "wait", linkWait, "how long to wait for an approval")
	cmd.Flags().BoolVar(&yes, "yes", false, "take the name that adds this device without asking")
	return cmd
}
