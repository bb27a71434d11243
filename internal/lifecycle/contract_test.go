package lifecycle

import (
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/store"
)

// TestListPrefersContractHealth: a contract check recorded for the last run
// decides its health (an ok run whose contract failed is failing); a check
// of an older run does not; staleness still goes by time.
func TestListPrefersContractHealth(t *testing.T) { eachBackend(t, testListPrefersContractHealth) }

func testListPrefersContractHealth(t *testing.T, be backend) {
	const name = "acme"
	record := func(e *env, run int64, h contract.Health, at time.Time, failing ...string) {
		t.Helper()
		var checks []contract.Finding
		for _, id := range failing {
			checks = append(checks, contract.Finding{ID: id, Status: contract.Fail, Message: "x"})
		}
		if _, err := contract.Record(e.ctx, e.db, contract.Result{Integration: name, RunID: run, CheckedAt: at, Health: h, Checks: checks}); err != nil {
			t.Fatal(err)
		}
	}
	lastRun := func(e *env) int64 {
		runs, err := e.st.Runs(e.ctx, name, 1)
		if err != nil || len(runs) == 0 {
			t.Fatalf("runs: %v %v", runs, err)
		}
		return runs[0].ID
	}
	ago := func(e *env, d time.Duration) time.Time { return e.clock.now().Add(-d) }
	for _, tc := range []struct {
		name   string
		setup  func(e *env)
		health Health
		hasC   bool
	}{
		{"no check recorded: the run decides", func(e *env) { e.syncRun(name, 2, store.Complete, ago(e, time.Hour)) }, Healthy, false},
		{"ok run, contract failing", func(e *env) {
			e.syncRun(name, 2, store.Complete, ago(e, time.Hour))
			record(e, lastRun(e), contract.Failing, ago(e, time.Hour), "count:api_keys")
		}, Failing, true},
		{"ok run, contract degraded", func(e *env) {
			e.syncRun(name, 2, store.Complete, ago(e, time.Hour))
			record(e, lastRun(e), contract.Degraded, ago(e, time.Hour))
		}, Degraded, true},
		{"a check of an older run is ignored", func(e *env) {
			e.syncRun(name, 2, store.Complete, ago(e, 3*time.Hour))
			record(e, lastRun(e), contract.Failing, ago(e, 3*time.Hour), "count:api_keys")
			e.syncRun(name, 2, store.Complete, ago(e, time.Hour))
		}, Healthy, false},
		{"healthy contract, but stale", func(e *env) {
			e.syncRun(name, 2, store.Complete, ago(e, 72*time.Hour))
			record(e, lastRun(e), contract.Healthy, ago(e, 72*time.Hour))
		}, Stale, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, be)
			e.release(spec(t, name, "team@example.com", ""))
			e.acceptTerms(name)
			tc.setup(e)
			s := e.summary(name)
			if s.Health != tc.health || (s.Contract != nil) != tc.hasC {
				t.Errorf("health %s contract %+v, want %s (contract %v)", s.Health, s.Contract, tc.health, tc.hasC)
			}
			if tc.health == Failing && !hasProblem(s, "count:api_keys") {
				t.Errorf("problems: %v", s.Problems)
			}
		})
	}
}
