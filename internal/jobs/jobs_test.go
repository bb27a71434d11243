package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/spindlehq/spindle/internal/alert"
	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/jobs"
	"github.com/spindlehq/spindle/internal/production"
	"github.com/spindlehq/spindle/internal/production/prodtest"
	"github.com/spindlehq/spindle/internal/store"
	"github.com/spindlehq/spindle/internal/vault"
)

// logBuffer collects a queue's logs; they are shown when a test fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// immediate retries a failed job at once.
type immediate struct{}

func (immediate) NextRetry(*rivertype.JobRow) time.Time { return time.Now() }

type harness struct {
	t    *testing.T
	f    *prodtest.Fixture
	b    prodtest.Backend
	logs *logBuffer
}

func newHarness(t *testing.T, b prodtest.Backend) *harness {
	h := &harness{t: t, f: prodtest.New(t, b), b: b, logs: &logBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker logs:\n%s", h.logs.String())
		}
	})
	return h
}

// queue is a Queue on the harness's backend; started, it is stopped when
// the test ends (before its databases close).
func (h *harness) queue(cfg jobs.Config, start bool) *jobs.Queue {
	t := h.t
	t.Helper()
	ctx := t.Context()
	cfg.TestOnly = true
	if cfg.FetchPollInterval == 0 {
		cfg.FetchPollInterval = 50 * time.Millisecond
	}
	if cfg.RebuildDir == "" {
		cfg.RebuildDir = t.TempDir()
	}
	if cfg.RetryPolicy == nil {
		cfg.RetryPolicy = immediate{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var q *jobs.Queue
	var err error
	switch h.b.Name {
	case "sqlite":
		db, _, oerr := jobs.OpenSQLite(ctx, h.f.Opened.Path)
		if oerr != nil {
			t.Fatal(oerr)
		}
		t.Cleanup(func() { db.Close() })
		q, err = jobs.NewSQLite(ctx, db, h.f.Env, cfg)
	default:
		q, err = jobs.NewPostgres(ctx, h.f.Opened.Pool, h.f.Env, cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	if start {
		if err := q.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := q.StopAndCancel(context.Background()); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
	}
	return q
}

// schedule has olivia schedule name against the sandbox.
func (h *harness) schedule(name string, every time.Duration) jobs.Schedule {
	h.t.Helper()
	sc, err := jobs.NewSchedules(h.f.Env, nil).Set(h.f.Ctx, prodtest.Operator, jobs.Schedule{Integration: name, Every: every, BaseURL: h.f.Server.URL()})
	if err != nil {
		h.t.Fatalf("schedule %s: %v", name, err)
	}
	return sc
}

// watcher keeps the job events it read past, so waiting for one job
// never loses another's.
type watcher struct {
	ch   <-chan *river.Event
	seen []*river.Event
}

func watch(q *jobs.Queue) (*watcher, func()) {
	ch, cancel := q.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled)
	return &watcher{ch: ch}, cancel
}

// wait returns the next event of a kind job for integration (any, when
// "") whose event kind is among want.
func (w *watcher) wait(t *testing.T, kind, integration string, want ...river.EventKind) *river.Event {
	t.Helper()
	match := func(ev *river.Event) bool {
		var a struct {
			Integration string `json:"integration"`
		}
		_ = json.Unmarshal(ev.Job.EncodedArgs, &a)
		return ev.Job.Kind == kind && (integration == "" || a.Integration == integration) && slices.Contains(want, ev.Kind)
	}
	for i, ev := range w.seen {
		if match(ev) {
			w.seen = slices.Delete(w.seen, i, i+1)
			return ev
		}
	}
	for {
		select {
		case ev := <-w.ch:
			if match(ev) {
				return ev
			}
			w.seen = append(w.seen, ev)
		case <-t.Context().Done():
			t.Fatalf("no %s job of %s ended as %v", kind, integration, want)
		}
	}
}

func hasDetail(es []audit.Entry, key, value string) bool {
	for _, e := range es {
		if e.Details[key] == value {
			return true
		}
	}
	return false
}

// TestScheduledSyncEndToEnd: an operator schedules an integration; the
// worker's periodic tick enqueues its sync (and the day's validation);
// the sync job runs the production pipeline as the scheduler on behalf of
// the operator — a run in the inventory, a healthy contract, every step
// audited naming her — and the schedule's next run moves an interval on.
func TestScheduledSyncEndToEnd(t *testing.T) {
	for _, b := range prodtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			h := newHarness(t, b)
			f := h.f
			const name = "acme-cloud"
			f.Ready(name, "")
			sc := h.schedule(name, 6*time.Hour)
			q := h.queue(jobs.Config{Periodic: true, TickEvery: time.Hour}, false)
			events, cancel := watch(q)
			defer cancel()
			if err := q.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q.StopAndCancel(context.Background()) })

			ev := events.wait(t, jobs.KindSync, name, river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled)
			if ev.Kind != river.EventKindJobCompleted || ev.Job.Attempt != 1 {
				t.Fatalf("sync job: %s after %d attempt(s): %+v", ev.Kind, ev.Job.Attempt, ev.Job.Errors)
			}
			runs, err := f.Opened.Inventory.Runs(f.Ctx, name, 0)
			if err != nil || len(runs) != 1 || runs[0].Status != store.RunOK {
				t.Fatalf("runs: %+v %v", runs, err)
			}
			latest, ok, err := contract.Latest(f.Ctx, f.Opened.DB, name)
			if err != nil || !ok || latest.Health != contract.Healthy || latest.RunID != runs[0].ID {
				t.Fatalf("health: %+v %v %v", latest, ok, err)
			}
			for _, action := range []string{"sync.start", "sync.finish", "contract.check", "credential.use"} {
				es := f.Audit(action)
				if len(es) != 1 || es[0].Actor != production.SchedulerActor {
					t.Errorf("%s: %+v", action, es)
					continue
				}
				if action != "credential.use" && !hasDetail(es, "on_behalf_of", prodtest.Operator) {
					t.Errorf("%s does not name the person the scheduler ran for: %v", action, es[0].Details)
				}
			}
			if es := f.Audit("schedule.set"); len(es) != 1 || es[0].Actor.Name != prodtest.Operator {
				t.Errorf("schedule.set: %+v", es)
			}
			got, err := jobs.NewSchedules(f.Env, nil).Get(f.Ctx, name)
			if err != nil || !got.NextRunAt.After(sc.NextRunAt.Add(5*time.Hour)) {
				t.Errorf("next run %v (set %v): %v", got.NextRunAt, sc.NextRunAt, err)
			}
			// The day's validation was enqueued by the same tick and ran:
			// nothing stale, no pinned doc to compare, so nothing recorded.
			if ev := events.wait(t, jobs.KindValidate, name, river.EventKindJobCompleted, river.EventKindJobFailed); ev.Kind != river.EventKindJobCompleted {
				t.Fatalf("validate: %s %+v", ev.Kind, ev.Job.Errors)
			}
			list, err := q.List(f.Ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]string{}
			for _, j := range list {
				kinds[j.Kind] = j.State
			}
			if kinds[jobs.KindSync] != "completed" || kinds[jobs.KindTick] != "completed" {
				t.Errorf("jobs: %+v", list)
			}
			f.VerifyAudit()
			if strings.Contains(h.logs.String(), f.Token) {
				t.Error("the credential appears in the worker's logs")
			}
			if !strings.Contains(h.logs.String(), `"msg":"job finish"`) {
				t.Errorf("no job finish logged:\n%s", h.logs.String())
			}
		})
	}
}

