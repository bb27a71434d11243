package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/drift"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/lifecycle"
	"github.com/spindlehq/spindle/internal/production"
	"github.com/spindlehq/spindle/internal/rebuild"
)

// Finding ids the jobs raise. "schedule" fails when a schedule cannot run
// (its person lost the right, the integration was offboarded, or every
// attempt of a sync failed); the drift ones come from the daily
// validation and the rebuild it calls for.
const (
	FindingSchedule      = "schedule"
	FindingDriftBreaking = production.DriftPrefix + "breaking"
	FindingDriftCoverage = production.DriftPrefix + "coverage"
	FindingDriftDoc      = production.DriftPrefix + "doc"
	FindingDriftRebuild  = production.DriftPrefix + "rebuild"
)

// started logs a job's start and returns its logger and a function that
// logs its end: finished, or the error River records (and retries unless
// it cancelled the job).
func (q *Queue) started(row *rivertype.JobRow, integration string) (*slog.Logger, func(error, ...any) error) {
	log := q.log.With("job_id", row.ID, "kind", row.Kind, "attempt", row.Attempt, "max_attempts", row.MaxAttempts)
	if integration != "" {
		log = log.With("integration", integration)
	}
	start := time.Now()
	log.Info("job start")
	return log, func(err error, attrs ...any) error {
		attrs = append(attrs, "duration", time.Since(start).Round(time.Millisecond).String())
		var cancel *rivertype.JobCancelError
		switch {
		case err == nil:
			log.Info("job finish", attrs...)
		case errors.As(err, &cancel):
			log.Error("job cancelled", append(attrs, "error", err.Error())...)
		default:
			log.Error("job error", append(attrs, "error", err.Error())...)
		}
		return err
	}
}

// recorded logs what recording findings alerted, and a delivery failure.
func recorded(log *slog.Logger, r *production.Recorded) {
	attrs := []any{"health", string(r.Result.Health), "failing", r.Result.Failing(), "alert", r.Alert.Kind}
	if r.AlertErr != nil {
		attrs = append(attrs, "alert_error", r.AlertErr.Error())
	}
	if r.AlertAuditErr != nil {
		attrs = append(attrs, "alert_audit_error", r.AlertAuditErr.Error())
	}
	log.Info("health recorded", attrs...)
}

// syncWorker runs a scheduled production sync as the scheduler, on behalf
// of the person who set the schedule.
type syncWorker struct {
	river.WorkerDefaults[SyncArgs]
	q *Queue
}

