package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/alert"
	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/authn"
	"github.com/spindlehq/spindle/internal/custody"
	"github.com/spindlehq/spindle/internal/findings"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/production"
	"github.com/spindlehq/spindle/internal/production/prodtest"
	"github.com/spindlehq/spindle/internal/server"
	"github.com/spindlehq/spindle/internal/store"
	"github.com/spindlehq/spindle/internal/vault"
)

// clock is a settable clock shared by the server and authn (atomic: the
// server reads it from its handlers' goroutines).
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// syncBuffer is a log sink safe for the handlers' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is a server on a real listener over a real store, with the
// governance cast of prodtest (root admin, approvers alice and bob,
// operator olivia) plus viewer vera and the agent, each with a token.
type harness struct {
	t      *testing.T
	f      *prodtest.Fixture
	authn  *authn.Service
	keys   *custody.Keys
	clock  *clock
	srv    *server.Server
	ts     *httptest.Server
	log    *syncBuffer
	tokens map[string]string // by person
	// seen is every response body and header, for the secret scan.
	seen *syncBuffer
}

func newHarness(t *testing.T, b prodtest.Backend) *harness {
	t.Helper()
	f := prodtest.New(t, b)
	h := &harness{t: t, f: f, clock: &clock{}, log: &syncBuffer{}, seen: &syncBuffer{}, tokens: map[string]string{}}
	h.clock.ns.Store(time.Now().UnixNano())
	f.Grant("root", "vera", governance.RoleViewer)
	var err error
	if h.authn, err = authn.New(f.Ctx, f.Env.DB, authn.Options{Gov: f.Env.Gov, Audit: f.Env.Audit, Now: h.clock.now}); err != nil {
		t.Fatal(err)
	}
	if h.keys, err = custody.New(f.Env.DB, f.Env.Gov, f.Env.Vault, f.Env.Audit); err != nil {
		t.Fatal(err)
	}
	// alice and bob approve from the browser: the server holds their keys
	// (replacing the key files prodtest gave them).
	for _, who := range []string{"alice", "bob"} {
		if _, err := h.keys.Create(f.Ctx, who, true); err != nil {
			t.Fatal(err)
		}
		// prodtest's own releases sign with the key now in force.
		if f.Keys[who], err = h.keys.SigningKey(f.Ctx, who); err != nil {
			t.Fatal(err)
		}
	}
	for who, role := range map[string]governance.Role{"root": governance.RoleAdmin, "alice": governance.RoleApprover, "bob": governance.RoleApprover,
		prodtest.Operator: governance.RoleOperator, "vera": governance.RoleViewer, "agent:heuristic": governance.RoleAgent} {
		tok, _, err := h.authn.CreateToken(f.Ctx, "root", who, role, 0)
		if err != nil {
			t.Fatal(err)
		}
		h.tokens[who] = tok
	}
	logger := slog.New(slog.NewJSONHandler(h.log, nil))
	h.srv, err = server.New(server.Config{Env: f.Env, Authn: h.authn, Custody: h.keys, Logger: logger, Now: h.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	h.ts = httptest.NewServer(h.srv.Handler())
	t.Cleanup(h.ts.Close)
	return h
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response %d is not JSON: %v: %s", r.status, err, r.body)
	}
}

// do sends a request as who ("" for none) and records the response.
func (h *harness) do(method, path, who string, body any) resp {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.ts.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+h.tokens[who])
	}
	return h.send(req)
}

