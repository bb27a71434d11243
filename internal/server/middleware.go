package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"golang.org/x/time/rate"

	"github.com/spindlehq/spindle/internal/authn"
	"github.com/spindlehq/spindle/internal/governance"
)

// Names the dashboard shares with the server.
const (
	// SessionCookie holds a browser session's id (HttpOnly, SameSite=Strict,
	// Secure over TLS).
	SessionCookie = "spindle_session"
	// CSRFField is the hidden form field (or the X-CSRF-Token header, for
	// htmx) that every unsafe dashboard request carries: CSRFToken(ctx).
	CSRFField  = "csrf"
	CSRFHeader = "X-CSRF-Token"
	// LoginPath takes POST token=…&next=… and opens a session; LogoutPath
	// takes POST (with the CSRF field) and ends it. GET LoginPath is the
	// dashboard's login form.
	LoginPath  = "/login"
	LogoutPath = "/logout"
)

// reqInfo is what inner handlers tell the access log and metrics, which
// wrap them and so cannot see their contexts.
type reqInfo struct {
	id        string
	principal *authn.Principal
	session   string // the session id; never logged
}

type ctxKey int

const infoKey ctxKey = 0

func info(ctx context.Context) *reqInfo {
	if ri, ok := ctx.Value(infoKey).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

// PrincipalFrom is who the request acts as, once the server authenticated
// it (a bearer token on the API, the session cookie on the dashboard).
func PrincipalFrom(ctx context.Context) (authn.Principal, bool) {
	ri := info(ctx)
	if ri.principal == nil {
		return authn.Principal{}, false
	}
	return *ri.principal, true
}

// csrfKey holds the request's CSRF token in its context.
const csrfKey ctxKey = 1

// CSRFToken is the token the dashboard embeds in its forms (as CSRFField)
// for the request's session; "" without a session.
func CSRFToken(ctx context.Context) string {
	s, _ := ctx.Value(csrfKey).(string)
	return s
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// observe gives each request an id (a well-formed X-Request-Id from the
// caller is kept, so a proxy's id follows the request), then logs it and
// counts it once it is answered: method, route pattern, path without the
// query, status, size, time, address and principal — never a header,
// cookie or query string, where secrets travel.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(middleware.RequestIDHeader)
		if !requestIDPattern.MatchString(id) {
			id = newRequestID()
		}
		ri := &reqInfo{id: id}
		w.Header().Set(middleware.RequestIDHeader, id)
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		r = r.WithContext(context.WithValue(r.Context(), infoKey, ri))
		next.ServeHTTP(ww, r)
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		elapsed := time.Since(start)
		s.m.requests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
		s.m.duration.WithLabelValues(route, r.Method).Observe(elapsed.Seconds())
		path := r.URL.Path
		if len(path) > 200 {
			path = path[:200] + "…"
		}
		attrs := []any{"request_id", id, "method", r.Method, "route", route, "path", path, "status", status,
			"bytes", ww.BytesWritten(), "duration_ms", float64(elapsed.Microseconds()) / 1000, "remote", clientIP(r)}
		if p := ri.principal; p != nil {
			attrs = append(attrs, "principal", p.Name, "role", string(p.Role), "token_id", p.TokenID)
		}
		s.log.Info("http request", attrs...)
	})
}

// recoverer turns a panic into a 500 without its detail.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("http handler panic", "request_id", info(r.Context()).id, "panic", fmt.Sprint(v))
				s.fail(w, r, http.StatusInternalServerError, "internal error", "the server logged it under this request id")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// secureHeaders: no inline script or style anywhere (the dashboard loads
// its own files), no framing, no referrer, no MIME sniffing; HSTS only
// over TLS, where it means something.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody bounds every request body.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBody {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

// noStore keeps API answers out of caches: they are per principal.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// clientIP is the peer's address. X-Forwarded-For is not trusted: anyone
// could set it to dodge the rate limiter.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// bearerToken is the Authorization header's bearer token, if any.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", h != ""
	}
	return strings.TrimSpace(tok), true
}

// bearer authenticates an API request by its bearer token.
func (s *Server) bearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := s.authenticate(w, r); ok {
			info(r.Context()).principal = &p
			next.ServeHTTP(w, r)
		}
	})
}

