// Package dbtest gives the control-plane packages' tests the stores they
// run on: SQLite always, and PostgreSQL when $SPINDLE_TEST_POSTGRES names a
// server (pgtest skips without one, or fails under
// $SPINDLE_REQUIRE_POSTGRES=1). One table of backends, and the few
// operations whose SQL differs between the two (tampering a test does as
// whoever can write the database could, listing tables, old schemas).
package dbtest

import (
	"context"
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/spindlehq/spindle/internal/store"
	"github.com/spindlehq/spindle/internal/store/postgres"
	"github.com/spindlehq/spindle/internal/store/postgres/pgtest"
	"github.com/spindlehq/spindle/internal/store/sqlite"
)

// Store is an opened store: the inventory and the control plane's handle.
type Store interface {
	store.Store
	DB() *sql.DB
	PurgeSourceTx(ctx context.Context, tx *sql.Tx, source string) (int64, error)
}

// Backend is one kind of store.
type Backend struct {
	Name string // "sqlite" or "postgres"
}

// SQLite and Postgres are the backends; Backends lists both.
var (
	SQLite   = Backend{Name: "sqlite"}
	Postgres = Backend{Name: "postgres"}
)

// Backends is every backend, SQLite first.
func Backends() []Backend { return []Backend{SQLite, Postgres} }

// Each runs test once per backend, as a subtest named after it.
func Each(t *testing.T, test func(t *testing.T, b Backend)) {
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) { test(t, b) })
	}
}

func (b Backend) sqlite() bool { return b.Name == SQLite.Name }

// Fresh creates an empty database and returns where it is.
func (b Backend) Fresh(t testing.TB) string {
	if b.sqlite() {
		return filepath.Join(t.TempDir(), "spindle.db")
	}
	return pgtest.URL(t)
}

// OpenStore opens the database at dsn, all migrations applied, closed when
// t ends; several stores on one dsn stand for several processes.
func (b Backend) OpenStore(t testing.TB, dsn string) Store {
	t.Helper()
	var (
		st  Store
		err error
	)
	if b.sqlite() {
		st, err = sqlite.Open(context.Background(), dsn)
	} else {
		st, err = postgres.Open(context.Background(), dsn)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Open is OpenStore's control-plane handle.
func (b Backend) Open(t testing.TB, dsn string) *sql.DB { return b.OpenStore(t, dsn).DB() }

// OpenDB opens a fresh database.
func (b Backend) OpenDB(t testing.TB) *sql.DB { return b.Open(t, b.Fresh(t)) }

// DropTrigger removes a guard trigger, as whoever can write the database
// could.
func (b Backend) DropTrigger(t testing.TB, db *sql.DB, table, trigger string) {
	t.Helper()
	q := `DROP TRIGGER ` + trigger + ` ON ` + table
	if b.sqlite() {
		q = `DROP TRIGGER ` + trigger
	}
	if _, err := db.Exec(q); err != nil {
		t.Fatal(err)
	}
}

// DropForeignKey stops the database checking table.column's reference. On
// SQLite that is per connection: callers hold db to one connection.
// PostgreSQL's constraint has its default name.
func (b Backend) DropForeignKey(t testing.TB, db *sql.DB, table, column string) {
	t.Helper()
	q := `ALTER TABLE ` + table + ` DROP CONSTRAINT ` + table + `_` + column + `_fkey`
	if b.sqlite() {
		q = `PRAGMA foreign_keys = OFF`
	}
	if _, err := db.Exec(q); err != nil {
		t.Fatal(err)
	}
}

// Tables lists every table of the schema.
func (b Backend) Tables(t testing.TB, db *sql.DB) []string {
	q := `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`
	if b.sqlite() {
		q = `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
	}
	return Column(t, db, q)
}

// Files lists the database files at dsn whose bytes must hold no secret
// (none for a server).
func (b Backend) Files(dsn string) []string {
	if b.sqlite() {
		return []string{dsn, dsn + "-wal"}
	}
	return nil
}

// MigrateTo brings the database at dsn to schema version only (up, or
// down when it is past it), as an older build would have, and returns a
// raw handle: '$n' placeholders on PostgreSQL, so tests write literals.
func (b Backend) MigrateTo(t testing.TB, dsn string, version int64) *sql.DB {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	driver, source, dialect, dir := "pgx", dsn, goose.DialectPostgres, "postgres"
	if b.sqlite() {
		driver, source, dialect, dir = "sqlite", dsn+"?_pragma=foreign_keys(1)", goose.DialectSQLite3, "sqlite"
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var fsys fs.FS = os.DirFS(filepath.Join(filepath.Dir(here), "..", dir, "migrations"))
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
		return db
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		t.Fatalf("migrate to %d: %v", version, err)
	}
	return db
}

var _ = stdlib.GetDefaultDriver // registers "pgx" for MigrateTo

// Column is the first column of every row q returns.
func Column(t testing.TB, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
