package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/draft"
	"github.com/spindlehq/spindle/internal/validate"
)

// Heuristic is the offline, deterministic brain: it reads the surface,
// drafts with package draft, validates, repairs from the failing checks
// and submits. It goes through the same tools as a model, so its
// transcript shows every step, and it can do nothing a model could not.
type Heuristic struct {
	Options draft.Options
	// MaxRepairs bounds repair rounds (default 4).
	MaxRepairs int

	last *draft.Result
}

// Name implements Brain.
func (h *Heuristic) Name() string { return "heuristic" }

// LastDraft is the draft the brain submitted, with its coverage, decisions
// and questions for the report; nil before Drive.
func (h *Heuristic) LastDraft() *draft.Result { return h.last }

// ErrNeedsOpenAPI is returned when the doc is prose: the heuristic brain
// reads machine-readable API descriptions only.
var ErrNeedsOpenAPI = errors.New("the heuristic brain needs an OpenAPI or Swagger document; this doc is prose — use --brain llm, or give the vendor's OpenAPI document")

// Drive implements Brain.
func (h *Heuristic) Drive(ctx context.Context, t Tools) error {
	res := t.Call(ctx, ToolReadSurface, nil)
	if res.Done {
		return nil
	}
	surf, ok := res.Data.(*apisurface.Surface)
	if !ok || surf == nil {
		t.Note("refusal", ErrNeedsOpenAPI.Error())
		return ErrNeedsOpenAPI
	}
	// What a person would look at first; recorded in the transcript.
	if t.Call(ctx, ToolGetAuth, nil).Done {
		return nil
	}
	if t.Call(ctx, ToolListOperations, args(map[string]any{"nhi_only": true, "limit": maxListOps})).Done {
		return nil
	}

	d, err := draft.Draft(surf, h.Options)
	if err != nil {
		return fmt.Errorf("drafting: %w", err)
	}
	h.last = d
	for _, c := range d.Coverage {
		if c.Stream == "" {
			continue
		}
		method, path, _ := strings.Cut(c.Operation, " ")
		if t.Call(ctx, ToolGetOperation, args(map[string]string{"method": method, "path": path})).Done {
			return nil
		}
	}
	if t.Call(ctx, ToolWriteSpec, args(map[string]string{"yaml": string(d.YAML)})).Done {
		return nil
	}

	maxRepairs := h.MaxRepairs
	if maxRepairs <= 0 {
		maxRepairs = 4
	}
	var outcome string
	for round := 0; ; round++ {
		v := t.Call(ctx, ToolValidate, args(map[string]bool{"quick": false}))
		if v.Done {
			return nil
		}
		card, _ := v.Data.(*validate.Scorecard)
		if card == nil {
			outcome = "validation could not run: " + v.Text
			break
		}
		if card.Passed {
			outcome = "validation passed"
			break
		}
		if round == maxRepairs {
			outcome = fmt.Sprintf("validation still fails after %d repair rounds: %s", maxRepairs, failedIDs(card))
			break
		}
		nd, changes, changed := draft.Repair(surf, d, card.Failed())
		if !changed {
			outcome = "validation fails and the heuristic has no further repair: " + failedIDs(card)
			break
		}
		t.Note("repair", strings.Join(changes, "; "))
		d = nd
		h.last = d
		if t.Call(ctx, ToolWriteSpec, args(map[string]string{"yaml": string(d.YAML)})).Done {
			return nil
		}
	}
	t.Call(ctx, ToolSubmit, args(map[string]any{"notes": heuristicNotes(d, outcome), "questions": d.Questions}))
	return nil
}

func heuristicNotes(d *draft.Result, outcome string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Drafted offline from the document alone; %s.\n", outcome)
	read, skipped := 0, 0
	for _, c := range d.Coverage {
		if c.Stream != "" {
			read++
		} else {
			skipped++
		}
	}
	fmt.Fprintf(&b, "%d candidate operations read, %d considered and skipped (see the coverage table).\n", read, skipped)
	low := 0
	for _, dec := range d.Decisions {
		if dec.Confidence < 0.6 {
			low++
		}
	}
	if low > 0 {
		fmt.Fprintf(&b, "%d choices rest on weak evidence (confidence below 0.6): check them in the decisions table.\n", low)
	}
	return b.String()
}
