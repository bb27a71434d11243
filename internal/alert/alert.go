// Package alert fails loudly (issue 6, item 4): when an integration's live
// contract checks fail, it posts to the configured webhooks — a generic
// JSON payload or a Slack-compatible one — with retries, and de-duplicates
// so that one incident is one alert. An incident is an integration and the
// sorted set of its failing check ids (the fingerprint); it opens when that
// set first fails and is resolved, with one "resolved" message, when the
// integration is healthy again. Targets and incidents live in the SQLite
// database (migration 00007).
//
// A webhook URL may carry a token (Slack's do), so it is treated as a
// secret: it is never part of an error, an Outcome or a payload; RedactURL
// is what callers show.
package alert

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/contract"
)

// Format is a target's payload format.
type Format string

// Formats.
const (
	FormatJSON  Format = "json"  // the generic JSON payload (Payload)
	FormatSlack Format = "slack" // {"text": …, "blocks": [a mrkdwn section]}
)

// Valid reports whether f is a known format.
func (f Format) Valid() bool { return f == FormatJSON || f == FormatSlack }

// Target is a webhook alerts are posted to.
type Target struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	URL       string    `json:"-"` // a secret: never encoded
	Format    Format    `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// Redacted is the target's URL as it may be shown: scheme://host/….
func (t Target) Redacted() string { return RedactURL(t.URL) }

// Defaults of Options.
const (
	DefaultAttempts      = 3
	DefaultTimeout       = 10 * time.Second
	DefaultBackoff       = 500 * time.Millisecond
	DefaultMaxRetryAfter = 30 * time.Second
)

// Options configure a Notifier. Zero values take the defaults.
type Options struct {
	// Client sends the requests (nil: a client that follows no redirects,
	// so a payload never goes anywhere but the configured host).
	Client *http.Client
	// Timeout bounds each request.
	Timeout time.Duration
	// Attempts is how many times a delivery is tried (network errors, 5xx
	// and 429 are retried; other 4xx never are).
	Attempts int
	// Backoff is the wait before the second attempt; it doubles after.
	Backoff time.Duration
	// MaxRetryAfter caps a server's Retry-After.
	MaxRetryAfter time.Duration
	// Redact, when set, is applied to every string of a payload.
	Redact func(string) string
	// AllowInsecure allows http:// URLs to any host; without it plain http
	// is only accepted for loopback hosts.
	AllowInsecure bool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Notifier keeps targets and incidents in db and sends alerts.
type Notifier struct {
	db *sql.DB
	o  Options
}

// New returns a Notifier on db (with migration 00007 applied).
func New(db *sql.DB, o Options) *Notifier {
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if o.Redact == nil {
		o.Redact = func(s string) string { return s }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Notifier{db: db, o: o}
}

// ErrNotFound is returned for an unknown target name.
var ErrNotFound = errors.New("alert: no such target")

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckURL reports whether raw can be a webhook URL: absolute https (or
// http to a loopback host, unless insecure is allowed). Its error never
// repeats the URL.
func CheckURL(raw string, allowInsecure bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("the webhook URL is not an absolute URL (scheme://host/path)")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowInsecure && !isLoopback(u.Hostname()) {
			return fmt.Errorf("the webhook URL %s uses plain http: use https (alerts and the URL's token would travel in the clear)", RedactURL(raw))
		}
	default:
		return fmt.Errorf("the webhook URL %s is not http(s)", RedactURL(raw))
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RedactURL is raw as it may be shown: scheme://host/… (no user info, path
// or query, where tokens live).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// AddTarget stores t (its ID and CreatedAt are set here).
func (n *Notifier) AddTarget(ctx context.Context, t Target) (Target, error) {
	if !namePattern.MatchString(t.Name) {
		return Target{}, fmt.Errorf("alert: %q is not a valid target name: letters, digits and . _ - (up to 64)", t.Name)
	}
	if !t.Format.Valid() {
		return Target{}, fmt.Errorf("alert: format %q: use json or slack", t.Format)
	}
	if err := CheckURL(t.URL, n.o.AllowInsecure); err != nil {
		return Target{}, fmt.Errorf("alert: %w", err)
	}
	if strings.TrimSpace(t.CreatedBy) == "" {
		return Target{}, errors.New("alert: a target needs the person who adds it")
	}
	t.CreatedAt = n.o.Now().UTC()
	res, err := n.db.ExecContext(ctx, `INSERT INTO alert_targets (name, url, format, created_at, created_by) VALUES (?, ?, ?, ?, ?)`,
		t.Name, t.URL, string(t.Format), t.CreatedAt.UnixNano(), t.CreatedBy)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return Target{}, fmt.Errorf("alert: a target named %s exists: remove it first", t.Name)
		}
		return Target{}, fmt.Errorf("alert: add target %s: %w", t.Name, err)
	}
	t.ID, err = res.LastInsertId()
	return t, err
}

// Targets lists the targets by name.
func (n *Notifier) Targets(ctx context.Context) ([]Target, error) {
	rows, err := n.db.QueryContext(ctx, `SELECT id, name, url, format, created_at, created_by FROM alert_targets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("alert: list targets: %w", err)
	}
	defer rows.Close()
	out := []Target{}
	for rows.Next() {
		var t Target
		var f string
		var at int64
		if err := rows.Scan(&t.ID, &t.Name, &t.URL, &f, &at, &t.CreatedBy); err != nil {
			return nil, err
		}
		t.Format, t.CreatedAt = Format(f), time.Unix(0, at).UTC()
		out = append(out, t)
	}
	return out, rows.Err()
}

