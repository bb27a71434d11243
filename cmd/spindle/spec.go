package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/integration"
)

func (a *app) specCmd() *cobra.Command {
	c := &cobra.Command{Use: "spec", Short: "Work with integration specs"}
	c.AddCommand(&cobra.Command{
		Use:   "lint FILE",
		Short: "Check a spec's structure, CEL and policy; exit 1 on any error",
		Long: `Checks a spec against the JSON Schema (spindle schema integration),
compiles every CEL expression, and applies the policy lint: read-only
requests, one host, credentials only as a vault reference in
connection.auth, no secret values. Each finding names file:line:column,
the rule and what to do. List the rules with: spindle spec rules`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.lint(args[0])
		},
	})
	c.AddCommand(&cobra.Command{
		Use:   "rules",
		Short: "List the checks spec lint applies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.jsonOut {
				return json.NewEncoder(a.stdout).Encode(integration.Rules())
			}
			for _, r := range integration.Rules() {
				fmt.Fprintf(a.stdout, "%-9s %-7s %-20s %s\n", r.ID, r.Level, r.Name, r.Summary)
			}
			return nil
		},
	})
	return c
}

func (a *app) lint(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read spec: %w", err)
	}
	var findings integration.Findings
	doc, err := integration.Parse(path, data)
	if err != nil {
		if !errors.As(err, &findings) {
			return err
		}
	} else {
		findings = integration.Lint(doc)
	}
	nerr := len(findings.Errors())
	if a.jsonOut {
		out := struct {
			File     string                `json:"file"`
			OK       bool                  `json:"ok"`
			Findings []integration.Finding `json:"findings"`
		}{path, nerr == 0, findings}
		if out.Findings == nil {
			out.Findings = []integration.Finding{}
		}
		if err := json.NewEncoder(a.stdout).Encode(out); err != nil {
			return err
		}
	} else {
		for _, f := range findings {
			fmt.Fprintln(a.stdout, f)
		}
		if nerr == 0 {
			fmt.Fprintf(a.stdout, "%s: ok (%d warnings)\n", path, len(findings))
		}
	}
	if nerr > 0 {
		return fmt.Errorf("%s: %d errors; fix them and lint again", path, nerr)
	}
	return nil
}