func (h *harness) send(req *http.Request) resp {
	h.t.Helper()
	res, err := noRedirect.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	fmt.Fprintf(h.seen, "%v\n%s\n", res.Header, b)
	return resp{res.StatusCode, res.Header, b}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (h *harness) want(r resp, status int) {
	h.t.Helper()
	if r.status != status {
		h.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

// bundle is the Acme Cloud spec renamed to name, with a build report.
func (h *harness) bundle(name string) map[string]any {
	spec := h.f.Spec(name, "")
	sum := sha256.Sum256(spec)
	return map[string]any{"integration_yaml": string(spec), "report_json": map[string]any{"brain": "heuristic", "passed": true, "spec_sha256": hex.EncodeToString(sum[:])}}
}

// TestGovernedPathOverAPI walks the whole path over HTTP: the agent
// proposes, a viewer reads but cannot decide, two approvers approve with
// server-held keys and a release results, an operator syncs, and the
// inventory, health, audit log and metrics show it. No response or log
// line carries the vendor credential, a token or the webhook URL.
func TestGovernedPathOverAPI(t *testing.T) {
	for _, b := range prodtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			h := newHarness(t, b)
			const name = "acme-api"
			hook := "https://hooks.example.com/services/T000/B000/s3cr3t-webhook-path"
			if _, err := h.f.Env.Alerts.AddTarget(h.f.Ctx, alert.Target{Name: "ops", URL: hook, Format: alert.FormatSlack, CreatedBy: prodtest.Operator}); err != nil {
				t.Fatal(err)
			}

			r := h.do("POST", "/api/v1/proposals", "agent:heuristic", h.bundle(name))
			h.want(r, http.StatusCreated)
			var prop governance.Proposal
			r.json(t, &prop)
			if prop.Author != "agent:heuristic" || prop.Integration != name || r.header.Get("Location") != fmt.Sprintf("/api/v1/proposals/%d", prop.ID) {
				t.Fatalf("proposal %+v, Location %q", prop, r.header.Get("Location"))
			}
			path := fmt.Sprintf("/api/v1/proposals/%d", prop.ID)

			var queue struct {
				Items []struct {
					ID       int64 `json:"id"`
					Required int   `json:"required_approvals"`
				} `json:"items"`
			}
			r = h.do("GET", "/api/v1/proposals", "vera", nil)
			h.want(r, http.StatusOK)
			r.json(t, &queue)
			if len(queue.Items) != 1 || queue.Items[0].ID != prop.ID || queue.Items[0].Required != 2 {
				t.Fatalf("queue %+v", queue)
			}
			var rev governance.Review
			r = h.do("GET", path, "vera", nil)
			h.want(r, http.StatusOK)
			r.json(t, &rev)
			if rev.Proposal.SpecDigest != prop.SpecDigest || rev.Spec == "" || len(rev.Hosts) == 0 || rev.Risk.Required != 2 {
				t.Fatalf("review %+v", rev)
			}
			h.want(h.do("POST", path+"/approve", "vera", nil), http.StatusForbidden)
			h.want(h.do("POST", path+"/approve", "agent:heuristic", nil), http.StatusForbidden)
			// The digest reviewed must be the one approved.
			h.want(h.do("POST", path+"/approve", "alice", map[string]string{"digest": strings.Repeat("0", 64)}), http.StatusConflict)

			var d governance.Decided
			r = h.do("POST", path+"/approve", "alice", map[string]string{"digest": prop.SpecDigest})
			h.want(r, http.StatusOK)
			r.json(t, &d)
			if d.Release != nil || d.Approvals != 1 {
				t.Fatalf("first approval released: %+v", d)
			}
			h.want(h.do("POST", path+"/approve", "alice", nil), http.StatusConflict) // once each
			r = h.do("POST", path+"/approve", "bob", nil)
			h.want(r, http.StatusOK)
			r.json(t, &d)
			if d.Release == nil || strings.Join(d.Release.Approvers, ",") != "alice,bob" {
				t.Fatalf("second approval: %+v", d)
			}
			var ver governance.Verification
			r = h.do("GET", "/api/v1/releases/"+name+"/verify", "vera", nil)
			h.want(r, http.StatusOK)
			r.json(t, &ver)
			if !ver.OK {
				t.Fatalf("release chain does not verify: %+v", ver)
			}

			// An operator provisions and syncs (the CLI's part), then the API
			// shows the result.
			op := audit.Actor{Kind: audit.ActorPerson, Name: prodtest.Operator}
			if _, err := h.f.Env.Vault.Set(h.f.Ctx, op, vault.Credential{Name: name, Integration: name, Host: h.f.Host()}, []byte(h.f.Token)); err != nil {
				t.Fatal(err)
			}
			if _, err := h.f.Env.Vault.AcceptTerms(h.f.Ctx, op, name, "Acme Cloud", "v1"); err != nil {
				t.Fatal(err)
			}
			if _, err := h.f.Env.Sync(h.f.Ctx, production.SyncRequest{Integration: name, Actor: op, BaseURL: h.f.Server.URL()}); err != nil {
				t.Fatal(err)
			}
			var ints struct {
				Items []struct {
					Name     string `json:"name"`
					Health   string `json:"health"`
					LastSync *struct {
						Status string `json:"status"`
					} `json:"last_sync"`
					Drift []any `json:"drift"`
				} `json:"items"`
			}
			r = h.do("GET", "/api/v1/integrations", "vera", nil)
			h.want(r, http.StatusOK)
			r.json(t, &ints)
			if len(ints.Items) != 1 || ints.Items[0].Health != "healthy" || ints.Items[0].LastSync == nil || ints.Items[0].Drift == nil {
				t.Fatalf("integrations %s", r.body)
			}
			var health struct {
				Recorded bool   `json:"recorded"`
				Health   string `json:"health"`
				Checks   []any  `json:"checks"`
			}
			r = h.do("GET", "/api/v1/integrations/"+name+"/health", "vera", nil)
			h.want(r, http.StatusOK)
			r.json(t, &health)
			if !health.Recorded || health.Health != "healthy" || len(health.Checks) == 0 {
				t.Fatalf("health %s", r.body)
			}
			h.want(h.do("GET", "/api/v1/integrations/"+name+"/drift", "vera", nil), http.StatusOK)
			h.want(h.do("GET", "/api/v1/integrations/nope", "vera", nil), http.StatusNotFound)

			// Inventory: every page of 3 together is the whole unpaged list.
			var all struct {
				Items []struct {
					ID string `json:"id"`
				} `json:"items"`
				Next string `json:"next_cursor"`
			}
			r = h.do("GET", "/api/v1/inventory?source="+name+"&limit=1000", "vera", nil)
			h.want(r, http.StatusOK)
			r.json(t, &all)
			if len(all.Items) < 4 || all.Next != "" {
				t.Fatalf("inventory: %d items, next %q", len(all.Items), all.Next)
			}
			var paged []string
			cursor := ""
			for range len(all.Items) {
				var page struct {
					Items []struct {
						ID string `json:"id"`
					} `json:"items"`
					Next string `json:"next_cursor"`
				}
				r = h.do("GET", "/api/v1/inventory?source="+name+"&limit=3&cursor="+url.QueryEscape(cursor), "vera", nil)
				h.want(r, http.StatusOK)
				r.json(t, &page)
				for _, it := range page.Items {
					paged = append(paged, it.ID)
				}
				if cursor = page.Next; cursor == "" {
					break
				}
			}
			var want []string
			for _, it := range all.Items {
				want = append(want, it.ID)
			}
			if strings.Join(paged, ",") != strings.Join(want, ",") {
				t.Fatalf("paged inventory differs from the whole:\n%v\n%v", paged, want)
			}

			// Metrics: an operator reads them; a viewer may not.
			h.want(h.do("GET", "/metrics", "vera", nil), http.StatusForbidden)
			r = h.do("GET", "/metrics", prodtest.Operator, nil)
			h.want(r, http.StatusOK)
			for _, m := range []string{
				`spindle_syncs_total{integration="acme-api",outcome="ok"} 1`,
				`spindle_integration_health{health="healthy",integration="acme-api"} 1`,
				`spindle_http_requests_total{method="POST",route="/api/v1/proposals/{id}/approve",status="200"} 2`,
				`spindle_inventory_entities{integration="acme-api",presence="present"}`,
				`spindle_auth_failures_total 0`,
			} {
				if !bytes.Contains(r.body, []byte(m)) {
					t.Errorf("metrics lack %s", m)
				}
			}

			h.do("GET", "/api/v1/audit?limit=1000", "root", nil)
			h.do("GET", "/api/v1/integrations/"+name, "root", nil)
			h.do("GET", "/api/v1/releases", "root", nil)
			h.do("GET", "/api/v1/whoami", "root", nil)

			// The secret scan: responses (bodies and headers) and the server's
			// log.
			secrets := map[string]string{"vendor credential": h.f.Token, "webhook URL": hook, "webhook path": "s3cr3t-webhook-path"}
			for who, tok := range h.tokens {
				secrets["token of "+who] = tok
			}
			for what, secret := range secrets {
				if strings.Contains(h.seen.String(), secret) {
					t.Errorf("a response carries the %s", what)
				}
				if strings.Contains(h.log.String(), secret) {
					t.Errorf("the server log carries the %s", what)
				}
			}
			h.f.VerifyAudit()
		})
	}
}

