package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/store/postgres/pgtest"
)

// The same contract as the SQLite store's PurgeSourceTx, inside a DB()
// transaction as lifecycle offboarding runs it.
func TestPurgeSourceTx(t *testing.T) {
	ctx := context.Background()
	st := openFresh(t)
	fill(t, st, "acme", 5, at)
	fill(t, st, "other", 3, at)
	relsOf := func(source string) int {
		return st.count(t, `SELECT count(*) FROM relationships r JOIN entities e ON e.seq = r.from_seq WHERE e.source = $1`, source)
	}
	if relsOf("acme") == 0 || relsOf("other") == 0 {
		t.Fatal("fixture: want relationships on both sources")
	}

	for _, tc := range []struct {
		name   string
		commit bool
		want   int // acme entities left
	}{
		{"rolled back: nothing is deleted", false, 5},
		{"committed: the source's entities and relationships go", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := st.DB().BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			n, err := st.PurgeSourceTx(ctx, tx, "acme")
			if err != nil {
				tx.Rollback()
				t.Fatal(err)
			}
			if n != 5 {
				t.Errorf("purged %d entities, want 5", n)
			}
			if tc.commit {
				err = tx.Commit()
			} else {
				err = tx.Rollback()
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := st.count(t, `SELECT count(*) FROM entities WHERE source = 'acme'`); got != tc.want {
				t.Errorf("acme entities left: %d, want %d", got, tc.want)
			}
			if tc.want == 0 && st.count(t, `SELECT count(*) FROM relationships WHERE from_seq NOT IN (SELECT seq FROM entities)`) != 0 {
				t.Error("relationships of purged entities are left behind")
			}
		})
	}

	// The other source is untouched, and runs stay as history.
	if got := st.count(t, `SELECT count(*) FROM entities WHERE source = 'other'`); got != 3 {
		t.Errorf("other entities: %d, want 3", got)
	}
	if relsOf("other") == 0 {
		t.Error("other's relationships were purged")
	}
	if rs, err := st.Runs(ctx, "acme", 0); err != nil || len(rs) != 1 {
		t.Errorf("acme runs after purge: %d, %v; want the 1 run kept", len(rs), err)
	}

	// Purging again deletes nothing; an empty source or no tx is refused.
	tx, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if n, err := st.PurgeSourceTx(ctx, tx, "acme"); err != nil || n != 0 {
		t.Errorf("second purge: %d, %v; want 0, nil", n, err)
	}
	if _, err := st.PurgeSourceTx(ctx, tx, ""); err == nil {
		t.Error("empty source: want an error")
	}
	if _, err := st.PurgeSourceTx(ctx, nil, "acme"); err == nil {
		t.Error("nil tx: want an error")
	}
}

// A purge is refused while a sync run of the source is in progress (in
// any process), since the run would write the purged entities back; once
// the run has committed, the purge deletes what it left too.
func TestPurgeRefusedWhileSyncRuns(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	worker, control := openAt(t, url), openAt(t, url)
	fill(t, worker, "acme", 5, at)

	s, err := worker.BeginSync(ctx, "acme", "", at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Rollback()
	putAll(t, s, "acme", 0, 20)

	purge := func() (int64, error) {
		tx, err := control.DB().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		n, err := control.PurgeSourceTx(ctx, tx, "acme")
		if err != nil {
			return n, err
		}
		return n, tx.Commit()
	}
	if n, err := purge(); !errors.Is(err, ErrSyncRunning) || !strings.Contains(err.Error(), "acme") {
		t.Fatalf("purge during a sync run: %d, %v; want it refused, naming the source", n, err)
	}
	// Another source's purge is not held up by acme's run.
	fill(t, worker, "other", 2, at)
	tx, err := control.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := control.PurgeSourceTx(ctx, tx, "other"); err != nil || n != 2 {
		t.Errorf("purge of another source during acme's run: %d, %v; want 2, nil", n, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	if _, err := s.Commit(ctx, at.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := purge(); err != nil || n != 20 {
		t.Fatalf("purge after the run committed: %d, %v; want the 20 entities the run left", n, err)
	}
	if n := control.count(t, `SELECT count(*) FROM entities`); n != 0 {
		t.Errorf("%d entities after the purges, want 0", n)
	}
}
