// Package draft is the heuristic brain's knowledge: it writes an
// integration spec from an API surface alone — which list operations hold
// non-human identities (and their parents for for_each fan-out, or the
// services whose records embed them), how to authenticate (including value
// prefixes the doc's prose asks for), how each list pages and where its
// records are, how vendor fields map to canonical fields by name, format
// and meaning, which relationships the references allow, and the
// least-privilege scopes the chosen operations need. It then repairs a
// draft from a validation scorecard.
//
// Everything here is derived from the document: no vendor name, path or
// field name is special-cased. Where the document cannot tell (no security
// scheme declared, an unknown paging style), the draft says so as a
// Question for the human reviewer instead of guessing silently.
//
// The package is pure: no I/O, no clock, no randomness. The same surface
// gives the same spec, byte for byte.
package draft

import (
	"github.com/spindlehq/spindle/internal/integration"
)

// Options shape a draft.
type Options struct {
	// Name is metadata.name (default: a slug of the surface's title).
	Name string
	// Owner is metadata.owner (default "unassigned": governance requires a
	// person to set it before release).
	Owner string
	// MaxStreams bounds how many streams a draft reads (default 12), the
	// most NHI-relevant first; the rest are listed in Coverage as skipped.
	MaxStreams int
}

// Result is a draft spec and everything a reviewer needs to judge it.
type Result struct {
	Spec *integration.Spec `json:"-"`
	// YAML is the spec as written to integration.yaml, with comments that
	// say where each choice came from.
	YAML []byte `json:"-"`
	// Coverage lists every NHI-relevant list operation considered: read
	// (and by which stream) or skipped, and why.
	Coverage []Coverage `json:"coverage"`
	// Scopes are the least-privilege OAuth scopes the chosen operations
	// need, per scheme, from the doc's per-operation security.
	Scopes []ScopeNeed `json:"scopes,omitempty"`
	// Decisions explain auth, paging, records and mapping choices with the
	// doc's evidence and a confidence.
	Decisions []Decision `json:"decisions"`
	// Questions are what the doc does not say and a person must answer.
	Questions []string `json:"questions,omitempty"`
	// Overrides are what Repair has learnt from validation; the draft is
	// always written from the surface under them.
	Overrides Overrides `json:"overrides,omitempty"`

	opts Options // the options Draft was called with, for Repair
}

// Coverage is one candidate operation.
type Coverage struct {
	Operation string `json:"operation"` // "GET /api/v1/apps"
	// Embedded names the array property of each record that holds the
	// identities, when they are embedded in another list's records.
	Embedded string `json:"embedded,omitempty"`
	Kind     string `json:"kind,omitempty"`
	Stream   string `json:"stream,omitempty"` // the stream reading it; "" when skipped
	Via      string `json:"via,omitempty"`    // "list", "for_each <parent>", "embedded in <stream>"
	Skipped  string `json:"skipped,omitempty"`
	// Confidence is how sure the draft is of the kind; Score ranks
	// candidates for the stream budget (confidence less fan-out costs).
	Confidence float64 `json:"confidence,omitempty"`
	Score      float64 `json:"score,omitempty"`
}

// ScopeNeed is one OAuth scope an operation needs.
type ScopeNeed struct {
	Scheme     string   `json:"scheme"`
	Scope      string   `json:"scope"`
	Operations []string `json:"operations"`
}

// Decision is one choice and its evidence.
type Decision struct {
	Topic      string   `json:"topic"` // "auth", "paging <stream>", "records <stream>", "map <stream>.<field>", …
	Choice     string   `json:"choice"`
	Confidence float64  `json:"confidence"`
	Evidence   []string `json:"evidence,omitempty"`
}

// The entry points (implemented in the package's other files):
//
//	func Draft(s *apisurface.Surface, o Options) (*Result, error)
//	func Repair(s *apisurface.Surface, r *Result, failed []validate.Check) (*Result, []string, bool)
//
// Draft writes the first spec. Repair takes the failing checks of a
// scorecard and returns a changed draft, what it changed, and whether it
// changed anything (false: it has no further idea, and the loop stops).

// Key identifies a coverage entry: the operation, and for embedded
// identities the property ("GET /services (integrations[])").
func (c Coverage) Key() string {
	if c.Embedded != "" {
		return c.Operation + " (" + c.Embedded + "[])"
	}
	return c.Operation
}
