package lifecycle

import (
	"context"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/store"
	"github.com/spindlehq/spindle/internal/store/dbtest"
)

// inventory is what the tests need of a store: lifecycle's Inventory, and
// sync runs to give integrations a health.
type inventory interface {
	Inventory
	BeginSync(ctx context.Context, source, specDigest string, startedAt time.Time) (store.Sync, error)
}

// backend is a store lifecycle is tested on: SQLite, and PostgreSQL when
// $SPINDLE_TEST_POSTGRES names a server (see internal/store/dbtest).
type backend = dbtest.Backend

// eachBackend runs test once per backend, as a subtest named after it.
func eachBackend(t *testing.T, test func(t *testing.T, be backend)) { dbtest.Each(t, test) }
