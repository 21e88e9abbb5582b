package jimmctl

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/broker/restapi"
)

func (a *app) listControllersCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "list-controllers",
		Aliases: []string{"controllers"},
		Short:   "List the controllers registered with the broker",
		Args:    noArgs,
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, _ []string) error {
			cs, err := c.ListControllers(cmd.Context())
			if err != nil {
				return err
			}
			cs = sortControllers(cs)
			return writeList(cmd, a.format.String(), cs, "No controllers registered. Add one with `jimmctl add-controller controller.yaml`.", func(w *tabwriter.Writer) {
				controllerTable(w, cs)
			})
		}),
	}
}

func (a *app) showControllerCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show-controller <name>",
		Short: "Show one controller",
		Args:  argsBetween(1, "<name>"),
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			ctl, err := c.GetController(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return write(cmd.OutOrStdout(), a.format.String(), ctl, func(w *tabwriter.Writer) {
				controllerDetail(w, ctl)
			})
		}),
	}
}

// addControllerKeys are the keys of restapi.AddControllerRequest.
var addControllerKeys = []string{"name", "uuid", "api-addresses", "ca-cert", "tls-server-name", "admin-user", "admin-password", "priority"}

// informationalKeys are written by the development controller into
// controller.yaml; the broker reads them from the controller itself.
var informationalKeys = []string{"cloud", "cloud-type", "regions", "agent-version"}

func (a *app) addControllerCommand() *cobra.Command {
	var name string
	var priority int
	cmd := &cobra.Command{
		Use:   "add-controller <controller.yaml | ->",
		Short: "Register a controller with the broker",
		Long: `Register a controller with the broker. The file (- for stdin) is YAML with
the keys a development controller writes into its controller.yaml:

  name: ctl-a
  uuid: 5c4b...
  api-addresses: [10.0.0.5:17070]
  ca-cert: |
    -----BEGIN CERTIFICATE-----
    ...
  admin-user: admin
  admin-password: ...
  tls-server-name: juju-apiserver   # optional
  priority: 10                      # optional; higher is preferred for new models

The broker dials the controller with the pinned CA, logs in, and reads its
version, cloud and regions before storing it. For a Juju controller the juju
client knows, "jimmctl controller-info <controller> -o FILE" writes this file.`,
		Example: `  jimmctl add-controller .devcontroller/controller.yaml --name ctl-a --priority 10`,
		Args:    argsBetween(1, "<controller.yaml | ->"),
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			req, err := readAddControllerRequest(cmd, args[0])
			if err != nil {
				return err
			}
			if name != "" {
				req.Name = name
			}
			if cmd.Flags().Changed("priority") {
				req.Priority = priority
			}
			if err := checkAddControllerRequest(req, args[0]); err != nil {
				return err
			}
			ctl, err := c.AddController(cmd.Context(), req)
			if err != nil {
				if ErrorCode(err) == restapi.CodeAlreadyExists {
					err = fmt.Errorf("%w (see it with `jimmctl show-controller %s`; use --name to register this one under another name)", err, req.Name)
				}
				return err
			}
			return write(cmd.OutOrStdout(), a.format.String(), ctl, func(w *tabwriter.Writer) {
				controllerTable(w, []restapi.Controller{ctl})
			})
		}),
	}
	cmd.Flags().StringVar(&name, "name", "", "register the controller under this name instead of the file's")
	cmd.Flags().IntVar(&priority, "priority", 0, "placement priority: new models go to the highest tier (overrides the file's)")
	return cmd
}

