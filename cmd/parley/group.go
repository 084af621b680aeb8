package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/internal/api"
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
		RunE: h.call(func(ctx context.Context, c *api.Client, args []string) error {
			res, err := c.CreateGroup(ctx, api.CreateGroupRequest{Name: args[0], Members: args[1:]})
			if res.ID != "" {
				screen.Printf(stdout, "group %s (%s) made; members get it as they come online\n", args[0], res.ID)
			}
			return err
		}),
	}, &cobra.Command{
		Use:   "list",
		Short: "List your groups",
		Args:  cobra.NoArgs,
		RunE: h.call(func(ctx context.Context, c *api.Client, _ []string) error {
			gs, err := c.Groups(ctx, true)
			if err != nil {
				return err
			}
			for _, g := range gs.Groups {
				state := "" // the format's, not the group's: no sanitizing of its tab
				switch {
				case g.Gone:
					state = "\t(you left or were removed)"
				case g.Unread > 0:
					state = fmt.Sprintf("\t%d unread", g.Unread)
				}
				screen.Printf(stdout, "%s\t%s\tby %s\t%s"+state+"\n", g.Name, g.ID, g.Creator, strings.Join(g.Members, ","))
			}
			return nil
		}),
	})
	roster := func(use, short, action string) *cobra.Command {
		n := strings.Count(use, " ")
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.ExactArgs(n),
			RunE: h.call(func(ctx context.Context, c *api.Client, args []string) error {
				name := ""
				if len(args) > 1 {
					name = args[1]
				}
				if err := c.GroupAction(ctx, args[0], action, name); err != nil {
					return err
				}
				screen.Println(stdout, "done")
				return nil
			}),
		}
	}
	cmd.AddCommand(
		roster("invite GROUP NAME", "Add a contact to your group", "invite"),
		roster("remove GROUP NAME", "Remove a member from your group (a new key they do not get)", "remove"),
		roster("rename GROUP NEWNAME", "Rename your group", "rename"),
		roster("leave GROUP", "Leave a group (if it is yours, the first other member holds it from then on)", "leave"),
		roster("hand-over GROUP NAME", "Leave your group, NAME holding it from then on (its roster and name)", "hand-over"),
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
		c, err := h.api(cmd.Context())
		if err != nil {
			return err
		}
		g, err := c.Group(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		for _, kc := range g.KeyChanges {
			screen.Printf(h.stderr, "parley: %s\nparley: hint: until then %s gets nothing of yours in this group, and nothing more is read from the old keys; %s\n",
				kc.Message, kc.Name, kc.Hint)
		}
		args[0] = "#" + g.Group.ID
		return run(cmd, args)
	}
	return sub
}
