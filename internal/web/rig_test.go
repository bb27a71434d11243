package web_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/spindlehq/spindle/internal/agent"
	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/authn"
	"github.com/spindlehq/spindle/internal/custody"
	"github.com/spindlehq/spindle/internal/draft"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/production"
	"github.com/spindlehq/spindle/internal/production/prodtest"
	"github.com/spindlehq/spindle/internal/server"
	"github.com/spindlehq/spindle/internal/vault"
	"github.com/spindlehq/spindle/internal/web"
)

// rig is a dashboard on a real listener over a real SQLite store, with
// the prodtest cast plus approvers carol and dan whose keys the server
// holds, viewer victor, API tokens for each, and the agent's proposal of
// the bundled Acme Cloud doc open for review.
type rig struct {
	t      *testing.T
	f      *prodtest.Fixture
	auth   *authn.Service
	keys   *custody.Keys
	srv    *httptest.Server
	tokens map[string]string // person → API token
	// proposal is the agent's; name its integration.
	proposal int64
	name     string
	logs     *syncBuffer
}

// Cast beyond prodtest's: approvers whose keys the server holds, and a
// viewer.
const (
	carol  = "carol"
	dan    = "dan"
	victor = "victor"
	// agentName is the build agent's principal, which holds the agent role
	// by its name.
	agentName = "agent:heuristic"
)

