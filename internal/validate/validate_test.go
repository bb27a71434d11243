package validate

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/sandbox"
)

// acmeSurface loads the hand-written Acme Ops doc once per test binary:
// users (page numbers, bare array), service accounts (offset), their keys
// (cursor, a child list), and services with embedded integrations.
var acmeSurface = sync.OnceValues(func() (*apisurface.Surface, error) {
	return apisurface.Load(context.Background(), filepath.Join("testdata", "acme-ops.yaml"), apisurface.Options{})
})

func loadAcme(t *testing.T) *apisurface.Surface {
	t.Helper()
	s, err := acmeSurface()
	if err != nil {
		t.Fatalf("loading the test doc: %v", err)
	}
	return s
}

func readSpec(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit applies replacements to a spec, failing the test when one does not
// apply exactly once (so a case cannot silently test the good spec).
func edit(t *testing.T, spec string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(spec, pairs[i]); n != 1 {
			t.Fatalf("edit %q occurs %d times in the spec, want once", pairs[i], n)
		}
		spec = strings.Replace(spec, pairs[i], pairs[i+1], 1)
	}
	return spec
}

// check finds a check by id and stream ("" for spec-wide).
func check(card *Scorecard, id, stream string) (Check, bool) {
	for _, c := range card.Checks {
		if c.ID == id && c.Stream == stream {
			return c, true
		}
	}
	return Check{}, false
}

