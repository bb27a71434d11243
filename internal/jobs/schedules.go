package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/production"
	"github.com/spindlehq/spindle/internal/vault"
)

// MinEvery is the shortest schedule: the scheduler ticks once a minute.
const MinEvery = time.Minute

// Bounds are a schedule's contract bounds as stored (contract.Bounds with
// JSON names; zero values take the contract defaults).
type Bounds struct {
	MaxDrop     float64       `json:"max_drop,omitempty"`
	MaxGrowth   float64       `json:"max_growth,omitempty"`
	MinHistory  int           `json:"min_history,omitempty"`
	Window      int           `json:"window,omitempty"`
	StaleAfter  time.Duration `json:"stale_after_ns,omitempty"`
	MaxNullRise float64       `json:"max_null_rise,omitempty"`
	Required    []string      `json:"required,omitempty"`
}

// Contract is b as the contract checks take it.
func (b Bounds) Contract() contract.Bounds {
	return contract.Bounds{MaxDrop: b.MaxDrop, MaxGrowth: b.MaxGrowth, MinHistory: b.MinHistory, Window: b.Window, StaleAfter: b.StaleAfter,
		MaxNullRise: b.MaxNullRise, Required: b.Required}
}

// BoundsOf is c as a schedule stores it.
func BoundsOf(c contract.Bounds) Bounds {
	return Bounds{MaxDrop: c.MaxDrop, MaxGrowth: c.MaxGrowth, MinHistory: c.MinHistory, Window: c.Window, StaleAfter: c.StaleAfter,
		MaxNullRise: c.MaxNullRise, Required: c.Required}
}

// StaleAfter is how old the last successful sync of a schedule may be:
// its bounds' stale_after, else twice its interval (one late or failed run
// is not yet an alarm; a stopped schedule is).
func (sc Schedule) StaleAfter() time.Duration {
	if sc.Bounds.StaleAfter > 0 {
		return sc.Bounds.StaleAfter
	}
	return 2 * sc.Every
}

// Schedule is how often an integration is synced, and on whose authority.
type Schedule struct {
	Integration string        `json:"integration"`
	Every       time.Duration `json:"every_ns"`
	// SetBy is the person whose authority every scheduled run uses; their
	// role is checked again at each run.
	SetBy string `json:"set_by"`
	// BaseURL points the runs at a stand-in for the vendor ("" : the
	// released spec's own); Config holds connection.config inputs.
	BaseURL   string            `json:"base_url,omitempty"`
	Config    map[string]string `json:"config,omitempty"`
	Bounds    Bounds            `json:"bounds"`
	CreatedAt time.Time         `json:"created_at"`
	NextRunAt time.Time         `json:"next_run_at"`
	// SuspendedAt is set when the schedule stopped itself (its person lost
	// the right to run production syncs, or the integration was
	// offboarded); setting it again resumes it.
	SuspendedAt     *time.Time `json:"suspended_at,omitempty"`
	SuspendedReason string     `json:"suspended_reason,omitempty"`
}

// Schedules keeps the schedules in the control-plane database.
type Schedules struct {
	env *production.Env
	now func() time.Time
}

// NewSchedules returns the schedules kept in env.DB (migration 00010).
// now is the clock (nil: time.Now).
func NewSchedules(env *production.Env, now func() time.Time) *Schedules {
	if now == nil {
		now = time.Now
	}
	return &Schedules{env: env, now: now}
}

// ErrNoSchedule is returned for an integration without a schedule.
var ErrNoSchedule = errors.New("no schedule")

const scheduleCols = `integration, interval_ns, set_by, base_url, config, bounds, created_at, next_run_at, suspended_at, suspended_reason`

type rowScanner interface{ Scan(dest ...any) error }

