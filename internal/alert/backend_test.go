package alert_test

import (
	"context"
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/spindlehq/spindle/internal/store/postgres"
	"github.com/spindlehq/spindle/internal/store/postgres/pgtest"
	"github.com/spindlehq/spindle/internal/store/sqlite"
)

// backend is a store the alerts are tested on: every test runs on SQLite,
// and on PostgreSQL when $SPINDLE_TEST_POSTGRES names a server (pgtest
// skips without one, or fails under $SPINDLE_REQUIRE_POSTGRES=1).
type backend struct {
	name string
	// fresh creates an empty database and returns where it is.
	fresh func(t *testing.T) string
	// open opens the database at dsn with every migration applied.
	open func(t *testing.T, dsn string) *sql.DB
	// migrateTo applies the migrations up to version only, as an older
	// build would have, and returns a raw handle ('$n' placeholders on
	// PostgreSQL: tests write literals).
	migrateTo func(t *testing.T, dsn string, version int64) *sql.DB
	// files lists the database files whose bytes must hold no secret
	// (none for a server).
	files func(dsn string) []string
}

func backends() []backend {
	return []backend{
		{
			name:  "sqlite",
			fresh: func(t *testing.T) string { return filepath.Join(t.TempDir(), "spindle.db") },
			open: func(t *testing.T, dsn string) *sql.DB {
				t.Helper()
				st, err := sqlite.Open(context.Background(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st.DB()
			},
			migrateTo: func(t *testing.T, dsn string, version int64) *sql.DB {
				t.Helper()
				db, err := sql.Open("sqlite", dsn+"?_pragma=foreign_keys(1)")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				upTo(t, db, goose.DialectSQLite3, "../store/sqlite/migrations", version)
				return db
			},
			files: func(dsn string) []string { return []string{dsn, dsn + "-wal"} },
		},
		{
			name:  "postgres",
			fresh: func(t *testing.T) string { return pgtest.URL(t) },
			open: func(t *testing.T, dsn string) *sql.DB {
				t.Helper()
				st, err := postgres.Open(context.Background(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st.DB()
			},
			migrateTo: func(t *testing.T, dsn string, version int64) *sql.DB {
				t.Helper()
				db, err := sql.Open("pgx", dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				upTo(t, db, goose.DialectPostgres, "../store/postgres/migrations", version)
				return db
			},
			files: func(string) []string { return nil },
		},
	}
}

var _ = stdlib.GetDefaultDriver // registers "pgx" for migrateTo

// upTo applies the migration files in dir up to version, or, when the
// database is past it, rolls back down to it.
func upTo(t *testing.T, db *sql.DB, dialect goose.Dialect, dir string, version int64) {
	t.Helper()
	var fsys fs.FS = os.DirFS(dir)
	p, err := goose.NewProvider(dialect, db, fsys, goose.WithDisableGlobalRegistry(true), goose.WithLogger(goose.NopLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cur, err := p.GetDBVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cur > version {
		if _, err := p.DownTo(ctx, version); err != nil {
			t.Fatalf("migrate down to %d: %v", version, err)
		}
		return
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		t.Fatalf("migrate to %d: %v", version, err)
	}
}

// eachBackend runs f on every backend as a subtest.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}
