// Package jobs runs Spindle's background work on River: the scheduler's
// tick (a River periodic job) enqueues each integration's sync by its
// schedule and one validation per released integration per day; workers
// run the syncs (internal/production, as the scheduler on behalf of the
// person who set the schedule), the daily validations (staleness and doc
// drift, recorded as contract health, audited and alerted) and the
// rebuilds doc drift calls for (internal/rebuild: a new proposal for a
// person to approve, never a release).
//
// Embedded, River runs on SQLite (riversqlite) in a file of its own beside
// the store (see OpenSQLite for why); distributed, on PostgreSQL
// (riverpgxv5) in the store's database, where several worker processes
// share the work. River's schema is migrated when a Queue is made.
package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/spindlehq/spindle/internal/drift"
	"github.com/spindlehq/spindle/internal/production"
)

// Job kinds.
const (
	KindSync     = "sync"
	KindValidate = "validate"
	KindRebuild  = "rebuild"
	KindTick     = "schedule_tick"
)

// Queues. Each kind has its own, so a worker can be pointed at part of the
// work (--queues) and a long rebuild never holds up syncs.
const (
	QueueSync      = "sync"
	QueueValidate  = "validate"
	QueueRebuild   = "rebuild"
	QueueScheduler = "scheduler"
)

// Queues lists every queue.
func Queues() []string { return []string{QueueScheduler, QueueSync, QueueValidate, QueueRebuild} }

// activeStates: a job is a duplicate of one of its kind and args that is
// waiting, running or waiting to be retried; once it finished, the next
// one may be enqueued.
var activeStates = []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled}

// SyncArgs is a scheduled production sync of one integration.
type SyncArgs struct {
	Integration string `json:"integration" river:"unique"`
}

// Kind implements river.JobArgs.
func (SyncArgs) Kind() string { return KindSync }

// InsertOpts: one sync of an integration at a time, however many ticks
// (or workers' ticks) ask for it.
func (SyncArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSync, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
}

// ValidateArgs is the daily validation of one released integration.
type ValidateArgs struct {
	Integration string `json:"integration" river:"unique"`
}

// Kind implements river.JobArgs.
func (ValidateArgs) Kind() string { return KindValidate }

// InsertOpts: one validation per integration per (UTC) day; River's
// default unique states include completed ones, which it keeps longer
// than the day.
func (ValidateArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueValidate, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: 24 * time.Hour}}
}

// RebuildArgs is a rebuild of an integration against the new version of
// its vendor doc.
type RebuildArgs struct {
	Integration string `json:"integration" river:"unique"`
	// DocSHA256 is the new doc's digest the validation saw.
	DocSHA256 string `json:"doc_sha256" river:"unique"`
	// Reason is the drift that called for it (one line).
	Reason string `json:"reason"`
}

// Kind implements river.JobArgs.
func (RebuildArgs) Kind() string { return KindRebuild }

// InsertOpts: one rebuild per integration and doc version for as long as
// River keeps the job (the validation also remembers it in the
// drift.rebuild finding).
func (RebuildArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueRebuild, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true,
		ByState: append(slices.Clone(activeStates), rivertype.JobStateCompleted, rivertype.JobStateDiscarded)}}
}

// TickArgs is the scheduler's tick.
type TickArgs struct{}

// Kind implements river.JobArgs.
func (TickArgs) Kind() string { return KindTick }

// InsertOpts: ticks do not pile up behind a slow one.
func (TickArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueScheduler, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByState: activeStates}}
}

// Defaults of Config.
const (
	DefaultConcurrency     = 4
	DefaultTickEvery       = time.Minute
	DefaultSyncMaxAttempts = 5
	// DefaultJobTimeout bounds one job: a large production sync takes
	// minutes, a rebuild runs the build agent.
	DefaultJobTimeout = 2 * time.Hour
)