func scanSchedule(r rowScanner) (Schedule, error) {
	var s Schedule
	var every, created, next int64
	var cfg, bounds string
	var suspended sql.NullInt64
	var reason sql.NullString
	if err := r.Scan(&s.Integration, &every, &s.SetBy, &s.BaseURL, &cfg, &bounds, &created, &next, &suspended, &reason); err != nil {
		return Schedule{}, err
	}
	s.Every, s.CreatedAt, s.NextRunAt = time.Duration(every), time.Unix(0, created).UTC(), time.Unix(0, next).UTC()
	if err := json.Unmarshal([]byte(cfg), &s.Config); err != nil {
		return Schedule{}, fmt.Errorf("schedule of %s: config: %w", s.Integration, err)
	}
	if err := json.Unmarshal([]byte(bounds), &s.Bounds); err != nil {
		return Schedule{}, fmt.Errorf("schedule of %s: bounds: %w", s.Integration, err)
	}
	if suspended.Valid {
		t := time.Unix(0, suspended.Int64).UTC()
		s.SuspendedAt, s.SuspendedReason = &t, reason.String
	}
	return s, nil
}

// Set schedules (or reschedules) sc.Integration every sc.Every on the
// authority of person, who needs the sync.production action (operator or
// admin). The integration must be ready to run in production (released,
// owned, not offboarded). The first run is enqueued at the next tick; a
// suspended schedule resumes. Audited (schedule.set) in the same
// transaction.
func (s *Schedules) Set(ctx context.Context, person string, sc Schedule) (Schedule, error) {
	person = strings.TrimSpace(person)
	switch {
	case person == "":
		return Schedule{}, errors.New("a schedule runs production syncs on a person's authority: say who you are (--as NAME)")
	case sc.Every < MinEvery:
		return Schedule{}, fmt.Errorf("every %s is too often: the scheduler ticks once a minute, so schedule every %s or more", sc.Every, MinEvery)
	}
	env := s.env
	if err := env.Gov.Authorize(ctx, person, governance.ActionSyncProduction); err != nil {
		return Schedule{}, err
	}
	if err := env.Life.Ready(ctx, sc.Integration); err != nil {
		return Schedule{}, err
	}
	host := ""
	if sc.BaseURL != "" {
		h, err := vault.NormalizeHost(sc.BaseURL)
		if err != nil {
			return Schedule{}, fmt.Errorf("--base-url %s: %w", sc.BaseURL, err)
		}
		host = h
	}
	if sc.Config == nil {
		sc.Config = map[string]string{}
	}
	cfg, err := json.Marshal(sc.Config)
	if err != nil {
		return Schedule{}, err
	}
	bounds, err := json.Marshal(sc.Bounds)
	if err != nil {
		return Schedule{}, err
	}
	now := s.now().UTC()
	sc.SetBy, sc.CreatedAt, sc.NextRunAt, sc.SuspendedAt, sc.SuspendedReason = person, now, now, nil, ""
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO schedules (`+scheduleCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)
			ON CONFLICT (integration) DO UPDATE SET interval_ns = excluded.interval_ns, set_by = excluded.set_by, base_url = excluded.base_url,
				config = excluded.config, bounds = excluded.bounds, created_at = excluded.created_at, next_run_at = excluded.next_run_at,
				suspended_at = NULL, suspended_reason = NULL`,
			sc.Integration, int64(sc.Every), person, sc.BaseURL, string(cfg), string(bounds), now.UnixNano(), now.UnixNano()); err != nil {
			return fmt.Errorf("schedule %s: %w", sc.Integration, err)
		}
		details := map[string]any{"every": sc.Every.String(), "bounds": sc.Bounds}
		if host != "" {
			details["host"], details["stand_in"] = host, true
		}
		if len(sc.Config) > 0 {
			details["config"] = sc.Config
		}
		_, err := env.Audit.AppendTx(ctx, tx, audit.Event{Actor: audit.Actor{Kind: audit.ActorPerson, Name: person}, Action: "schedule.set",
			Object: "integration:" + sc.Integration, Boundary: audit.BoundaryProduction, Details: details})
		return err
	})
	return sc, err
}

