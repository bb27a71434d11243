package contract

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Execer is a *sql.DB or a *sql.Tx: Record joins the caller's transaction
// when given one (to commit with its audit entry). It inserts with
// RETURNING id (no LastInsertId, which PostgreSQL lacks), hence QueryRow.
type Execer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Querier is a *sql.DB or a *sql.Tx.
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Record stores r in the integration_health table (migration 00006; stale
// since 00011) and returns its id.
func Record(ctx context.Context, db Execer, r Result) (int64, error) {
	if r.Integration == "" {
		return 0, errors.New("contract: record: no integration")
	}
	if !r.Health.Valid() {
		return 0, fmt.Errorf("contract: record %s: health %q is not healthy, degraded, stale or failing", r.Integration, r.Health)
	}
	checks := r.Checks
	if checks == nil {
		checks = []Finding{}
	}
	js, err := json.Marshal(checks)
	if err != nil {
		return 0, fmt.Errorf("contract: record %s: %w", r.Integration, err)
	}
	at := r.CheckedAt
	if at.IsZero() {
		at = time.Now()
	}
	var id int64
	err = db.QueryRowContext(ctx, `INSERT INTO integration_health (integration, run_id, checked_at, health, checks) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		r.Integration, r.RunID, at.UTC().UnixNano(), string(r.Health), string(js)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("contract: record %s: %w", r.Integration, err)
	}
	return id, nil
}

// Latest is the newest recorded result of integration; ok is false when
// none was recorded.
func Latest(ctx context.Context, db Querier, integration string) (r Result, ok bool, err error) {
	var at int64
	var health, checks string
	err = db.QueryRowContext(ctx, `SELECT run_id, checked_at, health, checks FROM integration_health WHERE integration = ? ORDER BY id DESC LIMIT 1`, integration).
		Scan(&r.RunID, &at, &health, &checks)
	if errors.Is(err, sql.ErrNoRows) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, fmt.Errorf("contract: latest of %s: %w", integration, err)
	}
	r.Integration, r.CheckedAt, r.Health = integration, time.Unix(0, at).UTC(), Health(health)
	if err := json.Unmarshal([]byte(checks), &r.Checks); err != nil {
		return Result{}, false, fmt.Errorf("contract: latest of %s: checks: %w", integration, err)
	}
	return r, true, nil
}