func newRig(t *testing.T) *rig {
	t.Helper()
	f := prodtest.New(t, prodtest.SQLite)
	ctx := f.Ctx
	auth, err := authn.New(ctx, f.Opened.DB, authn.Options{Gov: f.Env.Gov, Audit: f.Env.Audit})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := custody.New(f.Opened.DB, f.Env.Gov, f.Env.Vault, f.Env.Audit)
	if err != nil {
		t.Fatal(err)
	}
	rg := &rig{t: t, f: f, auth: auth, keys: keys, tokens: map[string]string{}, logs: &syncBuffer{}}
	for _, n := range []string{carol, dan} {
		f.Grant("root", n, governance.RoleApprover)
		if _, err := keys.Create(ctx, n, false); err != nil {
			t.Fatalf("custodied key for %s: %v", n, err)
		}
	}
	f.Grant("root", victor, governance.RoleViewer)
	for who, role := range map[string]governance.Role{carol: governance.RoleApprover, dan: governance.RoleApprover, victor: governance.RoleViewer,
		"bob": governance.RoleApprover, prodtest.Operator: governance.RoleOperator, agentName: governance.RoleAgent} {
		tok, _, err := auth.CreateToken(ctx, "root", who, role, 0)
		if err != nil {
			t.Fatalf("token for %s: %v", who, err)
		}
		rg.tokens[who] = tok
	}

	// The agent builds the example doc in its sandbox and proposes it, as
	// `spindle build` and `spindle propose` do.
	out, err := agent.Build(ctx, agent.Config{Doc: filepath.Join(f.Root, "examples/docs/acme-keys.yaml"),
		Brain: &agent.Heuristic{Options: draft.Options{Owner: "identity-team@example.com"}}})
	if err != nil || !out.Passed {
		t.Fatalf("the agent's build of the example did not pass: %v %+v", err, out)
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	if err := out.WriteBundle(bundle); err != nil {
		t.Fatal(err)
	}
	in, err := governance.ReadBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.Env.Gov.Propose(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	rg.proposal, rg.name = p.ID, p.Integration

	h, err := web.New(web.Config{Env: f.Env, Authn: auth, Keys: keys, Logger: slog.New(slog.NewTextHandler(rg.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(rg.logs, nil))
	srv, err := server.New(server.Config{Env: f.Env, Authn: auth, Custody: keys, Web: h, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	// The dashboard as spindle serve mounts it: behind the server's
	// Content-Security-Policy (Chromium refuses any inline script or style),
	// cross-origin protection, login, rate limiting and access log.
	rg.srv = httptest.NewServer(srv.Handler())
	t.Cleanup(rg.srv.Close)
	t.Cleanup(func() {
		// Whatever happened, no token or credential reached the log.
		rg.noSecrets("the server log", rg.logs.String())
	})
	return rg
}

// provision binds the sandbox's credential to the released integration
// and accepts its terms, as an operator does before the first sync.
func (rg *rig) provision() {
	rg.t.Helper()
	rel, err := rg.f.Env.Gov.ReleasedSpec(rg.f.Ctx, rg.name)
	if err != nil {
		rg.t.Fatal(err)
	}
	doc, err := integration.Load("released", rel.Spec)
	if err != nil {
		rg.t.Fatal(err)
	}
	op := audit.Actor{Kind: audit.ActorPerson, Name: prodtest.Operator}
	if _, err := rg.f.Env.Vault.Set(rg.f.Ctx, op, vault.Credential{Name: doc.Spec.Connection.Auth.Credential, Integration: rg.name, Host: rg.f.Host()}, []byte(rg.f.Token)); err != nil {
		rg.t.Fatal(err)
	}
	if _, err := rg.f.Env.Vault.AcceptTerms(rg.f.Ctx, op, rg.name, "Acme Cloud", "v1"); err != nil {
		rg.t.Fatal(err)
	}
}

// sync runs the released integration against the sandbox as the operator.
func (rg *rig) sync() *production.SyncResult {
	rg.t.Helper()
	res, err := rg.f.Env.Sync(rg.f.Ctx, production.SyncRequest{Integration: rg.name, Actor: audit.Actor{Kind: audit.ActorPerson, Name: prodtest.Operator}, BaseURL: rg.f.Server.URL()})
	if err != nil {
		rg.t.Fatalf("sync %s: %v", rg.name, err)
	}
	return res
}

// secrets are what no page or log may hold: every API token and the
// vendor credential.
func (rg *rig) secrets() []string {
	out := []string{rg.f.Token}
	for _, tok := range rg.tokens {
		out = append(out, tok)
	}
	return out
}

func (rg *rig) noSecrets(where, text string) {
	rg.t.Helper()
	for _, s := range rg.secrets() {
		if s != "" && strings.Contains(text, s) {
			rg.t.Errorf("%s holds a secret (%d bytes, starting %.4s…)", where, len(s), s)
		}
	}
	if tokenShape.MatchString(text) {
		rg.t.Errorf("%s holds something shaped like an API token (%s…)", where, authn.TokenPrefix)
	}
}

// client is a person's cookie-keeping HTTP client; with token set it has
// signed in through the login form.
func (rg *rig) client(token string) *http.Client {
	rg.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		rg.t.Fatal(err)
	}
	c := &http.Client{Jar: jar}
	if token != "" {
		resp, err := c.PostForm(rg.srv.URL+"/login", url.Values{"token": {token}})
		if err != nil {
			rg.t.Fatal(err)
		}
		body := readBody(rg.t, resp)
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
			rg.t.Fatalf("sign-in landed on %s with %d: %s", resp.Request.URL, resp.StatusCode, body)
		}
	}
	return c
}

// get fetches a page and returns its status and body, checked for secrets.
func (rg *rig) get(c *http.Client, path string) (int, string) {
	rg.t.Helper()
	resp, err := c.Get(rg.srv.URL + path)
	if err != nil {
		rg.t.Fatal(err)
	}
	body := readBody(rg.t, resp)
	rg.noSecrets("GET "+path, body)
	return resp.StatusCode, body
}

// post sends a form (no redirects followed) and returns status, Location
// and body.
func (rg *rig) post(c *http.Client, path string, form url.Values) (int, string, string) {
	rg.t.Helper()
	nc := *c
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := nc.PostForm(rg.srv.URL+path, form)
	if err != nil {
		rg.t.Fatal(err)
	}
	body := readBody(rg.t, resp)
	rg.noSecrets("POST "+path, body)
	return resp.StatusCode, resp.Header.Get("Location"), body
}

// tokenShape is an API token: the prefix and a long random body.
var tokenShape = regexp.MustCompile(regexp.QuoteMeta(authn.TokenPrefix) + `[A-Za-z0-9_-]{16,}`)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the form token on a page.
func csrf(t *testing.T, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field on the page")
	}
	return m[1]
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// syncBuffer is a log sink the server's goroutines may write concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
