package postgres

import (
	"context"
	"sync"
	"testing"

	"github.com/spindlehq/spindle/internal/store/postgres/pgtest"
)

// Several processes starting at once (three workers) must each end up with
// the schema, applied once.
func TestOpenConcurrentlyMigratesOnce(t *testing.T) {
	url := pgtest.URL(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := Open(ctx, url)
			if err == nil {
				err = st.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("opener %d: %v", i, err)
		}
	}
	st, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var n int
	if err := st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM goose_db_version WHERE version_id > ?`, 0).Scan(&n); err != nil {
		t.Fatal(err)
	}
	files, _ := migrationFiles.ReadDir("migrations")
	if n != len(files) {
		t.Errorf("applied migrations = %d, want %d (one per file, once)", n, len(files))
	}
}

// A write transaction waits for another's writer lock; a read-only one does not.
func TestWriteTransactionsAreSerialised(t *testing.T) {
	st, err := Open(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	db := st.DB()
	if _, err := db.ExecContext(ctx, `CREATE TABLE counter (n BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO counter (n) VALUES (?)`, 0); err != nil {
		t.Fatal(err)
	}
	// Read-modify-write without SELECT … FOR UPDATE loses updates under
	// READ COMMITTED unless writers are serialised.
	var wg sync.WaitGroup
	const writers, each = 8, 10
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					t.Error(err)
					return
				}
				var n int
				if err := tx.QueryRowContext(ctx, `SELECT n FROM counter`).Scan(&n); err != nil {
					t.Error(err)
				}
				if _, err := tx.ExecContext(ctx, `UPDATE counter SET n = ?`, n+1); err != nil {
					t.Error(err)
				}
				if err := tx.Commit(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT n FROM counter`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != writers*each {
		t.Errorf("counter = %d, want %d: write transactions overlapped", n, writers*each)
	}
}
