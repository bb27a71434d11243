package draft

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/integration"
)

func loadDoc(t *testing.T, name string) *apisurface.Surface {
	t.Helper()
	s, err := apisurface.Load(context.Background(), filepath.Join("testdata", name), apisurface.Options{})
	if err != nil {
		t.Fatalf("loading %s: %v", name, err)
	}
	return s
}

// mustDraft drafts s and checks what every draft must be: lint clean,
// faithful to its Spec (the YAML parses back into the same spec) and
// deterministic.
func mustDraft(t *testing.T, s *apisurface.Surface, o Options) *Result {
	t.Helper()
	r, err := Draft(s, o)
	if err != nil {
		t.Fatalf("Draft: %v", err)
	}
	checkYAML(t, r)
	again, err := Draft(s, o)
	if err != nil {
		t.Fatalf("second Draft: %v", err)
	}
	if !bytes.Equal(r.YAML, again.YAML) {
		t.Errorf("drafting twice gave different YAML")
	}
	a, _ := json.Marshal(r)
	b, _ := json.Marshal(again)
	if !bytes.Equal(a, b) {
		t.Errorf("drafting twice gave different coverage, decisions or questions")
	}
	return r
}

func checkYAML(t *testing.T, r *Result) {
	t.Helper()
	doc, err := integration.Parse("integration.yaml", r.YAML)
	if err != nil {
		t.Fatalf("the draft does not parse: %v\n%s", err, r.YAML)
	}
	if errs := integration.Lint(doc).Errors(); len(errs) > 0 {
		t.Fatalf("the draft does not lint: %v\n%s", errs, r.YAML)
	}
	if !reflect.DeepEqual(normSpec(doc.Spec), normSpec(r.Spec)) {
		got, _ := json.MarshalIndent(doc.Spec, "", " ")
		want, _ := json.MarshalIndent(r.Spec, "", " ")
		t.Fatalf("the YAML does not say what Result.Spec says:\nparsed %s\nspec %s", got, want)
	}
}

// normSpec compares specs by their JSON form (nil and empty maps alike).
func normSpec(s *integration.Spec) any {
	b, _ := json.Marshal(s)
	var v any
	_ = json.Unmarshal(b, &v)
	return v
}

func stream(t *testing.T, r *Result, name string) *integration.Stream {
	t.Helper()
	st := r.Spec.Stream(name)
	if st == nil {
		var names []string
		for _, s := range r.Spec.Streams {
			names = append(names, s.Name)
		}
		t.Fatalf("no stream %q; streams: %v", name, names)
	}
	return st
}

func hasQuestion(r *Result, sub string) bool {
	return slices.ContainsFunc(r.Questions, func(q string) bool { return strings.Contains(q, sub) })
}

func coverage(r *Result, op string) (Coverage, bool) {
	for _, c := range r.Coverage {
		if c.Key() == op {
			return c, true
		}
	}
	return Coverage{}, false
}

