package main

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/screen"
)

// phraseEnv is where a script gives the recovery phrase to recover,
// transfer and revoke (never a flag: flags show in process lists and
// shell histories).
const phraseEnv = "PARLEY_RECOVERY_PHRASE"

// ownerKeyGone says, after register and recover, that the owner key
// left the device.
const ownerKeyGone = "the owner key is not kept on this device: this device (and those you link) renew the name and move its hubs; " +
	"giving it away, revoking it or taking it back takes your recovery phrase"

// confirmWords is how many words of the phrase init asks back, and
// confirmRounds how often it shows the phrase again after a mistake.
const (
	confirmWords  = 3
	confirmRounds = 3
)

// errNotConfirmed: the person did not type back the words init asked.
var errNotConfirmed = errors.New("the recovery phrase was not confirmed; nothing was created")

// showPhrase prints the phrase once, numbered, four words a line.
func showPhrase(w io.Writer, phrase string) {
	screen.Println(w, "your recovery phrase (write it down and keep it offline: it alone takes your name back if you lose\nevery device; it is not shown again):")
	words := strings.Fields(phrase)
	for i := 0; i < len(words); i += 4 {
		var line strings.Builder
		for j := i; j < min(i+4, len(words)); j++ {
			fmt.Fprintf(&line, "  %2d %-9s", j+1, words[j])
		}
		screen.Println(w, strings.TrimRight(line.String(), " "))
	}
}

// canAsk reports whether the person can be asked to confirm the phrase:
// a prompt was given (tests), or standard output is a terminal (the
// person sees the phrase there, and /dev/tty asks).
func (h *home) canAsk(stdout io.Writer) bool {
	w, ok := stdout.(*screen.Writer)
	return h.ask != nil || (ok && w.Terminal())
}

// confirmPhrase asks for confirmWords words of the phrase, chosen at
// random; after a wrong word it says which, shows the phrase again and
// asks again, confirmRounds times at most (errNotConfirmed).
func (h *home) confirmPhrase(stdout io.Writer, phrase string) error {
	words := strings.Fields(phrase)
	for round := 0; round < confirmRounds; round++ {
		if round > 0 {
			showPhrase(stdout, phrase)
		}
		ok := true
		for _, i := range pickPositions(len(words), confirmWords) {
			ask := h.ask
			if ask == nil {
				ask = askTerminal
			}
			ans, err := ask(fmt.Sprintf("word %d of your recovery phrase: ", i+1))
			if err != nil {
				return err
			}
			got := strings.ToLower(strings.TrimSpace(string(ans)))
			if subtle.ConstantTimeCompare([]byte(got), []byte(words[i])) != 1 {
				screen.Printf(stdout, "word %d is not that: here is the phrase again\n", i+1)
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
	}
	return hinted(errNotConfirmed, "run 'parley init' again: it makes a new phrase")
}

// pickPositions returns k distinct positions below n, in increasing
// order, drawn from crypto/rand.
func pickPositions(n, k int) []int {
	var out []int
	for len(out) < k {
		v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
		if err != nil {
			panic(err) // crypto/rand does not fail
		}
		if i := int(v.Int64()); !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

// newPhrase draws a recovery phrase, shows it and has the person confirm
// it (when they can be asked; otherwise it warns).
func (h *home) newPhrase(stdout io.Writer) (string, error) {
	phrase, err := keystore.NewPhrase()
	if err != nil {
		return "", err
	}
	showPhrase(stdout, phrase)
	if h.canAsk(stdout) {
		if err := h.confirmPhrase(stdout, phrase); err != nil {
			return "", err
		}
	} else {
		screen.Printf(h.stderr, "parley: warning: no terminal to confirm the recovery phrase on: keep the phrase printed above "+
			"private (it gives your name to whoever reads it) and write it down\n")
	}
	return phrase, nil
}

func recoverCmd(h *home, stdout io.Writer) *cobra.Command {
	var (
		cc         api.ChainConfig
		hubs       []string
		fromBackup bool
	)
	cmd := &cobra.Command{
		Use:   "recover NAME --node URL",
		Short: "Take your name back on a new device with your recovery phrase",
		Long: "recover reads your recovery phrase (" + phraseEnv + " or a prompt), checks on the chain (verified)\n" +
			"that it owns NAME, makes new keys on this device and publishes them: from then on NAME's keys are\n" +
			"this device's, and every other device that held NAME is retired (it can no longer send as you,\n" +
			"and nothing sent after reaches it). Your contacts are told that your keys changed; once they\n" +
			"confirm ('parley contacts confirm NAME' on their side), their requests reach you here: accept them\n" +
			"and the conversations start over. This device starts with no contacts or history. The keys are\n" +
			"stored under a new passphrase (PARLEY_PASSPHRASE or a prompt). --hub sets the hubs (default: the\n" +
			"record's). With --from-backup it first reads your backup (PARLEY_BACKUP_PASSPHRASE or a prompt)\n" +
			"and keeps its contacts, groups, settings and history, and backup stays on with the new keys.",
		Example: "  parley --home ~/.parley recover alice --node http://127.0.0.1:26601 --witness http://127.0.0.1:26611\n" +
			"  parley recover alice --node http://127.0.0.1:26601 --from-backup",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if h.keystoreExists() {
				return hinted(errExists(h), "recover into a new home: 'parley --home NEWDIR recover "+name+" --node URL'")
			}
			phrase, err := h.readSecret(phraseEnv, "recovery phrase: ")
			if err != nil {
				return err
			}
			defer clear(phrase)
			var backupPass []byte
			if fromBackup {
				if backupPass, err = h.readSecret("PARLEY_BACKUP_PASSPHRASE", "backup passphrase: "); err != nil {
					return err
				}
			}
			pass, err := h.newPassphrase("PARLEY_PASSPHRASE", "new passphrase for this device: ")
			if err != nil {
				return err
			}
			c, err := h.api(cmd.Context())
			if err != nil {
				return err
			}
			res, err := c.Recover(cmd.Context(), api.RecoverRequest{ChainConfig: cc, Name: name, RecoveryPhrase: string(phrase),
				Passphrase: string(pass), Hubs: hubs, BackupPassphrase: string(backupPass)})
			if err != nil {
				return err
			}
			if res.RenewedAt != 0 {
				screen.Printf(stdout, "%s had expired: renewed at height %d\n", res.Name, res.RenewedAt)
			}
			screen.Printf(stdout, "recovered %s at height %d: its keys are this device's now, and every other device that held it is retired\n", res.Name, res.Height)
			if res.OwnerKeyDropped {
				screen.Println(stdout, ownerKeyGone)
			}
			if fromBackup {
				screen.Printf(stdout, "from your backup: %d contacts, %d messages; backup stays on, with the new keys\n", res.Contacts, res.Messages)
			}
			screen.Println(stdout, "your contacts see that your keys changed; once they confirm, their requests reach you: 'parley requests', then 'parley contacts accept NAME'")
			return nil
		},
	}
	chainFlags(cmd, &cc)
	cmd.Flags().StringSliceVar(&hubs, "hub", nil, "URL of a storage hub to publish (1 to 3; default: the record's hubs)")
	cmd.Flags().BoolVar(&fromBackup, "from-backup", false, "take contacts, groups, settings and history from your backup")
	return cmd
}
