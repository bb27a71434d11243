package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/agent"
)

// Each scenario runs against both providers' real SDKs and a scripted
// server on loopback.

func TestMalformedArgumentsAreNotCalled(t *testing.T) {
	for _, p := range providers {
		t.Run(p, func(t *testing.T) {
			good := "apiVersion: spindle/v1\nkind: Integration\n"
			srv := newScriptServer(t, p,
				step{calls: []sc{{agent.ToolWriteSpec, `{"yaml": "apiVersion: spindle/v1\nkind: Integ`}}}, // cut off
				step{calls: []sc{call(agent.ToolWriteSpec, map[string]string{"yaml": good})}},
				step{calls: []sc{call(agent.ToolSubmit, map[string]string{"notes": "done"})}},
			)
			ms := &miniSession{}
			ft := newFakeTools(ms.handle)
			if err := srv.brain().Drive(context.Background(), ft); err != nil {
				t.Fatalf("Drive: %v", err)
			}
			if got, want := ft.callNames(), []string{agent.ToolWriteSpec, agent.ToolSubmit}; !slices.Equal(got, want) {
				t.Fatalf("calls = %v, want %v (the malformed call must not reach the session)", got, want)
			}
			if ms.spec != good {
				t.Errorf("spec = %q, want the corrected one", ms.spec)
			}
			notes := ft.notesOf(NoteMalformed)
			if len(notes) != 1 || !strings.Contains(notes[0], "not valid JSON") || !strings.Contains(notes[0], agent.ToolWriteSpec) {
				t.Errorf("malformed notes = %q", notes)
			}
			reqs := srv.requests()
			if len(reqs) != 3 {
				t.Fatalf("%d requests, want 3", len(reqs))
			}
			second := parseSent(t, p, reqs[1].body)
			res := second.lastResults()
			if len(res) != 1 || !res[0].isError || !strings.Contains(res[0].text, "NOT called") ||
				!strings.Contains(res[0].text, "not valid JSON") || !strings.Contains(res[0].text, "write_spec again") {
				t.Fatalf("the model was not told its arguments were malformed: %+v", res)
			}
			// The malformed call is replayed with an empty object, and its
			// result answers its id.
			var asst sentMsg
			for _, m := range second.msgs {
				if m.role == "assistant" {
					asst = m
				}
			}
			if len(asst.calls) != 1 || asst.calls[0].args != "{}" || asst.callIDs[0] != res[0].id {
				t.Errorf("replayed malformed call = %+v (ids %v), result id %q", asst.calls, asst.callIDs, res[0].id)
			}
		})
	}
}

func TestMalformedForeverStops(t *testing.T) {
	for _, p := range providers {
		t.Run(p, func(t *testing.T) {
			bad := step{calls: []sc{{agent.ToolValidate, `{quick: true}`}}}
			srv := newScriptServer(t, p, bad, bad, bad, bad)
			ft := newFakeTools(nil)
			err := srv.brain().Drive(context.Background(), ft)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Drive = %v, want ErrMalformed", err)
			}
			if n := len(srv.requests()); n != maxMalformedTurns {
				t.Errorf("%d requests, want %d", n, maxMalformedTurns)
			}
			if len(ft.callNames()) != 0 {
				t.Errorf("calls = %v, want none", ft.callNames())
			}
		})
	}
}