func TestDraftSmallDocs(t *testing.T) {
	for _, tc := range []struct {
		doc   string
		check func(t *testing.T, r *Result)
	}{
		{"nosec.yaml", func(t *testing.T, r *Result) {
			if a := r.Spec.Connection.Auth; a.Type != integration.AuthNone || a.Credential != "" {
				t.Errorf("auth = %+v, want type none without a credential", a)
			}
			if !hasQuestion(r, "declares no security scheme") {
				t.Errorf("no question about the missing security scheme: %q", r.Questions)
			}
			if !bytes.Contains(r.YAML, []byte("# QUESTION: The doc declares no security scheme")) {
				t.Errorf("the question is not in the YAML for the reviewer")
			}
			st := stream(t, r, "service_accounts")
			if st.Emits != "service_account" || st.Records != "." {
				t.Errorf("emits %q records %q", st.Emits, st.Records)
			}
			if p := st.Pagination; p == nil || p.Type != "link_header" || p.SizeParam != "per_page" || p.PageSize != 50 {
				t.Errorf("pagination = %+v, want link_header per_page 50 (the doc's maximum)", p)
			}
			want := map[string]string{
				"external_id":  "r.id",
				"name":         "r.display_name",
				"last_used_at": "r.?last_used_at.orValue(null)",
				"owner":        "r.?owner_id.orValue(null)",
				"status":       `r.state in ["enabled"] ? dyn("active") : r.state in ["disabled"] ? dyn("disabled") : r.state in ["deleted"] ? dyn("revoked") : null`,
			}
			for f, e := range want {
				if st.Map[f] != e {
					t.Errorf("map.%s = %q, want %q", f, st.Map[f], e)
				}
			}
		}},
		{"rpc.yaml", func(t *testing.T, r *Result) {
			st := stream(t, r, "bots_list")
			if st.ErrorWhen != "has(body.ok) && body.ok == false" {
				t.Errorf("error_when = %q", st.ErrorWhen)
			}
			if !strings.Contains(st.ErrorMessage, "body.error") && !strings.Contains(st.ErrorMessage, "body.?error") {
				t.Errorf("error_message = %q, want it to read body.error", st.ErrorMessage)
			}
			if r.Spec.Connection.Auth.Type != integration.AuthBearer {
				t.Errorf("auth = %+v, want bearer", r.Spec.Connection.Auth)
			}
			if p := st.Pagination; p == nil || p.Type != "cursor" || p.CursorPath != "response_metadata.next_cursor" || p.CursorParam != "cursor" {
				t.Errorf("pagination = %+v", p)
			}
			if st.Emits != "bot" || st.Records != "bots" {
				t.Errorf("emits %q records %q", st.Emits, st.Records)
			}
			if !strings.Contains(st.Map["status"], `"revoked"`) {
				t.Errorf("status = %q, want the deleted flag mapped to revoked", st.Map["status"])
			}
			if st.Map["created_at"] != "r.?created.orValue(null)" {
				t.Errorf("created_at = %q, want the epoch integer passed through", st.Map["created_at"])
			}
		}},
		{"embedded.yaml", func(t *testing.T, r *Result) {
			st := stream(t, r, "projects_deploy_keys")
			if st.Records != "projects.*.deploy_keys" || st.Emits != "deploy_key" {
				t.Errorf("records %q emits %q, want the embedded deploy keys", st.Records, st.Emits)
			}
			if st.Request.Query["include"] != "deploy_keys" {
				t.Errorf("query = %v, want include=deploy_keys", st.Request.Query)
			}
			if p := st.Pagination; p == nil || p.Type != "offset" || p.LimitParam != "limit" || p.OffsetParam != "offset" || p.MoreField != "more" || p.PageSize != 100 {
				t.Errorf("pagination = %+v", p)
			}
			if a := r.Spec.Connection.Auth; a.Type != "api_key" || a.Name != "X-Forge-Token" || a.Prefix != "" {
				t.Errorf("auth = %+v", a)
			}
			if c, ok := coverage(r, "GET /projects (deploy_keys[])"); !ok || c.Stream != st.Name || !strings.HasPrefix(c.Via, "embedded in") {
				t.Errorf("coverage = %+v", c)
			}
		}},
		{"reqenum.yaml", func(t *testing.T, r *Result) {
			st := stream(t, r, "tokens")
			if st.Request.Query["kind"] != "personal" {
				t.Errorf("query = %v, want the required kind filled from its enum", st.Request.Query)
			}
			if !hasQuestion(r, "requires a query parameter") {
				t.Errorf("no question about the enum values not read: %q", r.Questions)
			}
			if c, ok := coverage(r, "GET /secrets"); !ok || c.Stream != "" || !strings.Contains(c.Skipped, `"folder"`) {
				t.Errorf("GET /secrets coverage = %+v, want it skipped for its required folder", c)
			}
			a := r.Spec.Connection.Auth
			if a.Type != integration.AuthOAuth2ClientCredentials || a.TokenURL != "https://{config.tenant}.vault.example.com/oauth/token" ||
				a.ClientID != "{config.client_id}" || !slices.Equal(a.Scopes, []string{"tokens:read"}) {
				t.Errorf("auth = %+v", a)
			}
			if len(r.Scopes) != 1 || r.Scopes[0].Scope != "tokens:read" || r.Scopes[0].Operations[0] != "GET /tokens" {
				t.Errorf("scopes = %+v, want only what GET /tokens needs", r.Scopes)
			}
			cfg := r.Spec.Connection.Config
			if cfg["tenant"].Default != "acme" || !cfg["client_id"].Required {
				t.Errorf("config = %+v", cfg)
			}
			if r.Spec.Connection.BaseURL != "https://{config.tenant}.vault.example.com/api" {
				t.Errorf("base_url = %q", r.Spec.Connection.BaseURL)
			}
			if st.Map["expires_at"] != "r.expires_at" {
				t.Errorf("expires_at = %q, want a strict read of the required property", st.Map["expires_at"])
			}
			if st.Map["creator"] != "r.?created_by.?id.orValue(null)" || st.Map["scopes"] != "r.?scopes.orValue(null)" {
				t.Errorf("creator %q scopes %q", st.Map["creator"], st.Map["scopes"])
			}
			if p := st.Pagination; p == nil || p.Type != "token" || p.CursorPath != "next_page_token" || p.CursorParam != "page_token" {
				t.Errorf("pagination = %+v", p)
			}
		}},
		{"twoauth.yaml", func(t *testing.T, r *Result) {
			a := r.Spec.Connection.Auth
			if a.Type != "api_key" || a.Name != "Authorization" || a.Prefix != "Token token=" {
				t.Errorf("auth = %+v, want the doc's apiKey with its prefix", a)
			}
			st := stream(t, r, "webhooks")
			if st.Emits != "webhook" || st.Map["attributes"] != `{"url": r.url}` {
				t.Errorf("emits %q attributes %q", st.Emits, st.Map["attributes"])
			}
		}},
		{"bareids.yaml", func(t *testing.T, r *Result) {
			st := stream(t, r, "auth_token_accessors")
			if st.Records != "data.keys" || st.Map["external_id"] != "r" || st.Emits != "access_token" {
				t.Errorf("records %q emits %q map %v, want bare identifiers as their own ids", st.Records, st.Emits, st.Map)
			}
			if st.Request.Query["list"] != "true" {
				t.Errorf("query = %v, want the required list=true", st.Request.Query)
			}
		}},
		{"idp.yaml", func(t *testing.T, r *Result) {
			a := r.Spec.Connection.Auth
			if a.Type != integration.AuthOAuth2ClientCredentials || a.TokenURL != "https://login.idcloud.example/oauth2/v2.0/token" {
				t.Errorf("auth = %+v, want the identity host's token URL as the doc gives it", a)
			}
			if !hasQuestion(r, "not on the API's host") {
				t.Errorf("no question about the token host: %q", r.Questions)
			}
			st := stream(t, r, "applications")
			if p := st.Pagination; p == nil || p.Type != "next_url" || p.NextURLPath != "/@odata.nextLink" || p.SizeParam != "$top" {
				t.Errorf("pagination = %+v", p)
			}
			if st.Emits != "oauth_app" || st.Map["name"] != "r.displayName" {
				t.Errorf("emits %q name %q", st.Emits, st.Map["name"])
			}
		}},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			r := mustDraft(t, loadDoc(t, tc.doc), Options{})
			tc.check(t, r)
			for _, st := range r.Spec.Streams {
				if st.Emits == "" {
					continue
				}
				if !slices.ContainsFunc(r.Decisions, func(d Decision) bool { return d.Topic == "map "+st.Name+".external_id" }) {
					t.Errorf("no decision explains %s's external_id", st.Name)
				}
			}
		})
	}
}

