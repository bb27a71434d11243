package sandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/nhi"
)

// authSurface is a one-list API secured by schemes, requiring req.
func authSurface(req []apisurface.Requirement, schemes ...apisurface.SecurityScheme) *apisurface.Surface {
	rec := obj([]string{"id"}, "id", str(), "name", str())
	op := listOp("/keys", obj(nil, "keys", arrayOf(rec)), "keys", rec, nhi.APIKey, apisurface.Paging{Style: apisurface.PageNone})
	op.ErrorResponses = errorStyle()
	open := listOp("/public", arrayOf(rec), "", rec, "", apisurface.Paging{Style: apisurface.PageNone})
	open.Security = []apisurface.Requirement{} // explicitly unauthenticated
	return &apisurface.Surface{SecuritySchemes: schemes, Security: req, Operations: []apisurface.Operation{op, open}}
}

func use(schemes ...string) apisurface.Requirement {
	var r apisurface.Requirement
	for _, s := range schemes {
		r.Schemes = append(r.Schemes, apisurface.SchemeUse{Scheme: s})
	}
	return r
}

func TestAuthSchemes(t *testing.T) {
	oauth := apisurface.SecurityScheme{Name: "oauth", Type: "oauth2", Flows: []apisurface.OAuthFlow{{
		Type: "clientCredentials", TokenURL: "https://login.acme.example/oauth2/token",
		Scopes: []apisurface.Scope{{Name: "keys:read"}, {Name: "keys:write"}}}}}
	for _, tc := range []struct {
		name    string
		scheme  apisurface.SecurityScheme
		www     string
		corrupt func(c *Credential) // makes a well-formed but wrong credential
		sent    func(c Credential) string
	}{
		{"apiKey header with prefix", apisurface.SecurityScheme{Name: "k", Type: "apiKey", In: "header", ParamName: "Authorization", Prefix: "SSWS "}, "",
			func(c *Credential) { c.Value += "x" }, func(c Credential) string { return c.Value }},
		{"apiKey custom header", apisurface.SecurityScheme{Name: "k", Type: "apiKey", In: "header", ParamName: "X-Api-Key"}, "",
			func(c *Credential) { c.Value = c.Value[:len(c.Value)-1] }, func(c Credential) string { return c.Value }},
		{"apiKey query", apisurface.SecurityScheme{Name: "k", Type: "apiKey", In: "query", ParamName: "token"}, "",
			func(c *Credential) { c.Value += "x" }, func(c Credential) string { return c.Value }},
		{"apiKey cookie", apisurface.SecurityScheme{Name: "k", Type: "apiKey", In: "cookie", ParamName: "session"}, "",
			func(c *Credential) { c.Value += "x" }, func(c Credential) string { return c.Value }},
		{"http bearer", apisurface.SecurityScheme{Name: "k", Type: "http", Scheme: "bearer"}, `Bearer realm="sandbox"`,
			func(c *Credential) { c.Value += "x" }, func(c Credential) string { return c.Value }},
		{"http basic", apisurface.SecurityScheme{Name: "k", Type: "http", Scheme: "basic"}, `Basic realm="sandbox"`,
			func(c *Credential) { c.Password += "x" }, func(c Credential) string { return c.Password }},
		{"oauth2 static token", oauth, `Bearer realm="sandbox"`,
			func(c *Credential) { c.AccessToken += "x" }, func(c Credential) string { return c.AccessToken }},
		{"openIdConnect", apisurface.SecurityScheme{Name: "k", Type: "openIdConnect", OpenIDURL: "https://id.acme.example/.well-known/openid-configuration"}, `Bearer realm="sandbox"`,
			func(c *Credential) { c.AccessToken += "x" }, func(c Credential) string { return c.AccessToken }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t, authSurface([]apisurface.Requirement{use(tc.scheme.Name)}, tc.scheme), Options{Seed: 1})
			good := cred(t, sb, tc.scheme.Name)
			for _, v := range []string{good.Value, good.Password, good.AccessToken, good.ClientSecret} {
				if v != "" && !strings.HasPrefix(v, "sbx_") {
					t.Errorf("credential value %q is not marked synthetic", v)
				}
			}
			bad := *good
			tc.corrupt(&bad)
			for _, step := range []struct {
				c      *Credential
				status int
			}{{nil, 401}, {&bad, 403}, {good, 200}} {
				resp := do(t, sb.Handler(), testHost+"/keys", step.c)
				b := readAll(t, resp)
				if resp.StatusCode != step.status {
					t.Fatalf("credential %v: %d %s, want %d", step.c != nil, resp.StatusCode, b, step.status)
				}
				if step.status == 200 {
					continue
				}
				if errs := validate(errorStyle()["401"], decode(t, b)); len(errs) > 0 {
					t.Errorf("%d body not in the vendor's style: %v %s", step.status, errs, b)
				}
				if step.c != nil && strings.Contains(string(b)+strings.Join(resp.Header.Values("WWW-Authenticate"), ""), tc.sent(*step.c)) {
					t.Errorf("the %d response echoes the presented credential: %s", step.status, b)
				}
				if step.status == 401 && resp.Header.Get("WWW-Authenticate") != tc.www {
					t.Errorf("WWW-Authenticate %q, want %q", resp.Header.Get("WWW-Authenticate"), tc.www)
				}
			}
			// Explicitly unauthenticated operations need nothing.
			if resp := do(t, sb.Handler(), testHost+"/public", nil); resp.StatusCode != 200 {
				t.Errorf("/public: %d", resp.StatusCode)
			}
			lg := sb.RequestLog()
			if lg[2].Scheme != tc.scheme.Name || lg[0].Scheme != "" || lg[1].Scheme != "" {
				t.Errorf("logged schemes %q %q %q", lg[0].Scheme, lg[1].Scheme, lg[2].Scheme)
			}
			raw, _ := json.Marshal(lg)
			for _, c := range []Credential{*good, bad} {
				if s := tc.sent(c); strings.Contains(string(raw), s) {
					t.Errorf("the request log holds a credential")
				}
			}
		})
	}
}

