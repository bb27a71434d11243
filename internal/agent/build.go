// Package agent is Spindle's build agent: from a vendor's API documentation
// to an integration proposal a person can review. A Brain (the offline
// heuristic one, or a model) drafts a spec through a closed tool set —
// read the API surface and the doc's text, write or patch the draft,
// validate it in a sandbox, read the report, submit — and the session
// keeps the transcript, enforces the budgets and, after the brain
// submits, validates the draft once more with a seed the brain never saw.
//
// What the agent cannot do is the design: no tool reaches the network
// (validation's sandboxes are loopback servers behind an egress guard),
// reads or sets a credential, approves, releases or deploys, or touches
// the sandbox, its ground truth or the checks — validation builds those
// from the session's own copy of the surface on every call, and the
// verdict is computed after the brain has stopped.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/draft"
	"github.com/spindlehq/spindle/internal/prose"
	"github.com/spindlehq/spindle/internal/validate"
)

// Defaults of Config.
const (
	DefaultMaxIterations = 60
	DefaultMaxWall       = 5 * time.Minute
)

// verdictSeedOffset separates the verdict's seed from the iteration seeds
// (seed+1, seed+2, …): no brain gets anywhere near a million validations.
const verdictSeedOffset = 1_000_003

// Config is one build.
type Config struct {
	// Doc is the vendor documentation: a file or an http(s) URL; OpenAPI
	// or Swagger (JSON or YAML), or prose (markdown or HTML).
	Doc   string
	Brain Brain
	Budget
	// Seed of the sandboxes' data (default 1).
	Seed int64
	// Progress is told each phase ("docs", "draft", "validate", "verdict").
	Progress func(phase, msg string)
	// HTTPClient fetches URL docs (default: one-minute timeout).
	HTTPClient *http.Client
	Now        func() time.Time
}

// Outcome is a finished build: what the proposal bundle holds.
type Outcome struct {
	Passed  bool   `json:"passed"`
	Stopped string `json:"stopped"` // "submitted", or which budget ended it, or the brain's error
	Brain   string `json:"brain"`
	Doc     DocRef `json:"doc"`
	// SpecYAML is the submitted (or last) draft.
	SpecYAML []byte `json:"-"`
	// Lint of the final draft; Scorecard its verdict with the held-out seed
	// (nil when the draft could not be validated; Reason then says why).
	Lint       []findingView       `json:"lint"`
	Scorecard  *validate.Scorecard `json:"scorecard,omitempty"`
	Reason     string              `json:"reason,omitempty"`
	Notes      string              `json:"notes,omitempty"`
	Questions  []string            `json:"questions,omitempty"`
	Rejections []string            `json:"rejections,omitempty"`
	Facts      *Facts              `json:"facts,omitempty"`
	// Draft is the heuristic brain's reasoning (coverage, decisions with
	// evidence); nil for other brains.
	Draft      *draft.Result `json:"draft,omitempty"`
	Usage      Usage         `json:"usage"`
	Transcript []Entry       `json:"-"`
}

// DocRef says which document a build read.
type DocRef struct {
	Location string `json:"location"`
	SHA256   string `json:"sha256"`
	Format   string `json:"format"`
	Title    string `json:"title,omitempty"`
	Version  string `json:"version,omitempty"`
}

// Build runs one build to its outcome. The error is for builds that could
// not start (no brain, an unreadable doc); a draft that fails validation
// is an Outcome with Passed false.
func Build(ctx context.Context, cfg Config) (*Outcome, error) {
	if cfg.Brain == nil {
		return nil, errors.New("agent: no brain configured")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxIterations <= 0 {
		cfg.MaxIterations = DefaultMaxIterations
	}
	if cfg.MaxWall <= 0 {
		cfg.MaxWall = DefaultMaxWall
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	progress := func(phase, msg string) {
		if cfg.Progress != nil {
			cfg.Progress(phase, msg)
		}
	}
	s := &Session{budget: cfg.Budget, now: cfg.Now, start: cfg.Now(), docLoc: cfg.Doc, seed: cfg.Seed, progress: cfg.Progress}

	progress("docs", "reading "+cfg.Doc)
	ref, err := s.load(ctx, cfg)
	if err != nil {
		return nil, err
	}

	progress("draft", fmt.Sprintf("%s brain drafting (budget: %d tool calls, %s)", cfg.Brain.Name(), cfg.MaxIterations, cfg.MaxWall))
	dctx, cancel := context.WithTimeout(ctx, cfg.MaxWall)
	brainErr := cfg.Brain.Drive(dctx, s)
	cancel()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	s.mu.Lock()
	switch {
	case s.stopped != "":
	case brainErr != nil:
		s.stopped = "the brain stopped with an error: " + brainErr.Error()
		s.appendLocked(Entry{Kind: "error", Summary: clip(brainErr.Error(), 2000)})
	default:
		s.stopped = "the brain stopped without submitting"
	}
	out := &Outcome{Brain: cfg.Brain.Name(), Doc: ref, SpecYAML: s.specYAML, Stopped: s.stopped,
		Rejections: s.rejections, Lint: findingsView(s.specLint)}
	if s.submitted != nil {
		out.Notes, out.Questions = s.submitted.Notes, s.submitted.Questions
	}
	s.mu.Unlock()

	switch {
	case len(out.SpecYAML) == 0:
		out.Reason = "the brain wrote no spec"
	case s.surface == nil:
		out.Reason = "the doc has no machine-readable API description (OpenAPI or Swagger), so no sandbox could be generated: the draft is unvalidated"
	default:
		progress("verdict", "validating the final draft in a fresh sandbox with a seed the brain never saw")
		card, err := validate.Run(ctx, "integration.yaml", out.SpecYAML, s.surface, validate.Options{Seed: cfg.Seed + verdictSeedOffset})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			out.Reason = "validation could not run: " + err.Error()
		} else {
			out.Scorecard = card
			if !card.Passed {
				out.Reason = "validation failed: " + failedIDs(card)
			}
		}
	}
	out.Facts = facts(out.SpecYAML, s.surface)
	if dp, ok := cfg.Brain.(interface{ LastDraft() *draft.Result }); ok {
		out.Draft = dp.LastDraft()
	}
	out.Questions = append(out.Questions, autoQuestions(out.Facts, out.Questions)...)
	out.Passed = out.Scorecard != nil && out.Scorecard.Passed && out.Stopped == "submitted"
	if out.Scorecard != nil && out.Scorecard.Passed && out.Stopped != "submitted" {
		out.Reason = "the draft validates, but the brain did not submit it: " + out.Stopped
	}

	s.mu.Lock()
	out.Transcript = s.transcript
	out.Usage = s.usage
	s.mu.Unlock()
	out.Usage.Elapsed = cfg.Now().Sub(s.start)
	return out, nil
}

func failedIDs(c *validate.Scorecard) string {
	var ids []string
	for _, ch := range c.Failed() {
		id := ch.ID
		if ch.Stream != "" {
			id += " (" + ch.Stream + ")"
		}
		ids = append(ids, id)
	}
	if len(ids) > 8 {
		ids = append(ids[:8], fmt.Sprintf("and %d more", len(ids)-8))
	}
	return strings.Join(ids, ", ")
}

// load reads the doc: an OpenAPI surface when it is one, else prose.
func (s *Session) load(ctx context.Context, cfg Config) (DocRef, error) {
	surf, err := apisurface.Load(ctx, cfg.Doc, apisurface.Options{HTTPClient: cfg.HTTPClient})
	switch {
	case err == nil:
		s.surface = surf
		text := surfaceText(surf)
		d, perr := prose.Parse("api-surface.md", []byte(text))
		if perr != nil {
			// The text is ours and bounded; a failure here is a bug, but
			// the build can go on without search.
			d = &prose.Doc{}
		}
		s.prose = d
		return DocRef{Location: cfg.Doc, SHA256: surf.Source.SHA256, Format: surf.Source.Format, Title: surf.Title, Version: surf.Version}, nil
	case errors.Is(err, apisurface.ErrNotOpenAPI):
		data, rerr := readDoc(ctx, cfg.Doc, cfg.HTTPClient)
		if rerr != nil {
			return DocRef{}, rerr
		}
		d, perr := prose.Parse(cfg.Doc, data)
		if perr != nil {
			return DocRef{}, perr
		}
		s.prose = d
		return DocRef{Location: cfg.Doc, SHA256: sha256Hex(data), Format: d.Format, Title: d.Title}, nil
	default:
		return DocRef{}, err
	}
}

func readDoc(ctx context.Context, loc string, c *http.Client) ([]byte, error) {
	if !strings.HasPrefix(loc, "http://") && !strings.HasPrefix(loc, "https://") {
		f, err := os.Open(loc)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return io.ReadAll(io.LimitReader(f, prose.MaxInputBytes+1))
	}
	if c == nil {
		c = &http.Client{Timeout: time.Minute}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: %s", loc, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, prose.MaxInputBytes+1))
}
