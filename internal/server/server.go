// Package server is Spindle's HTTP server: the JSON API under /api/v1
// (described by /openapi.json), /healthz, /metrics, and the dashboard
// (another package's handler) mounted at "/".
//
// Every request is treated as hostile: bodies are bounded and decoded
// strictly, unsafe cross-origin browser requests are refused
// (http.CrossOriginProtection), dashboard form posts also carry a
// per-session CSRF token, and repeated authentication failures from one
// address are throttled. Callers authenticate with a bearer API token (the
// API) or a session cookie opened by logging in with one (the dashboard);
// either acts as one person under one role, re-checked with governance at
// every request. Responses never carry a secret: errors are {error, hint}
// without internal detail, and the access log records neither headers nor
// query strings.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spindlehq/spindle/internal/authn"
	"github.com/spindlehq/spindle/internal/custody"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/jobs"
	"github.com/spindlehq/spindle/internal/production"
)

// Config is what a Server serves.
type Config struct {
	// Env is the production pipeline over the store (required).
	Env *production.Env
	// Queue is River's queue of the embedded workers, for /healthz and the
	// queue depth in /metrics; nil when the server runs no workers.
	Queue *jobs.Queue
	// Authn checks tokens and sessions (required).
	Authn *authn.Service
	// Custody holds approvers' server-side signing keys (nil: made from
	// Env's database, governance, vault and audit log).
	Custody *custody.Keys
	// Logger receives the access log and errors (nil: discarded).
	Logger *slog.Logger
	// Web is the dashboard, mounted at "/" (nil: a plain page pointing at
	// the API, with a bare login form).
	Web http.Handler
	// Now is the clock (nil: time.Now); the authentication rate limiter
	// runs on it.
	Now func() time.Time
	// MetricsPublic serves /metrics without a token (for a scraper on a
	// private network); otherwise it needs an admin or operator token.
	MetricsPublic bool
	// AuthFailures is how many failed authentications one address may
	// make per minute before it gets 429 (default 10).
	AuthFailures int
	// TrustedOrigins may make unsafe cross-origin requests (the
	// dashboard's own origin never needs listing).
	TrustedOrigins []string
}

// Server is the HTTP server's handler and state.
type Server struct {
	cfg     Config
	log     *slog.Logger
	custody *custody.Keys
	router  chi.Router
	handler http.Handler
	reg     *prometheus.Registry
	m       *httpMetrics
	limiter *failLimiter
	// metricsHandler serves reg in Prometheus' text format.
	metricsHandler http.Handler
}

// Limits on what a request may send.
const (
	// maxBody bounds every request body; a proposal (spec and report) is
	// the largest legitimate one.
	maxBody = 4 << 20
	// maxJSON bounds the JSON bodies of decisions.
	maxJSON = 64 << 10
)

// New builds the server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Env == nil || cfg.Env.DB == nil || cfg.Env.Gov == nil || cfg.Env.Life == nil || cfg.Env.Audit == nil || cfg.Env.Inventory == nil:
		return nil, errors.New("server: Config.Env needs the database, inventory, governance, lifecycle and audit log (production.Env)")
	case cfg.Authn == nil:
		return nil, errors.New("server: Config.Authn is required: every API call is authenticated")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AuthFailures <= 0 {
		cfg.AuthFailures = 10
	}
	s := &Server{cfg: cfg, log: cfg.Logger, custody: cfg.Custody}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.custody == nil {
		if cfg.Env.Vault == nil {
			return nil, errors.New("server: no vault in Config.Env: approvals from the API sign with server-custodied keys sealed by the vault")
		}
		k, err := custody.New(cfg.Env.DB, cfg.Env.Gov, cfg.Env.Vault, cfg.Env.Audit)
		if err != nil {
			return nil, err
		}
		s.custody = k
	}
	s.limiter = newFailLimiter(cfg.AuthFailures, cfg.Now)
	s.reg = prometheus.NewRegistry()
	s.m = newHTTPMetrics(s.reg)
	s.reg.MustRegister(&storeCollector{s: s})
	s.metricsHandler = promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})

	cop := http.NewCrossOriginProtection()
	for _, o := range cfg.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("server: trusted origin %q: %w", o, err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusForbidden, "cross-origin request refused", "unsafe requests must come from this server's own pages, or from a program that is not a browser")
	}))

	r := chi.NewRouter()
	r.Use(s.observe, s.recoverer, secureHeaders, limitBody, cop.Handler)
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed)
	r.Get("/healthz", s.healthz)
	r.Get("/openapi.json", serveOpenAPI)
	r.With(s.metricsAuth).Get("/metrics", s.metrics)
	r.Route("/api/v1", func(r chi.Router) {
		r.NotFound(s.notFound)
		r.MethodNotAllowed(s.methodNotAllowed)
		r.Use(noStore, s.bearer)
		r.Get("/whoami", s.whoami)
		r.With(s.can(governance.ActionReleaseRead)).Get("/integrations", s.integrations)
		r.With(s.can(governance.ActionReleaseRead)).Get("/integrations/{name}", s.integration)
		r.With(s.can(governance.ActionReleaseRead)).Get("/integrations/{name}/health", s.integrationHealth)
		r.With(s.can(governance.ActionReleaseRead)).Get("/integrations/{name}/drift", s.integrationDrift)
		r.With(s.can(governance.ActionProposalRead)).Get("/proposals", s.proposals)
		r.With(s.can(governance.ActionProposalCreate)).Post("/proposals", s.propose)
		r.With(s.can(governance.ActionProposalRead)).Get("/proposals/{id}", s.review)
		r.With(s.can(governance.ActionProposalApprove)).Post("/proposals/{id}/approve", s.approve)
		r.With(s.can(governance.ActionProposalReject)).Post("/proposals/{id}/reject", s.reject)
		r.With(s.can(governance.ActionReleaseRead)).Get("/releases", s.releases)
		r.With(s.can(governance.ActionReleaseRead)).Get("/releases/{integration}/verify", s.verifyRelease)
		r.With(s.can(governance.ActionInventoryRead)).Get("/inventory", s.inventory)
		r.With(s.can(governance.ActionAuditRead)).Get("/audit", s.auditLog)
	})
	web := cfg.Web
	if web == nil {
		web = fallbackWeb()
	}
	r.Mount("/", s.webChain(web))
	s.router = r
	s.handler = r
	return s, nil
}

// Handler is the server's whole handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Router exposes the routes for chi.Walk (the OpenAPI test).
func (s *Server) Router() chi.Routes { return s.router }

// Serve serves on srv until ctx is done, then shuts down gracefully,
// giving requests in flight grace to finish.
func Serve(ctx context.Context, srv *http.Server, serve func() error, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(stop); err != nil {
		srv.Close()
		return fmt.Errorf("shut down the HTTP server: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
