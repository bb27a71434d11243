package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const exampleDoc = "../../examples/docs/acme-keys.yaml"

// The README's main job: build the bundled example doc into a proposal.
func TestBuildExample(t *testing.T) {
	out := filepath.Join(t.TempDir(), "acme")
	db := filepath.Join(t.TempDir(), "spindle.db")
	r := mustSpindle(t, 0, "build", exampleDoc, "--out", out, "--db", db)
	if !strings.Contains(r.stdout, "PASSED") || !strings.Contains(r.stdout, "bundle: "+out) {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	for _, phase := range []string{"docs", "draft", "validate", "verdict", "bundle", "audit"} {
		if !strings.Contains(r.stderr, phase) {
			t.Errorf("no %s progress on stderr:\n%s", phase, r.stderr)
		}
	}
	for _, f := range []string{"integration.yaml", "report.md", "report.json", "transcript.jsonl"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("bundle file %s: %v", f, err)
		}
	}
	// The agent's actions are in the audit log, and the chain verifies.
	log := mustSpindle(t, 0, "audit", "log", "--db", db, "--action", "agent.build", "--json")
	if !strings.Contains(log.stdout, `"passed":true`) {
		t.Errorf("audit log:\n%s", log.stdout)
	}
	mustSpindle(t, 0, "audit", "verify", "--db", db)
	// The drafted spec is a spec: lint passes and validate agrees.
	spec := filepath.Join(out, "integration.yaml")
	mustSpindle(t, 0, "spec", "lint", spec)
	v := mustSpindle(t, 0, "validate", spec, "--doc", exampleDoc, "--quick", "--seed", "9")
	if !strings.Contains(v.stdout, "PASS  completeness") {
		t.Errorf("validate stdout:\n%s", v.stdout)
	}
}

func TestBuildJSON(t *testing.T) {
	out := filepath.Join(t.TempDir(), "b")
	r := mustSpindle(t, 0, "build", "../../examples/docs/no-auth.yaml", "--out", out, "--json", "--db", filepath.Join(t.TempDir(), "s.db"))
	var got struct {
		Passed    bool     `json:"passed"`
		Bundle    string   `json:"bundle"`
		Questions []string `json:"questions"`
		Doc       struct {
			SHA256 string `json:"sha256"`
		} `json:"doc"`
		Scorecard struct {
			Checks []struct{ ID, Status string } `json:"checks"`
		} `json:"scorecard"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	if !got.Passed || got.Bundle != out || len(got.Doc.SHA256) != 64 || len(got.Scorecard.Checks) == 0 {
		t.Errorf("json: %+v", got)
	}
	// No security scheme in the doc: the agent asks instead of guessing.
	if !strings.Contains(strings.Join(got.Questions, "\n"), "authenticate") {
		t.Errorf("questions = %v", got.Questions)
	}
}

func TestBuildErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"missing doc", nil, []string{"build", filepath.Join(dir, "nope.yaml")}, 1, "nope.yaml"},
		{"bad brain", nil, []string{"build", exampleDoc, "--brain", "oracle"}, 2, "want heuristic or llm"},
		{"llm unconfigured", map[string]string{"SPINDLE_LLM_PROVIDER": "", "SPINDLE_LLM_MODEL": "", "SPINDLE_LLM_API_KEY": "sk-test-never-printed-0123456789"},
			[]string{"build", exampleDoc, "--brain", "llm"}, 1, "SPINDLE_LLM_PROVIDER"},
		{"validate without doc", nil, []string{"validate", exampleDoc}, 2, "--doc is required"},
		{"validate prose doc", nil, []string{"validate", exampleDoc, "--doc", writeFile(t, dir, "api.md", []byte("# API\n\nGET /keys lists keys.\n"))}, 1, "not an OpenAPI"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			r := mustSpindle(t, c.code, c.args...)
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr lacks %q:\n%s", c.want, r.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, "sk-test-never-printed") {
				t.Error("the API key was printed")
			}
		})
	}
}

// A spec that reads one page of a paged list fails validation, with the
// evidence, and exit status 1.
func TestValidateFails(t *testing.T) {
	out := filepath.Join(t.TempDir(), "acme")
	mustSpindle(t, 0, "build", exampleDoc, "--out", out, "--db", filepath.Join(t.TempDir(), "s.db"))
	spec, err := os.ReadFile(filepath.Join(out, "integration.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Drop every stream's paging: only the first page of each list is read.
	var kept []string
	skip := false
	for _, line := range strings.Split(string(spec), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "pagination:") {
			skip = true
			continue
		}
		if skip && strings.HasPrefix(line, "      ") {
			continue
		}
		skip = false
		kept = append(kept, line)
	}
	broken := writeFile(t, t.TempDir(), "broken.yaml", []byte(strings.Join(kept, "\n")))
	r := mustSpindle(t, 1, "validate", broken, "--doc", exampleDoc, "--quick")
	if !strings.Contains(r.stdout, "FAIL  completeness") || !strings.Contains(r.stderr, "validation failed") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}