// Alternatives (either scheme) and conjunctions (both schemes at once).
func TestAuthRequirementCombinations(t *testing.T) {
	a := apisurface.SecurityScheme{Name: "api", Type: "apiKey", In: "header", ParamName: "X-Api-Key"}
	b := apisurface.SecurityScheme{Name: "app", Type: "apiKey", In: "header", ParamName: "X-App-Key"}
	either := newSandbox(t, authSurface([]apisurface.Requirement{use("api"), use("app")}, a, b), Options{})
	both := newSandbox(t, authSurface([]apisurface.Requirement{use("api", "app")}, a, b), Options{})
	for _, tc := range []struct {
		sb     *Sandbox
		send   []string
		status int
	}{
		{either, []string{"api"}, 200}, {either, []string{"app"}, 200}, {either, nil, 401},
		{both, []string{"api"}, 401}, {both, []string{"api", "app"}, 200},
	} {
		r := httptest.NewRequest("GET", testHost+"/keys", nil)
		for _, s := range tc.send {
			cred(t, tc.sb, s).Apply(r)
		}
		w := httptest.NewRecorder()
		tc.sb.Handler().ServeHTTP(w, r)
		if w.Code != tc.status {
			t.Errorf("sending %v: %d, want %d", tc.send, w.Code, tc.status)
		}
	}
	if e := both.RequestLog()[1]; e.Scheme != "api+app" {
		t.Errorf("conjunction logged as %q", e.Scheme)
	}
}

