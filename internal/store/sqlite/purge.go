package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// PurgeSourceTx deletes, inside tx, every entity whose source is source and
// every relationship from them, and returns how many entities it deleted.
// It is for offboarding with --purge, which must commit together with the
// credential revocation and its audit entry, hence the caller's
// transaction (a write transaction on this store's DB()).
//
// Sync runs of the source are kept: they are the history of what was
// synced and when, not inventory, and they hold no records. Relationships
// only ever point at entities of their own source (the runtime builds
// targets from the record's source), so no other source is left dangling.
func (s *Store) PurgeSourceTx(ctx context.Context, tx *sql.Tx, source string) (int64, error) {
	if tx == nil {
		return 0, errors.New("store: PurgeSourceTx needs the caller's transaction; begin one on the store's DB()")
	}
	if source == "" {
		return 0, errors.New("store: PurgeSourceTx needs the source (integration name) to purge; an empty one would match nothing by accident or everything by mistake")
	}
	// Relationships first and explicitly, rather than through ON DELETE
	// CASCADE, so the purge does not depend on the connection's
	// foreign_keys setting.
	if _, err := tx.ExecContext(ctx, `DELETE FROM relationships WHERE from_seq IN (SELECT seq FROM entities WHERE source = ?)`, source); err != nil {
		return 0, fmt.Errorf("store: purge the relationships of %s: %w", source, err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM entities WHERE source = ?`, source)
	if err != nil {
		return 0, fmt.Errorf("store: purge the entities of %s: %w", source, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: purge the entities of %s: %w", source, err)
	}
	return n, nil
}