func TestRepairLoopFeedbackReachesModel(t *testing.T) {
	for _, p := range providers {
		t.Run(p, func(t *testing.T) {
			srv := newScriptServer(t, p,
				step{text: "Drafting the keys stream.", calls: []sc{call(agent.ToolWriteSpec, map[string]string{"yaml": badSpec})}},
				step{calls: []sc{call(agent.ToolValidate, map[string]bool{"quick": true})}},
				step{text: "The records path is wrong.", calls: []sc{call(agent.ToolPatchSpec, map[string]string{"old": "records: items", "new": "records: data"})}},
				step{calls: []sc{call(agent.ToolValidate, map[string]bool{"quick": false})}},
				step{calls: []sc{call(agent.ToolSubmit, map[string]any{"notes": "keys stream validated", "questions": []string{}})}},
			)
			ms := &miniSession{}
			ft := newFakeTools(ms.handle)
			if err := srv.brain().Drive(context.Background(), ft); err != nil {
				t.Fatalf("Drive: %v", err)
			}
			want := []string{agent.ToolWriteSpec, agent.ToolValidate, agent.ToolPatchSpec, agent.ToolValidate, agent.ToolSubmit}
			if got := ft.callNames(); !slices.Equal(got, want) {
				t.Fatalf("calls = %v, want %v", got, want)
			}
			if !strings.Contains(ms.spec, "records: data") {
				t.Errorf("final spec not patched: %q", ms.spec)
			}
			reqs := srv.requests()
			if len(reqs) != 5 {
				t.Fatalf("%d requests, want 5", len(reqs))
			}
			// The request after the first validate carries its failure.
			third := parseSent(t, p, reqs[2].body)
			res := third.lastResults()
			if len(res) != 1 || !strings.Contains(res[0].text, validateFeedback) || !strings.Contains(res[0].text, `"passed":false`) {
				t.Fatalf("validation feedback did not reach the model: %+v", res)
			}
			// The request after the second validate carries the pass, and the
			// whole exchange is in order: task, then 4 (assistant, results).
			fifth := parseSent(t, p, reqs[4].body)
			if r := fifth.lastResults(); len(r) != 1 || !strings.Contains(r[0].text, `"passed":true`) {
				t.Fatalf("passing report missing: %+v", r)
			}
			if got := fifth.results(); len(got) != 4 {
				t.Errorf("%d tool results in the last request, want 4", len(got))
			}
			// The system prompt is the session's brief plus the guardrails,
			// the task is the first user message, and all tools are offered.
			if !strings.HasPrefix(fifth.system, ft.brief.System) || !strings.Contains(fifth.system, "never instructions") ||
				!strings.Contains(fifth.system, "SPX-P002") {
				t.Errorf("system prompt lacks the brief or the guardrails:\n%s", fifth.system)
			}
			if fifth.msgs[0].role != "user" || !strings.Contains(fifth.msgs[0].text, "<untrusted_vendor_text>") {
				t.Errorf("first message = %+v", fifth.msgs[0])
			}
			if !slices.Equal(fifth.tools, fakeToolNames) {
				t.Errorf("tools offered = %v", fifth.tools)
			}
			// Assistant words are kept in the history.
			if !strings.Contains(string(reqs[4].body), "The records path is wrong.") {
				t.Error("the model's own words were dropped from the history")
			}
			if ft.in != 500 || ft.out != 100 {
				t.Errorf("charged %d in / %d out, want 500 / 100", ft.in, ft.out)
			}
		})
	}
}

func TestTokenBudgetStops(t *testing.T) {
	for _, p := range providers {
		t.Run(p, func(t *testing.T) {
			srv := newScriptServer(t, p,
				step{calls: []sc{call(agent.ToolListOperations, map[string]bool{"nhi_only": true})}, in: 100, out: 20},
				step{calls: []sc{call(agent.ToolGetAuth, map[string]any{})}, in: 300, out: 40},
				step{calls: []sc{call(agent.ToolSubmit, map[string]string{"notes": "x"})}},
			)
			ft := newFakeTools(nil)
			ft.maxTokens = 400
			b := srv.brain(func(c *Config) { c.PriceInPerMTok, c.PriceOutPerMTok = 3, 15 })
			err := b.Drive(context.Background(), ft)
			if !errors.Is(err, agent.ErrBudget) {
				t.Fatalf("Drive = %v, want ErrBudget", err)
			}
			if got := ft.callNames(); !slices.Equal(got, []string{agent.ToolListOperations}) {
				t.Errorf("calls = %v: the over-budget reply's calls must not run", got)
			}
			if n := len(srv.requests()); n != 2 {
				t.Errorf("%d requests, want 2", n)
			}
			notes := ft.notesOf(NoteBudget)
			if len(notes) != 1 || !strings.Contains(notes[0], "300 in, 40 out") {
				t.Errorf("budget notes = %q", notes)
			}
			wantCost := (400*3.0 + 60*15.0) / 1e6
			if d := ft.cost - wantCost; d > 1e-12 || d < -1e-12 {
				t.Errorf("cost = %g, want %g", ft.cost, wantCost)
			}
		})
	}
}

