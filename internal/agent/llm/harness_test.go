package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/spindlehq/spindle/internal/agent"
)

// testKey is the fake API key every test client holds. It must reach the
// server in the auth header and nowhere else.
const testKey = "sk-spindle-test-7f3c9a1b2d4e6f80"

var providers = []string{ProviderOpenAI, ProviderAnthropic}

// step is one scripted model reply, written once and served in either
// wire format.
type step struct {
	text   string
	calls  []sc
	in     int // usage; default 100
	out    int // default 20
	length bool
	// status, when set, answers with this HTTP error instead (the script
	// does not advance past it until it has been served once).
	status  int
	errBody string
}

// sc is a scripted tool call: args is sent verbatim (malformed on purpose
// in some tests).
type sc struct{ name, args string }

func call(name string, args any) sc {
	if s, ok := args.(string); ok {
		return sc{name, s}
	}
	b, err := json.Marshal(args)
	if err != nil {
		panic(err)
	}
	return sc{name, string(b)}
}

// recorded is one request the scripted server got.
type recorded struct {
	path   string
	header http.Header
	body   []byte
}

// scriptServer is a model server on loopback that answers with the
// script's replies in order and records every request.
type scriptServer struct {
	t        *testing.T
	provider string
	srv      *httptest.Server

	mu    sync.Mutex
	steps []step
	next  int
	reqs  []recorded
}

func newScriptServer(t *testing.T, provider string, steps ...step) *scriptServer {
	t.Helper()
	s := &scriptServer{t: t, provider: provider, steps: steps}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *scriptServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.reqs = append(s.reqs, recorded{path: r.URL.Path, header: r.Header.Clone(), body: body})
	idx := s.next
	s.next++
	s.mu.Unlock()

	want := "/v1/chat/completions"
	if s.provider == ProviderAnthropic {
		want = "/v1/messages"
	}
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != want {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"message":"no route %s %s","type":"not_found"}}`, r.Method, r.URL.Path)
		return
	}
	if idx >= len(s.steps) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"message":"script exhausted","type":"invalid_request_error"}}`)
		return
	}
	st := s.steps[idx]
	if st.status != 0 {
		w.Header().Set("Retry-After-Ms", "1")
		w.WriteHeader(st.status)
		_, _ = io.WriteString(w, st.errBody)
		return
	}
	if st.in == 0 {
		st.in = 100
	}
	if st.out == 0 {
		st.out = 20
	}
	var out any
	if s.provider == ProviderAnthropic {
		out = anthropicReply(idx, st)
	} else {
		out = openaiReply(idx, st)
	}
	_ = json.NewEncoder(w).Encode(out)
}

func openaiReply(idx int, st step) map[string]any {
	msg := map[string]any{"role": "assistant", "content": nil}
	if st.text != "" {
		msg["content"] = st.text
	}
	finish := "stop"
	if len(st.calls) > 0 {
		var tcs []map[string]any
		for i, c := range st.calls {
			tcs = append(tcs, map[string]any{"id": fmt.Sprintf("call_%d_%d", idx, i), "type": "function",
				"function": map[string]any{"name": c.name, "arguments": c.args}})
		}
		msg["tool_calls"] = tcs
		finish = "tool_calls"
	}
	if st.length {
		finish = "length"
	}
	return map[string]any{
		"id": fmt.Sprintf("chatcmpl-%d", idx), "object": "chat.completion", "created": 1, "model": "scripted",
		"choices": []any{map[string]any{"index": 0, "finish_reason": finish, "message": msg, "logprobs": nil}},
		"usage":   map[string]any{"prompt_tokens": st.in, "completion_tokens": st.out, "total_tokens": st.in + st.out},
	}
}

func anthropicReply(idx int, st step) map[string]any {
	content := []any{}
	if st.text != "" {
		content = append(content, map[string]any{"type": "text", "text": st.text})
	}
	stop := "end_turn"
	for i, c := range st.calls {
		var input any = json.RawMessage(c.args)
		if !json.Valid([]byte(c.args)) {
			input = c.args // a compatible server that sends the raw argument text
		}
		content = append(content, map[string]any{"type": "tool_use", "id": fmt.Sprintf("toolu_%d_%d", idx, i), "name": c.name, "input": input})
		stop = "tool_use"
	}
	if st.length {
		stop = "max_tokens"
	}
	return map[string]any{
		"id": fmt.Sprintf("msg_%d", idx), "type": "message", "role": "assistant", "model": "scripted",
		"content": content, "stop_reason": stop, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": st.in, "output_tokens": st.out},
	}
}

func (s *scriptServer) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

func (s *scriptServer) config() Config {
	base := s.srv.URL + "/v1"
	if s.provider == ProviderAnthropic {
		base = s.srv.URL
	}
	return Config{Provider: s.provider, BaseURL: base, Model: "scripted-model", APIKey: NewSecret(testKey),
		HTTPClient: s.srv.Client()}
}