// RemoveTarget deletes the target named name (ErrNotFound if none).
func (n *Notifier) RemoveTarget(ctx context.Context, name string) (Target, error) {
	ts, err := n.Targets(ctx)
	if err != nil {
		return Target{}, err
	}
	i := slices.IndexFunc(ts, func(t Target) bool { return t.Name == name })
	if i < 0 {
		return Target{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if _, err := n.db.ExecContext(ctx, `DELETE FROM alert_targets WHERE id = ?`, ts[i].ID); err != nil {
		return Target{}, fmt.Errorf("alert: remove target %s: %w", name, err)
	}
	return ts[i], nil
}

// Fingerprint identifies an incident: the integration and its failing
// check ids, sorted and de-duplicated.
func Fingerprint(integration string, failing []string) string {
	ids := slices.Clone(failing)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	h := sha256.Sum256([]byte(integration + "\x00" + strings.Join(ids, "\x00")))
	return hex.EncodeToString(h[:16])
}

// Incident is one failing episode of an integration.
type Incident struct {
	ID          int64     `json:"id"`
	Integration string    `json:"integration"`
	Fingerprint string    `json:"fingerprint"`
	Failing     []string  `json:"failing"`
	OpenedAt    time.Time `json:"opened_at"`
	ResolvedAt  time.Time `json:"resolved_at,omitzero"`
	Resolution  string    `json:"resolution,omitempty"`
	LastAlertAt time.Time `json:"last_alert_at,omitzero"`
	AlertsSent  int       `json:"alerts_sent"`
}

// Kinds of Outcome.
const (
	KindNone      = "none"      // nothing to alert (healthy with nothing open, or degraded)
	KindOpened    = "opened"    // a new incident: alerts sent
	KindDuplicate = "duplicate" // the incident was open: no new alert (except to targets a delivery failed to)
	KindResolved  = "resolved"  // health is back: incidents closed, resolved sent
)

// Delivery is one target's result. It names the target and its redacted
// URL only.
type Delivery struct {
	Target   string `json:"target"`
	Endpoint string `json:"endpoint"` // RedactURL of the target's URL
	Attempts int    `json:"attempts"`
	Status   int    `json:"status,omitempty"` // the last HTTP status (0: none)
	Error    string `json:"error,omitempty"`
}

// Outcome is what Notify did.
type Outcome struct {
	Kind       string     `json:"kind"`
	Incidents  []Incident `json:"incidents,omitempty"` // the opened or resolved incidents
	Deliveries []Delivery `json:"deliveries,omitempty"`
}

// Failed lists the deliveries that failed.
func (o Outcome) Failed() []Delivery {
	var out []Delivery
	for _, d := range o.Deliveries {
		if d.Error != "" {
			out = append(out, d)
		}
	}
	return out
}

// DeliveryError is returned by Notify when a delivery failed; the Outcome
// says which.
type DeliveryError struct{ Failed []Delivery }

func (e *DeliveryError) Error() string {
	parts := make([]string, len(e.Failed))
	for i, d := range e.Failed {
		parts[i] = fmt.Sprintf("%s (%s): %s", d.Target, d.Endpoint, d.Error)
	}
	return "alert delivery failed: " + strings.Join(parts, "; ")
}

// Notify alerts on r. Failing opens (or finds) the incident of r's failing
// checks and posts it to every target that has not had it; a duplicate
// sends nothing new. Healthy resolves the open incidents and posts one
// resolved message. Degraded changes nothing. A failed delivery returns a
// *DeliveryError with the Outcome; it is retried at the next Notify of the
// same incident.
func (n *Notifier) Notify(ctx context.Context, r contract.Result) (Outcome, error) {
	switch r.Health {
	case contract.Failing:
		return n.open(ctx, r)
	case contract.Healthy:
		return n.resolve(ctx, r)
	}
	return Outcome{Kind: KindNone}, nil
}

func (n *Notifier) open(ctx context.Context, r contract.Result) (Outcome, error) {
	failing := r.Failing()
	slices.Sort(failing)
	failing = slices.Compact(failing)
	fp := Fingerprint(r.Integration, failing)
	now := n.o.Now().UTC()

	inc, opened, err := n.openIncident(ctx, r.Integration, fp, failing, now)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Kind: KindDuplicate, Incidents: []Incident{inc}}
	if opened {
		out.Kind = KindOpened
	}
	targets, err := n.pending(ctx, inc.ID, KindOpened)
	if err != nil {
		return out, err
	}
	return n.deliver(ctx, out, targets, []Incident{inc}, KindOpened, r)
}

// openIncident finds the open incident of fp or opens it, closing the
// integration's other open incidents as superseded.
func (n *Notifier) openIncident(ctx context.Context, integration, fp string, failing []string, now time.Time) (Incident, bool, error) {
	tx, err := n.db.BeginTx(ctx, nil)
	if err != nil {
		return Incident{}, false, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	inc, ok, err := incidentByFingerprint(ctx, tx, integration, fp)
	if err != nil {
		return Incident{}, false, err
	}
	if ok {
		return inc, false, tx.Commit()
	}
	if _, err := tx.ExecContext(ctx, `UPDATE alert_incidents SET resolved_at = ?, resolution = 'superseded' WHERE integration = ? AND resolved_at IS NULL`,
		now.UnixNano(), integration); err != nil {
		return Incident{}, false, fmt.Errorf("alert: supersede incidents of %s: %w", integration, err)
	}
	js, _ := json.Marshal(failing)
	res, err := tx.ExecContext(ctx, `INSERT INTO alert_incidents (integration, fingerprint, failing, opened_at) VALUES (?, ?, ?, ?)`,
		integration, fp, string(js), now.UnixNano())
	if err != nil {
		return Incident{}, false, fmt.Errorf("alert: open incident of %s: %w", integration, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return Incident{}, false, err
	}
	if err := tx.Commit(); err != nil {
		return Incident{}, false, fmt.Errorf("alert: open incident of %s: %w", integration, err)
	}
	return Incident{ID: id, Integration: integration, Fingerprint: fp, Failing: failing, OpenedAt: now}, true, nil
}

func (n *Notifier) resolve(ctx context.Context, r contract.Result) (Outcome, error) {
	now := n.o.Now().UTC()
	tx, err := n.db.BeginTx(ctx, nil)
	if err != nil {
		return Outcome{}, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	open, err := incidents(ctx, tx, r.Integration, true)
	if err != nil {
		return Outcome{}, err
	}
	if len(open) == 0 {
		return Outcome{Kind: KindNone}, tx.Commit()
	}
	if _, err := tx.ExecContext(ctx, `UPDATE alert_incidents SET resolved_at = ?, resolution = 'healthy' WHERE integration = ? AND resolved_at IS NULL`,
		now.UnixNano(), r.Integration); err != nil {
		return Outcome{}, fmt.Errorf("alert: resolve incidents of %s: %w", r.Integration, err)
	}
	if err := tx.Commit(); err != nil {
		return Outcome{}, fmt.Errorf("alert: resolve incidents of %s: %w", r.Integration, err)
	}
	for i := range open {
		open[i].ResolvedAt, open[i].Resolution = now, "healthy"
	}
	targets, err := n.Targets(ctx)
	if err != nil {
		return Outcome{}, err
	}
	return n.deliver(ctx, Outcome{Kind: KindResolved, Incidents: open}, targets, open, KindResolved, r)
}

// deliver posts the message of kind to targets and records each success
// against every incident in incs.
func (n *Notifier) deliver(ctx context.Context, out Outcome, targets []Target, incs []Incident, kind string, r contract.Result) (Outcome, error) {
	if len(targets) == 0 {
		return out, nil
	}
	msg := n.message(kind, r, incs)
	for _, t := range targets {
		body, err := encode(t.Format, msg)
		if err != nil {
			return out, err
		}
		d := n.post(ctx, t, body)
		out.Deliveries = append(out.Deliveries, d)
		if d.Error != "" {
			continue
		}
		at := n.o.Now().UTC().UnixNano()
		for _, inc := range incs {
			if _, err := n.db.ExecContext(ctx, `INSERT OR IGNORE INTO alert_deliveries (incident_id, target_id, kind, delivered_at) VALUES (?, ?, ?, ?)`, inc.ID, t.ID, kind, at); err != nil {
				return out, fmt.Errorf("alert: record delivery: %w", err)
			}
			if _, err := n.db.ExecContext(ctx, `UPDATE alert_incidents SET last_alert_at = ?, alerts_sent = alerts_sent + 1 WHERE id = ?`, at, inc.ID); err != nil {
				return out, fmt.Errorf("alert: record delivery: %w", err)
			}
		}
	}
	if f := out.Failed(); len(f) > 0 {
		return out, &DeliveryError{Failed: f}
	}
	return out, nil
}

// pending lists the targets that have not had the kind message of incident.
func (n *Notifier) pending(ctx context.Context, incident int64, kind string) ([]Target, error) {
	all, err := n.Targets(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := n.db.QueryContext(ctx, `SELECT target_id FROM alert_deliveries WHERE incident_id = ? AND kind = ?`, incident, kind)
	if err != nil {
		return nil, fmt.Errorf("alert: read deliveries: %w", err)
	}
	defer rows.Close()
	done := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		done[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(t Target) bool { return done[t.ID] }), nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

const incidentCols = `id, integration, fingerprint, failing, opened_at, resolved_at, resolution, last_alert_at, alerts_sent`

func scanIncidents(rows *sql.Rows) ([]Incident, error) {
	defer rows.Close()
	out := []Incident{}
	for rows.Next() {
		var inc Incident
		var failing string
		var opened int64
		var resolved, last sql.NullInt64
		var resolution sql.NullString
		if err := rows.Scan(&inc.ID, &inc.Integration, &inc.Fingerprint, &failing, &opened, &resolved, &resolution, &last, &inc.AlertsSent); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(failing), &inc.Failing); err != nil {
			return nil, fmt.Errorf("alert: incident %d: %w", inc.ID, err)
		}
		inc.OpenedAt, inc.Resolution = time.Unix(0, opened).UTC(), resolution.String
		if resolved.Valid {
			inc.ResolvedAt = time.Unix(0, resolved.Int64).UTC()
		}
		if last.Valid {
			inc.LastAlertAt = time.Unix(0, last.Int64).UTC()
		}
		out = append(out, inc)
	}
	return out, rows.Err()
}

func incidentByFingerprint(ctx context.Context, q querier, integration, fp string) (Incident, bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+incidentCols+` FROM alert_incidents WHERE integration = ? AND fingerprint = ? AND resolved_at IS NULL`, integration, fp)
	if err != nil {
		return Incident{}, false, fmt.Errorf("alert: read incidents: %w", err)
	}
	incs, err := scanIncidents(rows)
	if err != nil || len(incs) == 0 {
		return Incident{}, false, err
	}
	return incs[0], true, nil
}

// Incidents lists integration's incidents, oldest first; openOnly keeps
// the unresolved ones.
func (n *Notifier) Incidents(ctx context.Context, integration string, openOnly bool) ([]Incident, error) {
	return incidents(ctx, n.db, integration, openOnly)
}

func incidents(ctx context.Context, q querier, integration string, openOnly bool) ([]Incident, error) {
	query := `SELECT ` + incidentCols + ` FROM alert_incidents WHERE integration = ?`
	if openOnly {
		query += ` AND resolved_at IS NULL`
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY id`, integration)
	if err != nil {
		return nil, fmt.Errorf("alert: read incidents: %w", err)
	}
	return scanIncidents(rows)
}
