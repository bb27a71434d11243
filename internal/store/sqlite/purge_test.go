package sqlite

import (
	"context"
	"testing"

	"github.com/spindlehq/spindle/internal/store"
)

// fillSource commits one complete run of n API keys of source.
func fillSource(t *testing.T, st *Store, source string, n int) {
	t.Helper()
	ctx := context.Background()
	s, err := st.BeginSync(ctx, source, "sha256:x", at)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Rollback()
	for i := range n {
		if err := s.Put(ctx, "keys", testRecord(source, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EndStream(ctx, store.StreamResult{Stream: "keys", Outcome: store.Complete, Records: n}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, at.Add(1)); err != nil {
		t.Fatal(err)
	}
}

func (st *Store) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := st.db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPurgeSourceTx(t *testing.T) {
	ctx := context.Background()
	st := openTemp(t)
	fillSource(t, st, "acme", 5)
	fillSource(t, st, "other", 3)
	relsOf := func(source string) int {
		return st.count(t, `SELECT COUNT(*) FROM relationships r JOIN entities e ON e.seq = r.from_seq WHERE e.source = ?`, source)
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
			if got := st.count(t, `SELECT COUNT(*) FROM entities WHERE source = 'acme'`); got != tc.want {
				t.Errorf("acme entities left: %d, want %d", got, tc.want)
			}
			if tc.want == 0 && st.count(t, `SELECT COUNT(*) FROM relationships WHERE from_seq NOT IN (SELECT seq FROM entities)`) != 0 {
				t.Error("relationships of purged entities are left behind")
			}
		})
	}

	// The other source is untouched, and runs stay as history.
	if got := st.count(t, `SELECT COUNT(*) FROM entities WHERE source = 'other'`); got != 3 {
		t.Errorf("other entities: %d, want 3", got)
	}
	if relsOf("other") == 0 {
		t.Error("other's relationships were purged")
	}
	if rs, err := st.Runs(ctx, "acme", 0); err != nil || len(rs) != 1 {
		t.Errorf("acme runs after purge: %d, %v; want the 1 run kept", len(rs), err)
	}
	if es, err := st.Entities(ctx, store.Query{Source: "acme"}); err != nil || len(es) != 0 {
		t.Errorf("Entities(acme) after purge: %d, %v", len(es), err)
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