// TestUniqueJobs: two ticks enqueue one sync of a due integration and one
// validation a day; asking again while the sync waits adds nothing.
func TestUniqueJobs(t *testing.T) {
	for _, b := range prodtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			h := newHarness(t, b)
			const name = "acme-cloud"
			h.f.Ready(name, "")
			h.schedule(name, time.Hour)
			q := h.queue(jobs.Config{}, false) // nothing works the jobs
			first, err := q.Tick(h.f.Ctx)
			if err != nil || !slices.Equal(first.Syncs, []string{name}) || !slices.Equal(first.Validations, []string{name}) {
				t.Fatalf("first tick: %+v %v", first, err)
			}
			second, err := q.Tick(h.f.Ctx)
			if err != nil || len(second.Syncs)+len(second.Duplicates)+len(second.Validations) != 0 {
				t.Fatalf("second tick: %+v %v", second, err)
			}
			// Made due again while the first still waits: River refuses the
			// duplicate.
			h.schedule(name, time.Hour)
			third, err := q.Tick(h.f.Ctx)
			if err != nil || len(third.Syncs) != 0 || !slices.Equal(third.Duplicates, []string{name}) {
				t.Fatalf("third tick: %+v %v", third, err)
			}
			if e, err := q.EnqueueSync(h.f.Ctx, name); err != nil || !e.Duplicate {
				t.Fatalf("enqueue again: %+v %v", e, err)
			}
			list, err := q.List(h.f.Ctx, 0, "available")
			if err != nil {
				t.Fatal(err)
			}
			n := map[string]int{}
			for _, j := range list {
				n[j.Kind]++
				if j.Integration != name {
					t.Errorf("job %d of %q", j.ID, j.Integration)
				}
			}
			if n[jobs.KindSync] != 1 || n[jobs.KindValidate] != 1 {
				t.Errorf("available jobs: %+v", list)
			}
		})
	}
}

