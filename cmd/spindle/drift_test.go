package main

import (
	"encoding/json"
	"os"
	"path/filepath"
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

// releasedFromCopy takes a copy of the bundled example doc through the
// governed path to its release, so the test can change the doc at the
// location the release records. It returns the runner and the doc's path.
func releasedFromCopy(t *testing.T) (func(want int, stdin string, args ...string) cliResult, string, string) {
	t.Helper()
	dir := t.TempDir()
	doc := filepath.Join(dir, "vendor", "acme-keys.yaml")
	if err := os.MkdirAll(filepath.Dir(doc), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exampleDoc)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Dir(doc), "acme-keys.yaml", b)
	run := dbRunner(t, filepath.Join(dir, "spindle.db"))
	keys, bundle := filepath.Join(dir, "keys"), filepath.Join(dir, "acme")
	run(0, "", "build", doc, "--out", bundle, "--owner", "identity-team@example.com")
	run(0, "", "role", "grant", "root", "admin")
	for _, who := range []string{"alice", "bob"} {
		run(0, "", "role", "grant", who, "approver", "--as", "root")
		run(0, "", "keys", "create", who, "--key-dir", keys)
	}
	run(0, "", "propose", bundle)
	for _, who := range []string{"alice", "bob"} {
		run(0, "", "approve", "1", "--as", who, "--key-dir", keys)
	}
	return run, doc, bundle
}

// renameServiceAccountName renames ServiceAccount.name, which the
// example's service_accounts stream maps strictly, in the doc at path.
func renameServiceAccountName(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old := "required: [id, name, status, created_at]\n      properties:\n        id: { type: string, format: uuid }\n        name: { type: string, example: ci-deployer }"
	if !strings.Contains(string(b), old) {
		t.Fatal("the example doc no longer has the ServiceAccount.name field this test renames")
	}
	writeFile(t, filepath.Dir(path), filepath.Base(path), []byte(strings.Replace(string(b), old,
		"required: [id, display_name, status, created_at]\n      properties:\n        id: { type: string, format: uuid }\n        display_name: { type: string, example: ci-deployer }", 1)))
}

func TestDriftCheckReleased(t *testing.T) {
	run, doc, bundle := releasedFromCopy(t)

	r := run(0, "", "drift", "check", "acme-cloud")
	if !strings.Contains(r.stdout, "acme-cloud release 1: the doc at "+doc+" is unchanged since it was pinned") {
		t.Errorf("unchanged:\n%s", r)
	}
	var res struct {
		drift.CheckResult
		Rebuild *struct {
			Status   string `json:"status"`
			Proposal int64  `json:"proposal"`
		} `json:"rebuild"`
	}
	r = run(0, "", "drift", "check", "acme-cloud", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Changed || res.Release != 1 || res.PinnedSHA256 != res.CurrentSHA256 || len(res.PinnedSHA256) != 64 {
		t.Errorf("unchanged --json: %+v %v\n%s", res.CheckResult, err, r.stdout)
	}

	// The vendor renames a field the mapping reads.
	renameServiceAccountName(t, doc)
	r = run(1, "", "drift", "check", "acme-cloud")
	for _, want := range []string{"changed since it was pinned", "BREAKING (1)", "stream service_accounts: GET /service-accounts response.body.items.[].name", "what to do: rebuild"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("drifted: output lacks %q:\n%s", want, r)
		}
	}
	if !strings.Contains(r.stderr, "1 breaking change(s) affect acme-cloud release 1") || !strings.Contains(r.stderr, "--rebuild") {
		t.Errorf("stderr: %s", r.stderr)
	}
	r = run(1, "", "drift", "check", "acme-cloud", "--json")
	res = struct {
		drift.CheckResult
		Rebuild *struct {
			Status   string `json:"status"`
			Proposal int64  `json:"proposal"`
		} `json:"rebuild"`
	}{}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || !res.Changed || res.Report == nil || len(res.Report.Breaking) != 1 || res.Rebuild != nil {
		t.Errorf("drifted --json: %+v %v\n%s", res.CheckResult, err, r.stdout)
	}

	// The bundle of the release was built from the old doc: proposing it
	// again cannot pin its baseline any more, and says what to do.
	r = run(1, "", "propose", bundle)
	if !strings.Contains(r.stderr, "the vendor doc changed since the spec was built") || !strings.Contains(r.stderr, "spindle build") {
		t.Errorf("propose a stale bundle: %s", r)
	}

	// Rebuild on drift: the agent's proposal, never a release.
	out := filepath.Join(t.TempDir(), "rebuild")
	r = run(1, "", "drift", "check", "acme-cloud", "--rebuild", out, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Rebuild == nil || res.Rebuild.Status != "proposed" || res.Rebuild.Proposal != 2 {
		t.Fatalf("rebuild --json: %+v %v\n%s", res.Rebuild, err, r)
	}
	if !strings.Contains(r.stderr, "the agent's rebuild is proposal 2") {
		t.Errorf("rebuild stderr: %s", r.stderr)
	}
	r = run(0, "", "review", "2")
	for _, want := range []string{"agent:heuristic", "rebuild on doc drift of release 1", "+      name: r.display_name"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("review 2 lacks %q:\n%s", want, r.stdout)
		}
	}
	r = run(0, "", "release", "list", "--json")
	if strings.Count(r.stdout, `"spec_sha256"`) != 1 {
		t.Errorf("a rebuild released something:\n%s", r.stdout)
	}
	r = run(1, "", "drift", "check", "acme-cloud", "--rebuild", filepath.Join(t.TempDir(), "again"))
	if !strings.Contains(r.stdout, "rebuild: nothing new filed: proposal 2 already proposes this exact spec") {
		t.Errorf("second rebuild:\n%s", r)
	}
	run(0, "", "audit", "verify")
}

func TestDriftCheckNoBaseline(t *testing.T) {
	g := newGovEnv(t)
	g.people()
	// The fixture's source doc is recorded relative to the repository
	// root, so from here it cannot be read: proposed, but not pinned.
	r := g.run(0, "propose", g.copyBundle("keyring"))
	if !strings.Contains(r.stderr, "warning: the doc the spec was built from is not pinned") || !strings.Contains(r.stderr, "internal/agent/testdata/keys.yaml") {
		t.Errorf("propose: %s", r)
	}
	g.run(0, "approve", "1", "--as", "alice")
	g.run(0, "approve", "1", "--as", "bob")
	r = g.run(1, "drift", "check", "keyring-test")
	if !strings.Contains(r.stderr, "no pinned doc; rebuild from a doc to enable drift checks") {
		t.Errorf("check without a baseline: %s", r)
	}
	r = g.run(1, "drift", "check", "nope")
	if !strings.Contains(r.stderr, "nope has no release") {
		t.Errorf("check of nothing: %s", r)
	}
	if r := spindle(t, "drift", "check", "x", "--db", filepath.Join(t.TempDir(), "none.db")); r.code != 1 || !strings.Contains(r.stderr, "no database at") {
		t.Errorf("no database: %s", r)
	}
	if r := spindle(t, "drift", "check"); r.code != 2 || !strings.Contains(r.stderr, "--help") {
		t.Errorf("no NAME: %s", r)
	}
}