func TestDraftNoCandidates(t *testing.T) {
	s := &apisurface.Surface{Title: "Weather", Servers: []apisurface.Server{{URL: "https://api.weather.example"}},
		Operations: []apisurface.Operation{{Method: "GET", Path: "/forecasts", List: &apisurface.ListTraits{
			Records: &apisurface.Schema{Type: "object", Properties: []apisurface.Property{{Name: "id", Schema: &apisurface.Schema{Type: "string"}}}},
			Kind:    "", Paging: apisurface.Paging{Style: apisurface.PageNone}}}}}
	r, err := Draft(s, Options{})
	if err != ErrNoStreams {
		t.Fatalf("err = %v, want ErrNoStreams", err)
	}
	if r == nil || len(r.Questions) == 0 {
		t.Errorf("want a result with a question for the reviewer, got %+v", r)
	}
	if _, err := Draft(nil, Options{}); err == nil {
		t.Errorf("Draft(nil) did not fail")
	}
}

func TestVocabKind(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"ssh_keys", "ssh_key"},
		{"api-tokens", "api_key"},
		{"OAuth2ClientSecret", "secret"},
		{"OAuth2RefreshToken", "access_token"},
		{"IntegrationReference", "app_installation"},
		{"webhook_subscriptions", "webhook"},
		{"eventHooks", "webhook"},
		{"grants", "oauth_grant"},
		{"certificates", "certificate"},
		{"service-accounts", "service_account"},
		{"deploy_keys", "deploy_key"},
		{"key_rotation_policy", ""},
		{"extension_schemas", ""},
		{"ServiceReference", ""},
		{"users", ""},
		{"namespaces", ""},
	} {
		k, ok := vocabKind(tc.in)
		if got := string(k); got != tc.want || ok != (tc.want != "") {
			t.Errorf("vocabKind(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

func TestYAMLScalars(t *testing.T) {
	for _, s := range []string{"", "true", "null", "1.5", "0x1f", "a: b", "#x", "it's", "SSWS ", "Token token=", "r.?x.orValue(null)",
		`r.status in ["A"] ? dyn("active") : null`, "/api/v1/{app.id}/keys", "line\nbreak", "tab\there", "ünïcode", "-", "*.x", "."} {
		y := "k: " + yString(s) + "\n"
		var got struct {
			K string `yaml:"k"`
		}
		if err := yaml.Unmarshal([]byte(y), &got); err != nil {
			t.Errorf("yString(%q) = %s: %v", s, y, err)
			continue
		}
		if got.K != s {
			t.Errorf("yString(%q) = %s, reads back as %q", s, strings.TrimSpace(y), got.K)
		}
	}
}

// TestSmallDocsValidate proves the small docs' drafts in the sandbox the
// same docs generate, repairing where validation finds fault.
func TestSmallDocsValidate(t *testing.T) {
	if testing.Short() {
		t.Skip("sandbox validation")
	}
	for _, doc := range []string{"nosec.yaml", "rpc.yaml", "embedded.yaml", "reqenum.yaml", "twoauth.yaml", "bareids.yaml", "idp.yaml"} {
		t.Run(doc, func(t *testing.T) {
			s := loadDoc(t, doc)
			r := mustDraft(t, s, Options{})
			r, card := validateDraft(t, s, r, false)
			if !card.Passed {
				logCard(t, card)
				t.Errorf("validation failed:\n%s", r.YAML)
			}
		})
	}
}
