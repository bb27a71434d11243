package server

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/authn"
)

// webChain wraps the dashboard: it reads the session cookie (a valid one
// puts the principal and its CSRF token in the request's context), handles
// POST /login and POST /logout itself, and refuses any unsafe request that
// lacks a session or its CSRF token. The dashboard sees only requests that
// passed, and decides itself what a page without a principal shows.
func (s *Server) webChain(web http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Path == LoginPath && r.Method == http.MethodPost {
			s.login(w, r)
			return
		}
		ri := info(r.Context())
		if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
			p, err := s.cfg.Authn.Session(r.Context(), c.Value)
			switch {
			case err == nil:
				ri.principal, ri.session = &p, c.Value
				r = r.WithContext(context.WithValue(r.Context(), csrfKey, s.cfg.Authn.CSRFToken(c.Value)))
			case errors.Is(err, authn.ErrUnauthenticated):
				// Ended, expired or its role revoked: forget the cookie. Not
				// counted as a failure: a stale cookie is no guess.
				clearSessionCookie(w, r)
			default:
				s.failErr(w, r, err)
				return
			}
		}
		if !safeMethod(r.Method) {
			if ri.principal == nil {
				http.Redirect(w, r, LoginPath, http.StatusSeeOther)
				return
			}
			tok := r.Header.Get(CSRFHeader)
			if tok == "" {
				tok = r.PostFormValue(CSRFField)
			}
			if !s.cfg.Authn.CheckCSRF(ri.session, tok) {
				http.Error(w, "this form is out of date or was not sent by a Spindle page: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		if r.URL.Path == LogoutPath && r.Method == http.MethodPost {
			s.logout(w, r)
			return
		}
		web.ServeHTTP(w, r)
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// login opens a session with the token from the form and redirects to the
// form's next (a local path) or "/". A failure redirects back to the form
// with ?error=1, and counts against the address like a bad bearer token.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	if wait, blocked := s.limiter.blocked(ip); blocked {
		s.tooMany(w, r, wait)
		return
	}
	tok := strings.TrimSpace(r.PostFormValue("token"))
	id, p, err := s.cfg.Authn.Login(r.Context(), tok)
	if err != nil {
		if !errors.Is(err, authn.ErrUnauthenticated) {
			s.failErr(w, r, err)
			return
		}
		s.m.authFailures.Inc()
		s.limiter.failed(ip)
		http.Redirect(w, r, LoginPath+"?error=1", http.StatusSeeOther)
		return
	}
	info(r.Context()).principal = &p
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int(authn.DefaultSessionTTL / time.Second)})
	http.Redirect(w, r, localPath(r.PostFormValue("next")), http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Authn.Logout(r.Context(), info(r.Context()).session); err != nil {
		s.failErr(w, r, err)
		return
	}
	clearSessionCookie(w, r)
	http.Redirect(w, r, LoginPath+"?out=1", http.StatusSeeOther)
}

func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// localPath keeps a redirect on this server: "/x" yes; "//evil", "/\evil"
// and absolute URLs (an open redirect) no.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

// fallbackWeb stands in for the dashboard when none is configured: a page
// pointing at the API, and a bare login form (no script).
func fallbackWeb() http.Handler {
	page := template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Spindle</title></head><body>
<h1>Spindle</h1>
{{if .Name}}<p>Signed in as {{.Name}} ({{.Role}}).</p>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{{.CSRF}}"><button>Log out</button></form>
{{else}}<form method="post" action="/login"><label>API token <input type="password" name="token" autocomplete="off" required></label> <button>Log in</button></form>
{{if .Failed}}<p role="alert">That token was not accepted.</p>{{end}}{{end}}
<p>The HTTP API is described at <a href="/openapi.json">/openapi.json</a>.</p>
</body></html>
`))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" && r.URL.Path != LoginPath {
			http.NotFound(w, r)
			return
		}
		if !safeMethod(r.Method) {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		data := struct {
			Name, Role, CSRF string
			Failed           bool
		}{CSRF: CSRFToken(r.Context()), Failed: r.URL.Query().Has("error")}
		if p, ok := PrincipalFrom(r.Context()); ok {
			data.Name, data.Role = p.Name, string(p.Role)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		page.Execute(w, data)
	})
}
