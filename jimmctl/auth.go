package jimmctl

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// accessForms explains subjects, objects and the implied relations; every
// auth command's help ends with it.
const accessForms = `Subjects (who):
  user:<name>                 a user, e.g. user:alice@example.com
  serviceaccount:<client-id>  a service account, e.g. serviceaccount:ci-deployer
  group:<name>#member         every member of a group, e.g. group:ops#member

Objects and their relations (what):
  controller:jimm             the broker itself: administrator, audit_log_viewer
  controller:<name>           a registered controller: administrator, audit_log_viewer
  cloud:<name>                a cloud: administrator, can_addmodel
  model:<uuid>                a model, by UUID: administrator, writer, reader
  group:<name>                a group: member

Implied relations:
  - administrator ⊇ writer ⊇ reader on a model; administrator ⊇ can_addmodel on
    a cloud and ⊇ audit_log_viewer on a controller.
  - An administrator of controller:jimm is a broker administrator: it
    administers every controller, cloud and model (but is not a member of
    every group).
  - The administrators of a controller administer the models it hosts.
  - A member of a group has what the group has; groups nest (group:a#member
    member group:b makes a's members members of b).
  - audit_log_viewer on controller:jimm may read the audit log (jimmctl audit).`

func (a *app) authCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Manage access: groups and relation tuples",
		Long: `Access to the broker, its controllers, clouds and models is a set of relation
tuples "<subject> <relation> <object>", e.g.

  group:ops#member administrator model:5c4b1a2e-...

and groups: named sets of users, service accounts and groups. Groups are for
broker administrators; relations on an object for whoever administers it.

` + accessForms,
		Args: noArgs,
	}
	cmd.AddCommand(a.authGroupCommand(), a.authRelationCommand())
	return cmd
}

func (a *app) authGroupCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "Manage groups (broker administrators only)",
		Long: `A group is a named set of users, service accounts and other groups. Grant a
relation to group:<name>#member and every member has it. Relations name a group
by name, but it keeps them when renamed; removing a group removes every relation
naming it. Managing groups needs broker administrator access.

` + accessForms,
		Args: noArgs,
	}
	cmd.AddCommand(
		a.groupAddCommand(),
		a.groupRenameCommand(),
		a.groupRemoveCommand(),
		a.groupListCommand(),
		a.groupMemberCommand(true),
		a.groupMemberCommand(false),
	)
	return cmd
}

func (a *app) groupAddCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "add <name>",
		Short: "Create a group",
		Long: `Create a group. A name is 1 to 64 letters, digits, '.', '_' or '-', starting
with a letter or digit.`,
		Example: `  jimmctl auth group add ops`,
		Args:    argsBetween(1, "<name>"),
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			g, err := c.AddGroup(cmd.Context(), args[0])
			if err != nil {
				if ErrorCode(err) == restapi.CodeAlreadyExists {
					err = fmt.Errorf("%w (see the groups with `jimmctl auth group list`)", err)
				}
				return err
			}
			if a.format.String() == FormatTabular {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "added group %q\n", g.Name)
				return err
			}
			return write(cmd.OutOrStdout(), a.format.String(), g, nil)
		}),
	}
}

func (a *app) groupRenameCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "rename <old> <new>",
		Short:   "Rename a group; its members and relations stay with it",
		Example: `  jimmctl auth group rename ops sre`,
		Args:    argsBetween(2, "<old>", "<new>"),
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			g, err := c.RenameGroup(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if a.format.String() == FormatTabular {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "renamed group %q to %q\n", args[0], g.Name)
				return err
			}
			return write(cmd.OutOrStdout(), a.format.String(), g, nil)
		}),
	}
}

func (a *app) groupRemoveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "remove <name>",
		Short: "Remove a group and every relation naming it",
		Long: `Remove a group and, with it, every relation naming it: its members lose what
the group was granted, and groups it was a member of lose it.`,
		Example: `  jimmctl auth group remove ops`,
		Args:    argsBetween(1, "<name>"),
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			name := args[0]
			if err := c.RemoveGroup(cmd.Context(), name); err != nil {
				return err
			}
			if a.format.String() == FormatTabular {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "removed group %q and its relations\n", name)
				return err
			}
			return write(cmd.OutOrStdout(), a.format.String(), groupRemoveResult{Name: name, Removed: true}, nil)
		}),
	}
}

type groupRemoveResult struct {
	Name    string `json:"name" yaml:"name"`
	Removed bool   `json:"removed" yaml:"removed"`
}

