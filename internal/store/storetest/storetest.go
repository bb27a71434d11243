// Package storetest is the conformance suite every store.Store
// implementation must pass (the idea of River's riverdrivertest): the
// cleanup-safe sync semantics are the product, so they are specified once,
// here, and run against SQLite and PostgreSQL alike.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
//	}
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/store"
)

// Run runs the suite. open must return an empty store, a new one each call,
// and arrange for it to be closed (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, st store.Store)
	}{
		{"RoundTripEveryField", testRoundTrip},
		{"PutDoesNotModifyTheRecord", testPutDoesNotModify},
		{"FirstSeenKeptLastSeenAdvanced", testFirstLastSeen},
		{"CompleteStreamMarksAbsentGone", testCompleteMarksGone},
		{"FailedOrPartialStreamShrinksNothing", testIncompleteShrinksNothing},
		{"DeniedStreamMarksUnverified", testDeniedMarksUnverified},
		{"StreamsAreIndependent", testStreamsIndependent},
		{"RollbackLeavesPreviousState", testRollback},
		{"UncommittedRunIsInvisible", testInvisibleUntilCommit},
		{"SourcesDoNotInterfere", testSourcesIndependent},
		{"RelationshipsReplacedFirstSeenKept", testRelationships},
		{"RunsRecordStreamsAndStatus", testRuns},
		{"RunStatusFromOutcomes", testRunStatus},
		{"StreamNullCountsKept", testStreamNulls},
		{"InvalidRecordRejected", testInvalidRecord},
		{"BadCallsRejected", testBadCalls},
		{"QueryFiltersAndOrder", testQuery},
		{"ConcurrentStreams", testConcurrentStreams},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, open(t)) })
	}
}

// Run times: nanosecond precision on purpose, so truncation shows.
var (
	t1 = time.Date(2025, 3, 1, 10, 0, 0, 123456789, time.UTC)
	t2 = t1.Add(24 * time.Hour)
	t3 = t2.Add(24 * time.Hour)
	t4 = t3.Add(24 * time.Hour)
)

const src = "acme"

// rec is a minimal valid record of src: every optional field nil.
func rec(kind nhi.Kind, externalID string) *nhi.Record {
	return recOf(src, kind, externalID)
}

func recOf(source string, kind nhi.Kind, externalID string) *nhi.Record {
	return &nhi.Record{ID: nhi.StableID(source, kind, externalID), Source: source, Kind: kind, ExternalID: externalID}
}

func ptr[T any](v T) *T { return &v }

// put is one Put of a run.
type put struct {
	stream string
	rec    *nhi.Record
}

// sync applies one run of source at time at: the puts, then the stream
// results, then Commit (finishing a minute later).
func sync(t *testing.T, st store.Store, source string, at time.Time, puts []put, results ...store.StreamResult) store.Run {
	t.Helper()
	ctx := context.Background()
	s, err := st.BeginSync(ctx, source, "sha256:spec", at)
	if err != nil {
		t.Fatalf("BeginSync: %v", err)
	}
	defer s.Rollback()
	for _, p := range puts {
		if err := s.Put(ctx, p.stream, p.rec); err != nil {
			t.Fatalf("Put %s/%s: %v", p.rec.Kind, p.rec.ExternalID, err)
		}
	}
	for _, r := range results {
		if err := s.EndStream(ctx, r); err != nil {
			t.Fatalf("EndStream %s: %v", r.Stream, err)
		}
	}
	run, err := s.Commit(ctx, at.Add(time.Minute))
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return run
}

// puts builds the puts of stream for the given external IDs of kind.
func puts(stream string, kind nhi.Kind, ids ...string) []put {
	var out []put
	for _, id := range ids {
		out = append(out, put{stream, rec(kind, id)})
	}
	return out
}

func ended(stream string, o store.Outcome) store.StreamResult {
	return store.StreamResult{Stream: stream, Outcome: o}
}

func entities(t *testing.T, st store.Store, q store.Query) []store.Entity {
	t.Helper()
	es, err := st.Entities(context.Background(), q)
	if err != nil {
		t.Fatalf("Entities(%+v): %v", q, err)
	}
	return es
}

// byExternalID returns the entities of src keyed by external ID.
func byExternalID(t *testing.T, st store.Store) map[string]store.Entity {
	t.Helper()
	m := map[string]store.Entity{}
	for _, e := range entities(t, st, store.Query{Source: src}) {
		m[e.ExternalID] = e
	}
	return m
}

// state is what the store should say about one entity.
type state struct {
	presence           store.Presence
	since, first, last time.Time
}

func checkState(t *testing.T, got map[string]store.Entity, want map[string]state) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d entities %v, want %d", len(got), keys(got), len(want))
	}
	for id, w := range want {
		e, ok := got[id]
		if !ok {
			t.Errorf("%s: missing; the store must never delete an entity", id)
			continue
		}
		if e.Presence != w.presence {
			t.Errorf("%s: presence %s, want %s", id, e.Presence, w.presence)
		}
		if !e.PresenceSince.Equal(w.since) {
			t.Errorf("%s: presence_since %s, want %s", id, e.PresenceSince, w.since)
		}
		if e.FirstSeen == nil || !e.FirstSeen.Equal(w.first) {
			t.Errorf("%s: first_seen %v, want %s", id, e.FirstSeen, w.first)
		}
		if e.LastSeen == nil || !e.LastSeen.Equal(w.last) {
			t.Errorf("%s: last_seen %v, want %s", id, e.LastSeen, w.last)
		}
	}
}

