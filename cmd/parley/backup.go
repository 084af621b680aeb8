package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/screen"
)

func backupCmd(h *home, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "backup on|off",
		Short: "Keep an encrypted backup of your keys, contacts and history on your hub",
		Long: "backup on asks for a backup passphrase (PARLEY_BACKUP_PASSPHRASE or a prompt; at least 12\n" +
			"characters: your hub can try guesses offline) and from then on keeps an encrypted copy of your keys,\n" +
			"contacts and history (less what expired) on your hubs, updated after every command that changed\n" +
			"something (with an agent running, within a minute of the change). 'parley restore' brings it back\n" +
			"on a new device from your name and that passphrase. backup off deletes it.",
		Example: "  parley backup on\n  parley backup off",
		Args:    cobra.ExactArgs(1),
		RunE: h.callOnOff(func(ctx context.Context, c *api.Client, on bool) error {
			if !on {
				if err := c.SetBackup(ctx, api.BackupRequest{}); err != nil {
					return err
				}
				screen.Println(stdout, "backup off; the backup was deleted from your hubs")
				return nil
			}
			if _, err := c.Settings(ctx); err != nil { // the keys first (a command asks for the passphrase)
				return err
			}
			pass, err := h.newPassphrase("PARLEY_BACKUP_PASSPHRASE", "backup passphrase: ")
			if err != nil {
				return err
			}
			if err := c.SetBackup(ctx, api.BackupRequest{On: true, Passphrase: string(pass)}); err != nil {
				return err
			}
			screen.Println(stdout, "backup on: an encrypted copy is on your hubs and follows every change")
			return nil
		}),
	}
}

func restoreCmd(h *home, stdout io.Writer) *cobra.Command {
	var (
		cc api.ChainConfig
	)
	cmd := &cobra.Command{
		Use:   "restore NAME --node URL",
		Short: "Restore your identity, contacts and history from your backup on a new device",
		Long: "restore looks NAME up on the chain (verified), reads the backup from NAME's hubs with the backup\n" +
			"passphrase (PARLEY_BACKUP_PASSPHRASE or a prompt), checks that its keys are the ones the chain\n" +
			"publishes, and sets this device up under a new local passphrase (PARLEY_PASSPHRASE or a prompt).\n" +
			"A conversation that went on after the backup must be started over: 'parley contacts reset NAME'.",
		Example: "  parley --home ~/.parley restore alice --node http://127.0.0.1:26601",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if h.keystoreExists() {
				return errExists(h)
			}
			backupPass, err := h.readSecret("PARLEY_BACKUP_PASSPHRASE", "backup passphrase: ")
			if err != nil {
				return err
			}
			pass, err := h.newPassphrase("PARLEY_PASSPHRASE", "new passphrase for this device: ")
			if err != nil {
				return err
			}
			c, err := h.api(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.Restore(cmd.Context(), api.RestoreRequest{ChainConfig: cc, Name: args[0], BackupPassphrase: string(backupPass),
				Passphrase: string(pass)})
			if err != nil {
				return err
			}
			screen.Printf(stdout, "restored %s: %d contacts, %d messages\n", res.Name, res.Contacts, res.Messages)
			return nil
		},
	}
	chainFlags(cmd, &cc)
	return cmd
}

func passphraseCmd(h *home, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "passphrase",
		Short: "Change the passphrase your keys are encrypted under on this device",
		Long: "passphrase asks for the current passphrase (PARLEY_PASSPHRASE or a prompt), then the new one\n" +
			"(PARLEY_NEW_PASSPHRASE, or a prompt, twice), and encrypts the keystore again under it. The keys do\n" +
			"not change: contacts see nothing. A backup keeps its own passphrase ('parley backup on' changes it).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !h.keystoreExists() {
				return errNoIdentity(h)
			}
			cur, err := h.passphrase("passphrase: ")
			if err != nil {
				return err
			}
			pass, err := h.newPassphrase("PARLEY_NEW_PASSPHRASE", "new passphrase: ")
			if err != nil {
				return err
			}
			c, err := h.api(cmd.Context())
			if err != nil {
				return err
			}
			if err := c.ChangePassphrase(cmd.Context(), api.PassphraseRequest{Current: string(cur), New: string(pass)}); err != nil {
				return err
			}
			screen.Println(stdout, "the keystore is encrypted under the new passphrase")
			return nil
		},
	}
	return cmd
}
