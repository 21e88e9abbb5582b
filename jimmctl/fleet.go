package jimmctl

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/jimmbroker/jimm/broker/restapi"
)

// Check lists the differences between the broker's models and its
// controllers'.
func (c *Client) Check(ctx context.Context) (restapi.ConsistencyReport, error) {
	var resp restapi.ConsistencyReport
	err := c.do(ctx, "check the broker against its controllers", http.MethodGet, restapi.PathCheck, nil, true, nil, &resp)
	return resp, err
}

// Reconcile runs a reconciliation pass now.
func (c *Client) Reconcile(ctx context.Context) (restapi.ReconcileResult, error) {
	var resp restapi.ReconcileResult
	err := c.do(ctx, "reconcile the broker with its controllers", http.MethodPost, restapi.PathReconcile, nil, true, nil, &resp)
	return resp, err
}

// ImportModel adopts a model that controller hosts and the broker does
// not know.
func (c *Client) ImportModel(ctx context.Context, controller, uuid string) (restapi.Model, error) {
	var resp restapi.Model
	if err := checkName("controller", controller); err != nil {
		return resp, err
	}
	if err := checkName("model UUID", uuid); err != nil {
		return resp, err
	}
	err := c.do(ctx, fmt.Sprintf("import model %s from controller %q", uuid, controller), http.MethodPost,
		restapi.PathController+url.PathEscape(controller)+restapi.PathImport, nil, true, restapi.ImportModelRequest{ModelUUID: uuid}, &resp)
	return resp, err
}

func (a *app) checkCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Compare the broker's models with every controller's and list each difference",
		Long: `Compare the broker's models with every controller's and list each difference:
models a controller hosts that the broker does not know (adopt one with
import-model), models the broker routes to a controller that does not have
them, model creations not ended, controllers that did not answer. Nothing is
changed. Exits with status 1 when there is a difference.`,
		Args: noArgs,
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, _ []string) error {
			res, err := c.Check(cmd.Context())
			if err != nil {
				return err
			}
			if len(res.Differences) == 0 && a.format.String() == FormatTabular {
				fmt.Fprintln(cmd.OutOrStdout(), "No differences: the broker and its controllers agree.")
				return nil
			}
			if err := write(cmd.OutOrStdout(), a.format.String(), res, func(w *tabwriter.Writer) { differenceTable(w, res.Differences) }); err != nil {
				return err
			}
			if n := len(res.Differences); n > 0 {
				return fmt.Errorf("%d difference(s) between the broker and its controllers", n)
			}
			return nil
		}),
	}
}

func (a *app) reconcileCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "reconcile",
		Short: "Run a reconciliation pass now and show what it found and did",
		Long: `Run a reconciliation pass now (the broker runs one on start and periodically):
finish or undo model creations a broker replica began and did not end, and
forget dying models their controller no longer has. Models the broker never
knew are reported, not touched.`,
		Args: noArgs,
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, _ []string) error {
			res, err := c.Reconcile(cmd.Context())
			if err != nil {
				return err
			}
			return write(cmd.OutOrStdout(), a.format.String(), res, func(w *tabwriter.Writer) {
				row(w, "ACTION", "CONTROLLER", "MODEL", "UUID", "ERROR")
				for _, act := range res.Actions {
					row(w, act.Action, orDash(act.Controller), orDash(act.Model), orDash(act.ModelUUID), orDash(act.Error))
				}
				if len(res.Actions) == 0 {
					row(w, "(nothing to do)", "-", "-", "-", "-")
				}
			})
		}),
	}
}

func (a *app) importModelCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "import-model <controller> <model-uuid>",
		Short: "Adopt a model a controller hosts that the broker does not know",
		Long: `Adopt a model a controller hosts that the broker does not know (jimmctl
check lists them as unknown-model): the broker routes it from now on, and
its owner on the controller becomes its administrator in the broker.`,
		Args: argsBetween(2, "<controller>", "<model-uuid>"),
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			m, err := c.ImportModel(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return write(cmd.OutOrStdout(), a.format.String(), m, func(w *tabwriter.Writer) {
				modelTable(w, []restapi.Model{m})
			})
		}),
	}
}

func differenceTable(w *tabwriter.Writer, ds []restapi.Difference) {
	row(w, "KIND", "CONTROLLER", "MODEL", "UUID", "DETAIL")
	for _, d := range ds {
		row(w, d.Kind, orDash(d.Controller), orDash(d.Model), orDash(d.ModelUUID), d.Detail)
	}
}
