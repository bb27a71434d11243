package audit_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/audit"
)

// clock is a deterministic Options.Now: one second a call.
func clock() func() time.Time {
	var n atomic.Int64
	base := time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.UTC)
	return func() time.Time { return base.Add(time.Duration(n.Add(1)) * time.Second) }
}

// seed appends a varied chain of n entries and returns them.
func seed(t *testing.T, l *audit.Log, n int) []audit.Entry {
	t.Helper()
	actors := []audit.Actor{{Kind: audit.ActorPerson, Name: "alice"}, {Kind: audit.ActorAgent, Name: "heuristic"}, {Kind: audit.ActorScheduler, Name: "river"}}
	actions := []string{"proposal.approve", "agent.tool.write_spec", "sync.run"}
	bounds := []string{audit.BoundaryNone, audit.BoundarySandbox, audit.BoundaryProduction}
	var out []audit.Entry
	for i := range n {
		e, err := l.Append(t.Context(), audit.Event{
			Actor: actors[i%3], Action: actions[i%3], Object: fmt.Sprintf("proposal:%d", i%4), Boundary: bounds[i%3],
			Details: map[string]any{"i": i, "digest": fmt.Sprintf("%064d", i), "nested": map[string]any{"list": []any{"a", 1.5, true, nil}}},
		})
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		out = append(out, e)
	}
	return out
}