func keys(m map[string]store.Entity) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// mustJSON renders v for byte comparison and readable failures.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func deepEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s differs\ngot:  %s\nwant: %s", what, mustJSON(t, got), mustJSON(t, want))
	}
}

// fullRecord sets every field of nhi.Record, times in a non-UTC zone.
func fullRecord() *nhi.Record {
	zone := time.FixedZone("UTC+2", 2*3600)
	at := func(d int) *time.Time { t := time.Date(2024, 1, d, 8, 30, 0, 987654321, zone); return &t }
	r := rec(nhi.ServiceAccount, "sa-1")
	r.Name = ptr("deploy bot")
	r.Status = ptr(nhi.Active)
	r.CreatedAt, r.UpdatedAt, r.LastUsedAt, r.ExpiresAt, r.LastRotatedAt = at(1), at(2), at(3), at(28), at(4)
	r.Owner = ptr(nhi.NewRef(src, nhi.HumanUser, "u-1"))
	r.Creator = ptr(nhi.NewRef(src, nhi.Team, "t-1"))
	r.Scopes = []string{"repo:read", "admin:org", "ünïcode <&>"}
	r.Privilege = ptr(nhi.Admin)
	r.CredentialType = ptr(nhi.Static)
	r.ThirdParty = ptr(false) // false is a value, not null
	r.Publisher = ptr("Acme Inc.")
	r.Environment = ptr("production")
	r.FirstSeen, r.LastSeen = at(5), at(6) // the store's to set: ignored
	// The runtime's data model: integers that fit are int64 (exact, even
	// beyond 2^53), other numbers float64; the two must not merge.
	r.Attributes = map[string]any{
		"string": "v", "float": 42.5, "whole_float": 1.0, "int": int64(1), "big_id": int64(1<<62 + 1),
		"bool": true, "null": nil, "empty": "",
		"list":   []any{"a", int64(7), 7.0, false},
		"nested": map[string]any{"deep": map[string]any{"k": "v", "n": int64(-3)}},
	}
	r.Relationships = []nhi.Relationship{
		{Type: nhi.OwnedBy, Target: nhi.NewRef(src, nhi.HumanUser, "u-1")},
		{Type: nhi.CanAccess, Target: nhi.NewRef(src, nhi.Resource, "repo-1"), Privilege: ptr(nhi.Write),
			FirstSeen: at(7), LastSeen: at(8)}, // ignored too
		{Type: nhi.MemberOf, Target: nhi.NewRef(src, nhi.Team, "t-1")},
	}
	return r
}

// asStored is what the store should return for r put at run time at: the
// same record with times in UTC and first/last_seen set by the store.
func asStored(r *nhi.Record, at time.Time) nhi.Record {
	c := clone(r)
	for _, p := range []**time.Time{&c.CreatedAt, &c.UpdatedAt, &c.LastUsedAt, &c.ExpiresAt, &c.LastRotatedAt} {
		if *p != nil {
			*p = ptr((**p).UTC())
		}
	}
	c.FirstSeen, c.LastSeen = ptr(at), ptr(at)
	for i := range c.Relationships {
		c.Relationships[i].FirstSeen, c.Relationships[i].LastSeen = ptr(at), ptr(at)
	}
	return c
}

// clone deep-copies r, keeping nil vs empty and attribute value types.
func clone(r *nhi.Record) nhi.Record {
	b, err := json.Marshal(r) // every field but attributes survives JSON exactly
	if err != nil {
		panic(err)
	}
	var c nhi.Record
	if err := json.Unmarshal(b, &c); err != nil {
		panic(err)
	}
	c.Attributes, _ = cloneValue(r.Attributes).(map[string]any)
	return c
}

func cloneValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if t == nil {
			return t
		}
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = cloneValue(e)
		}
		return out
	case []any:
		if t == nil {
			return t
		}
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}

