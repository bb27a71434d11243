package apisurface_test

import (
	"slices"
	"testing"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/integration"
)

// The surface names paging styles in the integration spec's vocabulary
// without importing it (data flows docs → surface → spec); this pins the
// two lists together so an inferred style is always a valid spec type.
func TestPagingVocabularyMatchesSpec(t *testing.T) {
	surface := []string{apisurface.PageLinkHeader, apisurface.PageNextURL, apisurface.PageCursor, apisurface.PagePageNumber,
		apisurface.PageOffset, apisurface.PageToken, apisurface.PageHeader, apisurface.PageNone}
	if !slices.Equal(surface, integration.PaginationTypes) {
		t.Fatalf("surface paging styles %v differ from the spec's pagination types %v", surface, integration.PaginationTypes)
	}
	if slices.Contains(integration.PaginationTypes, apisurface.PageUnknown) {
		t.Fatalf("%q must not be a spec pagination type: it means no known style fits", apisurface.PageUnknown)
	}
}
