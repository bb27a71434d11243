package web

import (
	"net/http"
	"strings"
)

const refusedToken = "That token was not accepted: it may be mistyped, expired or revoked. Check it, or ask an admin for a new one (spindle token create)."

type loginData struct {
	Next      string
	SignedOut bool
}

// loginPage shows the token form, or who is signed in with a way out.
func (h *handler) loginPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := page{Title: "Sign in", Nav: "login", Data: loginData{Next: safeNext(q.Get("next")), SignedOut: q.Has("out")}}
	if q.Has("error") {
		// The server's own login handler redirects here on a refusal.
		p.Error = refusedToken
	}
	if s, err := h.resolve(r); err == nil {
		p.Session = s
	}
	h.render(w, r, http.StatusOK, "login", p)
}

// login exchanges a pasted API token for a session cookie. The token is
// never echoed, logged or kept in the form on failure. Login CSRF is the
// server's cross-origin protection: there is no session to bind a token
// to yet. Mounted in internal/server, the server answers POST /login and
// /logout itself (with its rate limit on failures) and this handler and
// logout serve the dashboard standing alone.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, formLimit)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, http.StatusBadRequest, "The sign-in form could not be read; reload the page and try again.")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" {
		h.render(w, r, http.StatusBadRequest, "login", page{Title: "Sign in", Nav: "login", Data: loginData{Next: next},
			Error: "Paste an API token to sign in; an admin issues one with spindle token create."})
		return
	}
	id, p, err := h.auth.Login(r.Context(), token)
	if err != nil {
		// Not the error's text: it may say which part of the token was
		// wrong, and nothing of a token belongs on a page.
		h.log.InfoContext(r.Context(), "dashboard: sign-in refused", "remote", r.RemoteAddr)
		h.render(w, r, http.StatusUnauthorized, "login", page{Title: "Sign in", Nav: "login", Data: loginData{Next: next},
			Error: refusedToken})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	h.log.InfoContext(r.Context(), "dashboard: signed in", "person", p.Name, "role", p.Role)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session (the CSRF check ran in authenticated).
func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r.Context())
	if err := h.auth.Logout(r.Context(), s.ID); err != nil {
		h.internal(w, r, "end your session", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login?out=1", http.StatusSeeOther)
}