// Config tunes a Queue. Zero values take the defaults.
type Config struct {
	// Concurrency is how many jobs of each queue run at once in this
	// process (the scheduler's queue runs one).
	Concurrency int
	// Queues this process works (default: all). A process with none only
	// enqueues and lists.
	Queues []string
	// TickEvery is the scheduler's period; Periodic false leaves the tick
	// out (a worker that only works, or a test that ticks by hand).
	TickEvery time.Duration
	Periodic  bool
	// SyncMaxAttempts is how many times a failing sync is tried (River's
	// backoff between attempts) before it is discarded and its failure
	// recorded as the integration's health.
	SyncMaxAttempts int
	JobTimeout      time.Duration
	// RescueAfter is how long a job may look running before River retries
	// it elsewhere (its worker died); default JobTimeout + 1h.
	RescueAfter time.Duration
	// RetryPolicy replaces River's (attempt⁴ seconds); tests retry at once.
	RetryPolicy river.ClientRetryPolicy
	// FetchPollInterval is how often idle workers look for jobs (River's
	// default: 1s).
	FetchPollInterval time.Duration
	// RebuildDir receives rebuild bundles, one directory per integration
	// and doc version. Required to work the rebuild queue.
	RebuildDir string
	// Drift tunes the drift checks (HTTP client, size bound).
	Drift drift.Options
	// Now is the clock of the scheduler and the validations (nil:
	// time.Now).
	Now func() time.Time
	// Logger gets structured logs of every job's start, finish and error
	// (never a secret) and River's own. Nil discards them.
	Logger *slog.Logger
	// TestOnly tells River it runs in a test (no start-up jitter).
	TestOnly bool
}

func (c Config) withDefaults() Config {
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Queues == nil {
		c.Queues = Queues()
	}
	if c.TickEvery <= 0 {
		c.TickEvery = DefaultTickEvery
	}
	if c.SyncMaxAttempts <= 0 {
		c.SyncMaxAttempts = DefaultSyncMaxAttempts
	}
	if c.JobTimeout <= 0 {
		c.JobTimeout = DefaultJobTimeout
	}
	if c.RescueAfter <= c.JobTimeout {
		c.RescueAfter = c.JobTimeout + time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// client is what Queue uses of a River client, whatever its driver's
// transaction type.
type client interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Stopped() <-chan struct{}
	Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func())
}

// Queue is a River client with Spindle's workers and scheduler.
type Queue struct {
	c         client
	env       *production.Env
	schedules *Schedules
	cfg       Config
	log       *slog.Logger
	// Backend names the driver: "sqlite" or "postgres".
	Backend string
}

// OpenSQLite opens River's SQLite database for the store at storePath: a
// sibling file, spindle.db → spindle-jobs.db. Not the store's own file,
// because the store holds SQLite's one write lock for a whole sync run
// (BEGIN IMMEDIATE, so a run never fails half-way): River's fetches,
// completions and leader election on the same file would wait on the busy
// timeout behind every sync and fail once a run outlasts it, and River
// asks for a one-connection pool on SQLite, which the store's concurrent
// readers cannot share. In a file of its own River never waits for a sync.
func OpenSQLite(ctx context.Context, storePath string) (*sql.DB, string, error) {
	if storePath == "" {
		return nil, "", errors.New("jobs: no store path; pass the database file (--db)")
	}
	path := SQLitePath(storePath)
	v := url.Values{
		"_pragma": {"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)"},
		"_txlock": {"immediate"},
	}
	db, err := sql.Open("sqlite", path+"?"+v.Encode())
	if err != nil {
		return nil, "", fmt.Errorf("jobs: open %s: %w", path, err)
	}
	// River's advice for SQLite: one connection, so its concurrent
	// internals queue in the pool instead of failing with SQLITE_BUSY.
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, "", fmt.Errorf("jobs: open %s (is the directory writable?): %w", path, err)
	}
	return db, path, nil
}

// SQLitePath is where OpenSQLite keeps River's tables for the store at
// storePath.
func SQLitePath(storePath string) string {
	ext := filepath.Ext(storePath)
	if ext == "" {
		return storePath + "-jobs.db"
	}
	return strings.TrimSuffix(storePath, ext) + "-jobs" + ext
}

// NewSQLite is a Queue on River's SQLite database (OpenSQLite), with its
// schema migrated. env may be nil for a Queue that only enqueues and lists
// (no queues to work).
func NewSQLite(ctx context.Context, db *sql.DB, env *production.Env, cfg Config) (*Queue, error) {
	return newQueue(ctx, riversqlite.New(db), "sqlite", nil, env, cfg)
}

// NewPostgres is a Queue on PostgreSQL, River's tables in the pool's
// database (the store's), with its schema migrated. Several processes may
// run one each: River elects one leader for the tick and shares the jobs.
func NewPostgres(ctx context.Context, pool *pgxpool.Pool, env *production.Env, cfg Config) (*Queue, error) {
	return newQueue(ctx, riverpgxv5.New(pool), "postgres", migrationLock(pool), env, cfg)
}

// riverMigrationLock keys the session advisory lock held while River's
// schema is migrated: workers started together would otherwise race to
// create the same tables, and all but one fail.
const riverMigrationLock int64 = 0x5350494e52495645 // "SPINRIVE"

