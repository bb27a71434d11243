package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/integration"
)

const (
	leakClientID    = "spindle-client"
	leakUser        = "svc-user"
	leakAccessToken = "leak-access-token-0001"
)

// hostileHandler fails with status and echoes back everything that could
// carry the credential: the Authorization header, the query and the body.
// A buggy or hostile vendor does this; the runtime must not pass it on.
func hostileHandler(status int, jsonError bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		echo := fmt.Sprintf("auth=%s query=%s body=%s", r.Header.Get("Authorization"), r.URL.RawQuery, body)
		if jsonError {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": echo})
			return
		}
		http.Error(w, echo, status)
	}
}

func hangingHandler(w http.ResponseWriter, r *http.Request) {
	// Read the body first: only then does the server watch the connection
	// and cancel r.Context() when the client gives up.
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
}

func goodTokenHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"access_token":"`+leakAccessToken+`","token_type":"Bearer","expires_in":3600}`)
}

// serve starts h on loopback, or, for h nil, returns a refused URL.
func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	if h == nil {
		return closedURL(t)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestAuthSecretLeak drives every auth type through every way a request can
// fail, on the layers stacked as the engine stacks them, and checks that
// the credential (and its encoded forms, and any access token) shows up in
// no error, no log line, no retry reason and no formatted Secret.
func TestAuthSecretLeak(t *testing.T) {
	t.Parallel()
	secret := testSecretValue
	type authCase struct {
		name     string
		auth     integration.Auth
		username string
		secret   string
	}
	auths := []authCase{
		{name: "api_key header", auth: integration.Auth{Type: "api_key"}, secret: secret},
		{name: "api_key SSWS", auth: integration.Auth{Type: "api_key", Prefix: "SSWS "}, secret: secret},
		{name: "api_key Token token=", auth: integration.Auth{Type: "api_key", Prefix: "Token token="}, secret: secret},
		{name: "api_key query", auth: integration.Auth{Type: "api_key", In: "query", Name: "api_key"}, secret: secret},
		{name: "bearer", auth: integration.Auth{Type: "bearer"}, secret: secret},
		{name: "basic username", auth: integration.Auth{Type: "basic"}, username: leakUser, secret: secret},
		{name: "basic user:password", auth: integration.Auth{Type: "basic"}, secret: leakUser + ":" + secret},
		{name: "oauth2", auth: integration.Auth{Type: "oauth2_client_credentials"}, secret: secret},
	}
	type failure struct {
		name       string
		api, token http.HandlerFunc // nil: connection refused
		oauthOnly  bool
	}
	failures := []failure{
		{name: "401", api: hostileHandler(401, false), token: goodTokenHandler},
		{name: "500 exhausted", api: hostileHandler(500, false), token: goodTokenHandler},
		{name: "connection refused", api: nil, token: goodTokenHandler},
		{name: "timeout", api: hangingHandler, token: goodTokenHandler},
		{name: "token endpoint 401", api: hostileHandler(200, false), token: hostileHandler(401, false), oauthOnly: true},
		{name: "token endpoint 400 json", api: hostileHandler(200, false), token: hostileHandler(400, true), oauthOnly: true},
		{name: "token endpoint 500", api: hostileHandler(200, false), token: hostileHandler(500, false), oauthOnly: true},
		{name: "token endpoint refused", api: hostileHandler(200, false), token: nil, oauthOnly: true},
		{name: "token endpoint timeout", api: hostileHandler(200, false), token: hangingHandler, oauthOnly: true},
	}
	// Every form the credential takes on the wire.
	leaks := []string{
		secret,
		leakUser + ":" + secret,
		leakClientID + ":" + secret,
		url.QueryEscape(leakClientID) + ":" + url.QueryEscape(secret),
		leakAccessToken,
	}

	for _, ac := range auths {
		for _, f := range failures {
			isOAuth := ac.auth.Type == integration.AuthOAuth2ClientCredentials
			if f.oauthOnly && !isOAuth {
				continue
			}
			t.Run(ac.name+"/"+f.name, func(t *testing.T) {
				t.Parallel()
				apiURL := serve(t, f.api)
				var tokenURL, clientID string
				var tokenRT http.RoundTripper
				if isOAuth {
					tokenURL, clientID = serve(t, f.token)+"/oauth/token", leakClientID
					tokenRT = NewTimeout(NewHostGuard(http.DefaultTransport, mustURL(t, tokenURL)), 50*time.Millisecond)
				}
				var logs bytes.Buffer
				var mu sync.Mutex
				w := &lockedWriter{w: &logs, mu: &mu}
				logger := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
				textLogger := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))

				// The stack as the engine builds it.
				red := NewRedactor()
				s := NewSecret(ac.secret)
				var rt http.RoundTripper = NewTimeout(NewHostGuard(http.DefaultTransport, mustURL(t, apiURL)), 50*time.Millisecond)
				rt, err := NewAuth(rt, ac.auth, ac.username, clientID, tokenURL, s, tokenRT, red)
				if err != nil {
					t.Fatal(err)
				}
				rt = NewRequestLog(rt, logger, red)
				rt = NewRateLimiter(rt, nil, time.Second, nil)
				rt = NewRetry(rt, fastRetry(2), func(req *http.Request, attempt int, reason string) {
					logger.Warn("retry", "attempt", attempt, "reason", reason, "url", req.URL.String())
				})
				client := &http.Client{Transport: rt}

				var out []string
				req := newRequest(t, context.Background(), "GET", apiURL+"/api/v1/keys?limit=10", nil)
				resp, err := client.Do(req)
				if err != nil {
					out = append(out, err.Error(), fmt.Sprintf("%v|%+v|%#v|%s|%q", err, err, err, err, err))
					logger.Error("sync failed", "err", err)
					textLogger.Error("sync failed", "err", err, "secret", s)
				} else {
					body, _ := ReadBody(resp, 0)
					if resp.StatusCode < 400 && f.api != nil && !f.oauthOnly {
						t.Fatalf("expected a failure, got %d", resp.StatusCode)
					}
					// The engine redacts a body excerpt before reporting it.
					out = append(out, red.String(string(body)))
					// The response points at the caller's request, not the
					// credentialed clone.
					out = append(out, fmt.Sprintf("%v %v", resp.Request.URL, resp.Request.Header))
					logger.Error("stream failed", "status", resp.StatusCode, "body", red.String(string(body)), "request", resp.Request.URL)
				}
				if f.oauthOnly && err == nil {
					t.Fatalf("token endpoint failure %q did not fail the request", f.name)
				}
				logger.Info("credential", "secret", s, "cfg", struct{ S Secret }{s})
				textLogger.Info("credential", "secret", s, "cfg", struct{ S Secret }{s})
				out = append(out, fmt.Sprintf("%v %+v %#v %s %q %x", s, s, s, s, s, s))
				mu.Lock()
				out = append(out, logs.String())
				mu.Unlock()

				for _, o := range out {
					assertNoSecret(t, "output", o, leaks...)
				}
				if testing.Verbose() {
					t.Log(out[0])
				}
			})
		}
	}
}
