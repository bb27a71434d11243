package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/drift"
)

// runDrift runs `spindle ARGS` through the real root.
func runDrift(t *testing.T, args ...string) cliResult {
	t.Helper()
	return spindle(t, args...)
}

const driftData = "../../internal/drift/testdata/"

func TestDriftDiffBreaking(t *testing.T) {
	r := runDrift(t, "drift", "diff", driftData+"synthetic.old.yaml", driftData+"synthetic.new.yaml", "--spec", driftData+"synthetic.integration.yaml")
	if r.code != 1 {
		t.Fatalf("want exit 1 on a breaking change, got %s", r)
	}
	for _, want := range []string{"BREAKING (1)", "stream keys: GET /keys response.body.data.[].owner", "what to do: rebuild", "DEPRECATIONS (1)", "GET /service-accounts (service_account)", "were ignored"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r)
		}
	}
	if !strings.Contains(r.stderr, "1 breaking change(s) affect synthetic-keys") {
		t.Errorf("stderr: %s", r.stderr)
	}
}

func TestDriftDiffJSONClean(t *testing.T) {
	r := runDrift(t, "drift", "diff", "--json", "../../../shared/corpus/pagerduty/openapiv3.2024-01-31.json", "../../../shared/corpus/pagerduty/openapiv3.2025-03-24.json", "--spec", driftData+"pagerduty.integration.yaml")
	if r.code != 0 {
		t.Fatalf("want exit 0 without breaking changes, got %s", r)
	}
	var rep drift.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, r)
	}
	if len(rep.Breaking) != 0 || len(rep.NonBreaking) != 4 || rep.Ignored != 714 {
		t.Errorf("report: %+v", rep)
	}
}

func TestDriftDiffUsage(t *testing.T) {
	if r := runDrift(t, "drift", "diff", "a", "b"); r.code != 2 || !strings.Contains(r.stderr, "--spec") {
		t.Errorf("no --spec: %s", r)
	}
}