func mustVerify(t *testing.T, l *audit.Log) audit.Report {
	t.Helper()
	rep, err := l.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestChainIsValidAndLinked(t *testing.T) { eachBackend(t, testChainIsValidAndLinked) }

func testChainIsValidAndLinked(t *testing.T, be backend) {
	db := be.OpenDB(t)
	l := audit.New(db, audit.Options{Now: clock()})
	if rep := mustVerify(t, l); !rep.OK || rep.Entries != 0 || rep.Head != "" {
		t.Fatalf("empty log: %+v", rep)
	}
	got := seed(t, l, 12)
	prev := ""
	for i, e := range got {
		if e.Seq != int64(i+1) || e.PrevHash != prev || len(e.Hash) != 64 {
			t.Errorf("entry %d: seq %d prev %q hash %q; want seq %d linked to %q", i, e.Seq, e.PrevHash, e.Hash, i+1, prev)
		}
		if h, err := audit.Hash(e); err != nil || h != e.Hash {
			t.Errorf("entry %d: Hash() = %s, %v; stored %s", e.Seq, h, err, e.Hash)
		}
		prev = e.Hash
	}
	rep := mustVerify(t, l)
	if !rep.OK || rep.Entries != 12 || rep.Head != got[11].Hash || rep.HeadSeq != 12 || len(rep.Problems) != 0 {
		t.Fatalf("report: %+v", rep)
	}
	head, err := l.Head(t.Context())
	if err != nil || head != rep.Checkpoint() {
		t.Fatalf("Head() = %v, %v; report head %v", head, err, rep.Checkpoint())
	}
	if rep, err := l.VerifyHead(t.Context(), head.String()); err != nil || !rep.OK {
		t.Fatalf("VerifyHead(current head): %+v, %v", rep, err)
	}
	if rep, err := l.VerifyHead(t.Context(), got[4].Hash); err != nil || !rep.OK {
		t.Fatalf("VerifyHead(an older bare hash): %+v, %v", rep, err)
	}
	// What List returns is what Append returned, and re-hashes to it.
	listed, err := l.List(t.Context(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != len(got) {
		t.Fatalf("listed %d, appended %d", len(listed), len(got))
	}
	for i := range listed {
		a, _ := json.Marshal(listed[i])
		b, _ := json.Marshal(got[i])
		if string(a) != string(b) {
			t.Errorf("listed %s\nappended %s", a, b)
		}
		if h, err := audit.Hash(listed[i]); err != nil || h != listed[i].Hash {
			t.Errorf("listed entry %d re-hashes to %s, %v", listed[i].Seq, h, err)
		}
	}
}

func TestList(t *testing.T) { eachBackend(t, testList) }

func testList(t *testing.T, be backend) {
	l := audit.New(be.OpenDB(t), audit.Options{Now: clock()})
	seed(t, l, 12) // actors alice, heuristic, river in turn; objects proposal:0..3 in turn
	if _, err := l.Append(t.Context(), audit.Event{Actor: audit.Actor{Kind: audit.ActorAgent, Name: "heuristic"},
		Action: "agent.toolbox", Object: "x_%", Boundary: audit.BoundarySandbox}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    audit.Filter
		want []int64
	}{
		{"all", audit.Filter{}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}},
		{"actor name", audit.Filter{Actor: "alice"}, []int64{1, 4, 7, 10}},
		{"actor kind:name", audit.Filter{Actor: "scheduler:river"}, []int64{3, 6, 9, 12}},
		{"actor wrong kind", audit.Filter{Actor: "person:river"}, nil},
		{"action exact", audit.Filter{Action: "sync.run"}, []int64{3, 6, 9, 12}},
		{"action dotted prefix", audit.Filter{Action: "agent.tool"}, []int64{2, 5, 8, 11}},
		{"action prefix is dotted, not textual", audit.Filter{Action: "agent.too"}, nil},
		{"action wildcard chars are literal", audit.Filter{Action: "agent_tool"}, nil},
		{"object", audit.Filter{Object: "proposal:1"}, []int64{2, 6, 10}},
		{"object with LIKE characters", audit.Filter{Object: "x_%"}, []int64{13}},
		{"boundary", audit.Filter{Boundary: audit.BoundaryProduction}, []int64{3, 6, 9, 12}},
		{"after", audit.Filter{After: 10}, []int64{11, 12, 13}},
		{"limit: oldest first", audit.Filter{Limit: 3}, []int64{1, 2, 3}},
		{"limit tail: newest, still in order", audit.Filter{Limit: 3, Tail: true}, []int64{11, 12, 13}},
		{"combined", audit.Filter{Actor: "heuristic", Boundary: audit.BoundarySandbox, After: 3, Limit: 2}, []int64{5, 8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.List(t.Context(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []int64
			for _, e := range got {
				seqs = append(seqs, e.Seq)
			}
			if fmt.Sprint(seqs) != fmt.Sprint(tc.want) {
				t.Errorf("List(%+v) = %v, want %v", tc.f, seqs, tc.want)
			}
		})
	}
}

func TestInvalidEventsAreRefusedAndNothingIsStored(t *testing.T) {
	eachBackend(t, testInvalidEventsAreRefusedAndNothingIsStored)
}

func testInvalidEventsAreRefusedAndNothingIsStored(t *testing.T, be backend) {
	l := audit.New(be.OpenDB(t), audit.Options{Now: clock(), MaxDetailsBytes: 256})
	ok := audit.Event{Actor: audit.Actor{Kind: audit.ActorPerson, Name: "alice"}, Action: "proposal.approve", Object: "proposal:1", Boundary: audit.BoundaryNone}
	tests := []struct {
		name   string
		change func(e *audit.Event)
		want   string
	}{
		{"no actor kind", func(e *audit.Event) { e.Actor.Kind = "" }, "Actor.Kind"},
		{"unknown actor kind", func(e *audit.Event) { e.Actor.Kind = "robot" }, "Actor.Kind"},
		{"no actor name", func(e *audit.Event) { e.Actor.Name = "" }, "Actor.Name is empty"},
		{"no action", func(e *audit.Event) { e.Action = "" }, "Action is empty"},
		{"no boundary", func(e *audit.Event) { e.Boundary = "" }, "set Boundary"},
		{"unknown boundary", func(e *audit.Event) { e.Boundary = "staging" }, "set Boundary"},
		{"huge object", func(e *audit.Event) { e.Object = strings.Repeat("o", 2000) }, "Object is 2000 bytes"},
		{"invalid UTF-8", func(e *audit.Event) { e.Actor.Name = "\xff" }, "not valid UTF-8"},
		{"details over the limit", func(e *audit.Event) { e.Details = map[string]any{"blob": strings.Repeat("x", 300)} }, "over the 256-byte limit"},
		{"details not JSON", func(e *audit.Event) { e.Details = map[string]any{"ch": make(chan int)} }, "not encodable as JSON"},
		{"time out of range", func(e *audit.Event) { e.Time = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) }, "storable range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := ok
			tc.change(&ev)
			_, err := l.Append(t.Context(), ev)
			if !errors.Is(err, audit.ErrInvalidEvent) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Append: %v; want ErrInvalidEvent mentioning %q", err, tc.want)
			}
		})
	}
	if rep := mustVerify(t, l); rep.Entries != 0 {
		t.Fatalf("refused events were stored: %+v", rep)
	}
	// The default limit is 8 KiB.
	big := audit.New(be.OpenDB(t), audit.Options{})
	ev := ok
	ev.Details = map[string]any{"blob": strings.Repeat("x", audit.DefaultMaxDetailsBytes)}
	if _, err := big.Append(t.Context(), ev); !errors.Is(err, audit.ErrInvalidEvent) {
		t.Fatalf("8 KiB of details: %v", err)
	}
	ev.Details = map[string]any{"blob": strings.Repeat("x", audit.DefaultMaxDetailsBytes-100)}
	if _, err := big.Append(t.Context(), ev); err != nil {
		t.Fatalf("just under 8 KiB of details: %v", err)
	}
}

func TestDetailsAreCanonicalAndExact(t *testing.T) { eachBackend(t, testDetailsAreCanonicalAndExact) }

func testDetailsAreCanonicalAndExact(t *testing.T, be backend) {
	db := be.OpenDB(t)
	l := audit.New(db, audit.Options{Now: clock()})
	type payload struct {
		Z string `json:"z"`
		A int    `json:"a"`
	}
	e, err := l.Append(t.Context(), audit.Event{Actor: audit.Actor{Kind: audit.ActorPerson, Name: "bob"}, Action: "x.y", Boundary: audit.BoundaryNone,
		Details: map[string]any{"big": int64(1) << 62, "html": "<a&b>", "struct": payload{Z: "z", A: 1}, "b": 1, "a": 2}})
	if err != nil {
		t.Fatal(err)
	}
	var raw string
	if err := db.QueryRow(`SELECT details FROM audit_log WHERE seq = 1`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	want := `{"a":2,"b":1,"big":4611686018427387904,"html":"<a&b>","struct":{"a":1,"z":"z"}}`
	if raw != want {
		t.Errorf("stored details\n %s\nwant\n %s", raw, want)
	}
	if got := fmt.Sprint(e.Details["big"]); got != "4611686018427387904" {
		t.Errorf("a large integer came back as %s", got)
	}
	if e.Time != time.Date(2026, 3, 1, 9, 0, 1, 123456789, time.UTC) {
		t.Errorf("time %s: the clock's, in UTC, to the nanosecond", e.Time)
	}
	// An explicit time in another zone is kept as the same instant.
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	e2, err := l.Append(t.Context(), audit.Event{Actor: audit.Actor{Kind: audit.ActorPerson, Name: "bob"}, Action: "x.y", Boundary: audit.BoundaryNone, Time: at})
	if err != nil || !e2.Time.Equal(at) || e2.Time.Location() != time.UTC || e2.Details != nil {
		t.Fatalf("explicit time: %+v, %v", e2, err)
	}
}

func TestRedactionBeforeHashingAndStoring(t *testing.T) {
	eachBackend(t, testRedactionBeforeHashingAndStoring)
}

func testRedactionBeforeHashingAndStoring(t *testing.T, be backend) {
	const secret = "s3cr3t-t0k3n"
	redact := func(s string) string { return strings.ReplaceAll(s, secret, "[REDACTED]") }
	db := be.OpenDB(t)
	l := audit.New(db, audit.Options{Now: clock(), Redact: redact})
	e, err := l.Append(t.Context(), audit.Event{
		Actor:    audit.Actor{Kind: audit.ActorPerson, Name: "alice " + secret},
		Action:   "credential.set",
		Object:   "credential:okta?" + secret,
		Boundary: audit.BoundaryProduction,
		Details: map[string]any{
			"reason":   "pasted " + secret + " by mistake",
			"nested":   map[string]any{"deep": []any{"x", "y=" + secret, map[string]any{"k": secret}}},
			secret:     "as a key",
			"strings":  []string{secret},
			"untouchd": 42,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := json.Marshal(e)
	if strings.Contains(string(enc), secret) {
		t.Errorf("returned entry holds the secret: %s", enc)
	}
	if !strings.Contains(string(enc), "[REDACTED]") {
		t.Errorf("returned entry shows no redaction: %s", enc)
	}
	// Every stored column, as text.
	rows, err := db.Query(`SELECT * FROM audit_log`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if strings.Contains(v.String, secret) {
				t.Errorf("column %s stores the secret: %s", cols[i], v.String)
			}
		}
	}
	if rep := mustVerify(t, l); !rep.OK {
		t.Fatalf("the redacted entry does not verify: %+v", rep)
	}
	// A redaction that merges two keys would drop a value: refused.
	_, err = l.Append(t.Context(), audit.Event{Actor: audit.Actor{Kind: audit.ActorPerson, Name: "a"}, Action: "x", Boundary: audit.BoundaryNone,
		Details: map[string]any{secret: 1, "[REDACTED]": 2}})
	if !errors.Is(err, audit.ErrInvalidEvent) {
		t.Fatalf("colliding keys: %v", err)
	}
}

func TestDatabaseRefusesChanges(t *testing.T) { eachBackend(t, testDatabaseRefusesChanges) }

func testDatabaseRefusesChanges(t *testing.T, be backend) {
	db := be.OpenDB(t)
	l := audit.New(db, audit.Options{Now: clock()})
	got := seed(t, l, 3)
	tests := []struct{ name, sql, want, only string }{
		{"update", `UPDATE audit_log SET object = 'x' WHERE seq = 2`, "append-only", ""},
		{"delete one", `DELETE FROM audit_log WHERE seq = 3`, "append-only", ""},
		{"delete all", `DELETE FROM audit_log`, "append-only", ""},
		{"truncate", `TRUNCATE audit_log`, "append-only", "postgres"},
		{"insert out of order", `INSERT INTO audit_log (seq, v, at, actor_kind, actor_name, action, object, boundary, prev_hash, hash)
			VALUES (9, 1, 0, 'person', 'm', 'a', 'o', 'none', '` + got[2].Hash + `', 'h9')`, "extend the chain", ""},
		{"insert unlinked", `INSERT INTO audit_log (seq, v, at, actor_kind, actor_name, action, object, boundary, prev_hash, hash)
			VALUES (4, 1, 0, 'person', 'm', 'a', 'o', 'none', 'nope', 'h4')`, "extend the chain", ""},
		{"replace", `INSERT OR REPLACE INTO audit_log (seq, v, at, actor_kind, actor_name, action, object, boundary, prev_hash, hash)
			VALUES (2, 1, 0, 'person', 'm', 'a', 'o', 'none', '` + got[0].Hash + `', 'h2')`, "extend the chain", "sqlite"},
		{"upsert", `INSERT INTO audit_log (seq, v, at, actor_kind, actor_name, action, object, boundary, prev_hash, hash)
			VALUES (2, 1, 0, 'person', 'm', 'a', 'o', 'none', '` + got[0].Hash + `', 'h2')
			ON CONFLICT (seq) DO UPDATE SET object = excluded.object, hash = excluded.hash`, "extend the chain", ""},
	}
	for _, tc := range tests {
		if tc.only != "" && tc.only != be.Name {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			if _, err := db.Exec(tc.sql); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s: err = %v, want one mentioning %q", tc.sql, err, tc.want)
			}
		})
	}
	if rep := mustVerify(t, l); !rep.OK || rep.Entries != 3 {
		t.Fatalf("after refused changes: %+v", rep)
	}
}

// dropGuards removes the triggers, as someone with write access to the
// database could: what is left to catch them is the chain.
func dropGuards(t *testing.T, b backend, db *sql.DB) {
	t.Helper()
	for _, tr := range []string{"audit_log_no_update", "audit_log_no_delete", "audit_log_append_only_insert"} {
		b.DropTrigger(t, db, "audit_log", tr)
	}
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// rewrite replaces entries from seq on with edit applied to the first,
// every hash recomputed and relinked: a forger who knows the encoding.
func rewrite(t *testing.T, db *sql.DB, l *audit.Log, from int64, edit func(*audit.Entry)) {
	t.Helper()
	es, err := l.List(t.Context(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	prev := es[from-2].Hash
	if from == 1 {
		prev = ""
	}
	for _, e := range es[from-1:] {
		if e.Seq == from {
			edit(&e)
		}
		e.PrevHash = prev
		h, err := audit.Hash(e)
		if err != nil {
			t.Fatal(err)
		}
		exec(t, db, `UPDATE audit_log SET object = ?, prev_hash = ?, hash = ? WHERE seq = ?`, e.Object, e.PrevHash, h, e.Seq)
		prev = h
	}
}

func TestTamperingIsDetected(t *testing.T) { eachBackend(t, testTamperingIsDetected) }

func testTamperingIsDetected(t *testing.T, be backend) {
	type want struct {
		seq  int64
		what string
	}
	tests := []struct {
		name   string
		tamper func(t *testing.T, db *sql.DB, l *audit.Log)
		// verify: what Verify reports (nil: the chain alone looks intact).
		verify []want
		// head, bare: what VerifyHead against the head recorded before
		// the tampering, as SEQ:HASH and as a bare hash, reports in
		// addition.
		head, bare []want
	}{
		{
			name: "edited details",
			tamper: func(t *testing.T, db *sql.DB, l *audit.Log) {
				exec(t, db, `UPDATE audit_log SET details = '{"i":99}' WHERE seq = 3`)
			},
			verify: []want{{3, "does not match its hash"}},
		},
		{
			name: "edited actor",
			tamper: func(t *testing.T, db *sql.DB, l *audit.Log) {
				exec(t, db, `UPDATE audit_log SET actor_name = 'mallory' WHERE seq = 2`)
			},
			verify: []want{{2, "does not match its hash"}},
		},
		{
			name: "edited time",
			tamper: func(t *testing.T, db *sql.DB, l *audit.Log) {
				exec(t, db, `UPDATE audit_log SET at = at + 1 WHERE seq = 5`)
			},
			verify: []want{{5, "does not match its hash"}},
		},
		{
			name: "edited boundary",
			tamper: func(t *testing.T, db *sql.DB, l *audit.Log) {
				exec(t, db, `UPDATE audit_log SET boundary = 'sandbox' WHERE seq = 3`)
			},
			verify: []want{{3, "does not match its hash"}},
		},
		{
			name: "details made unreadable",
			tamper: func(t *testing.T, db *sql.DB, l *audit.Log) {
				exec(t, db, `UPDATE audit_log SET details = '{not json' WHERE seq = 4`)
			},
			verify: []want{{4, "cannot recompute its hash"}},
		},
		{
			name: "edited and its own hash recomputed",
			tamper: func(t *testing.T, db *sql.DB, l *audit.Log) {
				es, _ := l.List(t.Context(), audit.Filter{})
				e := es[2]
				e.Object = "proposal:forged"
				h, _ := audit.Hash(e)
				exec(t, db, `UPDATE audit_log SET object = ?, hash = ? WHERE seq = 3`, e.Object, h)
			},
			verify: []want{{4, "prev_hash"}},
		},
		{
			name:   "deleted in the middle",
			tamper: func(t *testing.T, db *sql.DB, l *audit.Log) { exec(t, db, `DELETE FROM audit_log WHERE seq = 3`) },
			verify: []want{{4, "entry 3 is missing"}, {4, "prev_hash"}},
		},
		{
			name: "deleted several",
			tamper: func(t *testing.T, db *sql.DB, l *audit.Log) {
				exec(t, db, `DELETE FROM audit_log WHERE seq BETWEEN 2 AND 4`)
			},
			verify: []want{{5, "entries 2 to 4 are missing"}, {5, "prev_hash"}},
		},
		{
			name:   "deleted the first",
			tamper: func(t *testing.T, db *sql.DB, l *audit.Log) { exec(t, db, `DELETE FROM audit_log WHERE seq = 1`) },
			verify: []want{{2, "entry 1 is missing"}, {2, "first entry's prev_hash"}},
		},
		{
			name: "deleted and the rest renumbered",
			tamper: func(t *testing.T, db *sql.DB, l *audit.Log) {
				exec(t, db, `DELETE FROM audit_log WHERE seq = 3`)
				for s := 4; s <= 6; s++ {
					exec(t, db, `UPDATE audit_log SET seq = ? WHERE seq = ?`, s-1, s)
				}
			},
			verify: []want{{3, "prev_hash"}, {3, "does not match its hash"}, {4, "does not match its hash"}, {5, "does not match its hash"}},
			head:   []want{{6, "truncated"}},
			bare:   nil, // the old head's row is still there, at seq 5
		},
		{
			name: "two entries swapped",
			tamper: func(t *testing.T, db *sql.DB, l *audit.Log) {
				exec(t, db, `UPDATE audit_log SET seq = -1 WHERE seq = 2`)
				exec(t, db, `UPDATE audit_log SET seq = 2 WHERE seq = 3`)
				exec(t, db, `UPDATE audit_log SET seq = 3 WHERE seq = -1`)
			},
			verify: []want{{2, "prev_hash"}, {2, "does not match its hash"}, {3, "prev_hash"}, {3, "does not match its hash"}, {4, "prev_hash"}},
		},
		{
			name: "an entry forged onto the end",
			tamper: func(t *testing.T, db *sql.DB, l *audit.Log) {
				var head string
				db.QueryRow(`SELECT hash FROM audit_log WHERE seq = 6`).Scan(&head)
				exec(t, db, `INSERT INTO audit_log (seq, v, at, actor_kind, actor_name, action, object, boundary, prev_hash, hash)
					VALUES (7, 1, 0, 'person', 'mallory', 'proposal.approve', 'proposal:1', 'none', ?, ?)`, head, strings.Repeat("ab", 32))
			},
			verify: []want{{7, "does not match its hash"}},
		},
		{
			name: "forged tail: last entry rewritten with a valid hash",
			tamper: func(t *testing.T, db *sql.DB, l *audit.Log) {
				rewrite(t, db, l, 6, func(e *audit.Entry) { e.Object = "proposal:forged" })
			},
			verify: nil, // a self-consistent chain: only the recorded head shows it
			head:   []want{{6, "was rewritten"}},
			bare:   []want{{6, "is in no entry"}},
		},
		{
			name: "forged tail: rewritten from the middle on",
			tamper: func(t *testing.T, db *sql.DB, l *audit.Log) {
				rewrite(t, db, l, 3, func(e *audit.Entry) { e.Object = "proposal:forged" })
			},
			verify: nil,
			head:   []want{{6, "was rewritten"}},
			bare:   []want{{6, "is in no entry"}},
		},
		{
			name:   "truncated: newest entries deleted",
			tamper: func(t *testing.T, db *sql.DB, l *audit.Log) { exec(t, db, `DELETE FROM audit_log WHERE seq >= 5`) },
			verify: nil, // a shorter chain is still a chain
			head:   []want{{6, "log ends at seq 4"}},
			bare:   []want{{4, "is in no entry"}},
		},
		{
			name:   "everything deleted",
			tamper: func(t *testing.T, db *sql.DB, l *audit.Log) { exec(t, db, `DELETE FROM audit_log`) },
			verify: nil,
			head:   []want{{6, "log ends at seq 0"}},
			bare:   []want{{0, "is in no entry"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := be.OpenDB(t)
			l := audit.New(db, audit.Options{Now: clock()})
			seed(t, l, 6)
			head, err := l.Head(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			dropGuards(t, be, db)
			tc.tamper(t, db, l)

			check := func(name string, rep audit.Report, want []want) {
				t.Helper()
				if rep.OK != (len(want) == 0) {
					t.Errorf("%s: OK = %t, problems %+v", name, rep.OK, rep.Problems)
				}
				if len(rep.Problems) != len(want) {
					t.Errorf("%s: %d problems, want %d: %+v", name, len(rep.Problems), len(want), rep.Problems)
					return
				}
				for i, w := range want {
					p := rep.Problems[i]
					if p.Seq != w.seq || !strings.Contains(p.What, w.what) {
						t.Errorf("%s: problem %d = seq %d %q; want seq %d mentioning %q", name, i, p.Seq, p.What, w.seq, w.what)
					}
				}
			}
			rep, err := l.Verify(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			check("Verify", rep, tc.verify)
			for _, v := range []struct {
				name, head string
				extra      []want
			}{{"VerifyHead(SEQ:HASH)", head.String(), tc.head}, {"VerifyHead(HASH)", head.Hash, tc.bare}} {
				rep, err := l.VerifyHead(t.Context(), v.head)
				if err != nil {
					t.Fatal(err)
				}
				check(v.name, rep, append(append([]want(nil), tc.verify...), v.extra...))
			}
		})
	}
}

func TestVerifyBoundsItsReport(t *testing.T) { eachBackend(t, testVerifyBoundsItsReport) }

func testVerifyBoundsItsReport(t *testing.T, be backend) {
	db := be.OpenDB(t)
	l := audit.New(db, audit.Options{Now: clock()})
	for i := range 150 {
		if _, err := l.Append(t.Context(), audit.Event{Actor: audit.Actor{Kind: audit.ActorScheduler, Name: "river"}, Action: "sync.run",
			Object: fmt.Sprint(i), Boundary: audit.BoundaryProduction}); err != nil {
			t.Fatal(err)
		}
	}
	dropGuards(t, be, db)
	exec(t, db, `UPDATE audit_log SET actor_name = 'mallory'`)
	rep := mustVerify(t, l)
	if rep.OK || len(rep.Problems) != 100 || rep.Omitted != 50 || rep.Entries != 150 || rep.Problems[0].Seq != 1 {
		t.Fatalf("report: ok=%t problems=%d omitted=%d entries=%d", rep.OK, len(rep.Problems), rep.Omitted, rep.Entries)
	}
}

func TestParseCheckpoint(t *testing.T) {
	h := strings.Repeat("0a", 32)
	tests := []struct {
		in   string
		want audit.Checkpoint
		err  bool
	}{
		{"12:" + h, audit.Checkpoint{Seq: 12, Hash: h}, false},
		{h, audit.Checkpoint{Hash: h}, false},
		{"0:" + h, audit.Checkpoint{}, true},
		{"-1:" + h, audit.Checkpoint{}, true},
		{"x:" + h, audit.Checkpoint{}, true},
		{"12:" + strings.ToUpper(h), audit.Checkpoint{}, true},
		{"12:" + h[:60], audit.Checkpoint{}, true},
		{"", audit.Checkpoint{}, true},
	}
	for _, tc := range tests {
		got, err := audit.ParseCheckpoint(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseCheckpoint(%q) = %+v, %v", tc.in, got, err)
		}
		if err == nil && got.Seq > 0 && got.String() != tc.in {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), tc.in)
		}
	}
	l := audit.New(backends()[0].OpenDB(t), audit.Options{}) // refused before the database is read
	if _, err := l.VerifyHead(t.Context(), "nonsense"); err == nil {
		t.Error("VerifyHead accepted a malformed head")
	}
}

// A rolled-back transaction takes its entries with it and leaves no gap.
func TestAppendTxCommitsWithTheChange(t *testing.T) { eachBackend(t, testAppendTxCommitsWithTheChange) }

func testAppendTxCommitsWithTheChange(t *testing.T, be backend) {
	db := be.OpenDB(t)
	l := audit.New(db, audit.Options{Now: clock()})
	ev := audit.Event{Actor: audit.Actor{Kind: audit.ActorPerson, Name: "alice"}, Action: "proposal.approve", Object: "proposal:1", Boundary: audit.BoundaryNone}
	ctx := t.Context()

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendTx(ctx, tx, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendTx(ctx, tx, ev); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	e, err := l.Append(ctx, ev)
	if err != nil || e.Seq != 1 || e.PrevHash != "" {
		t.Fatalf("after a rollback: %+v, %v", e, err)
	}

	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := l.AppendTx(ctx, tx, ev)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.AppendTx(ctx, tx, ev)
	if err != nil || a.Seq != 2 || b.Seq != 3 || b.PrevHash != a.Hash {
		t.Fatalf("two appends in one transaction: %+v %+v %v", a, b, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, l); !rep.OK || rep.Entries != 3 {
		t.Fatalf("%+v", rep)
	}
}

func TestConcurrentAppendsKeepOneChain(t *testing.T) {
	eachBackend(t, testConcurrentAppendsKeepOneChain)
}

func testConcurrentAppendsKeepOneChain(t *testing.T, be backend) {
	// Two handles on one database stand for two processes: each has its
	// own connections, so only the store's writer lock orders them.
	dsn := be.Fresh(t)
	dbs := []*sql.DB{be.Open(t, dsn), be.Open(t, dsn)}
	logs := []*audit.Log{audit.New(dbs[0], audit.Options{}), audit.New(dbs[1], audit.Options{})}
	l := logs[0]
	const workers, each = 12, 15
	ctx := context.Background()
	var committed atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, l := dbs[w%2], logs[w%2]
			ev := audit.Event{Actor: audit.Actor{Kind: audit.ActorPerson, Name: fmt.Sprintf("w%d", w)}, Action: "test.append", Boundary: audit.BoundaryNone}
			for i := range each {
				ev.Object = fmt.Sprintf("w%d:%d", w, i)
				switch w % 3 {
				case 0: // its own transaction
					if _, err := l.Append(ctx, ev); err != nil {
						errs <- err
						continue
					}
					committed.Add(1)
				default: // two entries inside a caller's transaction; every third rolled back
					err := func() error {
						tx, err := db.BeginTx(ctx, nil)
						if err != nil {
							return err
						}
						defer tx.Rollback()
						a, err := l.AppendTx(ctx, tx, ev)
						if err != nil {
							return err
						}
						b, err := l.AppendTx(ctx, tx, ev)
						if err != nil {
							return err
						}
						if b.Seq != a.Seq+1 || b.PrevHash != a.Hash {
							return fmt.Errorf("entries of one transaction not adjacent: %d, %d", a.Seq, b.Seq)
						}
						if i%3 == 2 {
							return nil // rolled back by the defer
						}
						if err := tx.Commit(); err != nil {
							return err
						}
						committed.Add(2)
						return nil
					}()
					if err != nil {
						errs <- err
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rep := mustVerify(t, l)
	if !rep.OK || rep.Entries != committed.Load() || rep.HeadSeq != committed.Load() {
		t.Fatalf("after concurrent appends: %+v; %d committed", rep, committed.Load())
	}
	es, err := l.List(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, e := range es {
		if seen[e.Seq] {
			t.Fatalf("duplicate seq %d", e.Seq)
		}
		seen[e.Seq] = true
	}
}