func testRoundTrip(t *testing.T, st store.Store) {
	empty := rec(nhi.Webhook, "wh-empty") // non-nil but empty collections stay empty
	empty.Scopes, empty.Attributes, empty.Relationships = []string{}, map[string]any{}, []nhi.Relationship{}
	cases := []struct {
		name string
		rec  *nhi.Record
	}{
		{"every field set", fullRecord()},
		{"every field nil", rec(nhi.APIKey, "key-nil")},
		{"empty collections", empty},
		{"external id with odd characters", rec(nhi.Certificate, "CN=*.example.com/ü 'quoted' \"x\"\n")},
	}
	// A field added to nhi.Record must be added to fullRecord, or this
	// suite would not notice a store that drops it.
	full := reflect.ValueOf(fullRecord()).Elem()
	for i := range full.NumField() {
		if full.Field(i).IsZero() {
			t.Errorf("fullRecord leaves nhi.Record.%s unset; set it so its round trip is tested", full.Type().Field(i).Name)
		}
	}
	var ps []put
	for _, c := range cases {
		ps = append(ps, put{"main", c.rec})
	}
	sync(t, st, src, t1, ps, ended("main", store.Complete))
	got := byExternalID(t, st)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, ok := got[c.rec.ExternalID]
			if !ok {
				t.Fatalf("record %s not returned", c.rec.ExternalID)
			}
			deepEqual(t, "record", e.Record, asStored(c.rec, t1))
			if e.Stream != "main" || e.Presence != store.Present || !e.PresenceSince.Equal(t1) {
				t.Errorf("stream %q presence %s since %s, want main present since %s", e.Stream, e.Presence, e.PresenceSince, t1)
			}
			for _, tm := range []time.Time{e.PresenceSince, *e.FirstSeen, *e.LastSeen} {
				if tm.Location() != time.UTC {
					t.Errorf("time %s is not in UTC", tm)
				}
			}
		})
	}
}

func testPutDoesNotModify(t *testing.T, st store.Store) {
	r := fullRecord()
	before := mustJSON(t, r)
	zoneBefore := r.CreatedAt.Location()
	attrsBefore := cloneValue(r.Attributes)
	sync(t, st, src, t1, []put{{"main", r}})
	deepEqual(t, "the caller's attributes after Put", r.Attributes, attrsBefore)
	if after := mustJSON(t, r); after != before {
		t.Errorf("Put modified the caller's record\nbefore: %s\nafter:  %s", before, after)
	}
	if r.CreatedAt.Location() != zoneBefore {
		t.Errorf("Put changed the caller's time zone")
	}
}

func testFirstLastSeen(t *testing.T, st store.Store) {
	sync(t, st, src, t1, puts("keys", nhi.APIKey, "a", "b"), ended("keys", store.Complete))
	changed := rec(nhi.APIKey, "a")
	changed.Name = ptr("renamed")
	sync(t, st, src, t2, []put{{"keys", changed}, {"keys", rec(nhi.APIKey, "b")}}, ended("keys", store.Complete))
	got := byExternalID(t, st)
	checkState(t, got, map[string]state{
		"a": {store.Present, t1, t1, t2},
		"b": {store.Present, t1, t1, t2},
	})
	if n := got["a"].Name; n == nil || *n != "renamed" {
		t.Errorf("a: name %v, want the latest record's (renamed)", n)
	}
}

func testCompleteMarksGone(t *testing.T, st store.Store) {
	full := rec(nhi.APIKey, "c")
	full.Name = ptr("kept after gone")
	sync(t, st, src, t1, append(puts("keys", nhi.APIKey, "a", "b"), put{"keys", full}), ended("keys", store.Complete))
	sync(t, st, src, t2, puts("keys", nhi.APIKey, "a", "b"), ended("keys", store.Complete))
	got := byExternalID(t, st)
	checkState(t, got, map[string]state{
		"a": {store.Present, t1, t1, t2},
		"b": {store.Present, t1, t1, t2},
		"c": {store.Gone, t2, t1, t1}, // last_seen stays when it was last seen
	})
	if n := got["c"].Name; n == nil || *n != "kept after gone" {
		t.Errorf("gone entity lost its data: name %v", n)
	}
	// Still gone in the next complete run: presence_since stays.
	sync(t, st, src, t3, puts("keys", nhi.APIKey, "a", "b"), ended("keys", store.Complete))
	checkState(t, byExternalID(t, st), map[string]state{
		"a": {store.Present, t1, t1, t3},
		"b": {store.Present, t1, t1, t3},
		"c": {store.Gone, t2, t1, t1},
	})
	// Seen again: present again, first_seen kept.
	sync(t, st, src, t4, puts("keys", nhi.APIKey, "a", "b", "c"), ended("keys", store.Complete))
	checkState(t, byExternalID(t, st), map[string]state{
		"a": {store.Present, t1, t1, t4},
		"b": {store.Present, t1, t1, t4},
		"c": {store.Present, t4, t1, t4},
	})
}

func testIncompleteShrinksNothing(t *testing.T, st store.Store) {
	for _, o := range []store.Outcome{store.Partial, store.Failed, ""} {
		name := string(o)
		if o == "" {
			name = "never ended"
		}
		t.Run(name, func(t *testing.T) {
			source := "src-" + name
			sync(t, st, source, t1, []put{{"keys", recOf(source, nhi.APIKey, "a")}, {"keys", recOf(source, nhi.APIKey, "b")}},
				ended("keys", store.Complete))
			var results []store.StreamResult
			if o != "" {
				results = append(results, ended("keys", o))
			}
			sync(t, st, source, t2, []put{{"keys", recOf(source, nhi.APIKey, "a")}}, results...)
			got := map[string]store.Entity{}
			for _, e := range entities(t, st, store.Query{Source: source}) {
				got[e.ExternalID] = e
			}
			checkState(t, got, map[string]state{
				"a": {store.Present, t1, t1, t2},
				"b": {store.Present, t1, t1, t1},
			})
		})
	}
}

