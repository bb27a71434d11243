package contract_test

import (
	"strings"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/runtime"
	"github.com/spindlehq/spindle/internal/store"
)

// counted is a complete keys stream of records records with the given null
// counts.
func counted(records int, nulls map[string]int) store.StreamResult {
	s := stream("keys", store.Complete, records)
	s.Nulls = nulls
	return s
}

// nullHistory makes previous ok runs (newest first), one per stream.
func nullHistory(streams ...store.StreamResult) []store.Run {
	var out []store.Run
	for i, s := range streams {
		out = append(out, store.Run{ID: int64(100 - i), Source: "acme", Status: store.RunOK,
			FinishedAt: t0.Add(-time.Duration(i+1) * time.Hour), Streams: []store.StreamResult{s}})
	}
	return out
}

func TestNullRates(t *testing.T) {
	spec := &integration.Spec{Streams: []integration.Stream{{Name: "keys", Emits: "api_key", Map: map[string]string{
		"external_id": "r.id", "owner": "has(r.owner_id) ? r.owner_id : null", "name": "r.label", "expires_at": "r.?expires.orValue(null)"}}}}
	steady := func(owner int) store.StreamResult {
		return counted(100, map[string]int{"external_id": 0, "owner": owner, "name": 0, "expires_at": 90})
	}
	cases := []struct {
		name       string
		cur        store.StreamResult
		hist       []store.Run
		bounds     contract.Bounds
		id         string
		want       contract.Status
		wantHealth contract.Health
		msg        string
	}{
		{name: "mostly set, now mostly null fails", cur: steady(95), hist: nullHistory(steady(2), steady(0), steady(5)),
			id: "nulls.keys.owner", want: contract.Fail, wantHealth: contract.Failing, msg: "null in 95% of records (95 of 100), against a median of 2%"},
		{name: "the failure quotes the mapping", cur: steady(95), hist: nullHistory(steady(2), steady(0), steady(5)),
			id: "nulls.keys.owner", want: contract.Fail, wantHealth: contract.Failing, msg: "map.owner: has(r.owner_id)"},
		{name: "steady nulls pass", cur: steady(3), hist: nullHistory(steady(2), steady(0), steady(5)),
			id: "nulls.keys.owner", want: contract.Pass, wantHealth: contract.Healthy},
		{name: "a field that is always mostly null stays ok", cur: steady(0), hist: nullHistory(steady(2), steady(0)),
			id: "nulls.keys.expires_at", want: contract.Pass, wantHealth: contract.Healthy, msg: "90%"},
		{name: "a rise of exactly the bound passes", cur: steady(50), hist: nullHistory(steady(0), steady(0)),
			id: "nulls.keys.owner", want: contract.Pass, wantHealth: contract.Healthy},
		{name: "a tighter bound fails a smaller rise", cur: steady(30), hist: nullHistory(steady(0), steady(0)), bounds: contract.Bounds{MaxNullRise: 0.2},
			id: "nulls.keys.owner", want: contract.Fail, wantHealth: contract.Failing},
		{name: "a median resists one bad run", cur: steady(3), hist: nullHistory(steady(0), steady(100), steady(0)),
			id: "nulls.keys.owner", want: contract.Pass, wantHealth: contract.Healthy},
		{name: "no history skips with the reason", cur: steady(95), hist: nil,
			id: "nulls.keys.owner", want: contract.Skip, wantHealth: contract.Healthy, msg: "0 previous complete run(s) of stream keys counted nulls of field owner, 2 needed"},
		{name: "history without counts is not history", cur: steady(95), hist: nullHistory(stream("keys", store.Complete, 100), stream("keys", store.Complete, 100)),
			id: "nulls.keys.owner", want: contract.Skip, wantHealth: contract.Healthy, msg: "0 previous"},
		{name: "partial runs are not history", cur: steady(95), hist: nullHistory(func() store.StreamResult { s := steady(0); s.Outcome = store.Partial; return s }(), steady(0)),
			id: "nulls.keys.owner", want: contract.Skip, wantHealth: contract.Healthy, msg: "1 previous"},
		{name: "a required field fails at one null without history", cur: steady(1), bounds: contract.Bounds{Required: []string{"owner"}},
			id: "nulls.keys.owner", want: contract.Fail, wantHealth: contract.Failing, msg: "required field owner of stream keys is null in 1 of 100 records"},
		{name: "required by stream.field", cur: steady(1), hist: nullHistory(steady(1), steady(1)), bounds: contract.Bounds{Required: []string{"keys.owner"}},
			id: "nulls.keys.owner", want: contract.Fail, wantHealth: contract.Failing},
		{name: "required for another stream only", cur: steady(1), hist: nullHistory(steady(1), steady(1)), bounds: contract.Bounds{Required: []string{"users.owner"}},
			id: "nulls.keys.owner", want: contract.Pass, wantHealth: contract.Healthy},
		{name: "a required field set everywhere passes without history", cur: steady(0), bounds: contract.Bounds{Required: []string{"owner"}},
			id: "nulls.keys.owner", want: contract.Pass, wantHealth: contract.Healthy, msg: "set in every record"},
		{name: "an attribute key that went null fails",
			cur:  counted(10, map[string]int{"external_id": 0, "attributes.email": 10}),
			hist: nullHistory(counted(10, map[string]int{"attributes.email": 0}), counted(12, map[string]int{"attributes.email": 1})),
			id:   "nulls.keys.attributes.email", want: contract.Fail, wantHealth: contract.Failing},
		{name: "a mapped field the run did not count is skipped", cur: counted(100, map[string]int{"external_id": 0}), hist: nullHistory(steady(0), steady(0)),
			id: "nulls.keys.owner", want: contract.Skip, wantHealth: contract.Healthy, msg: "did not count"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := &runtime.Report{Source: "acme", StartedAt: t0, FinishedAt: t0.Add(time.Second), Status: store.RunOK, Streams: []store.StreamResult{tc.cur}}
			r := contract.Check(t.Context(), contract.Input{Integration: "acme", RunID: 101, Report: rep, Spec: spec, History: tc.hist, Bounds: tc.bounds, Now: t0.Add(time.Minute)})
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
			for _, c := range r.Checks {
				if c.ID == "nulls.keys.external_id" {
					t.Error("external_id is judged by the mapping check, not here")
				}
			}
		})
	}
}

