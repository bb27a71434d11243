package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/contract"
)

// FailingCheck is one check of an incident in a payload.
type FailingCheck struct {
	ID      string `json:"id"`
	Stream  string `json:"stream,omitempty"`
	Message string `json:"message"`
}

// Payload is the generic JSON alert. Event is "incident.opened" or
// "incident.resolved"; Severity "failing" or "warning" (degraded or stale
// health). Failing lists the failed checks, Warning the warned ones (a
// warning incident's).
type Payload struct {
	Event       string         `json:"event"`
	Severity    string         `json:"severity"`
	Integration string         `json:"integration"`
	Health      string         `json:"health"`
	RunID       int64          `json:"run_id"`
	CheckedAt   time.Time      `json:"checked_at"`
	Incident    int64          `json:"incident"`
	Fingerprint string         `json:"fingerprint"`
	Failing     []FailingCheck `json:"failing"`
	Warning     []FailingCheck `json:"warning,omitempty"`
	Summary     string         `json:"summary"`
}

// SlackPayload is the Slack-compatible alert (incoming webhooks).
type SlackPayload struct {
	Text   string       `json:"text"`
	Blocks []SlackBlock `json:"blocks"`
}

// SlackBlock is a Block Kit section with mrkdwn text.
type SlackBlock struct {
	Type string    `json:"type"`
	Text SlackText `json:"text"`
}

// SlackText is a Block Kit text object.
type SlackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// message builds the generic payload of kind for r; a resolved message
// names the (first) resolved incident.
func (n *Notifier) message(kind string, sev Severity, r contract.Result, incs []Incident) Payload {
	red := n.o.Redact
	p := Payload{Event: "incident." + kind, Severity: string(sev), Integration: red(r.Integration), Health: string(r.Health), RunID: r.RunID,
		CheckedAt: r.CheckedAt.UTC(), Failing: []FailingCheck{}, Summary: red(r.Summary())}
	if len(incs) > 0 {
		p.Incident, p.Fingerprint = incs[0].ID, incs[0].Fingerprint
	}
	if kind == KindOpened {
		for _, c := range r.Checks {
			fc := FailingCheck{ID: red(c.ID), Stream: red(c.Stream), Message: red(c.Message)}
			switch {
			case c.Status == contract.Fail:
				p.Failing = append(p.Failing, fc)
			case c.Status == contract.Warn && sev == SeverityWarning:
				p.Warning = append(p.Warning, fc)
			}
		}
	}
	return p
}

// encode renders p in format f.
func encode(f Format, p Payload) ([]byte, error) {
	if f != FormatSlack {
		return json.Marshal(p)
	}
	esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	var text, body strings.Builder
	if p.Event == "incident."+KindResolved {
		fmt.Fprintf(&text, "Resolved: integration %s is healthy again", p.Integration)
		fmt.Fprintf(&body, ":white_check_mark: *Resolved*: integration `%s` is healthy again (incident %d, run %d).\n%s",
			esc.Replace(p.Integration), p.Incident, p.RunID, esc.Replace(p.Summary))
	} else {
		checks := append(slices.Clone(p.Failing), p.Warning...)
		ids := make([]string, len(checks))
		for i, c := range checks {
			ids[i] = c.ID
		}
		// The health says what kind of trouble: Failing, Degraded, Stale.
		title, icon := "Failing", ":rotating_light:"
		if p.Severity == string(SeverityWarning) {
			title, icon = "Warning", ":warning:"
			if p.Health != "" {
				title = strings.ToUpper(p.Health[:1]) + p.Health[1:]
			}
		}
		fmt.Fprintf(&text, "%s: integration %s (%s)", title, p.Integration, strings.Join(ids, ", "))
		fmt.Fprintf(&body, "%s *%s*: integration `%s` (incident %d, run %d).\n%s",
			icon, title, esc.Replace(p.Integration), p.Incident, p.RunID, esc.Replace(p.Summary))
		for _, c := range checks {
			fmt.Fprintf(&body, "\n• `%s`: %s", esc.Replace(c.ID), esc.Replace(c.Message))
		}
	}
	s := body.String()
	if len(s) > 2900 { // a section's text is limited to 3000 characters
		s = strings.ToValidUTF8(s[:2900], "") + "…"
	}
	return json.Marshal(SlackPayload{Text: text.String(), Blocks: []SlackBlock{{Type: "section", Text: SlackText{Type: "mrkdwn", Text: s}}}})
}

// post delivers body to t with retries: network errors, 5xx and 429 are
// retried (honouring Retry-After up to MaxRetryAfter), other statuses are
// final. The Delivery never holds the URL.
func (n *Notifier) post(ctx context.Context, t Target, u string, body []byte) Delivery {
	d := Delivery{Target: t.Name, Endpoint: t.Redacted()}
	wait := n.o.Backoff
	for d.Attempts < n.o.Attempts {
		d.Attempts++
		status, retryAfter, err := n.once(ctx, t, u, body)
		d.Status = status
		switch {
		case err == nil && status >= 200 && status < 300:
			d.Error = ""
			return d
		case err != nil:
			d.Error = err.Error()
		default:
			d.Error = fmt.Sprintf("HTTP %d", status)
		}
		retryable := err != nil || status >= 500 || status == http.StatusTooManyRequests
		if !retryable || d.Attempts >= n.o.Attempts || ctx.Err() != nil {
			break
		}
		pause := wait
		if retryAfter > 0 {
			pause = min(retryAfter, n.o.MaxRetryAfter)
		}
		if err := sleep(ctx, pause); err != nil {
			d.Error = err.Error()
			break
		}
		wait *= 2
	}
	return d
}

// once sends one request; its error never holds the URL.
func (n *Notifier) once(ctx context.Context, t Target, u string, body []byte) (status int, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, n.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, 0, errors.New("cannot build the request (bad URL)")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "spindle-alert/1")
	resp, err := n.o.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		msg := strings.ReplaceAll(err.Error(), u, t.Redacted())
		return 0, 0, errors.New(msg)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), nil
}

// parseRetryAfter reads delta-seconds or an HTTP date (0: absent or bad).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
