package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/authn"
	"github.com/spindlehq/spindle/internal/custody"
	"github.com/spindlehq/spindle/internal/jobs"
	"github.com/spindlehq/spindle/internal/server"
	"github.com/spindlehq/spindle/internal/web"
)

type serveFlags struct {
	addr          string
	workers       bool
	concurrency   int
	identity      string
	grace         time.Duration
	metricsPublic bool
	tlsCert       string
	tlsKey        string
	rebuildDir    string
}

func (a *app) serveCmd() *cobra.Command {
	var f serveFlags
	c := &cobra.Command{
		Use:   "serve [--addr 127.0.0.1:8080] [--db PATH | --postgres URL] [--workers=true] [--concurrency N]",
		Short: "Serve the HTTP API, the dashboard and the background workers in one process",
		Long: `Serves, until SIGINT or SIGTERM:

  /api/v1/…      the JSON API (described at /openapi.json): integrations with
                 health and drift, proposals (review, approve, reject),
                 releases, the inventory and the audit log; callers send
                 Authorization: Bearer spx_… (spindle token create)
  /              the dashboard; people log in with an API token
  /healthz       database and workers, no authentication
  /metrics       Prometheus metrics (an admin or operator token, or
                 --metrics-public)

and runs the background workers (scheduled syncs, daily validation,
rebuilds on drift) as ` + "`spindle worker`" + ` does, unless --workers=false (run
them elsewhere, e.g. several ` + "`spindle worker --postgres`" + ` processes).

Approvals from the API and the dashboard are signed with keys the server
holds: ` + "`spindle keys create NAME --custody server`" + ` (see docs/server.md for the
trade-off). Logs are structured (slog) on stderr, JSON with --json; they
never carry a token, a cookie or a credential. On a signal the server stops
taking requests and gives those in flight and running jobs --grace.`,
		Example: `  spindle serve
  spindle serve --addr 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem
  spindle serve --postgres "$SPINDLE_POSTGRES" --workers=false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.serveRun(cmd.Context(), f)
		},
	}
	c.Flags().StringVar(&f.addr, "addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	c.Flags().BoolVar(&f.workers, "workers", true, "run the background workers in this process")
	c.Flags().IntVar(&f.concurrency, "concurrency", jobs.DefaultConcurrency, "jobs of each queue run at once")
	c.Flags().StringVar(&f.identity, "vault-identity", "", "age identity file of the vault (default: $SPINDLE_VAULT_IDENTITY, $SPINDLE_VAULT_IDENTITY_FILE, or vault.key beside --db)")
	c.Flags().DurationVar(&f.grace, "grace", 30*time.Second, "on SIGINT/SIGTERM, how long requests in flight and running jobs may finish")
	c.Flags().BoolVar(&f.metricsPublic, "metrics-public", false, "serve /metrics without a token (for a scraper on a private network)")
	c.Flags().StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM); with --tls-key")
	c.Flags().StringVar(&f.tlsKey, "tls-key", "", "the certificate's private key (PEM)")
	c.Flags().StringVar(&f.rebuildDir, "rebuild-dir", "", "where rebuild bundles are written (default: rebuilds/ beside --db)")
	return c
}

func (a *app) serveRun(ctx context.Context, f serveFlags) error {
	if f.concurrency <= 0 {
		return &exitError{2, fmt.Errorf("--concurrency %d: want 1 or more", f.concurrency)}
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return &exitError{2, errors.New("--tls-cert and --tls-key go together")}
	}
	log := a.logger()
	b, err := a.openBackend(ctx, f.identity, false)
	if err != nil {
		return err
	}
	defer b.Close()
	env := b.env
	auth, err := authn.New(ctx, env.DB, authn.Options{Gov: env.Gov, Audit: env.Audit})
	if err != nil {
		return err
	}
	keys, err := custody.New(env.DB, env.Gov, env.Vault, env.Audit)
	if err != nil {
		return err
	}
	dash, err := web.New(web.Config{Env: env, Authn: auth, Keys: keys, Logger: log})
	if err != nil {
		return err
	}
	var q *jobs.Queue
	if f.workers {
		dir := f.rebuildDir
		if dir == "" {
			dir = filepath.Join(filepath.Dir(a.dbPath), "rebuilds")
		}
		if q, err = b.queue(ctx, jobs.Config{Concurrency: f.concurrency, Periodic: true, RebuildDir: dir, Logger: log}); err != nil {
			return err
		}
		// Stopped below with the grace period, not by the signal.
		if err := q.Start(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("start the workers: %w", err)
		}
	}
	srv, err := server.New(server.Config{Env: env, Queue: q, Authn: auth, Custody: keys, Logger: log, Web: dash, MetricsPublic: f.metricsPublic})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (pass another --addr)", f.addr, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	scheme := "http"
	serve := func() error { return hs.Serve(ln) }
	if f.tlsCert != "" {
		scheme = "https"
		serve = func() error { return hs.ServeTLS(ln, f.tlsCert, f.tlsKey) }
	}
	log.Info("serving", "url", scheme+"://"+ln.Addr().String(), "store", b.what, "workers", f.workers)
	err = server.Serve(ctx, hs, serve, f.grace)
	if q != nil {
		stop, cancel := context.WithTimeout(context.Background(), f.grace)
		defer cancel()
		if serr := q.Stop(stop); serr != nil {
			log.Warn("grace period over: cancelling running jobs (River retries them)")
			if cerr := q.StopAndCancel(context.Background()); cerr != nil && err == nil {
				err = fmt.Errorf("stop the workers: %w", cerr)
			}
		}
	}
	log.Info("stopped")
	return err
}