// TestFailingSyncIsRetried: a scheduled sync that errors (the vendor's
// terms are not accepted yet) is a River error, retried; once a person
// fixes the cause, a later attempt runs the sync.
func TestFailingSyncIsRetried(t *testing.T) {
	for _, b := range prodtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			h := newHarness(t, b)
			f := h.f
			const name = "acme-cloud"
			f.Release(f.Spec(name, ""))
			op := audit.Actor{Kind: audit.ActorPerson, Name: prodtest.Operator}
			if _, err := f.Env.Vault.Set(f.Ctx, op, vault.Credential{Name: name, Integration: name, Host: f.Host()}, []byte(f.Token)); err != nil {
				t.Fatal(err)
			}
			h.schedule(name, time.Hour)
			q := h.queue(jobs.Config{Queues: []string{jobs.QueueSync}, SyncMaxAttempts: 25}, false)
			events, cancel := watch(q)
			defer cancel()
			if _, err := q.Tick(f.Ctx); err != nil {
				t.Fatal(err)
			}
			if err := q.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q.StopAndCancel(context.Background()) })
			failed := events.wait(t, jobs.KindSync, name, river.EventKindJobFailed)
			if n := len(failed.Job.Errors); n == 0 || !strings.Contains(failed.Job.Errors[n-1].Error, "terms accept") {
				t.Fatalf("failed attempt: %+v", failed.Job.Errors)
			}
			if _, err := f.Env.Vault.AcceptTerms(f.Ctx, op, name, "Acme Cloud", "v1"); err != nil {
				t.Fatal(err)
			}
			done := events.wait(t, jobs.KindSync, name, river.EventKindJobCompleted)
			if done.Job.Attempt < 2 {
				t.Fatalf("completed at attempt %d", done.Job.Attempt)
			}
			if runs, err := f.Opened.Inventory.Runs(f.Ctx, name, 0); err != nil || len(runs) != 1 {
				t.Fatalf("runs: %+v %v", runs, err)
			}
			if !strings.Contains(h.logs.String(), `"msg":"job error"`) {
				t.Errorf("the failed attempt was not logged")
			}
		})
	}
}

// TestRevokedOperatorStopsSchedule: once the person who set a schedule
// may no longer run production syncs, the next scheduled run fails loudly
// — the job is cancelled (not retried), the schedule suspended, the
// integration's health failing with the reason, audited and alerted — and
// later ticks enqueue nothing for it.
func TestRevokedOperatorStopsSchedule(t *testing.T) {
	for _, b := range prodtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			h := newHarness(t, b)
			f := h.f
			const name = "acme-cloud"
			f.Ready(name, "")
			var posts atomic.Int32
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { posts.Add(1) }))
			defer hook.Close()
			if _, err := f.Env.Alerts.AddTarget(f.Ctx, alert.Target{Name: "ops", URL: hook.URL + "/hook", Format: alert.FormatJSON, CreatedBy: prodtest.Operator}); err != nil {
				t.Fatal(err)
			}
			h.schedule(name, time.Hour)
			if err := f.Env.Gov.Revoke(f.Ctx, "root", prodtest.Operator, governance.RoleOperator); err != nil {
				t.Fatal(err)
			}
			q := h.queue(jobs.Config{Queues: []string{jobs.QueueSync}}, false)
			events, cancel := watch(q)
			defer cancel()
			if _, err := q.Tick(f.Ctx); err != nil {
				t.Fatal(err)
			}
			if err := q.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q.StopAndCancel(context.Background()) })
			ev := events.wait(t, jobs.KindSync, name, river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled)
			if ev.Kind != river.EventKindJobCancelled || ev.Job.Attempt != 1 || len(ev.Job.Errors) == 0 || !strings.Contains(ev.Job.Errors[0].Error, "schedule set") {
				t.Fatalf("job: %s attempt %d %+v", ev.Kind, ev.Job.Attempt, ev.Job.Errors)
			}
			sc, err := jobs.NewSchedules(f.Env, nil).Get(f.Ctx, name)
			if err != nil || sc.SuspendedAt == nil || !strings.Contains(sc.SuspendedReason, prodtest.Operator) {
				t.Fatalf("schedule: %+v %v", sc, err)
			}
			latest, _, err := contract.Latest(f.Ctx, f.Opened.DB, name)
			if err != nil || latest.Health != contract.Failing || !slices.Equal(latest.Failing(), []string{jobs.FindingSchedule}) {
				t.Fatalf("health: %+v %v", latest, err)
			}
			if posts.Load() != 1 {
				t.Errorf("%d alerts posted", posts.Load())
			}
			for _, action := range []string{"schedule.suspend", "contract.check", "alert.send"} {
				es := f.Audit(action)
				if len(es) != 1 || es[0].Actor != production.SchedulerActor || !hasDetail(es, "on_behalf_of", prodtest.Operator) {
					t.Errorf("%s: %+v", action, es)
				}
			}
			if es := f.Audit("sync.start"); len(es) != 0 {
				t.Errorf("a sync started: %+v", es)
			}
			if tk, err := q.Tick(f.Ctx); err != nil || len(tk.Syncs)+len(tk.Duplicates) != 0 {
				t.Errorf("tick after suspension: %+v %v", tk, err)
			}
			f.VerifyAudit()
		})
	}
}