func testDeniedMarksUnverified(t *testing.T, st store.Store) {
	b := rec(nhi.APIKey, "b")
	b.Name, b.Scopes = ptr("still known"), []string{"read"}
	b.Relationships = []nhi.Relationship{{Type: nhi.OwnedBy, Target: nhi.NewRef(src, nhi.HumanUser, "u")}}
	sync(t, st, src, t1, []put{{"keys", rec(nhi.APIKey, "a")}, {"keys", b}, {"keys", rec(nhi.APIKey, "c")}},
		ended("keys", store.Complete))
	sync(t, st, src, t2, puts("keys", nhi.APIKey, "a", "b"), ended("keys", store.Complete)) // c gone
	before := byExternalID(t, st)

	// 403 on the whole stream: nothing was Put.
	sync(t, st, src, t3, nil, store.StreamResult{Stream: "keys", Outcome: store.Denied, Errors: []string{"HTTP 403"}})
	got := byExternalID(t, st)
	checkState(t, got, map[string]state{
		"a": {store.Unverified, t3, t1, t2},
		"b": {store.Unverified, t3, t1, t2},
		"c": {store.Gone, t2, t1, t1}, // already known gone: not resurrected as "maybe"
	})
	deepEqual(t, "unverified entity's record", got["b"].Record, before["b"].Record)

	// Denied again: still unverified, since unchanged.
	sync(t, st, src, t4, nil, ended("keys", store.Denied))
	checkState(t, byExternalID(t, st), map[string]state{
		"a": {store.Unverified, t3, t1, t2},
		"b": {store.Unverified, t3, t1, t2},
		"c": {store.Gone, t2, t1, t1},
	})

	// Access restored: a complete run makes them present again.
	t5 := t4.Add(time.Hour)
	sync(t, st, src, t5, puts("keys", nhi.APIKey, "a", "b"), ended("keys", store.Complete))
	checkState(t, byExternalID(t, st), map[string]state{
		"a": {store.Present, t5, t1, t5},
		"b": {store.Present, t5, t1, t5},
		"c": {store.Gone, t2, t1, t1},
	})

	// Denied part-way (some records Put before the 403): those stay present.
	t6 := t5.Add(time.Hour)
	sync(t, st, src, t6, puts("keys", nhi.APIKey, "a"), ended("keys", store.Denied))
	checkState(t, byExternalID(t, st), map[string]state{
		"a": {store.Present, t5, t1, t6},
		"b": {store.Unverified, t6, t1, t5},
		"c": {store.Gone, t2, t1, t1},
	})
}

func testStreamsIndependent(t *testing.T, st store.Store) {
	sync(t, st, src, t1, append(puts("keys", nhi.APIKey, "k1", "k2"), puts("hooks", nhi.Webhook, "h1", "h2")...),
		ended("keys", store.Complete), ended("hooks", store.Complete))
	// keys complete but empty: only keys go; hooks denied: only hooks unverified.
	sync(t, st, src, t2, nil, ended("keys", store.Complete), ended("hooks", store.Denied))
	checkState(t, byExternalID(t, st), map[string]state{
		"k1": {store.Gone, t2, t1, t1},
		"k2": {store.Gone, t2, t1, t1},
		"h1": {store.Unverified, t2, t1, t1},
		"h2": {store.Unverified, t2, t1, t1},
	})
}

