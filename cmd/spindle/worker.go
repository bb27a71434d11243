package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/jobs"
	"github.com/spindlehq/spindle/internal/production"
	"github.com/spindlehq/spindle/internal/store/postgres"
)

// backend is an opened store (SQLite file or PostgreSQL database) with the
// production pipeline over it, and how to make River's queue on it.
type backend struct {
	env *production.Env
	// what names it for logs (never a URL: it may carry a password).
	what string
	// queue makes the River queue on the backend; jobsPath is River's
	// SQLite file ("" on PostgreSQL).
	queue    func(ctx context.Context, cfg jobs.Config) (*jobs.Queue, error)
	jobsPath string
	closers  []func() error
}

func (b *backend) Close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]() //nolint:errcheck // closing on the way out
	}
}

// openBackend opens the store (--postgres, else the SQLite file --db,
// which must exist when mustExist) with the production pipeline over it.
func (a *app) openBackend(ctx context.Context, identity string, mustExist bool) (*backend, error) {
	st, v, log, err := a.openVault(ctx, identity, mustExist)
	if err != nil {
		return nil, err
	}
	b := &backend{closers: []func() error{st.Close}}
	if b.env, err = productionEnv(st.DB(), st, v, log); err != nil {
		b.Close()
		return nil, err
	}
	switch st := st.(type) {
	case *postgres.Store:
		b.what = "postgres"
		b.queue = func(ctx context.Context, cfg jobs.Config) (*jobs.Queue, error) {
			return jobs.NewPostgres(ctx, st.Pool(), b.env, cfg)
		}
	default:
		b.what, b.jobsPath = "sqlite "+a.dbPath, jobs.SQLitePath(a.dbPath)
		b.queue = func(ctx context.Context, cfg jobs.Config) (*jobs.Queue, error) {
			db, _, err := jobs.OpenSQLite(ctx, a.dbPath)
			if err != nil {
				return nil, err
			}
			b.closers = append(b.closers, db.Close)
			return jobs.NewSQLite(ctx, db, b.env, cfg)
		}
	}
	return b, nil
}

type workerFlags struct {
	concurrency int
	queues      []string
	identity    string
	grace       time.Duration
	tick        time.Duration
	jobTimeout  time.Duration
	rescue      time.Duration
	rebuildDir  string
}