// authenticate checks the bearer token, answering the request itself when
// it fails (401, or 429 for an address that failed too often).
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (authn.Principal, bool) {
	tok, present := bearerToken(r)
	if !present {
		w.Header().Set("WWW-Authenticate", `Bearer realm="spindle"`)
		s.fail(w, r, http.StatusUnauthorized, "authentication required", "send Authorization: Bearer spx_… with an API token from `spindle token create`")
		return authn.Principal{}, false
	}
	ip := clientIP(r)
	if wait, blocked := s.limiter.blocked(ip); blocked {
		s.tooMany(w, r, wait)
		return authn.Principal{}, false
	}
	p, err := s.cfg.Authn.Authenticate(r.Context(), tok)
	if err != nil {
		if !errors.Is(err, authn.ErrUnauthenticated) {
			s.failErr(w, r, err)
			return authn.Principal{}, false
		}
		s.m.authFailures.Inc()
		s.limiter.failed(ip)
		w.Header().Set("WWW-Authenticate", `Bearer realm="spindle", error="invalid_token"`)
		// The reason (revoked, expired, role lost) is the caller's own
		// token's business and carries no secret.
		s.fail(w, r, http.StatusUnauthorized, strings.TrimPrefix(err.Error(), authn.ErrUnauthenticated.Error()+": "), "create a new token with `spindle token create --role ROLE --as PERSON`")
		return authn.Principal{}, false
	}
	return p, true
}

func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.fail(w, r, http.StatusTooManyRequests, "too many failed authentications from this address", fmt.Sprintf("wait %ds, then retry with a valid token", secs))
}

// can refuses principals whose token's role does not allow action
// (governance.Can: the one role matrix).
func (s *Server) can(action governance.Action) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := PrincipalFrom(r.Context())
			if !ok {
				s.fail(w, r, http.StatusUnauthorized, "authentication required", "send Authorization: Bearer spx_…")
				return
			}
			if !governance.Can(p.Role, action) {
				var roles []string
				for _, role := range governance.Roles() {
					if governance.Can(role, action) {
						roles = append(roles, string(role))
					}
				}
				s.fail(w, r, http.StatusForbidden, fmt.Sprintf("%s acting as %s may not %s", p.Name, p.Role, action),
					"that needs a token for one of the roles: "+strings.Join(roles, ", "))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// metricsAuth lets an admin or operator token (or anyone, with
// MetricsPublic) read /metrics: production syncs are what they watch.
func (s *Server) metricsAuth(next http.Handler) http.Handler {
	if s.cfg.MetricsPublic {
		return next
	}
	return s.bearer(s.can(governance.ActionSyncProduction)(next))
}

// failLimiter throttles authentication failures per address: each failure
// takes a token from the address's bucket (a burst of n, refilled at n a
// minute); an empty bucket answers 429 until it refills. Successes cost
// nothing, so a person mistyping once is never locked out.
type failLimiter struct {
	mu    sync.Mutex
	n     int
	now   func() time.Time
	addrs map[string]*rate.Limiter
}

func newFailLimiter(n int, now func() time.Time) *failLimiter {
	return &failLimiter{n: n, now: now, addrs: map[string]*rate.Limiter{}}
}

func (l *failLimiter) blocked(addr string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.addrs[addr]
	if !ok {
		return 0, false
	}
	now := l.now()
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return 0, false
	}
	return time.Duration((1 - tokens) / float64(lim.Limit()) * float64(time.Second)), true
}

func (l *failLimiter) failed(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	lim, ok := l.addrs[addr]
	if !ok {
		if len(l.addrs) >= 10000 {
			// Forget addresses whose buckets refilled: they are back to
			// where a new one starts. Bounds the map under a spray of
			// addresses.
			for a, x := range l.addrs {
				if x.TokensAt(now) >= float64(l.n) {
					delete(l.addrs, a)
				}
			}
		}
		lim = rate.NewLimiter(rate.Limit(float64(l.n)/60), l.n)
		l.addrs[addr] = lim
	}
	lim.AllowN(now, 1)
}