// TestValidateRecordsStale: the daily validation of an integration whose
// last successful sync is older than its cadence records a stale health
// (merged with the last sync's checks), audited as the scheduler.
func TestValidateRecordsStale(t *testing.T) {
	for _, b := range prodtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			for _, tc := range []struct {
				name     string
				every    time.Duration // 0: no schedule (the default 48h)
				later    time.Duration
				stale    bool
				recorded int // contract checks recorded after the sync's
			}{
				{"scheduled hourly, 3h later", time.Hour, 3 * time.Hour, true, 1},
				{"scheduled hourly, 1h later", time.Hour, time.Hour, false, 0},
				{"unscheduled, 3 days later", 0, 72 * time.Hour, true, 1},
				{"unscheduled, a day later", 0, 24 * time.Hour, false, 0},
			} {
				t.Run(tc.name, func(t *testing.T) {
					h := newHarness(t, b)
					f := h.f
					const name = "acme-cloud"
					f.Ready(name, "")
					if _, err := f.Env.Sync(f.Ctx, production.SyncRequest{Integration: name, Actor: audit.Actor{Kind: audit.ActorPerson, Name: prodtest.Operator}, BaseURL: f.Server.URL()}); err != nil {
						t.Fatal(err)
					}
					if tc.every > 0 {
						h.schedule(name, tc.every)
					}
					later := time.Now().Add(tc.later)
					q := h.queue(jobs.Config{Queues: []string{jobs.QueueValidate}, Now: func() time.Time { return later }}, false)
					events, cancel := watch(q)
					defer cancel()
					if e, err := q.EnqueueValidate(f.Ctx, name); err != nil || e.Duplicate {
						t.Fatal(e, err)
					}
					if err := q.Start(context.Background()); err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { q.StopAndCancel(context.Background()) })
					if ev := events.wait(t, jobs.KindValidate, name, river.EventKindJobCompleted, river.EventKindJobFailed); ev.Kind != river.EventKindJobCompleted {
						t.Fatalf("validate: %+v", ev.Job.Errors)
					}
					checks := f.Audit("contract.check")
					if len(checks) != 1+tc.recorded {
						t.Fatalf("%d contract checks audited", len(checks))
					}
					latest, _, err := contract.Latest(f.Ctx, f.Opened.DB, name)
					if err != nil {
						t.Fatal(err)
					}
					if !tc.stale {
						if latest.Health != contract.Healthy {
							t.Errorf("health %s", latest.Health)
						}
						return
					}
					if latest.Health != contract.Stale || !slices.Equal(latest.Failing(), []string{contract.StalenessID}) || len(latest.Checks) < 3 {
						t.Errorf("recorded %s, failing %v, %d checks", latest.Health, latest.Failing(), len(latest.Checks))
					}
					last := checks[len(checks)-1]
					if last.Actor != production.SchedulerActor || last.Details["source"] != "validate" || last.Details["health"] != string(contract.Stale) {
						t.Errorf("audit: %+v", last)
					}
				})
			}
		})
	}
}

