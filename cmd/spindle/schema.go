package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/nhi"
)

func (a *app) schemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:       "schema nhi|integration",
		Short:     "Print a JSON Schema: a canonical NHI record, or an integration spec",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"nhi", "integration"},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case "nhi":
				_, err := a.stdout.Write(nhi.RecordSchema())
				return err
			case "integration":
				_, err := a.stdout.Write(integration.Schema())
				return err
			}
			return &exitError{2, fmt.Errorf("unknown schema %q: want nhi or integration", args[0])}
		},
	}
}
