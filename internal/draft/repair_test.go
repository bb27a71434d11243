package draft

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/validate"
)

func fail(id, stream, summary string, evidence ...string) validate.Check {
	return validate.Check{ID: id, Stream: stream, Status: validate.StatusFail, Summary: summary, Evidence: evidence}
}

func TestRepair(t *testing.T) {
	for _, tc := range []struct {
		name   string
		doc    string
		checks []validate.Check
		// check judges the repaired draft; nil means Repair must have
		// no idea (changed false).
		check func(t *testing.T, r *Result)
	}{
		{"null rate drops the field", "twoauth.yaml", []validate.Check{
			fail(validate.CheckNullRate, "webhooks", "mapped field(s) name are null in every record although the data has values: the mapping reads nothing; read the property the doc names",
				"name: null or empty in 100% of 25 records (r.?description.orValue(null)); the seeded records carry r.description in 25 of 25"),
		}, func(t *testing.T, r *Result) {
			st := stream(t, r, "webhooks")
			if _, ok := st.Map["name"]; ok {
				t.Errorf("name still mapped: %q", st.Map["name"])
			}
			if _, ok := st.Map["created_at"]; !ok {
				t.Errorf("created_at dropped too")
			}
			if !slices.ContainsFunc(r.Decisions, func(d Decision) bool {
				return d.Topic == "map webhooks" && strings.Contains(d.Choice, "name: dropped by repair")
			}) {
				t.Errorf("no decision records the dropped field")
			}
		}},
		{"mapping errors drop the field, not the stream", "twoauth.yaml", []validate.Check{
			fail(validate.CheckCompleteness, "webhooks", "outcome partial: fetched 3 of 25 seeded entities; see the runtime's errors",
				`runtime: stream webhooks, page 1, record 0: field created_at: "x" is not a timestamp`),
		}, func(t *testing.T, r *Result) {
			st := stream(t, r, "webhooks")
			if _, ok := st.Map["created_at"]; ok {
				t.Errorf("created_at still mapped")
			}
		}},
		{"drift makes a guarded read strict", "twoauth.yaml", []validate.Check{
			fail(validate.CheckDrift, "webhooks", "returns empty fields on drift (r.description renamed to description_v2 in GET /webhooks): the run reported complete while mapped fields went null"),
		}, func(t *testing.T, r *Result) {
			st := stream(t, r, "webhooks")
			if st.Map["name"] != "r.description" {
				t.Errorf("name = %q, want the strict read r.description", st.Map["name"])
			}
		}},
		{"drift of an unread property keeps it as a contract", "twoauth.yaml", []validate.Check{
			fail(validate.CheckDrift, "webhooks", "returns empty fields on drift (r.events renamed to events_v2 in GET /webhooks)"),
		}, func(t *testing.T, r *Result) {
			if a := stream(t, r, "webhooks").Map["attributes"]; !strings.Contains(a, `"events": r.events`) {
				t.Errorf("attributes = %q, want a strict read of events", a)
			}
		}},
		{"auth failure tries the next way", "twoauth.yaml", []validate.Check{
			fail(validate.CheckAuth, "", "25 of 25 requests were not authenticated the way the doc declares"),
		}, func(t *testing.T, r *Result) {
			if a := r.Spec.Connection.Auth; a.Type != "basic" || a.Username != "{config.username}" {
				t.Errorf("auth = %+v, want the doc's second scheme (basic)", a)
			}
		}},
		{"completeness loosens paging", "embedded.yaml", []validate.Check{
			fail(validate.CheckCompleteness, "projects_deploy_keys", "the run reported complete but fetched 20 of 40 seeded entities: paging stopped early"),
		}, func(t *testing.T, r *Result) {
			p := stream(t, r, "projects_deploy_keys").Pagination
			if p == nil || p.MoreField != "" || p.Type != "offset" {
				t.Errorf("pagination = %+v, want offset without the more flag (the first step that changes anything)", p)
			}
		}},
		{"dropping the only stream is no repair", "embedded.yaml", []validate.Check{
			fail(validate.CheckLint, "", "1 lint error(s)", "integration.yaml:40:7 SPX-C001 error: CEL: … (at $.streams[0].map.name)"),
		}, nil},
		{"retries for resilience", "rpc.yaml", []validate.Check{
			fail(validate.CheckServerErrors, "", "stream(s) bots_list did not survive bursts of 1× 503 per request"),
		}, func(t *testing.T, r *Result) {
			if n := r.Spec.Defaults.Retry.MaxAttempts; n != defaultAttempts+3 {
				t.Errorf("max_attempts = %d", n)
			}
		}},
		{"no idea", "rpc.yaml", []validate.Check{
			fail("something_new", "", "a check this build does not know"),
			{ID: validate.CheckNullRate, Stream: "bots_list", Status: validate.StatusWarn, Summary: "name: mostly null"},
		}, nil},
		{"auth with nowhere to go", "rpc.yaml", []validate.Check{
			fail(validate.CheckAuth, "", "401s"),
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := loadDoc(t, tc.doc)
			r := mustDraft(t, s, Options{})
			nr, changes, changed := Repair(s, r, tc.checks)
			if tc.check == nil {
				if changed || nr != r || nr.Spec != r.Spec {
					t.Fatalf("Repair changed the draft (%q), want no idea", changes)
				}
				return
			}
			if !changed || len(changes) == 0 {
				t.Fatalf("Repair changed nothing")
			}
			t.Logf("changes: %q", changes)
			if nr.Spec == nil {
				// Every stream dropped: nothing left to lint.
				tc.check(t, nr)
				return
			}
			checkYAML(t, nr)
			tc.check(t, nr)
			// The same repair again gives the same draft.
			nr2, _, _ := Repair(s, r, tc.checks)
			if string(nr2.YAML) != string(nr.YAML) {
				t.Errorf("repair is not deterministic")
			}
		})
	}
}

