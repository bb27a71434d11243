// Package validate proves an integration spec against a sandbox generated
// from the vendor's own documentation: every seeded entity fetched across
// pages and fan-out, every record valid in the canonical model, mapped
// fields filled, relationships resolvable, auth sent as the doc says, the
// run resilient to 429s, 5xx bursts and slow responses, and a schema drift
// failing loudly instead of yielding empty fields.
//
// The validator owns everything it judges by. Each call builds fresh
// sandboxes from its own copy of the surface, with a seed the caller picks;
// the spec under test reaches them only over HTTP, through the sandbox's
// egress guard, and nothing it can express touches the sandbox, the ground
// truth or the checks (architecture boundary 1). The build agent calls
// validation as a tool; it cannot reach this package's inputs.
package validate

import (
	"time"

	"github.com/spindlehq/spindle/internal/apisurface"
)

// Check identifiers, in the order a scorecard lists them.
const (
	CheckLint          = "lint"           // the policy lint has no error
	CheckOperations    = "operations"     // every stream reads a documented GET operation
	CheckAuth          = "auth"           // every request authenticated the way the doc declares
	CheckCompleteness  = "completeness"   // every seeded entity fetched, per stream
	CheckSchema        = "schema"         // every record valid against the canonical schema
	CheckNullRate      = "null_rate"      // mapped fields are filled (a mapping that reads nothing is caught)
	CheckRelationships = "relationships"  // relationship targets resolve to fetched records or are external by design
	CheckRateLimited   = "resilience_429" // complete despite 429s with Retry-After
	CheckServerErrors  = "resilience_5xx" // complete despite bursts of 503s
	CheckSlow          = "resilience_slow"
	CheckDrift         = "drift" // a drifted field makes the run fail loudly, not return empty fields
)

// Check statuses.
const (
	StatusPass = "pass"
	StatusFail = "fail"
	StatusWarn = "warn" // reported to the reviewer; does not fail validation
	StatusSkip = "skip" // not applicable (say why in Summary)
)

// Options shape one validation.
type Options struct {
	// Seed of the sandboxes' data and credentials. Callers that let an
	// agent iterate should validate the final spec with a seed the agent
	// never saw.
	Seed int64
	// Entities per top-level list (default sandbox.DefaultEntities).
	Entities int
	// Now is the sandbox's reference time (default sandbox.DefaultNow()).
	Now time.Time
	// Quick runs only the baseline scenario (lint, operations, auth,
	// completeness, schema, null rate, relationships) and marks the
	// resilience and drift checks skip. For iterating, not for a verdict.
	Quick bool
	// Config values for the spec's connection.config inputs; a required
	// input without a value gets a synthetic one.
	Config map[string]string
	// Progress, when set, is told each scenario as it starts.
	Progress func(scenario string)
}

// Scorecard is the outcome of a validation: pass/fail per check with
// evidence. It holds no secret: the sandbox's synthetic credentials are
// redacted from every line, as real ones would be.
type Scorecard struct {
	Passed     bool              `json:"passed"`
	SpecSHA256 string            `json:"spec_sha256"`
	Doc        apisurface.Source `json:"doc"`
	Seed       int64             `json:"seed"`
	Checks     []Check           `json:"checks"`
	Streams    []StreamScore     `json:"streams"`
	Requests   int               `json:"requests"` // HTTP requests the sandboxes served
	Elapsed    time.Duration     `json:"elapsed_ns"`
}

// Check is one verdict with its evidence.
type Check struct {
	ID       string   `json:"id"`
	Stream   string   `json:"stream,omitempty"` // "" for spec-wide checks
	Status   string   `json:"status"`
	Summary  string   `json:"summary"`
	Evidence []string `json:"evidence,omitempty"` // bounded: at most 20 lines
}

// StreamScore is what one stream read in the baseline scenario.
type StreamScore struct {
	Name      string `json:"name"`
	Operation string `json:"operation"` // "GET /apps/{appId}/keys", the doc's template
	Parent    string `json:"parent,omitempty"`
	Emits     string `json:"emits,omitempty"`
	// Expected is the number of entities the sandbox seeded for the
	// stream (after fan-out), Fetched the records it produced, Matched
	// those whose external_id is a seeded id.
	Expected int      `json:"expected"`
	Fetched  int      `json:"fetched"`
	Matched  int      `json:"matched"`
	Missing  []string `json:"missing,omitempty"` // up to 10 seeded ids never fetched
	Pages    int      `json:"pages"`
	// NullRates: for each canonical field the map sets, the share of
	// records where it came out null or empty.
	NullRates map[string]float64 `json:"null_rates,omitempty"`
	Errors    []string           `json:"errors,omitempty"` // the runtime's errors, redacted, at most 10
}

// Failed returns the checks that did not pass (fail only).
func (s *Scorecard) Failed() []Check {
	var out []Check
	for _, c := range s.Checks {
		if c.Status == StatusFail {
			out = append(out, c)
		}
	}
	return out
}

// Run (run.go) is the entry point:
//
//	func Run(ctx context.Context, file string, specYAML []byte, surface *apisurface.Surface, o Options) (*Scorecard, error)
//
// It validates the spec (its YAML text, so lint findings carry file:line)
// against sandboxes built from surface. A spec that does not parse, lint or
// compile is not an error: the scorecard fails its lint check with the
// findings as evidence. It returns an error only when validation itself
// cannot proceed (a sandbox cannot be built, ctx is cancelled).
