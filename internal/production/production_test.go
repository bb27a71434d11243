package production_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spindlehq/spindle/internal/alert"
	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/production"
	"github.com/spindlehq/spindle/internal/production/prodtest"
	"github.com/spindlehq/spindle/internal/sandbox"
	"github.com/spindlehq/spindle/internal/store"
	"github.com/spindlehq/spindle/internal/vault"
)

var olivia = audit.Actor{Kind: audit.ActorPerson, Name: prodtest.Operator}

// TestSyncGovernedPath: on each store, a production sync is refused with
// what to do until the integration is released, its terms accepted and
// its credential bound to the host it runs against; then it runs the
// released digest into the inventory as one run, judges it by the
// contract, and audits every step in the production boundary — a
// scheduler's run as the scheduler, naming the person it runs for. The
// credential never reaches the audit log or the logs.
func TestSyncGovernedPath(t *testing.T) {
	for _, b := range prodtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := prodtest.New(t, b)
			f.Grant("root", "vic", governance.RoleViewer)
			env := *f.Env
			var logs bytes.Buffer
			env.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			const name = "acme-cloud"
			req := production.SyncRequest{Integration: name, Actor: olivia, BaseURL: f.Server.URL(), Verbose: true}

			// Before anything is released.
			if _, err := env.Sync(f.Ctx, req); err == nil || !strings.Contains(err.Error(), "no release") {
				t.Fatalf("unreleased: %v", err)
			}
			f.Release(f.Spec(name, ""))
			for _, tc := range []struct {
				what string
				req  production.SyncRequest
				want error
				msg  string
			}{
				{"a viewer", production.SyncRequest{Integration: name, Actor: audit.Actor{Kind: audit.ActorPerson, Name: "vic"}}, production.ErrNotAuthorized, "vic"},
				{"an approver", production.SyncRequest{Integration: name, Actor: audit.Actor{Kind: audit.ActorPerson, Name: "alice"}}, production.ErrNotAuthorized, "alice"},
				{"the agent", production.SyncRequest{Integration: name, Actor: audit.Actor{Kind: audit.ActorAgent, Name: "agent:heuristic"}}, nil, "agent"},
				{"a scheduler for nobody", production.SyncRequest{Integration: name, Actor: production.SchedulerActor}, nil, "on behalf of a person"},
				{"a person without a name", production.SyncRequest{Integration: name, Actor: audit.Actor{Kind: audit.ActorPerson}}, nil, "--as"},
				{"before the terms", req, nil, "terms accept"},
			} {
				res, err := env.Sync(f.Ctx, tc.req)
				if err == nil || !strings.Contains(err.Error(), tc.msg) || (tc.want != nil && !errors.Is(err, tc.want)) {
					t.Errorf("%s: got %v, want an error naming %q", tc.what, err, tc.msg)
				}
				if res != nil && res.Report != nil {
					t.Errorf("%s: a run happened: %+v", tc.what, res.Report)
				}
			}
			op := audit.Actor{Kind: audit.ActorPerson, Name: prodtest.Operator}
			if _, err := env.Vault.AcceptTerms(f.Ctx, op, name, "Acme Cloud", "v1"); err != nil {
				t.Fatal(err)
			}
			// A credential bound to another host is not released.
			if _, err := env.Vault.Set(f.Ctx, op, vault.Credential{Name: name, Integration: name, Host: "127.0.0.1:1"}, []byte(f.Token)); err != nil {
				t.Fatal(err)
			}
			if res, err := env.Sync(f.Ctx, req); err == nil || res.Report != nil || !strings.Contains(err.Error(), "bound") {
				t.Fatalf("credential bound elsewhere: %v", err)
			}

			// A fresh integration with a good credential runs.
			const ok = "acme-ok"
			f.Ready(ok, "")
			res, err := env.Sync(f.Ctx, production.SyncRequest{Integration: ok, Actor: olivia, BaseURL: f.Server.URL(), Verbose: true})
			if err != nil {
				t.Fatalf("sync: %v", err)
			}
			if res.Report == nil || res.Report.Status != store.RunOK || res.Report.Records == 0 {
				t.Fatalf("report: %+v", res.Report)
			}
			if res.Contract == nil || res.Contract.Health != contract.Healthy || res.Contract.RunID == 0 {
				t.Fatalf("contract: %+v", res.Contract)
			}
			ents, err := f.Opened.Inventory.Entities(f.Ctx, store.Query{Source: ok, Kind: "api_key"})
			if err != nil || len(ents) == 0 {
				t.Fatalf("inventory: %d api keys, %v", len(ents), err)
			}
			runs, err := f.Opened.Inventory.Runs(f.Ctx, ok, 0)
			if err != nil || len(runs) != 1 || runs[0].ID != res.Contract.RunID || !strings.HasSuffix(runs[0].SpecDigest, res.Release.SpecDigest) {
				t.Fatalf("runs: %+v %v (release %s)", runs, err, res.Release.SpecDigest)
			}

			// The scheduler's run, on olivia's behalf.
			if _, err := env.Sync(f.Ctx, production.SyncRequest{Integration: ok, Actor: production.SchedulerActor, OnBehalfOf: prodtest.Operator, BaseURL: f.Server.URL()}); err != nil {
				t.Fatalf("scheduled sync: %v", err)
			}
			var byScheduler int
			for _, e := range f.Audit("") {
				if e.Object != "integration:"+ok && e.Object != "credential:"+ok {
					continue
				}
				if e.Actor == production.SchedulerActor {
					byScheduler++
					if e.Boundary != audit.BoundaryProduction {
						t.Errorf("%s: boundary %s", e.Action, e.Boundary)
					}
					if strings.HasPrefix(e.Action, "sync.") || e.Action == "contract.check" {
						if e.Details["on_behalf_of"] != prodtest.Operator {
							t.Errorf("%s by the scheduler does not name olivia: %v", e.Action, e.Details)
						}
					}
				}
			}
			if byScheduler < 4 { // credential use, sync.start, sync.finish, contract.check
				t.Errorf("%d audit entries by the scheduler", byScheduler)
			}
			for _, action := range []string{"sync.start", "sync.finish", "contract.check"} {
				if es := f.Audit(action); len(es) < 2 {
					t.Errorf("%s audited %d times", action, len(es))
				}
			}
			f.VerifyAudit()
			all, _ := json.Marshal(f.Audit(""))
			for what, s := range map[string]string{"audit log": string(all), "logs": logs.String()} {
				if strings.Contains(s, f.Token) {
					t.Errorf("the credential appears in the %s", what)
				}
			}
		})
	}
}

