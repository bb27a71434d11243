package drift

import (
	"context"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/integration"
)

// The specs under testdata/{okta,pagerduty}.integration.yaml were built
// offline from the older doc of each pair by the heuristic brain
// (agent.Build(ctx, agent.Config{Doc: <old doc>, Brain: &agent.Heuristic{}})
// → Outcome.SpecYAML), as `spindle build <old doc>` writes them, and are
// committed so these tests need not rebuild them (~5 s each).

func kinds(r *Report) map[string][]Change {
	return map[string][]Change{Breaking: r.Breaking, NonBreaking: r.NonBreaking, Deprecation: r.Deprecations}
}

// keyed lists a report's changes as "kind stream path" lines.
func keyed(r *Report) []string {
	var out []string
	for k, cs := range kinds(r) {
		for _, c := range cs {
			out = append(out, k+" "+c.Stream+" "+c.Path)
		}
	}
	return out
}

func TestOktaDrift(t *testing.T) {
	r := diff(t, oktaOld, oktaNew, "okta")
	// 2024.09.2 → 2025.01.1 only adds operations (support cases, device
	// posture checks, WebAuthn pre-registration, app express-configure)
	// and bumps the version: nothing the integration reads changed.
	if got := keyed(r); len(got) != 0 {
		t.Errorf("changes kept = %v, want none", got)
	}
	if r.Total != 7 || r.Ignored != 7 {
		t.Errorf("total %d, ignored %d; want 7 of 7 ignored", r.Total, r.Ignored)
	}
	// Every stream names an operation of the old doc, so the filter
	// really had the streams' operations to look at.
	if len(r.Unmatched) != 0 {
		t.Errorf("unmatched streams %v", r.Unmatched)
	}
	// The new operations are not NHI lists the integration should read.
	if len(r.Coverage) != 0 {
		t.Errorf("coverage = %v", r.Coverage)
	}
	if r.HasBreaking() || !strings.Contains(r.Summary, "7 of 7 changes elsewhere in the doc were ignored") {
		t.Errorf("summary %q", r.Summary)
	}
}

func TestPagerDutyDrift(t *testing.T) {
	r := diff(t, pagerdutyOld, pagerdutyNew, "pagerduty")
	want := map[string]string{
		"non-breaking services_integrations parameter.name":                `new optional parameter "name"`,
		"non-breaking status_pages parameter.X-EARLY-ACCESS":               `parameter "X-EARLY-ACCESS" (the stream does not send it) was removed`,
		"non-breaking status_pages_subscriptions parameter.X-EARLY-ACCESS": `parameter "X-EARLY-ACCESS" (the stream does not send it) was removed`,
		"non-breaking webhook_subscriptions operation.description":         "Scoped OAuth requires: `webhook_subscriptions.read`",
	}
	got := map[string]string{}
	for k, cs := range kinds(r) {
		for _, c := range cs {
			got[k+" "+c.Stream+" "+c.Path] = c.What
		}
	}
	if len(got) != len(want) {
		t.Errorf("changes kept = %v, want %d", keyed(r), len(want))
	}
	for k, w := range want {
		if !strings.Contains(got[k], w) {
			t.Errorf("%s: got %q, want it to say %q", k, got[k], w)
		}
	}
	// 718 changes, of which the 714 elsewhere are ignored: among them 84
	// under /event_orchestrations/services/{service_id} and 51 under
	// /event_orchestrations/{id}/global, next to the
	// /event_orchestrations/{id}/integrations the spec reads, and 14 in
	// the Service component, none on the embedded integrations it reads.
	if r.Total != 718 || r.Ignored != 714 {
		t.Errorf("total %d, ignored %d; want 714 of 718 ignored", r.Total, r.Ignored)
	}
	for _, c := range append(append(r.Breaking, r.NonBreaking...), r.Deprecations...) {
		if strings.Contains(c.Operation, "/global") || strings.Contains(c.Operation, "/event_orchestrations/services") {
			t.Errorf("change to an operation the spec does not read: %+v", c)
		}
	}
	if r.HasBreaking() || len(r.Coverage) != 0 || len(r.Unmatched) != 0 {
		t.Errorf("breaking %v, coverage %v, unmatched %v", r.Breaking, r.Coverage, r.Unmatched)
	}
}

// TestPagerDutyServiceFields reads fields of the real Service schema that
// PagerDuty deprecated and restructured in 2025-03 (alert_creation,
// alert_grouping_parameters: a $ref inlined into oneOf alternatives), to
// show changes under a component schema reach the stream that reads them,
// and that a restructure which keeps the field is not called breaking.
func TestPagerDutyServiceFields(t *testing.T) {
	sp := loadSpec(t, "pagerduty")
	sp.Streams = append(sp.Streams, integration.Stream{
		Name: "services", Request: integration.Request{Method: "GET", Path: "/services"}, Records: "services",
		Map: map[string]string{
			"external_id": "r.id",
			"attributes":  `{"creation": r.?alert_creation.orValue(null), "grouping": r.?alert_grouping_parameters.?type.orValue(null)}`,
		},
	})
	r, err := Diff(context.Background(), pagerdutyOld, pagerdutyNew, sp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var dep []string
	for _, c := range r.Deprecations {
		dep = append(dep, c.Stream+" "+c.Path)
	}
	want := "services response.body.services.[].alert_creation|services response.body.services.[].alert_grouping_parameters"
	if strings.Join(dep, "|") != want {
		t.Errorf("deprecations = %v, want %s", dep, want)
	}
	if r.HasBreaking() {
		t.Errorf("breaking = %+v; the fields are still there in the new doc", r.Breaking)
	}
	restructured := false
	for _, c := range r.NonBreaking {
		if c.Stream == "services" && strings.Contains(c.What, "restructured") {
			restructured = true
		}
	}
	if !restructured {
		t.Errorf("non-breaking = %+v, want the alert_grouping_parameters restructure", r.NonBreaking)
	}
}

func BenchmarkDiff(b *testing.B) {
	for _, c := range []struct{ name, old, new string }{
		{"okta", oktaOld, oktaNew},
		{"pagerduty", pagerdutyOld, pagerdutyNew},
	} {
		doc, err := integration.LoadFile("testdata/" + c.name + ".integration.yaml")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Diff(context.Background(), c.old, c.new, doc.Spec, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompare is libopenapi's what-changed alone, to split Diff's
// time between comparing the docs and loading their surfaces.
func BenchmarkCompare(b *testing.B) {
	for _, c := range []struct{ name, old, new string }{
		{"okta", oktaOld, oktaNew},
		{"pagerduty", pagerdutyOld, pagerdutyNew},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := compare(context.Background(), c.old, c.new, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
