package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/integration"
)

// reply is one scripted response.
type reply struct {
	status int
	header map[string]string
	body   string
}

// scriptServer answers requests with replies in order, repeating the last,
// and counts requests.
func scriptServer(t *testing.T, replies ...reply) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		rep := replies[min(i, len(replies)-1)]
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// newTestLimiter builds a limiter on a fake clock.
func newTestLimiter(rl *integration.RateLimit, maxWait time.Duration, clk *fakeClock) http.RoundTripper {
	l := NewRateLimiter(http.DefaultTransport, rl, maxWait, clk.Now).(*rateLimiter)
	l.sleep = clk.Sleep
	return l
}

func get(t *testing.T, rt http.RoundTripper, u string) (*http.Response, error) {
	t.Helper()
	resp, err := rt.RoundTrip(newRequest(t, context.Background(), "GET", u, nil))
	if resp != nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

func TestRateLimitPauseFromHeaders(t *testing.T) {
	t.Parallel()
	clk0 := newFakeClock().Now()
	epoch := func(d time.Duration) string { return strconv.FormatInt(clk0.Add(d).Unix(), 10) }
	tests := []struct {
		name   string
		first  reply
		wantMS int64 // the pause before the second request, in ms; 0 for none
	}{
		{name: "429 Retry-After seconds", first: reply{status: 429, header: map[string]string{"Retry-After": "1"}}, wantMS: 1000},
		{name: "429 Retry-After date", first: reply{status: 429, header: map[string]string{"Retry-After": clk0.Add(3 * time.Second).Format(http.TimeFormat)}}, wantMS: 3000},
		{name: "429 X-RateLimit-Reset epoch", first: reply{status: 429, header: map[string]string{"X-RateLimit-Reset": epoch(2 * time.Second)}}, wantMS: 2000},
		{name: "429 X-RateLimit-Reset delta", first: reply{status: 429, header: map[string]string{"X-RateLimit-Reset": "4"}}, wantMS: 4000},
		{name: "429 X-RateLimit-Reset epoch ms", first: reply{status: 429, header: map[string]string{"X-RateLimit-Reset": strconv.FormatInt(clk0.Add(1500*time.Millisecond).UnixMilli(), 10)}}, wantMS: 1500},
		{name: "429 Retry-After wins over reset", first: reply{status: 429, header: map[string]string{"Retry-After": "1", "X-RateLimit-Reset": "9"}}, wantMS: 1000},
		{name: "Okta remaining 0 on a 200", first: reply{status: 200, header: map[string]string{"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": epoch(5 * time.Second)}}, wantMS: 5000},
		{name: "IETF remaining 0 on a 200", first: reply{status: 200, header: map[string]string{"RateLimit-Remaining": "0", "RateLimit-Reset": "2"}}, wantMS: 2000},
		{name: "remaining above 0", first: reply{status: 200, header: map[string]string{"X-RateLimit-Remaining": "7", "X-RateLimit-Reset": epoch(5 * time.Second)}}},
		{name: "reset in the past", first: reply{status: 429, header: map[string]string{"X-RateLimit-Reset": epoch(-5 * time.Second)}}},
		{name: "Retry-After on a 503 is the retry layer's business", first: reply{status: 503, header: map[string]string{"Retry-After": "1"}}},
		{name: "garbage", first: reply{status: 429, header: map[string]string{"Retry-After": "soon", "X-RateLimit-Reset": "later"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, hits := scriptServer(t, tt.first, reply{status: 200})
			clk := newFakeClock()
			rt := newTestLimiter(nil, time.Minute, clk)
			if resp, err := get(t, rt, srv.URL); err != nil || resp.StatusCode != tt.first.status {
				t.Fatalf("first: %v %v", resp, err)
			}
			if resp, err := get(t, rt, srv.URL); err != nil || resp.StatusCode != 200 {
				t.Fatalf("second: %v %v", resp, err)
			}
			var got time.Duration
			for _, d := range clk.Slept() {
				got += d
			}
			if got != time.Duration(tt.wantMS)*time.Millisecond {
				t.Errorf("paused %s, want %dms", got, tt.wantMS)
			}
			if hits.Load() != 2 {
				t.Errorf("server hits = %d", hits.Load())
			}
		})
	}
}

func TestRateLimitPauseBeyondMaxWait(t *testing.T) {
	t.Parallel()
	srv, hits := scriptServer(t, reply{status: 429, header: map[string]string{"Retry-After": "3600"}}, reply{status: 200})
	clk := newFakeClock()
	rt := newTestLimiter(nil, time.Minute, clk)
	if _, err := get(t, rt, srv.URL); err != nil {
		t.Fatal(err)
	}
	_, err := get(t, rt, srv.URL)
	var rle *RateLimitError
	if !errors.As(err, &rle) || rle.Wait != time.Hour || rle.MaxWait != time.Minute || rle.Source != "Retry-After" {
		t.Fatalf("err = %#v", err)
	}
	if hits.Load() != 1 || len(clk.Slept()) != 0 {
		t.Fatalf("hits %d, slept %v: a refused pause must not wait or connect", hits.Load(), clk.Slept())
	}
	if !isPermanent(err) {
		t.Error("RateLimitError should not be retried")
	}
	t.Log(err)
}

func TestRateLimitTokenBucket(t *testing.T) {
	t.Parallel()
	srv, _ := scriptServer(t, reply{status: 200})
	clk := newFakeClock()
	rt := newTestLimiter(&integration.RateLimit{RequestsPerSecond: 10, Burst: 1}, time.Minute, clk)
	for range 3 {
		if _, err := get(t, rt, srv.URL); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(clk.Slept()); got != "[100ms 100ms]" {
		t.Fatalf("slept %s, want [100ms 100ms]", got)
	}

	// A rate so slow that the next token is beyond max wait fails fast.
	clk2 := newFakeClock()
	slow := newTestLimiter(&integration.RateLimit{RequestsPerSecond: 0.001}, time.Second, clk2)
	if _, err := get(t, slow, srv.URL); err != nil {
		t.Fatal(err)
	}
	var rle *RateLimitError
	if _, err := get(t, slow, srv.URL); !errors.As(err, &rle) || rle.Source != "rate_limit.requests_per_second" {
		t.Fatalf("err = %v", err)
	}
}

func TestRateLimitPerHost(t *testing.T) {
	t.Parallel()
	paused, _ := scriptServer(t, reply{status: 429, header: map[string]string{"Retry-After": "30"}})
	other, _ := scriptServer(t, reply{status: 200})
	clk := newFakeClock()
	rt := newTestLimiter(nil, time.Minute, clk)
	if _, err := get(t, rt, paused.URL); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, rt, other.URL); err != nil {
		t.Fatal(err)
	}
	if len(clk.Slept()) != 0 {
		t.Fatalf("another host waited: %v", clk.Slept())
	}
}

func TestRateLimitCancelStopsWait(t *testing.T) {
	t.Parallel()
	srv, hits := scriptServer(t, reply{status: 429, header: map[string]string{"Retry-After": "30"}}, reply{status: 200})
	rt := NewRateLimiter(http.DefaultTransport, nil, time.Minute, nil) // real clock and sleep
	if _, err := get(t, rt, srv.URL); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := rt.RoundTrip(newRequest(t, ctx, "GET", srv.URL, nil))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("cancel took %s", el)
	}
	if hits.Load() != 1 {
		t.Fatalf("hits = %d", hits.Load())
	}
}

func TestRateLimitCancelReturnsToken(t *testing.T) {
	t.Parallel()
	srv, _ := scriptServer(t, reply{status: 200})
	clk := newFakeClock()
	l := NewRateLimiter(http.DefaultTransport, &integration.RateLimit{RequestsPerSecond: 1, Burst: 1}, time.Minute, clk.Now).(*rateLimiter)
	l.sleep = func(ctx context.Context, d time.Duration) error {
		if d <= 0 {
			return nil
		}
		return context.Canceled
	}
	if _, err := get(t, l, srv.URL); err != nil { // takes the burst token without sleeping
		t.Fatal(err)
	}
	if _, err := get(t, l, srv.URL); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	// The cancelled reservation was returned: one second on, a token is there.
	clk.Sleep(context.Background(), time.Second)
	l.sleep = clk.Sleep
	if _, err := get(t, l, srv.URL); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(clk.Slept()); got != "[1s]" {
		t.Fatalf("slept %s: the cancelled request kept its token", got)
	}
}
