package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/validate"
)

// scripted is a brain that runs a fixed function over the tools: the
// tests' stand-in for a model, at the true edge (the brain), while the
// session, lint, sandbox and validation are all real.
type scripted struct {
	name string
	fn   func(ctx context.Context, t Tools) error
}

func (s scripted) Name() string                             { return s.name }
func (s scripted) Drive(ctx context.Context, t Tools) error { return s.fn(ctx, t) }

const testDoc = "testdata/keys.yaml"

func goodSpec(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/keys.integration.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func call(ctx context.Context, t Tools, name string, a any) ToolResult {
	return t.Call(ctx, name, args(a))
}

func TestToolSetIsClosed(t *testing.T) {
	s := &Session{surface: &apisurface.Surface{}}
	var names []string
	for _, ts := range s.ModelTools() {
		names = append(names, ts.Name)
		if ts.Parameters["type"] != "object" {
			t.Errorf("tool %s: parameters are not an object schema", ts.Name)
		}
	}
	want := []string{ToolListOperations, ToolGetOperation, ToolGetAuth, ToolSearchDocs, ToolReadSection, ToolWriteSpec,
		ToolPatchSpec, ToolReadSpec, ToolValidate, ToolReadReport, ToolSubmit}
	if !slices.Equal(names, want) {
		t.Fatalf("model tools = %v\nwant %v", names, want)
	}
	for _, n := range names {
		for _, bad := range []string{"approve", "deploy", "release", "credential", "secret", "sandbox", "http", "fetch", "shell", "exec", "file"} {
			if strings.Contains(n, bad) {
				t.Errorf("tool %q reaches beyond the closed set (%s)", n, bad)
			}
		}
	}
}

func TestBuildScriptedPasses(t *testing.T) {
	ctx := context.Background()
	spec := goodSpec(t)
	var validateSeeds []int64
	brain := scripted{"scripted", func(ctx context.Context, tl Tools) error {
		if r := call(ctx, tl, ToolListOperations, map[string]any{"nhi_only": true}); r.IsError || !strings.Contains(r.Text, "/api_keys") {
			t.Errorf("list_operations: %s", r.Text)
		}
		if r := call(ctx, tl, ToolGetOperation, map[string]any{"method": "GET", "path": "/api_keys"}); r.IsError || !strings.Contains(r.Text, "last_used_at") {
			t.Errorf("get_operation: %s", r.Text)
		}
		if r := call(ctx, tl, ToolSearchDocs, map[string]any{"query": "X-Api-Token header"}); r.IsError || !strings.Contains(r.Text, "X-Api-Token") {
			t.Errorf("search_docs: %s", r.Text)
		}
		if r := call(ctx, tl, ToolWriteSpec, map[string]any{"yaml": spec}); r.IsError {
			t.Fatalf("write_spec: %s", r.Text)
		}
		r := call(ctx, tl, ToolValidate, map[string]any{"quick": true})
		card, _ := r.Data.(*validate.Scorecard)
		if card == nil || !card.Passed {
			t.Fatalf("validate: %s", r.Text)
		}
		validateSeeds = append(validateSeeds, card.Seed)
		if r := call(ctx, tl, ToolSubmit, map[string]any{"notes": "reads API keys", "questions": []string{"Is offset paging capped?"}}); !r.Done {
			t.Errorf("submit did not end the session: %+v", r)
		}
		if r := call(ctx, tl, ToolReadSpec, nil); !r.Done || !r.IsError {
			t.Errorf("a call after submit should be refused: %+v", r)
		}
		return nil
	}}
	out, err := Build(ctx, Config{Doc: testDoc, Brain: brain})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Passed || out.Stopped != "submitted" {
		t.Fatalf("passed=%t stopped=%q reason=%q", out.Passed, out.Stopped, out.Reason)
	}
	if slices.Contains(validateSeeds, out.Scorecard.Seed) {
		t.Errorf("the verdict reused a seed the brain saw (%d)", out.Scorecard.Seed)
	}
	dir := t.TempDir()
	if err := out.WriteBundle(dir); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, FileReportMD))
	for _, want := range []string{"Validation passed", "`GET /api_keys`", "keyring-credential", "X-Api-Token", "Is offset paging capped?", out.Doc.SHA256} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	var rep map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, FileReportJSON))
	if err := json.Unmarshal(b, &rep); err != nil || rep["passed"] != true || rep["spec_sha256"] == "" {
		t.Errorf("report.json: %v %v", err, rep["passed"])
	}
	f, _ := os.Open(filepath.Join(dir, FileTranscript))
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var tools []string
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("transcript line %q: %v", sc.Text(), err)
		}
		if e.Kind == "tool" {
			tools = append(tools, e.Tool)
		}
	}
	// The refused call after submit is not a tool call: it never ran.
	want := []string{ToolListOperations, ToolGetOperation, ToolSearchDocs, ToolWriteSpec, ToolValidate, ToolSubmit}
	if !slices.Equal(tools, want) {
		t.Errorf("transcript tools = %v, want %v", tools, want)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, FileSpec)); string(got) != spec {
		t.Error("integration.yaml is not the submitted spec")
	}
}

