package alert_test

import (
	"testing"

	"github.com/spindlehq/spindle/internal/store/dbtest"
)

// backend is a store these tests run on: SQLite, and PostgreSQL when
// $SPINDLE_TEST_POSTGRES names a server (see internal/store/dbtest).
type backend = dbtest.Backend

// backends lists them, SQLite first.
func backends() []backend { return dbtest.Backends() }

// eachBackend runs test once per backend, as a subtest named after it.
func eachBackend(t *testing.T, test func(t *testing.T, b backend)) { dbtest.Each(t, test) }
