package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/drift"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/rebuild"
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

Exits 1 when a change is breaking, 0 otherwise. To check a release against
the doc pinned with it, use "drift check NAME".`,
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
	c.AddCommand(diff, a.driftCheckCmd())
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

// openDrift opens the database at --db with its audit log and governance;
// drift checks and pinning also need the database itself (pinned_docs).
// With mustExist a missing database is an error instead of a new one.
func (a *app) openDrift(ctx context.Context, mustExist bool) (database, *governance.Service, *audit.Log, error) {
	st, err := a.openDB(ctx, mustExist, "no database at %s: nothing was released there; pass --db (or set SPINDLE_DB) to the database your releases are in")
	if err != nil {
		return nil, nil, nil, err
	}
	log := audit.New(st.DB(), audit.Options{})
	g, err := governance.New(st.DB(), governance.Options{Audit: log})
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	return st, g, log, nil
}

func (a *app) driftCheckCmd() *cobra.Command {
	var timeout time.Duration
	var rebuildDir string
	c := &cobra.Command{
		Use:   "check NAME",
		Short: "Check a released integration's vendor doc against the doc pinned with its release",
		Long: `Reads the vendor doc from the location the current release of NAME
records (metadata.source_doc: a file or an http(s) URL) and compares it with
the exact bytes pinned in the database when the release was proposed. An
unchanged doc (same sha256) is reported as such without a comparison;
otherwise the changes that touch what the spec uses are printed as by
"drift diff": breaking, deprecation, non-breaking, and coverage drift (new
NHI list operations the integration does not read).

With --rebuild DIR, a breaking change or coverage drift makes the build
agent rebuild the integration against the new doc, in the sandbox only, and
file the bundle in DIR as a proposal authored by the agent, with the drift
in its notes. Nothing is approved or released: people review it.

Only the root document is pinned: in a multi-file doc, changes inside the
files it references are not seen (a note says so).

