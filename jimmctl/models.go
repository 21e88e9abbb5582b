package jimmctl

import (
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/jimmbroker/jimm/broker/restapi"
)

func (a *app) listModelsCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "list-models",
		Aliases: []string{"models"},
		Short:   "List every model the broker routes to, and where it lives",
		Args:    noArgs,
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, _ []string) error {
			ms, err := c.ListModels(cmd.Context())
			if err != nil {
				return err
			}
			ms = sortModels(ms)
			return writeList(cmd, a.format.String(), ms, "No models.", func(w *tabwriter.Writer) {
				modelTable(w, ms)
			})
		}),
	}
}

func (a *app) showModelCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show-model <uuid>",
		Short: "Show one model and the controller that hosts it",
		Args:  argsBetween(1, "<uuid>"),
		RunE: a.withClient(func(cmd *cobra.Command, c *Client, args []string) error {
			m, err := c.GetModel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return write(cmd.OutOrStdout(), a.format.String(), m, func(w *tabwriter.Writer) {
				modelTable(w, []restapi.Model{m})
			})
		}),
	}
}
