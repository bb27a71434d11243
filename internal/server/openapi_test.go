package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/spindlehq/spindle/internal/findings"
	"github.com/spindlehq/spindle/internal/production/prodtest"
)

// TestOpenAPIMatchesRoutes: every route the router serves (but the
// dashboard mounted at "/") is in /openapi.json with the same methods, and
// every path the document describes is routed.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHarness(t, prodtest.SQLite)
	routed := map[string][]string{}
	err := chi.Walk(h.srv.Router(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if route == "/*" || route == "/" {
			return nil // the dashboard
		}
		route = strings.TrimSuffix(route, "/") // chi.Route mounts with a trailing slash
		routed[route] = append(routed[route], strings.ToLower(method))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := h.do("GET", "/openapi.json", "", nil)
	h.want(r, http.StatusOK)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	r.json(t, &doc)
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	documented := map[string][]string{}
	for path, ops := range doc.Paths {
		for m := range ops {
			if m != "parameters" && m != "summary" && m != "description" {
				documented[path] = append(documented[path], m)
			}
		}
	}
	if len(routed) < 10 {
		t.Fatalf("only %d routes walked: %v", len(routed), routed)
	}
	for _, m := range []map[string][]string{routed, documented} {
		for p := range m {
			slices.Sort(m[p])
		}
	}
	for path, ms := range routed {
		if !slices.Equal(ms, documented[path]) {
			t.Errorf("%s is routed for %v but documented for %v", path, ms, documented[path])
		}
	}
	for path, ms := range documented {
		if _, ok := routed[path]; !ok {
			t.Errorf("%s %v is documented but not routed", path, ms)
		}
	}
}

// TestOpenAPIFindingEnum: the inventory's finding parameter lists exactly
// the rules the server accepts.
func TestOpenAPIFindingEnum(t *testing.T) {
	h := newHarness(t, prodtest.SQLite)
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name   string `json:"name"`
				Schema struct {
					Enum []string `json:"enum"`
				} `json:"schema"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	h.do("GET", "/openapi.json", "", nil).json(t, &doc)
	var got []string
	for _, p := range doc.Paths["/api/v1/inventory"]["get"].Parameters {
		if p.Name == "finding" {
			got = p.Schema.Enum
		}
	}
	var want []string
	for _, r := range findings.IDs() {
		want = append(want, r.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("openapi.json lists findings %v, the server %v", got, want)
	}
}
