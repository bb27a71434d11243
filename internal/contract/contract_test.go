package contract_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/runtime"
	"github.com/spindlehq/spindle/internal/store"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func stream(name string, o store.Outcome, records int, errs ...string) store.StreamResult {
	return store.StreamResult{Stream: name, Outcome: o, Records: records, Errors: errs, Requests: 1}
}

func report(streams ...store.StreamResult) *runtime.Report {
	return &runtime.Report{Source: "acme", StartedAt: t0, FinishedAt: t0.Add(time.Second), Status: store.RunStatus(streams), Streams: streams}
}

// history makes previous ok runs (newest first) where stream keys had
// counts[i] records in run i.
func history(counts ...int) []store.Run {
	var out []store.Run
	for i, n := range counts {
		ss := []store.StreamResult{stream("keys", store.Complete, n)}
		out = append(out, store.Run{ID: int64(100 - i), Source: "acme", Status: store.RunOK,
			FinishedAt: t0.Add(-time.Duration(i+1) * time.Hour), Streams: ss})
	}
	return out
}

func find(t *testing.T, r contract.Result, id string) contract.Finding {
	t.Helper()
	for _, c := range r.Checks {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no check %s in %+v", id, r.Checks)
	return contract.Finding{}
}

func TestCheck(t *testing.T) {
	spec := &integration.Spec{Streams: []integration.Stream{{Name: "keys", Emits: "api_key"}}}
	cases := []struct {
		name       string
		rep        *runtime.Report
		hist       []store.Run
		bounds     contract.Bounds
		now        time.Time
		id         string
		want       contract.Status
		wantHealth contract.Health
		msg        string // in the check's message
	}{
		{name: "drop 100 to 10 fails", rep: report(stream("keys", store.Complete, 10)), hist: history(100, 100, 100),
			id: "count:keys", want: contract.Fail, wantHealth: contract.Failing, msg: "dropped to 10"},
		{name: "100 to 95 passes", rep: report(stream("keys", store.Complete, 95)), hist: history(100, 100, 100),
			id: "count:keys", want: contract.Pass, wantHealth: contract.Healthy},
		{name: "median of last 5 resists one outlier", rep: report(stream("keys", store.Complete, 60)), hist: history(100, 5, 100, 100, 100, 1),
			id: "count:keys", want: contract.Pass, wantHealth: contract.Healthy},
		{name: "exactly half is not more than half", rep: report(stream("keys", store.Complete, 50)), hist: history(100, 100),
			id: "count:keys", want: contract.Pass, wantHealth: contract.Healthy},
		{name: "tighter bound", rep: report(stream("keys", store.Complete, 80)), hist: history(100, 100), bounds: contract.Bounds{MaxDrop: 0.1},
			id: "count:keys", want: contract.Fail, wantHealth: contract.Failing},
		{name: "tenfold growth warns", rep: report(stream("keys", store.Complete, 1001)), hist: history(100, 100),
			id: "count:keys", want: contract.Warn, wantHealth: contract.Degraded, msg: "grew"},
		{name: "no history skips with reason", rep: report(stream("keys", store.Complete, 10)), hist: nil,
			id: "count:keys", want: contract.Skip, wantHealth: contract.Healthy, msg: "0 previous complete run(s)"},
		{name: "one run is not enough history", rep: report(stream("keys", store.Complete, 10)), hist: history(100),
			id: "count:keys", want: contract.Skip, wantHealth: contract.Healthy, msg: "2 needed"},
		{name: "denied stream fails auth", rep: report(stream("keys", store.Denied, 0, "page 1: GET /keys answered 403 Forbidden: the credential cannot see this list")), hist: history(100, 100),
			id: "auth:keys", want: contract.Fail, wantHealth: contract.Failing, msg: "refused"},
		{name: "401 in a partial stream fails auth", rep: report(stream("keys", store.Partial, 40, "page 2: GET /keys answered 401 Unauthorized")), hist: history(100, 100),
			id: "auth:keys", want: contract.Fail, wantHealth: contract.Failing, msg: "401/403"},
		{name: "partial stream warns", rep: report(stream("keys", store.Partial, 40, "stopped after 3 pages (max_pages)")), now: t0,
			id: "http:keys", want: contract.Warn, wantHealth: contract.Degraded},
		{name: "failed stream fails", rep: report(stream("keys", store.Failed, 0, "page 1: GET /keys answered 500 Internal Server Error")), hist: history(100),
			id: "http:keys", want: contract.Fail, wantHealth: contract.Failing},
		{name: "mapping errors warn", rep: report(stream("keys", store.Complete, 98, "stream keys, page 1, record 3: field id: no such key", "stream keys, page 1, record 7: field id: no such key")), hist: history(100, 100),
			id: "mapping:keys", want: contract.Warn, wantHealth: contract.Degraded, msg: "2 record(s)"},
		{name: "nothing mapped fails", rep: report(stream("keys", store.Complete, 0, "stream keys, page 1, record 0: field id: no such key")),
			id: "mapping:keys", want: contract.Fail, wantHealth: contract.Failing},
		{name: "a report without null counts skips them", rep: report(stream("keys", store.Complete, 100)),
			id: "nulls.keys", want: contract.Skip, wantHealth: contract.Healthy, msg: "no null counts"},
		{name: "a stream with no records has no null rates", rep: report(stream("keys", store.Complete, 0)), hist: history(0, 0),
			id: "nulls.keys", want: contract.Skip, wantHealth: contract.Healthy, msg: "no records"},
		{name: "a spec stream that did not run fails", rep: report(), hist: history(100, 100),
			id: "ran:keys", want: contract.Fail, wantHealth: contract.Failing},
		{name: "failed run, last success recent", rep: report(stream("keys", store.Failed, 0)), hist: history(100), now: t0.Add(2 * time.Hour),
			id: "staleness", want: contract.Pass, wantHealth: contract.Failing},
		{name: "failed run, last success too old", rep: report(stream("keys", store.Failed, 0)), hist: history(100), now: t0.Add(72 * time.Hour),
			id: "staleness", want: contract.Fail, wantHealth: contract.Failing, msg: "no successful sync since"},
		{name: "partial run, last success too old: stale", rep: report(stream("keys", store.Partial, 40)), hist: history(100), now: t0.Add(72 * time.Hour),
			id: "staleness", want: contract.Fail, wantHealth: contract.Stale, msg: "no successful sync since"},
		{name: "aborted run fails", rep: nil, hist: history(100),
			id: "run", want: contract.Fail, wantHealth: contract.Failing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = t0.Add(time.Minute)
			}
			r := contract.Check(t.Context(), contract.Input{Integration: "acme", RunID: 101, Report: tc.rep, Spec: spec, History: tc.hist, Bounds: tc.bounds, Now: now})
			c := find(t, r, tc.id)
			if c.Status != tc.want {
				t.Errorf("%s: %s (%s), want %s", tc.id, c.Status, c.Message, tc.want)
			}
			if r.Health != tc.wantHealth {
				t.Errorf("health %s, want %s: %+v", r.Health, tc.wantHealth, r.Checks)
			}
			if tc.msg != "" && !strings.Contains(c.Message, tc.msg) {
				t.Errorf("%s message %q lacks %q", tc.id, c.Message, tc.msg)
			}
			if (c.Status == contract.Fail) != slices.Contains(r.Failing(), tc.id) {
				t.Errorf("Failing() = %v", r.Failing())
			}
		})
	}
}

