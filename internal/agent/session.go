package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/prose"
	"github.com/spindlehq/spindle/internal/validate"
)

// ErrBudget is returned by Charge when a token or cost budget is spent.
var ErrBudget = errors.New("budget spent")

// Brief is what a brain is told at the start. System is Spindle's own
// instruction (trusted); Task describes the vendor document, whose text is
// data — quoted, framed as untrusted, never instructions.
type Brief struct {
	System string `json:"system"`
	Task   string `json:"task"`
}

// Entry is one line of the transcript: a tool call with its arguments and
// a summary of its result, or a note a brain recorded.
type Entry struct {
	Seq       int             `json:"seq"`
	AtMS      int64           `json:"at_ms"` // since the session started
	Kind      string          `json:"kind"`  // "tool" or a note kind ("malformed", "budget", …)
	Tool      string          `json:"tool,omitempty"`
	Args      json.RawMessage `json:"args,omitempty"`
	Summary   string          `json:"summary"`
	IsError   bool            `json:"is_error,omitempty"`
	ElapsedMS int64           `json:"elapsed_ms,omitempty"`
}

// Usage is what a session spent.
type Usage struct {
	Iterations   int           `json:"iterations"` // tool calls
	Validations  int           `json:"validations"`
	InputTokens  int           `json:"input_tokens,omitempty"`
	OutputTokens int           `json:"output_tokens,omitempty"`
	CostUSD      float64       `json:"cost_usd,omitempty"`
	Elapsed      time.Duration `json:"elapsed_ns"`
}

// Budget bounds a session. Zero values take the defaults.
type Budget struct {
	MaxIterations int           // tool calls (default 60)
	MaxWall       time.Duration // default 5m
	MaxTokens     int           // input+output tokens; 0 is unbounded
	MaxCostUSD    float64       // 0 is unbounded
}

// Session is one build: the draft spec, the doc, the budgets and the
// transcript. Brains act only through its Tools methods. It holds no
// credential of any kind: validation builds its own sandboxes (with their
// own synthetic credentials) from the session's pristine copy of the
// surface, which no tool hands out.
type Session struct {
	budget Budget
	start  time.Time
	now    func() time.Time

	// The doc, read-only. surface is the pristine copy validation uses;
	// brains get their own copies (read_surface) or JSON views.
	docLoc  string
	surface *apisurface.Surface
	prose   *prose.Doc // the doc's text for search_docs / read_section
	seed    int64

	mu         sync.Mutex
	specYAML   []byte
	specLint   integration.Findings
	card       *validate.Scorecard
	transcript []Entry
	rejections []string
	usage      Usage
	submitted  *submission
	stopped    string // why the session ended, "" while it runs
	progress   func(phase, msg string)
}

type submission struct {
	Notes     string   `json:"notes"`
	Questions []string `json:"questions,omitempty"`
}

var _ Tools = (*Session)(nil)

// Brief returns the instructions for a model-driven brain.
func (s *Session) Brief() Brief { return brief(s) }

// ModelTools is the tool set offered to a model (all but read_surface).
func (s *Session) ModelTools() []ToolSpec {
	var out []ToolSpec
	for _, t := range toolSpecs(s.surface != nil) {
		if t.Name != ToolReadSurface {
			out = append(out, t)
		}
	}
	return out
}

// Charge records a model's token use and returns ErrBudget once a token or
// cost budget is spent.
func (s *Session) Charge(in, out int, cost float64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.usage.InputTokens += in
	s.usage.OutputTokens += out
	s.usage.CostUSD += cost
	switch {
	case s.budget.MaxTokens > 0 && s.usage.InputTokens+s.usage.OutputTokens >= s.budget.MaxTokens:
		s.stopLocked(fmt.Sprintf("token budget spent (%d of %d)", s.usage.InputTokens+s.usage.OutputTokens, s.budget.MaxTokens))
		return ErrBudget
	case s.budget.MaxCostUSD > 0 && s.usage.CostUSD >= s.budget.MaxCostUSD:
		s.stopLocked(fmt.Sprintf("cost budget spent ($%.4f of $%.4f)", s.usage.CostUSD, s.budget.MaxCostUSD))
		return ErrBudget
	}
	return nil
}

// Note records what a brain saw that is not a tool call.
func (s *Session) Note(kind, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendLocked(Entry{Kind: kind, Summary: clip(text, 2000)})
}

// Done reports whether the session is over.
func (s *Session) Done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkWallLocked()
	return s.stopped != ""
}

func (s *Session) stopLocked(why string) {
	if s.stopped == "" {
		s.stopped = why
		s.appendLocked(Entry{Kind: "budget", Summary: why})
	}
}

func (s *Session) checkWallLocked() {
	if s.stopped == "" && s.budget.MaxWall > 0 && s.now().Sub(s.start) >= s.budget.MaxWall {
		s.stopLocked(fmt.Sprintf("wall-time budget spent (%s)", s.budget.MaxWall))
	}
}

func (s *Session) appendLocked(e Entry) {
	e.Seq = len(s.transcript) + 1
	e.AtMS = s.now().Sub(s.start).Milliseconds()
	s.transcript = append(s.transcript, e)
}

// Call runs one tool, records it in the transcript and charges an
// iteration.
func (s *Session) Call(ctx context.Context, name string, args json.RawMessage) ToolResult {
	s.mu.Lock()
	s.checkWallLocked()
	if s.stopped != "" {
		why := s.stopped
		s.mu.Unlock()
		return ToolResult{Text: jsonText(map[string]any{"error": "the session is over: " + why}), IsError: true, Done: true}
	}
	if s.budget.MaxIterations > 0 && s.usage.Iterations >= s.budget.MaxIterations {
		s.stopLocked(fmt.Sprintf("iteration budget spent (%d tool calls)", s.budget.MaxIterations))
		why := s.stopped
		s.mu.Unlock()
		return ToolResult{Text: jsonText(map[string]any{"error": "the session is over: " + why}), IsError: true, Done: true}
	}
	s.usage.Iterations++
	s.mu.Unlock()

	began := s.now()
	res, summary := s.dispatch(ctx, name, args)
	if res.Text == "" {
		res.Text = jsonText(res.Data)
	}
	if summary == "" {
		summary = clip(res.Text, 300)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if len(args) > maxArgsInTranscript {
		args = json.RawMessage(jsonText(map[string]any{"truncated": true, "bytes": len(args)}))
	}
	s.appendLocked(Entry{Kind: "tool", Tool: name, Args: compactJSON(args), Summary: summary, IsError: res.IsError,
		ElapsedMS: s.now().Sub(began).Milliseconds()})
	if s.submitted != nil && s.stopped == "" {
		s.stopped = "submitted"
	}
	s.checkWallLocked()
	res.Done = s.stopped != ""
	return res
}

// maxArgsInTranscript bounds one call's arguments in the transcript; a
// spec is a few KiB, so only pathological calls are cut.
const maxArgsInTranscript = 256 << 10

func (s *Session) phase(phase, msg string) {
	if s.progress != nil {
		s.progress(phase, msg)
	}
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf(`{"error":%q}`, err.Error())
	}
	return string(b)
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	if !json.Valid(raw) {
		// Kept as a JSON string so the transcript stays one JSON object
		// per line.
		b, _ := json.Marshal(string(raw))
		return b
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
