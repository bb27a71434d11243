package agent

import (
	"context"
	"encoding/json"
)

// Brain decides which tool to call next. It gets the session's Tools,
// the closed set that is everything it can do: no tool reaches anything
// but the sandbox, reads a credential, approves or deploys. Drive returns
// when the brain submits, gives up, or the session's budget stops it
// (every Call then answers with Done set).
type Brain interface {
	Name() string
	Drive(ctx context.Context, t Tools) error
}

// Tools is a brain's whole world. *Session implements it.
type Tools interface {
	// Brief is the instruction for a model-driven brain.
	Brief() Brief
	// ModelTools is the tool set offered to a model (all but read_surface).
	ModelTools() []ToolSpec
	// Call runs one tool, records it in the transcript and charges an
	// iteration. Unknown tools and bad arguments come back as IsError.
	Call(ctx context.Context, name string, args json.RawMessage) ToolResult
	// Charge records a model's token use (and cost in USD when known); it
	// returns ErrBudget once the token or cost budget is spent.
	Charge(inputTokens, outputTokens int, costUSD float64) error
	// Note records what a brain saw that is not a tool call (a reply that
	// was not valid JSON, a refusal) in the transcript.
	Note(kind, text string)
	// Done reports whether the session is over (submitted or out of budget).
	Done() bool
}

// ToolSpec describes one tool to a model: a name, what it does, and the
// JSON Schema of its arguments (an object).
type ToolSpec struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Parameters  map[string]any `json:"parameters"`
}

// ToolResult is what a call returns. Text is the JSON a model reads; Data
// is the same result as a Go value for an in-process brain. IsError marks
// a call that failed (bad arguments, unknown tool, policy refusal): the
// brain is told why in Text and may try again. Done says the session is
// over (submitted, or a budget is spent): the brain must stop.
type ToolResult struct {
	Text    string `json:"text"`
	Data    any    `json:"-"`
	IsError bool   `json:"is_error,omitempty"`
	Done    bool   `json:"done,omitempty"`
}

// Tool names: the closed set.
const (
	ToolListOperations = "list_operations" // {filter?, nhi_only?}
	ToolGetOperation   = "get_operation"   // {method, path}
	ToolGetAuth        = "get_auth"        // {}
	ToolReadSurface    = "read_surface"    // {} — the whole API surface (in-process brains)
	ToolSearchDocs     = "search_docs"     // {query, limit?}
	ToolReadSection    = "read_section"    // {id}
	ToolWriteSpec      = "write_spec"      // {yaml}
	ToolPatchSpec      = "patch_spec"      // {old, new}: replace exactly one occurrence
	ToolReadSpec       = "read_spec"       // {}
	ToolValidate       = "validate"        // {quick?}
	ToolReadReport     = "read_report"     // {check?}
	ToolSubmit         = "submit"          // {notes, questions?}
)

// args is how brains build a call's arguments.
func args(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only ever called with plain maps and structs
	}
	return b
}
