package runtime

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/spindlehq/spindle/internal/integration"
)

// seen is what the echo server received.
type seen struct {
	Header   http.Header
	RawQuery string
}

func echoServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(seen{Header: r.Header, RawQuery: r.URL.RawQuery})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func doSeen(t *testing.T, rt http.RoundTripper, req *http.Request) seen {
	t.Helper()
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Request != req {
		t.Error("response exposes the credentialed clone as resp.Request")
	}
	b, err := ReadBody(resp, 0)
	if err != nil {
		t.Fatal(err)
	}
	var s seen
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestAuthTypes(t *testing.T) {
	t.Parallel()
	srv := echoServer(t)
	const key = "k3y-Value/with+chars"
	tests := []struct {
		name      string
		auth      integration.Auth
		username  string
		secret    string
		header    string // header to check
		want      string // its expected value ("" = absent)
		wantQuery string
	}{
		{name: "api_key header default name", auth: integration.Auth{Type: "api_key"}, secret: key, header: "Authorization", want: key, wantQuery: "page=2"},
		{name: "api_key header custom name", auth: integration.Auth{Type: "api_key", In: "header", Name: "x-api-key"}, secret: key, header: "X-Api-Key", want: key, wantQuery: "page=2"},
		{name: "api_key Okta SSWS prefix", auth: integration.Auth{Type: "api_key", Name: "Authorization", Prefix: "SSWS "}, secret: key, header: "Authorization", want: "SSWS " + key, wantQuery: "page=2"},
		{name: "api_key PagerDuty Token token= prefix", auth: integration.Auth{Type: "api_key", Prefix: "Token token="}, secret: key, header: "Authorization", want: "Token token=" + key, wantQuery: "page=2"},
		{name: "api_key query", auth: integration.Auth{Type: "api_key", In: "query", Name: "api_key"}, secret: key, header: "Authorization", want: "",
			wantQuery: "page=2&api_key=k3y-Value%2Fwith%2Bchars"},
		{name: "bearer", auth: integration.Auth{Type: "bearer"}, secret: key, header: "Authorization", want: "Bearer " + key, wantQuery: "page=2"},
		{name: "basic with username", auth: integration.Auth{Type: "basic", Username: "{config.user}"}, username: "svc-reader", secret: "pa:ss-word",
			header: "Authorization", want: "Basic " + b64("svc-reader:pa:ss-word"), wantQuery: "page=2"},
		{name: "basic user:password credential", auth: integration.Auth{Type: "basic"}, secret: "svc-reader:pa:ss-word",
			header: "Authorization", want: "Basic " + b64("svc-reader:pa:ss-word"), wantQuery: "page=2"},
		{name: "none", auth: integration.Auth{Type: "none"}, header: "Authorization", want: "", wantQuery: "page=2"},
		{name: "empty type is none", auth: integration.Auth{}, header: "Authorization", want: "", wantQuery: "page=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			red := NewRedactor()
			rt, err := NewAuth(http.DefaultTransport, tt.auth, tt.username, "", "", NewSecret(tt.secret), nil, red)
			if err != nil {
				t.Fatal(err)
			}
			req := newRequest(t, context.Background(), "GET", srv.URL+"/users?page=2", nil)
			req.Header.Set("Accept", "application/json")
			got := doSeen(t, rt, req)
			if v := got.Header.Get(tt.header); v != tt.want {
				t.Errorf("%s = %q, want %q", tt.header, v, tt.want)
			}
			if got.RawQuery != tt.wantQuery {
				t.Errorf("query = %q, want %q", got.RawQuery, tt.wantQuery)
			}
			if got.Header.Get("Accept") != "application/json" {
				t.Error("caller's headers lost")
			}
			// The caller's request is untouched.
			if len(req.Header) != 1 || req.URL.RawQuery != "page=2" {
				t.Errorf("caller's request mutated: %v %q", req.Header, req.URL.RawQuery)
			}
			// What went on the wire comes out of the Redactor blank.
			if tt.secret != "" {
				wire := got.Header.Get(tt.header) + " " + got.RawQuery
				out := red.String(wire)
				assertNoSecret(t, "Redacted wire", out, tt.secret)
				if b, ok := strings.CutPrefix(tt.want, "Basic "); ok && strings.Contains(out, b) {
					t.Errorf("basic credential not Redacted: %q", out)
				}
			}
		})
	}
}