// readAddControllerRequest reads a controller.yaml from a file or stdin.
func readAddControllerRequest(cmd *cobra.Command, file string) (restapi.AddControllerRequest, error) {
	var req restapi.AddControllerRequest
	var raw []byte
	var err error
	source := file
	if file == "-" {
		source = "stdin"
		raw, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
	} else {
		raw, err = os.ReadFile(file)
	}
	if err != nil {
		return req, fmt.Errorf("read controller file: %w", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return req, fmt.Errorf("read controller file %s: it is empty", source)
	}
	if err := yaml.Unmarshal(raw, &req); err != nil {
		return req, fmt.Errorf("read controller file %s: %w", source, err)
	}
	// Warn about keys that would be silently dropped (typos, mostly).
	var keys map[string]any
	if yaml.Unmarshal(raw, &keys) == nil {
		var unknown []string
		for k := range keys {
			if !slices.Contains(addControllerKeys, k) && !slices.Contains(informationalKeys, k) {
				unknown = append(unknown, k)
			}
		}
		sort.Strings(unknown)
		for _, k := range unknown {
			fmt.Fprintf(cmd.ErrOrStderr(), "WARNING ignoring unknown key %q in %s (known keys: %s)\n",
				k, source, strings.Join(addControllerKeys, ", "))
		}
	}
	return req, nil
}

// checkAddControllerRequest says what is missing before the broker does.
func checkAddControllerRequest(req restapi.AddControllerRequest, source string) error {
	if source == "-" {
		source = "stdin"
	}
	var missing []string
	check := func(key string, empty bool) {
		if empty {
			missing = append(missing, key)
		}
	}
	check("name", strings.TrimSpace(req.Name) == "")
	check("uuid", strings.TrimSpace(req.UUID) == "")
	check("api-addresses", len(req.APIAddresses) == 0)
	check("ca-cert", strings.TrimSpace(req.CACert) == "")
	check("admin-user", strings.TrimSpace(req.AdminUser) == "")
	check("admin-password", req.AdminPassword == "")
	if len(missing) > 0 {
		return fmt.Errorf("controller file %s lacks %s", source, strings.Join(missing, ", "))
	}
	if block, _ := pem.Decode([]byte(req.CACert)); block == nil || block.Type != "CERTIFICATE" {
		return fmt.Errorf("controller file %s: ca-cert is not a PEM certificate", source)
	}
	return nil
}

func (a *app) removeControllerCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "remove-controller <name> [--force]",
		Short: "Unregister a controller",
		Long: `Unregister a controller. The broker refuses while the controller hosts models;
--force removes it anyway (the broker then no longer routes to those models).`,
		Args: argsBetween(1, "<name>"),
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			name := args[0]
			err := c.RemoveController(cmd.Context(), name, force)
			if err != nil {
				if !force && ErrorCode(err) == restapi.CodeConflict {
					err = fmt.Errorf("%w (migrate its models away first, or pass --force to remove it anyway)", err)
				}
				return err
			}
			result := removeResult{Name: name, Removed: true, Forced: force}
			if a.format.String() == FormatTabular {
				msg := fmt.Sprintf("removed controller %q", name)
				if force {
					msg += " (forced)"
				}
				_, err := fmt.Fprintln(cmd.OutOrStdout(), msg)
				return err
			}
			return write(cmd.OutOrStdout(), a.format.String(), result, nil)
		}),
	}
	cmd.Flags().BoolVar(&force, "force", false, "remove the controller even while it hosts models")
	return cmd
}

type removeResult struct {
	Name    string `json:"name" yaml:"name"`
	Removed bool   `json:"removed" yaml:"removed"`
	Forced  bool   `json:"forced" yaml:"forced"`
}

func (a *app) setControllerDeprecatedCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "set-controller-deprecated <name> [true|false]",
		Short: "Deprecate a controller (no new models go to it), or undo that",
		Args:  argsBetween(1, "<name>", "[true|false]"),
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			deprecated := true
			if len(args) == 2 {
				v, err := strconv.ParseBool(args[1])
				if err != nil {
					return fmt.Errorf("set-controller-deprecated: want true or false, got %q", args[1])
				}
				deprecated = v
			}
			ctl, err := c.SetDeprecated(cmd.Context(), args[0], deprecated)
			if err != nil {
				return err
			}
			name := args[0]
			if ctl.Deprecated != deprecated {
				return fmt.Errorf("set controller %q deprecated=%t: the broker answered with deprecated=%t", name, deprecated, ctl.Deprecated)
			}
			if a.format.String() == FormatTabular {
				msg := fmt.Sprintf("controller %q is now deprecated: the broker places no new models on it", name)
				if !deprecated {
					msg = fmt.Sprintf("controller %q is no longer deprecated", name)
				}
				_, err := fmt.Fprintln(cmd.OutOrStdout(), msg)
				return err
			}
			return write(cmd.OutOrStdout(), a.format.String(), ctl, nil)
		}),
	}
}
