package runtime

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/spindlehq/spindle/internal/integration"
)

// DefaultMaxWait bounds a single rate-limit pause when the spec sets no
// defaults.retry.max_wait.
const DefaultMaxWait = 5 * time.Minute

// RateLimitError is a pause the vendor (or the spec's own rate) asks for
// that is longer than the run may wait. Failing beats a sync that hangs for
// an hour and then reports green. Never retried: the answer would not change.
type RateLimitError struct {
	Host    string
	Wait    time.Duration
	MaxWait time.Duration
	Source  string // the header or setting that asked for the pause
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limit: %s asks for a pause of %s (%s), longer than the %s this run may wait; raise defaults.retry.max_wait or run later",
		e.Host, e.Wait.Round(time.Millisecond), e.Source, e.MaxWait)
}

func (e *RateLimitError) permanent() bool { return true }

type rateLimiter struct {
	next    http.RoundTripper
	limit   rate.Limit
	burst   int
	maxWait time.Duration
	now     func() time.Time
	sleep   sleepFunc

	mu    sync.Mutex
	hosts map[string]*hostRate
}

type hostRate struct {
	lim         *rate.Limiter // nil: no configured rate
	pauseUntil  time.Time
	pauseSource string
}

// NewRateLimiter paces requests per host with a token bucket
// (rl.RequestsPerSecond, rl.Burst; burst defaults to the rate rounded up)
// and pauses a host when it says so: a 429's Retry-After (delta-seconds or
// HTTP-date) or rate-limit reset header, or, proactively, a remaining
// count of 0 with a reset. Reset headers are read in their X-RateLimit-,
// X-Rate-Limit- (Okta) and RateLimit- (IETF) spellings; a value above 1e9
// is an epoch time (above 1e12, in milliseconds), anything else delta
// seconds. A pause or token wait longer than maxWait (DefaultMaxWait when
// <= 0) fails with *RateLimitError. Waits end when the request's ctx does.
// now defaults to time.Now.
func NewRateLimiter(next http.RoundTripper, rl *integration.RateLimit, maxWait time.Duration, now func() time.Time) http.RoundTripper {
	l := &rateLimiter{next: next, limit: rate.Inf, maxWait: maxWait, now: now, sleep: sleepCtx, hosts: map[string]*hostRate{}}
	if rl != nil && rl.RequestsPerSecond > 0 {
		l.limit = rate.Limit(rl.RequestsPerSecond)
		l.burst = rl.Burst
		if l.burst <= 0 {
			l.burst = max(1, int(math.Ceil(rl.RequestsPerSecond)))
		}
	}
	if l.maxWait <= 0 {
		l.maxWait = DefaultMaxWait
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

func (l *rateLimiter) host(key string) *hostRate {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hosts[key]
	if h == nil {
		h = &hostRate{}
		if l.limit != rate.Inf {
			h.lim = rate.NewLimiter(l.limit, l.burst)
		}
		l.hosts[key] = h
	}
	return h
}

func (l *rateLimiter) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	h := l.host(hostKey(req.URL))
	if err := l.waitPause(ctx, h, req.URL.Host); err != nil {
		closeBody(req)
		return nil, err
	}
	if h.lim != nil {
		now := l.now()
		res := h.lim.ReserveN(now, 1)
		d := res.DelayFrom(now)
		if d > l.maxWait {
			res.CancelAt(now)
			closeBody(req)
			return nil, &RateLimitError{Host: req.URL.Host, Wait: d, MaxWait: l.maxWait, Source: "rate_limit.requests_per_second"}
		}
		if err := l.sleep(ctx, d); err != nil {
			res.CancelAt(l.now()) // give the token back to the requests still waiting
			closeBody(req)
			return nil, fmt.Errorf("waiting for the rate limit of %s: %w", req.URL.Host, err)
		}
	}
	resp, err := l.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	l.observe(h, resp)
	return resp, nil
}

// waitPause sleeps until the host's pause ends, looping because another
// response may extend the pause while this request sleeps.
func (l *rateLimiter) waitPause(ctx context.Context, h *hostRate, host string) error {
	for {
		l.mu.Lock()
		until, source := h.pauseUntil, h.pauseSource
		l.mu.Unlock()
		d := until.Sub(l.now())
		if d <= 0 {
			return nil
		}
		if d > l.maxWait {
			return &RateLimitError{Host: host, Wait: d, MaxWait: l.maxWait, Source: source}
		}
		if err := l.sleep(ctx, d); err != nil {
			return fmt.Errorf("waiting out the rate-limit pause of %s: %w", host, err)
		}
	}
}

func (l *rateLimiter) observe(h *hostRate, resp *http.Response) {
	now := l.now()
	var (
		d      time.Duration
		source string
		ok     bool
	)
	if resp.StatusCode == http.StatusTooManyRequests {
		if d, ok = retryAfter(resp.Header, now); ok {
			source = "Retry-After"
		}
	}
	if !ok && (resp.StatusCode == http.StatusTooManyRequests || remainingZero(resp.Header)) {
		d, source, ok = rateLimitReset(resp.Header, now)
	}
	if !ok || d <= 0 {
		return
	}
	until := now.Add(d)
	l.mu.Lock()
	if until.After(h.pauseUntil) {
		h.pauseUntil, h.pauseSource = until, source
	}
	l.mu.Unlock()
}

// retryAfter reads Retry-After: delta-seconds or an HTTP-date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return secondsDuration(float64(n)), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(0, t.Sub(now)), true
}

// rateLimitReset reads the first reset header present.
func rateLimitReset(h http.Header, now time.Time) (time.Duration, string, bool) {
	for _, name := range [...]string{"X-RateLimit-Reset", "X-Rate-Limit-Reset", "RateLimit-Reset"} {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			continue
		}
		switch {
		case f > 1e12: // epoch milliseconds
			return max(0, time.UnixMilli(int64(f)).Sub(now)), name, true
		case f > 1e9: // epoch seconds
			sec, frac := math.Modf(f)
			return max(0, time.Unix(int64(sec), int64(frac*1e9)).Sub(now)), name, true
		default:
			return secondsDuration(f), name, true
		}
	}
	return 0, "", false
}

func remainingZero(h http.Header) bool {
	for _, name := range [...]string{"X-RateLimit-Remaining", "X-Rate-Limit-Remaining", "RateLimit-Remaining"} {
		if v := strings.TrimSpace(h.Get(name)); v != "" {
			n, err := strconv.ParseFloat(v, 64)
			return err == nil && n <= 0
		}
	}
	return false
}

// secondsDuration converts seconds, saturating instead of overflowing on
// absurd values (which then fail the max-wait check).
func secondsDuration(s float64) time.Duration {
	if s >= float64(math.MaxInt64)/float64(time.Second) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(s * float64(time.Second))
}
