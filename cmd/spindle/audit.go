package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/agent"
	"github.com/spindlehq/spindle/internal/audit"
)

// auditCommands registers `spindle audit log` and `spindle audit verify`.
func (a *app) auditCommands() []*cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "Read and verify the append-only, hash-chained audit log",
		Long: `Every action — a person's approval, an agent's tool call, a scheduled sync —
is recorded in the audit log in the database (--db): who acted (person,
agent or scheduler), what they did, to which object, across which
boundary (sandbox, production or none) and when. Entries are written in
the same transaction as the change they record, and each entry's hash
covers its content and the previous entry's hash, so an edit, a deletion
or a reordering anywhere breaks the chain.`,
		Example: `  spindle audit log --limit 20
  spindle audit log --actor agent:heuristic --action agent.tool --json
  spindle audit verify
  spindle audit verify --head 42:3f5a…`,
	}
	c.AddCommand(a.auditLogCmd(), a.auditVerifyCmd())
	return []*cobra.Command{c}
}

// openAuditLog opens the audit log of an existing database: reading or
// verifying a log that was never written is a mistake in --db, not an
// empty log.
func (a *app) openAuditLog(cmd *cobra.Command) (*audit.Log, func() error, error) {
	st, err := a.openDB(cmd.Context(), true, "no database at %s: nothing was audited there; pass --db (or set SPINDLE_DB) to the database your builds and approvals wrote")
	if err != nil {
		return nil, nil, err
	}
	return audit.New(st.DB(), audit.Options{}), st.Close, nil
}

func validAuditBoundary(b string) bool {
	switch b {
	case audit.BoundarySandbox, audit.BoundaryProduction, audit.BoundaryNone:
		return true
	}
	return false
}