// noSecrets fails when any sandbox credential of the seed appears in the
// scorecard: the validator must redact them from every line.
func noSecrets(t *testing.T, s *apisurface.Surface, seed int64, card *Scorecard) {
	t.Helper()
	sb, err := sandbox.New(s, sandbox.Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(card)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range sb.Credentials() {
		for _, v := range []string{c.Value, c.Password, c.ClientSecret, c.AccessToken} {
			if v != "" && strings.Contains(string(b), v) {
				t.Errorf("the scorecard holds the sandbox credential of scheme %s", c.Scheme)
			}
		}
	}
}

func describe(card *Scorecard) string {
	var b strings.Builder
	for _, c := range card.Checks {
		b.WriteString("  " + c.Status + " " + c.ID)
		if c.Stream != "" {
			b.WriteString("[" + c.Stream + "]")
		}
		b.WriteString(": " + c.Summary + "\n")
		for _, e := range c.Evidence {
			b.WriteString("      " + e + "\n")
		}
	}
	return b.String()
}

// The correct spec passes every check; the only skip is the drift of the
// embedded stream, which the sandbox cannot inject.
func TestRunCorrectSpecPasses(t *testing.T) {
	t.Parallel()
	s := loadAcme(t)
	var mu sync.Mutex
	var scenarios []string
	card, err := Run(t.Context(), "good.yaml", []byte(readSpec(t, "good.yaml")), s, Options{Seed: 11,
		Progress: func(sc string) { mu.Lock(); scenarios = append(scenarios, sc); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	noSecrets(t, s, 11, card)
	if !card.Passed {
		t.Fatalf("the correct spec failed:\n%s", describe(card))
	}
	for _, c := range card.Checks {
		switch {
		case c.Status == StatusPass:
		case c.ID == CheckDrift && c.Stream == "service_integrations" && c.Status == StatusSkip:
		default:
			t.Errorf("%s[%s] is %s: %s", c.ID, c.Stream, c.Status, c.Summary)
		}
		if len(c.Evidence) > maxEvidence {
			t.Errorf("%s[%s] has %d evidence lines, want at most %d", c.ID, c.Stream, len(c.Evidence), maxEvidence)
		}
	}
	for _, id := range checkOrder {
		if !slices.ContainsFunc(card.Checks, func(c Check) bool { return c.ID == id }) {
			t.Errorf("no %s check in the scorecard", id)
		}
	}
	want := map[string]int{"users": 0, "service_accounts": 0, "service_account_keys": 0, "service_integrations": 0}
	for _, st := range card.Streams {
		if _, ok := want[st.Name]; !ok {
			t.Errorf("unexpected stream score %s", st.Name)
			continue
		}
		want[st.Name]++
		if st.Expected == 0 || st.Matched != st.Expected || st.Fetched != st.Expected {
			t.Errorf("stream %s: expected %d, fetched %d, matched %d", st.Name, st.Expected, st.Fetched, st.Matched)
		}
	}
	for name, n := range want {
		if n != 1 {
			t.Errorf("stream %s scored %d times", name, n)
		}
	}
	if keys := streamScore(card, "service_account_keys"); keys.Parent != "service_accounts" || keys.Pages < 25 {
		t.Errorf("keys score %+v: want parent service_accounts and a page per account at least", keys)
	}
	if card.Requests == 0 || card.Elapsed <= 0 || len(card.SpecSHA256) != 64 || card.Doc.SHA256 != s.Source.SHA256 || card.Seed != 11 {
		t.Errorf("scorecard header: requests %d, elapsed %s, sha %q, doc %+v, seed %d", card.Requests, card.Elapsed, card.SpecSHA256, card.Doc, card.Seed)
	}
	for _, sc := range []string{ScenarioBaseline, Scenario429, Scenario5xx, ScenarioSlow,
		ScenarioDrift + " users", ScenarioDrift + " service_accounts", ScenarioDrift + " service_account_keys"} {
		if !slices.Contains(scenarios, sc) {
			t.Errorf("Progress was not told %q (told %q)", sc, scenarios)
		}
	}
}

func streamScore(card *Scorecard, name string) StreamScore {
	for _, s := range card.Streams {
		if s.Name == name {
			return s
		}
	}
	return StreamScore{}
}

// Each broken spec fails the check its mistake is about.
func TestRunBrokenSpecsFailTheirCheck(t *testing.T) {
	t.Parallel()
	s := loadAcme(t)
	good := readSpec(t, "good.yaml")
	type fail struct{ id, stream, says string }
	for _, tc := range []struct {
		name  string
		edits []string
		full  bool // run the fault scenarios too
		want  []fail
		// pass lists checks that must still pass (the mistake is local).
		pass []fail
	}{
		{
			name:  "wrong records path",
			edits: []string{"    records: data\n", "    records: items\n"},
			want: []fail{{CheckCompleteness, "service_accounts", "outcome failed"},
				{CheckCompleteness, "service_account_keys", ""}},
			pass: []fail{{CheckCompleteness, "users", ""}, {CheckAuth, "", ""}},
		},
		{
			name:  "missing pagination reads only the first page",
			edits: []string{"    pagination: {type: offset, limit_param: limit, offset_param: offset, page_size: 10}\n", ""},
			want:  []fail{{CheckCompleteness, "service_accounts", "fetched 10 of 25"}},
			// The keys of the 10 accounts read are all there: the child
			// is judged on what its parent gave it.
			pass: []fail{{CheckCompleteness, "users", ""}, {CheckSchema, "service_accounts", ""},
				{CheckCompleteness, "service_account_keys", "the 10 parent records it fetched"}},
		},
		{
			name:  "wrong auth header",
			edits: []string{"    name: X-API-Key\n", "    name: X-Api-Token\n"},
			want:  []fail{{CheckAuth, "", "not authenticated"}, {CheckCompleteness, "users", "denied"}},
			pass:  []fail{{CheckOperations, "users", ""}},
		},
		{
			name:  "a mapping reads a field the records do not have",
			edits: []string{"      name: r.name\n      attributes: '{\"email\": r.email}'", "      name: 'has(r.full_name) ? r.full_name : null'\n      attributes: '{\"email\": r.email}'"},
			want:  []fail{{CheckNullRate, "users", "name"}},
			pass:  []fail{{CheckCompleteness, "users", ""}, {CheckSchema, "users", ""}, {CheckNullRate, "service_accounts", ""}},
		},
		{
			name: "child list not fanned out over its parent",
			edits: []string{
				"    credential: acme-ops\n", "    credential: acme-ops\n  config:\n    account: {required: true}\n",
				"    for_each: {stream: service_accounts, as: sa}\n", "",
				"/accounts/{sa.id}/keys", "/accounts/{config.account}/keys",
				"      - {type: AUTHENTICATES_AS, kind: service_account, external_id: sa.id}", "      - {type: AUTHENTICATES_AS, kind: service_account, external_id: config.account}",
			},
			want: []fail{{CheckCompleteness, "service_account_keys", ""}},
			pass: []fail{{CheckOperations, "service_account_keys", ""}, {CheckCompleteness, "service_accounts", ""}},
		},
		{
			name:  "external_id from the wrong property",
			edits: []string{"      external_id: r.id\n      name: r.name\n      attributes", "      external_id: r.email\n      name: r.name\n      attributes"},
			want:  []fail{{CheckCompleteness, "users", "map external_id from r.id"}, {CheckRelationships, "service_accounts", "never fetched"}},
		},
		{
			name:  "undocumented path",
			edits: []string{"request: {path: /accounts}", "request: {path: /service-accounts}"},
			want:  []fail{{CheckOperations, "service_accounts", "no documented GET operation"}, {CheckCompleteness, "service_accounts", ""}},
			pass:  []fail{{CheckOperations, "users", ""}},
		},
		{
			name:  "write method",
			edits: []string{"    request: {path: /users}\n", "    request: {path: /users, method: DELETE}\n"},
			want:  []fail{{CheckLint, "", "lint error"}},
		},
		{
			name:  "foreign host",
			edits: []string{"request: {path: /services}", "request: {path: \"https://collector.example.net/services\"}"},
			want:  []fail{{CheckLint, "", "lint error"}},
		},
		{
			name:  "guarded read of a required field nulls it silently on drift",
			edits: []string{"      status: r.status\n      created_at: r.created_at\n", "      status: r.status\n      created_at: 'has(r.created_at) ? r.created_at : null'\n"},
			full:  true,
			want:  []fail{{CheckDrift, "service_accounts", "returns empty fields"}},
			pass: []fail{{CheckDrift, "service_account_keys", ""}, {CheckCompleteness, "service_accounts", ""},
				{CheckNullRate, "service_accounts", ""}, {CheckRateLimited, "", ""}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := edit(t, good, tc.edits...)
			card, err := Run(t.Context(), "broken.yaml", []byte(spec), s, Options{Seed: 5, Quick: !tc.full})
			if err != nil {
				t.Fatal(err)
			}
			noSecrets(t, s, 5, card)
			if card.Passed {
				t.Fatalf("the broken spec passed:\n%s", describe(card))
			}
			for _, w := range tc.want {
				c, ok := check(card, w.id, w.stream)
				if !ok || c.Status != StatusFail || !strings.Contains(c.Summary+strings.Join(c.Evidence, "\n"), w.says) {
					t.Errorf("want %s[%s] to fail saying %q; scorecard:\n%s", w.id, w.stream, w.says, describe(card))
				}
			}
			for _, p := range tc.pass {
				if c, ok := check(card, p.id, p.stream); !ok || c.Status != StatusPass || !strings.Contains(strings.Join(c.Evidence, "\n"), p.says) {
					t.Errorf("want %s[%s] to pass, got %+v", p.id, p.stream, c)
				}
			}
			if c, _ := check(card, CheckLint, ""); c.Status == StatusFail {
				for _, other := range card.Checks {
					if other.ID != CheckLint && other.Status != StatusSkip {
						t.Errorf("after a lint failure %s is %s, want skip", other.ID, other.Status)
					}
				}
				if len(c.Evidence) == 0 || !strings.Contains(c.Evidence[0], "broken.yaml:") {
					t.Errorf("lint evidence %q: want file:line:col findings", c.Evidence)
				}
			}
		})
	}
}

// A strict read of the same required field makes the drift fail loudly:
// the drift check passes where the guarded read above fails.
func TestRunDriftStrictReadFailsLoudly(t *testing.T) {
	t.Parallel()
	s := loadAcme(t)
	card, err := Run(t.Context(), "good.yaml", []byte(readSpec(t, "good.yaml")), s, Options{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := check(card, CheckDrift, "service_accounts")
	if c.Status != StatusPass || !strings.Contains(c.Summary, "fails loudly") || !strings.Contains(c.Summary, "created_at") {
		t.Fatalf("drift of a strictly read field: %+v", c)
	}
}

// Quick validation runs only the baseline and says so.
func TestRunQuickSkipsFaultScenarios(t *testing.T) {
	t.Parallel()
	s := loadAcme(t)
	var told []string
	card, err := Run(t.Context(), "good.yaml", []byte(readSpec(t, "good.yaml")), s,
		Options{Seed: 2, Quick: true, Progress: func(sc string) { told = append(told, sc) }})
	if err != nil {
		t.Fatal(err)
	}
	if !card.Passed {
		t.Fatalf("quick validation of the correct spec failed:\n%s", describe(card))
	}
	for _, id := range []string{CheckRateLimited, CheckServerErrors, CheckSlow, CheckDrift} {
		if c, _ := check(card, id, ""); c.Status != StatusSkip {
			t.Errorf("%s: %+v, want skip", id, c)
		}
	}
	if !slices.Equal(told, []string{ScenarioBaseline}) {
		t.Errorf("Progress told %q, want only the baseline", told)
	}
}

// Validation itself fails (an error, not a scorecard) only when it cannot
// proceed.
func TestRunErrors(t *testing.T) {
	t.Parallel()
	s := loadAcme(t)
	if _, err := Run(t.Context(), "good.yaml", []byte(readSpec(t, "good.yaml")), nil, Options{}); err == nil {
		t.Error("Run with no surface: want an error")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Run(ctx, "good.yaml", []byte(readSpec(t, "good.yaml")), s, Options{}); err == nil {
		t.Error("Run with a cancelled context: want an error")
	}
	card, err := Run(t.Context(), "bad.yaml", []byte("apiVersion: spindle/v1\nkind: [\n"), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := check(card, CheckLint, ""); card.Passed || c.Status != StatusFail {
		t.Errorf("unparsable spec: %+v", card.Checks)
	}
}

// The Okta management API: apps over link_header paging with an SSWS
// api key, and each app's signing keys by fan-out.
func TestRunOktaApps(t *testing.T) {
	t.Parallel()
	const doc = "/work/shared/corpus/okta/management.2024.09.2.yaml"
	if _, err := os.Stat(doc); err != nil {
		t.Skipf("corpus doc not available: %v", err)
	}
	s, err := apisurface.Load(t.Context(), doc, apisurface.Options{})
	if err != nil {
		t.Fatal(err)
	}
	card, err := Run(t.Context(), "okta-apps.yaml", []byte(readSpec(t, "okta-apps.yaml")), s, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	noSecrets(t, s, 1, card)
	if !card.Passed {
		t.Fatalf("the Okta spec failed:\n%s", describe(card))
	}
	for _, want := range []struct{ id, stream string }{
		{CheckAuth, ""}, {CheckCompleteness, "apps"}, {CheckCompleteness, "app_signing_keys"},
		{CheckRelationships, "app_signing_keys"}, {CheckRateLimited, ""}, {CheckServerErrors, ""}, {CheckSlow, ""},
		{CheckDrift, "apps"},
	} {
		if c, _ := check(card, want.id, want.stream); c.Status != StatusPass {
			t.Errorf("%s[%s]: %+v", want.id, want.stream, c)
		}
	}
	if apps := streamScore(card, "apps"); apps.Pages < 2 {
		t.Errorf("apps read in %d page(s); link_header paging should take several", apps.Pages)
	}
}

// Every auth type reaches the sandbox with the credential of the doc's
// matching scheme: the resolver hands out the secret, and the non-secret
// inputs (user name, client id, token URL) follow the sandbox's.
func TestRunAuthTypes(t *testing.T) {
	t.Parallel()
	base := loadAcme(t)
	good := readSpec(t, "good.yaml")
	apiKeyAuth := "  auth:\n    type: api_key\n    in: header\n    name: X-API-Key\n    credential: acme-ops\n"
	for _, tc := range []struct {
		name   string
		scheme apisurface.SecurityScheme
		auth   string // replaces the api_key auth block
		fails  bool
	}{
		{
			name:   "bearer",
			scheme: apisurface.SecurityScheme{Name: "bearer", Type: "http", Scheme: "bearer"},
			auth:   "  auth: {type: bearer, credential: acme-ops}\n",
		},
		{
			name:   "api_key as Authorization Bearer",
			scheme: apisurface.SecurityScheme{Name: "bearer", Type: "http", Scheme: "bearer"},
			auth:   "  auth: {type: api_key, name: Authorization, prefix: \"Bearer \", credential: acme-ops}\n",
		},
		{
			name:   "basic with a configured user",
			scheme: apisurface.SecurityScheme{Name: "basic", Type: "http", Scheme: "basic"},
			auth:   "  config:\n    user: {required: true}\n  auth: {type: basic, username: \"{config.user}\", credential: acme-ops}\n",
		},
		{
			name:   "api_key in query",
			scheme: apisurface.SecurityScheme{Name: "key", Type: "apiKey", In: "query", ParamName: "api_key"},
			auth:   "  auth: {type: api_key, in: query, name: api_key, credential: acme-ops}\n",
		},
		{
			name: "oauth2 client credentials",
			scheme: apisurface.SecurityScheme{Name: "oauth", Type: "oauth2", Flows: []apisurface.OAuthFlow{{
				Type: "clientCredentials", TokenURL: "https://api.acme-ops.example/oauth/token",
				Scopes: []apisurface.Scope{{Name: "read"}}}}},
			auth: "  config:\n    client_id: {required: true}\n  auth:\n    type: oauth2_client_credentials\n" +
				"    token_url: https://api.acme-ops.example/oauth/token\n    client_id: \"{config.client_id}\"\n" +
				"    credential: acme-ops\n    scopes: [read]\n",
		},
		{
			name:   "bearer where the doc wants basic",
			scheme: apisurface.SecurityScheme{Name: "basic", Type: "http", Scheme: "basic"},
			auth:   "  auth: {type: bearer, credential: acme-ops}\n",
			fails:  true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := *base
			s.SecuritySchemes = []apisurface.SecurityScheme{tc.scheme}
			s.Security = []apisurface.Requirement{{Schemes: []apisurface.SchemeUse{{Scheme: tc.scheme.Name}}}}
			spec := edit(t, good, apiKeyAuth, tc.auth)
			card, err := Run(t.Context(), "auth.yaml", []byte(spec), &s, Options{Seed: 3, Quick: true})
			if err != nil {
				t.Fatal(err)
			}
			noSecrets(t, &s, 3, card)
			c, _ := check(card, CheckAuth, "")
			if tc.fails {
				if c.Status != StatusFail || card.Passed {
					t.Fatalf("want the auth check to fail:\n%s", describe(card))
				}
				return
			}
			if c.Status != StatusPass || !card.Passed {
				t.Fatalf("want a pass:\n%s", describe(card))
			}
		})
	}
}

func TestMatchPath(t *testing.T) {
	for _, tc := range []struct {
		spec, op string
		ok       bool
	}{
		{"/accounts/{sa.id}/keys", "/accounts/{account_id}/keys", true},
		{"/accounts/{sa.id}/keys", "/accounts/{account_id}/roles", false},
		{"/accounts/acme/keys", "/accounts/{account_id}/keys", true},
		{"/repos/{r.owner}/{r.name}", "/repos/{owner}/{repo}", true},
		{"/files/{f.id}.json", "/files/{id}.json", true},
		{"/files/{f.id}.json", "/files/{id}.xml", false},
		{"/{config.version}/users", "/v2/users", true},
		{"/users", "/users/{id}", false},
		{"/users/", "/users", true},
	} {
		if _, ok := matchPath(tc.spec, tc.op); ok != tc.ok {
			t.Errorf("matchPath(%q, %q) = %v, want %v", tc.spec, tc.op, ok, tc.ok)
		}
	}
	// Literal agreement wins over a parameter.
	a, _ := matchPath("/apps/{a.id}/keys", "/apps/{id}/keys")
	b, _ := matchPath("/apps/{a.id}/keys", "/apps/{id}/{sub}")
	if a <= b {
		t.Errorf("scores %d (literal keys) and %d (parameter): want the literal preferred", a, b)
	}
}

func TestItemIDField(t *testing.T) {
	num := json.Number("12")
	for _, tc := range []struct {
		name  string
		items []any
		want  string
	}{
		{"id", []any{map[string]any{"id": "a", "name": "x"}, map[string]any{"id": "b"}}, "id"},
		{"uuid", []any{map[string]any{"UUID": "a"}}, "UUID"},
		{"suffix", []any{map[string]any{"integration_id": num, "name": "x"}}, "integration_id"},
		{"not in every item", []any{map[string]any{"id": "a"}, map[string]any{"name": "b"}}, ""},
		{"bare identifiers", []any{"a", num}, "."},
		{"none", []any{map[string]any{"name": "x"}}, ""},
		{"empty", nil, ""},
	} {
		if got := itemIDField(tc.items); got != tc.want {
			t.Errorf("%s: itemIDField = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A parent that only feeds its children passes on its outcome, and
// edges to a kind no stream reads are external by design.
func TestRunFeederParentAndExternalEdges(t *testing.T) {
	t.Parallel()
	s := loadAcme(t)
	spec := edit(t, readSpec(t, "good.yaml"),
		"    emits: service_account\n    map:\n      external_id: r.id\n      name: r.name\n      status: r.status\n"+
			"      created_at: r.created_at\n      last_used_at: 'r.?last_used_at.orValue(null)'\n      owner: 'r.?owner_id.orValue(null)'\n", "")
	card, err := Run(t.Context(), "feeder.yaml", []byte(spec), s, Options{Seed: 8, Quick: true})
	if err != nil {
		t.Fatal(err)
	}
	if !card.Passed {
		t.Fatalf("want a pass:\n%s", describe(card))
	}
	c, _ := check(card, CheckCompleteness, "service_accounts")
	if c.Status != StatusPass || !strings.Contains(c.Summary, "emits nothing") {
		t.Errorf("feeder completeness: %+v", c)
	}
	c, _ = check(card, CheckRelationships, "service_account_keys")
	if c.Status != StatusPass || len(c.Evidence) == 0 || !strings.Contains(c.Evidence[0], "kinds not read here (service_account)") {
		t.Errorf("external edges: %+v", c)
	}
	if _, ok := check(card, CheckSchema, "service_accounts"); ok {
		t.Error("a stream that emits nothing got a schema check")
	}
}
