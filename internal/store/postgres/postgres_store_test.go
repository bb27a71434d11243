package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/store"
	"github.com/spindlehq/spindle/internal/store/postgres/pgtest"
	"github.com/spindlehq/spindle/internal/store/storetest"
)

func openAt(t testing.TB, url string) *Store {
	t.Helper()
	st, err := Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openFresh(t testing.TB) *Store { return openAt(t, pgtest.URL(t)) }

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
}

var at = time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)

// testRecord is a realistic API key: most fields set, two relationships
// (the same as the SQLite store's tests and benchmark use).
func testRecord(source string, i int) *nhi.Record {
	ext := fmt.Sprintf("key-%08d", i)
	created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	used := created.Add(72 * time.Hour)
	name := "ci deploy key " + ext
	status, priv, cred := nhi.Active, nhi.Write, nhi.Static
	third := i%7 == 0
	owner := nhi.NewRef(source, nhi.HumanUser, fmt.Sprintf("user-%d", i%1000))
	return &nhi.Record{
		ID: nhi.StableID(source, nhi.APIKey, ext), Source: source, Kind: nhi.APIKey, ExternalID: ext,
		Name: &name, Status: &status, CreatedAt: &created, LastUsedAt: &used,
		Owner: &owner, Scopes: []string{"read:org", "write:packages"},
		Privilege: &priv, CredentialType: &cred, ThirdParty: &third,
		Attributes: map[string]any{"fingerprint": fmt.Sprintf("%064x", i), "region": "eu-west-1"},
		Relationships: []nhi.Relationship{
			{Type: nhi.OwnedBy, Target: owner},
			{Type: nhi.CanAccess, Target: nhi.NewRef(source, nhi.Resource, fmt.Sprintf("repo-%d", i%5000)), Privilege: &priv},
		},
	}
}

// putAll puts records [from, to) of source into s, on stream "keys".
func putAll(t testing.TB, s store.Sync, source string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := s.Put(context.Background(), "keys", testRecord(source, i)); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
}

