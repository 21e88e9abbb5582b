package jimmctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// QueryTimeout bounds a model query's request (when the client's own
// timeout is shorter): the broker gives a query two minutes.
const QueryTimeout = 3 * time.Minute

// QueryModels runs a jq expression over the status of every model the
// caller may read and returns each model's outputs or error. An
// expression that does not compile is an *APIError with code
// restapi.CodeBadRequest.
func (c *Client) QueryModels(ctx context.Context, expr string) (restapi.QueryModelsResult, error) {
	var resp restapi.QueryModelsResult
	if strings.TrimSpace(expr) == "" {
		return resp, fmt.Errorf("empty jq expression (try `.` for the whole status)")
	}
	qc := *c
	if qc.timeout > 0 && qc.timeout < QueryTimeout {
		qc.timeout = QueryTimeout
	}
	err := qc.do(ctx, "query models", http.MethodPost, restapi.PathQueryModels, nil, true,
		restapi.QueryModelsRequest{Query: expr}, &resp)
	return resp, err
}

func (a *app) queryModelsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "query-models <jq-expression>",
		Short: "Run a jq expression over the status of every model you may read",
		Long: `Run a jq expression over the status of every model you may read (every model,
for a broker administrator), fetched from the controllers in parallel, and print
what it gives for each model.

The expression's input is the model's status as the Juju API gives it
(Client.FullStatus), not the shape of juju status --format json: "model",
"machines", "applications", "remote-applications", "offers", "relations";
an application's "charm" is its charm URL, e.g. ch:amd64/jammy/postgresql-12.
The model's "uuid", "name" and "owner" are added under "model". The dialect is
gojq's (https://github.com/itchyny/gojq); the expression sees no environment,
no modules and no other input.

By default, each model that gave output is printed as "<name> (<uuid>):"
followed by its outputs, one JSON value a line; a model whose status could
not be read, or on which the expression failed, shows its error. Models that
gave no output are left out: --format json or yaml shows every model, by
UUID. Exits with status 1 when the expression is not valid jq; a model that
could not be queried is reported with a warning on stderr.`,
		Example: `  # Which applications run a postgresql charm, model by model:
  jimmctl query-models '.applications | to_entries[] | select(.value.charm | contains("postgresql")) | .key'
  # Models with an application of charm revision 12:
  jimmctl query-models '.applications[] | select(.charm | test("-12$")) | .charm'
  # Every model's agent version, as JSON:
  jimmctl query-models --format json '.model.version'`,
		Args: argsBetween(1, "<jq-expression>"),
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			res, err := c.QueryModels(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f := a.format.String(); f != FormatTabular && f != "" {
				if err := write(cmd.OutOrStdout(), f, res, nil); err != nil {
					return err
				}
			} else {
				shown, err := writeQueryResult(cmd.OutOrStdout(), res)
				if err != nil {
					return err
				}
				switch {
				case len(res.Models) == 0:
					fmt.Fprintln(cmd.ErrOrStderr(), "No models to query.")
				case shown == 0:
					fmt.Fprintf(cmd.ErrOrStderr(), "No output from any of the %d models queried.\n", len(res.Models))
				}
			}
			warnQueryResult(cmd.ErrOrStderr(), res)
			return nil
		}),
	}
}

// writeQueryResult prints, model by model (by name, owner and UUID),
// "<name> (<uuid>):" then each output as one line of JSON, or the
// model's error; models that gave neither are left out. It returns how
// many models it printed.
func writeQueryResult(w io.Writer, res restapi.QueryModelsResult) (int, error) {
	uuids := make([]string, 0, len(res.Models))
	for uuid := range res.Models {
		uuids = append(uuids, uuid)
	}
	slices.SortFunc(uuids, func(x, y string) int {
		mx, my := res.Models[x], res.Models[y]
		if c := strings.Compare(mx.Name, my.Name); c != 0 {
			return c
		}
		if c := strings.Compare(mx.Owner, my.Owner); c != 0 {
			return c
		}
		return strings.Compare(x, y)
	})
	var buf bytes.Buffer
	shown := 0
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, uuid := range uuids {
		m := res.Models[uuid]
		if len(m.Outputs) == 0 && m.Error == "" {
			continue
		}
		shown++
		fmt.Fprintf(&buf, "%s (%s):\n", m.Name, uuid)
		for _, o := range m.Outputs {
			buf.WriteString("  ")
			if err := enc.Encode(o); err != nil {
				return 0, fmt.Errorf("format the output of model %s (%s) as JSON: %w", m.Name, uuid, err)
			}
		}
		if m.Error != "" {
			fmt.Fprintf(&buf, "  error: %s\n", m.Error)
		}
	}
	_, err := w.Write(buf.Bytes())
	return shown, err
}

// warnQueryResult warns on w of the models that could not be queried,
// or not fully.
func warnQueryResult(w io.Writer, res restapi.QueryModelsResult) {
	failed := 0
	for _, m := range res.Models {
		if m.Error != "" {
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(w, "WARNING %d of %d models could not be queried, or not fully: see their errors\n", failed, len(res.Models))
	}
	if res.Omitted > 0 {
		fmt.Fprintf(w, "WARNING %d more models were not queried: a query covers at most %d models\n", res.Omitted, len(res.Models))
	}
	if res.Truncated {
		fmt.Fprintln(w, "WARNING the output reached the broker's limit and was cut: narrow the expression")
	}
}