func (w *syncWorker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	q, name := w.q, job.Args.Integration
	log, done := q.started(job.JobRow, name)
	sc, err := q.schedules.Get(ctx, name)
	switch {
	case errors.Is(err, ErrNoSchedule):
		return done(nil, "skipped", "the schedule was removed")
	case err != nil:
		return done(err)
	case sc.SuspendedAt != nil:
		return done(nil, "skipped", "the schedule is suspended: "+sc.SuspendedReason)
	}
	bounds := sc.Bounds.Contract()
	bounds.StaleAfter = sc.StaleAfter()
	env := *q.env
	env.Logger = log
	res, err := env.Sync(ctx, production.SyncRequest{Integration: name, Actor: production.SchedulerActor, OnBehalfOf: sc.SetBy,
		BaseURL: sc.BaseURL, Config: sc.Config, Bounds: bounds})
	var attrs []any
	if res != nil && res.Report != nil {
		attrs = append(attrs, "status", res.Report.Status, "records", res.Report.Records)
	}
	if res != nil && res.Contract != nil {
		attrs = append(attrs, "health", string(res.Contract.Health), "failing", res.Contract.Failing(), "alert", res.Alert.Kind)
		if res.AlertErr != nil {
			attrs = append(attrs, "alert_error", res.AlertErr.Error())
		}
	}
	switch {
	case err == nil:
		return done(nil, attrs...)
	case errors.Is(err, production.ErrDegraded), errors.Is(err, production.ErrContractFailing):
		// The run happened and its health is recorded and alerted: running
		// it again would not change what the vendor sent.
		return done(nil, append(attrs, "outcome", err.Error())...)
	case errors.Is(err, production.ErrNotAuthorized), errors.Is(err, lifecycle.ErrOffboarded):
		// Only a person can fix this: stop the schedule, say so loudly, and
		// do not retry.
		reason := fmt.Sprintf("the schedule of %s (set by %s) stopped: %v; a person with the operator or admin role sets it again with `spindle schedule set %s --every %s --as PERSON`",
			name, sc.SetBy, err, name, sc.Every)
		if serr := q.schedules.suspend(ctx, sc, err.Error()); serr != nil {
			return done(serr)
		}
		r, rerr := q.env.RecordFindings(ctx, production.Findings{Integration: name, Actor: production.SchedulerActor, OnBehalfOf: sc.SetBy, Source: "schedule",
			Checks: []contract.Finding{{ID: FindingSchedule, Status: contract.Fail, Message: reason, Evidence: map[string]any{"set_by": sc.SetBy, "job_id": job.ID}}},
			Now:    q.cfg.Now()})
		if rerr != nil {
			return done(rerr)
		}
		recorded(log, r)
		return done(river.JobCancel(errors.New(reason)), attrs...)
	}
	if ctx.Err() == nil && job.Attempt >= job.MaxAttempts {
		// The last attempt: River discards the job, so the failure becomes
		// the integration's health (and an alert) instead of a log line.
		r, rerr := q.env.RecordFindings(ctx, production.Findings{Integration: name, Actor: production.SchedulerActor, OnBehalfOf: sc.SetBy, Source: "schedule",
			Checks: []contract.Finding{{ID: FindingSchedule, Status: contract.Fail,
				Message:  fmt.Sprintf("the scheduled sync of %s failed %d times; the last error: %v", name, job.Attempt, err),
				Evidence: map[string]any{"set_by": sc.SetBy, "job_id": job.ID, "attempts": job.Attempt}}},
			Now: q.cfg.Now()})
		if rerr != nil {
			log.Error("record the failed schedule", "error", rerr.Error())
		} else {
			recorded(log, r)
		}
	}
	return done(err, attrs...)
}

// validateWorker is the daily validation of a released integration:
// staleness and doc drift, recorded as its health (merged into the latest
// recorded result), audited and alerted; drift that calls for it enqueues
// a rebuild.
type validateWorker struct {
	river.WorkerDefaults[ValidateArgs]
	q *Queue
}

