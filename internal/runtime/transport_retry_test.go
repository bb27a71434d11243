package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/integration"
)

// retries records onRetry calls.
type retries struct {
	mu      sync.Mutex
	reasons []string
	attempt []int
}

func (r *retries) on(_ *http.Request, attempt int, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempt = append(r.attempt, attempt)
	r.reasons = append(r.reasons, reason)
}

func (r *retries) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reasons)
}

// fastRetry is a retry config whose waits are a few milliseconds.
func fastRetry(maxAttempts int) *integration.Retry {
	return &integration.Retry{MaxAttempts: maxAttempts, InitialInterval: integration.Duration(time.Millisecond), MaxInterval: integration.Duration(4 * time.Millisecond)}
}

// newTestRetry builds a retry layer on a fake clock.
func newTestRetry(next http.RoundTripper, cfg *integration.Retry, rec *retries, clk *fakeClock) http.RoundTripper {
	rt := NewRetry(next, cfg, rec.on).(*retryTransport)
	rt.now, rt.sleep = clk.Now, clk.Sleep
	return rt
}

func TestRetryStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		cfg         *integration.Retry
		replies     []reply
		wantStatus  int
		wantHits    int64
		wantRetries int
		wantBody    string
	}{
		{name: "503 burst then 200", cfg: fastRetry(4), replies: []reply{{status: 503}, {status: 503}, {status: 200, body: "done"}},
			wantStatus: 200, wantHits: 3, wantRetries: 2, wantBody: "done"},
		{name: "exhausted returns the final 503", cfg: fastRetry(4), replies: []reply{{status: 503, body: "down"}},
			wantStatus: 503, wantHits: 4, wantRetries: 3, wantBody: "down"},
		{name: "defaults: 4 attempts", cfg: nil, replies: []reply{{status: 502}},
			wantStatus: 502, wantHits: 4, wantRetries: 3},
		{name: "404 not retried", cfg: fastRetry(4), replies: []reply{{status: 404}},
			wantStatus: 404, wantHits: 1},
		{name: "401 not retried", cfg: fastRetry(4), replies: []reply{{status: 401}},
			wantStatus: 401, wantHits: 1},
		{name: "custom on list", cfg: &integration.Retry{MaxAttempts: 3, On: []int{409}}, replies: []reply{{status: 409}, {status: 503}},
			wantStatus: 503, wantHits: 2, wantRetries: 1},
		{name: "one attempt", cfg: &integration.Retry{MaxAttempts: 1}, replies: []reply{{status: 500}},
			wantStatus: 500, wantHits: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, hits := scriptServer(t, tt.replies...)
			var rec retries
			rt := newTestRetry(http.DefaultTransport, tt.cfg, &rec, newFakeClock())
			resp, err := rt.RoundTrip(newRequest(t, context.Background(), "GET", srv.URL, nil))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := ReadBody(resp, 0)
			if resp.StatusCode != tt.wantStatus || hits.Load() != tt.wantHits || rec.count() != tt.wantRetries || string(b) != tt.wantBody {
				t.Fatalf("status %d hits %d retries %d body %q; want %d %d %d %q",
					resp.StatusCode, hits.Load(), rec.count(), b, tt.wantStatus, tt.wantHits, tt.wantRetries, tt.wantBody)
			}
			for i, a := range rec.attempt {
				if a != i+1 {
					t.Errorf("onRetry attempts %v", rec.attempt)
				}
			}
			if tt.wantRetries > 0 && !strings.HasPrefix(rec.reasons[0], "status ") {
				t.Errorf("reason %q", rec.reasons[0])
			}
		})
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	srv, hits := scriptServer(t, reply{status: 429, header: map[string]string{"Retry-After": "1"}}, reply{status: 200})
	clk := newFakeClock()
	var rec retries
	resp, err := newTestRetry(http.DefaultTransport, fastRetry(3), &rec, clk).RoundTrip(newRequest(t, context.Background(), "GET", srv.URL, nil))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	resp.Body.Close()
	if got := fmt.Sprint(clk.Slept()); got != "[1s]" || hits.Load() != 2 || rec.reasons[0] != "status 429" {
		t.Fatalf("slept %s hits %d reasons %v", got, hits.Load(), rec.reasons)
	}
}