func (a *app) auditLogCmd() *cobra.Command {
	var f audit.Filter
	c := &cobra.Command{
		Use:   "log",
		Short: "List audit entries in chain order (the newest 100 by default)",
		Long: `Lists the audit log's entries in chain order: seq, time (UTC), actor
(kind:name), action, object, boundary and details. By default the newest
100 entries; --limit 0 for all, --after SEQ to read on from an entry.

--actor takes a name or kind:name (person:alice, agent:heuristic,
scheduler:river). --action takes an action or a dotted prefix of actions:
--action agent.tool selects every agent tool call.

--json prints one entry per line (JSON Lines) with its prev_hash and hash.
This lists what is stored; ` + "`spindle audit verify`" + ` says whether it is intact.`,
		Example: `  spindle audit log
  spindle audit log --actor alice --boundary production
  spindle audit log --action agent --object build:1a2b3c4d5e6f --limit 0 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case f.Boundary != "" && !validAuditBoundary(f.Boundary):
				return &exitError{2, fmt.Errorf("--boundary %q: want sandbox, production or none", f.Boundary)}
			case f.Limit < 0:
				return &exitError{2, fmt.Errorf("--limit %d: want 0 (all) or more", f.Limit)}
			case f.After < 0:
				return &exitError{2, fmt.Errorf("--after %d: want a seq, 0 or more", f.After)}
			}
			// The newest entries are what a person asks for first; with
			// --after the oldest after it, to read on page by page.
			f.Tail = f.After == 0
			l, closeDB, err := a.openAuditLog(cmd)
			if err != nil {
				return err
			}
			defer closeDB()
			es, err := l.List(cmd.Context(), f)
			if err != nil {
				return err
			}
			if a.jsonOut {
				enc := json.NewEncoder(a.stdout)
				enc.SetEscapeHTML(false)
				for _, e := range es {
					if err := enc.Encode(e); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tACTION\tOBJECT\tBOUNDARY\tDETAILS")
			for _, e := range es {
				details := "-"
				if len(e.Details) > 0 {
					b, _ := json.Marshal(e.Details)
					details = auditClip(string(b), 80)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s:%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Format(time.RFC3339), e.Actor.Kind, e.Actor.Name,
					e.Action, auditDash(e.Object), e.Boundary, details)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "%d entries\n", len(es))
			return nil
		},
	}
	c.Flags().StringVar(&f.Actor, "actor", "", "only this actor: NAME or KIND:NAME")
	c.Flags().StringVar(&f.Action, "action", "", "only this action, or actions under this dotted prefix")
	c.Flags().StringVar(&f.Object, "object", "", "only this object (proposal:12, integration:okta, build:…)")
	c.Flags().StringVar(&f.Boundary, "boundary", "", "only sandbox, production or none")
	c.Flags().Int64Var(&f.After, "after", 0, "only entries after this seq, oldest first")
	c.Flags().IntVar(&f.Limit, "limit", 100, "at most this many (0: all)")
	return c
}

// maxAuditProblemsShown bounds the problems printed as text; --json has the
// report's first hundred.
const maxAuditProblemsShown = 10

func (a *app) auditVerifyCmd() *cobra.Command {
	var head string
	c := &cobra.Command{
		Use:   "verify",
		Short: "Check that the audit log is intact",
		Long: `Reads the whole audit log in seq order and recomputes every entry's hash.
It finds an edited entry (its content no longer matches its hash), deleted
entries (a gap in seq, a broken link to the previous hash), reordered or
renumbered entries, and entries inserted by hand.

What no chain can show by itself: deleting the newest entries leaves a
shorter chain that is still valid, and whoever can write the database file
can rewrite an entry and recompute every hash after it. Against both,
record the head this command prints (SEQ:HASH) somewhere the database's
writers cannot change — a ticket, a release note, a signed approval — and
verify against it later with --head: the log must still contain that
entry, unchanged.

Exit status: 0 when the log is intact, 1 when it is not (the first
problems are named; --json prints the report), 2 for usage errors.`,
		Example: `  spindle audit verify
  spindle audit verify --json
  spindle audit verify --head 42:3f5a0c…   # the head printed by an earlier verify`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if head != "" {
				if _, err := audit.ParseCheckpoint(head); err != nil {
					return &exitError{2, fmt.Errorf("--head: %w", err)}
				}
			}
			l, closeDB, err := a.openAuditLog(cmd)
			if err != nil {
				return err
			}
			defer closeDB()
			var rep audit.Report
			if head != "" {
				rep, err = l.VerifyHead(cmd.Context(), head)
			} else {
				rep, err = l.Verify(cmd.Context())
			}
			if err != nil {
				return err
			}
			if a.jsonOut {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				a.printAuditReport(rep, head)
			}
			if rep.OK {
				return nil
			}
			first := rep.Problems[0]
			return fmt.Errorf("the audit log is NOT intact: %s, the first at seq %d: %s",
				plural(len(rep.Problems)+int(rep.Omitted), "problem"), first.Seq, first.What)
		},
	}
	c.Flags().StringVar(&head, "head", "", "a head recorded earlier (SEQ:HASH, or a bare HASH) that the log must still contain")
	return c
}

func (a *app) printAuditReport(rep audit.Report, head string) {
	w := a.stdout
	if rep.OK {
		fmt.Fprintf(w, "intact: %d entries", rep.Entries)
		if head != "" {
			fmt.Fprintf(w, ", including the recorded head %s", head)
		}
		fmt.Fprintln(w)
		if rep.Entries > 0 {
			fmt.Fprintf(w, "head: %s\n", rep.Checkpoint())
			fmt.Fprintf(a.stderr, "record the head outside the database; `spindle audit verify --head %s` later also detects deleted newest entries and rewritten tails\n", rep.Checkpoint())
		}
		return
	}
	n := len(rep.Problems) + int(rep.Omitted)
	fmt.Fprintf(w, "NOT INTACT: %s in %d entries\n", plural(n, "problem"), rep.Entries)
	for i, p := range rep.Problems {
		if i == maxAuditProblemsShown {
			fmt.Fprintf(w, "  … and %d more (--json lists the first %d)\n", n-maxAuditProblemsShown, len(rep.Problems))
			break
		}
		fmt.Fprintf(w, "  seq %d: %s\n", p.Seq, p.What)
	}
}

func auditDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// auditClip cuts s to at most n runes, marking the cut.
func auditClip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// maxSummaryInAudit bounds a transcript summary in its audit entry, well
// inside the entry's 8 KiB: the transcript in the bundle keeps it whole.
const maxSummaryInAudit = 1000

// auditBuild records a finished build in the audit log of --db: one entry
// per transcript entry (every tool call the agent made, and every note)
// and one "agent.build" entry with the verdict, all in one transaction, so
// the log holds the whole build or none of it. Tool arguments are recorded
// as their SHA-256 and size, not their text: a spec is kilobytes, and the
// transcript in the bundle has them whole — the digest ties the two.
func (a *app) auditBuild(ctx context.Context, out *agent.Outcome) error {
	if out == nil {
		return errors.New("audit the build: no outcome to record")
	}
	st, err := a.openDB(ctx, false, "")
	if err != nil {
		return fmt.Errorf("audit the build: %w", err)
	}
	defer st.Close()
	db := st.DB()
	l := audit.New(db, audit.Options{})
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("audit the build: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, ev := range buildAuditEvents(out) {
		if _, err := l.AppendTx(ctx, tx, ev); err != nil {
			return fmt.Errorf("audit the build: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit the build: %w", err)
	}
	return nil
}

// buildAuditEvents are the audit events of a build, in transcript order with
// the verdict last.
func buildAuditEvents(out *agent.Outcome) []audit.Event {
	actor := audit.Actor{Kind: audit.ActorAgent, Name: firstOf(out.Brain, "unknown")}
	object := "build:unknown"
	if d := out.Doc.SHA256; d != "" {
		object = "build:" + d[:min(len(d), 12)]
	}
	evs := make([]audit.Event, 0, len(out.Transcript)+1)
	for _, e := range out.Transcript {
		action := "agent.note." + firstOf(e.Kind, "unknown")
		if e.Kind == "tool" {
			action = "agent.tool." + firstOf(e.Tool, "unknown")
		}
		d := map[string]any{
			"seq":        e.Seq,
			"at_ms":      e.AtMS,
			"summary":    auditClip(e.Summary, maxSummaryInAudit),
			"is_error":   e.IsError,
			"elapsed_ms": e.ElapsedMS,
		}
		if len(e.Args) > 0 {
			sum := sha256.Sum256(e.Args)
			d["args_sha256"] = hex.EncodeToString(sum[:])
			d["args_bytes"] = len(e.Args)
		}
		evs = append(evs, audit.Event{Actor: actor, Action: action, Object: object, Boundary: audit.BoundarySandbox, Details: d})
	}
	verdict := map[string]any{
		"passed":      out.Passed,
		"stopped":     auditClip(out.Stopped, maxSummaryInAudit),
		"doc":         auditClip(out.Doc.Location, 512),
		"doc_sha256":  out.Doc.SHA256,
		"iterations":  out.Usage.Iterations,
		"validations": out.Usage.Validations,
		"tool_calls":  len(out.Transcript),
	}
	if out.Reason != "" {
		verdict["reason"] = auditClip(out.Reason, maxSummaryInAudit)
	}
	if len(out.SpecYAML) > 0 {
		// The digest report.json carries: what a proposal of this bundle
		// will be registered under.
		sum := sha256.Sum256(out.SpecYAML)
		verdict["spec_sha256"] = hex.EncodeToString(sum[:])
	}
	if out.Facts != nil && out.Facts.Name != "" {
		verdict["integration"] = out.Facts.Name
	}
	if c := out.Scorecard; c != nil {
		verdict["checks"] = len(c.Checks)
		verdict["checks_failed"] = len(c.Failed())
		verdict["verdict_seed"] = c.Seed
	}
	evs = append(evs, audit.Event{Actor: actor, Action: "agent.build", Object: object, Boundary: audit.BoundarySandbox, Details: verdict})
	return evs
}