// TestValidateDriftRebuilds: the vendor's doc changes after the release —
// a field the mapping reads is renamed. The daily validation finds the
// breaking change against the pinned doc, fails the integration's health
// with drift.breaking, alerts, and enqueues one rebuild; the rebuild job
// has the agent rebuild the integration in the sandbox and file a proposal
// (never a release), recorded as the drift.rebuild finding.
func TestValidateDriftRebuilds(t *testing.T) {
	h := newHarness(t, prodtest.SQLite)
	f := h.f
	const name = "acme-cloud"
	orig, err := os.ReadFile(filepath.Join(f.Root, "examples/docs/acme-keys.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join(t.TempDir(), "acme-keys.yaml")
	if err := os.WriteFile(doc, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	rel := f.Ready(name, doc)
	var posts atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { posts.Add(1) }))
	defer hook.Close()
	if _, err := f.Env.Alerts.AddTarget(f.Ctx, alert.Target{Name: "ops", URL: hook.URL + "/hook", Format: alert.FormatJSON, CreatedBy: prodtest.Operator}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Env.Sync(f.Ctx, production.SyncRequest{Integration: name, Actor: audit.Actor{Kind: audit.ActorPerson, Name: prodtest.Operator}, BaseURL: f.Server.URL()}); err != nil {
		t.Fatal(err)
	}
	// The vendor renames users' display_name.
	drifted := strings.ReplaceAll(string(orig), "display_name", "full_name")
	if drifted == string(orig) {
		t.Fatal("the Acme doc no longer has display_name")
	}
	if err := os.WriteFile(doc, []byte(drifted), 0o600); err != nil {
		t.Fatal(err)
	}

	q := h.queue(jobs.Config{Queues: []string{jobs.QueueValidate, jobs.QueueRebuild}, RebuildDir: t.TempDir()}, false)
	events, cancel := watch(q)
	defer cancel()
	if _, err := q.EnqueueValidate(f.Ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.StopAndCancel(context.Background()) })
	if ev := events.wait(t, jobs.KindValidate, name, river.EventKindJobCompleted, river.EventKindJobFailed); ev.Kind != river.EventKindJobCompleted {
		t.Fatalf("validate: %+v", ev.Job.Errors)
	}
	es := f.Audit("contract.check")
	last := es[len(es)-1]
	if last.Details["source"] != "validate" || last.Details["health"] != string(contract.Failing) || posts.Load() != 1 {
		t.Fatalf("after validation: %+v, %d alerts", last.Details, posts.Load())
	}
	if es := f.Audit("rebuild.enqueue"); len(es) != 1 || es[0].Actor != production.SchedulerActor {
		t.Fatalf("rebuild.enqueue: %+v", es)
	}

	ev := events.wait(t, jobs.KindRebuild, name, river.EventKindJobCompleted, river.EventKindJobFailed)
	if ev.Kind != river.EventKindJobCompleted {
		t.Fatalf("rebuild: %+v", ev.Job.Errors)
	}
	latest, _, err := contract.Latest(f.Ctx, f.Opened.DB, name)
	if err != nil {
		t.Fatal(err)
	}
	var breaking, rebuilt *contract.Finding
	for i, c := range latest.Checks {
		switch c.ID {
		case jobs.FindingDriftBreaking:
			breaking = &latest.Checks[i]
		case jobs.FindingDriftRebuild:
			rebuilt = &latest.Checks[i]
		}
	}
	if breaking == nil || breaking.Status != contract.Fail || !strings.Contains(breaking.Message, "display_name") || breaking.Evidence["spec_sha256"] != rel.SpecDigest {
		t.Fatalf("drift.breaking: %+v", breaking)
	}
	if rebuilt == nil {
		t.Fatalf("no drift.rebuild finding: %+v", latest.Checks)
	}
	t.Logf("rebuild: %s %s", rebuilt.Status, rebuilt.Message)
	if rebuilt.Status == contract.Pass {
		ps, err := f.Env.Gov.Proposals(f.Ctx, governance.StatusOpen)
		if err != nil || len(ps) != 1 || !governance.IsAgent(ps[0].Author) || ps[0].Integration != name {
			t.Fatalf("proposals: %+v %v", ps, err)
		}
	}
	// Nothing was released by the rebuild.
	if cur, err := f.Env.Gov.Current(f.Ctx, name); err != nil || cur.ID != rel.ID {
		t.Errorf("current release: %+v %v", cur, err)
	}
	f.VerifyAudit()
}

// TestConcurrentSyncs: several integrations due at once all sync, each
// once. On SQLite the store applies runs one at a time and River lives in
// its own file, so a run's write lock never makes River's fetches and
// completions wait; on PostgreSQL the runs overlap.
func TestConcurrentSyncs(t *testing.T) {
	for _, b := range prodtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			h := newHarness(t, b)
			f := h.f
			names := []string{"acme-a", "acme-b", "acme-c", "acme-d"}
			for _, n := range names {
				f.Ready(n, "")
				h.schedule(n, time.Hour)
			}
			q := h.queue(jobs.Config{Queues: []string{jobs.QueueSync}, Concurrency: len(names)}, false)
			events, cancel := watch(q)
			defer cancel()
			if tk, err := q.Tick(f.Ctx); err != nil || len(tk.Syncs) != len(names) {
				t.Fatalf("tick: %+v %v", tk, err)
			}
			if err := q.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q.StopAndCancel(context.Background()) })
			for range names {
				ev := events.wait(t, jobs.KindSync, "", river.EventKindJobCompleted, river.EventKindJobFailed)
				if ev.Kind != river.EventKindJobCompleted || ev.Job.Attempt != 1 {
					t.Fatalf("%s: %s at attempt %d: %+v", ev.Job.EncodedArgs, ev.Kind, ev.Job.Attempt, ev.Job.Errors)
				}
			}
			for _, n := range names {
				runs, err := f.Opened.Inventory.Runs(f.Ctx, n, 0)
				if err != nil || len(runs) != 1 || runs[0].Status != store.RunOK {
					t.Errorf("%s: %+v %v", n, runs, err)
				}
			}
		})
	}
}