func (a *app) groupListCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the groups",
		Example: `  jimmctl auth group list --format yaml`,
		Args:    noArgs,
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, _ []string) error {
			gs, err := c.ListGroups(cmd.Context())
			if err != nil {
				return err
			}
			slices.SortFunc(gs, func(a, b restapi.Group) int { return strings.Compare(a.Name, b.Name) })
			return writeList(cmd, a.format.String(), gs, "No groups. Add one with `jimmctl auth group add NAME`.", func(w *tabwriter.Writer) {
				row(w, "NAME", "UUID", "CREATED")
				for _, g := range gs {
					row(w, g.Name, g.UUID, formatTime(g.CreatedAt))
				}
			})
		}),
	}
}

// memberResult is one subject added to or removed from a group, as yaml
// and json print it.
type memberResult struct {
	Group   string `json:"group" yaml:"group"`
	Subject string `json:"subject" yaml:"subject"`
	Added   bool   `json:"added,omitempty" yaml:"added,omitempty"`
	Removed bool   `json:"removed,omitempty" yaml:"removed,omitempty"`
}

// groupMemberCommand is add-member (add) or remove-member.
func (a *app) groupMemberCommand(add bool) *cobra.Command {
	use, short, verb, prep := "add-member", "Add subjects to a group", "added", "to"
	if !add {
		use, short, verb, prep = "remove-member", "Remove subjects from a group", "removed", "from"
	}
	return &cobra.Command{
		Use:   use + " <group> <subject>...",
		Short: short,
		Long: short + `, one at a time, in order; on a failure, the ones before it are
done and the rest are not. A subject is user:<name>, serviceaccount:<client-id>
or group:<name>#member (a group in a group).`,
		Example: fmt.Sprintf(`  jimmctl auth group %s ops user:alice@example.com serviceaccount:ci-deployer
  jimmctl auth group %s ops group:oncall#member`, use, use),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return fmt.Errorf("%s takes <group> <subject>..., got %d argument(s); see `%s --help`", cmd.Name(), len(args), cmd.CommandPath())
			}
			return nil
		},
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			group, subjects := args[0], args[1:]
			out := make([]memberResult, 0, len(subjects))
			for _, subject := range subjects {
				var err error
				if add {
					err = c.AddGroupMember(cmd.Context(), group, subject)
				} else {
					err = c.RemoveGroupMember(cmd.Context(), group, subject)
				}
				if err != nil {
					if len(out) > 0 {
						done := make([]string, len(out))
						for i, r := range out {
							done[i] = r.Subject
						}
						err = fmt.Errorf("%w (%s %s group %q before this: %s)", err, verb, prep, group, strings.Join(done, ", "))
					}
					return err
				}
				out = append(out, memberResult{Group: group, Subject: subject, Added: add, Removed: !add})
				if a.format.String() == FormatTabular {
					fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s group %q\n", verb, subject, prep, group)
				}
			}
			if a.format.String() == FormatTabular {
				return nil
			}
			return write(cmd.OutOrStdout(), a.format.String(), out, nil)
		}),
	}
}

func (a *app) authRelationCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "relation",
		Short: "Add, remove, check and list relation tuples",
		Long: `A relation tuple "<subject> <relation> <object>" grants a subject a relation
to an object. Adding or removing one needs administrator access to its object:
broker administrators may change any; a cloud's administrators those on the
cloud; a model's administrators (and its controller's) those on the model.
Anyone may list and check their own; a broker administrator anyone's.

` + accessForms,
		Args: noArgs,
	}
	cmd.AddCommand(
		a.relationChangeCommand(true),
		a.relationChangeCommand(false),
		a.relationCheckCommand(),
		a.relationListCommand(),
	)
	return cmd
}

// relationResult is a tuple added or removed, as yaml and json print it.
type relationResult struct {
	restapi.Relation `yaml:",inline"`
	Added            bool `json:"added,omitempty" yaml:"added,omitempty"`
	Removed          bool `json:"removed,omitempty" yaml:"removed,omitempty"`
}

var relationArgs = argsBetween(3, "<subject>", "<relation>", "<object>")

