// Package rebuild turns doc drift into a proposal: when a drift check
// finds that a released integration's vendor doc changed in a way that
// matters (a breaking change, or NHI list operations it does not read),
// the build agent rebuilds the integration against the new doc — offline,
// in the sandbox, with the heuristic brain and no credential of any kind —
// writes the bundle, and files a governance proposal authored by the
// agent, carrying the drift report so a reviewer sees why. Nothing here
// approves or releases: people still decide.
//
// It is free of River; internal/jobs schedules it.
package rebuild

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/agent"
	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/draft"
	"github.com/spindlehq/spindle/internal/drift"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/integration"
)

// Result statuses.
const (
	// StatusProposed: the rebuild passed validation and is an open
	// proposal awaiting review.
	StatusProposed = "proposed"
	// StatusFailed: the agent could not produce a passing rebuild; nothing
	// was filed. Reason says why; the caller alerts.
	StatusFailed = "failed"
	// StatusDuplicate: an open proposal already holds this exact rebuilt
	// spec (an earlier run filed it); nothing new was filed.
	StatusDuplicate = "duplicate"
	// StatusNotNeeded: the check found no breaking or coverage drift.
	StatusNotNeeded = "not-needed"
)

// FileDrift is the drift report the bundle carries (JSON).
const FileDrift = "drift.json"

// Deps is what a rebuild needs. It holds no vault and no credential: the
// agent works in the sandbox only.
type Deps struct {
	DB    *sql.DB // the store's database (pinned docs)
	Gov   *governance.Service
	Audit *audit.Log
	// Drift tunes the check Run performs when Request.Check is nil, and
	// the agent's fetch of a URL doc (Drift.Surface.HTTPClient).
	Drift drift.Options
	// Budget bounds the agent (agent defaults when zero).
	Budget agent.Budget
	Now    func() time.Time
}

// Request is one rebuild.
type Request struct {
	// Integration is the released integration to rebuild.
	Integration string
	// Check is the drift check that found the drift, of the current
	// release; nil makes Run check first.
	Check *drift.CheckResult
	// OutDir receives the bundle (created if missing).
	OutDir string
	// Seed of the sandbox data (default 1).
	Seed int64
}

// Result is what a rebuild did.
type Result struct {
	Integration string `json:"integration"`
	Status      string `json:"status"`
	// Reason says why the rebuild failed or filed nothing.
	Reason string `json:"reason,omitempty"`
	// Release is the release whose drift was rebuilt.
	Release    int64  `json:"release"`
	ProposalID int64  `json:"proposal,omitempty"`
	Author     string `json:"author,omitempty"`
	Bundle     string `json:"bundle,omitempty"`
	SpecDigest string `json:"spec_sha256,omitempty"`
	// DocSHA256 is the new doc the agent built from.
	DocSHA256 string `json:"doc_sha256"`
	// Drift is the check's one-line summary.
	Drift string `json:"drift"`
}

// Filed says a proposal exists for this rebuild (new or already open).
func (r *Result) Filed() bool { return r.Status == StatusProposed || r.Status == StatusDuplicate }

