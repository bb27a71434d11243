package runtime

// The runtime's HTTP path is a stack of thin http.RoundTripper layers, each
// doing one thing and tested alone (STYLE: net/http's small interfaces
// composed in layers). The engine composes them once, outermost first:
//
//	retry → rate limit → [request log] → auth → per-attempt timeout → host guard → network
//
// Retry sits outside the limiter so every attempt waits its turn; the
// timeout sits inside the limiter so waiting for a token does not eat an
// attempt's time; auth sits above everything that can fail on the network,
// so it redacts their errors; a request log sits above auth so it never
// sees the credential; the host guard sits next to the network so nothing,
// credential included, reaches a host the spec did not declare.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// PolicyError is a refused request: a boundary, not a network failure. It is
// never retried.
type PolicyError struct {
	Rule   string // e.g. "egress.host"
	Host   string
	Reason string
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("policy %s: request to %s refused: %s", e.Rule, e.Host, e.Reason)
}

func (e *PolicyError) permanent() bool { return true }

// permanent marks errors that retrying cannot fix.
type permanent interface {
	error
	permanent() bool
}

func isPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p) && p.permanent()
}

// RuleEgressHost is the PolicyError rule of the host guard.
const RuleEgressHost = "egress.host"

// hostKey is the identity of an origin: lower-case scheme, host without a
// trailing dot, and explicit port, so "https://API.x.com" and
// "https://api.x.com:443" are the same host and "http://" is not.
func hostKey(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

type hostGuard struct {
	next    http.RoundTripper
	allowed map[string]bool
	list    string // for the error message
}

// NewHostGuard refuses, before any connection or DNS lookup, every request
// whose scheme, host and port are not those of one of the allowed URLs.
// Only the origin of each allowed URL matters; nil entries are skipped and
// an empty list refuses everything (fail closed). It checks names, not
// addresses: the sandbox dialer is the boundary for addresses.
func NewHostGuard(next http.RoundTripper, allowed ...*url.URL) http.RoundTripper {
	g := &hostGuard{next: next, allowed: map[string]bool{}}
	var keys []string
	for _, u := range allowed {
		if u == nil || u.Host == "" {
			continue
		}
		k := hostKey(u)
		if !g.allowed[k] {
			g.allowed[k] = true
			keys = append(keys, k)
		}
	}
	g.list = strings.Join(keys, ", ")
	if g.list == "" {
		g.list = "none"
	}
	return g
}

func (g *hostGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		closeBody(req)
		return nil, &PolicyError{Rule: RuleEgressHost, Reason: "request has no URL"}
	}
	if k := hostKey(req.URL); !g.allowed[k] {
		closeBody(req)
		return nil, &PolicyError{Rule: RuleEgressHost, Host: req.URL.Host,
			Reason: fmt.Sprintf("%s is not a host this integration declares (allowed: %s)", k, g.list)}
	}
	return g.next.RoundTrip(req)
}

type timeoutTransport struct {
	next http.RoundTripper
	d    time.Duration
}

// NewTimeout bounds each attempt, body included, to d. The deadline's
// cancel runs when the response body is closed, not when RoundTrip
// returns, or the body would be cut off mid-read. d <= 0 means no bound.
func NewTimeout(next http.RoundTripper, d time.Duration) http.RoundTripper {
	if d <= 0 {
		return next
	}
	return &timeoutTransport{next: next, d: d}
}

func (t *timeoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.d)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded) && req.Context().Err() == nil
		cancel()
		if timedOut {
			return nil, &TimeoutError{After: t.d, Err: err}
		}
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// TimeoutError is one attempt running out of time (defaults.timeout). It is
// retried: the next attempt may be faster.
type TimeoutError struct {
	After time.Duration
	Err   error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("request timed out after %s (defaults.timeout): %v", e.After, e.Err)
}
func (e *TimeoutError) Unwrap() error { return e.Err }

// Is lets errors.Is(err, context.DeadlineExceeded) hold even when the
// transport reported the deadline in its own words.
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// DefaultMaxResponseBytes bounds a response body when the spec sets no
// defaults.max_response_bytes.
const DefaultMaxResponseBytes int64 = 32 << 20

// ReadBody reads the whole body, at most max bytes (DefaultMaxResponseBytes
// when max <= 0), and always closes it. A larger body is an error rather
// than a silent truncation, which would map as fewer records.
func ReadBody(resp *http.Response, max int64) ([]byte, error) {
	return ReadBodyInto(resp, max, new(bytes.Buffer))
}

// ReadBodyInto is ReadBody reading into buf (reset first), so a caller can
// reuse page buffers; the returned slice aliases buf.
func ReadBodyInto(resp *http.Response, max int64, buf *bytes.Buffer) ([]byte, error) {
	if resp == nil || resp.Body == nil {
		return nil, nil
	}
	defer resp.Body.Close()
	if max <= 0 {
		max = DefaultMaxResponseBytes
	}
	tooBig := fmt.Errorf("response body exceeds %d bytes (set defaults.max_response_bytes to allow more)", max)
	if resp.ContentLength > max {
		return nil, tooBig
	}
	buf.Reset()
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength) + 1) // +1: ReadFrom wants room to see EOF
	}
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, max+1)); err != nil {
		return nil, fmt.Errorf("reading response body: %w", err)
	}
	if int64(buf.Len()) > max {
		return nil, tooBig
	}
	return buf.Bytes(), nil
}

// closeBody honours the RoundTripper contract: a layer that refuses a
// request still closes its body.
func closeBody(req *http.Request) {
	if req != nil && req.Body != nil {
		_ = req.Body.Close()
	}
}

// drain reads a little of a discarded response so its connection can be
// reused, then closes it.
func drain(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// sleepFunc waits d or until ctx ends. Layers hold one so tests can swap
// in a fake clock instead of sleeping.
type sleepFunc func(ctx context.Context, d time.Duration) error

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