func testRollback(t *testing.T, st store.Store) {
	ctx := context.Background()
	first := fullRecord()
	sync(t, st, src, t1, append(puts("keys", nhi.APIKey, "a", "b"), put{"sa", first}),
		ended("keys", store.Complete), ended("sa", store.Complete))
	sync(t, st, src, t2, puts("keys", nhi.APIKey, "a"), ended("keys", store.Complete)) // b gone
	beforeEntities := mustJSON(t, entities(t, st, store.Query{}))
	beforeRuns := runs(t, st, "")

	s, err := st.BeginSync(ctx, src, "sha256:other", t3)
	if err != nil {
		t.Fatal(err)
	}
	changed := fullRecord()
	changed.Name, changed.Relationships = ptr("changed"), changed.Relationships[:1]
	for _, p := range append(puts("keys", nhi.APIKey, "b", "new"), put{"sa", changed}) {
		if err := s.Put(ctx, p.stream, p.rec); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []store.StreamResult{ended("keys", store.Complete), ended("sa", store.Denied)} {
		if err := s.EndStream(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Rollback(); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if err := s.Rollback(); err != nil {
		t.Errorf("second Rollback: %v, want nil", err)
	}
	if after := mustJSON(t, entities(t, st, store.Query{})); after != beforeEntities {
		t.Errorf("rolled-back run changed the inventory\nbefore: %s\nafter:  %s", beforeEntities, after)
	}
	deepEqual(t, "runs after rollback", runs(t, st, ""), beforeRuns)

	if err := s.Put(ctx, "keys", rec(nhi.APIKey, "x")); err == nil {
		t.Error("Put after Rollback succeeded, want an error")
	}
	if _, err := s.Commit(ctx, t4); err == nil {
		t.Error("Commit after Rollback succeeded, want an error")
	}

	// The store is writable again, and Rollback after Commit is a no-op.
	s, err = st.BeginSync(ctx, src, "", t4)
	if err != nil {
		t.Fatalf("BeginSync after Rollback: %v", err)
	}
	if _, err := s.Commit(ctx, t4); err != nil {
		t.Fatal(err)
	}
	if err := s.Rollback(); err != nil {
		t.Errorf("Rollback after Commit: %v, want nil", err)
	}
	if _, err := s.Commit(ctx, t4); err == nil {
		t.Error("second Commit succeeded, want an error")
	}
	if n := len(runs(t, st, "")); n != len(beforeRuns)+1 {
		t.Errorf("%d runs, want %d", n, len(beforeRuns)+1)
	}
}

func testInvisibleUntilCommit(t *testing.T, st store.Store) {
	ctx := context.Background()
	sync(t, st, src, t1, puts("keys", nhi.APIKey, "a"), ended("keys", store.Complete))
	before := mustJSON(t, entities(t, st, store.Query{}))
	s, err := st.BeginSync(ctx, src, "", t2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Rollback()
	if err := s.Put(ctx, "keys", rec(nhi.APIKey, "b")); err != nil {
		t.Fatal(err)
	}
	if err := s.EndStream(ctx, ended("keys", store.Complete)); err != nil {
		t.Fatal(err)
	}
	if during := mustJSON(t, entities(t, st, store.Query{})); during != before {
		t.Errorf("an open run is visible to readers\nbefore: %s\nduring: %s", before, during)
	}
	if rs := runs(t, st, ""); len(rs) != 1 {
		t.Errorf("%d runs visible during an open run, want 1", len(rs))
	}
	if _, err := s.Commit(ctx, t2); err != nil {
		t.Fatal(err)
	}
	checkState(t, byExternalID(t, st), map[string]state{
		"a": {store.Gone, t2, t1, t1},
		"b": {store.Present, t2, t2, t2},
	})
}

func testSourcesIndependent(t *testing.T, st store.Store) {
	// Same stream name and external IDs in two sources.
	sync(t, st, "alpha", t1, []put{{"users", recOf("alpha", nhi.ServiceAccount, "1")}, {"users", recOf("alpha", nhi.ServiceAccount, "2")}},
		ended("users", store.Complete))
	sync(t, st, "beta", t1, []put{{"users", recOf("beta", nhi.ServiceAccount, "1")}, {"users", recOf("beta", nhi.ServiceAccount, "2")}},
		ended("users", store.Complete))
	// alpha's complete-but-empty stream and beta's denial touch only their own.
	sync(t, st, "alpha", t2, nil, ended("users", store.Complete))
	sync(t, st, "beta", t3, []put{{"users", recOf("beta", nhi.ServiceAccount, "1")}}, ended("users", store.Denied))
	want := map[string]store.Presence{"alpha/1": store.Gone, "alpha/2": store.Gone, "beta/1": store.Present, "beta/2": store.Unverified}
	got := map[string]store.Presence{}
	for _, e := range entities(t, st, store.Query{}) {
		got[e.Source+"/"+e.ExternalID] = e.Presence
		if e.ID != nhi.StableID(e.Source, e.Kind, e.ExternalID) {
			t.Errorf("%s/%s: id %s is not its stable id", e.Source, e.ExternalID, e.ID)
		}
	}
	deepEqual(t, "presence by source", got, want)
	if rs := runs(t, st, "alpha"); len(rs) != 2 {
		t.Errorf("alpha has %d runs, want 2", len(rs))
	}
}

func testRelationships(t *testing.T, st store.Store) {
	owner := nhi.NewRef(src, nhi.HumanUser, "u-1")
	repo := nhi.NewRef(src, nhi.Resource, "repo-1")
	team := nhi.NewRef(src, nhi.Team, "t-1")
	r := rec(nhi.AppInstallation, "app")
	r.Relationships = []nhi.Relationship{
		{Type: nhi.OwnedBy, Target: owner},
		{Type: nhi.CanAccess, Target: repo, Privilege: ptr(nhi.Read)},
	}
	sync(t, st, src, t1, []put{{"apps", r}}, ended("apps", store.Complete))

	// Run 2: owner gone, repo access escalated, team added (listed first).
	r.Relationships = []nhi.Relationship{
		{Type: nhi.MemberOf, Target: team},
		{Type: nhi.CanAccess, Target: repo, Privilege: ptr(nhi.Admin)},
	}
	sync(t, st, src, t2, []put{{"apps", r}}, ended("apps", store.Complete))
	deepEqual(t, "relationships after run 2", byExternalID(t, st)["app"].Relationships, []nhi.Relationship{
		{Type: nhi.MemberOf, Target: team, FirstSeen: ptr(t2), LastSeen: ptr(t2)},
		{Type: nhi.CanAccess, Target: repo, Privilege: ptr(nhi.Admin), FirstSeen: ptr(t1), LastSeen: ptr(t2)},
	})

	// Run 3: put twice in one run; the last Put's relationships win.
	r2 := rec(nhi.AppInstallation, "app")
	r2.Relationships = []nhi.Relationship{{Type: nhi.CanAccess, Target: repo}}
	sync(t, st, src, t3, []put{{"apps", r}, {"apps", r2}}, ended("apps", store.Complete))
	deepEqual(t, "relationships after run 3", byExternalID(t, st)["app"].Relationships, []nhi.Relationship{
		{Type: nhi.CanAccess, Target: repo, FirstSeen: ptr(t1), LastSeen: ptr(t3)},
	})

	// Run 4: none any more.
	sync(t, st, src, t4, puts("apps", nhi.AppInstallation, "app"), ended("apps", store.Complete))
	if rels := byExternalID(t, st)["app"].Relationships; rels != nil {
		t.Errorf("relationships after a Put without any: %s, want nil", mustJSON(t, rels))
	}
}

func runs(t *testing.T, st store.Store, source string) []store.Run {
	t.Helper()
	rs, err := st.Runs(context.Background(), source, 0)
	if err != nil {
		t.Fatalf("Runs(%q): %v", source, err)
	}
	return rs
}

func testRuns(t *testing.T, st store.Store) {
	keys := store.StreamResult{Stream: "keys", Outcome: store.Complete, Records: 2, Pages: 1, Requests: 3, Retries: 2,
		Duration: 1500 * time.Millisecond, Nulls: map[string]int{"owner": 2, "attributes.email": 1, "name": 0}}
	hooks := store.StreamResult{Stream: "hooks", Outcome: store.Partial, Records: 1, Pages: 5, Requests: 5,
		StopReason: "max_pages", Errors: []string{"page 6: cursor repeated", "child svc-9: HTTP 500"}, Duration: time.Second}
	first := sync(t, st, src, t1, append(puts("keys", nhi.APIKey, "a", "b"), puts("hooks", nhi.Webhook, "h")...), keys, hooks)
	other := sync(t, st, "other", t2, nil)
	second := sync(t, st, src, t3, nil, store.StreamResult{Stream: "keys", Outcome: store.Denied, Requests: 1, Errors: []string{"HTTP 403"}})

	wantFirst := store.Run{ID: first.ID, Source: src, SpecDigest: "sha256:spec", StartedAt: t1, FinishedAt: t1.Add(time.Minute),
		Status: store.RunPartial, Streams: []store.StreamResult{keys, hooks}}
	deepEqual(t, "Commit's run", first, wantFirst)
	if second.Status != store.RunFailed || other.Status != store.RunOK {
		t.Errorf("statuses %s, %s, want failed, ok", second.Status, other.Status)
	}
	if first.ID == second.ID || first.ID == other.ID {
		t.Errorf("run ids not distinct: %d %d %d", first.ID, other.ID, second.ID)
	}

	all := runs(t, st, "")
	deepEqual(t, "Runs newest first", all, []store.Run{second, other, first})
	deepEqual(t, "Runs of one source", runs(t, st, src), []store.Run{second, first})
	limited, err := st.Runs(context.Background(), src, 1)
	if err != nil {
		t.Fatal(err)
	}
	deepEqual(t, "Runs with limit 1", limited, []store.Run{second})
	if rs := runs(t, st, "nobody"); len(rs) != 0 {
		t.Errorf("Runs of an unknown source: %d, want 0", len(rs))
	}
}

// testStreamNulls: a stream's null counts are the contract checks' history,
// so they must read back as given, unaffected by the caller reusing its map,
// and "none" (nil or empty) must read back as nil either way.
func testStreamNulls(t *testing.T, st store.Store) {
	ctx := context.Background()
	cases := []struct {
		name  string
		nulls map[string]int
		want  map[string]int
	}{
		{"counts", map[string]int{"owner": 3, "attributes.team.email": 1, "ünïcode \"field\"": 7}, map[string]int{"owner": 3, "attributes.team.email": 1, "ünïcode \"field\"": 7}},
		{"nil", nil, nil},
		{"empty", map[string]int{}, nil},
	}
	s, err := st.BeginSync(ctx, src, "", t1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Rollback()
	for _, c := range cases {
		if err := s.EndStream(ctx, store.StreamResult{Stream: c.name, Outcome: store.Complete, Nulls: c.nulls}); err != nil {
			t.Fatalf("EndStream %s: %v", c.name, err)
		}
		if c.nulls != nil {
			c.nulls["owner"] = -1 // the caller reuses its map
		}
	}
	committed, err := s.Commit(ctx, t2)
	if err != nil {
		t.Fatal(err)
	}
	stored := runs(t, st, src)
	if len(stored) != 1 || len(stored[0].Streams) != len(cases) || len(committed.Streams) != len(cases) {
		t.Fatalf("runs %s, committed %s: want one run with %d streams", mustJSON(t, stored), mustJSON(t, committed), len(cases))
	}
	for i, c := range cases {
		deepEqual(t, "Commit's null counts of "+c.name, committed.Streams[i].Nulls, c.want)
		deepEqual(t, "stored null counts of "+c.name, stored[0].Streams[i].Nulls, c.want)
	}
}

func testRunStatus(t *testing.T, st store.Store) {
	cases := []struct {
		outcomes []store.Outcome
		want     string
	}{
		{nil, store.RunOK},
		{[]store.Outcome{store.Complete}, store.RunOK},
		{[]store.Outcome{store.Complete, store.Complete}, store.RunOK},
		{[]store.Outcome{store.Complete, store.Partial}, store.RunPartial},
		{[]store.Outcome{store.Complete, store.Failed}, store.RunPartial},
		{[]store.Outcome{store.Complete, store.Denied}, store.RunPartial},
		{[]store.Outcome{store.Partial}, store.RunPartial},
		{[]store.Outcome{store.Partial, store.Failed}, store.RunPartial},
		{[]store.Outcome{store.Failed}, store.RunFailed},
		{[]store.Outcome{store.Denied}, store.RunFailed},
		{[]store.Outcome{store.Failed, store.Denied}, store.RunFailed},
	}
	for i, c := range cases {
		var results []store.StreamResult
		for j, o := range c.outcomes {
			results = append(results, ended("s"+string(rune('a'+j)), o))
		}
		run := sync(t, st, src, t1.Add(time.Duration(i)*time.Hour), nil, results...)
		if run.Status != c.want {
			t.Errorf("outcomes %v: status %q, want %q", c.outcomes, run.Status, c.want)
		}
		if got := runs(t, st, src)[0]; got.ID != run.ID || got.Status != c.want {
			t.Errorf("outcomes %v: stored run %d status %q, want %d %q", c.outcomes, got.ID, got.Status, run.ID, c.want)
		}
	}
}

func testInvalidRecord(t *testing.T, st store.Store) {
	ctx := context.Background()
	good := rec(nhi.APIKey, "good")
	cases := []struct {
		name   string
		rec    func() *nhi.Record
		stream string
		want   []string // substrings of the error
	}{
		{"unknown kind", func() *nhi.Record { r := rec(nhi.APIKey, "k1"); r.Kind = "gizmo"; return r }, "s", []string{"gizmo", "k1"}},
		{"empty external id", func() *nhi.Record { return rec(nhi.APIKey, "") }, "s", []string{"api_key", "external_id"}},
		{"wrong id", func() *nhi.Record { r := rec(nhi.APIKey, "k2"); r.ID = "nhi_bogus"; return r }, "s", []string{"api_key", "k2", "stable id"}},
		{"bad status", func() *nhi.Record { r := rec(nhi.APIKey, "k3"); r.Status = ptr(nhi.Status("zombie")); return r }, "s", []string{"k3", "zombie"}},
		{"bad relationship", func() *nhi.Record {
			r := rec(nhi.APIKey, "k4")
			r.Relationships = []nhi.Relationship{{Type: "LIKES", Target: nhi.NewRef(src, nhi.HumanUser, "u")}}
			return r
		}, "s", []string{"k4", "LIKES"}},
		{"other source", func() *nhi.Record { return recOf("elsewhere", nhi.APIKey, "k5") }, "s", []string{"k5", "elsewhere", src}},
		{"nil record", func() *nhi.Record { return nil }, "s", []string{"nil"}},
		{"no stream", func() *nhi.Record { return rec(nhi.APIKey, "k6") }, "", []string{"k6", "stream"}},
		{"unencodable attribute", func() *nhi.Record {
			r := rec(nhi.APIKey, "k7")
			r.Attributes = map[string]any{"ch": make(chan int)}
			return r
		}, "s", []string{"k7"}},
	}
	s, err := st.BeginSync(ctx, src, "", t1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Rollback()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := s.Put(ctx, c.stream, c.rec())
			if err == nil {
				t.Fatal("Put succeeded, want an error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
		// The run stays usable after every rejection.
		if err := s.Put(ctx, "s", good); err != nil {
			t.Fatalf("after %s: Put of a valid record: %v", c.name, err)
		}
	}
	if err := s.EndStream(ctx, ended("s", store.Complete)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, t2); err != nil {
		t.Fatalf("Commit after rejected records: %v", err)
	}
	es := entities(t, st, store.Query{})
	if len(es) != 1 || es[0].ExternalID != "good" {
		t.Errorf("stored %s, want only the valid record", mustJSON(t, es))
	}
}

func testBadCalls(t *testing.T, st store.Store) {
	ctx := context.Background()
	if _, err := st.BeginSync(ctx, "", "", t1); err == nil {
		t.Error("BeginSync without a source succeeded")
	}
	if _, err := st.BeginSync(ctx, src, "", time.Time{}); err == nil {
		t.Error("BeginSync with a zero time succeeded")
	}
	s, err := st.BeginSync(ctx, src, "", t1)
	if err != nil {
		t.Fatalf("BeginSync after rejected calls: %v", err)
	}
	defer s.Rollback()
	if err := s.EndStream(ctx, ended("s", "sideways")); err == nil || !strings.Contains(err.Error(), "sideways") {
		t.Errorf("EndStream with an unknown outcome: %v, want an error naming it", err)
	}
	if err := s.EndStream(ctx, ended("", store.Complete)); err == nil {
		t.Error("EndStream without a stream name succeeded")
	}
	if err := s.EndStream(ctx, ended("s", store.Complete)); err != nil {
		t.Fatal(err)
	}
	if err := s.EndStream(ctx, ended("s", store.Partial)); err == nil {
		t.Error("ending a stream twice succeeded")
	}
	if _, err := s.Commit(ctx, t2); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if rs := runs(t, st, src); len(rs) != 1 || len(rs[0].Streams) != 1 || rs[0].Streams[0].Outcome != store.Complete {
		t.Errorf("runs %s, want one with the one stream ended once", mustJSON(t, rs))
	}
	if _, err := st.Entities(ctx, store.Query{Kind: "gizmo"}); err == nil {
		t.Error("Entities with an unknown kind succeeded")
	}
	if _, err := st.Entities(ctx, store.Query{Presence: "maybe"}); err == nil {
		t.Error("Entities with an unknown presence succeeded")
	}
}

func testQuery(t *testing.T, st store.Store) {
	// Put in scrambled order; byte order of external IDs ("B" < "a").
	sync(t, st, "zeta", t1, []put{{"u", recOf("zeta", nhi.APIKey, "1")}}, ended("u", store.Complete))
	sync(t, st, src, t1, []put{
		{"hooks", rec(nhi.Webhook, "b")},
		{"keys", rec(nhi.APIKey, "a")},
		{"keys", rec(nhi.APIKey, "B")},
		{"hooks", rec(nhi.Webhook, "a")},
		{"keys", rec(nhi.APIKey, "c")},
	}, ended("keys", store.Complete), ended("hooks", store.Complete))
	sync(t, st, src, t2, append(puts("keys", nhi.APIKey, "a", "B"), puts("hooks", nhi.Webhook, "a", "b")...),
		ended("keys", store.Complete), ended("hooks", store.Complete)) // c gone

	ids := func(q store.Query) []string {
		out := []string{}
		for _, e := range entities(t, st, q) {
			out = append(out, e.Source+"/"+string(e.Kind)+"/"+e.ExternalID)
		}
		return out
	}
	cases := []struct {
		name string
		q    store.Query
		want []string
	}{
		{"all", store.Query{}, []string{"acme/api_key/B", "acme/api_key/a", "acme/api_key/c", "acme/webhook/a", "acme/webhook/b", "zeta/api_key/1"}},
		{"source", store.Query{Source: "zeta"}, []string{"zeta/api_key/1"}},
		{"kind", store.Query{Kind: nhi.APIKey}, []string{"acme/api_key/B", "acme/api_key/a", "acme/api_key/c", "zeta/api_key/1"}},
		{"source and kind", store.Query{Source: src, Kind: nhi.Webhook}, []string{"acme/webhook/a", "acme/webhook/b"}},
		{"presence gone", store.Query{Presence: store.Gone}, []string{"acme/api_key/c"}},
		{"presence present", store.Query{Source: src, Presence: store.Present}, []string{"acme/api_key/B", "acme/api_key/a", "acme/webhook/a", "acme/webhook/b"}},
		{"limit", store.Query{Limit: 2}, []string{"acme/api_key/B", "acme/api_key/a"}},
		{"limit with filter", store.Query{Kind: nhi.Webhook, Limit: 1}, []string{"acme/webhook/a"}},
		{"no match", store.Query{Source: "nobody"}, []string{}},
		{"unverified none", store.Query{Presence: store.Unverified}, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { deepEqual(t, "entities", ids(c.q), c.want) })
	}
}

// testConcurrentStreams: a run's streams may be read in parallel, so Put and
// EndStream are called from several goroutines at once.
func testConcurrentStreams(t *testing.T, st store.Store) {
	ctx := context.Background()
	const streams, perStream = 4, 50
	s, err := st.BeginSync(ctx, src, "", t1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Rollback()
	var wg gosync.WaitGroup
	errs := make(chan error, streams)
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("stream-%d", i)
			for j := range perStream {
				r := rec(nhi.APIKey, fmt.Sprintf("%s-key-%d", stream, j))
				r.Relationships = []nhi.Relationship{{Type: nhi.OwnedBy, Target: nhi.NewRef(src, nhi.HumanUser, stream)}}
				if err := s.Put(ctx, stream, r); err != nil {
					errs <- err
					return
				}
			}
			errs <- s.EndStream(ctx, store.StreamResult{Stream: stream, Outcome: store.Complete, Records: perStream})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	run, err := s.Commit(ctx, t2)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Streams) != streams || run.Status != store.RunOK {
		t.Errorf("run has %d streams, status %s; want %d, ok", len(run.Streams), run.Status, streams)
	}
	es := entities(t, st, store.Query{Source: src, Presence: store.Present})
	if len(es) != streams*perStream {
		t.Fatalf("%d present entities, want %d", len(es), streams*perStream)
	}
	for _, e := range es {
		if len(e.Relationships) != 1 || e.Relationships[0].Target.ExternalID != e.Stream {
			t.Errorf("%s: relationships %s, want one to its stream's owner", e.ExternalID, mustJSON(t, e.Relationships))
		}
	}
}