// fill commits one complete run of n API keys of source.
func fill(t testing.TB, st store.Store, source string, n int, when time.Time) store.Run {
	t.Helper()
	ctx := context.Background()
	s, err := st.BeginSync(ctx, source, "sha256:x", when)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Rollback()
	putAll(t, s, source, 0, n)
	if err := s.EndStream(ctx, store.StreamResult{Stream: "keys", Outcome: store.Complete, Records: n}); err != nil {
		t.Fatal(err)
	}
	run, err := s.Commit(ctx, when.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// dump is the whole inventory and run history, for before/after checks.
func dump(t testing.TB, st store.Store) string {
	t.Helper()
	es, err := st.Entities(context.Background(), store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := st.Runs(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal([]any{es, rs})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (s *Store) count(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// waitCtx ends shortly before the test binary's -timeout would, so that
// a wait that never ends fails with its own message rather than a panic.
func waitCtx(t *testing.T) context.Context {
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-5*time.Second))
		t.Cleanup(cancel)
	}
	return ctx
}

// lockWaiters is how many sessions of st's database wait for an advisory
// lock: a BeginSync waiting for a run of its source shows up here.
func lockWaiters(t *testing.T, st *Store) int {
	return st.count(t, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
}

// begun is what a BeginSync in another goroutine returned.
type begun struct {
	s   store.Sync
	err error
}

// waitForWaiters polls until n sessions wait for an advisory lock, and
// fails if a BeginSync reports on done first (it returned instead of
// waiting); a run it began is rolled back, so that closing the store does
// not wait for it.
func waitForWaiters(t *testing.T, st *Store, n int, done <-chan begun) {
	t.Helper()
	ctx := waitCtx(t)
	for lockWaiters(t, st) != n {
		select {
		case v := <-done:
			if v.s != nil {
				v.s.Rollback()
			}
			t.Fatalf("BeginSync returned (error %v) while %d sessions waited for a lock, want it to wait", v.err, lockWaiters(t, st))
		case <-ctx.Done():
			t.Fatalf("never saw %d sessions waiting for a lock (%d do)", n, lockWaiters(t, st))
		case <-time.After(time.Millisecond):
		}
	}
}

// Two processes (two Stores, two pools) syncing different sources overlap:
// the second commits while the first still holds its run open, which it
// could not if runs were serialised across sources.
func TestDifferentSourcesSyncInParallel(t *testing.T) {
	url := pgtest.URL(t)
	a, b := openAt(t, url), openAt(t, url)
	ctx := context.Background()

	alpha, err := a.BeginSync(ctx, "alpha", "", at)
	if err != nil {
		t.Fatal(err)
	}
	defer alpha.Rollback()
	putAll(t, alpha, "alpha", 0, 2500) // more than a batch: alpha has written rows
	if err := alpha.EndStream(ctx, store.StreamResult{Stream: "keys", Outcome: store.Complete}); err != nil {
		t.Fatal(err)
	}

	type result struct {
		run store.Run
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := b.BeginSync(ctx, "beta", "", at)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer s.Rollback()
		for i := range 2500 {
			if err := s.Put(ctx, "keys", testRecord("beta", i)); err != nil {
				done <- result{err: err}
				return
			}
		}
		if err := s.EndStream(ctx, store.StreamResult{Stream: "keys", Outcome: store.Complete}); err != nil {
			done <- result{err: err}
			return
		}
		run, err := s.Commit(ctx, at.Add(time.Minute))
		done <- result{run, err}
	}()
	// beta must finish while alpha is open; if it ever waits for a lock,
	// the runs were serialised.
	wctx := waitCtx(t)
	var beta result
wait:
	for {
		select {
		case beta = <-done:
			break wait
		case <-wctx.Done():
			t.Fatal("beta's run never finished while alpha's was open")
		case <-time.After(time.Millisecond):
			if n := lockWaiters(t, a); n != 0 {
				t.Fatalf("%d sessions wait for a lock while syncing different sources: runs of different sources must not serialise", n)
			}
		}
	}
	if beta.err != nil {
		t.Fatalf("beta's run while alpha's was open: %v", beta.err)
	}
	if n := a.count(t, `SELECT count(*) FROM entities WHERE source = 'beta'`); n != 2500 {
		t.Errorf("beta committed %d entities, want 2500", n)
	}
	if n := b.count(t, `SELECT count(*) FROM entities WHERE source = 'alpha'`); n != 0 {
		t.Errorf("alpha's open run is visible: %d entities", n)
	}
	first, err := alpha.Commit(ctx, at.Add(2*time.Minute))
	if err != nil {
		t.Fatalf("alpha's Commit after beta's: %v", err)
	}
	for _, st := range []*Store{a, b} {
		if n := st.count(t, `SELECT count(*) FROM entities WHERE presence = 'present'`); n != 5000 {
			t.Errorf("%d present entities, want 5000", n)
		}
	}
	if first.ID >= beta.run.ID {
		t.Errorf("alpha's run id %d, beta's %d: ids follow BeginSync order", first.ID, beta.run.ID)
	}
}

// Runs of one source from two processes are applied one at a time: the
// second BeginSync waits for the first run to commit, then applies on top
// of it; a waiting BeginSync whose context ends returns a clear error and
// stops waiting on the server too.
func TestSameSourceSerialisesAcrossStores(t *testing.T) {
	url := pgtest.URL(t)
	a, b := openAt(t, url), openAt(t, url)
	ctx := context.Background()

	first, err := a.BeginSync(ctx, "acme", "", at)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback()
	putAll(t, first, "acme", 0, 10)

	second := make(chan begun, 1)
	go func() {
		s, err := b.BeginSync(ctx, "acme", "", at.Add(time.Hour))
		second <- begun{s, err}
	}()
	waitForWaiters(t, a, 1, second)

	// A third, with a context that ends while it waits.
	wctx, cancel := context.WithCancelCause(ctx)
	third := make(chan begun, 1)
	go func() {
		s, err := b.BeginSync(wctx, "acme", "", at.Add(2*time.Hour))
		third <- begun{s, err}
	}()
	waitForWaiters(t, a, 2, third)
	gaveUp := errors.New("the test gave up waiting")
	cancel(gaveUp)
	if got := <-third; got.s != nil {
		got.s.Rollback()
		t.Fatal("BeginSync whose context ended while waiting began a run")
	} else {
		err = got.err
	}
	if !errors.Is(err, gaveUp) || !strings.Contains(err.Error(), "waiting for the running sync of acme") {
		t.Errorf("BeginSync whose context ended while waiting: %v, want an error saying what it waited for, wrapping the cause", err)
	}
	// The server stopped waiting (a cancel request, not just a dropped
	// socket): only the second still waits, while the first is open.
	waitForWaiters(t, a, 1, second)

	if err := first.EndStream(ctx, store.StreamResult{Stream: "keys", Outcome: store.Complete}); err != nil {
		t.Fatal(err)
	}
	run1, err := first.Commit(ctx, at.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	got := <-second
	if got.err != nil {
		t.Fatalf("second BeginSync after the first committed: %v", got.err)
	}
	defer got.s.Rollback()
	putAll(t, got.s, "acme", 5, 15) // 0-4 gone, 5-9 kept, 10-14 new
	if err := got.s.EndStream(ctx, store.StreamResult{Stream: "keys", Outcome: store.Complete}); err != nil {
		t.Fatal(err)
	}
	run2, err := got.s.Commit(ctx, at.Add(time.Hour+time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if run2.ID <= run1.ID {
		t.Errorf("run ids %d then %d, want increasing in the order runs were applied", run1.ID, run2.ID)
	}
	for _, c := range []struct {
		presence store.Presence
		want     int
	}{{store.Gone, 5}, {store.Present, 10}} {
		es, err := a.Entities(ctx, store.Query{Source: "acme", Presence: c.presence})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != c.want {
			t.Errorf("%d %s entities, want %d", len(es), c.presence, c.want)
		}
	}
	rs, err := b.Runs(ctx, "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].ID != run2.ID || rs[1].ID != run1.ID {
		t.Errorf("runs %+v, want the two committed, newest first", rs)
	}
}

// A run whose connection dies (a worker killed, a network cut) leaves no
// trace: PostgreSQL rolls it back and frees its lock; the run reports what
// happened, and the next run of the source applies cleanly.
func TestKilledConnectionLeavesNoTrace(t *testing.T) {
	st := openFresh(t)
	ctx := context.Background()
	fill(t, st, "acme", 50, at)
	before := dump(t, st)

	s, err := st.BeginSync(ctx, "acme", "", at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Rollback()
	putAll(t, s, "acme", 40, 3000) // several batches written
	if err := s.EndStream(ctx, store.StreamResult{Stream: "keys", Outcome: store.Complete}); err != nil {
		t.Fatal(err)
	}
	var killed bool
	if err := st.pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, s.(*syncRun).pid).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend: %v %v", killed, err)
	}
	if _, err := s.Commit(ctx, at.Add(2*time.Hour)); err == nil || !strings.Contains(err.Error(), "connection") {
		t.Errorf("Commit after the connection was killed: %v, want an error saying the connection was lost", err)
	}
	if err := s.Put(ctx, "keys", testRecord("acme", 1)); err == nil {
		t.Error("Put after a failed Commit succeeded")
	}
	if err := s.Rollback(); err != nil {
		t.Errorf("Rollback of a run whose connection died: %v, want nil (the server rolled it back)", err)
	}
	if after := dump(t, st); after != before {
		t.Fatalf("a killed run changed the inventory\nbefore: %s\nafter:  %s", before, after)
	}
	if n := st.count(t, `SELECT count(*) FROM sync_runs`); n != 1 {
		t.Errorf("%d sync_runs rows, want only the committed one", n)
	}

	// The next run of the source is not blocked, and applies in full.
	fill(t, st, "acme", 60, at.Add(3*time.Hour))
	if n := st.count(t, `SELECT count(*) FROM entities WHERE presence = 'present'`); n != 60 {
		t.Errorf("%d present entities after the next run, want 60", n)
	}
}

const crashEnv = "SPINDLE_PG_CRASH_URL"

// A worker process killed in the middle of a run (after it marked the
// absent gone, before Commit): the inventory is the one before the run,
// byte for byte, and the source's lock died with the process.
func TestCrashMidRunKeepsInventory(t *testing.T) {
	if url := os.Getenv(crashEnv); url != "" {
		crashingRun(url) // never returns
	}
	url := pgtest.URL(t)
	st := openAt(t, url)
	fill(t, st, "acme", 50, at)
	before := dump(t, st)

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashMidRunKeepsInventory$")
	cmd.Env = append(os.Environ(), crashEnv+"="+url)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("crashing process: %v (want exit status 3)\n%s", err, out)
	}
	if after := dump(t, st); after != before {
		t.Fatalf("inventory changed by a run that never committed\nbefore: %s\nafter:  %s", before, after)
	}
	fill(t, st, "acme", 50, at.Add(2*time.Hour)) // would wait forever on a leaked lock
}

// crashingRun is the child of TestCrashMidRunKeepsInventory.
func crashingRun(url string) {
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	st, err := Open(ctx, url)
	if err != nil {
		fail(err)
	}
	s, err := st.BeginSync(ctx, "acme", "", at.Add(time.Hour))
	if err != nil {
		fail(err)
	}
	for i := 40; i < 5000; i++ {
		if err := s.Put(ctx, "keys", testRecord("acme", i)); err != nil {
			fail(err)
		}
	}
	if err := s.EndStream(ctx, store.StreamResult{Stream: "keys", Outcome: store.Complete}); err != nil {
		fail(err)
	}
	os.Exit(3) // die without Commit, Rollback or Close
}

// Even two runs of one source that bypass the lock cannot duplicate an
// entity or an edge: the second waits on the first's uncommitted rows, then
// updates them. And the (source, kind, external_id) constraint holds on
// its own.
func TestUniqueConstraintsPreventDuplicates(t *testing.T) {
	st := openFresh(t)
	ctx := context.Background()
	begin := func(when time.Time) *syncRun {
		r, err := st.beginSync(ctx, "acme", "", when, when.UnixNano(), false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Rollback() })
		return r
	}
	first, second := begin(at), begin(at.Add(time.Hour))
	putAll(t, first, "acme", 0, 100)
	if err := first.EndStream(ctx, store.StreamResult{Stream: "keys", Outcome: store.Complete}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for i := range 100 {
			if err := second.Put(ctx, "keys", testRecord("acme", i)); err != nil {
				done <- err
				return
			}
		}
		err := second.EndStream(ctx, store.StreamResult{Stream: "keys", Outcome: store.Complete})
		if err == nil {
			_, err = second.Commit(ctx, at.Add(2*time.Hour))
		}
		done <- err
	}()
	// The second run's writes wait on the first's rows (a transaction
	// lock, not an advisory one).
	wctx := waitCtx(t)
	for st.count(t, `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'transactionid' AND NOT l.granted AND a.datname = current_database()`) == 0 {
		select {
		case err := <-done:
			t.Fatalf("the racing run finished (%v) before the first committed; it should wait on its rows", err)
		case <-wctx.Done():
			t.Fatal("the racing run never waited on the first's rows")
		case <-time.After(time.Millisecond):
		}
	}
	if _, err := first.Commit(ctx, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("racing run: %v", err)
	}
	if n := st.count(t, `SELECT count(*) FROM entities`); n != 100 {
		t.Errorf("%d entity rows, want 100", n)
	}
	if n := st.count(t, `SELECT count(*) FROM relationships`); n != 200 {
		t.Errorf("%d relationship rows, want 200", n)
	}
	es, err := st.Entities(ctx, store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if !es[0].FirstSeen.Equal(at) || !es[0].LastSeen.Equal(at.Add(time.Hour)) {
		t.Errorf("first/last seen %v/%v, want %v/%v", es[0].FirstSeen, es[0].LastSeen, at, at.Add(time.Hour))
	}

	_, err = st.pool.Exec(ctx, `INSERT INTO entities (id, source, kind, external_id, stream, record, first_seen, last_seen, presence, presence_since, last_run_id)
		SELECT 'nhi_other', source, kind, external_id, stream, record, first_seen, last_seen, presence, presence_since, last_run_id FROM entities LIMIT 1`)
	if err == nil || !strings.Contains(err.Error(), "entities_order") {
		t.Errorf("a second row for one (source, kind, external_id): %v, want the unique constraint to refuse it", err)
	}
}

// Closing a Store (a worker shutting down) rolls its open runs back and
// frees their connections and locks, instead of waiting for them.
func TestCloseRollsBackOpenRuns(t *testing.T) {
	url := pgtest.URL(t)
	other := openAt(t, url)
	st, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := st.BeginSync(ctx, "acme", "", at)
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, s, "acme", 0, 2500)
	if err := st.Close(); err != nil {
		t.Fatalf("Close with a run open: %v", err)
	}
	if err := s.Put(ctx, "keys", testRecord("acme", 1)); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Put after Close: %v, want an error saying the store was closed", err)
	}
	if err := s.Rollback(); err != nil {
		t.Errorf("Rollback after Close: %v", err)
	}
	fill(t, other, "acme", 3, at.Add(time.Hour)) // the lock is free
	if n := other.count(t, `SELECT count(*) FROM entities`); n != 3 {
		t.Errorf("%d entities, want only the 3 of the run after Close", n)
	}
}

// A run's context governs it: when it ends, the run is rolled back and its
// lock freed, even without Rollback, and the run says why it stopped.
func TestCancelledRunIsRolledBack(t *testing.T) {
	st := openFresh(t)
	ctx := context.Background()
	fill(t, st, "acme", 5, at)
	before := dump(t, st)

	runCtx, stop := context.WithCancel(ctx)
	s, err := st.BeginSync(runCtx, "acme", "", at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, s, "acme", 100, 2100)
	stop() // the caller forgot Rollback: the context alone must free the source
	next := fill(t, st, "acme", 5, at.Add(2*time.Hour))
	if err := s.Put(ctx, "keys", testRecord("acme", 3)); err == nil || !strings.Contains(err.Error(), "context") {
		t.Errorf("Put into a run whose context ended: %v, want an error saying why", err)
	}
	if err := s.Rollback(); err != nil {
		t.Errorf("Rollback of a cancelled run: %v", err)
	}
	rs, err := st.Runs(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].ID != next.ID {
		t.Errorf("runs %+v, want the two committed ones", rs)
	}
	if n := st.count(t, `SELECT count(*) FROM entities`); n != 5 {
		t.Errorf("%d entities, want 5: the cancelled run must leave nothing (before: %s)", n, before)
	}
}

// PostgreSQL text cannot hold what SQLite can (NUL bytes, invalid UTF-8);
// such a record is refused on its own and the run goes on, rather than
// aborting the whole transaction.
func TestUnstorableTextRejected(t *testing.T) {
	st := openFresh(t)
	ctx := context.Background()
	withExt := func(ext string) *nhi.Record {
		return &nhi.Record{ID: nhi.StableID("acme", nhi.APIKey, ext), Source: "acme", Kind: nhi.APIKey, ExternalID: ext}
	}
	cases := []struct {
		name   string
		stream string
		rec    *nhi.Record
		want   string
	}{
		{"NUL in external id", "keys", withExt("a\x00b"), "NUL"},
		{"invalid UTF-8 in external id", "keys", withExt("a\xffb"), "UTF-8"},
		{"NUL in stream", "ke\x00ys", withExt("ok"), "stream name"},
		{"NUL in a relationship target", "keys", func() *nhi.Record {
			r := withExt("rel")
			r.Relationships = []nhi.Relationship{{Type: nhi.OwnedBy, Target: nhi.NewRef("acme", nhi.HumanUser, "u\x00")}}
			return r
		}(), "relationship 0"},
	}
	s, err := st.BeginSync(ctx, "acme", "", at)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Rollback()
	for _, c := range cases {
		err := s.Put(ctx, c.stream, c.rec)
		if !errors.Is(err, store.ErrInvalidRecord) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an invalid-record error mentioning %q", c.name, err, c.want)
		}
	}
	// NUL inside JSON is escaped, so attributes may hold it.
	ok := withExt("good")
	ok.Name = new("nul \x00 inside")
	if err := s.Put(ctx, "keys", ok); err != nil {
		t.Fatal(err)
	}
	if err := s.EndStream(ctx, store.StreamResult{Stream: "keys", Outcome: store.Complete}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, at); err != nil {
		t.Fatalf("Commit after refused records: %v", err)
	}
	es, err := st.Entities(ctx, store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || *es[0].Name != "nul \x00 inside" {
		t.Errorf("stored %+v, want only the good record, its name intact", es)
	}
	if _, err := st.BeginSync(ctx, "ac\x00me", "", at); err == nil {
		t.Error("BeginSync with a NUL in the source succeeded")
	}
}

// A record Put several times in one run, and an edge listed twice in one
// record, are written once, as in SQLite: the last Put and the last
// listing win, in its position.
func TestRepeatedPutsAndEdgesMerged(t *testing.T) {
	st := openFresh(t)
	ctx := context.Background()
	user := func(id string) nhi.Ref { return nhi.NewRef("acme", nhi.HumanUser, id) }
	r := testRecord("acme", 1)
	r.Relationships = []nhi.Relationship{
		{Type: nhi.OwnedBy, Target: user("a")},
		{Type: nhi.MemberOf, Target: user("b")},
		{Type: nhi.OwnedBy, Target: user("a"), Privilege: new(nhi.Admin)},
	}
	many := testRecord("acme", 2) // long enough to be indexed, not scanned
	for i := range 20 {
		many.Relationships = append(many.Relationships, nhi.Relationship{Type: nhi.CanAccess, Target: user(fmt.Sprint(i % 10))})
	}
	s, err := st.BeginSync(ctx, "acme", "", at)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Rollback()
	first := testRecord("acme", 1)
	first.Name = new("first put")
	for _, rec := range []*nhi.Record{first, many, r} {
		if err := s.Put(ctx, "keys", rec); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Commit(ctx, at); err != nil {
		t.Fatal(err)
	}
	es, err := st.Entities(ctx, store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 {
		t.Fatalf("%d entities, want 2", len(es))
	}
	if *es[0].Name == "first put" {
		t.Error("the first Put of a record won; the last must")
	}
	var got []string
	for _, rel := range es[0].Relationships {
		p := ""
		if rel.Privilege != nil {
			p = string(*rel.Privilege)
		}
		got = append(got, fmt.Sprintf("%s %s %s", rel.Type, rel.Target.ExternalID, p))
	}
	if want := []string{"MEMBER_OF b ", "OWNED_BY a admin"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("relationships %q, want %q", got, want)
	}
	if n := len(es[1].Relationships); n != 2+10 {
		t.Errorf("%d relationships of a record listing 10 edges twice (plus 2), want 12", n)
	}
}