func (w *validateWorker) Work(ctx context.Context, job *river.Job[ValidateArgs]) error {
	q, name := w.q, job.Args.Integration
	log, done := q.started(job.JobRow, name)
	env := q.env
	live, err := q.released(ctx, name)
	if err != nil {
		return done(err)
	}
	if !live {
		return done(nil, "skipped", "no release in force (none, or offboarded)")
	}
	rel, err := env.Gov.ReleasedSpec(ctx, name)
	if err != nil {
		return done(err)
	}
	now := q.cfg.Now()
	var fresh []contract.Finding
	replaced := map[string]bool{}

	// (a) Staleness: no successful production sync within the cadence.
	staleAfter := contract.DefaultStaleAfter
	if sc, err := q.schedules.Get(ctx, name); err == nil {
		staleAfter = sc.StaleAfter()
	} else if !errors.Is(err, ErrNoSchedule) {
		return done(err)
	}
	runs, err := env.Life.ProductionRuns(ctx, name, 50)
	if err != nil {
		return done(err)
	}
	if st, ok := contract.Staleness(ctx, contract.Input{Integration: name, History: runs, Bounds: contract.Bounds{StaleAfter: staleAfter}, Now: now}); ok {
		fresh = append(fresh, st.Checks...)
	}

	// (b) Doc drift against the doc pinned with the release.
	prev, _, err := contract.Latest(ctx, env.DB, name)
	if err != nil {
		return done(err)
	}
	ev := map[string]any{"release": rel.Release.ID, "spec_sha256": rel.Release.SpecDigest}
	chk, err := drift.Check(ctx, env.DB, rel, q.cfg.Drift)
	switch {
	case ctx.Err() != nil:
		return done(ctx.Err())
	case errors.Is(err, drift.ErrNoPinnedDoc):
		// Nothing to compare with (a spec written by hand, or proposed
		// before docs were pinned): drift cannot be judged, which is not a
		// fault of the integration.
		log.Info("drift not checked", "reason", err.Error())
	case err != nil:
		// The doc could not be read or compared: keep what the last check
		// found (could not see is not gone) and say so.
		fresh = append(fresh, contract.Finding{ID: FindingDriftDoc, Status: contract.Warn,
			Message: "the vendor doc could not be checked for drift: " + err.Error(), Evidence: ev})
		replaced[FindingDriftDoc] = true
	default:
		ev = map[string]any{"release": rel.Release.ID, "spec_sha256": rel.Release.SpecDigest, "location": chk.Location,
			"pinned_sha256": chk.PinnedSHA256, "doc_sha256": chk.CurrentSHA256}
		fresh = append(fresh, driftFindings(name, chk, ev)...)
		for _, id := range []string{FindingDriftBreaking, FindingDriftCoverage, FindingDriftDoc} {
			replaced[id] = true
		}
		// A rebuild is remembered against the doc it rebuilt from: a new
		// doc version calls for a new one.
		rebuilt := false
		for _, f := range prev.Checks {
			if f.ID == FindingDriftRebuild {
				if fmt.Sprint(f.Evidence["doc_sha256"]) == chk.CurrentSHA256 && fmt.Sprint(f.Evidence["spec_sha256"]) == rel.Release.SpecDigest {
					rebuilt = true
				} else {
					replaced[FindingDriftRebuild] = true
				}
			}
		}
		if chk.NeedsRebuild() && !rebuilt {
			reason := chk.Report.Summary
			e, err := q.EnqueueRebuild(ctx, RebuildArgs{Integration: name, DocSHA256: chk.CurrentSHA256, Reason: reason})
			if err != nil {
				return done(err)
			}
			if _, err := env.Audit.Append(ctx, audit.Event{Actor: production.SchedulerActor, Action: "rebuild.enqueue", Object: "integration:" + name,
				Boundary: audit.BoundarySandbox, Details: map[string]any{"release": rel.Release.ID, "doc_sha256": chk.CurrentSHA256, "job_id": e.JobID, "duplicate": e.Duplicate, "reason": reason}}); err != nil {
				return done(err)
			}
			log.Info("rebuild enqueued", "rebuild_job_id", e.JobID, "duplicate", e.Duplicate, "doc_sha256", chk.CurrentSHA256)
		}
	}

	// Record only what changed the picture: new findings, or old drift
	// findings that no longer hold.
	gone := false
	for _, f := range prev.Checks {
		if replaced[f.ID] {
			gone = true
		}
	}
	if len(fresh) == 0 && !gone {
		return done(nil, "outcome", "nothing to record: not stale, no drift that matters")
	}
	r, err := env.RecordFindings(ctx, production.Findings{Integration: name, Actor: production.SchedulerActor, Source: "validate",
		Checks: fresh, Replaces: func(id string) bool { return replaced[id] || id == contract.StalenessID }, Now: now})
	if err != nil {
		return done(err)
	}
	recorded(log, r)
	return done(nil, "health", string(r.Result.Health))
}

