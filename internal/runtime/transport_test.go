package runtime

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fakeClock stands in for time in the limiter and retry layers: sleeping
// advances it instantly and records how long was asked for.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.t = c.t.Add(d)
		c.slept = append(c.slept, d)
	}
	return nil
}

func (c *fakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func newRequest(t *testing.T, ctx context.Context, method, u string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// closedURL is the URL of a loopback port that just stopped listening:
// connecting to it is refused at once.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// countingServer answers 200 "ok" and counts requests.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

type trackingBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackingBody) Close() error { b.closed.Store(true); return nil }

func TestHostGuard(t *testing.T) {
	t.Parallel()
	allowedSrv, allowedHits := countingServer(t)
	otherSrv, otherHits := countingServer(t)

	tests := []struct {
		name    string
		allowed []*url.URL
		url     string
		ok      bool
	}{
		{name: "declared host", allowed: []*url.URL{mustURL(t, allowedSrv.URL+"/api/v2")}, url: allowedSrv.URL + "/users?x=1", ok: true},
		{name: "second declared host", allowed: []*url.URL{mustURL(t, "https://api.example.com"), mustURL(t, allowedSrv.URL)}, url: allowedSrv.URL, ok: true},
		{name: "other loopback port", allowed: []*url.URL{mustURL(t, allowedSrv.URL)}, url: otherSrv.URL + "/users"},
		{name: "dns name", allowed: []*url.URL{mustURL(t, allowedSrv.URL)}, url: "http://attacker.example.invalid/collect"},
		{name: "same host other scheme", allowed: []*url.URL{mustURL(t, "https://api.example.com")}, url: "http://api.example.com/"},
		{name: "same host other port", allowed: []*url.URL{mustURL(t, "https://api.example.com")}, url: "https://api.example.com:8443/"},
		{name: "subdomain", allowed: []*url.URL{mustURL(t, "https://example.com")}, url: "https://api.example.com/"},
		{name: "nothing allowed", allowed: nil, url: allowedSrv.URL},
		{name: "nil entry", allowed: []*url.URL{nil}, url: allowedSrv.URL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var nextCalls atomic.Int64
			next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				nextCalls.Add(1)
				return http.DefaultTransport.RoundTrip(r)
			})
			body := &trackingBody{Reader: strings.NewReader("payload")}
			req := newRequest(t, context.Background(), http.MethodPost, tt.url, body)
			resp, err := NewHostGuard(next, tt.allowed...).RoundTrip(req)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				resp.Body.Close()
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) || pe.Rule != RuleEgressHost {
				t.Fatalf("err = %v, want a PolicyError", err)
			}
			if resp != nil || nextCalls.Load() != 0 {
				t.Fatal("refused request reached the next layer")
			}
			if !body.closed.Load() {
				t.Error("refused request's body not closed")
			}
			if !strings.Contains(err.Error(), "refused") {
				t.Errorf("message %q", err)
			}
		})
	}
	// Parent cleanups run after the parallel subtests finish.
	t.Cleanup(func() {
		if otherHits.Load() != 0 {
			t.Errorf("refused server got %d requests", otherHits.Load())
		}
		if allowedHits.Load() != 2 {
			t.Errorf("allowed server got %d requests, want 2", allowedHits.Load())
		}
	})
}

func TestHostGuardCanonicalHost(t *testing.T) {
	t.Parallel()
	ok := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	})
	g := NewHostGuard(ok, mustURL(t, "https://API.Example.com/base"), mustURL(t, "http://[::1]:8080"))
	for _, u := range []string{"https://api.example.com/x", "https://api.example.com:443/x", "https://api.example.com./x", "http://[::1]:8080/"} {
		if _, err := g.RoundTrip(newRequest(t, context.Background(), "GET", u, nil)); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
}

func TestTimeoutSlowServer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	start := time.Now()
	_, err := NewTimeout(http.DefaultTransport, 30*time.Millisecond).RoundTrip(newRequest(t, context.Background(), "GET", srv.URL, nil))
	var te *TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a TimeoutError", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("took %s", el)
	}
	if !strings.Contains(err.Error(), "defaults.timeout") {
		t.Errorf("message %q does not say what to set", err)
	}
}

func TestTimeoutBodyOutlivesRoundTrip(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first ")
		w.(http.Flusher).Flush()
		time.Sleep(20 * time.Millisecond)
		_, _ = io.WriteString(w, "second")
	}))
	defer srv.Close()
	var attemptCtx context.Context
	capture := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		attemptCtx = r.Context()
		return http.DefaultTransport.RoundTrip(r)
	})
	resp, err := NewTimeout(capture, 5*time.Second).RoundTrip(newRequest(t, context.Background(), "GET", srv.URL, nil))
	if err != nil {
		t.Fatal(err)
	}
	if attemptCtx.Err() != nil {
		t.Fatal("attempt ctx cancelled before the body was read")
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != "first second" {
		t.Fatalf("body = %q, %v", b, err)
	}
	resp.Body.Close()
	if attemptCtx.Err() == nil {
		t.Fatal("attempt ctx not cancelled on Close")
	}
}

func TestTimeoutParentCancelIsNotATimeout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) { return nil, r.Context().Err() })
	_, err := NewTimeout(next, time.Second).RoundTrip(newRequest(t, ctx, "GET", "http://x.test", nil))
	var te *TimeoutError
	if errors.As(err, &te) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if NewTimeout(next, 0) == nil {
		t.Fatal("zero timeout should pass through")
	}
}

func TestReadBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      string
		length    int64 // Content-Length; -1 unknown
		max       int64
		wantError bool
	}{
		{name: "under", body: "hello", length: 5, max: 10},
		{name: "exact", body: "hello", length: 5, max: 5},
		{name: "over, length known", body: "hello world", length: 11, max: 5, wantError: true},
		{name: "over, length unknown", body: "hello world", length: -1, max: 5, wantError: true},
		{name: "default cap", body: "hello", length: -1, max: 0},
		{name: "empty", body: "", length: 0, max: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := &trackingBody{Reader: strings.NewReader(tt.body)}
			b, err := ReadBody(&http.Response{Body: body, ContentLength: tt.length}, tt.max)
			if !body.closed.Load() {
				t.Error("body not closed")
			}
			if tt.wantError {
				if err == nil || !strings.Contains(err.Error(), "exceeds 5 bytes") || !strings.Contains(err.Error(), "defaults.max_response_bytes") {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || string(b) != tt.body {
				t.Fatalf("ReadBody = %q, %v", b, err)
			}
		})
	}
	if b, err := ReadBody(nil, 1); b != nil || err != nil {
		t.Fatal("nil response")
	}
}

func TestTransportRequestLog(t *testing.T) {
	t.Parallel()
	srv, _ := countingServer(t)
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	red := NewRedactor()
	red.Add("query-secret-123")
	rt := NewRequestLog(http.DefaultTransport, logger, red)
	resp, err := rt.RoundTrip(newRequest(t, context.Background(), "GET", srv.URL+"/x?k=query-secret-123", nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := rt.RoundTrip(newRequest(t, context.Background(), "GET", closedURL(t), nil)); err == nil {
		t.Fatal("want error")
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, want := range []string{`"status":200`, `"http request failed"`, `k=[REDACTED]`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	assertNoSecret(t, "request log", out, "query-secret-123")
	if NewRequestLog(http.DefaultTransport, nil, nil) != http.DefaultTransport {
		t.Error("nil logger should pass through")
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