// TestRoleMatrix: each role's token reaches what its role allows and is
// refused the rest; the agent may propose and nothing else that changes
// state; the author cannot approve their own proposal.
func TestRoleMatrix(t *testing.T) {
	h := newHarness(t, prodtest.SQLite)
	// alice authors a proposal: she may not approve it; bob may.
	r := h.do("POST", "/api/v1/proposals", "alice", h.bundle("by-alice"))
	h.want(r, http.StatusCreated)
	var prop governance.Proposal
	r.json(t, &prop)
	p := fmt.Sprintf("/api/v1/proposals/%d", prop.ID)
	reject := map[string]string{"reason": "scopes too broad"}
	cases := []struct {
		who, method, path string
		body              any
		want              int
	}{
		{"vera", "GET", "/api/v1/integrations", nil, 200},
		{"vera", "GET", "/api/v1/inventory", nil, 200},
		{"vera", "GET", "/api/v1/audit", nil, 200},
		{"vera", "GET", p, nil, 200},
		{"vera", "POST", "/api/v1/proposals", h.bundle("by-vera"), 403},
		{"vera", "POST", p + "/approve", nil, 403},
		{"vera", "POST", p + "/reject", reject, 403},
		{"agent:heuristic", "GET", "/api/v1/proposals", nil, 200},
		{"agent:heuristic", "GET", "/api/v1/releases", nil, 200},
		{"agent:heuristic", "GET", "/api/v1/inventory", nil, 403},
		{"agent:heuristic", "GET", "/api/v1/audit", nil, 403},
		{"agent:heuristic", "GET", "/metrics", nil, 403},
		{"agent:heuristic", "POST", p + "/approve", nil, 403},
		{"agent:heuristic", "POST", p + "/reject", reject, 403},
		{"olivia", "POST", p + "/approve", nil, 403},
		{"alice", "POST", p + "/approve", nil, 403}, // the author
		{"", "GET", "/api/v1/integrations", nil, 401},
		{"bob", "POST", p + "/approve", nil, 200},
		{"root", "POST", p + "/reject", reject, 409}, // root holds no custodied key
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s %s %s", c.who, c.method, c.path), func(t *testing.T) {
			r := h.do(c.method, c.path, c.who, c.body)
			h.want(r, c.want)
			if c.want >= 400 {
				var e struct{ Error, Hint string }
				r.json(t, &e)
				if e.Error == "" {
					t.Fatalf("error without a message: %s", r.body)
				}
			}
		})
	}
}

