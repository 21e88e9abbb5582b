package jimmctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// ControllerConfig returns a registered controller's config, as the
// controller reports it.
func (c *Client) ControllerConfig(ctx context.Context, controller string) (restapi.ControllerConfig, error) {
	var resp restapi.ControllerConfig
	if err := checkName("controller", controller); err != nil {
		return resp, err
	}
	err := c.do(ctx, fmt.Sprintf("get config of controller %q", controller), http.MethodGet,
		restapi.PathController+url.PathEscape(controller)+restapi.PathConfig, nil, true, nil, &resp)
	return resp, err
}

// SetControllerConfig sets some of a registered controller's config (the
// controller takes every value or none) and returns its config read back
// afterwards.
func (c *Client) SetControllerConfig(ctx context.Context, controller string, cfg map[string]any) (restapi.ControllerConfig, error) {
	var resp restapi.ControllerConfig
	if err := checkName("controller", controller); err != nil {
		return resp, err
	}
	if len(cfg) == 0 {
		return resp, fmt.Errorf("set config of controller %q: no key given", controller)
	}
	err := c.do(ctx, fmt.Sprintf("set config of controller %q", controller), http.MethodPatch,
		restapi.PathController+url.PathEscape(controller)+restapi.PathConfig, nil, true,
		restapi.ControllerConfigRequest{Config: cfg}, &resp)
	return resp, err
}

// configArgs are controller-config's arguments after the controller: at
// most one key to show, or key=value pairs to set.
type configArgs struct {
	get string         // the key to show, or ""
	set map[string]any // the values to set, or nil
	// keys are set's keys, sorted.
	keys []string
}

// parseConfigArgs reads controller-config's arguments as `juju
// controller-config` does, with its messages: "key" shows a key,
// "key=value" sets one; the two do not mix, and one key at most is shown.
func parseConfigArgs(args []string) (configArgs, error) {
	var out configArgs
	var gets []string
	for _, arg := range args {
		key, value, isSet := strings.Cut(arg, "=")
		if !isSet {
			gets = append(gets, arg)
			continue
		}
		if key == "" {
			return out, fmt.Errorf(`expected "key=value", got %q`, arg)
		}
		if out.set == nil {
			out.set = map[string]any{}
		}
		if _, dup := out.set[key]; dup {
			return out, fmt.Errorf("key %q specified more than once", key)
		}
		out.set[key] = configValue(value)
		out.keys = append(out.keys, key)
	}
	switch {
	case len(gets) > 0 && out.set != nil:
		return out, errors.New("cannot get value and set key=value pairs simultaneously")
	case len(gets) > 1:
		return out, errors.New("cannot specify multiple keys to get")
	case len(gets) == 1:
		if gets[0] == "" {
			return out, errors.New("empty key to get")
		}
		out.get = gets[0]
	}
	sort.Strings(out.keys)
	return out, nil
}

// configValue is how a value given on the command line is sent: an
// integer as a number, anything else as the string it is (the controller
// parses durations, booleans and the rest by its own schema, as Juju's
// does for `juju controller-config key=value`).
func configValue(s string) any {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	return s
}

func (a *app) controllerConfigCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "controller-config <controller> [<key> | <key>=<value> ...]",
		Short: "Show or set a registered controller's config",
		Long: `Show or set the config of a controller registered with the broker, through the
broker (as "juju controller-config" does against the controller itself).

With no key, print the controller's whole config: a KEY VALUE table sorted by
key, or the config as a map with --format yaml or json. With a key, print its
value. With key=value pairs, set them: the controller checks every value and
takes all of them or none; then print the keys set, with their values as the
controller reports them now. An integer is sent as a number, anything else as a
string (the controller parses durations such as 250ms itself). Getting and
setting do not mix.

Before a migration, Juju's migration guide has the target controller's agent
login rate limit raised for the model's agents to move in, and the wait for
them set: agent-ratelimit-max, agent-ratelimit-rate and
migration-agent-wait-time.

The broker records each change in its audit log with the controller and the
names of the keys set, never their values.`,
		Example: `  jimmctl controller-config ctl-b
  jimmctl controller-config ctl-b agent-ratelimit-rate
  jimmctl controller-config ctl-b agent-ratelimit-max=50 agent-ratelimit-rate=100ms migration-agent-wait-time=30m`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return fmt.Errorf("%s takes <controller> [<key> | <key>=<value> ...], got %d argument(s); see `%s --help`",
					cmd.Name(), len(args), cmd.CommandPath())
			}
			return nil
		},
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			name := args[0]
			ca, err := parseConfigArgs(args[1:])
			if err != nil {
				return err
			}
			format, out := a.format.String(), cmd.OutOrStdout()
			if ca.set != nil {
				got, err := c.SetControllerConfig(cmd.Context(), name, ca.set)
				if err != nil {
					return err
				}
				// The values as the controller reports them now; the one
				// sent for a key it does not report.
				set := make(map[string]any, len(ca.keys))
				for _, k := range ca.keys {
					v, ok := got.Config[k]
					if !ok {
						v = ca.set[k]
					}
					set[k] = v
				}
				return writeConfig(out, format, set, ca.keys)
			}
			got, err := c.ControllerConfig(cmd.Context(), name)
			if err != nil {
				return err
			}
			if got.Config == nil {
				got.Config = map[string]any{}
			}
			if ca.get == "" {
				keys := make([]string, 0, len(got.Config))
				for k := range got.Config {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				return writeConfig(out, format, got.Config, keys)
			}
			v, ok := got.Config[ca.get]
			if !ok {
				return fmt.Errorf("key %q not found in controller %q", ca.get, name)
			}
			if format == FormatTabular {
				s := configText(v)
				if !strings.HasSuffix(s, "\n") {
					s += "\n"
				}
				_, err := io.WriteString(out, s)
				return err
			}
			return write(out, format, v, nil)
		}),
	}
}

// writeConfig prints cfg's keys: a KEY VALUE table, or the map in yaml or
// json.
func writeConfig(w io.Writer, format string, cfg map[string]any, keys []string) error {
	if format != FormatTabular {
		return write(w, format, cfg, nil)
	}
	var b strings.Builder
	configTable(&b, cfg, keys)
	_, err := io.WriteString(w, b.String())
	return err
}

// configTable prints KEY and VALUE columns; a value of several lines (a
// certificate) goes on in the VALUE column.
func configTable(w io.Writer, cfg map[string]any, keys []string) {
	width := len("KEY")
	for _, k := range keys {
		width = max(width, len(k))
	}
	line := func(key, value string) {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("%-*s  %s", width, key, value), " "))
	}
	line("KEY", "VALUE")
	for _, k := range keys {
		vs := strings.Split(strings.TrimRight(configText(cfg[k]), "\n"), "\n")
		line(k, vs[0])
		for _, v := range vs[1:] {
			line("", v)
		}
	}
}

// configText shows a config value: a string as it is ("" when empty), a
// number without exponent or trailing zeros, anything else as JSON.
func configText(v any) string {
	switch v := v.(type) {
	case string:
		if v == "" {
			return `""`
		}
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