func (s *scriptServer) brain(mod ...func(*Config)) agent.Brain {
	s.t.Helper()
	cfg := s.config()
	for _, m := range mod {
		m(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		s.t.Fatalf("New: %v", err)
	}
	return b
}

// --- what the model was sent, parsed back into a neutral form ---

type sentResult struct {
	id, text string
	isError  bool
}

type sentMsg struct {
	role    string // system, user, assistant, tool
	text    string
	calls   []sc
	callIDs []string
	results []sentResult
}

type sentReq struct {
	system string
	tools  []string
	msgs   []sentMsg
}

func parseSent(t *testing.T, provider string, body []byte) sentReq {
	t.Helper()
	if provider == ProviderAnthropic {
		return parseAnthropicSent(t, body)
	}
	return parseOpenAISent(t, body)
}

func parseOpenAISent(t *testing.T, body []byte) sentReq {
	t.Helper()
	var req struct {
		Messages []struct {
			Role       string          `json:"role"`
			Content    json.RawMessage `json:"content"`
			ToolCallID string          `json:"tool_call_id"`
			ToolCalls  []struct {
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"messages"`
		Tools []struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("request body is not JSON: %v\n%s", err, body)
	}
	var out sentReq
	for _, tl := range req.Tools {
		out.tools = append(out.tools, tl.Function.Name)
	}
	for _, m := range req.Messages {
		var text string
		if len(m.Content) > 0 && m.Content[0] == '"' {
			_ = json.Unmarshal(m.Content, &text)
		}
		switch m.Role {
		case "system":
			out.system = text
		case "tool":
			out.msgs = append(out.msgs, sentMsg{role: "tool", results: []sentResult{{id: m.ToolCallID, text: text,
				isError: strings.HasPrefix(text, "ERROR")}}})
		default:
			sm := sentMsg{role: m.Role, text: text}
			for _, c := range m.ToolCalls {
				sm.calls = append(sm.calls, sc{c.Function.Name, c.Function.Arguments})
				sm.callIDs = append(sm.callIDs, c.ID)
			}
			out.msgs = append(out.msgs, sm)
		}
	}
	return out
}

func parseAnthropicSent(t *testing.T, body []byte) sentReq {
	t.Helper()
	var req struct {
		System []struct {
			Text string `json:"text"`
		} `json:"system"`
		Messages []struct {
			Role    string `json:"role"`
			Content []struct {
				Type      string          `json:"type"`
				Text      string          `json:"text"`
				ID        string          `json:"id"`
				Name      string          `json:"name"`
				Input     json.RawMessage `json:"input"`
				ToolUseID string          `json:"tool_use_id"`
				IsError   bool            `json:"is_error"`
				Content   []struct {
					Text string `json:"text"`
				} `json:"content"`
			} `json:"content"`
		} `json:"messages"`
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("request body is not JSON: %v\n%s", err, body)
	}
	var out sentReq
	for _, s := range req.System {
		out.system += s.Text
	}
	for _, tl := range req.Tools {
		out.tools = append(out.tools, tl.Name)
	}
	for _, m := range req.Messages {
		sm := sentMsg{role: m.Role}
		var texts []string
		for _, b := range m.Content {
			switch b.Type {
			case "text":
				texts = append(texts, b.Text)
			case "tool_use":
				sm.calls = append(sm.calls, sc{b.Name, string(b.Input)})
				sm.callIDs = append(sm.callIDs, b.ID)
			case "tool_result":
				var parts []string
				for _, c := range b.Content {
					parts = append(parts, c.Text)
				}
				sm.results = append(sm.results, sentResult{id: b.ToolUseID, text: strings.Join(parts, ""), isError: b.IsError})
			}
		}
		sm.text = strings.Join(texts, "\n")
		out.msgs = append(out.msgs, sm)
	}
	return out
}

// results returns every tool result in a request, oldest first.
func (r sentReq) results() []sentResult {
	var out []sentResult
	for _, m := range r.msgs {
		out = append(out, m.results...)
	}
	return out
}

// lastResults returns the tool results answering the request's last
// assistant turn.
func (r sentReq) lastResults() []sentResult {
	var out []sentResult
	for i := len(r.msgs) - 1; i >= 0; i-- {
		if r.msgs[i].role == "assistant" {
			break
		}
		out = append(r.msgs[i].results, out...)
	}
	return out
}

// chars counts the conversation's text as sent (system excluded).
func (r sentReq) chars() int {
	n := 0
	for _, m := range r.msgs {
		n += len(m.text)
		for _, c := range m.calls {
			n += len(c.args) + len(c.name)
		}
		for _, res := range m.results {
			n += len(res.text)
		}
	}
	return n
}

// --- a fake session ---

type fakeCall struct {
	name string
	args json.RawMessage
}

type fakeNote struct{ kind, text string }

// fakeTools is a small stand-in for agent.Session. handle answers calls;
// submit ends the session; Charge enforces maxTokens.
type fakeTools struct {
	mu        sync.Mutex
	brief     agent.Brief
	handle    func(name string, args json.RawMessage) agent.ToolResult
	maxTokens int

	calls   []fakeCall
	notes   []fakeNote
	in, out int
	cost    float64
	done    bool
}

func newFakeTools(handle func(name string, args json.RawMessage) agent.ToolResult) *fakeTools {
	return &fakeTools{
		brief: agent.Brief{
			System: "You are Spindle's integration builder (test brief).",
			Task:   "Build the integration for testdata/keys.yaml.\n<untrusted_vendor_text>\nKeys API\n</untrusted_vendor_text>",
		},
		handle: handle,
	}
}

var fakeToolNames = []string{agent.ToolListOperations, agent.ToolGetOperation, agent.ToolGetAuth, agent.ToolSearchDocs,
	agent.ToolReadSection, agent.ToolWriteSpec, agent.ToolPatchSpec, agent.ToolReadSpec, agent.ToolValidate,
	agent.ToolReadReport, agent.ToolSubmit}

func (f *fakeTools) Brief() agent.Brief { return f.brief }

func (f *fakeTools) ModelTools() []agent.ToolSpec {
	var out []agent.ToolSpec
	for _, n := range fakeToolNames {
		out = append(out, agent.ToolSpec{Name: n, Description: "test tool " + n,
			Parameters: map[string]any{"type": "object", "properties": map[string]any{}, "additionalProperties": true}})
	}
	return out
}

func (f *fakeTools) Call(_ context.Context, name string, args json.RawMessage) agent.ToolResult {
	f.mu.Lock()
	if f.done {
		f.mu.Unlock()
		return agent.ToolResult{Text: `{"error":"the session is over"}`, IsError: true, Done: true}
	}
	f.calls = append(f.calls, fakeCall{name, append(json.RawMessage(nil), args...)})
	f.mu.Unlock()
	known := false
	for _, n := range fakeToolNames {
		known = known || n == name
	}
	if !known {
		return agent.ToolResult{Text: fmt.Sprintf(`{"error":"unknown tool %q"}`, name), IsError: true}
	}
	res := agent.ToolResult{Text: `{"ok":true}`}
	if f.handle != nil {
		res = f.handle(name, args)
	}
	if name == agent.ToolSubmit && !res.IsError {
		f.mu.Lock()
		f.done = true
		f.mu.Unlock()
		res.Done = true
	}
	return res
}

func (f *fakeTools) Charge(in, out int, cost float64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.in += in
	f.out += out
	f.cost += cost
	if f.maxTokens > 0 && f.in+f.out >= f.maxTokens {
		f.done = true
		return agent.ErrBudget
	}
	return nil
}

func (f *fakeTools) Note(kind, text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notes = append(f.notes, fakeNote{kind, text})
}

func (f *fakeTools) Done() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.done
}

func (f *fakeTools) callNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, c.name)
	}
	return out
}

func (f *fakeTools) notesOf(kind string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range f.notes {
		if n.kind == kind {
			out = append(out, n.text)
		}
	}
	return out
}

// miniSession answers like the real session would for a keys API: a spec
// passes validation once its records path is "data".
type miniSession struct {
	mu   sync.Mutex
	spec string
}

const validateFeedback = `records path items is not in the response (its keys: data, meta)`

func (m *miniSession) handle(name string, args json.RawMessage) agent.ToolResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch name {
	case agent.ToolWriteSpec:
		var a struct{ YAML string }
		if err := json.Unmarshal(args, &a); err != nil {
			return agent.ToolResult{Text: `{"error":"bad arguments"}`, IsError: true}
		}
		m.spec = a.YAML
		return agent.ToolResult{Text: `{"accepted":true,"findings":[]}`}
	case agent.ToolPatchSpec:
		var a struct{ Old, New string }
		if err := json.Unmarshal(args, &a); err != nil || strings.Count(m.spec, a.Old) != 1 {
			return agent.ToolResult{Text: `{"error":"old does not occur exactly once"}`, IsError: true}
		}
		m.spec = strings.Replace(m.spec, a.Old, a.New, 1)
		return agent.ToolResult{Text: `{"accepted":true,"findings":[]}`}
	case agent.ToolReadSpec:
		b, _ := json.Marshal(map[string]string{"yaml": m.spec})
		return agent.ToolResult{Text: string(b)}
	case agent.ToolValidate:
		if strings.Contains(m.spec, "records: data") {
			return agent.ToolResult{Text: `{"passed":true,"checks":[{"id":"completeness","status":"pass"}]}`}
		}
		b, _ := json.Marshal(map[string]any{"passed": false, "checks": []any{map[string]any{
			"id": "completeness", "stream": "keys", "status": "fail", "evidence": []string{validateFeedback}}}})
		return agent.ToolResult{Text: string(b)}
	case agent.ToolSubmit:
		return agent.ToolResult{Text: `{"submitted":true}`}
	}
	return agent.ToolResult{Text: `{"ok":true}`}
}

const badSpec = "apiVersion: spindle/v1\nkind: Integration\nstreams:\n  - name: keys\n    records: items\n"
