package alert

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/contract"
)

// Fingerprint identifies a failing incident: the integration and its
// failing check ids, sorted and de-duplicated.
func Fingerprint(integration string, failing []string) string {
	return fingerprint(SeverityFailing, integration, failing)
}

// fingerprint of a warning incident differs from a failing one over the
// same checks (a stale integration that then fails is a new incident).
func fingerprint(sev Severity, integration string, ids []string) string {
	ids = sortedIDs(ids)
	key := integration + "\x00" + strings.Join(ids, "\x00")
	if sev != SeverityFailing {
		key = string(sev) + "\x00" + key // failing keeps the fingerprints of before severities
	}
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:16])
}

func sortedIDs(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// Incident is one failing (or warning) episode of an integration.
type Incident struct {
	ID          int64    `json:"id"`
	Integration string   `json:"integration"`
	Severity    Severity `json:"severity"`
	Fingerprint string   `json:"fingerprint"`
	// Failing are the check ids the incident is about: the failed checks;
	// for a warning incident, the warned (and, when stale, failed) ones.
	Failing     []string  `json:"failing"`
	OpenedAt    time.Time `json:"opened_at"`
	ResolvedAt  time.Time `json:"resolved_at,omitzero"`
	Resolution  string    `json:"resolution,omitempty"` // healthy, superseded
	LastAlertAt time.Time `json:"last_alert_at,omitzero"`
	AlertsSent  int       `json:"alerts_sent"`
}

// Open reports whether the incident is unresolved.
func (i Incident) Open() bool { return i.ResolvedAt.IsZero() }

// Kinds of Outcome.
const (
	KindNone      = "none"      // nothing to alert (healthy with nothing open, or no change)
	KindOpened    = "opened"    // a new incident: alerts sent
	KindDuplicate = "duplicate" // the incident was open: no new alert (except to targets a delivery failed to)
	KindResolved  = "resolved"  // health is back: incidents closed, resolved sent
)

// Delivery is one target's result. It names the target and its redacted
// URL only.
type Delivery struct {
	Target   string `json:"target"`
	Endpoint string `json:"endpoint"` // the target's redacted URL
	Attempts int    `json:"attempts"`
	Status   int    `json:"status,omitempty"` // the last HTTP status (0: none)
	Error    string `json:"error,omitempty"`
}

// Outcome is what Notify did.
type Outcome struct {
	Kind       string     `json:"kind"`
	Severity   Severity   `json:"severity,omitempty"`
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

// Notify alerts on r.
//
//   - Failing opens (or finds) the failing incident of r's failed checks
//     and posts it to every target that has not had it; a duplicate sends
//     nothing new. It supersedes the integration's other open incidents.
//   - Degraded and stale do the same with a warning incident (r's warned
//     and failed checks), posted only to targets whose MinHealth is
//     degraded — unless a failing incident is open: that one stays open,
//     and nothing is sent, until the integration is healthy.
//   - Healthy resolves the open incidents and posts one resolved message
//     to the targets their severity is told to.
//
// A failed delivery returns a *DeliveryError with the Outcome; it is
// retried at the next Notify of the same incident. URLs stored in clear
// before 00011 are sealed first (an error there is returned with the
// Outcome; the alert is still sent).
func (n *Notifier) Notify(ctx context.Context, r contract.Result) (Outcome, error) {
	_, sealErr := n.SealLegacy(ctx)
	var out Outcome
	var err error
	switch r.Health {
	case contract.Failing:
		out, err = n.open(ctx, r, SeverityFailing, r.Failing())
	case contract.Degraded, contract.Stale:
		out, err = n.open(ctx, r, SeverityWarning, append(r.Failing(), r.Warning()...))
	case contract.Healthy:
		out, err = n.resolve(ctx, r)
	default:
		out = Outcome{Kind: KindNone}
	}
	if sealErr != nil {
		err = errors.Join(err, sealErr)
	}
	return out, err
}

func (n *Notifier) open(ctx context.Context, r contract.Result, sev Severity, ids []string) (Outcome, error) {
	ids = sortedIDs(ids)
	fp := fingerprint(sev, r.Integration, ids)
	now := n.o.Now().UTC()

	inc, opened, err := n.openIncident(ctx, r.Integration, sev, fp, ids, now)
	if err != nil {
		return Outcome{}, err
	}
	if inc.ID == 0 {
		return Outcome{Kind: KindNone}, nil // a failing incident is open: warnings wait
	}
	out := Outcome{Kind: KindDuplicate, Severity: sev, Incidents: []Incident{inc}}
	if opened {
		out.Kind = KindOpened
	}
	targets, err := n.pending(ctx, inc.ID, KindOpened, sev)
	if err != nil {
		return out, err
	}
	return n.deliver(ctx, out, targets, []Incident{inc}, KindOpened, r)
}

// openIncident finds the open incident of fp or opens it, closing the
// integration's other open incidents as superseded. A warning finds no
// incident (zero Incident) while a failing one is open.
func (n *Notifier) openIncident(ctx context.Context, integration string, sev Severity, fp string, ids []string, now time.Time) (Incident, bool, error) {
	tx, err := n.db.BeginTx(ctx, nil)
	if err != nil {
		return Incident{}, false, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	open, err := incidents(ctx, tx, integration, true)
	if err != nil {
		return Incident{}, false, err
	}
	for _, inc := range open {
		if inc.Fingerprint == fp {
			return inc, false, tx.Commit()
		}
		if sev == SeverityWarning && inc.Severity == SeverityFailing {
			return Incident{}, false, tx.Commit()
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE alert_incidents SET resolved_at = ?, resolution = 'superseded' WHERE integration = ? AND resolved_at IS NULL`,
		now.UnixNano(), integration); err != nil {
		return Incident{}, false, fmt.Errorf("alert: supersede incidents of %s: %w", integration, err)
	}
	js, err := json.Marshal(ids)
	if err != nil {
		return Incident{}, false, err
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO alert_incidents (integration, severity, fingerprint, failing, opened_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		integration, string(sev), fp, string(js), now.UnixNano()).Scan(&id); err != nil {
		return Incident{}, false, fmt.Errorf("alert: open incident of %s: %w", integration, err)
	}
	if err := tx.Commit(); err != nil {
		return Incident{}, false, fmt.Errorf("alert: open incident of %s: %w", integration, err)
	}
	return Incident{ID: id, Integration: integration, Severity: sev, Fingerprint: fp, Failing: ids, OpenedAt: now}, true, nil
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
	sev := SeverityWarning
	for i := range open {
		open[i].ResolvedAt, open[i].Resolution = now, "healthy"
		if open[i].Severity == SeverityFailing {
			sev = SeverityFailing
		}
	}
	all, err := n.targets(ctx)
	if err != nil {
		return Outcome{}, err
	}
	targets := slices.DeleteFunc(all, func(t target) bool { return !tells(t.MinHealth, sev) })
	return n.deliver(ctx, Outcome{Kind: KindResolved, Severity: sev, Incidents: open}, targets, open, KindResolved, r)
}

// deliver posts the message of kind to targets and records each success
// against every incident in incs.
func (n *Notifier) deliver(ctx context.Context, out Outcome, targets []target, incs []Incident, kind string, r contract.Result) (Outcome, error) {
	if len(targets) == 0 {
		return out, nil
	}
	msg := n.message(kind, out.Severity, r, incs)
	for _, t := range targets {
		body, err := encode(t.Format, msg)
		if err != nil {
			return out, err
		}
		var d Delivery
		if u, err := n.url(ctx, t); err != nil {
			d = Delivery{Target: t.Name, Endpoint: t.Redacted(), Error: err.Error()}
		} else {
			d = n.post(ctx, t.Target, u, body)
		}
		out.Deliveries = append(out.Deliveries, d)
		if d.Error != "" {
			continue
		}
		at := n.o.Now().UTC().UnixNano()
		for _, inc := range incs {
			if _, err := n.db.ExecContext(ctx, `INSERT INTO alert_deliveries (incident_id, target_id, kind, delivered_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (incident_id, target_id, kind) DO NOTHING`, inc.ID, t.ID, kind, at); err != nil {
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

// pending lists the targets told about incidents of sev that have not had
// the kind message of incident.
func (n *Notifier) pending(ctx context.Context, incident int64, kind string, sev Severity) ([]target, error) {
	all, err := n.targets(ctx)
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
	return slices.DeleteFunc(all, func(t target) bool { return done[t.ID] || !tells(t.MinHealth, sev) }), nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

const incidentCols = `id, integration, severity, fingerprint, failing, opened_at, resolved_at, resolution, last_alert_at, alerts_sent`

func scanIncidents(rows *sql.Rows) ([]Incident, error) {
	defer rows.Close()
	out := []Incident{}
	for rows.Next() {
		var inc Incident
		var sev, failing string
		var opened int64
		var resolved, last sql.NullInt64
		var resolution sql.NullString
		if err := rows.Scan(&inc.ID, &inc.Integration, &sev, &inc.Fingerprint, &failing, &opened, &resolved, &resolution, &last, &inc.AlertsSent); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(failing), &inc.Failing); err != nil {
			return nil, fmt.Errorf("alert: incident %d: %w", inc.ID, err)
		}
		inc.Severity, inc.OpenedAt, inc.Resolution = Severity(sev), time.Unix(0, opened).UTC(), resolution.String
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

// Incidents lists integration's incidents ("" for every integration's),
// oldest first; openOnly keeps the unresolved ones.
func (n *Notifier) Incidents(ctx context.Context, integration string, openOnly bool) ([]Incident, error) {
	return incidents(ctx, n.db, integration, openOnly)
}

func incidents(ctx context.Context, q querier, integration string, openOnly bool) ([]Incident, error) {
	var where []string
	var args []any
	if integration != "" {
		where, args = append(where, `integration = ?`), append(args, integration)
	}
	if openOnly {
		where = append(where, `resolved_at IS NULL`)
	}
	query := `SELECT ` + incidentCols + ` FROM alert_incidents`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("alert: read incidents: %w", err)
	}
	return scanIncidents(rows)
}