func TestAuthQueryKeepsCallerEncoding(t *testing.T) {
	t.Parallel()
	srv := echoServer(t)
	rt, err := NewAuth(http.DefaultTransport, integration.Auth{Type: "api_key", In: "query", Name: "token"}, "", "", "", NewSecret("query-key-1"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := newRequest(t, context.Background(), "GET", srv.URL+"/x?z=1&cursor=a%2Fb%3D&a=2", nil)
	if got := doSeen(t, rt, req).RawQuery; got != "z=1&cursor=a%2Fb%3D&a=2&token=query-key-1" {
		t.Errorf("query = %q", got)
	}
	// A token parameter the caller set is replaced, not duplicated.
	req = newRequest(t, context.Background(), "GET", srv.URL+"/x?token=stale&a=1", nil)
	if got := doSeen(t, rt, req).RawQuery; got != "a=1&token=query-key-1" {
		t.Errorf("query = %q", got)
	}
}

func TestAuthConfigErrors(t *testing.T) {
	t.Parallel()
	const secret = "no-colon-secret-value"
	okTransport := http.DefaultTransport
	tests := []struct {
		name     string
		auth     integration.Auth
		clientID string
		tokenURL string
		secret   string
		tokenRT  http.RoundTripper
		want     string
	}{
		{name: "missing credential", auth: integration.Auth{Type: "bearer", Credential: "okta"}, want: `credential "okta" is empty`},
		{name: "short credential", auth: integration.Auth{Type: "bearer"}, secret: "abc", want: "too short"},
		{name: "query without name", auth: integration.Auth{Type: "api_key", In: "query"}, secret: secret, want: "auth.name is required"},
		{name: "unsupported in", auth: integration.Auth{Type: "api_key", In: "cookie"}, secret: secret, want: `auth.in "cookie"`},
		{name: "basic without colon", auth: integration.Auth{Type: "basic", Credential: "jira"}, secret: secret, want: "user:password"},
		{name: "prefix on bearer", auth: integration.Auth{Type: "bearer", Prefix: "Token "}, secret: secret, want: "auth.prefix applies to api_key only"},
		{name: "oauth2 without client id", auth: integration.Auth{Type: "oauth2_client_credentials"}, secret: secret, tokenURL: "https://login.example.com/token", tokenRT: okTransport, want: "client_id"},
		{name: "oauth2 relative token url", auth: integration.Auth{Type: "oauth2_client_credentials"}, clientID: "cid", secret: secret, tokenURL: "/oauth/token", tokenRT: okTransport, want: "absolute"},
		{name: "oauth2 without token transport", auth: integration.Auth{Type: "oauth2_client_credentials"}, clientID: "cid", secret: secret, tokenURL: "https://login.example.com/token", want: "token transport"},
		{name: "unknown type", auth: integration.Auth{Type: "hmac"}, secret: secret, want: `"hmac" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewAuth(http.DefaultTransport, tt.auth, "", tt.clientID, tt.tokenURL, NewSecret(tt.secret), tt.tokenRT, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			assertNoSecret(t, "config error", err.Error(), secret)
		})
	}
}

// tokenServer is a loopback oauth2 token endpoint. It checks the client
// credentials and hands out numbered tokens.
type tokenServer struct {
	*httptest.Server
	fetches atomic.Int64
	status  atomic.Int64 // non-zero: fail with this status
}

func newTokenServer(t *testing.T, clientID, secret string) *tokenServer {
	t.Helper()
	ts := &tokenServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := ts.status.Load(); s != 0 {
			http.Error(w, `{"error":"server_error"}`, int(s))
			return
		}
		_ = r.ParseForm()
		id, sec, ok := r.BasicAuth()
		if !ok {
			id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if r.PostForm.Get("grant_type") != "client_credentials" || id != clientID || sec != secret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		n := ts.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": fmt.Sprintf("access-token-%d", n), "token_type": "bearer", "expires_in": 3600,
			"scope": r.PostForm.Get("scope"),
		})
	}))
	t.Cleanup(ts.Close)
	return ts
}

func TestAuthOAuth2ClientCredentials(t *testing.T) {
	t.Parallel()
	const clientID, secret = "spindle-client", "client-secret/+value"
	ts := newTokenServer(t, clientID, secret)
	var apiHits atomic.Int64
	var mu sync.Mutex
	var seenTokens []string
	refuse := atomic.Bool{}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apiHits.Add(1)
		mu.Lock()
		seenTokens = append(seenTokens, r.Header.Get("Authorization"))
		mu.Unlock()
		if refuse.Swap(false) {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer api.Close()

	red := NewRedactor()
	tokenRT := NewHostGuard(http.DefaultTransport, mustURL(t, ts.URL))
	auth := integration.Auth{Type: "oauth2_client_credentials", Scopes: []string{"okta.users.read", "okta.apps.read"}}
	rt, err := NewAuth(NewHostGuard(http.DefaultTransport, mustURL(t, api.URL)), auth, "", clientID, ts.URL+"/oauth2/v1/token", NewSecret(secret), tokenRT, red)
	if err != nil {
		t.Fatal(err)
	}
	call := func() int {
		resp, err := rt.RoundTrip(newRequest(t, context.Background(), "GET", api.URL+"/api/v1/users", nil))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 3 {
		call()
	}
	if ts.fetches.Load() != 1 {
		t.Fatalf("token fetched %d times, want once and reused", ts.fetches.Load())
	}
	// A 401 drops the cached token; the next request gets a fresh one.
	refuse.Store(true)
	if call() != 401 {
		t.Fatal("want 401")
	}
	call()
	mu.Lock()
	got := fmt.Sprint(seenTokens)
	mu.Unlock()
	if want := "[Bearer access-token-1 Bearer access-token-1 Bearer access-token-1 Bearer access-token-1 Bearer access-token-2]"; got != want {
		t.Fatalf("tokens %s, want %s", got, want)
	}
	if red.String("access-token-2") != "[REDACTED]" {
		t.Error("access token not registered for redaction")
	}
}

func TestAuthOAuth2Concurrent(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, "cid", "concurrent-secret")
	api := echoServer(t)
	rt, err := NewAuth(http.DefaultTransport, integration.Auth{Type: "oauth2_client_credentials"}, "", "cid", ts.URL, NewSecret("concurrent-secret"), http.DefaultTransport, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			resp, err := rt.RoundTrip(newRequest(t, context.Background(), "GET", api.URL, nil))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	if ts.fetches.Load() != 1 {
		t.Fatalf("token fetched %d times by concurrent requests", ts.fetches.Load())
	}
}

func TestAuthOAuth2TokenFailures(t *testing.T) {
	t.Parallel()
	const clientID, secret = "cid", "right-secret-value"
	tests := []struct {
		name      string
		secret    string
		status    int64
		tokenHost func(ts *tokenServer) string // the host the token guard allows
		permanent bool
		want      string
	}{
		{name: "wrong secret refused", secret: "wrong-secret-value", permanent: true, want: "refused the client credentials"},
		{name: "token endpoint 503", secret: secret, status: 503, permanent: false, want: "token request to"},
		{name: "token endpoint 400", secret: secret, status: 400, permanent: true, want: "refused"},
		{name: "token host not allowed", secret: secret, tokenHost: func(*tokenServer) string { return "https://login.example.com" }, permanent: true, want: "policy egress.host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTokenServer(t, clientID, secret)
			ts.status.Store(tt.status)
			allowed := ts.URL
			if tt.tokenHost != nil {
				allowed = tt.tokenHost(ts)
			}
			var apiHits atomic.Int64
			api := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { apiHits.Add(1) }))
			defer api.Close()
			rt, err := NewAuth(http.DefaultTransport, integration.Auth{Type: "oauth2_client_credentials"}, "", clientID, ts.URL+"/token",
				NewSecret(tt.secret), NewHostGuard(http.DefaultTransport, mustURL(t, allowed)), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = rt.RoundTrip(newRequest(t, context.Background(), "GET", api.URL, nil))
			var te *TokenError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a TokenError mentioning %q", err, tt.want)
			}
			if isPermanent(err) != tt.permanent {
				t.Errorf("permanent = %v, want %v", !tt.permanent, tt.permanent)
			}
			if apiHits.Load() != 0 {
				t.Error("API called without a token")
			}
			assertNoSecret(t, "token error", err.Error(), tt.secret)
		})
	}
}
