package audit_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/spindlehq/spindle/internal/store/postgres"
	"github.com/spindlehq/spindle/internal/store/postgres/pgtest"
	"github.com/spindlehq/spindle/internal/store/sqlite"
)

// backend is a store the log is tested on. Every test runs on SQLite, and
// on PostgreSQL when $SPINDLE_TEST_POSTGRES names a server (pgtest skips
// without one, or fails under $SPINDLE_REQUIRE_POSTGRES=1).
type backend struct {
	name string
	// fresh creates an empty database and returns where it is.
	fresh func(t *testing.T) string
	// open opens a handle on the database at dsn, all migrations applied;
	// several handles on one dsn stand for several processes.
	open func(t *testing.T, dsn string) *sql.DB
	// dropTrigger removes a guard trigger, as whoever can write the
	// database could.
	dropTrigger func(t *testing.T, db *sql.DB, table, trigger string)
}

func backends() []backend {
	return []backend{
		{
			name:  "sqlite",
			fresh: func(t *testing.T) string { return filepath.Join(t.TempDir(), "spindle.db") },
			open: func(t *testing.T, dsn string) *sql.DB {
				t.Helper()
				st, err := sqlite.Open(t.Context(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st.DB()
			},
			dropTrigger: func(t *testing.T, db *sql.DB, _, trigger string) {
				t.Helper()
				if _, err := db.Exec(`DROP TRIGGER ` + trigger); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name:  "postgres",
			fresh: func(t *testing.T) string { return pgtest.URL(t) },
			open: func(t *testing.T, dsn string) *sql.DB {
				t.Helper()
				st, err := postgres.Open(t.Context(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st.DB()
			},
			dropTrigger: func(t *testing.T, db *sql.DB, table, trigger string) {
				t.Helper()
				if _, err := db.Exec(`DROP TRIGGER ` + trigger + ` ON ` + table); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
}

// openDB opens a fresh database on b.
func (b backend) openDB(t *testing.T) *sql.DB {
	t.Helper()
	return b.open(t, b.fresh(t))
}

// eachBackend runs test once per backend, as a subtest named after it.
func eachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}