// TestRepairChain: repeated auth failures walk the options and then stop.
func TestRepairChain(t *testing.T) {
	s := loadDoc(t, "twoauth.yaml")
	r := mustDraft(t, s, Options{})
	authFail := []validate.Check{fail(validate.CheckAuth, "", "401")}
	var seen []string
	for range 5 {
		nr, _, changed := Repair(s, r, authFail)
		if !changed {
			break
		}
		a := nr.Spec.Connection.Auth
		seen = append(seen, a.Type+"/"+a.Prefix)
		r = nr
	}
	want := []string{"basic/", "api_key/"}
	if !slices.Equal(seen, want) {
		t.Errorf("auth tried %q, want %q", seen, want)
	}
	if r.Overrides.AuthOption != 2 {
		t.Errorf("overrides = %+v", r.Overrides)
	}
}

// TestRepairLint: a lint finding in one stream drops it (and its
// children), with the reason in Coverage; the rest stays.
func TestRepairLint(t *testing.T) {
	s := loadCorpus(t, "pagerduty/openapiv3.2024-01-31.json")
	r := mustDraft(t, s, Options{})
	// The validator's lint lines name the file, line and column.
	line := 0
	for i, l := range strings.Split(string(r.YAML), "\n") {
		if strings.Contains(l, "path: /event_orchestrations") && !strings.Contains(l, "{") {
			line = i + 1
		}
	}
	lint := fail(validate.CheckLint, "", "1 lint error(s)", fmt.Sprintf("integration.yaml:%d:13 SPX-P002 error: a made-up finding", line))
	nr, changes, changed := Repair(s, r, []validate.Check{lint})
	if !changed {
		t.Fatalf("no change")
	}
	checkYAML(t, nr)
	for _, gone := range []string{"event_orchestrations", "event_orchestrations_integrations"} {
		if nr.Spec.Stream(gone) != nil {
			t.Errorf("%s is still read (changes %q)", gone, changes)
		}
	}
	if c, ok := coverage(nr, "GET /event_orchestrations/{id}/integrations"); !ok || !strings.Contains(c.Skipped, "dropped by repair: lint") {
		t.Errorf("coverage = %+v, want the child dropped with the lint reason", c)
	}
	if nr.Spec.Stream("extensions") == nil {
		t.Errorf("an unrelated stream was dropped")
	}
}
