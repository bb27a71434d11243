package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/spindlehq/spindle/internal/store"
)

// The inventory: store.Store on the pgx pool. Each sync run is one pgx
// transaction on a connection of its own, so workers sync different sources
// in parallel; runs of one source are applied one at a time under an
// advisory lock keyed by the source (see lockSource), whichever process
// runs them. A process that dies mid-run drops its connection, and
// PostgreSQL rolls the transaction back and frees the lock.

var _ store.Store = (*Store)(nil)

// syncLockSpace is the first key of the two-key advisory locks that
// serialise the runs of one source; the second is hashtext(source). The
// two-key space never overlaps the one-key space that writerLockKey and
// River use. Two sources whose hashes collide merely take turns.
const syncLockSpace int32 = 0x53594e43 // "SYNC"

// BeginSync implements store.Store. It waits, until ctx is done, for a run
// of the same source in progress in this or another process to finish.
func (s *Store) BeginSync(ctx context.Context, source, specDigest string, startedAt time.Time) (store.Sync, error) {
	if source == "" {
		return nil, errors.New("store: BeginSync needs the source (integration name) being synced")
	}
	if err := textError(source); err != nil {
		return nil, fmt.Errorf("store: BeginSync: source %q %w; rename the integration", source, err)
	}
	if err := textError(specDigest); err != nil {
		return nil, fmt.Errorf("store: BeginSync of %s: spec digest %q %w", source, specDigest, err)
	}
	started, err := nanos(startedAt)
	if err != nil {
		return nil, fmt.Errorf("store: BeginSync startedAt: %w", err)
	}
	r, err := s.beginSync(ctx, source, specDigest, startedAt.UTC(), started, true)
	if err != nil {
		return nil, err // not r: a nil *syncRun would be a non-nil store.Sync
	}
	return r, nil
}

// Entities implements store.Store.
func (s *Store) Entities(ctx context.Context, q store.Query) ([]store.Entity, error) {
	return s.entities(ctx, q)
}

// Runs implements store.Store.
func (s *Store) Runs(ctx context.Context, source string, limit int) ([]store.Run, error) {
	return s.runs(ctx, source, limit)
}

// lockSource takes the source's run lock in the run's transaction,
// waiting (until ctx is done) for a run of the source in progress. When
// ctx ends, pgx closes the connection after sending a cancel request, so
// the server stops waiting at once rather than taking the lock for a
// session that is gone.
func lockSource(ctx context.Context, conn *pgxpool.Conn, source string) error {
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, syncLockSpace, source); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("store: waiting for the running sync of %s (in this or another process) to finish: %w", source, context.Cause(ctx))
		}
		return fmt.Errorf("store: take the sync lock of %s: %w", source, err)
	}
	return nil
}

// rollbackTimeout bounds the ROLLBACK sent after the caller's context
// ended, so a vanished server cannot hang a worker; PostgreSQL rolls back
// whatever a dropped connection left open anyway.
const rollbackTimeout = 10 * time.Second

// textError says why s cannot be stored in a PostgreSQL text column: the
// database's encoding is UTF-8 and text holds no NUL byte, where SQLite
// stores any bytes. Checked before writing so that such a record is
// refused on its own instead of aborting the whole run's transaction.
func textError(s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return errors.New("contains a NUL byte, which PostgreSQL text cannot hold")
	}
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	return nil
}

// nanos converts t to the stored form, Unix nanoseconds, refusing what
// that cannot hold rather than storing a wrapped-around time.
func nanos(t time.Time) (int64, error) {
	if t.IsZero() {
		return 0, errors.New("time is zero; pass the actual time")
	}
	n := t.UnixNano()
	if !time.Unix(0, n).Equal(t) {
		return 0, fmt.Errorf("time %s is outside the storable range (years 1678 to 2262)", t)
	}
	return n, nil
}

// fromNanos is the inverse of nanos, always in UTC.
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }
