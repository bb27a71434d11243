// Package alert fails loudly (issue 6, item 4): when an integration's live
// contract checks fail, it posts to the configured webhooks — a generic
// JSON payload or a Slack-compatible one — with retries, and de-duplicates
// so that one incident is one alert. An incident is an integration, a
// severity and the sorted set of the check ids behind it (the
// fingerprint); it opens when that set first shows and is resolved, with
// one "resolved" message, when the integration is healthy again.
//
// Severity: failing health opens a failing incident, told to every target;
// degraded and stale health open a warning incident, told only to targets
// whose MinHealth is degraded. Targets and incidents live in the
// control-plane database (migrations 00007 and 00011), SQLite or
// PostgreSQL.
//
// A webhook URL may carry a token (Slack's do), so it is treated as a
// secret: it is stored only as vault ciphertext (Options.Vault seals it
// when added and opens it at send time), and is never part of an error, an
// Outcome or a payload; the redacted endpoint is what callers show.
package alert

import (
	"context"
	"database/sql"
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

// Severity is an incident's level.
type Severity string

// Severities.
const (
	// SeverityFailing: a check failed; every target is told.
	SeverityFailing Severity = "failing"
	// SeverityWarning: health is degraded or stale; targets with
	// MinHealth degraded are told.
	SeverityWarning Severity = "warning"
)

// ValidMinHealth reports whether h can be a target's MinHealth: failing
// (told about failing incidents only) or degraded (also warnings).
func ValidMinHealth(h contract.Health) bool { return h == contract.Failing || h == contract.Degraded }

// tells reports whether a target of min health is told about incidents of
// severity sev.
func tells(min contract.Health, sev Severity) bool {
	return sev == SeverityFailing || min == contract.Degraded
}

// Target is a webhook alerts are posted to.
type Target struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// URL is given to AddTarget; Targets never reads it back (it is stored
	// sealed), and it is never encoded.
	URL    string `json:"-"`
	Format Format `json:"format"`
	// MinHealth is failing (default) or degraded.
	MinHealth contract.Health `json:"min_health"`
	// Endpoint is the URL as it may be shown: scheme://host/….
	Endpoint string `json:"endpoint"`
	// Recipient is the vault key the URL is sealed to; Legacy marks a URL
	// still stored in clear from before migration 00011 (sealed at the
	// next use with a vault).
	Recipient string    `json:"recipient,omitempty"`
	Legacy    bool      `json:"legacy,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// Redacted is the target's URL as it may be shown: scheme://host/….
func (t Target) Redacted() string {
	if t.Endpoint != "" {
		return t.Endpoint
	}
	return RedactURL(t.URL)
}

// Sealer encrypts the webhook URLs at rest; *vault.Vault is one (Seal and
// Unseal with the vault's identity).
type Sealer interface {
	Seal(ctx context.Context, plaintext []byte) (ciphertext []byte, recipient string, err error)
	Unseal(ctx context.Context, ciphertext []byte) ([]byte, error)
}

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
	// Vault seals a URL when a target is added and opens it when an alert
	// is sent. Without it AddTarget refuses, and a sealed target's
	// delivery fails saying so.
	Vault Sealer
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

// ErrNoVault is returned when a URL must be sealed or opened and the
// Notifier has no vault.
var ErrNoVault = errors.New("alert: webhook URLs are stored encrypted with the vault, and no vault was given (alert.Options.Vault)")

// AddTarget stores t with its URL sealed by the vault (ID, CreatedAt,
// Endpoint and Recipient are set here; URL is cleared in what it returns).
// MinHealth "" means failing.
func (n *Notifier) AddTarget(ctx context.Context, t Target) (Target, error) {
	if !namePattern.MatchString(t.Name) {
		return Target{}, fmt.Errorf("alert: %q is not a valid target name: letters, digits and . _ - (up to 64)", t.Name)
	}
	if !t.Format.Valid() {
		return Target{}, fmt.Errorf("alert: format %q: use json or slack", t.Format)
	}
	if t.MinHealth == "" {
		t.MinHealth = contract.Failing
	}
	if !ValidMinHealth(t.MinHealth) {
		return Target{}, fmt.Errorf("alert: min health %q: use failing (alert failing health only) or degraded (also degraded and stale)", t.MinHealth)
	}
	if err := CheckURL(t.URL, n.o.AllowInsecure); err != nil {
		return Target{}, fmt.Errorf("alert: %w", err)
	}
	if strings.TrimSpace(t.CreatedBy) == "" {
		return Target{}, errors.New("alert: a target needs the person who adds it")
	}
	if n.o.Vault == nil {
		return Target{}, ErrNoVault
	}
	if _, err := n.SealLegacy(ctx); err != nil {
		return Target{}, err
	}
	ct, recipient, err := n.o.Vault.Seal(ctx, []byte(t.URL))
	if err != nil {
		return Target{}, fmt.Errorf("alert: seal the URL of %s: %w", t.Name, err)
	}
	t.Endpoint, t.Recipient, t.URL = RedactURL(t.URL), recipient, ""
	t.CreatedAt = n.o.Now().UTC()
	err = n.db.QueryRowContext(ctx, `INSERT INTO alert_targets (name, url_ciphertext, url_recipient, endpoint, format, min_health, created_at, created_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING id`,
		t.Name, ct, t.Recipient, t.Endpoint, string(t.Format), string(t.MinHealth), t.CreatedAt.UnixNano(), t.CreatedBy).Scan(&t.ID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Target{}, fmt.Errorf("alert: a target named %s exists: remove it first", t.Name)
	case err != nil:
		return Target{}, fmt.Errorf("alert: add target %s: %w", t.Name, err)
	}
	return t, nil
}

// target is a stored target with what opens its URL.
type target struct {
	Target
	ciphertext []byte
	legacyURL  string // a URL stored in clear before migration 00011
}

const targetCols = `id, name, format, min_health, endpoint, url_recipient, url_ciphertext, legacy_url, created_at, created_by`

// targets reads every target by name, with its sealed (or legacy) URL.
func (n *Notifier) targets(ctx context.Context) ([]target, error) {
	rows, err := n.db.QueryContext(ctx, `SELECT `+targetCols+` FROM alert_targets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("alert: list targets: %w", err)
	}
	defer rows.Close()
	var out []target
	for rows.Next() {
		var t target
		var f, min string
		var legacy sql.NullString
		var at int64
		if err := rows.Scan(&t.ID, &t.Name, &f, &min, &t.Endpoint, &t.Recipient, &t.ciphertext, &legacy, &at, &t.CreatedBy); err != nil {
			return nil, fmt.Errorf("alert: list targets: %w", err)
		}
		t.Format, t.MinHealth, t.CreatedAt = Format(f), contract.Health(min), time.Unix(0, at).UTC()
		if legacy.Valid {
			t.Legacy, t.legacyURL = true, legacy.String
			if t.Endpoint == "" {
				t.Endpoint = RedactURL(legacy.String)
			}
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Targets lists the targets by name, without their URLs.
func (n *Notifier) Targets(ctx context.Context) ([]Target, error) {
	ts, err := n.targets(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Target, len(ts))
	for i, t := range ts {
		out[i] = t.Target
	}
	return out, nil
}

// SealLegacy seals the URLs stored in clear before migration 00011 and
// clears them, returning how many it sealed. Every write and send of a
// Notifier with a vault calls it first; without a vault it does nothing.
func (n *Notifier) SealLegacy(ctx context.Context) (int, error) {
	if n.o.Vault == nil {
		return 0, nil
	}
	ts, err := n.targets(ctx)
	if err != nil {
		return 0, err
	}
	sealed := 0
	for _, t := range ts {
		if !t.Legacy {
			continue
		}
		ct, recipient, err := n.o.Vault.Seal(ctx, []byte(t.legacyURL))
		if err != nil {
			return sealed, fmt.Errorf("alert: seal the URL of %s, stored in clear before webhook URLs were encrypted: %w", t.Name, err)
		}
		if _, err := n.db.ExecContext(ctx, `UPDATE alert_targets SET url_ciphertext = ?, url_recipient = ?, endpoint = ?, legacy_url = NULL WHERE id = ? AND legacy_url IS NOT NULL`,
			ct, recipient, RedactURL(t.legacyURL), t.ID); err != nil {
			return sealed, fmt.Errorf("alert: seal the URL of %s: %w", t.Name, err)
		}
		sealed++
	}
	return sealed, nil
}

// url opens t's URL for a send. The error says what to do and never holds
// the URL.
func (n *Notifier) url(ctx context.Context, t target) (string, error) {
	if t.Legacy {
		return t.legacyURL, nil
	}
	if n.o.Vault == nil {
		return "", errors.New("cannot decrypt the webhook URL: no vault was given to the notifier")
	}
	b, err := n.o.Vault.Unseal(ctx, t.ciphertext)
	if err != nil {
		return "", fmt.Errorf("cannot decrypt the webhook URL (sealed to vault key %s): %w; or add the webhook again", t.Recipient, err)
	}
	defer clear(b)
	return string(b), nil
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