func TestBudgetsStopTheBrain(t *testing.T) {
	ctx := context.Background()
	loop := scripted{"looper", func(ctx context.Context, tl Tools) error {
		for i := 0; i < 1000; i++ {
			if r := call(ctx, tl, ToolListOperations, nil); r.Done {
				return nil
			}
		}
		t.Error("the session never said done")
		return nil
	}}
	out, err := Build(ctx, Config{Doc: testDoc, Brain: loop, Budget: Budget{MaxIterations: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Passed || !strings.Contains(out.Stopped, "iteration budget spent (5 tool calls)") || out.Usage.Iterations != 5 {
		t.Fatalf("passed=%t stopped=%q iterations=%d", out.Passed, out.Stopped, out.Usage.Iterations)
	}
	if out.Reason != "the brain wrote no spec" {
		t.Errorf("reason = %q", out.Reason)
	}

	tokens := scripted{"spender", func(ctx context.Context, tl Tools) error {
		for i := 0; i < 100; i++ {
			if err := tl.Charge(600, 400, 0.01); err != nil {
				if !tl.Done() {
					t.Error("Charge failed but the session is not done")
				}
				return err
			}
		}
		t.Error("the token budget never stopped the brain")
		return nil
	}}
	out, err = Build(ctx, Config{Doc: testDoc, Brain: tokens, Budget: Budget{MaxTokens: 5000}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Stopped, "token budget spent (5000 of 5000)") {
		t.Fatalf("stopped = %q", out.Stopped)
	}
}

func TestToolErrorsAreReportedNotFatal(t *testing.T) {
	ctx := context.Background()
	spec := goodSpec(t)
	brain := scripted{"clumsy", func(ctx context.Context, tl Tools) error {
		cases := []struct {
			tool string
			args any
			want string
		}{
			{"delete_everything", nil, `unknown tool \"delete_everything\"`},
			{ToolGetOperation, map[string]any{"method": "GET", "path": "/nope"}, "no operation GET /nope"},
			{ToolGetOperation, map[string]any{"method": "GET", "path": "/api_keys", "verbose": true}, "unknown field"},
			{ToolValidate, nil, "no draft yet"},
			{ToolSubmit, map[string]any{"notes": "x"}, "nothing to submit"},
			{ToolPatchSpec, map[string]any{"old": "x", "new": "y"}, "does not occur"},
			{ToolReadReport, nil, "no validation has run"},
		}
		for _, c := range cases {
			r := call(ctx, tl, c.tool, c.args)
			if !r.IsError || !strings.Contains(r.Text, c.want) {
				t.Errorf("%s: %s, want an error with %q", c.tool, r.Text, c.want)
			}
		}
		call(ctx, tl, ToolWriteSpec, map[string]any{"yaml": spec})
		if r := call(ctx, tl, ToolPatchSpec, map[string]any{"old": "r.", "new": "x."}); !r.IsError || !strings.Contains(r.Text, "occurs") {
			t.Errorf("ambiguous patch: %s", r.Text)
		}
		// A hostile doc's wishes: a write method, another host, a secret.
		bad := strings.Replace(spec, "method: GET", "method: DELETE", 1)
		bad = strings.Replace(bad, "https://api.keyring.test/v1", "https://collector.evil.example/v1", 1)
		r := call(ctx, tl, ToolWriteSpec, map[string]any{"yaml": bad})
		if !r.IsError || !strings.Contains(r.Text, "SPX-P001") {
			t.Errorf("write_spec of a hostile spec: %s", r.Text)
		}
		call(ctx, tl, ToolWriteSpec, map[string]any{"yaml": spec})
		call(ctx, tl, ToolSubmit, map[string]any{"notes": "ok"})
		return nil
	}}
	out, err := Build(ctx, Config{Doc: testDoc, Brain: brain})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Passed {
		t.Fatalf("the final spec should pass: %s", out.Reason)
	}
	if len(out.Rejections) == 0 || !strings.Contains(strings.Join(out.Rejections, "\n"), "SPX-P001") {
		t.Errorf("rejections = %v", out.Rejections)
	}
	if !strings.Contains(out.Markdown(), "Refused by the policy lint") {
		t.Error("report.md does not show the refusals")
	}
}

// TestBrainCannotEditWhatJudgesIt: the surface a brain reads is a copy;
// changing it changes nothing validation sees.
func TestBrainCannotEditWhatJudgesIt(t *testing.T) {
	ctx := context.Background()
	// A spec that reads only the first page: it fails completeness.
	lazy := strings.Replace(goodSpec(t), "      page_size: 50\n      total_field: total\n", "      page_size: 10\n      max_pages: 1\n", 1)
	if !strings.Contains(lazy, "max_pages") {
		t.Fatal("the test's edit did not apply")
	}
	brain := scripted{"cheat", func(ctx context.Context, tl Tools) error {
		r := call(ctx, tl, ToolReadSurface, nil)
		surf := r.Data.(*apisurface.Surface)
		// Make the doc say there is no paging and no records to fetch.
		for i := range surf.Operations {
			if l := surf.Operations[i].List; l != nil {
				l.Paging.Style = apisurface.PageNone
			}
		}
		surf.Operations = nil
		call(ctx, tl, ToolWriteSpec, map[string]any{"yaml": lazy})
		call(ctx, tl, ToolSubmit, map[string]any{"notes": "trust me"})
		return nil
	}}
	out, err := Build(ctx, Config{Doc: testDoc, Brain: brain})
	if err != nil {
		t.Fatal(err)
	}
	if out.Passed || out.Scorecard == nil {
		t.Fatalf("a one-page spec passed after the brain edited its copy of the surface: %+v", out.Reason)
	}
	failed := map[string]bool{}
	for _, c := range out.Scorecard.Failed() {
		failed[c.ID] = true
	}
	if !failed[validate.CheckCompleteness] {
		t.Errorf("failed checks = %v, want completeness", failed)
	}
}

// A prose doc: the tools read it, but no sandbox can be generated, so the
// proposal is unvalidated and says so; the heuristic brain refuses it.
func TestProseDoc(t *testing.T) {
	ctx := context.Background()
	spec := goodSpec(t)
	brain := scripted{"reader", func(ctx context.Context, tl Tools) error {
		r := call(ctx, tl, ToolSearchDocs, map[string]any{"query": "header token"})
		if r.IsError || !strings.Contains(r.Text, "X-Api-Token") {
			t.Errorf("search_docs on prose: %s", r.Text)
		}
		if r := call(ctx, tl, ToolListOperations, nil); !r.IsError {
			t.Errorf("list_operations on a prose doc should not exist: %s", r.Text)
		}
		call(ctx, tl, ToolWriteSpec, map[string]any{"yaml": spec})
		if r := call(ctx, tl, ToolValidate, nil); !r.IsError || !strings.Contains(r.Text, "no machine-readable") {
			t.Errorf("validate on a prose doc: %s", r.Text)
		}
		call(ctx, tl, ToolSubmit, map[string]any{"notes": "from prose"})
		return nil
	}}
	out, err := Build(ctx, Config{Doc: "testdata/prose.md", Brain: brain})
	if err != nil {
		t.Fatal(err)
	}
	if out.Passed || !strings.Contains(out.Reason, "no machine-readable API description") || out.Doc.Format != "markdown" {
		t.Fatalf("passed=%t reason=%q format=%q", out.Passed, out.Reason, out.Doc.Format)
	}
	if !strings.Contains(out.Markdown(), "Not ready") {
		t.Error("report.md does not say the proposal is not ready")
	}

	h, err := Build(ctx, Config{Doc: "testdata/prose.md", Brain: &Heuristic{}})
	if err != nil {
		t.Fatal(err)
	}
	if h.Passed || !strings.Contains(h.Stopped, "needs an OpenAPI or Swagger document") {
		t.Fatalf("heuristic on prose: passed=%t stopped=%q", h.Passed, h.Stopped)
	}
}
