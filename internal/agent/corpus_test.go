package agent

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/integration"
)

// corpusDir is the shared corpus beside the checkout (CI puts it there).
func corpusDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "corpus")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the vendor corpus is not beside the checkout (%v): clone ../shared next to the repo", err)
	}
	return dir
}

type buildCase struct {
	name string
	doc  string
	// operations the integration must read (the doc's templates).
	ops []string
	// extra checks on the submitted spec and the outcome.
	check func(t *testing.T, sp *integration.Spec, out *Outcome)
}

// TestHeuristicBuilds is the bar: offline, the heuristic brain
// builds a passing proposal for each real vendor document, and for
// hand-written docs in API styles the corpus does not have.
func TestHeuristicBuilds(t *testing.T) {
	corpus := corpusDir(t)
	examples := filepath.Join("..", "..", "examples", "docs")
	cases := []buildCase{
		{name: "okta", doc: filepath.Join(corpus, "okta", "management.2024.09.2.yaml"),
			ops: []string{"GET /api/v1/apps", "GET /api/v1/api-tokens", "GET /api/v1/apps/{appId}/credentials/keys",
				"GET /api/v1/apps/{appId}/credentials/secrets", "GET /api/v1/apps/{appId}/grants", "GET /api/v1/apps/{appId}/tokens"},
			check: func(t *testing.T, sp *integration.Spec, out *Outcome) {
				a := sp.Connection.Auth
				if a.Type != integration.AuthAPIKey || a.Name != "Authorization" || a.Prefix != "SSWS " {
					t.Errorf("auth = %+v, want the SSWS-prefixed Authorization header", a)
				}
				wantScopes(t, out, "okta.apps.read", "okta.apiTokens.read", "okta.appGrants.read")
			}},
		{name: "pagerduty", doc: filepath.Join(corpus, "pagerduty", "openapiv3.2024-01-31.json"),
			ops: []string{"GET /extensions", "GET /webhook_subscriptions", "GET /services", "GET /event_orchestrations/{id}/integrations"},
			check: func(t *testing.T, sp *integration.Spec, out *Outcome) {
				if a := sp.Connection.Auth; a.Prefix != "Token token=" {
					t.Errorf("auth = %+v, want the Token token= prefix", a)
				}
				embedded := false
				for _, st := range sp.Streams {
					embedded = embedded || (st.Request.Path == "/services" && strings.HasSuffix(st.Records, ".*.integrations"))
				}
				if !embedded {
					t.Error("no stream reads the integrations embedded in services")
				}
			}},
		{name: "digitalocean", doc: filepath.Join(corpus, "digitalocean", "2024-03-18", "specification", "DigitalOcean-public.v2.yaml"),
			ops: []string{"GET /v2/account/keys", "GET /v2/certificates", "GET /v2/functions/namespaces"},
			check: func(t *testing.T, sp *integration.Spec, out *Outcome) {
				if a := sp.Connection.Auth; a.Type != integration.AuthBearer {
					t.Errorf("auth = %+v, want bearer", a)
				}
			}},
		{name: "acme (conventional REST, fan-out)", doc: filepath.Join(examples, "acme-keys.yaml"),
			check: func(t *testing.T, sp *integration.Spec, out *Outcome) {
				if !slices.ContainsFunc(sp.Streams, func(s integration.Stream) bool { return s.ForEach != nil }) {
					t.Error("no for_each fan-out to the per-account keys")
				}
			}},
		{name: "rpc envelope, body cursor", doc: filepath.Join(examples, "rpc-envelope.yaml"),
			check: func(t *testing.T, sp *integration.Spec, out *Outcome) {
				for _, st := range sp.Streams {
					if st.Emits != "" && (st.ErrorWhen == "" || !strings.Contains(st.ErrorWhen, "ok")) {
						t.Errorf("stream %s: error_when %q does not judge the ok envelope", st.Name, st.ErrorWhen)
					}
					if p := pagingOf(sp, st); p == nil || p.Type != integration.PageCursor || !strings.Contains(p.CursorPath, "next_cursor") {
						t.Errorf("stream %s: paging %+v, want the body cursor", st.Name, p)
					}
				}
			}},
		{name: "nextPageToken", doc: filepath.Join(examples, "page-token.yaml"),
			check: func(t *testing.T, sp *integration.Spec, out *Outcome) {
				if !slices.ContainsFunc(sp.Streams, func(s integration.Stream) bool {
					p := pagingOf(sp, s)
					return p != nil && p.Type == integration.PageToken && p.CursorPath == "nextPageToken"
				}) {
					t.Error("no stream pages by nextPageToken")
				}
			}},
		{name: "@odata.nextLink", doc: filepath.Join(examples, "odata.yaml"),
			check: func(t *testing.T, sp *integration.Spec, out *Outcome) {
				if !slices.ContainsFunc(sp.Streams, func(s integration.Stream) bool {
					p := pagingOf(sp, s)
					return p != nil && p.Type == integration.PageNextURL && p.NextURLPath == "/@odata.nextLink"
				}) {
					t.Error("no stream follows @odata.nextLink")
				}
			}},
		{name: "LIST as GET ?list=true", doc: filepath.Join(examples, "list-verb.yaml"),
			check: func(t *testing.T, sp *integration.Spec, out *Outcome) {
				if !slices.ContainsFunc(sp.Streams, func(s integration.Stream) bool { return s.Request.Query["list"] == "true" }) {
					t.Error("no stream sends list=true")
				}
			}},
		{name: "no security scheme", doc: filepath.Join(examples, "no-auth.yaml"),
			check: func(t *testing.T, sp *integration.Spec, out *Outcome) {
				if sp.Connection.Auth.Type != integration.AuthNone {
					t.Errorf("auth = %+v: the doc declares none, so guessing one is wrong", sp.Connection.Auth)
				}
				if !mentions(out.Questions, "authenticat") || !strings.Contains(out.Markdown(), "Questions for the reviewer") {
					t.Errorf("no question for the reviewer about auth: %v", out.Questions)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out, err := Build(context.Background(), Config{Doc: c.doc, Brain: &Heuristic{}})
			if err != nil {
				t.Fatal(err)
			}
			if !out.Passed {
				t.Fatalf("not passed: %s\n%s", out.Reason, out.Markdown())
			}
			doc, err := integration.Load("integration.yaml", out.SpecYAML)
			if err != nil {
				t.Fatalf("the submitted spec does not load: %v", err)
			}
			var read []string
			for _, st := range out.Facts.Streams {
				read = append(read, st.Operation)
			}
			for _, op := range c.ops {
				if !slices.Contains(read, op) {
					t.Errorf("does not read %s; reads %v", op, read)
				}
			}
			// Every stream that emits was proven complete against the
			// sandbox's ground truth with a seed the brain never saw.
			for _, s := range out.Scorecard.Streams {
				if s.Emits != "" && (s.Expected == 0 || s.Matched != s.Expected) {
					t.Errorf("stream %s: matched %d of %d", s.Name, s.Matched, s.Expected)
				}
			}
			if c.check != nil {
				c.check(t, doc.Spec, out)
			}
		})
	}
}

func pagingOf(sp *integration.Spec, st integration.Stream) *integration.Pagination {
	if st.Pagination != nil {
		return st.Pagination
	}
	return sp.Defaults.Pagination
}

func wantScopes(t *testing.T, out *Outcome, scopes ...string) {
	t.Helper()
	var all []string
	for _, sc := range out.Facts.Scopes {
		all = append(all, sc.Scopes...)
	}
	for _, s := range scopes {
		if !slices.Contains(all, s) {
			t.Errorf("least-privilege scopes %v lack %s", all, s)
		}
	}
	for _, s := range all {
		if strings.HasSuffix(s, ".manage") {
			t.Errorf("scope %s grants write access; a read-only integration needs only read scopes", s)
		}
	}
}