// The oauth2 client-credentials flow: the token endpoint at the flow's
// token URL path issues synthetic tokens, scoped; the API checks scopes.
func TestOAuthClientCredentials(t *testing.T) {
	oauth := apisurface.SecurityScheme{Name: "oauth", Type: "oauth2", Flows: []apisurface.OAuthFlow{{
		Type: "clientCredentials", TokenURL: "https://login.acme.example/oauth2/token",
		Scopes: []apisurface.Scope{{Name: "keys:read"}, {Name: "keys:write"}}}}}
	sb := newSandbox(t, authSurface([]apisurface.Requirement{{Schemes: []apisurface.SchemeUse{{Scheme: "oauth", Scopes: []string{"keys:read"}}}}}, oauth), Options{Seed: 8})
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()
	c := cred(t, sb, "oauth")
	if c.TokenURL != "/oauth2/token" || !strings.HasPrefix(c.ClientID, "sbx-client-") {
		t.Fatalf("credential %+v", c)
	}
	token := func(form url.Values, basic bool, id, secret string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+c.TokenURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(readAll(t, resp), &m)
		return resp.StatusCode, m
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	status, m := token(cc, true, c.ClientID, c.ClientSecret)
	if status != 200 || m["token_type"] != "Bearer" || !strings.HasPrefix(m["access_token"].(string), "sbx_at_") {
		t.Fatalf("token: %d %v", status, m)
	}
	get := func(tok string) int {
		req, _ := http.NewRequest("GET", srv.URL+"/keys", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(m["access_token"].(string)); s != 200 {
		t.Errorf("issued token: %d", s)
	}
	// Client credentials in the body work too; a token without the needed
	// scope is refused with 403.
	status, m = token(url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}, "scope": {"keys:write"}}, false, "", "")
	if status != 200 || m["scope"] != "keys:write" {
		t.Fatalf("scoped token: %d %v", status, m)
	}
	if s := get(m["access_token"].(string)); s != 403 {
		t.Errorf("token lacking keys:read: %d, want 403", s)
	}
	for _, tc := range []struct {
		form   url.Values
		id, sc string
		status int
		code   string
	}{
		{cc, c.ClientID, c.ClientSecret + "x", 401, "invalid_client"},
		{cc, "", "", 401, "invalid_client"},
		{url.Values{"grant_type": {"password"}}, c.ClientID, c.ClientSecret, 400, "unsupported_grant_type"},
		{url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}, c.ClientID, c.ClientSecret, 400, "invalid_scope"},
	} {
		status, m := token(tc.form, tc.id != "", tc.id, tc.sc)
		if status != tc.status || m["error"] != tc.code {
			t.Errorf("%v: %d %v, want %d %s", tc.form, status, m, tc.status, tc.code)
		}
	}
	if s := get("sbx_at_made_up_token_value"); s != 403 {
		t.Errorf("made-up token: %d", s)
	}
	lg := sb.RequestLog()
	if lg[0].Operation != "POST /oauth2/token" || lg[0].Scheme != "oauth" || lg[1].Scheme != "oauth" || len(lg[1].Scopes) != 2 {
		t.Errorf("log: %+v %+v", lg[0], lg[1])
	}
	raw, _ := json.Marshal(lg)
	if strings.Contains(string(raw), c.ClientSecret) || strings.Contains(string(raw), "sbx_at_") {
		t.Error("the log holds a client secret or token")
	}
}

// A document that declares no security serves everything openly and has
// no credentials to print.
func TestNoSecurityDeclared(t *testing.T) {
	sb := newSandbox(t, authSurface(nil), Options{})
	if c := sb.Credentials(); len(c) != 0 {
		t.Errorf("credentials %v", c)
	}
	if resp := do(t, sb.Handler(), testHost+"/keys", nil); resp.StatusCode != 200 {
		t.Errorf("/keys: %d", resp.StatusCode)
	}
	if lg := sb.RequestLog(); lg[0].Scheme != "" {
		t.Errorf("logged scheme %q", lg[0].Scheme)
	}
}