// Remove deletes name's schedule on person's authority (sync.production).
// Audited (schedule.remove). Syncs already enqueued find no schedule and
// do nothing.
func (s *Schedules) Remove(ctx context.Context, person, name string) (Schedule, error) {
	person = strings.TrimSpace(person)
	if person == "" {
		return Schedule{}, errors.New("removing a schedule stops production syncs: say who you are (--as NAME)")
	}
	if err := s.env.Gov.Authorize(ctx, person, governance.ActionSyncProduction); err != nil {
		return Schedule{}, err
	}
	var sc Schedule
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if sc, err = scanSchedule(tx.QueryRowContext(ctx, `SELECT `+scheduleCols+` FROM schedules WHERE integration = ?`, name)); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s has no schedule (see `spindle schedule list`): %w", name, ErrNoSchedule)
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM schedules WHERE integration = ?`, name); err != nil {
			return fmt.Errorf("remove the schedule of %s: %w", name, err)
		}
		_, err = s.env.Audit.AppendTx(ctx, tx, audit.Event{Actor: audit.Actor{Kind: audit.ActorPerson, Name: person}, Action: "schedule.remove",
			Object: "integration:" + name, Boundary: audit.BoundaryProduction, Details: map[string]any{"every": sc.Every.String(), "set_by": sc.SetBy}})
		return err
	})
	return sc, err
}

// Get returns name's schedule, wrapping ErrNoSchedule when it has none.
func (s *Schedules) Get(ctx context.Context, name string) (Schedule, error) {
	sc, err := scanSchedule(s.env.DB.QueryRowContext(ctx, `SELECT `+scheduleCols+` FROM schedules WHERE integration = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Schedule{}, fmt.Errorf("%s has no schedule: %w", name, ErrNoSchedule)
	}
	return sc, err
}

// List returns every schedule by integration.
func (s *Schedules) List(ctx context.Context) ([]Schedule, error) {
	return s.query(ctx, `SELECT `+scheduleCols+` FROM schedules ORDER BY integration`)
}

// due lists the active schedules whose next run is at or before now.
func (s *Schedules) due(ctx context.Context, now time.Time) ([]Schedule, error) {
	return s.query(ctx, `SELECT `+scheduleCols+` FROM schedules WHERE suspended_at IS NULL AND next_run_at <= ? ORDER BY next_run_at, integration`, now.UnixNano())
}

func (s *Schedules) query(ctx context.Context, q string, args ...any) ([]Schedule, error) {
	rows, err := s.env.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read schedules: %w", err)
	}
	defer rows.Close()
	out := []Schedule{}
	for rows.Next() {
		sc, err := scanSchedule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, rows.Err()
}

// advance moves a schedule's next run from from to to; false when another
// tick (another worker) moved it first.
func (s *Schedules) advance(ctx context.Context, name string, from, to time.Time) (bool, error) {
	res, err := s.env.DB.ExecContext(ctx, `UPDATE schedules SET next_run_at = ? WHERE integration = ? AND next_run_at = ?`, to.UnixNano(), name, from.UnixNano())
	if err != nil {
		return false, fmt.Errorf("advance the schedule of %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// suspend stops sc until a person sets it again, audited (schedule.suspend)
// as the scheduler acting for the person who set it.
func (s *Schedules) suspend(ctx context.Context, sc Schedule, reason string) error {
	now := s.now().UTC()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE schedules SET suspended_at = ?, suspended_reason = ? WHERE integration = ? AND set_by = ? AND suspended_at IS NULL`,
			now.UnixNano(), reason, sc.Integration, sc.SetBy)
		if err != nil {
			return fmt.Errorf("suspend the schedule of %s: %w", sc.Integration, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // reset or removed meanwhile: nothing to suspend
		}
		_, err = s.env.Audit.AppendTx(ctx, tx, audit.Event{Actor: production.SchedulerActor, Action: "schedule.suspend", Object: "integration:" + sc.Integration,
			Boundary: audit.BoundaryProduction, Details: map[string]any{"on_behalf_of": sc.SetBy, "reason": reason}})
		return err
	})
}

func (s *Schedules) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.env.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}
