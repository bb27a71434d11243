package runtime

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/integration"
)

// Retry defaults, used for whatever defaults.retry leaves unset.
const (
	DefaultMaxAttempts     = 4
	DefaultInitialInterval = 500 * time.Millisecond
	DefaultMaxInterval     = 30 * time.Second
)

// defaultRetryOn is a function, not a var, so no caller can change it.
func defaultRetryOn() []int {
	return []int{http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout}
}

type retryTransport struct {
	next        http.RoundTripper
	maxAttempts int
	on          map[int]bool
	constant    bool
	initial     time.Duration
	maxInterval time.Duration
	maxWait     time.Duration
	onRetry     func(req *http.Request, attempt int, reason string)

	// Swapped by tests for a fake clock.
	now    func() time.Time
	sleep  sleepFunc
	jitter func(d time.Duration) time.Duration
}

// NewRetry retries a request on the statuses in cfg.On (default 429, 500,
// 502, 503, 504) and on network errors and per-attempt timeouts, up to
// cfg.MaxAttempts attempts in all (default 4). It does not retry a
// PolicyError, a RateLimitError, a refused credential, or anything after
// the request's own ctx has ended.
//
// Backoff is exponential with full jitter from cfg.InitialInterval (default
// 500ms) capped at cfg.MaxInterval (default 30s), or cfg.InitialInterval
// every time for backoff "constant"; never shorter than a Retry-After the
// response gave. A Retry-After longer than cfg.MaxWait (DefaultMaxWait)
// fails with *RateLimitError instead of hanging.
//
// Bodies are rewound with req.GetBody; a request with a body and no
// GetBody gets one attempt. Discarded responses are drained and closed.
// After the last attempt it returns the last response, so the caller sees
// the real status, or the last error. onRetry, if set, is called before
// each retry with the number of the attempt that failed (1 for the first)
// and why.
func NewRetry(next http.RoundTripper, cfg *integration.Retry, onRetry func(req *http.Request, attempt int, reason string)) http.RoundTripper {
	t := &retryTransport{
		next: next, maxAttempts: DefaultMaxAttempts, on: map[int]bool{},
		initial: DefaultInitialInterval, maxInterval: DefaultMaxInterval, maxWait: DefaultMaxWait,
		onRetry: onRetry, now: time.Now, sleep: sleepCtx, jitter: fullJitter,
	}
	on := defaultRetryOn()
	if cfg != nil {
		if cfg.MaxAttempts > 0 {
			t.maxAttempts = cfg.MaxAttempts
		}
		if len(cfg.On) > 0 {
			on = cfg.On
		}
		t.constant = strings.EqualFold(cfg.Backoff, "constant")
		if cfg.InitialInterval > 0 {
			t.initial = cfg.InitialInterval.Std()
		}
		if cfg.MaxInterval > 0 {
			t.maxInterval = cfg.MaxInterval.Std()
		}
		if cfg.MaxWait > 0 {
			t.maxWait = cfg.MaxWait.Std()
		}
	}
	t.maxInterval = max(t.maxInterval, t.initial)
	for _, s := range on {
		t.on[s] = true
	}
	return t
}

func fullJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	attempts := t.maxAttempts
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		attempts = 1 // the body cannot be replayed
	}
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 && req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
			body, err := req.GetBody()
			if err != nil {
				return nil, fmt.Errorf("rewinding the request body to retry: %w", err)
			}
			r = req.Clone(ctx)
			r.Body = body
		}
		resp, err := t.next.RoundTrip(r)
		reason, retryable := t.classify(ctx, resp, err)
		if !retryable || attempt >= attempts {
			if err != nil && attempt > 1 {
				err = fmt.Errorf("after %d attempts: %w", attempt, err)
			}
			return resp, err
		}
		delay := t.backoff(attempt)
		if resp != nil {
			if ra, ok := retryAfter(resp.Header, t.now()); ok {
				if ra > t.maxWait {
					drain(resp)
					return nil, &RateLimitError{Host: req.URL.Host, Wait: ra, MaxWait: t.maxWait, Source: "Retry-After"}
				}
				delay = max(delay, ra)
			}
			drain(resp)
		}
		if t.onRetry != nil {
			t.onRetry(req, attempt, reason)
		}
		if err := t.sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("waiting to retry after %s: %w", reason, err)
		}
	}
}

// classify says whether an attempt's outcome is worth another attempt, and
// why: "status 503", "timeout" or "network error: …".
func (t *retryTransport) classify(ctx context.Context, resp *http.Response, err error) (string, bool) {
	switch {
	case err == nil:
		return fmt.Sprintf("status %d", resp.StatusCode), t.on[resp.StatusCode]
	case ctx.Err() != nil, isPermanent(err):
		return "", false
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout", true
	default:
		return "network error: " + err.Error(), true
	}
}

func (t *retryTransport) backoff(attempt int) time.Duration {
	if t.constant {
		return t.initial
	}
	d := t.initial
	for i := 1; i < attempt && d < t.maxInterval; i++ {
		d *= 2
	}
	return t.jitter(min(d, t.maxInterval))
}
