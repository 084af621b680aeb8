package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/internal/screen"
)

func backupCmd(h *home, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "backup on|off",
		Short: "Keep an encrypted backup of your keys, contacts and history on your hub",
		Long: "backup on asks for a backup passphrase (PARLEY_BACKUP_PASSPHRASE or a prompt; at least 12\n" +
			"characters: your hub can try guesses offline) and from then on keeps an encrypted copy of your keys,\n" +
			"contacts and history (less what expired) on your hubs, updated after every command that changed\n" +
			"something. 'parley restore' brings it back on a new device from your name and that passphrase.\n" +
			"backup off deletes it.",
		Example: "  parley backup on\n  parley backup off",
		Args:    cobra.ExactArgs(1),
		RunE: h.runOnOff(func(cmd *cobra.Command, c *client.Client, on bool) error {
			if !on {
				if err := c.DisableBackup(cmd.Context()); err != nil {
					return err
				}
				screen.Println(stdout, "backup off; the backup was deleted from your hubs")
				return nil
			}
			pass, err := h.newPassphrase("PARLEY_BACKUP_PASSPHRASE", "backup passphrase: ")
			if err != nil {
				return err
			}
			if err := c.EnableBackup(cmd.Context(), pass); err != nil {
				return err
			}
			screen.Println(stdout, "backup on: an encrypted copy is on your hubs and follows every change")
			return nil
		}),
	}
}

func restoreCmd(h *home, stdout io.Writer) *cobra.Command {
	var (
		cfg       config
		trustHash string
		kdfMemory uint32
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
			ctx, name := cmd.Context(), args[0]
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
			backupPass, err := h.readSecret("PARLEY_BACKUP_PASSPHRASE", "backup passphrase: ")
			if err != nil {
				return err
			}
			id, c, err := client.Restore(ctx, name, backupPass, d, h.path("state"), h.clientOpts...)
			if err != nil {
				return err
			}
			pass, err := h.newPassphrase("PARLEY_PASSPHRASE", "new passphrase for this device: ")
			if err != nil {
				return err
			}
			if err := h.saveKeystore(id, pass, kdfMemory); err != nil {
				return err
			}
			rec, err := d.Lookup(ctx, name)
			if err != nil {
				return err
			}
			cfg.Name, cfg.Hub = name, rec.Profile.Hubs[0]
			h.cfg = cfg
			if err := h.saveConfig(); err != nil {
				return err
			}
			screen.Printf(stdout, "restored %s: %d contacts, %d messages\n", name, len(c.Contacts()), len(c.History()))
			return nil
		},
	}
	chainFlags(cmd, &cfg, &trustHash)
	kdfFlag(cmd, &kdfMemory)
	return cmd
}

func passphraseCmd(h *home, stdout io.Writer) *cobra.Command {
	var kdfMemory uint32
	cmd := &cobra.Command{
		Use:   "passphrase",
		Short: "Change the passphrase your keys are encrypted under on this device",
		Long: "passphrase asks for the current passphrase (PARLEY_PASSPHRASE or a prompt), then the new one\n" +
			"(PARLEY_NEW_PASSPHRASE, or a prompt, twice), and encrypts the keystore again under it. The keys do\n" +
			"not change: contacts see nothing. A backup keeps its own passphrase ('parley backup on' changes it).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := h.unlock(); err != nil {
				return err
			}
			pass, err := h.newPassphrase("PARLEY_NEW_PASSPHRASE", "new passphrase: ")
			if err != nil {
				return err
			}
			if err := h.saveKeystore(h.id, pass, kdfMemory); err != nil {
				return err
			}
			screen.Println(stdout, "the keystore is encrypted under the new passphrase")
			return nil
		},
	}
	kdfFlag(cmd, &kdfMemory)
	return cmd
}
