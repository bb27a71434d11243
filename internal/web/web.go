// Package web is Spindle's dashboard: server-rendered pages for people —
// integrations and their health, the review queue with each proposal's
// spec diff and the signed approve/reject decisions, the inventory
// explorer and the audit log. Every page works without JavaScript (plain
// links and form posts answered by a redirect); htmx, embedded, only
// swaps a decision's result in place. Pages run under the server's
// Content-Security-Policy default-src 'self': no inline script or style.
//
// The handler authenticates each request itself from the session cookie
// and checks every form post's per-session CSRF token, so it is safe even
// if mounted without the server's middleware; the server adds secure
// headers and cross-origin protection around it.
package web

import (
	"context"
	"crypto/ed25519"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/spindlehq/spindle/internal/authn"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/production"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/htmx.min.js static/spindle.css
var staticFS embed.FS

// SessionCookie is the cookie holding a person's session id. The server's
// API middleware reads the same cookie.
const SessionCookie = "spindle_session"

// Sessions is what the dashboard needs of internal/authn; *authn.Service
// implements it.
type Sessions interface {
	// Login exchanges an API token for a session.
	Login(ctx context.Context, token string) (sessionID string, p authn.Principal, err error)
	// Session resolves a live session.
	Session(ctx context.Context, id string) (authn.Principal, error)
	Logout(ctx context.Context, id string) error
	// CSRFToken is the session's form token.
	CSRFToken(sessionID string) string
}

// KeySource hands out the server-custodied signing key of a person, with
// which their decisions are signed; *custody.Keys implements it.
type KeySource interface {
	SigningKey(ctx context.Context, person string) (ed25519.PrivateKey, error)
	// Held reports whether the server holds person's active key, to show
	// the decision forms only to those who can sign.
	Held(ctx context.Context, person string) (bool, error)
}

// Config configures the dashboard.
type Config struct {
	Env   *production.Env
	Authn Sessions
	Keys  KeySource
	// Logger receives server-side failures (never a token or a secret).
	// Nil discards.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

type handler struct {
	env    *production.Env
	auth   Sessions
	keys   KeySource
	log    *slog.Logger
	now    func() time.Time
	pages  map[string]*pageTemplate
	static *staticFiles
}

// New returns the dashboard, to mount at "/".
func New(cfg Config) (http.Handler, error) {
	switch {
	case cfg.Env == nil || cfg.Env.Gov == nil || cfg.Env.Life == nil || cfg.Env.Audit == nil || cfg.Env.Inventory == nil || cfg.Env.DB == nil:
		return nil, errors.New("web: the environment is incomplete; pass the production.Env the server opened (DB, inventory, governance, lifecycle, audit)")
	case cfg.Authn == nil:
		return nil, errors.New("web: no session service; pass the server's *authn.Service as Authn")
	case cfg.Keys == nil:
		return nil, errors.New("web: no signing-key custody; pass what holds approvers' server-side keys as Keys")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	st, err := newStatic(staticFS)
	if err != nil {
		return nil, err
	}
	h := &handler{env: cfg.Env, auth: cfg.Authn, keys: cfg.Keys, log: cfg.Logger, now: cfg.Now, static: st}
	if h.pages, err = parsePages(templateFS, st); err != nil {
		return nil, err
	}

	r := chi.NewRouter()
	r.Get("/static/{hash}/{name}", st.serve)
	r.Get("/login", h.loginPage)
	r.Post("/login", h.login)
	r.Group(func(r chi.Router) {
		r.Use(h.authenticated)
		r.Post("/logout", h.logout)
		r.Get("/", h.integrations)
		r.Get("/proposals", h.proposals)
		r.Get("/proposals/{id}", h.proposal)
		r.Post("/proposals/{id}/approve", h.decide(governance.DecisionApprove))
		r.Post("/proposals/{id}/reject", h.decide(governance.DecisionReject))
		r.Get("/inventory", h.inventory)
		r.Get("/inventory/{id}", h.entity)
		r.Get("/audit", h.audit)
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusNotFound, "There is no page at this address.")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusMethodNotAllowed, "This page does not take that method.")
	})
	return r, nil
}

// session is the signed-in person of a request.
type session struct {
	ID        string
	Principal authn.Principal
}

type ctxKey struct{}

func sessionFrom(ctx context.Context) *session {
	s, _ := ctx.Value(ctxKey{}).(*session)
	return s
}

func (s *session) role() governance.Role { return governance.Role(s.Principal.Role) }

// can reports whether the session's role allows a: the token's role caps
// what its holder may do, whatever else the person holds.
func (s *session) can(a governance.Action) bool { return s != nil && governance.Can(s.role(), a) }

// formLimit bounds a form post: a reason and a few fields.
const formLimit = 64 << 10

// authenticated resolves the session cookie and checks the CSRF token of
// every post.
// Reads without a session go to the login page; posts are refused.
func (h *handler) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := h.resolve(r)
		if err != nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			h.fail(w, r, http.StatusUnauthorized, "You are not signed in, or your session ended: sign in again and retry.")
			return
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, s)
		r = r.WithContext(ctx)
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, formLimit)
			if err := r.ParseForm(); err != nil {
				h.fail(w, r, http.StatusBadRequest, "The form could not be read; reload the page and try again.")
				return
			}
			want := h.auth.CSRFToken(s.ID)
			got := r.PostForm.Get("csrf")
			if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
				h.fail(w, r, http.StatusForbidden, "This form was not sent from your current dashboard session (its CSRF token is missing or stale): reload the page and try again.")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// resolve reads the request's session; an error means "not signed in".
func (h *handler) resolve(r *http.Request) (*session, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, errors.New("no session cookie")
	}
	p, err := h.auth.Session(r.Context(), c.Value)
	if err != nil {
		return nil, err
	}
	// authn also ends the session when the person lost the token's role.
	return &session{ID: c.Value, Principal: p}, nil
}

// require refuses a read the session's role does not allow.
func (h *handler) require(w http.ResponseWriter, r *http.Request, a governance.Action) bool {
	s := sessionFrom(r.Context())
	if s.can(a) {
		return true
	}
	h.fail(w, r, http.StatusForbidden, fmt.Sprintf("Your role (%s) may not see this page: it needs %s. Ask an admin for a token with a role that allows it.", s.Principal.Role, a))
	return false
}

// internal logs a server-side failure and shows a page that says what to
// do without leaking the error's details.
func (h *handler) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.log.ErrorContext(r.Context(), "dashboard: "+what, "path", r.URL.Path, "error", err)
	h.fail(w, r, http.StatusInternalServerError, "Spindle could not "+what+". The server log has the details; try again, and tell an operator if it persists.")
}

// safeNext is a local path to return to after signing in, or "/": never
// another origin ("//host", "/\host", "https://…").
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}