// migrationLock takes riverMigrationLock on a connection of its own and
// returns its release.
func migrationLock(pool *pgxpool.Pool) func(context.Context) (func(), error) {
	return func(ctx context.Context) (func(), error) {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return nil, fmt.Errorf("jobs: lock River's migrations: %w", err)
		}
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", riverMigrationLock); err != nil {
			conn.Release()
			return nil, fmt.Errorf("jobs: lock River's migrations: %w", err)
		}
		return func() {
			conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", riverMigrationLock) //nolint:errcheck // the session ends with the connection anyway
			conn.Release()
		}, nil
	}
}

func newQueue[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], backend string, lock func(context.Context) (func(), error), env *production.Env, cfg Config) (*Queue, error) {
	cfg = cfg.withDefaults()
	for _, q := range cfg.Queues {
		if !slices.Contains(Queues(), q) {
			return nil, fmt.Errorf("jobs: unknown queue %q: the queues are %s", q, strings.Join(Queues(), ", "))
		}
	}
	if len(cfg.Queues) > 0 && env == nil {
		return nil, errors.New("jobs: working queues needs the production environment (the store, vault, governance …)")
	}
	if slices.Contains(cfg.Queues, QueueRebuild) && cfg.RebuildDir == "" {
		return nil, errors.New("jobs: the rebuild queue needs a directory for the rebuild bundles (Config.RebuildDir)")
	}
	if lock != nil {
		unlock, err := lock(ctx)
		if err != nil {
			return nil, err
		}
		err = Migrate(ctx, driver)
		unlock()
		if err != nil {
			return nil, err
		}
	} else if err := migrateRetrying(ctx, driver); err != nil {
		return nil, err
	}
	q := &Queue{env: env, cfg: cfg, log: cfg.Logger, Backend: backend}
	if env != nil {
		q.schedules = NewSchedules(env, cfg.Now)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &syncWorker{q: q})
	river.AddWorker(workers, &validateWorker{q: q})
	river.AddWorker(workers, &rebuildWorker{q: q})
	river.AddWorker(workers, &tickWorker{q: q})
	rc := &river.Config{
		Workers:              workers,
		Logger:               cfg.Logger,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		RetryPolicy:          cfg.RetryPolicy,
		FetchPollInterval:    cfg.FetchPollInterval,
		TestOnly:             cfg.TestOnly,
		// SQLite has no LISTEN/NOTIFY; PostgreSQL does.
		PollOnly: backend == "sqlite",
	}
	if cfg.FetchPollInterval > 0 && cfg.FetchPollInterval < 100*time.Millisecond {
		rc.FetchCooldown = cfg.FetchPollInterval
	}
	if len(cfg.Queues) > 0 {
		rc.Queues = map[string]river.QueueConfig{}
		for _, name := range cfg.Queues {
			n := cfg.Concurrency
			switch {
			case name == QueueScheduler:
				n = 1
			case name == QueueSync && backend == "sqlite":
				// The SQLite store applies one sync run at a time (it holds
				// the file's write lock for the run); a second sync job would
				// only wait, and its audit writes could time out on the lock.
				n = 1
			}
			rc.Queues[name] = river.QueueConfig{MaxWorkers: n}
		}
	}
	if cfg.Periodic && len(cfg.Queues) > 0 {
		rc.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(cfg.TickEvery),
			func() (river.JobArgs, *river.InsertOpts) { return TickArgs{}, nil },
			&river.PeriodicJobOpts{ID: KindTick, RunOnStart: true})}
	}
	c, err := river.NewClient(driver, rc)
	if err != nil {
		return nil, fmt.Errorf("jobs: River client: %w", err)
	}
	q.c = c
	return q, nil
}

// migrateRetrying is Migrate for SQLite, where no advisory lock exists:
// two processes opening a new jobs file together (a worker and `spindle
// jobs list`) can both find it empty, and the slower one's CREATE TABLE
// fails. Its transaction rolled back, and the other applied the schema, so
// trying again finds the versions in place.
func migrateRetrying[TTx any](ctx context.Context, driver riverdriver.Driver[TTx]) error {
	var err error
	for attempt := range 5 {
		if err = Migrate(ctx, driver); err == nil || !strings.Contains(err.Error(), "already exists") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 50 * time.Millisecond):
		}
	}
	return err
}

// Migrate brings River's schema up to date for driver (idempotent).
func Migrate[TTx any](ctx context.Context, driver riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return fmt.Errorf("jobs: River migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: migrate River's schema: %w", err)
	}
	return nil
}

// Start starts working the configured queues (and the tick, with
// Periodic). It returns at once; Stop or StopAndCancel end it.
func (q *Queue) Start(ctx context.Context) error { return q.c.Start(ctx) }

