// Package production runs an integration's released spec against its vendor:
// the governed sync that `spindle sync` and the scheduler's workers share.
// A sync is authorised (the person's role, or the person a schedule runs on
// behalf of), refused unless the integration is released, owned, not
// offboarded and its terms accepted, run with the vaulted credential bound
// to its host, applied to the inventory as one transaction, judged by the
// live contract checks (recorded with their audit entry in one
// transaction) and alerted on. Env prints nothing: callers report the
// SyncResult as they see fit.
package production

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/alert"
	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/lifecycle"
	"github.com/spindlehq/spindle/internal/runtime"
	"github.com/spindlehq/spindle/internal/store"
	"github.com/spindlehq/spindle/internal/vault"
)

// Env holds the opened parts a production sync needs. Every part is over
// the same control-plane database (DB); Inventory may be SQLite or
// PostgreSQL. Env is a set of handles: copy it to give one caller its own
// Logger or Progress.
type Env struct {
	DB        *sql.DB
	Inventory store.Store
	Vault     *vault.Vault
	Gov       *governance.Service
	Life      *lifecycle.Lifecycle
	Audit     *audit.Log
	Alerts    *alert.Notifier
	// Logger receives the runtime's log (a retry, a policy violation; each
	// request with SyncRequest.Verbose), scrubbed of the run's credential.
	// Nil discards it.
	Logger *slog.Logger
	// Progress, when set, gets a "running …" line and throttled per-stream
	// progress lines, as a terminal wants them. Nil prints nothing.
	Progress io.Writer
}

// SyncRequest is one production sync.
type SyncRequest struct {
	Integration string
	// Actor runs the sync: a person, or the scheduler (audit.ActorScheduler)
	// acting for OnBehalfOf.
	Actor audit.Actor
	// OnBehalfOf is the person whose authority a scheduler's run uses (the
	// one who set the schedule). Their role is checked at every run and they
	// are named in every audit entry of it. Required unless Actor is a
	// person.
	OnBehalfOf string
	// BaseURL points the run at a stand-in for the vendor; the credential is
	// only released if a person bound it to that host. "" : the spec's own.
	BaseURL string
	// Config holds the spec's connection.config inputs.
	Config map[string]string
	// Bounds tune the contract checks (zero values: the defaults).
	Bounds contract.Bounds
	// Verbose logs each request and retry (credentials redacted).
	Verbose bool
}

// SyncResult is what a sync did. Fields are zero for the steps that did not
// happen.
type SyncResult struct {
	Release governance.Release
	Spec    *integration.Spec
	// Report is the run's report; nil when the run did not happen.
	Report *runtime.Report
	// Contract is the recorded contract check; nil when the run did not
	// happen or recording it failed.
	Contract *contract.Result
	// Alert is what the notifier did; AlertErr a failed delivery and
	// AlertAuditErr a failure to audit it. Neither changes the outcome,
	// which the health alone decides.
	Alert         alert.Outcome
	AlertErr      error
	AlertAuditErr error
	// Redactor knows the run's credential: scrub anything printed from the
	// report with it.
	Redactor *runtime.Redactor
}

// Errors a sync wraps, for callers to test with errors.Is. The messages
// around them say what happened and what to do.
var (
	// ErrNotAuthorized: the person (or the person a schedule runs for) may
	// not run production syncs.
	ErrNotAuthorized = errors.New("not authorized to run production syncs")
	// ErrDegraded: the run finished but a stream was partial, denied or
	// failed; the inventory kept what it knew and the contract was judged.
	ErrDegraded = errors.New("run degraded")
	// ErrContractFailing: the run finished but a contract check failed.
	ErrContractFailing = errors.New("contract failing")
)

// outcomeError keeps a message callers already print while letting them
// test the kind with errors.Is.
type outcomeError struct {
	kind error
	msg  string
	err  error // the cause, if any
}

func (e *outcomeError) Error() string        { return e.msg }
func (e *outcomeError) Unwrap() error        { return e.err }
func (e *outcomeError) Is(target error) bool { return target == e.kind }

// SchedulerActor is the audit actor of every scheduled run.
var SchedulerActor = audit.Actor{Kind: audit.ActorScheduler, Name: "scheduler"}