// driftFindings turns a drift check into findings: a breaking change
// fails, coverage drift (NHI lists the integration does not read) warns.
func driftFindings(name string, chk *drift.CheckResult, ev map[string]any) []contract.Finding {
	rep := chk.Report
	if rep == nil {
		return nil
	}
	with := func(k string, v any) map[string]any {
		m := make(map[string]any, len(ev)+1)
		for a, b := range ev {
			m[a] = b
		}
		m[k] = v
		return m
	}
	var out []contract.Finding
	if n := len(rep.Breaking); n > 0 {
		changes := make([]string, n)
		for i, c := range rep.Breaking {
			changes[i] = strings.TrimSpace(fmt.Sprintf("%s %s: %s", c.Operation, c.Path, c.What))
		}
		out = append(out, contract.Finding{ID: FindingDriftBreaking, Status: contract.Fail,
			Message:  fmt.Sprintf("the vendor doc at %s changed in %d way(s) that break %s (first: %s); a rebuild is proposed for review", chk.Location, n, name, changes[0]),
			Evidence: with("changes", changes)})
	}
	if n := len(rep.Coverage); n > 0 {
		out = append(out, contract.Finding{ID: FindingDriftCoverage, Status: contract.Warn,
			Message:  fmt.Sprintf("the vendor doc at %s has %d NHI list operation(s) %s does not read: %s", chk.Location, n, name, strings.Join(rep.Coverage, ", ")),
			Evidence: with("operations", rep.Coverage)})
	}
	return out
}