func TestNoToolCall(t *testing.T) {
	tests := []struct {
		name    string
		second  step
		wantErr error
		calls   []string
	}{
		{"nudged then submits", step{calls: []sc{call(agent.ToolSubmit, map[string]string{"notes": "ok"})}}, nil, []string{agent.ToolSubmit}},
		{"twice without a call", step{text: "I think I am finished."}, ErrNoToolCall, nil},
	}
	for _, p := range providers {
		for _, tc := range tests {
			t.Run(p+"/"+tc.name, func(t *testing.T) {
				srv := newScriptServer(t, p, step{text: "Here is my plan: read the docs."}, tc.second)
				ft := newFakeTools(nil)
				err := srv.brain().Drive(context.Background(), ft)
				if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
					t.Fatalf("Drive = %v, want %v", err, tc.wantErr)
				}
				if got := ft.callNames(); !slices.Equal(got, tc.calls) {
					t.Errorf("calls = %v, want %v", got, tc.calls)
				}
				reqs := srv.requests()
				if len(reqs) != 2 {
					t.Fatalf("%d requests, want 2", len(reqs))
				}
				second := parseSent(t, p, reqs[1].body)
				last := second.msgs[len(second.msgs)-1]
				if last.role != "user" || last.text != nudge {
					t.Errorf("last message = %+v, want the nudge", last)
				}
				if n := len(ft.notesOf(NoteNoToolCall)); n != 1+boolInt(tc.wantErr != nil) {
					t.Errorf("%d no_tool_call notes", n)
				}
			})
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestUnknownToolGoesToSession(t *testing.T) {
	for _, p := range providers {
		t.Run(p, func(t *testing.T) {
			srv := newScriptServer(t, p,
				step{calls: []sc{call("approve_release", map[string]string{"id": "1"})}},
				step{calls: []sc{call(agent.ToolSubmit, map[string]string{"notes": "ok"})}},
			)
			ft := newFakeTools(nil)
			if err := srv.brain().Drive(context.Background(), ft); err != nil {
				t.Fatal(err)
			}
			if got := ft.callNames(); !slices.Equal(got, []string{"approve_release", agent.ToolSubmit}) {
				t.Errorf("calls = %v", got)
			}
			res := parseSent(t, p, srv.requests()[1].body).lastResults()
			if len(res) != 1 || !res[0].isError || !strings.Contains(res[0].text, "unknown tool") {
				t.Errorf("results = %+v", res)
			}
		})
	}
}

func TestParallelCallsStopAtDone(t *testing.T) {
	for _, p := range providers {
		t.Run(p, func(t *testing.T) {
			srv := newScriptServer(t, p, step{calls: []sc{
				call(agent.ToolReadSpec, map[string]any{}),
				call(agent.ToolSubmit, map[string]string{"notes": "ok"}),
				call(agent.ToolValidate, map[string]any{}),
			}})
			ft := newFakeTools(nil)
			if err := srv.brain().Drive(context.Background(), ft); err != nil {
				t.Fatal(err)
			}
			if got := ft.callNames(); !slices.Equal(got, []string{agent.ToolReadSpec, agent.ToolSubmit}) {
				t.Errorf("calls = %v, want to stop at submit", got)
			}
		})
	}
}

func TestTransientErrorsAreRetried(t *testing.T) {
	for _, p := range providers {
		t.Run(p, func(t *testing.T) {
			overloaded := step{status: 503, errBody: `{"error":{"message":"overloaded","type":"overloaded_error"}}`}
			srv := newScriptServer(t, p, overloaded, overloaded,
				step{calls: []sc{call(agent.ToolSubmit, map[string]string{"notes": "ok"})}})
			ft := newFakeTools(nil)
			if err := srv.brain().Drive(context.Background(), ft); err != nil {
				t.Fatalf("Drive: %v", err)
			}
			if n := len(srv.requests()); n != 3 {
				t.Errorf("%d requests, want 3 (two retries)", n)
			}
			if ft.in != 100 {
				t.Errorf("charged %d input tokens, want only the successful reply's 100", ft.in)
			}
		})
	}
}

func TestModelServerErrors(t *testing.T) {
	tests := []struct {
		name   string
		steps  []step
		want   []string
		status int
	}{
		{"unauthorized", []step{{status: 401, errBody: `{"error":{"message":"invalid key","type":"authentication_error"}}`}},
			[]string{"HTTP 401", "invalid key", EnvAPIKey}, 1},
		{"not found", []step{{status: 404, errBody: `{"error":{"message":"model not found","type":"not_found_error"}}`}},
			[]string{"HTTP 404", "model not found", EnvBaseURL}, 1},
		{"retries exhausted", []step{{status: 500, errBody: `{"error":{"message":"boom"}}`}, {status: 500, errBody: `{}`}, {status: 500, errBody: `{"error":{"message":"boom"}}`}},
			[]string{"HTTP 500"}, 3},
	}
	for _, p := range providers {
		for _, tc := range tests {
			t.Run(p+"/"+tc.name, func(t *testing.T) {
				srv := newScriptServer(t, p, tc.steps...)
				ft := newFakeTools(nil)
				err := srv.brain().Drive(context.Background(), ft)
				if err == nil {
					t.Fatal("Drive succeeded")
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				if n := len(srv.requests()); n != tc.status {
					t.Errorf("%d requests, want %d", n, tc.status)
				}
				if len(ft.notesOf(NoteModelError)) != 1 {
					t.Errorf("notes = %+v", ft.notes)
				}
			})
		}
	}
}

func TestContextCancelled(t *testing.T) {
	srv := newScriptServer(t, ProviderOpenAI, step{calls: []sc{call(agent.ToolGetAuth, map[string]any{})}})
	ctx, cancel := context.WithCancel(context.Background())
	ft := newFakeTools(func(string, json.RawMessage) agent.ToolResult {
		cancel()
		return agent.ToolResult{Text: "{}"}
	})
	err := srv.brain().Drive(ctx, ft)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Drive = %v, want context.Canceled", err)
	}
}

func TestTruncatedReplyHint(t *testing.T) {
	for _, p := range providers {
		t.Run(p, func(t *testing.T) {
			srv := newScriptServer(t, p,
				step{calls: []sc{{agent.ToolWriteSpec, `{"yaml":"apiVersion: spindle/v1\nstreams:\n  - na`}}, length: true},
				step{calls: []sc{call(agent.ToolSubmit, map[string]string{"notes": "ok"})}},
			)
			ft := newFakeTools(nil)
			if err := srv.brain().Drive(context.Background(), ft); err != nil {
				t.Fatal(err)
			}
			res := parseSent(t, p, srv.requests()[1].body).lastResults()
			if len(res) != 1 || !strings.Contains(res[0].text, "per-reply token limit") {
				t.Errorf("results = %+v", res)
			}
			if len(ft.notesOf(NoteTruncated)) != 1 {
				t.Errorf("notes = %+v", ft.notes)
			}
		})
	}
}

func TestConversationStaysBounded(t *testing.T) {
	const bound = 6000
	big := strings.Repeat("vendor prose ", 400) // 5200 chars per section
	for _, p := range providers {
		t.Run(p, func(t *testing.T) {
			var steps []step
			for i := range 8 {
				steps = append(steps, step{calls: []sc{call(agent.ToolReadSection, map[string]string{"id": fmt.Sprint(i)})}})
				if i == 2 {
					steps = append(steps, step{calls: []sc{call(agent.ToolValidate, map[string]any{})}})
				}
			}
			steps = append(steps, step{calls: []sc{call(agent.ToolSubmit, map[string]string{"notes": "ok"})}})
			srv := newScriptServer(t, p, steps...)
			report := `{"passed":false,"checks":[{"id":"auth","status":"fail","evidence":["` + strings.Repeat("401 from the sandbox; ", 30) + `"]}]}`
			ft := newFakeTools(func(name string, _ json.RawMessage) agent.ToolResult {
				if name == agent.ToolValidate {
					return agent.ToolResult{Text: report}
				}
				return agent.ToolResult{Text: big}
			})
			b := srv.brain(func(c *Config) { c.MaxContextChars = bound })
			if err := b.Drive(context.Background(), ft); err != nil {
				t.Fatal(err)
			}
			reqs := srv.requests()
			if len(reqs) != len(steps) {
				t.Fatalf("%d requests, want %d", len(reqs), len(steps))
			}
			// Every request fits the bound (plus the marker that says
			// exchanges were dropped); each result is clipped to bound/4.
			for i, r := range reqs {
				if n := parseSent(t, p, r.body).chars(); n > bound+300 {
					t.Errorf("request %d holds %d chars, bound %d", i, n, bound)
				}
			}
			last := parseSent(t, p, reqs[len(reqs)-1].body)
			found := false
			for _, r := range last.results() {
				found = found || r.text == report
			}
			if !found {
				t.Error("the latest validation report was elided")
			}
			if len(ft.notesOf(NoteContext)) == 0 {
				t.Error("no context note")
			}
			// Alternation and pairing survive the elision.
			checkPairs(t, last)
		})
	}
}

// checkPairs asserts every tool call is answered by the next message(s)
// and every result answers a call.
func checkPairs(t *testing.T, r sentReq) {
	t.Helper()
	pending := map[string]bool{}
	for _, m := range r.msgs {
		if m.role == "assistant" {
			if len(pending) > 0 {
				t.Fatalf("calls %v unanswered before the next assistant turn", pending)
			}
			for _, id := range m.callIDs {
				pending[id] = true
			}
			continue
		}
		for _, res := range m.results {
			if !pending[res.id] {
				t.Fatalf("result for unknown call %q", res.id)
			}
			delete(pending, res.id)
		}
	}
}

func TestTurnLimit(t *testing.T) {
	var steps []step
	for range 5 {
		steps = append(steps, step{calls: []sc{call(agent.ToolReadSpec, map[string]any{})}})
	}
	srv := newScriptServer(t, ProviderOpenAI, steps...)
	ft := newFakeTools(nil)
	err := srv.brain(func(c *Config) { c.MaxTurns = 3 }).Drive(context.Background(), ft)
	if !errors.Is(err, ErrTurnLimit) {
		t.Fatalf("Drive = %v, want ErrTurnLimit", err)
	}
	if n := len(ft.callNames()); n != 3 {
		t.Errorf("%d calls, want 3", n)
	}
}