Exits 1 when a change is breaking, when the doc cannot be read or has no
pinned baseline, or when a rebuild fails; 0 otherwise.`,
		Example: `  spindle drift check pagerduty
  spindle drift check pagerduty --json
  spindle drift check pagerduty --rebuild proposals/pagerduty-rebuild`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel func()
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			st, g, log, err := a.openDrift(ctx, true)
			if err != nil {
				return err
			}
			defer st.Close()
			rel, err := g.ReleasedSpec(ctx, args[0])
			if err != nil {
				return err
			}
			res, err := drift.Check(ctx, st.DB(), rel, drift.Options{})
			if err != nil {
				return err
			}
			var rb *rebuild.Result
			if rebuildDir != "" && res.NeedsRebuild() {
				rb, err = rebuild.Run(ctx, rebuild.Deps{DB: st.DB(), Gov: g, Audit: log},
					rebuild.Request{Integration: args[0], Check: res, OutDir: rebuildDir})
				if err != nil {
					return err
				}
			}
			if a.jsonOut {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(struct {
					*drift.CheckResult
					Rebuild *rebuild.Result `json:"rebuild,omitempty"`
				}{res, rb}); err != nil {
					return err
				}
			} else {
				a.printCheck(res, rb, rebuildDir != "")
			}
			if res.HasBreaking() {
				return &exitError{1, fmt.Errorf("%d breaking change(s) affect %s release %d: %s", len(res.Report.Breaking), res.Integration, res.Release, nextStep(rb))}
			}
			if rb != nil && rb.Status == rebuild.StatusFailed {
				return &exitError{1, fmt.Errorf("the rebuild of %s failed: %s", res.Integration, rb.Reason)}
			}
			return nil
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "give up reading, comparing (and rebuilding) after this long")
	c.Flags().StringVar(&rebuildDir, "rebuild", "", "on breaking or coverage drift, rebuild in the sandbox into this bundle directory and file it as the agent's proposal")
	return c
}

func nextStep(rb *rebuild.Result) string {
	switch {
	case rb == nil:
		return "rebuild against the new doc (`spindle drift check NAME --rebuild DIR`, or `spindle build`) and review the proposal before the next sync"
	case rb.Filed():
		return fmt.Sprintf("the agent's rebuild is proposal %d: review it (`spindle review %d`)", rb.ProposalID, rb.ProposalID)
	}
	return "the rebuild failed (" + rb.Reason + "); fix the integration by hand and propose it"
}

func (a *app) printCheck(r *drift.CheckResult, rb *rebuild.Result, askedRebuild bool) {
	w := a.stdout
	if !r.Changed {
		fmt.Fprintf(w, "%s release %d: the doc at %s is unchanged since it was pinned (sha256 %s): nothing to compare\n",
			r.Integration, r.Release, r.Location, shortDigest(r.PinnedSHA256))
	} else {
		fmt.Fprintf(w, "%s release %d: the doc at %s changed since it was pinned (sha256 %s → %s)\n\n",
			r.Integration, r.Release, r.Location, shortDigest(r.PinnedSHA256), shortDigest(r.CurrentSHA256))
		a.printDrift(r.Report)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	switch {
	case rb == nil && askedRebuild:
		fmt.Fprintln(w, "rebuild: not needed (no breaking change, no coverage drift)")
	case rb == nil:
	case rb.Status == rebuild.StatusProposed:
		fmt.Fprintf(w, "rebuild: proposal %d filed by %s (bundle %s); review it with `spindle review %d`\n", rb.ProposalID, rb.Author, rb.Bundle, rb.ProposalID)
	case rb.Status == rebuild.StatusDuplicate:
		fmt.Fprintf(w, "rebuild: nothing new filed: %s\n", rb.Reason)
	default:
		fmt.Fprintf(w, "rebuild: FAILED, nothing filed: %s\n", rb.Reason)
	}
}

// pinProposalDoc pins the exact vendor doc a bundle's spec was built from
// (metadata.source_doc), read from the bundle's copy or the recorded
// location and verified against the spec's digest, before the proposal is
// filed, so no proposal exists without its drift baseline. A doc that
// changed since the build is refused; one that cannot be read at all is
// a warning (the proposal goes ahead, and drift checks of it will say
// there is no pinned doc).
func (a *app) pinProposalDoc(ctx context.Context, st database, g *governance.Service, log *audit.Log, dir string, in governance.ProposeInput) error {
	doc, err := integration.Parse(governance.BundleSpec, in.Spec)
	if err != nil {
		return nil // Propose says what is wrong with the spec
	}
	sd := doc.Spec.Metadata.SourceDoc
	if sd == nil || sd.Location == "" || sd.SHA256 == "" {
		fmt.Fprintf(a.stderr, "note: %s names no source doc with its sha256, so no doc is pinned and `spindle drift check` will have no baseline; rebuild from a doc to enable drift checks\n", governance.BundleSpec)
		return nil
	}
	// Who files it, as Propose will name them: checked first, so nobody
	// without the right to propose writes to the database.
	principal := in.Author
	if principal == "" {
		var rep struct {
			Brain string `json:"brain"`
		}
		if json.Unmarshal(in.Report, &rep) != nil || rep.Brain == "" {
			return nil // Propose refuses a bundle without its brain
		}
		principal = governance.AgentPrincipal(rep.Brain)
	}
	if err := g.Authorize(ctx, principal, governance.ActionProposalCreate); err != nil {
		return err
	}
	src, err := drift.SourceFor(ctx, doc.Spec, dir, drift.Options{})
	switch {
	case errors.Is(err, drift.ErrDocUnreadable):
		fmt.Fprintf(a.stderr, "warning: the doc the spec was built from is not pinned: %v\n  `spindle drift check %s` will have no baseline until it is rebuilt from a readable doc\n", err, doc.Spec.Metadata.Name)
		return nil
	case err != nil:
		return err
	}
	actor := audit.Actor{Kind: audit.ActorPerson, Name: principal}
	if governance.IsAgent(principal) {
		actor.Kind = audit.ActorAgent
	}
	if _, _, err := drift.PinSource(ctx, st.DB(), log, actor, audit.BoundaryNone, src, time.Now()); err != nil {
		return fmt.Errorf("nothing was proposed: %w", err)
	}
	return nil
}