// released reports whether name has a release in force: released and not
// offboarded since.
func (q *Queue) released(ctx context.Context, name string) (bool, error) {
	cur, err := q.env.Gov.Current(ctx, name)
	if errors.Is(err, governance.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	st, err := q.env.Life.State(ctx, name)
	if err != nil {
		return false, err
	}
	// Offboarded until a release other than the one current then exists
	// (lifecycle's rule).
	if st != nil && st.Offboarding != nil && st.Offboarding.Release != nil && *st.Offboarding.Release == cur.ID {
		return false, nil
	}
	return true, nil
}

// rebuildWorker rebuilds an integration against the new version of its
// vendor doc (internal/rebuild: the agent, in the sandbox) and files a
// proposal for people to review; the outcome becomes the drift.rebuild
// finding, alerted when it failed.
type rebuildWorker struct {
	river.WorkerDefaults[RebuildArgs]
	q *Queue
}

func (w *rebuildWorker) Work(ctx context.Context, job *river.Job[RebuildArgs]) error {
	q, name := w.q, job.Args.Integration
	log, done := q.started(job.JobRow, name)
	env := q.env
	dir := filepath.Join(q.cfg.RebuildDir, fmt.Sprintf("%s-%s-job%d", name, short(job.Args.DocSHA256), job.ID))
	res, err := rebuild.Run(ctx, rebuild.Deps{DB: env.DB, Gov: env.Gov, Audit: env.Audit, Drift: q.cfg.Drift, Now: q.cfg.Now},
		rebuild.Request{Integration: name, OutDir: dir})
	if err != nil {
		if ctx.Err() == nil && job.Attempt >= job.MaxAttempts {
			// Discarded after this: a rebuild that never ran must not pass
			// silently, and the finding keeps the next validation from
			// asking again for the same doc.
			rerr := w.failed(ctx, name, job.Args.DocSHA256, fmt.Sprintf("the rebuild of %s against the new vendor doc could not run (%d attempts): %v; a person must update the integration", name, job.Attempt, err))
			if rerr != nil {
				log.Error("record the failed rebuild", "error", rerr.Error())
			}
		}
		return done(err)
	}
	cur, err := env.Gov.Current(ctx, name)
	if err != nil {
		return done(err)
	}
	ev := map[string]any{"release": res.Release, "spec_sha256": cur.SpecDigest, "doc_sha256": res.DocSHA256, "status": res.Status}
	var f contract.Finding
	switch res.Status {
	case rebuild.StatusProposed, rebuild.StatusDuplicate:
		ev["proposal"], ev["bundle"] = res.ProposalID, res.Bundle
		what := fmt.Sprintf("proposal %d", res.ProposalID)
		if res.ProposalID == 0 {
			what = "a proposal already open"
		}
		f = contract.Finding{ID: FindingDriftRebuild, Status: contract.Pass, Evidence: ev,
			Message: fmt.Sprintf("the agent rebuilt %s against the new vendor doc: %s awaits review (`spindle review`) and a person's approval", name, what)}
	case rebuild.StatusFailed:
		f = contract.Finding{ID: FindingDriftRebuild, Status: contract.Fail, Evidence: ev,
			Message: fmt.Sprintf("the agent could not rebuild %s against the new vendor doc (%s): a person must update the integration", name, res.Reason)}
	default:
		return done(nil, "status", res.Status, "reason", res.Reason)
	}
	r, err := env.RecordFindings(ctx, production.Findings{Integration: name, Actor: production.SchedulerActor, Source: "rebuild",
		Checks: []contract.Finding{f}, Now: q.cfg.Now()})
	if err != nil {
		return done(err)
	}
	recorded(log, r)
	return done(nil, "status", res.Status, "proposal", res.ProposalID)
}

// failed records a rebuild that could not run as the failing
// drift.rebuild finding of the current release.
func (w *rebuildWorker) failed(ctx context.Context, name, docSHA, msg string) error {
	env := w.q.env
	cur, err := env.Gov.Current(ctx, name)
	if err != nil {
		return err
	}
	_, err = env.RecordFindings(ctx, production.Findings{Integration: name, Actor: production.SchedulerActor, Source: "rebuild", Now: w.q.cfg.Now(),
		Checks: []contract.Finding{{ID: FindingDriftRebuild, Status: contract.Fail, Message: msg,
			Evidence: map[string]any{"release": cur.ID, "spec_sha256": cur.SpecDigest, "doc_sha256": docSHA}}}})
	return err
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// tickWorker is the scheduler's periodic tick.
type tickWorker struct {
	river.WorkerDefaults[TickArgs]
	q *Queue
}

func (w *tickWorker) Work(ctx context.Context, job *river.Job[TickArgs]) error {
	_, done := w.q.started(job.JobRow, "")
	t, err := w.q.Tick(ctx)
	return done(err, "syncs", t.Syncs, "duplicates", t.Duplicates, "validations", t.Validations)
}

// TickResult is what a tick enqueued.
type TickResult struct {
	// Syncs were enqueued; Duplicates were due but one was still waiting or
	// running.
	Syncs       []string `json:"syncs"`
	Duplicates  []string `json:"duplicates"`
	Validations []string `json:"validations"`
}

// Tick enqueues the syncs whose schedule is due and today's validation of
// every released integration (River drops the ones already enqueued). The
// periodic tick calls it; so may a test or an operator.
func (q *Queue) Tick(ctx context.Context) (TickResult, error) {
	var out TickResult
	if q.env == nil {
		return out, errors.New("jobs: the tick needs the production environment")
	}
	now := q.cfg.Now().UTC()
	due, err := q.schedules.due(ctx, now)
	if err != nil {
		return out, err
	}
	var errs []error
	for _, sc := range due {
		e, err := q.EnqueueSync(ctx, sc.Integration)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if e.Duplicate {
			out.Duplicates = append(out.Duplicates, sc.Integration)
		} else {
			out.Syncs = append(out.Syncs, sc.Integration)
		}
		// The next run is an interval from this tick; a duplicate's slot
		// is skipped rather than queued behind it.
		if _, err := q.schedules.advance(ctx, sc.Integration, sc.NextRunAt, now.Add(sc.Every)); err != nil {
			errs = append(errs, err)
		}
	}
	rels, err := q.env.Gov.Releases(ctx, "")
	if err != nil {
		return out, errors.Join(append(errs, err)...)
	}
	seen := map[string]bool{}
	for _, r := range rels {
		if seen[r.Integration] {
			continue
		}
		seen[r.Integration] = true
		live, err := q.released(ctx, r.Integration)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !live {
			continue
		}
		e, err := q.EnqueueValidate(ctx, r.Integration)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !e.Duplicate {
			out.Validations = append(out.Validations, r.Integration)
		}
	}
	return out, errors.Join(errs...)
}
