package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/drift"
	"github.com/spindlehq/spindle/internal/integration"
)

func (a *app) driftCmd() *cobra.Command {
	c := &cobra.Command{Use: "drift", Short: "Find what changed in a vendor's API doc that matters to an integration"}
	var specPath string
	var timeout time.Duration
	diff := &cobra.Command{
		Use:   "diff OLD NEW --spec SPEC",
		Short: "Compare two versions of a vendor's API doc and keep the changes that touch an integration",
		Long: `Compares OLD and NEW (OpenAPI or Swagger; files or http(s) URLs) with
libopenapi's what-changed model and keeps only the changes that touch what
SPEC uses: the operations its streams request, their parameters, the
response fields its mapping and paging read, its records path and its auth
scheme. Each is classified breaking, non-breaking or deprecation; the rest
of the doc's changes are counted as ignored. Coverage drift lists NHI list
operations that are new in NEW and that no stream reads.

Exits 1 when a change is breaking, 0 otherwise. (Checking a release against
the doc pinned with it, "drift check NAME", needs the pinned doc stored with
the release and is not here yet.)`,
		Example: `  spindle drift diff ../shared/corpus/pagerduty/openapiv3.2024-01-31.json \
    ../shared/corpus/pagerduty/openapiv3.2025-03-24.json --spec proposals/pagerduty/integration.yaml`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if specPath == "" {
				return &exitError{2, fmt.Errorf("--spec SPEC is required")}
			}
			doc, err := integration.LoadFile(specPath)
			if err != nil {
				return &exitError{2, fmt.Errorf("spec %s: %w", specPath, err)}
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel func()
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			r, err := drift.Diff(ctx, args[0], args[1], doc.Spec, drift.Options{})
			if err != nil {
				return &exitError{2, err}
			}
			if a.jsonOut {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else {
				a.printDrift(r)
			}
			if r.HasBreaking() {
				return &exitError{1, fmt.Errorf("%d breaking change(s) affect %s", len(r.Breaking), doc.Spec.Metadata.Name)}
			}
			return nil
		},
	}
	diff.Flags().StringVar(&specPath, "spec", "", "the integration spec (integration.yaml) whose use of the API to check")
	diff.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "give up loading and comparing the docs after this long")
	c.AddCommand(diff)
	return c
}

func (a *app) printDrift(r *drift.Report) {
	w := a.stdout
	fmt.Fprintf(w, "old: %s (sha256 %s)\n", r.Old.Location, shortDigest(r.Old.SHA256))
	fmt.Fprintf(w, "new: %s (sha256 %s)\n\n", r.New.Location, shortDigest(r.New.SHA256))
	section := func(title string, cs []drift.Change) {
		if len(cs) == 0 {
			return
		}
		fmt.Fprintf(w, "%s (%d)\n", title, len(cs))
		for _, c := range cs {
			who := "every stream"
			if c.Stream != "" {
				who = "stream " + c.Stream
			}
			where := c.Path
			if c.Operation != "" {
				where = c.Operation + " " + c.Path
			}
			fmt.Fprintf(w, "  %s: %s\n    %s\n    what to do: %s\n", who, where, c.What, c.Action)
		}
		fmt.Fprintln(w)
	}
	section("BREAKING", r.Breaking)
	section("DEPRECATIONS", r.Deprecations)
	section("NON-BREAKING", r.NonBreaking)
	if len(r.Coverage) > 0 {
		fmt.Fprintf(w, "COVERAGE: new NHI list operations no stream reads (%d)\n", len(r.Coverage))
		for _, op := range r.Coverage {
			fmt.Fprintf(w, "  %s\n", op)
		}
		fmt.Fprintln(w)
	}
	if len(r.Unmatched) > 0 {
		fmt.Fprintf(w, "streams whose operation the old doc does not describe (not checked): %v\n\n", r.Unmatched)
	}
	fmt.Fprintf(w, "%s (%s)\n", r.Summary, r.Elapsed.Round(time.Millisecond))
}
