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
			"changes with every roster change, so removed members read nothing new. Members who do not know\n" +
			"each other are introduced through the group. GROUP is a group's name or ID.",
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
	for _, sub := range []*cobra.Command{sendCmd(h), readCmd(h, stdout), reactCmd(h), editCmd(h), deleteCmd(h),
		timerCmd(h, stdout), sendFileCmd(h, stdout), getFileCmd(h, stdout)} {
		cmd.AddCommand(inGroup(h, sub))
	}
	return cmd
}

// inGroup turns a 1:1 message command into its group form: the first
// argument names a group, which it reads first.
func inGroup(h *home, sub *cobra.Command) *cobra.Command {
	run := sub.RunE
	sub.Use = strings.Replace(sub.Use, "NAME", "GROUP", 1)
	sub.Example = strings.ReplaceAll(sub.Example, "parley ", "parley group ")
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
		args[0] = "#" + id
		return run(cmd, args)
	}
	return sub
}