// TestSyncContractFailsAndAlerts: a vendor that silently serves far fewer
// entities gives an ok run whose contract fails: Sync records the run and
// the failing health, alerts the webhook once, audits it, and returns
// ErrContractFailing; a degraded run returns ErrDegraded with its report.
func TestSyncContractFailsAndAlerts(t *testing.T) {
	for _, b := range prodtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := prodtest.New(t, b)
			const name = "acme-cloud"
			f.Ready(name, "")
			var posts atomic.Int32
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { posts.Add(1) }))
			defer hook.Close()
			if _, err := f.Env.Alerts.AddTarget(f.Ctx, alert.Target{Name: "ops", URL: hook.URL + "/hook", Format: alert.FormatJSON, CreatedBy: prodtest.Operator}); err != nil {
				t.Fatal(err)
			}
			sync := func(url string) (*production.SyncResult, error) {
				return f.Env.Sync(f.Ctx, production.SyncRequest{Integration: name, Actor: olivia, BaseURL: url})
			}
			for range 2 {
				if _, err := sync(f.Server.URL()); err != nil {
					t.Fatal(err)
				}
			}
			host := f.Host()
			f.Server.Close()
			small := f.Sandbox(host, sandbox.Options{Entities: 3})
			res, err := sync(small.URL())
			if !errors.Is(err, production.ErrContractFailing) || !strings.Contains(err.Error(), "count:") {
				t.Fatalf("shrunk: %v", err)
			}
			if res.Report.Status != store.RunOK || res.Contract.Health != contract.Failing || res.Alert.Kind != alert.KindOpened || posts.Load() != 1 || res.AlertErr != nil {
				t.Fatalf("shrunk: report %s, health %s, alert %s, posts %d, %v", res.Report.Status, res.Contract.Health, res.Alert.Kind, posts.Load(), res.AlertErr)
			}
			if es := f.Audit("alert.send"); len(es) != 1 {
				t.Errorf("alert.send audited %d times", len(es))
			}
			latest, ok, err := contract.Latest(f.Ctx, f.Opened.DB, name)
			if err != nil || !ok || latest.Health != contract.Failing {
				t.Errorf("recorded: %+v %v %v", latest, ok, err)
			}

			// A stream that keeps failing: the run is partial.
			small.Close()
			faults, err := sandbox.ParseFaults("500:100@/webhooks")
			if err != nil {
				t.Fatal(err)
			}
			broken := f.Sandbox(host, sandbox.Options{Faults: faults})
			res, err = sync(broken.URL())
			if !errors.Is(err, production.ErrDegraded) || res.Report == nil || res.Report.Status != store.RunPartial || res.Contract == nil {
				t.Fatalf("degraded: %v %+v", err, res)
			}
		})
	}
}

