package contract_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/spindlehq/spindle/internal/store/postgres"
	"github.com/spindlehq/spindle/internal/store/postgres/pgtest"
	"github.com/spindlehq/spindle/internal/store/sqlite"
)

// backend is a store the recorded health is tested on: SQLite always, and
// PostgreSQL when $SPINDLE_TEST_POSTGRES names a server (pgtest skips
// without one, or fails under $SPINDLE_REQUIRE_POSTGRES=1).
type backend struct {
	name string
	// open opens a fresh database with every migration applied.
	open func(t *testing.T) *sql.DB
}

func backends() []backend {
	return []backend{
		{name: "sqlite", open: func(t *testing.T) *sql.DB {
			t.Helper()
			st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "spindle.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st.DB()
		}},
		{name: "postgres", open: func(t *testing.T) *sql.DB {
			t.Helper()
			st, err := postgres.Open(t.Context(), pgtest.URL(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st.DB()
		}},
	}
}