// TestRiverNotBlockedBySync: with a sync run holding the SQLite store's
// write lock, River (in its own file) still enqueues and lists at once.
// On the store's own file the same insert waits out the busy timeout and
// fails with SQLITE_BUSY (measured: 10.07s, "database is locked"), which
// is why River's tables are not there.
func TestRiverNotBlockedBySync(t *testing.T) {
	h := newHarness(t, prodtest.SQLite)
	q := h.queue(jobs.Config{Queues: []string{}}, false)
	run, err := h.f.Opened.Inventory.BeginSync(h.f.Ctx, "acme-cloud", "sha256:x", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer run.Rollback()
	if _, err := q.EnqueueSync(h.f.Ctx, "acme-cloud"); err != nil {
		t.Fatal(err)
	}
	if list, err := q.List(h.f.Ctx, 0); err != nil || len(list) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
}

// TestConfigRefusals: a queue is refused for what it cannot work.
func TestConfigRefusals(t *testing.T) {
	h := newHarness(t, prodtest.SQLite)
	db, _, err := jobs.OpenSQLite(h.f.Ctx, h.f.Opened.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		name string
		env  *production.Env
		cfg  jobs.Config
		want string
	}{
		{"unknown queue", h.f.Env, jobs.Config{Queues: []string{"mail"}}, `unknown queue "mail"`},
		{"rebuild without a directory", h.f.Env, jobs.Config{Queues: []string{jobs.QueueRebuild}}, "RebuildDir"},
		{"working without the environment", nil, jobs.Config{Queues: []string{jobs.QueueSync}}, "production environment"},
	} {
		if _, err := jobs.NewSQLite(h.f.Ctx, db, tc.env, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := jobs.NewSQLite(h.f.Ctx, db, nil, jobs.Config{Queues: []string{}}); err != nil {
		t.Errorf("an enqueue-only queue: %v", err)
	}
	sch := jobs.NewSchedules(h.f.Env, nil)
	for _, tc := range []struct {
		who   string
		sc    jobs.Schedule
		want  string
		isErr error
	}{
		{"", jobs.Schedule{Integration: "acme-cloud", Every: time.Hour}, "--as", nil},
		{prodtest.Operator, jobs.Schedule{Integration: "acme-cloud", Every: time.Second}, "every 1m0s or more", nil},
		{"alice", jobs.Schedule{Integration: "acme-cloud", Every: time.Hour}, "operator", nil},
		{prodtest.Operator, jobs.Schedule{Integration: "acme-cloud", Every: time.Hour}, "no release", nil},
	} {
		if _, err := sch.Set(h.f.Ctx, tc.who, tc.sc); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("set by %q %+v: %v, want %q", tc.who, tc.sc, err, tc.want)
		}
	}
	if _, err := sch.Remove(h.f.Ctx, prodtest.Operator, "acme-cloud"); !errors.Is(err, jobs.ErrNoSchedule) {
		t.Errorf("remove what is not there: %v", err)
	}
}