// principal is the person whose role authorises req.
func (req SyncRequest) principal() (string, error) {
	switch {
	case req.Actor.Kind == audit.ActorPerson && strings.TrimSpace(req.Actor.Name) != "":
		return req.Actor.Name, nil
	case req.Actor.Kind == audit.ActorPerson:
		return "", errors.New("a production sync is run by a person with the operator or admin role: say who (--as NAME)")
	case strings.TrimSpace(req.OnBehalfOf) != "":
		return req.OnBehalfOf, nil
	case req.Actor.Kind == audit.ActorAgent:
		// Refused by Authorize below, with its own message.
		return req.Actor.Name, nil
	}
	return "", fmt.Errorf("a %s's production sync runs on behalf of a person: name who set it (OnBehalfOf)", req.Actor.Kind)
}

// details adds who the run is on behalf of to an audit entry's details.
func (req SyncRequest) details(d map[string]any) map[string]any {
	if req.OnBehalfOf != "" && req.Actor.Kind != audit.ActorPerson {
		d["on_behalf_of"] = req.OnBehalfOf
	}
	return d
}

// Sync runs integration req.Integration's current release in production.
// It returns an error, and what had happened so far, when it refuses, when
// the run aborts, when the run finished degraded (ErrDegraded) or when the
// contract fails (ErrContractFailing); the last two still record the run,
// the contract check and the alert.
func (e *Env) Sync(ctx context.Context, req SyncRequest) (*SyncResult, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	name := req.Integration
	who, err := req.principal()
	if err != nil {
		return nil, err
	}
	if err := e.Gov.Authorize(ctx, who, governance.ActionSyncProduction); err != nil {
		if governance.IsRefused(err, governance.RuleRole) {
			return nil, &outcomeError{kind: ErrNotAuthorized, msg: err.Error(), err: err}
		}
		return nil, err
	}
	// Released, verified, owned and not offboarded.
	if err := e.Life.Ready(ctx, name); err != nil {
		return nil, err
	}
	rel, err := e.Gov.ReleasedSpec(ctx, name)
	if err != nil {
		return nil, err
	}
	out := &SyncResult{Release: rel.Release}
	if _, ok, err := e.Vault.TermsAccepted(ctx, name); err != nil {
		return out, err
	} else if !ok {
		return out, fmt.Errorf("no one has accepted %s's terms for %s: a person does, with `spindle terms accept %s --as PERSON`", "the vendor", name, name)
	}
	doc, err := integration.Load(fmt.Sprintf("%s (release %d)", name, rel.Release.ID), rel.Spec)
	if err != nil {
		return out, fmt.Errorf("the released spec of %s does not load with this build: %w", name, err)
	}
	out.Spec = doc.Spec

	cfg := req.Config
	if cfg == nil {
		cfg = map[string]string{}
	}
	base := req.BaseURL
	if base == "" {
		if base, err = ExpandBase(doc.Spec, cfg); err != nil {
			return out, err
		}
	}
	red := runtime.NewRedactor()
	out.Redactor = red
	secrets := e.Vault.Resolver(vault.Binding{Integration: name, Host: base, TokenHost: TokenHost(doc.Spec, base), Actor: req.Actor, Redactor: red})
	// The host as the vault binds and compares it.
	host, err := vault.NormalizeHost(base)
	if err != nil {
		return out, fmt.Errorf("base URL %s: %w", base, err)
	}
	details := req.details(map[string]any{"release": rel.Release.ID, "spec_sha256": rel.Release.SpecDigest, "host": host})
	if req.BaseURL != "" {
		details["stand_in"] = true
	}
	if _, err := e.Audit.Append(ctx, audit.Event{Actor: req.Actor, Action: "sync.start", Object: "integration:" + name, Boundary: audit.BoundaryProduction, Details: details}); err != nil {
		return out, err
	}
	rep, runErr := e.run(ctx, doc, runtime.Options{BaseURL: req.BaseURL, Config: cfg, Secrets: secrets, Redactor: red}, req.Verbose)
	outcome := req.details(map[string]any{"release": rel.Release.ID, "spec_sha256": rel.Release.SpecDigest})
	switch {
	case rep != nil:
		outcome["status"], outcome["records"] = rep.Status, rep.Records
	default:
		outcome["status"], outcome["error"] = "failed", red.String(runErr.Error())
	}
	if _, err := e.Audit.Append(ctx, audit.Event{Actor: req.Actor, Action: "sync.finish", Object: "integration:" + name, Boundary: audit.BoundaryProduction, Details: outcome}); err != nil && runErr == nil {
		return out, err
	}
	out.Report = rep
	if rep == nil {
		return out, runErr
	}
	res, err := e.checkContract(ctx, req, name, doc.Spec, rep, rel.Release.SpecDigest)
	if err == nil {
		out.Contract = &res
		out.Alert, out.AlertErr, out.AlertAuditErr = e.Notify(ctx, req.Actor, req.OnBehalfOf, res)
	}
	switch {
	case runErr != nil:
		return out, runErr
	case err != nil:
		return out, err
	case res.Health == contract.Failing:
		return out, &outcomeError{kind: ErrContractFailing,
			msg: fmt.Sprintf("contract failing (%s): the run finished, but the inventory it left cannot be trusted; see the checks above", strings.Join(res.Failing(), ", "))}
	}
	return out, nil
}