// TestRecordFindingsMerges: findings from outside a sync are merged into
// the latest recorded result (the sync's failures stay), and a later sync
// of the same release carries the drift findings over, so the incident
// they opened is not resolved by a sync that cannot see the doc.
func TestRecordFindingsMerges(t *testing.T) {
	f := prodtest.New(t, prodtest.SQLite)
	const name = "acme-cloud"
	rel := f.Ready(name, "")
	var posts atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { posts.Add(1) }))
	defer hook.Close()
	if _, err := f.Env.Alerts.AddTarget(f.Ctx, alert.Target{Name: "ops", URL: hook.URL + "/hook", Format: alert.FormatJSON, CreatedBy: prodtest.Operator}); err != nil {
		t.Fatal(err)
	}
	res, err := f.Env.Sync(f.Ctx, production.SyncRequest{Integration: name, Actor: olivia, BaseURL: f.Server.URL()})
	if err != nil {
		t.Fatal(err)
	}
	nChecks := len(res.Contract.Checks)
	breaking := contract.Finding{ID: "drift.breaking", Status: contract.Fail, Message: "a field the mapping reads is gone",
		Evidence: map[string]any{"spec_sha256": rel.SpecDigest}}
	r, err := f.Env.RecordFindings(f.Ctx, production.Findings{Integration: name, Actor: production.SchedulerActor, Source: "validate", Checks: []contract.Finding{breaking}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Result.Health != contract.Failing || len(r.Result.Checks) != nChecks+1 || r.Result.RunID != res.Contract.RunID || r.Alert.Kind != alert.KindOpened {
		t.Fatalf("merged: %s, %d checks (sync had %d), run %d, alert %s", r.Result.Health, len(r.Result.Checks), nChecks, r.Result.RunID, r.Alert.Kind)
	}
	// The next sync still sees the drift: same incident, no new alert.
	res, err = f.Env.Sync(f.Ctx, production.SyncRequest{Integration: name, Actor: olivia, BaseURL: f.Server.URL()})
	if !errors.Is(err, production.ErrContractFailing) || fmt.Sprint(res.Contract.Failing()) != "[drift.breaking]" || res.Alert.Kind != alert.KindDuplicate || posts.Load() != 1 {
		t.Fatalf("sync after drift: %v, failing %v, alert %s, posts %d", err, res.Contract.Failing(), res.Alert.Kind, posts.Load())
	}
	// Findings replaced by a later judgement go; the health recovers.
	r, err = f.Env.RecordFindings(f.Ctx, production.Findings{Integration: name, Actor: production.SchedulerActor, Source: "validate",
		Replaces: production.HasPrefix("drift.")})
	if err != nil || r.Result.Health != contract.Healthy || r.Alert.Kind != alert.KindResolved {
		t.Fatalf("cleared: %+v %v", r, err)
	}
	// A drift finding of another release is not carried.
	old := breaking
	old.Evidence = map[string]any{"spec_sha256": "0000"}
	if _, err := f.Env.RecordFindings(f.Ctx, production.Findings{Integration: name, Actor: production.SchedulerActor, Checks: []contract.Finding{old}}); err != nil {
		t.Fatal(err)
	}
	if res, err := f.Env.Sync(f.Ctx, production.SyncRequest{Integration: name, Actor: olivia, BaseURL: f.Server.URL()}); err != nil || res.Contract.Health != contract.Healthy {
		t.Fatalf("sync after another release's drift: %v", err)
	}
	f.VerifyAudit()
}