func (a *app) workerCmd() *cobra.Command {
	var f workerFlags
	c := &cobra.Command{
		Use:   "worker [--db PATH | --postgres URL] [--concurrency N] [--queues Q,…] [--json]",
		Short: "Run the scheduler and the background jobs: scheduled syncs, daily validation, rebuilds on drift",
		Long: `Runs River workers until SIGINT or SIGTERM:

  schedule_tick  every --tick: enqueues each integration whose schedule is due
                 (spindle schedule set), and one validation a day of every
                 released integration
  sync           a scheduled production sync, run as the scheduler on behalf
                 of the person who set the schedule (their role is checked at
                 every run); retried with backoff when it errors; a failing
                 contract is recorded and alerted, not retried
  validate       the daily validation: staleness (no successful sync within
                 twice the schedule's interval, 48h unscheduled) and doc drift
                 against the doc pinned with the release; recorded as the
                 integration's health, audited, alerted; drift that matters
                 enqueues a rebuild
  rebuild        the agent rebuilds the integration against the new doc in
                 the sandbox and files a proposal for people to approve

With the SQLite store River keeps its jobs in a sibling file (spindle.db →
spindle-jobs.db): a sync holds the store's write lock for its whole run,
which River's own writes must never wait behind. With --postgres several
workers on several machines share the work; one of them runs the tick.

On a signal the worker stops taking jobs and waits --grace for running ones,
then cancels them (River retries them later). Logs are structured (slog) on
stderr, JSON with --json; they never carry a credential.`,
		Example: `  spindle worker
  spindle worker --postgres "$SPINDLE_POSTGRES" --concurrency 8
  spindle worker --queues sync,scheduler --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.workerRun(cmd.Context(), f)
		},
	}
	c.Flags().IntVar(&f.concurrency, "concurrency", jobs.DefaultConcurrency, "jobs of each queue run at once (syncs on SQLite: one, the store applies runs one at a time)")
	c.Flags().StringSliceVar(&f.queues, "queues", jobs.Queues(), "queues to work: "+strings.Join(jobs.Queues(), ", "))
	c.Flags().DurationVar(&f.grace, "grace", time.Minute, "on SIGINT/SIGTERM, how long running jobs may finish before they are cancelled")
	c.Flags().DurationVar(&f.tick, "tick", jobs.DefaultTickEvery, "how often the scheduler looks for due syncs")
	c.Flags().DurationVar(&f.jobTimeout, "job-timeout", jobs.DefaultJobTimeout, "a job running longer is cancelled (and retried)")
	c.Flags().DurationVar(&f.rescue, "rescue-after", 0, "a job still marked running after this long is taken to have lost its worker (killed, machine gone) and retried; more than --job-timeout (default --job-timeout + 1h)")
	c.Flags().StringVar(&f.rebuildDir, "rebuild-dir", "", "where rebuild bundles are written (default: rebuilds/ beside --db)")
	c.Flags().StringVar(&f.identity, "vault-identity", "", "age identity file of the vault (default: $SPINDLE_VAULT_IDENTITY, $SPINDLE_VAULT_IDENTITY_FILE, or vault.key beside --db)")
	return c
}

// logger is the worker's structured log on stderr.
func (a *app) logger() *slog.Logger {
	if a.jsonOut {
		return slog.New(slog.NewJSONHandler(a.stderr, nil))
	}
	return slog.New(slog.NewTextHandler(a.stderr, nil))
}

func (a *app) workerRun(ctx context.Context, f workerFlags) error {
	if f.concurrency <= 0 {
		return &exitError{2, fmt.Errorf("--concurrency %d: want 1 or more", f.concurrency)}
	}
	if f.tick < time.Second {
		return &exitError{2, fmt.Errorf("--tick %s: want 1s or more", f.tick)}
	}
	if f.jobTimeout <= 0 {
		return &exitError{2, fmt.Errorf("--job-timeout %s: want a positive duration", f.jobTimeout)}
	}
	if f.rescue != 0 && f.rescue <= f.jobTimeout {
		return &exitError{2, fmt.Errorf("--rescue-after %s must be longer than --job-timeout %s: a job still within its timeout may be running fine", f.rescue, f.jobTimeout)}
	}
	log := a.logger()
	b, err := a.openBackend(ctx, f.identity, true)
	if err != nil {
		return err
	}
	defer b.Close()
	dir := f.rebuildDir
	if dir == "" {
		dir = filepath.Join(filepath.Dir(a.dbPath), "rebuilds")
	}
	q, err := b.queue(ctx, jobs.Config{Concurrency: f.concurrency, Queues: f.queues, TickEvery: f.tick, Periodic: true, RebuildDir: dir, Logger: log, JobTimeout: f.jobTimeout, RescueAfter: f.rescue})
	if err != nil {
		return err
	}
	// River's Start context would stop it on the signal without the grace
	// period: the signal is handled below.
	if err := q.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start the workers: %w", err)
	}
	attrs := []any{"store", b.what, "queues", f.queues, "concurrency", f.concurrency, "tick", f.tick.String()}
	if b.jobsPath != "" {
		attrs = append(attrs, "jobs_db", b.jobsPath)
	}
	log.Info("worker started", attrs...)
	<-ctx.Done()
	log.Info("worker stopping: waiting for running jobs", "grace", f.grace.String())
	stop, cancel := context.WithTimeout(context.Background(), f.grace)
	defer cancel()
	if err := q.Stop(stop); err != nil {
		if !errors.Is(err, context.DeadlineExceeded) {
			log.Error("worker stop", "error", err.Error())
		}
		log.Warn("grace period over: cancelling running jobs (River retries them)")
		if err := q.StopAndCancel(context.Background()); err != nil {
			return fmt.Errorf("stop the workers: %w", err)
		}
	}
	log.Info("worker stopped")
	return nil
}

func (a *app) jobsCmd() *cobra.Command {
	var limit int
	var states []string
	c := &cobra.Command{Use: "jobs", Short: "Background jobs (River): what ran, what waits, what failed"}
	list := &cobra.Command{
		Use:   "list [--state S,…] [--limit N] [--json]",
		Short: "List recent jobs, newest first, with their state, attempts and last error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, s := range states {
				if !slices.Contains(jobs.States(), s) {
					return &exitError{2, fmt.Errorf("--state %q: the states are %s (see `%s --help`)", s, strings.Join(jobs.States(), ", "), cmd.CommandPath())}
				}
			}
			ctx := cmd.Context()
			out := []jobs.Job{}
			pg := a.postgresURL()
			if pg != "" || fileExists(jobs.SQLitePath(a.dbPath)) {
				var err error
				if out, err = a.listJobs(ctx, pg, limit, states); err != nil {
					return err
				}
			}
			if a.jsonOut {
				return a.govJSON(out)
			}
			if len(out) == 0 {
				fmt.Fprintln(a.stdout, "no jobs: schedule an integration (`spindle schedule set NAME --every 6h --as PERSON`) and run `spindle worker`")
				return nil
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tKIND\tINTEGRATION\tSTATE\tATTEMPT\tCREATED\tLAST ERROR")
			for _, j := range out {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", j.ID, j.Kind, dash(j.Integration), j.State, j.Attempt, j.MaxAttempts,
					j.CreatedAt.Format(time.RFC3339), oneLineErr(j.LastError))
			}
			return w.Flush()
		},
	}
	list.Flags().IntVar(&limit, "limit", 50, "at most this many jobs")
	list.Flags().StringSliceVar(&states, "state", nil, "only jobs in these states (available, running, retryable, completed, discarded, cancelled, scheduled)")
	c.AddCommand(list)
	return c
}

func (a *app) listJobs(ctx context.Context, pg string, limit int, states []string) ([]jobs.Job, error) {
	var q *jobs.Queue
	if pg != "" {
		st, err := postgres.Open(ctx, pg)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		if q, err = jobs.NewPostgres(ctx, st.Pool(), nil, jobs.Config{Queues: []string{}}); err != nil {
			return nil, err
		}
		return q.List(ctx, limit, states...)
	}
	db, _, err := jobs.OpenSQLite(ctx, a.dbPath)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if q, err = jobs.NewSQLite(ctx, db, nil, jobs.Config{Queues: []string{}}); err != nil {
		return nil, err
	}
	return q.List(ctx, limit, states...)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLineErr keeps a job's last error to one table cell.
func oneLineErr(s string) string {
	r := []rune(strings.Join(strings.Fields(s), " "))
	if len(r) > 120 {
		return string(r[:117]) + "…"
	}
	return string(r)
}