func (e *Env) check() error {
	switch {
	case e.DB == nil, e.Inventory == nil, e.Vault == nil, e.Gov == nil, e.Life == nil, e.Audit == nil, e.Alerts == nil:
		return errors.New("production: the environment is incomplete; open the store and pass its DB, inventory, vault, governance, lifecycle, audit log and notifier")
	}
	return nil
}

// run executes doc into the inventory as one sync transaction. The report
// is nil when the run did not happen; a run that finished degraded returns
// its report and an ErrDegraded error.
func (e *Env) run(ctx context.Context, doc *integration.Document, opts runtime.Options, verbose bool) (*runtime.Report, error) {
	red := opts.Redactor
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	h := slog.DiscardHandler
	if e.Logger != nil {
		h = e.Logger.Handler()
	}
	opts.Logger = slog.New(&redactHandler{h: h, red: red, min: level})
	var prog *progress
	if e.Progress != nil {
		prog = newProgress(e.Progress)
		opts.Progress = prog.update
	}
	runner, err := runtime.New(ctx, doc.Spec, opts)
	if err != nil {
		return nil, red.Error(err)
	}
	sync, err := e.Inventory.BeginSync(ctx, doc.Spec.Metadata.Name, specDigest(doc.Raw), time.Now())
	if err != nil {
		return nil, err
	}
	defer sync.Rollback()
	if e.Progress != nil {
		fmt.Fprintf(e.Progress, "running %s (%s) against %s\n", doc.Spec.Metadata.Name, plural(len(doc.Spec.Streams), "stream"), red.String(hostOf(opts.BaseURL, doc.Spec.Connection.BaseURL)))
	}
	rep, err := runner.Run(ctx, sync)
	if err != nil {
		return nil, red.Error(fmt.Errorf("run aborted, inventory unchanged: %w", err))
	}
	if _, err := sync.Commit(ctx, rep.FinishedAt); err != nil {
		return nil, fmt.Errorf("saving the run, inventory unchanged: %w", err)
	}
	if rep.Status != store.RunOK {
		return rep, &outcomeError{kind: ErrDegraded, msg: fmt.Sprintf("run %s: see the stream errors above; nothing known was deleted", rep.Status)}
	}
	return rep, nil
}

// specDigest identifies the exact spec a run executed, as `spindle run`
// records it.
func specDigest(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func hostOf(override, spec string) string {
	if override != "" {
		return override
	}
	return spec
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// ExpandBase is the spec's base URL with its {config.x} inputs filled: the
// host the credential must be bound to.
func ExpandBase(sp *integration.Spec, cfg map[string]string) (string, error) {
	return integration.Expand(sp.Connection.BaseURL, func(ref string) (string, error) {
		name := strings.TrimPrefix(ref, integration.VarConfig+".")
		if v, ok := cfg[name]; ok {
			return v, nil
		}
		if cv, ok := sp.Connection.Config[name]; ok && cv.Default != "" {
			return cv.Default, nil
		}
		return "", fmt.Errorf("connection.base_url needs config %s: pass --config %s=VALUE", name, name)
	}, func(s string) string { return s })
}

// TokenHost is where an oauth2 token request goes: an absolute token_url,
// else the base URL.
func TokenHost(sp *integration.Spec, base string) string {
	if sp.Connection.Auth.Type != integration.AuthOAuth2ClientCredentials {
		return ""
	}
	if tu := sp.Connection.Auth.TokenURL; strings.Contains(tu, "://") {
		return tu
	}
	return base
}
