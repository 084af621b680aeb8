package main

import (
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/internal/screen"
)

// groupCmd holds the group subcommands. The message commands are the
// 1:1 ones (send, read, react, edit, delete, timer, send-file, get-file)
// with a group, by name or ID, in place of a contact.
func groupCmd(h *home, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "Group chats: create, list, invite, remove, rename, leave, and the message commands",
		Long: "A group's creator holds its roster. Each member writes to its own hubs under a sender key that\n" +
			"changes with every roster change, so removed members read nothing new. Members need not be each\n" +
			"other's contacts (nor stay them): the group links every two members itself. When a member's keys\n" +
			"change on the chain, nobody gives that name a key until they confirm the new keys\n" +
			"(parley contacts confirm NAME). GROUP is a group's name or ID.",
		Example: "  parley group create trip bob carol\n  parley group send trip 'landing at 6'\n  parley group read trip",
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "create NAME MEMBER...",
		Short:   "Make a group of you and contacts",
		Example: "  parley group create trip bob carol",
		Args:    cobra.MinimumNArgs(2),
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			id, err := c.CreateGroup(cmd.Context(), args[0], args[1:])
			if id != "" {
				screen.Printf(stdout, "group %s (%s) made; members get it as they come online\n", args[0], id)
			}
			return err
		}),
	}, &cobra.Command{
		Use:   "list",
		Short: "List your groups",
		Args:  cobra.NoArgs,
		RunE: h.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			c.SyncGroups(cmd.Context())
			for _, g := range c.Groups() {
				state := ""
				if g.Gone {
					state = "\t(you left or were removed)"
				}
				screen.Printf(stdout, "%s\t%s\tby %s\t%s%s\n", g.Name, g.ID, g.Creator, strings.Join(g.Members, ","), state)
			}
			return nil
		}),
	})
	roster := func(use, short string, do func(c *client.Client, cmd *cobra.Command, id string, args []string) error) *cobra.Command {
		n := strings.Count(use, " ")
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.ExactArgs(n),
			RunE: h.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
				id, err := c.FindGroup(args[0])
				if err != nil {
					return err
				}
				if err := do(c, cmd, id, args[1:]); err != nil {
					return err
				}
				screen.Println(stdout, "done")
				return nil
			}),
		}
	}
	cmd.AddCommand(
		roster("invite GROUP NAME", "Add a contact to your group", func(c *client.Client, cmd *cobra.Command, id string, a []string) error {
			return c.Invite(cmd.Context(), id, a[0])
		}),
		roster("remove GROUP NAME", "Remove a member from your group (a new key they do not get)", func(c *client.Client, cmd *cobra.Command, id string, a []string) error {
			return c.RemoveMember(cmd.Context(), id, a[0])
		}),
		roster("rename GROUP NEWNAME", "Rename your group", func(c *client.Client, cmd *cobra.Command, id string, a []string) error {
			return c.RenameGroup(cmd.Context(), id, a[0])
		}),
		roster("leave GROUP", "Leave a group (if it is yours, the first other member holds it from then on)", func(c *client.Client, cmd *cobra.Command, id string, _ []string) error {
			return c.LeaveGroup(cmd.Context(), id)
		}),
		roster("hand-over GROUP NAME", "Leave your group, NAME holding it from then on (its roster and name)", func(c *client.Client, cmd *cobra.Command, id string, a []string) error {
			return c.HandOver(cmd.Context(), id, a[0])
		}),
	)
	for _, sub := range []*cobra.Command{sendCmd(h, stdout), readCmd(h, stdout), reactCmd(h), editCmd(h), deleteCmd(h),
		timerCmd(h, stdout), sendFileCmd(h, stdout), getFileCmd(h, stdout)} {
		cmd.AddCommand(inGroup(h, sub))
	}
	return cmd
}

// groupHelp is what the group form of each message command says: its
// short line, its long text ("" keeps the 1:1 one, which speaks of no
// contact) and its examples.
var groupHelp = map[string][3]string{
	"send": {"Send a message to a group", "",
		"  parley group send trip 'landing at 6'\n  parley group send trip 'yes' --reply bob/4"},
	"read": {"Fetch the group's new messages and show its history",
		"read fetches what each member wrote since last time and shows the group's history in the order this\n" +
			"device took it, with its notices (who joined, left or was removed, renames, members whose keys\n" +
			"changed), and marks it read (members learn it unless read receipts are off). Each of your messages\n" +
			"shows how many members it was delivered to and read by. Each message has a reference NAME/N for\n" +
			"replies, reactions, edits and deletes. --last N shows only the newest N.",
		"  parley group read trip\n  parley group read trip --last 20"},
	"react": {"React to a group message (an empty EMOJI takes the reaction back)", "",
		"  parley group react trip bob/3 👍\n  parley group react trip bob/3 ''"},
	"edit": {"Replace the text of one of your messages in a group", "",
		"  parley group edit trip 4 'landing at 7'"},
	"delete": {"Delete one of your group messages for every member",
		"delete tells the members to delete the message and removes its blob from your hubs; your index says it\n" +
			"was deleted, so members who did not read it yet skip it.",
		"  parley group delete trip 4"},
	"timer": {"Make the group's messages disappear after DURATION (0 turns it off)",
		"timer sets disappearing messages for the whole group: each message any member sends from now on is\n" +
			"deleted from its sender's hubs and from every member's device DURATION after it was sent.",
		"  parley group timer trip 1h\n  parley group timer trip 0"},
	"send-file": {"Send a file to a group",
		"send-file encrypts the file in 1 MiB chunks, each under its own key, stores them on your hubs and\n" +
			"sends the group a message that references them. Interrupted, run it again: it resumes the upload.",
		"  parley group send-file trip route.pdf --caption 'the route'"},
	"get-file": {"Download a file a group message shares",
		"get-file fetches every chunk from its sender's hubs, checks each one and the whole file's SHA-256,\n" +
			"and only then writes the file (default: its name, in the current directory). Interrupted, run it\n" +
			"again: it resumes.",
		"  parley group get-file trip bob/7 --out ~/Downloads/route.pdf"},
}

// inGroup turns a 1:1 message command into its group form: the first
// argument names a group, which it brings up to date first (saying which
// members get nothing because their keys changed).
func inGroup(h *home, sub *cobra.Command) *cobra.Command {
	run := sub.RunE
	sub.Use = strings.Replace(sub.Use, "NAME", "GROUP", 1)
	help := groupHelp[sub.Name()]
	sub.Short, sub.Example = help[0], help[2]
	if help[1] != "" {
		sub.Long = help[1]
	}
	sub.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := h.client(cmd.Context())
		if err != nil {
			return err
		}
		id, err := c.FindGroup(args[0])
		if err != nil {
			return err
		}
		c.SyncGroups(cmd.Context())
		for _, kc := range c.MemberKeyChanges(id) {
			screen.Printf(h.stderr, "parley: %v\nparley: hint: until then %s gets nothing of yours in this group, and nothing more is read from the old keys; %s\n",
				kc, kc.Name, keyChangeHint(kc))
		}
		args[0] = "#" + id
		return run(cmd, args)
	}
	return sub
}

// conversationLabel names a conversation for the user: a contact's name,
// or "the group NAME" for "#" and a group's ID (unescaped: print it with
// screen).
func conversationLabel(c *client.Client, conv string) string {
	if id, ok := strings.CutPrefix(conv, "#"); ok {
		for _, g := range c.Groups() {
			if g.ID == id {
				return "the group " + g.Name // printed through screen, as all others' text
			}
		}
	}
	return conv
}
