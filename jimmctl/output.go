package jimmctl

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// Output formats.
const (
	FormatTabular = "tabular"
	FormatYAML    = "yaml"
	FormatJSON    = "json"
)

var formats = []string{FormatTabular, FormatYAML, FormatJSON}

// formatValue is the --format flag; it rejects unknown formats when the
// flag is parsed.
type formatValue string

func (f *formatValue) String() string { return string(*f) }
func (f *formatValue) Type() string   { return "format" }
func (f *formatValue) Set(s string) error {
	if !slices.Contains(formats, s) {
		return fmt.Errorf("unknown format %q: valid formats are %s", s, strings.Join(formats, ", "))
	}
	*f = formatValue(s)
	return nil
}

// write prints v in the chosen format; tabular formats it as a table.
// writeList prints a list in the chosen format; an empty list in the
// tabular format is the note none, on stderr (JSON and YAML print []).
func writeList[T any](cmd *cobra.Command, format string, items []T, none string, tabular func(*tabwriter.Writer)) error {
	if items == nil {
		items = []T{}
	}
	if len(items) == 0 && format == FormatTabular {
		fmt.Fprintln(cmd.ErrOrStderr(), none)
		return nil
	}
	return write(cmd.OutOrStdout(), format, items, tabular)
}

func write(w io.Writer, format string, v any, tabular func(*tabwriter.Writer)) error {
	switch format {
	case FormatJSON:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("format as json: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case FormatYAML:
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("format as yaml: %w", err)
		}
		return enc.Close()
	case FormatTabular, "":
		if tabular == nil {
			return fmt.Errorf("no tabular form for %T", v)
		}
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		tabular(tw)
		return tw.Flush()
	default:
		return fmt.Errorf("unknown format %q: valid formats are %s", format, strings.Join(formats, ", "))
	}
}

func row(w io.Writer, cols ...string) {
	for i, c := range cols {
		if c == "" {
			cols[i] = "-"
		}
	}
	fmt.Fprintln(w, strings.Join(cols, "\t"))
}

func sortControllers(cs []restapi.Controller) []restapi.Controller {
	out := slices.Clone(cs)
	if out == nil {
		out = []restapi.Controller{}
	}
	slices.SortFunc(out, func(a, b restapi.Controller) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func sortModels(ms []restapi.Model) []restapi.Model {
	out := slices.Clone(ms)
	if out == nil {
		out = []restapi.Model{}
	}
	slices.SortFunc(out, func(a, b restapi.Model) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if c := strings.Compare(a.Owner, b.Owner); c != 0 {
			return c
		}
		return strings.Compare(a.UUID, b.UUID)
	})
	return out
}

var controllerHeader = []string{"NAME", "STATUS", "VERSION", "CLOUD/REGIONS", "MODELS", "MACHINES", "UNITS", "AGENTS", "ADDRESS", "PRIORITY"}

func controllerTable(w io.Writer, cs []restapi.Controller) {
	row(w, slices.Clone(controllerHeader)...)
	for _, c := range cs {
		addr := ""
		if len(c.Addresses) > 0 {
			addr = c.Addresses[0]
		}
		row(w, c.Name, controllerStatus(c), c.AgentVersion, cloudRegions(c),
			strconv.Itoa(c.ModelCount), strconv.Itoa(c.Machines), strconv.Itoa(c.Units), strconv.Itoa(c.Agents),
			addr, strconv.Itoa(c.Priority))
	}
}

// controllerStatus shows deprecation next to the health status.
func controllerStatus(c restapi.Controller) string {
	s := c.Status
	if c.Deprecated && s != restapi.StatusDeprecated {
		if s == "" {
			return restapi.StatusDeprecated
		}
		s += " (deprecated)"
	}
	return s
}

func cloudRegions(c restapi.Controller) string {
	if c.Cloud == "" {
		return strings.Join(c.Regions, ",")
	}
	if len(c.Regions) == 0 {
		return c.Cloud
	}
	return c.Cloud + "/" + strings.Join(c.Regions, ",")
}

// controllerDetail shows one controller, one field a line.
func controllerDetail(w io.Writer, c restapi.Controller) {
	status := controllerStatus(c)
	if !c.StatusSince.IsZero() {
		status += " since " + formatTime(c.StatusSince)
	}
	cloud := c.Cloud
	if c.CloudType != "" {
		cloud += " (" + c.CloudType + ")"
	}
	row(w, "NAME", c.Name)
	row(w, "UUID", c.UUID)
	row(w, "STATUS", status)
	if c.StatusMessage != "" {
		row(w, "MESSAGE", c.StatusMessage)
	}
	row(w, "DEPRECATED", strconv.FormatBool(c.Deprecated))
	row(w, "VERSION", c.AgentVersion)
	row(w, "CLOUD", cloud)
	row(w, "REGIONS", strings.Join(c.Regions, ", "))
	row(w, "ADDRESSES", strings.Join(c.Addresses, ", "))
	row(w, "PRIORITY", strconv.Itoa(c.Priority))
	row(w, "MODELS", strconv.Itoa(c.ModelCount))
	row(w, "MACHINES", strconv.Itoa(c.Machines))
	row(w, "UNITS", strconv.Itoa(c.Units))
	row(w, "AGENTS", strconv.Itoa(c.Agents))
	row(w, "ADDED", formatTime(c.AddedAt))
}

var modelHeader = []string{"UUID", "NAME", "OWNER", "CONTROLLER", "CLOUD/REGION", "LIFE"}

// modelTable prints models; a non-administrator's listing, which names no
// controller, has an ACCESS column instead of CONTROLLER.
func modelTable(w io.Writer, ms []restapi.Model) {
	byAccess := len(ms) > 0 && !slices.ContainsFunc(ms, func(m restapi.Model) bool { return m.Controller != "" })
	header := slices.Clone(modelHeader)
	if byAccess {
		header[3] = "ACCESS"
	}
	row(w, header...)
	for _, m := range ms {
		cr := m.Cloud
		if m.Region != "" {
			cr += "/" + m.Region
		}
		where := m.Controller
		if byAccess {
			where = m.Access
		}
		row(w, m.UUID, m.Name, m.Owner, where, cr, m.Life)
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}
