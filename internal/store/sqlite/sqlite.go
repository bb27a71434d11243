// Package sqlite is the embedded inventory store: one SQLite file (pure Go,
// modernc.org/sqlite) in WAL mode, its schema applied by goose migrations
// embedded in the binary. Readers never wait for a sync run: WAL lets them
// read the last committed inventory while a run's transaction is open.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/spindlehq/spindle/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// dsn is the data source name for path: the settings the driver applies to
// every pooled connection.
func dsn(path string) string {
	v := url.Values{
		// WAL: readers see the last committed inventory while a run writes.
		"_journal_mode": {"WAL"},
		// NORMAL is durable across process crashes in WAL mode; only a
		// power loss can drop the last commits, never corrupt the file.
		"_synchronous": {"NORMAL"},
		// Another process holding the write lock is waited for, not an error.
		"_busy_timeout": {"10000"},
		"_foreign_keys": {"1"},
		// A sync run writes from its first statement: take the write lock at
		// BEGIN so it can never fail half-way upgrading a read lock.
		// Read-only transactions (Entities, Runs) still begin deferred.
		"_txlock": {"immediate"},
		"_pragma": {
			// A run of a million records is one transaction; a larger page
			// cache keeps its index pages in memory (bounded: 64 MiB).
			"cache_size(-65536)",
			// A million-record run grows the WAL to its size; once it is
			// checkpointed, cut the file back to 64 MiB when it is reused.
			"journal_size_limit(67108864)",
		},
	}
	return path + "?" + v.Encode()
}

// Store is the SQLite inventory. It is safe for concurrent use.
type Store struct {
	db *sql.DB
	// writer has one slot, held by the open sync run: runs are applied one
	// at a time, and a second BeginSync waits on its context instead of
	// failing on SQLite's busy timeout half-way through a long run.
	writer chan struct{}
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the inventory database at path and brings
// its schema up to date.
func Open(ctx context.Context, path string) (*Store, error) {
	switch {
	case path == "":
		return nil, errors.New("store: no database path given; pass a file path such as spindle.db")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		// Every pooled connection would get its own private in-memory
		// database, and a URI would bypass the settings above.
		return nil, fmt.Errorf("store: %q is not a plain file path; pass one (in tests, under t.TempDir())", path)
	case strings.ContainsAny(path, "?#"):
		return nil, fmt.Errorf("store: database path %q contains '?' or '#', which SQLite would read as URI parameters; rename it", path)
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s (is the directory writable?): %w", path, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return &Store{db: db, writer: make(chan struct{}, 1)}, nil
}

// migrate applies the embedded migrations that the database lacks.
func migrate(ctx context.Context, db *sql.DB) error {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub,
		goose.WithDisableGlobalRegistry(true), // only our embedded files
		goose.WithLogger(goose.NopLogger()),
	)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > target {
		return fmt.Errorf("database schema version %d is newer than this build knows (%d); run a newer spindle", current, target)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate schema to version %d: %w", target, err)
	}
	return nil
}

// DB is the database handle, for the packages that keep their tables in
// the same file (audit, vault, governance). Their migrations live beside
// the inventory's, so the file has one schema version. Every transaction
// begins IMMEDIATE (see dsn): writers queue on the busy timeout.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database. Open sync runs are rolled back.
func (s *Store) Close() error { return s.db.Close() }

// BeginSync implements store.Store.
func (s *Store) BeginSync(ctx context.Context, source, specDigest string, startedAt time.Time) (store.Sync, error) {
	if source == "" {
		return nil, errors.New("store: BeginSync needs the source (integration name) being synced")
	}
	started, err := nanos(startedAt)
	if err != nil {
		return nil, fmt.Errorf("store: BeginSync startedAt: %w", err)
	}
	select {
	case s.writer <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("store: waiting for the previous sync run to finish: %w", context.Cause(ctx))
	}
	r, err := s.beginSync(ctx, source, specDigest, startedAt.UTC(), started)
	if err != nil {
		<-s.writer
		return nil, err
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
