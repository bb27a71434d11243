package draft

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/spindlehq/spindle/internal/apisurface"
)

// TestExampleDocs drafts and validates the project's example vendor docs,
// one per API style (page tokens with a project scope, OData, RPC
// envelopes, the LIST verb, no auth, offset paging): the rules must
// generalise beyond the corpus.
func TestExampleDocs(t *testing.T) {
	docs, _ := filepath.Glob("../../examples/docs/*.yaml")
	if len(docs) == 0 {
		t.Skip("no example docs")
	}
	for _, p := range docs {
		t.Run(filepath.Base(p), func(t *testing.T) {
			s, err := apisurface.Load(context.Background(), p, apisurface.Options{})
			if err != nil {
				t.Fatal(err)
			}
			r := mustDraft(t, s, Options{})
			if testing.Short() {
				return
			}
			r, card := validateDraft(t, s, r, false)
			if !card.Passed {
				logCard(t, card)
				t.Errorf("validation failed:\n%s", r.YAML)
			}
		})
	}
}
