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

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/jobs"
	"github.com/spindlehq/spindle/internal/production"
	"github.com/spindlehq/spindle/internal/store/postgres"
	"github.com/spindlehq/spindle/internal/vault"
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

// openBackend opens the store: PostgreSQL when pgURL is set, else the
// SQLite file --db (which must exist when mustExist).
func (a *app) openBackend(ctx context.Context, pgURL, identity string, mustExist bool) (*backend, error) {
	if pgURL != "" {
		return a.openPostgres(ctx, pgURL, identity)
	}
	st, v, log, err := a.openVault(ctx, identity, mustExist)
	if err != nil {
		return nil, err
	}
	b := &backend{what: "sqlite " + a.dbPath, jobsPath: jobs.SQLitePath(a.dbPath), closers: []func() error{st.Close}}
	if b.env, err = productionEnv(st.DB(), st, v, log); err != nil {
		b.Close()
		return nil, err
	}
	b.queue = func(ctx context.Context, cfg jobs.Config) (*jobs.Queue, error) {
		db, _, err := jobs.OpenSQLite(ctx, a.dbPath)
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, db.Close)
		return jobs.NewSQLite(ctx, db, b.env, cfg)
	}
	return b, nil
}

// openPostgres opens the PostgreSQL store, its vault keyed like the
// SQLite one (the identity from the flag, the environment, or vault.key
// beside --db).
func (a *app) openPostgres(ctx context.Context, pgURL, identity string) (*backend, error) {
	st, err := postgres.Open(ctx, pgURL)
	if err != nil {
		return nil, err
	}
	b := &backend{what: "postgres", closers: []func() error{st.Close}}
	log := audit.New(st.DB(), audit.Options{})
	gov, err := governance.New(st.DB(), governance.Options{Audit: log})
	if err != nil {
		b.Close()
		return nil, err
	}
	o := vault.Options{Audit: log, Authorize: func(ctx context.Context, person, action string) error {
		return gov.Authorize(ctx, person, governance.Action(action))
	}}
	switch {
	case identity != "":
		o.IdentityFile = identity
	case strings.TrimSpace(os.Getenv(vault.EnvIdentity)) != "":
		o.IdentityValue = os.Getenv(vault.EnvIdentity)
	case strings.TrimSpace(os.Getenv(vault.EnvIdentityFile)) != "":
		o.IdentityFile = strings.TrimSpace(os.Getenv(vault.EnvIdentityFile))
	default:
		o.IdentityFile = vault.DefaultIdentityFile(a.dbPath)
	}
	v, err := vault.Open(st.DB(), o)
	if err != nil {
		b.Close()
		return nil, err
	}
	if b.env, err = productionEnv(st.DB(), st, v, log); err != nil {
		b.Close()
		return nil, err
	}
	b.queue = func(ctx context.Context, cfg jobs.Config) (*jobs.Queue, error) {
		return jobs.NewPostgres(ctx, st.Pool(), b.env, cfg)
	}
	return b, nil
}

// postgresFlag adds --postgres (default $SPINDLE_POSTGRES) to c.
func postgresFlag(c *cobra.Command, p *string) {
	c.Flags().StringVar(p, "postgres", "", "use the PostgreSQL store at this URL instead of --db (env SPINDLE_POSTGRES; the URL is never printed)")
}

// postgresURL is --postgres, else $SPINDLE_POSTGRES (read here, not as the
// flag's default, so --help never shows a URL that may hold a password).
func (a *app) postgresURL(flag string) string {
	if flag != "" {
		return flag
	}
	return os.Getenv("SPINDLE_POSTGRES")
}

type workerFlags struct {
	concurrency int
	queues      []string
	postgres    string
	identity    string
	grace       time.Duration
	tick        time.Duration
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
	c.Flags().StringVar(&f.rebuildDir, "rebuild-dir", "", "where rebuild bundles are written (default: rebuilds/ beside --db)")
	c.Flags().StringVar(&f.identity, "vault-identity", "", "age identity file of the vault (default: $SPINDLE_VAULT_IDENTITY, $SPINDLE_VAULT_IDENTITY_FILE, or vault.key beside --db)")
	postgresFlag(c, &f.postgres)
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
	log := a.logger()
	b, err := a.openBackend(ctx, a.postgresURL(f.postgres), f.identity, true)
	if err != nil {
		return err
	}
	defer b.Close()
	dir := f.rebuildDir
	if dir == "" {
		dir = filepath.Join(filepath.Dir(a.dbPath), "rebuilds")
	}
	q, err := b.queue(ctx, jobs.Config{Concurrency: f.concurrency, Queues: f.queues, TickEvery: f.tick, Periodic: true, RebuildDir: dir, Logger: log})
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
	var pg string
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
			pg := a.postgresURL(pg)
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
	postgresFlag(list, &pg)
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