// Run rebuilds req.Integration against the doc its drift check read, and
// files the result as a proposal by the agent. A rebuild that does not
// pass validation files nothing and returns a Result with StatusFailed and
// the reason (not an error): the caller alerts on it. The error is for a
// rebuild that could not be attempted (no release, a stale check, a
// database failure, a cancelled context).
func Run(ctx context.Context, d Deps, req Request) (*Result, error) {
	if d.DB == nil || d.Gov == nil || d.Audit == nil {
		return nil, errors.New("rebuild: Deps needs DB, Gov and Audit (every rebuild is audited and filed through governance)")
	}
	if strings.TrimSpace(req.OutDir) == "" {
		return nil, errors.New("rebuild: no output directory for the bundle (Request.OutDir)")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	rel, err := d.Gov.ReleasedSpec(ctx, req.Integration)
	if err != nil {
		return nil, fmt.Errorf("rebuild %s: %w", req.Integration, err)
	}
	chk := req.Check
	if chk == nil {
		if chk, err = drift.Check(ctx, d.DB, rel, d.Drift); err != nil {
			return nil, fmt.Errorf("rebuild %s: %w", req.Integration, err)
		}
	}
	// A check of an older release says nothing about what runs now.
	if chk.Integration != req.Integration || chk.Release != rel.Release.ID {
		return nil, fmt.Errorf("rebuild %s: the drift check is of %s release %d, but the current release is %d; check again",
			req.Integration, chk.Integration, chk.Release, rel.Release.ID)
	}
	res := &Result{Integration: req.Integration, Release: rel.Release.ID, DocSHA256: chk.CurrentSHA256}
	if chk.Report != nil {
		res.Drift = chk.Report.Summary
	}
	if !chk.NeedsRebuild() {
		res.Status, res.Reason = StatusNotNeeded, "the doc has no breaking change and no new NHI list operation for this integration: nothing to rebuild"
		return res, nil
	}
	if len(chk.Current) == 0 || drift.Digest(chk.Current) != chk.CurrentSHA256 {
		return nil, fmt.Errorf("rebuild %s: the drift check carries no copy of the doc it read; pass the result of drift.Check", req.Integration)
	}
	doc, err := integration.Parse("integration.yaml", rel.Spec)
	if err != nil {
		return nil, fmt.Errorf("rebuild %s: the released spec does not parse: %w", req.Integration, err)
	}
	sd := doc.Spec.Metadata.SourceDoc
	if sd == nil || sd.Location == "" {
		return nil, fmt.Errorf("rebuild %s: %w", req.Integration, drift.ErrNoPinnedDoc)
	}

	// The same name, so the proposal replaces this integration, and the
	// owner people already set.
	opts := draft.Options{Name: doc.Spec.Metadata.Name}
	if o := doc.Spec.Metadata.Owner; o != "" && o != "unassigned" {
		opts.Owner = o
	}
	brain := &agent.Heuristic{Options: opts}
	actor := audit.Actor{Kind: audit.ActorAgent, Name: governance.AgentPrincipal(brain.Name())}
	// The agent reads the doc at the recorded location itself, so the
	// rebuilt spec records that location (not a temporary copy) for the
	// next drift check; its digest is compared with the check's below.
	out, err := agent.Build(ctx, agent.Config{
		Doc: drift.DocPath(sd.Location), Brain: brain, Budget: d.Budget, Seed: req.Seed,
		HTTPClient: httpClient(d.Drift), Now: d.Now,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		res.Status, res.Reason = StatusFailed, "the agent could not read the new doc: "+err.Error()
		return res, d.auditFailure(ctx, actor, res)
	}
	explain(out, chk, rel.Release.ID)
	if err := writeBundle(out, chk, req.OutDir); err != nil {
		return nil, fmt.Errorf("rebuild %s: %w", req.Integration, err)
	}
	res.Bundle = req.OutDir
	if len(out.SpecYAML) > 0 {
		res.SpecDigest = digest(out.SpecYAML)
	}
	switch {
	case out.Doc.SHA256 != chk.CurrentSHA256:
		res.Status = StatusFailed
		res.Reason = fmt.Sprintf("the doc at %s changed again while it was rebuilt (checked %s, built from %s): run the drift check again",
			chk.Location, short(chk.CurrentSHA256), short(out.Doc.SHA256))
	case !out.Passed:
		res.Status = StatusFailed
		res.Reason = "the rebuild did not pass validation in the sandbox: " + firstOf(out.Reason, out.Stopped) + "; see " + filepath.Join(req.OutDir, agent.FileReportMD)
	}
	if err := d.auditBuild(ctx, actor, out, res); err != nil {
		return nil, fmt.Errorf("rebuild %s: %w", req.Integration, err)
	}
	if res.Status == StatusFailed {
		return res, nil
	}

	// The baseline of the proposal's future drift checks, pinned before
	// the proposal exists so none is ever filed without it.
	src := &drift.Source{Location: sd.Location, SHA256: chk.CurrentSHA256, Content: chk.Current}
	if _, _, err := drift.PinSource(ctx, d.DB, d.Audit, actor, audit.BoundarySandbox, src, d.Now()); err != nil {
		return nil, fmt.Errorf("rebuild %s: %w", req.Integration, err)
	}
	in, err := governance.ReadBundle(req.OutDir)
	if err != nil {
		return nil, fmt.Errorf("rebuild %s: %w", req.Integration, err)
	}
	in.Author = "" // the agent that built it, from report.json: never a person
	p, err := d.Gov.Propose(ctx, in)
	switch {
	case governance.IsRefused(err, governance.RuleDuplicate):
		res.Status, res.Reason = StatusDuplicate, err.Error()
		// Name the open proposal that already holds this spec (none when
		// the spec is the current release itself).
		open, lerr := d.Gov.Proposals(ctx, governance.StatusOpen)
		if lerr != nil {
			return nil, fmt.Errorf("rebuild %s: %w", req.Integration, lerr)
		}
		for _, op := range open {
			if op.Integration == req.Integration && op.SpecDigest == res.SpecDigest {
				res.ProposalID, res.Author = op.ID, op.Author
			}
		}
		return res, nil
	case err != nil:
		return nil, fmt.Errorf("rebuild %s: file the proposal: %w", req.Integration, err)
	}
	res.Status, res.ProposalID, res.Author = StatusProposed, p.ID, p.Author
	return res, nil
}

func httpClient(o drift.Options) *http.Client { return o.Surface.HTTPClient }

// explain puts the drift into the outcome a reviewer reads: the notes
// (report.md, report.json) and the first question (`spindle review`).
func explain(out *agent.Outcome, chk *drift.CheckResult, release int64) {
	r := chk.Report
	var b strings.Builder
	fmt.Fprintf(&b, "Rebuilt on doc drift: the vendor doc at %s changed since release %d was built (sha256 %s → %s).\n",
		chk.Location, release, short(chk.PinnedSHA256), short(chk.CurrentSHA256))
	fmt.Fprintf(&b, "%s.\n", r.Summary)
	for _, c := range r.Breaking {
		fmt.Fprintf(&b, "Breaking: %s\n", changeLine(c))
	}
	for _, c := range r.Deprecations {
		fmt.Fprintf(&b, "Deprecated: %s\n", changeLine(c))
	}
	for _, op := range r.Coverage {
		fmt.Fprintf(&b, "New NHI list not read by the release: %s\n", op)
	}
	for _, n := range chk.Notes {
		fmt.Fprintf(&b, "Not covered by the check: %s\n", n)
	}
	fmt.Fprintf(&b, "The full drift report is %s in the bundle.\n", FileDrift)
	if out.Notes != "" {
		b.WriteString("\n" + out.Notes)
	}
	out.Notes = b.String()
	q := fmt.Sprintf("This proposal is a rebuild on doc drift of release %d (%d breaking, %d deprecation(s), %d new NHI list(s)): does the diff against the release handle each change listed in the notes?",
		release, len(r.Breaking), len(r.Deprecations), len(r.Coverage))
	out.Questions = append([]string{q}, out.Questions...)
}

func changeLine(c drift.Change) string {
	where := c.Path
	if c.Operation != "" {
		where = c.Operation + " " + c.Path
	}
	if c.Stream != "" {
		where = "stream " + c.Stream + ": " + where
	}
	return where + " — " + c.What
}

// writeBundle writes the agent's bundle, the drift report and the copy of
// the doc it was built from (so the bundle can be proposed again, and its
// doc pinned, after the vendor changes the doc once more).
func writeBundle(out *agent.Outcome, chk *drift.CheckResult, dir string) error {
	if err := out.WriteBundle(dir); err != nil {
		return err
	}
	b, err := json.MarshalIndent(chk, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, FileDrift), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", FileDrift, err)
	}
	if out.Doc.SHA256 == chk.CurrentSHA256 {
		if err := os.WriteFile(filepath.Join(dir, drift.BundleDocFile), chk.Current, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", drift.BundleDocFile, err)
		}
	}
	return nil
}

// auditBuild records the rebuild in one transaction: every tool call the
// agent made and the verdict, boundary sandbox. Tool arguments go in as
// their digest and size; the bundle's transcript has them whole.
func (d Deps) auditBuild(ctx context.Context, actor audit.Actor, out *agent.Outcome, res *Result) error {
	object := "integration:" + res.Integration
	evs := make([]audit.Event, 0, len(out.Transcript)+1)
	for _, e := range out.Transcript {
		action := "agent.note." + firstOf(e.Kind, "unknown")
		if e.Kind == "tool" {
			action = "agent.tool." + firstOf(e.Tool, "unknown")
		}
		det := map[string]any{"seq": e.Seq, "summary": clip(e.Summary, 500), "is_error": e.IsError, "rebuild_of_release": res.Release}
		if len(e.Args) > 0 {
			det["args_sha256"], det["args_bytes"] = digest(e.Args), len(e.Args)
		}
		evs = append(evs, audit.Event{Actor: actor, Action: action, Object: object, Boundary: audit.BoundarySandbox, Details: det})
	}
	verdict := map[string]any{
		"release": res.Release, "passed": out.Passed, "doc": out.Doc.Location, "doc_sha256": out.Doc.SHA256,
		"drift": clip(res.Drift, 500), "tool_calls": len(out.Transcript), "bundle": res.Bundle,
	}
	if res.SpecDigest != "" {
		verdict["spec_sha256"] = res.SpecDigest
	}
	if res.Reason != "" {
		verdict["reason"] = clip(res.Reason, 500)
	}
	evs = append(evs, audit.Event{Actor: actor, Action: "rebuild.build", Object: object, Boundary: audit.BoundarySandbox, Details: verdict})
	return d.appendAll(ctx, evs)
}

// auditFailure records a rebuild that could not start building.
func (d Deps) auditFailure(ctx context.Context, actor audit.Actor, res *Result) error {
	return d.appendAll(ctx, []audit.Event{{Actor: actor, Action: "rebuild.build", Object: "integration:" + res.Integration, Boundary: audit.BoundarySandbox,
		Details: map[string]any{"release": res.Release, "passed": false, "reason": clip(res.Reason, 500), "drift": clip(res.Drift, 500)}}})
}

func (d Deps) appendAll(ctx context.Context, evs []audit.Event) error {
	tx, err := d.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("audit the rebuild: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, ev := range evs {
		if _, err := d.Audit.AppendTx(ctx, tx, ev); err != nil {
			return fmt.Errorf("audit the rebuild: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit the rebuild: %w", err)
	}
	return nil
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func short(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return s
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