func TestNullEvidence(t *testing.T) {
	spec := &integration.Spec{Streams: []integration.Stream{{Name: "keys", Emits: "api_key", Map: map[string]string{"external_id": "r.id", "owner": "r.owner"}}}}
	hist := nullHistory(counted(100, map[string]int{"owner": 10}), counted(50, map[string]int{"owner": 0}), counted(200, map[string]int{"owner": 40}))
	rep := &runtime.Report{Source: "acme", Status: store.RunOK, FinishedAt: t0, Streams: []store.StreamResult{counted(80, map[string]int{"owner": 60})}}
	r := contract.Check(t.Context(), contract.Input{Integration: "acme", Report: rep, Spec: spec, History: hist, Now: t0})
	c := find(t, r, "nulls.keys.owner")
	if c.Status != contract.Fail || c.Evidence["nulls"] != 60 || c.Evidence["records"] != 80 || c.Evidence["median_rate"] != 0.1 || c.Evidence["expression"] != "r.owner" {
		t.Errorf("%s %s %+v", c.Status, c.Message, c.Evidence)
	}
	if runs, _ := c.Evidence["history_runs"].([]int64); len(runs) != 3 || runs[0] != 100 {
		t.Errorf("history runs %v", c.Evidence["history_runs"])
	}
}

func TestHealthOf(t *testing.T) {
	f := func(id string, s contract.Status) contract.Finding { return contract.Finding{ID: id, Status: s} }
	cases := []struct {
		name   string
		checks []contract.Finding
		want   contract.Health
	}{
		{"nothing", nil, contract.Healthy},
		{"passes and skips", []contract.Finding{f("a", contract.Pass), f("b", contract.Skip)}, contract.Healthy},
		{"a warning", []contract.Finding{f("a", contract.Warn), f("b", contract.Pass)}, contract.Degraded},
		{"only staleness failed", []contract.Finding{f("a", contract.Warn), f(contract.StalenessID, contract.Fail)}, contract.Stale},
		{"staleness and another failure", []contract.Finding{f(contract.StalenessID, contract.Fail), f("count:keys", contract.Fail)}, contract.Failing},
		{"a failure before staleness", []contract.Finding{f("count:keys", contract.Fail), f(contract.StalenessID, contract.Fail)}, contract.Failing},
	}
	for _, tc := range cases {
		if got := contract.HealthOf(tc.checks); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestStaleness: between syncs, an integration whose last success is too
// old is stale; a fresh one, or one that never succeeded, gives nothing to
// record.
func TestStaleness(t *testing.T) {
	cases := []struct {
		name  string
		hist  []store.Run
		now   time.Time
		ok    bool
		runID int64
	}{
		{"fresh", history(100, 100), t0.Add(2 * time.Hour), false, 0},
		{"too old", history(100, 100), t0.Add(72 * time.Hour), true, 100},
		{"never synced", nil, t0, false, 0},
		{"never succeeded", []store.Run{{ID: 5, Status: store.RunFailed, FinishedAt: t0.Add(-100 * time.Hour)}}, t0, false, 0},
		{"last run failed, the success before is too old", append([]store.Run{{ID: 101, Status: store.RunFailed, FinishedAt: t0}}, history(100)...), t0.Add(50 * time.Hour), true, 101},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := contract.Staleness(t.Context(), contract.Input{Integration: "acme", History: tc.hist, Now: tc.now})
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v (%+v)", ok, tc.ok, r)
			}
			if !ok {
				return
			}
			if r.Health != contract.Stale || len(r.Checks) != 1 || r.Checks[0].ID != contract.StalenessID || r.RunID != tc.runID || r.Integration != "acme" {
				t.Errorf("result %+v", r)
			}
		})
	}
}