func TestRetryAfterBeyondMaxWait(t *testing.T) {
	t.Parallel()
	srv, hits := scriptServer(t, reply{status: 503, header: map[string]string{"Retry-After": "7200"}}, reply{status: 200})
	cfg := fastRetry(3)
	cfg.MaxWait = integration.Duration(time.Minute)
	_, err := newTestRetry(http.DefaultTransport, cfg, &retries{}, newFakeClock()).RoundTrip(newRequest(t, context.Background(), "GET", srv.URL, nil))
	var rle *RateLimitError
	if !errors.As(err, &rle) || rle.Wait != 2*time.Hour || hits.Load() != 1 {
		t.Fatalf("err %v hits %d", err, hits.Load())
	}
}

// The rate limiter under the retry layer turns a 429's reset header into a
// pause that the next attempt waits out.
func TestRetryWithRateLimitReset(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	reset := fmt.Sprint(clk.Now().Add(2 * time.Second).Unix())
	srv, hits := scriptServer(t, reply{status: 429, header: map[string]string{"X-RateLimit-Reset": reset, "X-RateLimit-Remaining": "0"}}, reply{status: 200})
	var rec retries
	rt := newTestRetry(newTestLimiter(nil, time.Minute, clk), fastRetry(3), &rec, clk)
	resp, err := rt.RoundTrip(newRequest(t, context.Background(), "GET", srv.URL, nil))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	resp.Body.Close()
	var total time.Duration
	for _, d := range clk.Slept() {
		total += d
	}
	if total != 2*time.Second || hits.Load() != 2 || rec.count() != 1 {
		t.Fatalf("waited %s (%v) hits %d retries %d", total, clk.Slept(), hits.Load(), rec.count())
	}
}

func TestRetryNetworkError(t *testing.T) {
	t.Parallel()
	var rec retries
	u := closedURL(t)
	_, err := newTestRetry(http.DefaultTransport, fastRetry(3), &rec, newFakeClock()).RoundTrip(newRequest(t, context.Background(), "GET", u, nil))
	if err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "after 3 attempts") || rec.count() != 2 || !strings.HasPrefix(rec.reasons[0], "network error: ") {
		t.Fatalf("err %q reasons %v", err, rec.reasons)
	}
}

func TestRetryNotOnPolicyError(t *testing.T) {
	t.Parallel()
	srv, hits := scriptServer(t, reply{status: 200})
	var rec retries
	guarded := NewHostGuard(http.DefaultTransport, mustURL(t, "https://api.example.com"))
	_, err := newTestRetry(guarded, fastRetry(4), &rec, newFakeClock()).RoundTrip(newRequest(t, context.Background(), "GET", srv.URL, nil))
	var pe *PolicyError
	if !errors.As(err, &pe) || rec.count() != 0 || hits.Load() != 0 {
		t.Fatalf("err %v retries %d hits %d", err, rec.count(), hits.Load())
	}
	if strings.Contains(err.Error(), "attempts") {
		t.Errorf("a single attempt reported as several: %v", err)
	}
}

func TestRetryTimeoutPerAttempt(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	var rec retries
	rt := newTestRetry(NewTimeout(http.DefaultTransport, 20*time.Millisecond), fastRetry(2), &rec, newFakeClock())
	start := time.Now()
	_, err := rt.RoundTrip(newRequest(t, context.Background(), "GET", srv.URL, nil))
	var te *TimeoutError
	if !errors.As(err, &te) || rec.count() != 1 || rec.reasons[0] != "timeout" {
		t.Fatalf("err %v reasons %v", err, rec.reasons)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("took %s", el)
	}
}

