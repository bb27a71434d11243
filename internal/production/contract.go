package production

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/alert"
	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/runtime"
)

// DriftPrefix starts the ids of the findings the daily validation raises
// about the vendor's doc ("drift.breaking", "drift.coverage"). A sync
// cannot see doc drift, so it carries the validation's findings over
// against the same release; a new release starts clean.
const DriftPrefix = "drift."

// checkContract runs the live contract checks on a finished sync and
// records the result with its audit entry (one transaction).
func (e *Env) checkContract(ctx context.Context, req SyncRequest, name string, sp *integration.Spec, rep *runtime.Report, specSHA string) (contract.Result, error) {
	runs, err := e.Life.ProductionRuns(ctx, name, 50)
	if err != nil {
		return contract.Result{}, err
	}
	var runID int64
	if len(runs) > 0 && runs[0].FinishedAt.Equal(rep.FinishedAt) {
		runID, runs = runs[0].ID, runs[1:]
	}
	res := contract.Check(ctx, contract.Input{Integration: name, RunID: runID, Report: rep, Spec: sp, History: runs, Bounds: req.Bounds})
	if err := e.carryDrift(ctx, &res, specSHA); err != nil {
		return res, err
	}
	details := req.details(map[string]any{"health": string(res.Health), "run_id": runID, "failing": res.Failing(), "warning": res.Warning()})
	return res, e.record(ctx, req.Actor, res, details)
}

// carryDrift adds the drift findings of the latest recorded result, when
// they were raised against the release that just ran: the drift is still
// there, and dropping it would resolve the alert until the next validation
// raised it again.
func (e *Env) carryDrift(ctx context.Context, res *contract.Result, specSHA string) error {
	prev, ok, err := contract.Latest(ctx, e.DB, res.Integration)
	if err != nil || !ok {
		return err
	}
	for _, f := range prev.Checks {
		if strings.HasPrefix(f.ID, DriftPrefix) && fmt.Sprint(f.Evidence["spec_sha256"]) == specSHA {
			res.Checks = append(res.Checks, f)
		}
	}
	res.Health = contract.HealthOf(res.Checks)
	return nil
}

// record stores res with its contract.check audit entry in one
// transaction.
func (e *Env) record(ctx context.Context, actor audit.Actor, res contract.Result, details map[string]any) error {
	tx, err := e.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := contract.Record(ctx, tx, res); err != nil {
		return err
	}
	if _, err := e.Audit.AppendTx(ctx, tx, audit.Event{Actor: actor, Action: "contract.check", Object: "integration:" + res.Integration, Boundary: audit.BoundaryProduction, Details: details}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("recording the contract check of %s: %w", res.Integration, err)
	}
	return nil
}

// Findings are checks judged outside a sync: by the scheduler (a schedule
// that cannot run) or the daily validation (staleness, doc drift).
type Findings struct {
	Integration string
	Actor       audit.Actor
	OnBehalfOf  string
	// Source names what judged them in the audit entry ("validate",
	// "schedule").
	Source string
	// Checks are the new findings. They replace the latest recorded
	// result's findings of the same id, and those Replaces matches.
	Checks   []contract.Finding
	Replaces func(id string) bool
	// Now is the check's time (zero: time.Now).
	Now time.Time
}

// Recorded is what RecordFindings recorded and alerted.
type Recorded struct {
	Result        contract.Result
	Alert         alert.Outcome
	AlertErr      error
	AlertAuditErr error
}

// RecordFindings merges f's checks into the integration's latest recorded
// contract result — so a validation never hides what the last sync found,
// nor a sync what validation found — and records the merged result (its
// health refolded) with a contract.check audit entry in one transaction,
// then alerts on it.
func (e *Env) RecordFindings(ctx context.Context, f Findings) (*Recorded, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	prev, _, err := contract.Latest(ctx, e.DB, f.Integration)
	if err != nil {
		return nil, err
	}
	now := f.Now
	if now.IsZero() {
		now = time.Now()
	}
	res := contract.Result{Integration: f.Integration, RunID: prev.RunID, CheckedAt: now.UTC()}
	fresh := map[string]bool{}
	for _, c := range f.Checks {
		fresh[c.ID] = true
	}
	for _, c := range prev.Checks {
		if !fresh[c.ID] && (f.Replaces == nil || !f.Replaces(c.ID)) {
			res.Checks = append(res.Checks, c)
		}
	}
	res.Checks = append(res.Checks, f.Checks...)
	res.Health = contract.HealthOf(res.Checks)
	req := SyncRequest{Actor: f.Actor, OnBehalfOf: f.OnBehalfOf}
	details := req.details(map[string]any{"health": string(res.Health), "run_id": res.RunID, "failing": res.Failing(), "warning": res.Warning(), "source": f.Source})
	if err := e.record(ctx, f.Actor, res, details); err != nil {
		return nil, err
	}
	out := &Recorded{Result: res}
	out.Alert, out.AlertErr, out.AlertAuditErr = e.Notify(ctx, f.Actor, f.OnBehalfOf, res)
	return out, nil
}

// Notify sends the alerts a recorded contract result calls for and audits
// what was sent (alert.send) or what failed (alert.fail). A failed
// delivery is returned as deliveryErr, a failure to audit it as auditErr;
// neither changes a sync's outcome, which the health alone decides.
func (e *Env) Notify(ctx context.Context, actor audit.Actor, onBehalfOf string, res contract.Result) (out alert.Outcome, deliveryErr, auditErr error) {
	out, err := e.Alerts.Notify(ctx, res)
	if out.Kind == alert.KindNone && err == nil {
		return out, nil, nil
	}
	action := "alert.send"
	if err != nil {
		action = "alert.fail"
	}
	req := SyncRequest{Actor: actor, OnBehalfOf: onBehalfOf}
	details := req.details(map[string]any{"kind": out.Kind, "health": string(res.Health), "run_id": res.RunID})
	var ids []int64
	for _, inc := range out.Incidents {
		ids = append(ids, inc.ID)
	}
	details["incidents"] = ids
	var ds []map[string]any
	for _, d := range out.Deliveries {
		m := map[string]any{"target": d.Target, "endpoint": d.Endpoint, "attempts": d.Attempts, "status": d.Status}
		if d.Error != "" {
			m["error"] = d.Error
		}
		ds = append(ds, m)
	}
	details["deliveries"] = ds
	if err != nil {
		details["error"] = err.Error()
	}
	if len(ds) > 0 || err != nil {
		if _, aerr := e.Audit.Append(ctx, audit.Event{Actor: actor, Action: action, Object: "integration:" + res.Integration, Boundary: audit.BoundaryProduction, Details: details}); aerr != nil {
			auditErr = fmt.Errorf("audit the alert of %s: %w", res.Integration, aerr)
		}
	}
	return out, err, auditErr
}

// HasPrefix reports whether id starts with any of prefixes: a Replaces
// helper.
func HasPrefix(prefixes ...string) func(id string) bool {
	return func(id string) bool {
		return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(id, p) })
	}
}