// relationChangeCommand is relation add (add) or relation remove.
func (a *app) relationChangeCommand(add bool) *cobra.Command {
	use, short, verb := "add", "Grant a relation: add a tuple", "added"
	if !add {
		use, short, verb = "remove", "Revoke a relation: remove a tuple", "removed"
	}
	return &cobra.Command{
		Use:   use + " <subject> <relation> <object>",
		Short: short,
		Long:  short + ". It needs administrator access to the object.\n\n" + accessForms,
		Example: fmt.Sprintf(`  jimmctl auth relation %s group:ops#member administrator model:5c4b1a2e-0d3f-4b8e-9a1c-2f3e4d5c6b7a
  jimmctl auth relation %s user:alice@example.com administrator controller:jimm
  jimmctl auth relation %s serviceaccount:ci-deployer can_addmodel cloud:aws
  jimmctl auth relation %s user:bob@example.com audit_log_viewer controller:jimm`, use, use, use, use),
		Args: relationArgs,
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			r := restapi.Relation{Subject: args[0], Relation: args[1], Object: args[2]}
			var err error
			if add {
				err = c.AddRelation(cmd.Context(), r)
			} else {
				err = c.RemoveRelation(cmd.Context(), r)
			}
			if err != nil {
				return explainRelationAccess(err, r.Object)
			}
			if a.format.String() == FormatTabular {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s relation %s\n", verb, relationString(r))
				return err
			}
			return write(cmd.OutOrStdout(), a.format.String(), relationResult{Relation: r, Added: add, Removed: !add}, nil)
		}),
	}
}

// explainRelationAccess says who may change a tuple when the broker
// refused.
func explainRelationAccess(err error, object string) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusForbidden {
		return fmt.Errorf("%w (ask an administrator of %s, or a broker administrator)", err, object)
	}
	return err
}

func (a *app) relationCheckCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "check <subject> <relation> <object>",
		Short: "Say whether a subject has a relation to an object",
		Long: `Say whether a subject has a relation to an object, directly or implied: prints
"allowed" or "denied" (yaml and json: allowed: true or false) and exits 0
either way. Checking another subject than yourself needs broker administrator
access.

` + accessForms,
		Example: `  jimmctl auth relation check user:alice@example.com writer model:5c4b1a2e-0d3f-4b8e-9a1c-2f3e4d5c6b7a
  jimmctl auth relation check user:bob@example.com audit_log_viewer controller:jimm --format json`,
		Args: relationArgs,
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			res, err := c.CheckRelation(cmd.Context(), restapi.Relation{Subject: args[0], Relation: args[1], Object: args[2]})
			if err != nil {
				return err
			}
			if a.format.String() == FormatTabular {
				answer := "denied"
				if res.Allowed {
					answer = "allowed"
				}
				_, err := fmt.Fprintln(cmd.OutOrStdout(), answer)
				return err
			}
			return write(cmd.OutOrStdout(), a.format.String(), res, nil)
		}),
	}
}

func (a *app) relationListCommand() *cobra.Command {
	var q RelationQuery
	cmd := &cobra.Command{
		Use:   "list [--subject S] [--object O] [--limit N] [--offset N]",
		Short: "List relation tuples, oldest first",
		Long: `List stored relation tuples, oldest first, by subject and/or object (exact
match: tuples a subject has only through a group or an implied relation are not
listed; use check for those). Listing another subject's than your own needs
broker administrator access.

` + accessForms,
		Example: `  jimmctl auth relation list --object model:5c4b1a2e-0d3f-4b8e-9a1c-2f3e4d5c6b7a
  jimmctl auth relation list --subject 'group:ops#member' --format yaml
  jimmctl auth relation list --limit 100 --offset 100`,
		Args: noArgs,
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, _ []string) error {
			if q.Limit < 0 || q.Offset < 0 {
				return fmt.Errorf("--limit and --offset must be 0 or more, got %d and %d", q.Limit, q.Offset)
			}
			rs, err := c.ListRelations(cmd.Context(), q)
			if err != nil {
				return err
			}
			return writeList(cmd, a.format.String(), rs, "No relations.", func(w *tabwriter.Writer) { relationTable(w, rs) })
		}),
	}
	f := cmd.Flags()
	f.StringVar(&q.Subject, "subject", "", "only tuples of this subject, e.g. user:alice@example.com or group:ops#member")
	f.StringVar(&q.Object, "object", "", "only tuples on this object, e.g. model:<uuid> or controller:jimm")
	f.IntVar(&q.Limit, "limit", 0, "at most this many tuples (0: all)")
	f.IntVar(&q.Offset, "offset", 0, "skip this many tuples first")
	return cmd
}

func relationTable(w io.Writer, rs []restapi.Relation) {
	row(w, "SUBJECT", "RELATION", "OBJECT")
	for _, r := range rs {
		row(w, r.Subject, r.Relation, r.Object)
	}
}