func TestRetryCancelStopsWait(t *testing.T) {
	t.Parallel()
	srv, hits := scriptServer(t, reply{status: 503})
	var rec retries
	// Real clock, and a backoff far longer than the test.
	rt := NewRetry(http.DefaultTransport, &integration.Retry{MaxAttempts: 3, InitialInterval: integration.Duration(time.Minute), Backoff: "constant"}, rec.on)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, err := rt.RoundTrip(newRequest(t, ctx, "GET", srv.URL, nil))
	if !errors.Is(err, context.Canceled) || hits.Load() != 1 {
		t.Fatalf("err %v hits %d", err, hits.Load())
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("cancel took %s", el)
	}
}

func TestRetryNotAfterCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var calls int
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		calls++
		cancel()
		return nil, &url.Error{Op: "Get", URL: r.URL.String(), Err: context.Canceled}
	})
	var rec retries
	_, err := newTestRetry(next, fastRetry(4), &rec, newFakeClock()).RoundTrip(newRequest(t, ctx, "GET", "http://x.test", nil))
	if !errors.Is(err, context.Canceled) || calls != 1 || rec.count() != 0 {
		t.Fatalf("err %v calls %d", err, calls)
	}
}

func TestRetryRewindsBody(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		n := len(bodies)
		mu.Unlock()
		if n < 3 {
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	rt := newTestRetry(http.DefaultTransport, fastRetry(4), &retries{}, newFakeClock())

	req := newRequest(t, context.Background(), "POST", srv.URL, strings.NewReader(`{"q":"x"}`)) // sets GetBody
	resp, err := rt.RoundTrip(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	resp.Body.Close()
	mu.Lock()
	if got := fmt.Sprint(bodies); got != `[{"q":"x"} {"q":"x"} {"q":"x"}]` {
		t.Fatalf("bodies %s", got)
	}
	bodies = nil
	mu.Unlock()

	// A body that cannot be replayed gets a single attempt.
	req = newRequest(t, context.Background(), "POST", srv.URL, io.NopCloser(bytes.NewBufferString("once")))
	req.GetBody = nil
	resp, err = rt.RoundTrip(req)
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("%v %v", resp, err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 {
		t.Fatalf("sent %d times", len(bodies))
	}
}

func TestRetryDrainsDiscardedResponses(t *testing.T) {
	t.Parallel()
	var bodies []*trackingBody
	n := 0
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		n++
		status := 503
		if n == 3 {
			status = 200
		}
		b := &trackingBody{Reader: strings.NewReader("body")}
		bodies = append(bodies, b)
		return &http.Response{StatusCode: status, Header: http.Header{}, Body: b, Request: r}, nil
	})
	resp, err := newTestRetry(next, fastRetry(4), &retries{}, newFakeClock()).RoundTrip(newRequest(t, context.Background(), "GET", "http://x.test", nil))
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(err)
	}
	if !bodies[0].closed.Load() || !bodies[1].closed.Load() || bodies[2].closed.Load() {
		t.Fatal("discarded bodies must be closed, the returned one left open")
	}
}

func TestRetryBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  *integration.Retry
		want string
	}{
		{name: "defaults", cfg: nil, want: "[500ms 1s 2s 4s 8s 16s 30s 30s]"},
		{name: "exponential capped", cfg: &integration.Retry{InitialInterval: integration.Duration(100 * time.Millisecond), MaxInterval: integration.Duration(time.Second)},
			want: "[100ms 200ms 400ms 800ms 1s 1s 1s 1s]"},
		{name: "constant", cfg: &integration.Retry{Backoff: "constant", InitialInterval: integration.Duration(250 * time.Millisecond)},
			want: "[250ms 250ms 250ms 250ms 250ms 250ms 250ms 250ms]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := NewRetry(http.DefaultTransport, tt.cfg, nil).(*retryTransport)
			rt.jitter = func(d time.Duration) time.Duration { return d } // the ceiling
			var got []time.Duration
			for a := 1; a <= 8; a++ {
				got = append(got, rt.backoff(a))
			}
			if fmt.Sprint(got) != tt.want {
				t.Fatalf("backoff %v, want %s", got, tt.want)
			}
		})
	}
	for range 100 {
		if d := fullJitter(time.Second); d < 0 || d > time.Second {
			t.Fatalf("jitter %s out of range", d)
		}
	}
}
