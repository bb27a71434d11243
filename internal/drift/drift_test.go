package drift

import (
	"context"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/integration"
)

// The corpus pairs: real vendor docs, one release apart.
const (
	oktaOld      = "../../../shared/corpus/okta/management.2024.09.2.yaml"
	oktaNew      = "../../../shared/corpus/okta/management.2025.01.1.yaml"
	pagerdutyOld = "../../../shared/corpus/pagerduty/openapiv3.2024-01-31.json"
	pagerdutyNew = "../../../shared/corpus/pagerduty/openapiv3.2025-03-24.json"
)

func loadSpec(t *testing.T, name string) *integration.Spec {
	t.Helper()
	doc, err := integration.LoadFile("testdata/" + name + ".integration.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return doc.Spec
}

func diff(t *testing.T, oldDoc, newDoc, spec string) *Report {
	t.Helper()
	r, err := Diff(context.Background(), oldDoc, newDoc, loadSpec(t, spec), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s in %s", r.Summary, r.Elapsed)
	return r
}

// find returns the changes of kind whose stream, operation and path match.
func find(cs []Change, stream, path string) []Change {
	var out []Change
	for _, c := range cs {
		if c.Stream == stream && c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

func TestSynthetic(t *testing.T) {
	r := diff(t, "testdata/synthetic.old.yaml", "testdata/synthetic.new.yaml", "synthetic")
	// The field the map reads went away: breaking, on the stream reading it.
	if len(r.Breaking) != 1 {
		t.Fatalf("breaking = %+v, want exactly the removed owner field", r.Breaking)
	}
	b := r.Breaking[0]
	if b.Stream != "keys" || b.Operation != "GET /keys" || b.Path != "response.body.data.[].owner" || !strings.Contains(b.What, "removed") {
		t.Errorf("breaking = %+v", b)
	}
	// A description change to a field the map reads, a new record field
	// and a description change of the operation are non-breaking.
	if c := find(r.NonBreaking, "keys", "response.body.data.[].name.description"); len(c) != 0 {
		t.Errorf("path should name the field, not its keyword: %+v", c)
	}
	var sawName, sawNew bool
	for _, c := range r.NonBreaking {
		if c.Path == "response.body.data.[].name" && strings.Contains(c.What, "description") {
			sawName = true
		}
		if strings.Contains(c.What, `new field "last_used_at"`) {
			sawNew = true
		}
	}
	if !sawName || !sawNew {
		t.Errorf("non-breaking = %+v, want the name description change and the new last_used_at field", r.NonBreaking)
	}
	// The deprecated created_at field the map reads.
	if len(r.Deprecations) != 1 || r.Deprecations[0].Path != "response.body.data.[].created_at" {
		t.Errorf("deprecations = %+v", r.Deprecations)
	}
	// The new service-account list is coverage drift.
	if len(r.Coverage) != 1 || !strings.HasPrefix(r.Coverage[0], "GET /service-accounts (service_account)") {
		t.Errorf("coverage = %v", r.Coverage)
	}
	// The widget changes touch nothing the spec reads.
	if r.Ignored == 0 {
		t.Errorf("ignored = 0, want the /widgets and new-path changes counted")
	}
	for _, cs := range [][]Change{r.Breaking, r.NonBreaking, r.Deprecations} {
		for _, c := range cs {
			if strings.Contains(c.Operation, "widgets") || strings.Contains(c.What, "colo") {
				t.Errorf("irrelevant change kept: %+v", c)
			}
		}
	}
	if !r.HasBreaking() || r.Old.SHA256 == "" || r.Old.SHA256 == r.New.SHA256 {
		t.Errorf("report header: %+v %+v", r.Old, r.New)
	}
}

func TestFieldRefs(t *testing.T) {
	x := `{"a": r.?name.orValue(r.?summary.orValue(null)), "u": r.delivery_method.url, "c": r.?createdBy.?id.orValue(null), "n": other.r.x, "s": r.status in ["x"] ? dyn(r.status) : null}`
	var got []string
	for _, f := range fieldRefs(x, "r") {
		got = append(got, f.path)
	}
	want := "name summary delivery_method.url createdBy.id status status"
	if strings.Join(got, " ") != want {
		t.Errorf("fieldRefs = %q, want %q", strings.Join(got, " "), want)
	}
	if fs := fieldRefs("r.id", "r"); len(fs) != 1 || !fs[0].strict {
		t.Errorf("r.id: %+v", fs)
	}
}

func TestRecordsSegs(t *testing.T) {
	for in, want := range map[string]string{".": "", "": "", "addons": "addons", "services.*.integrations": "services [] integrations", "/data/items": "data items"} {
		if got := strings.Join(recordsSegs(in), " "); got != want {
			t.Errorf("recordsSegs(%q) = %q, want %q", in, got, want)
		}
	}
}