func TestRevokedRoleAndToken(t *testing.T) {
	h := newHarness(t, prodtest.SQLite)
	h.want(h.do("GET", "/api/v1/whoami", "vera", nil), http.StatusOK)
	if err := h.f.Env.Gov.Revoke(h.f.Ctx, "root", "vera", governance.RoleViewer); err != nil {
		t.Fatal(err)
	}
	r := h.do("GET", "/api/v1/whoami", "vera", nil)
	h.want(r, http.StatusUnauthorized)
	if !bytes.Contains(r.body, []byte("no longer holds role viewer")) {
		t.Fatalf("body %s", r.body)
	}
	p, err := h.authn.Authenticate(h.f.Ctx, h.tokens["bob"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.authn.RevokeToken(h.f.Ctx, "root", p.TokenID); err != nil {
		t.Fatal(err)
	}
	h.want(h.do("GET", "/api/v1/whoami", "bob", nil), http.StatusUnauthorized)
}

// TestAuthFailureRateLimit: ten failures a minute from one address, then
// 429 with Retry-After — for good tokens too — until the bucket refills.
func TestAuthFailureRateLimit(t *testing.T) {
	h := newHarness(t, prodtest.SQLite)
	h.tokens["mallory"] = authn.TokenPrefix + strings.Repeat("x", 43)
	for i := range 10 {
		if r := h.do("GET", "/api/v1/whoami", "mallory", nil); r.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, r.status)
		}
	}
	for _, who := range []string{"mallory", "vera"} {
		r := h.do("GET", "/api/v1/whoami", who, nil)
		h.want(r, http.StatusTooManyRequests)
		if r.header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	// Logging in from the address is throttled too.
	req, _ := http.NewRequest("POST", h.ts.URL+"/login", strings.NewReader("token="+url.QueryEscape(h.tokens["vera"])))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.want(h.send(req), http.StatusTooManyRequests)
	h.clock.advance(6 * time.Second) // one failure's worth refills
	h.want(h.do("GET", "/api/v1/whoami", "vera", nil), http.StatusOK)
	h.want(h.do("GET", "/api/v1/whoami", "mallory", nil), http.StatusUnauthorized)
	h.want(h.do("GET", "/api/v1/whoami", "vera", nil), http.StatusTooManyRequests)
}

// login opens a session as who and returns its cookie and CSRF token (read
// from the fallback page's logout form).
func (h *harness) login(who string) (*http.Cookie, string) {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.ts.URL+"/login", strings.NewReader(url.Values{"token": {h.tokens[who]}, "next": {"/"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r := h.send(req)
	h.want(r, http.StatusSeeOther)
	var c *http.Cookie
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == server.SessionCookie {
			c = ck
		}
	}
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Value == "" {
		h.t.Fatalf("session cookie %+v", c)
	}
	req, _ = http.NewRequest("GET", h.ts.URL+"/", nil)
	req.AddCookie(c)
	r = h.send(req)
	h.want(r, http.StatusOK)
	_, after, ok := strings.Cut(string(r.body), `name="csrf" value="`)
	if !ok || !strings.Contains(string(r.body), "Signed in as "+who) {
		h.t.Fatalf("page after login: %s", r.body)
	}
	csrf, _, _ := strings.Cut(after, `"`)
	return c, csrf
}

func TestSessionsAndCSRF(t *testing.T) {
	h := newHarness(t, prodtest.SQLite)
	cookie, csrf := h.login("vera")
	form := func(vals url.Values, hdr map[string]string) resp {
		req, _ := http.NewRequest("POST", h.ts.URL+"/logout", strings.NewReader(vals.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		req.AddCookie(cookie)
		return h.send(req)
	}
	cases := []struct {
		name string
		vals url.Values
		hdr  map[string]string
		want int
	}{
		{"cross-origin form post", url.Values{"csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, http.StatusForbidden},
		{"cross-origin by Origin only", url.Values{"csrf": {csrf}}, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"no csrf field", nil, map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusForbidden},
		{"wrong csrf field", url.Values{"csrf": {csrf + "x"}}, nil, http.StatusForbidden},
		{"same origin with csrf", url.Values{"csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusSeeOther},
		{"after logout", url.Values{"csrf": {csrf}}, nil, http.StatusSeeOther}, // to the login form: no session
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := form(c.vals, c.hdr)
			h.want(r, c.want)
		})
	}
	// The session is over: the page is the login form again.
	req, _ := http.NewRequest("GET", h.ts.URL+"/", nil)
	req.AddCookie(cookie)
	if r := h.send(req); !bytes.Contains(r.body, []byte(`action="/login"`)) {
		t.Fatalf("page after logout: %s", r.body)
	}
	// A cross-origin API call is refused too, token or not.
	req, _ = http.NewRequest("POST", h.ts.URL+"/api/v1/proposals", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Authorization", "Bearer "+h.tokens["alice"])
	h.want(h.send(req), http.StatusForbidden)
	// A bad login goes back to the form, and an open redirect is refused.
	req, _ = http.NewRequest("POST", h.ts.URL+"/login", strings.NewReader("token=nope&next=//evil.example/"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := h.send(req); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?error=1" {
		t.Fatalf("bad login: %d %s", r.status, r.header.Get("Location"))
	}
	req, _ = http.NewRequest("POST", h.ts.URL+"/login", strings.NewReader(url.Values{"token": {h.tokens["vera"]}, "next": {"//evil.example/"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := h.send(req); r.header.Get("Location") != "/" {
		t.Fatalf("login redirected to %q", r.header.Get("Location"))
	}
}

func TestSecureHeaders(t *testing.T) {
	h := newHarness(t, prodtest.SQLite)
	tls := httptest.NewTLSServer(h.srv.Handler())
	t.Cleanup(tls.Close)
	cases := []struct {
		name string
		base string
		c    *http.Client
		path string
		hsts bool
	}{
		{"page", h.ts.URL, noRedirect, "/", false},
		{"api", h.ts.URL, noRedirect, "/api/v1/whoami", false},
		{"healthz", h.ts.URL, noRedirect, "/healthz", false},
		{"not found", h.ts.URL, noRedirect, "/api/v1/nope", false},
		{"tls", tls.URL, tls.Client(), "/healthz", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", c.base+c.path, nil)
			req.Header.Set("Authorization", "Bearer "+h.tokens["vera"])
			res, err := c.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			want := map[string]string{
				"X-Content-Type-Options": "nosniff",
				"Referrer-Policy":        "no-referrer",
				"X-Frame-Options":        "DENY",
			}
			for k, v := range want {
				if got := res.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			csp := res.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("CSP %q", csp)
			}
			if got := res.Header.Get("Strict-Transport-Security") != ""; got != c.hsts {
				t.Errorf("HSTS present %v, want %v", got, c.hsts)
			}
			if res.Header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
		})
	}
}

func TestHostileBodies(t *testing.T) {
	h := newHarness(t, prodtest.SQLite)
	post := func(ct string, body []byte) resp {
		req, _ := http.NewRequest("POST", h.ts.URL+"/api/v1/proposals", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+h.tokens["alice"])
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		return h.send(req)
	}
	cases := []struct {
		name string
		ct   string
		body []byte
		want int
	}{
		{"unknown field", "application/json", []byte(`{"integration_yaml":"x","author":"root"}`), http.StatusBadRequest},
		{"two values", "application/json", []byte(`{"integration_yaml":"x"}{}`), http.StatusBadRequest},
		{"not JSON content type", "text/plain", []byte(`{"integration_yaml":"x"}`), http.StatusUnsupportedMediaType},
		{"empty", "application/json", nil, http.StatusBadRequest},
		{"too large", "application/json", bytes.Repeat([]byte(" "), 5<<20), http.StatusRequestEntityTooLarge},
		{"spec that does not lint", "application/json", []byte(`{"integration_yaml":"apiVersion: nope"}`), http.StatusUnprocessableEntity},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.want(post(c.ct, c.body), c.want)
		})
	}
	for _, q := range []string{"limit=0", "limit=5000", "cursor=!!!", "cursor=e30", "status=maybe", "kind=robot"} {
		h.want(h.do("GET", "/api/v1/inventory?"+q, "vera", nil), http.StatusBadRequest)
	}
	h.want(h.do("GET", "/api/v1/proposals/abc", "vera", nil), http.StatusBadRequest)
	h.want(h.do("GET", "/api/v1/proposals/999", "vera", nil), http.StatusNotFound)
}

func TestInventoryFindingFilter(t *testing.T) {
	h := newHarness(t, prodtest.SQLite)
	h.f.Ready("acme-cloud", "")
	op := audit.Actor{Kind: audit.ActorPerson, Name: prodtest.Operator}
	if _, err := h.f.Env.Sync(h.f.Ctx, production.SyncRequest{Integration: "acme-cloud", Actor: op, BaseURL: h.f.Server.URL()}); err != nil {
		t.Fatal(err)
	}
	var whole page
	r := h.do("GET", "/api/v1/inventory?limit=1000", "vera", nil)
	h.want(r, http.StatusOK)
	r.json(t, &whole)
	owner := ""
	kinds := map[string]int{}
	for _, it := range whole.Items {
		kinds[it.Kind]++
		if it.Owner != nil && owner == "" {
			owner = it.Owner.ID
		}
	}
	if owner == "" || len(kinds) < 2 {
		t.Fatalf("the example inventory should have owners and several kinds: %v", kinds)
	}
	cases := []struct {
		query string
		check func(page) bool
	}{
		{"kind=api_key", func(p page) bool {
			for _, it := range p.Items {
				if it.Kind != "api_key" {
					return false
				}
			}
			return len(p.Items) == kinds["api_key"] && len(p.Items) > 0
		}},
		{"owner=" + owner, func(p page) bool {
			for _, it := range p.Items {
				if it.Owner == nil || it.Owner.ID != owner {
					return false
				}
			}
			return len(p.Items) > 0 && len(p.Items) < len(whole.Items)
		}},
		{"status=gone", func(p page) bool { return len(p.Items) == 0 }},
		{"status=present&source=acme-cloud", func(p page) bool { return len(p.Items) == len(whole.Items) }},
		{"source=other", func(p page) bool { return len(p.Items) == 0 }},
	}
	// Every rule that fires somewhere filters to exactly the entities
	// carrying it; one that fires nowhere filters to none.
	for _, rule := range findings.IDs() {
		want := 0
		for _, it := range whole.Items {
			if slices.ContainsFunc(it.Findings, func(f finding) bool { return f.ID == rule.ID }) {
				want++
			}
		}
		cases = append(cases, struct {
			query string
			check func(page) bool
		}{"finding=" + rule.ID, func(p page) bool {
			for _, it := range p.Items {
				if !slices.ContainsFunc(it.Findings, func(f finding) bool { return f.ID == rule.ID }) {
					return false
				}
			}
			return len(p.Items) == want
		}})
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			var p page
			r := h.do("GET", "/api/v1/inventory?limit=1000&"+c.query, "vera", nil)
			h.want(r, http.StatusOK)
			r.json(t, &p)
			if !c.check(p) {
				t.Fatalf("unexpected page of %d items", len(p.Items))
			}
		})
	}
}

// TestInventoryFindings: every entity carries its findings, computed at
// the server's clock; the example's ownerless keys and keys without expiry
// show them, context kinds have none, a finding filter pages like any
// other, and an unknown finding is refused with the valid ids.
func TestInventoryFindings(t *testing.T) {
	h := newHarness(t, prodtest.SQLite)
	h.f.Ready("acme-cloud", "")
	op := audit.Actor{Kind: audit.ActorPerson, Name: prodtest.Operator}
	if _, err := h.f.Env.Sync(h.f.Ctx, production.SyncRequest{Integration: "acme-cloud", Actor: op, BaseURL: h.f.Server.URL()}); err != nil {
		t.Fatal(err)
	}
	ents, err := h.f.Env.Inventory.Entities(h.f.Ctx, store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	get := func(query string) page {
		t.Helper()
		var p page
		r := h.do("GET", "/api/v1/inventory?limit=1000&"+query, "vera", nil)
		h.want(r, http.StatusOK)
		r.json(t, &p)
		return p
	}
	counts := func(p page) map[string]int {
		out := map[string]int{}
		for _, it := range p.Items {
			for _, f := range it.Findings {
				out[f.ID]++
			}
		}
		return out
	}
	before := get("")
	if len(before.Items) != len(ents) {
		t.Fatalf("%d items for %d entities", len(before.Items), len(ents))
	}
	for i, it := range before.Items {
		e := ents[i]
		if it.Findings == nil {
			t.Fatalf("%s %s has no findings array", it.Kind, it.ExternalID)
		}
		if !e.Kind.IsNHI() && len(it.Findings) > 0 {
			t.Errorf("context kind %s %s has findings %v", it.Kind, it.ExternalID, it.Findings)
		}
		wantOwnerless := e.Kind.IsNHI() && e.Kind != nhi.Webhook && e.Owner == nil && !slices.ContainsFunc(e.Relationships, func(r nhi.Relationship) bool { return r.Type == nhi.OwnedBy })
		if got := slices.ContainsFunc(it.Findings, func(f finding) bool { return f.ID == findings.NoOwner }); got != wantOwnerless {
			t.Errorf("%s %s: no_owner %v, want %v", it.Kind, it.ExternalID, got, wantOwnerless)
		}
		for _, f := range it.Findings {
			if f.Risk == "" || f.Evidence == "" || f.Title == "" || (f.Severity != "high" && f.Severity != "medium" && f.Severity != "low") {
				t.Errorf("%s %s: incomplete finding %+v", it.Kind, it.ExternalID, f)
			}
		}
	}
	c := counts(before)
	if c[findings.NoOwner] == 0 || c[findings.LongLivedSecret] == 0 {
		t.Fatalf("the example's ownerless, non-expiring keys should show no_owner and long_lived_secret: %v", c)
	}

	// Findings age with the server's clock, not with a sync.
	h.clock.advance(3 * 365 * 24 * time.Hour)
	// vera's token expired meanwhile; she makes a new one.
	tok, _, err := h.authn.CreateToken(h.f.Ctx, "root", "vera", governance.RoleViewer, 0)
	if err != nil {
		t.Fatal(err)
	}
	h.tokens["vera"] = tok
	after := counts(get(""))
	if after[findings.NotRotated] <= c[findings.NotRotated] {
		t.Errorf("three years on, not_rotated should grow: %d → %d", c[findings.NotRotated], after[findings.NotRotated])
	}

	// A finding filter pages with the cursor like the others.
	want := after[findings.NoOwner]
	seen, cursor := 0, ""
	for pages := 0; ; pages++ {
		if pages > want {
			t.Fatal("the finding filter's pages do not end")
		}
		q := "finding=" + findings.NoOwner + "&limit=2"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		var p page
		r := h.do("GET", "/api/v1/inventory?"+q, "vera", nil)
		h.want(r, http.StatusOK)
		r.json(t, &p)
		seen += len(p.Items)
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if seen != want {
		t.Errorf("paging finding=%s gave %d entities, want %d", findings.NoOwner, seen, want)
	}

	for _, bad := range []string{"NHI1", "nhi.nope", "no_owner"} {
		r := h.do("GET", "/api/v1/inventory?finding="+url.QueryEscape(bad), "vera", nil)
		h.want(r, http.StatusBadRequest)
		var e struct{ Error, Hint string }
		r.json(t, &e)
		if !strings.Contains(e.Error, bad) {
			t.Errorf("the error %q does not name %q", e.Error, bad)
		}
		for _, rule := range findings.IDs() {
			if !strings.Contains(e.Hint, rule.ID) {
				t.Errorf("the hint %q does not list %s", e.Hint, rule.ID)
			}
		}
	}
}

// finding and page are the inventory as a client reads it.
type finding struct {
	ID       string `json:"id"`
	Risk     string `json:"risk"`
	Severity string `json:"severity"`
	Title    string `json:"title"`
	Evidence string `json:"evidence"`
}

type page struct {
	Items []struct {
		Kind       string `json:"kind"`
		ExternalID string `json:"external_id"`
		Source     string `json:"source"`
		Presence   string `json:"presence"`
		Owner      *struct {
			ID string `json:"id"`
		} `json:"owner"`
		Findings []finding `json:"findings"`
	} `json:"items"`
	Next string `json:"next_cursor"`
}

func TestAuditPaging(t *testing.T) {
	h := newHarness(t, prodtest.SQLite)
	all, err := h.f.Env.Audit.List(h.f.Ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 5 {
		t.Fatalf("only %d audit entries", len(all))
	}
	cases := []struct {
		name, query string
		want        []int64
	}{
		{"all", "", seqs(all, func(audit.Entry) bool { return true })},
		{"by action prefix", "action=token", seqs(all, func(e audit.Entry) bool { return strings.HasPrefix(e.Action, "token.") })},
		{"by actor", "actor=alice", seqs(all, func(e audit.Entry) bool { return e.Actor.Name == "alice" })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []int64
			cursor := ""
			for range len(all) + 1 {
				var page struct {
					Items []audit.Entry `json:"items"`
					Next  string        `json:"next_cursor"`
				}
				r := h.do("GET", "/api/v1/audit?limit=2&"+c.query+"&cursor="+cursor, "vera", nil)
				h.want(r, http.StatusOK)
				r.json(t, &page)
				if len(page.Items) > 2 {
					t.Fatalf("page of %d", len(page.Items))
				}
				for _, e := range page.Items {
					got = append(got, e.Seq)
				}
				if cursor = page.Next; cursor == "" {
					break
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) || len(got) == 0 {
				t.Fatalf("paged %v, want %v", got, c.want)
			}
		})
	}
}

func seqs(es []audit.Entry, keep func(audit.Entry) bool) []int64 {
	var out []int64
	for _, e := range es {
		if keep(e) {
			out = append(out, e.Seq)
		}
	}
	return out
}

func TestHealthz(t *testing.T) {
	h := newHarness(t, prodtest.SQLite)
	var out map[string]string
	r := h.do("GET", "/healthz", "", nil)
	h.want(r, http.StatusOK)
	r.json(t, &out)
	if out["status"] != "ok" || out["database"] != "ok" || out["workers"] != "disabled" {
		t.Fatalf("healthz %v", out)
	}
	h.f.Env.DB.Close()
	r = h.do("GET", "/healthz", "", nil)
	h.want(r, http.StatusServiceUnavailable)
}
