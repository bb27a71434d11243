package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrSyncRunning marks a purge refused because a sync run of the source
// was in progress.
var ErrSyncRunning = errors.New("sync run in progress")

// PurgeSourceTx deletes, inside tx, every entity whose source is source and
// every relationship from them, and returns how many entities it deleted:
// the same contract as (*sqlite.Store).PurgeSourceTx, for offboarding with
// --purge, which commits it together with the credential revocation and
// its audit entry (tx is a write transaction on this store's DB()).
//
// A sync run of the source in progress, in any process, would write the
// entities back when it commits; so the purge takes the source's sync
// lock, held until tx ends, and is refused while such a run holds it.
// Refused, not waited for: tx holds DB()'s writer lock, which every
// control-plane write of every worker needs, and a run can take minutes
// (and may itself need that lock, through the vault or the audit log).
//
// Sync runs of the source are kept: they are the history of what was
// synced and when, not inventory, and they hold no records.
func (s *Store) PurgeSourceTx(ctx context.Context, tx *sql.Tx, source string) (int64, error) {
	if tx == nil {
		return 0, errors.New("store: PurgeSourceTx needs the caller's transaction; begin one on the store's DB()")
	}
	if source == "" {
		return 0, errors.New("store: PurgeSourceTx needs the source (integration name) to purge; an empty one would match nothing by accident or everything by mistake")
	}
	if err := textError(source); err != nil {
		return 0, fmt.Errorf("store: PurgeSourceTx: source %q %w", source, err)
	}
	// $n placeholders: DB() rewrites only '?', and leaves these alone.
	var locked bool
	if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1, hashtext($2))`, syncLockSpace, source).Scan(&locked); err != nil {
		return 0, fmt.Errorf("store: purge %s: take its sync lock: %w", source, err)
	}
	if !locked {
		return 0, fmt.Errorf("store: cannot purge %s while a sync run of it is in progress (in this or another worker); try again once it has finished: %w", source, ErrSyncRunning)
	}
	// Relationships first and explicitly, as in SQLite, rather than
	// relying on ON DELETE CASCADE.
	if _, err := tx.ExecContext(ctx, `DELETE FROM relationships WHERE from_seq IN (SELECT seq FROM entities WHERE source = $1)`, source); err != nil {
		return 0, fmt.Errorf("store: purge the relationships of %s: %w", source, err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM entities WHERE source = $1`, source)
	if err != nil {
		return 0, fmt.Errorf("store: purge the entities of %s: %w", source, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: purge the entities of %s: %w", source, err)
	}
	return n, nil
}
