package lifecycle

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/store"
	"github.com/spindlehq/spindle/internal/store/postgres"
	"github.com/spindlehq/spindle/internal/store/postgres/pgtest"
	"github.com/spindlehq/spindle/internal/store/sqlite"
)

// inventory is what the tests need of a store: lifecycle's Inventory, and
// sync runs to give integrations a health.
type inventory interface {
	Inventory
	BeginSync(ctx context.Context, source, specDigest string, startedAt time.Time) (store.Sync, error)
}

// backend is a store lifecycle is tested on. Every test runs on SQLite,
// and on PostgreSQL when $SPINDLE_TEST_POSTGRES names a server (pgtest
// skips without one, or fails under $SPINDLE_REQUIRE_POSTGRES=1).
type backend struct {
	name string
	// open opens a fresh database, all migrations applied: the handle the
	// control plane uses, and the inventory on the same database.
	open func(t *testing.T) (*sql.DB, inventory)
	// dropTrigger removes a guard trigger, as whoever can write the
	// database could.
	dropTrigger func(t *testing.T, db *sql.DB, table, trigger string)
}

func backends() []backend {
	return []backend{
		{
			name: "sqlite",
			open: func(t *testing.T) (*sql.DB, inventory) {
				t.Helper()
				st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "spindle.db"))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st.DB(), st
			},
			dropTrigger: func(t *testing.T, db *sql.DB, _, trigger string) {
				t.Helper()
				if _, err := db.Exec(`DROP TRIGGER ` + trigger); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "postgres",
			open: func(t *testing.T) (*sql.DB, inventory) {
				t.Helper()
				st, err := postgres.Open(t.Context(), pgtest.URL(t))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st.DB(), st
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

// eachBackend runs test once per backend, as a subtest named after it.
func eachBackend(t *testing.T, test func(t *testing.T, be backend)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}