func TestCountEvidence(t *testing.T) {
	r := contract.Check(t.Context(), contract.Input{Integration: "acme", Report: report(stream("keys", store.Complete, 10)), History: history(100, 90, 110), Now: t0})
	c := find(t, r, "count:keys")
	if c.Evidence["median"] != 100.0 || c.Evidence["records"] != 10 {
		t.Errorf("evidence %+v", c.Evidence)
	}
	// The checked run itself is never its own history.
	h := history(100, 100)
	h[0].ID = 7
	r = contract.Check(t.Context(), contract.Input{Integration: "acme", RunID: 7, Report: report(stream("keys", store.Complete, 10)), History: h, Now: t0})
	if c := find(t, r, "count:keys"); c.Status != contract.Skip {
		t.Errorf("count with the run itself dropped: %s %s", c.Status, c.Message)
	}
}

func TestRecordLatest(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			db := b.OpenDB(t)
			if _, ok, err := contract.Latest(ctx, db, "acme"); ok || err != nil {
				t.Fatalf("latest before any: %v %v", ok, err)
			}
			first := contract.Check(ctx, contract.Input{Integration: "acme", RunID: 1, Report: report(stream("keys", store.Complete, 100)), Now: t0})
			second := contract.Check(ctx, contract.Input{Integration: "acme", RunID: 2, Report: report(stream("keys", store.Denied, 0)), Now: t0.Add(time.Hour)})
			var ids []int64
			for _, r := range []contract.Result{first, second} {
				id, err := contract.Record(ctx, db, r)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			if ids[0] <= 0 || ids[1] <= ids[0] {
				t.Errorf("record ids %v: want increasing ids", ids)
			}
			if _, err := contract.Record(ctx, db, contract.Result{Integration: "acme", Health: "unknown"}); err == nil {
				t.Error("recorded an unknown health")
			}
			got, ok, err := contract.Latest(ctx, db, "acme")
			if err != nil || !ok {
				t.Fatalf("latest: %v %v", ok, err)
			}
			if got.RunID != 2 || got.Health != contract.Failing || !got.CheckedAt.Equal(second.CheckedAt) || !slices.Equal(got.Failing(), second.Failing()) {
				t.Errorf("latest = %+v, want run 2 failing %v", got, second.Failing())
			}
			if _, ok, _ := contract.Latest(ctx, db, "other"); ok {
				t.Error("latest of another integration")
			}

			// Stale is recorded (migration 00011), inside a caller's transaction.
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			stale := contract.Result{Integration: "acme", RunID: 2, CheckedAt: t0.Add(72 * time.Hour), Health: contract.Stale,
				Checks: []contract.Finding{{ID: contract.StalenessID, Status: contract.Fail, Message: "old"}}}
			if _, err := contract.Record(ctx, tx, stale); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if got, _, err := contract.Latest(ctx, db, "acme"); err != nil || got.Health != contract.Stale || !slices.Equal(got.Failing(), []string{contract.StalenessID}) {
				t.Errorf("latest after stale = %+v, %v", got, err)
			}
		})
	}
}