// Stop waits for running jobs to finish.
func (q *Queue) Stop(ctx context.Context) error { return q.c.Stop(ctx) }

// StopAndCancel cancels running jobs (River retries them later) and
// returns when they have returned.
func (q *Queue) StopAndCancel(ctx context.Context) error { return q.c.StopAndCancel(ctx) }

// Stopped is closed when the client has stopped.
func (q *Queue) Stopped() <-chan struct{} { return q.c.Stopped() }

// Subscribe delivers River's job events (completed, failed …) until the
// returned function is called.
func (q *Queue) Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func()) {
	return q.c.Subscribe(kinds...)
}

// Enqueued is what an insert did.
type Enqueued struct {
	JobID int64 `json:"job_id"`
	// Duplicate: an equal job was already waiting or running; none was
	// added.
	Duplicate bool `json:"duplicate"`
}

func (q *Queue) insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (Enqueued, error) {
	res, err := q.c.Insert(ctx, args, opts)
	if err != nil {
		return Enqueued{}, fmt.Errorf("jobs: enqueue %s: %w", args.Kind(), err)
	}
	return Enqueued{JobID: res.Job.ID, Duplicate: res.UniqueSkippedAsDuplicate}, nil
}

// EnqueueSync enqueues a sync of integration now, unless one is already
// waiting or running.
func (q *Queue) EnqueueSync(ctx context.Context, integration string) (Enqueued, error) {
	return q.insert(ctx, SyncArgs{Integration: integration}, &river.InsertOpts{MaxAttempts: q.cfg.SyncMaxAttempts})
}

// EnqueueValidate enqueues integration's validation of the day, unless it
// was already enqueued today.
func (q *Queue) EnqueueValidate(ctx context.Context, integration string) (Enqueued, error) {
	return q.insert(ctx, ValidateArgs{Integration: integration}, nil)
}

// EnqueueRebuild enqueues a rebuild of integration against the doc with
// the given digest, unless one was already enqueued for it.
func (q *Queue) EnqueueRebuild(ctx context.Context, a RebuildArgs) (Enqueued, error) {
	return q.insert(ctx, a, nil)
}

// Job is a job as `spindle jobs list` shows it.
type Job struct {
	ID          int64      `json:"id"`
	Kind        string     `json:"kind"`
	Queue       string     `json:"queue"`
	State       string     `json:"state"`
	Integration string     `json:"integration,omitempty"`
	Attempt     int        `json:"attempt"`
	MaxAttempts int        `json:"max_attempts"`
	CreatedAt   time.Time  `json:"created_at"`
	ScheduledAt time.Time  `json:"scheduled_at"`
	AttemptedAt *time.Time `json:"attempted_at,omitempty"`
	FinalizedAt *time.Time `json:"finalized_at,omitempty"`
	// LastError is the last attempt's error (errors are recorded redacted).
	LastError string `json:"last_error,omitempty"`
}

// States lists the job states List filters by.
func States() []string {
	var out []string
	for _, s := range rivertype.JobStates() {
		out = append(out, string(s))
	}
	return out
}

// List returns the newest jobs, at most limit (default 50), optionally of
// some states only (available, running, retryable, completed, discarded …).
func (q *Queue) List(ctx context.Context, limit int, states ...string) ([]Job, error) {
	if limit <= 0 {
		limit = 50
	}
	p := river.NewJobListParams().OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(limit)
	if len(states) > 0 {
		ss := make([]rivertype.JobState, len(states))
		for i, s := range states {
			ss[i] = rivertype.JobState(s)
			if !slices.Contains(rivertype.JobStates(), ss[i]) {
				return nil, fmt.Errorf("jobs: unknown state %q: the states are %v", s, rivertype.JobStates())
			}
		}
		p = p.States(ss...)
	}
	res, err := q.c.JobList(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("jobs: list: %w", err)
	}
	out := make([]Job, 0, len(res.Jobs))
	for _, r := range res.Jobs {
		j := Job{ID: r.ID, Kind: r.Kind, Queue: r.Queue, State: string(r.State), Attempt: r.Attempt, MaxAttempts: r.MaxAttempts,
			CreatedAt: r.CreatedAt.UTC(), ScheduledAt: r.ScheduledAt.UTC(), AttemptedAt: r.AttemptedAt, FinalizedAt: r.FinalizedAt}
		var a struct {
			Integration string `json:"integration"`
		}
		if json.Unmarshal(r.EncodedArgs, &a) == nil {
			j.Integration = a.Integration
		}
		if n := len(r.Errors); n > 0 {
			j.LastError = r.Errors[n-1].Error
		}
		out = append(out, j)
	}
	return out, nil
}
