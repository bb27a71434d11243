package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/store"
	"github.com/spindlehq/spindle/internal/store/storetest"
)

func openAt(t testing.TB, path string) *Store {
	t.Helper()
	st, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openTemp(t testing.TB) *Store {
	return openAt(t, filepath.Join(t.TempDir(), "inventory.db"))
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

var at = time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)

// fill commits one run of n API keys of source "acme" to st.
func fill(t testing.TB, st store.Store, n int, when time.Time) {
	t.Helper()
	ctx := context.Background()
	s, err := st.BeginSync(ctx, "acme", "sha256:x", when)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Rollback()
	for i := range n {
		if err := s.Put(ctx, "keys", testRecord("acme", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EndStream(ctx, store.StreamResult{Stream: "keys", Outcome: store.Complete, Records: n}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, when.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
}

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

func TestReopenKeepsDataAndMigrationsAreIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inventory.db")
	st, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, st, 10, at)
	before := dump(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // migrations already applied: nothing to do, nothing lost
		st := openAt(t, path)
		if after := dump(t, st); after != before {
			t.Fatalf("reopened database differs\nbefore: %s\nafter:  %s", before, after)
		}
		st.Close()
	}
	st = openAt(t, path)
	var version int64
	if err := st.db.QueryRow(`SELECT max(version_id) FROM goose_db_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	// One version per embedded migration file: every one was applied.
	files, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %v %v", files, err)
	}
	if version != int64(len(files)) {
		t.Errorf("schema version %d, want %d (the number of migrations)", version, len(files))
	}
	var mode string
	if err := st.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q (%v), want wal", mode, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inventory.db")
	st := openAt(t, path)
	if _, err := st.db.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (99, 1)`); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := Open(context.Background(), path); err == nil {
		t.Fatal("Open of a database from a newer build succeeded, want an error")
	}
}

func TestOpenRefusesNonFilePaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db?mode=memory", filepath.Join(t.TempDir(), "a?b.db")} {
		if st, err := Open(context.Background(), p); err == nil {
			st.Close()
			t.Errorf("Open(%q) succeeded, want an error", p)
		}
	}
}

// A second run waits for the first instead of failing, and a run whose
// context ends is rolled back and frees the store for the next one.
func TestRunsAreSerialised(t *testing.T) {
	st := openTemp(t)
	ctx := context.Background()
	first, err := st.BeginSync(ctx, "acme", "", at)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := st.BeginSync(short, "other", "", at); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("BeginSync while another run is open: %v, want it to wait until its context ends", err)
	}
	got := make(chan error, 1)
	go func() {
		s, err := st.BeginSync(ctx, "other", "", at)
		if err == nil {
			_, err = s.Commit(ctx, at)
		}
		got <- err
	}()
	if err := first.Put(ctx, "keys", testRecord("acme", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Commit(ctx, at); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiting run: %v", err)
	}

	runCtx, stop := context.WithCancel(ctx)
	s, err := st.BeginSync(runCtx, "acme", "", at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(runCtx, "keys", testRecord("acme", 2)); err != nil {
		t.Fatal(err)
	}
	stop() // the caller forgot Rollback: the context alone must free the store
	next, cancel2 := context.WithTimeout(ctx, 5*time.Second)
	defer cancel2()
	s2, err := st.BeginSync(next, "acme", "", at.Add(2*time.Hour))
	if err != nil {
		t.Fatalf("BeginSync after a cancelled run: %v", err)
	}
	// s2 holds the write lock, so the cancelled run's transaction is over.
	if err := s.Put(ctx, "keys", testRecord("acme", 3)); err == nil || !strings.Contains(err.Error(), "context") {
		t.Errorf("Put into a run whose context ended: %v, want an error saying why", err)
	}
	s2.Rollback()
	if err := s.Rollback(); err != nil {
		t.Errorf("Rollback of a cancelled run: %v", err)
	}
	es, err := st.Entities(ctx, store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 {
		t.Errorf("%d entities, want 1: the cancelled run must leave nothing", len(es))
	}
}

const crashEnv = "SPINDLE_STORE_CRASH_DB"

// TestCrashMidRunKeepsInventory kills a process in the middle of a run (after
// it marked everything gone, before Commit) and checks the inventory is the
// one before the run, byte for byte.
func TestCrashMidRunKeepsInventory(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashingRun(path) // never returns
	}
	path := filepath.Join(t.TempDir(), "inventory.db")
	st := openAt(t, path)
	fill(t, st, 50, at)
	before := dump(t, st)
	st.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashMidRunKeepsInventory$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("crashing process: %v (want exit status 3)\n%s", err, out)
	}
	if after := dump(t, openAt(t, path)); after != before {
		t.Fatalf("inventory changed by a run that never committed\nbefore: %s\nafter:  %s", before, after)
	}
}

// crashingRun is the child of TestCrashMidRunKeepsInventory.
func crashingRun(path string) {
	ctx := context.Background()
	st, err := Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s, err := st.BeginSync(ctx, "acme", "", at.Add(time.Hour))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := 40; i < 2000; i++ { // enough to spill pages to the WAL
		if err := s.Put(ctx, "keys", testRecord("acme", i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if err := s.EndStream(ctx, store.StreamResult{Stream: "keys", Outcome: store.Complete}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(3) // die without Commit, Rollback or Close
}

// testRecord is a realistic API key: most fields set, two relationships.
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
