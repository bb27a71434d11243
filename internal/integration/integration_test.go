package integration

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"encoding/json"
)

func readValid(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestValidSpecLoads(t *testing.T) {
	doc, err := LoadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatalf("valid spec rejected:\n%v", err)
	}
	s := doc.Spec
	if s.Metadata.ReviewEvery.Std() != 90*24*time.Hour {
		t.Errorf("review_every = %v, want 90d", s.Metadata.ReviewEvery)
	}
	if s.Defaults.Retry.InitialInterval.Std() != 10*time.Millisecond {
		t.Errorf("initial_interval = %v", s.Defaults.Retry.InitialInterval)
	}
	if got := s.Aliases("app_grants"); !reflect.DeepEqual(got, []string{"app"}) {
		t.Errorf("aliases = %v", got)
	}
	c, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Streams["apps"].Fields; !reflect.DeepEqual(got, []string{"created_at", "external_id", "name"}) {
		t.Errorf("compiled fields = %v", got)
	}
}

// TestBadSpecs: each mutation of the valid spec must fail with the named
// rule, at the line of the offending text, with a message that says what
// to do.
func TestBadSpecs(t *testing.T) {
	valid := readValid(t)
	cases := []struct {
		name     string
		old, new string
		rule     string
		lineOf   string // the finding's line must be the line holding this text
		msg      string // substring of the message
	}{
		{"yaml syntax", "  vendor: Example\n", "  vendor: [Example\n", "SPX-S001", "", ""},
		{"unknown field", "    records: .\n    emits: oauth_app", "    records: .\n    recrods: x\n    emits: oauth_app", "SPX-S002", "recrods: x", "recrods"},
		{"wrong api version", "apiVersion: spindle/v1", "apiVersion: spindle/v0", "SPX-S002", "apiVersion: spindle/v0", "spindle/v1"},
		{"unknown kind", "emits: oauth_app", "emits: oauth_application", "SPX-S002", "emits: oauth_application", ""},
		{"bad paging type", "type: link_header", "type: linkheader", "SPX-S002", "type: linkheader", ""},
		{"bad duration", "timeout: 30s", "timeout: thirty", "SPX-S002", "timeout: thirty", ""},
		{"unknown map field", "      created_at: r.created", "      created: r.created", "SPX-S015", "created: r.created", "canonical"},
		{"duplicate stream", "  - name: app_grants", "  - name: apps", "SPX-S010", "  - name: apps\n    for_each", "declared twice"},
		{"missing parent", "for_each: {stream: apps,", "for_each: {stream: applications,", "SPX-S011", "stream: applications", "does not exist"},
		{"alias shadows", "as: app,", "as: r,", "SPX-S012", "as: r,", "shadows"},
		{"cursor without path", "pagination: {type: link_header, size_param: limit, page_size: 200}", "pagination: {type: cursor, cursor_param: after}", "SPX-S013", "type: cursor", "cursor_path"},
		{"undeclared config", "/apps/{app.id}/grants", "/apps/{config.org}/grants", "SPX-S014", "/apps/{config.org}/grants", "does not declare"},
		{"openapi-style param", "/apps/{app.id}/grants", "/apps/{appId}/grants", "SPX-S014", "/apps/{appId}/grants", "for_each"},
		{"no external_id", "      external_id: r.id\n      name:", "      name:", "SPX-S015", "", "external_id"},
		{"cel syntax", "created_at: r.created", "created_at: r.created +", "SPX-C001", "created_at: r.created +", "CEL"},
		{"cel unknown var", "external_id: \"app.id\"", "external_id: \"apps.id\"", "SPX-C001", "external_id: \"apps.id\"", "undeclared reference"},
		{"write method", "request: {path: /apps}", "request: {method: DELETE, path: /apps}", "SPX-P001", "method: DELETE", "read-only"},
		{"post without read_only", "request: {path: /apps}", "request: {method: POST, path: /apps}", "SPX-P001", "method: POST", "read_only"},
		{"absolute path", "request: {path: /apps}", "request: {path: \"https://evil.example.net/apps\"}", "SPX-P002", "evil.example.net", "relative"},
		{"scheme-relative path", "request: {path: /apps}", "request: {path: \"//evil.example.net/apps\"}", "SPX-P002", "evil.example.net", "relative"},
		{"foreign token url over http", "    scopes: [read]", "    scopes: [read]\n    token_url: http://login.other.example/token", "SPX-P002", "token_url", "plain http"},
		{"auth header in defaults", "headers: {Accept: application/json}", "headers: {Accept: application/json, Authorization: \"{config.subdomain}\"}", "SPX-P003", "Authorization: \"{config", "connection.auth"},
		{"key in query", "query: {expand: \"scope\"}", "query: {expand: \"scope\", api_key: \"{config.subdomain}\"}", "SPX-P003", "api_key: \"{config", "connection.auth"},
		{"secret as credential", "credential: example", "credential: ghp_abcdefghijklmnopqrstuvwxyz0123456789AB", "SPX-P004", "credential: ghp_", "vault"},
		{"secret in header", "headers: {Accept: application/json}", "headers: {Accept: application/json, X-Trace: \"Bearer abcdefghijklmnopqrstuvwxyz012345\"}", "SPX-P004", "X-Trace", "secret"},
		{"secret in config default", "subdomain: {required: true, description: \"tenant\"}", "subdomain: {required: true, description: \"tenant\"}\n    client_secret: {default: \"q8Zr2LkP0vN7xTyB4mWc9sJd1HfG6aEu\"}", "SPX-P004", "client_secret", "secret"},
		{"credential outside auth", "headers: {Accept: application/json}", "headers: {Accept: application/json, X-Client-Secret: \"{config.subdomain}\"}", "SPX-P003", "X-Client-Secret", "outside connection.auth"},
		{"credential_type is a map field", "      created_at: r.created", "      created_at: r.created\n      credential_type: \"'static'\"", "", "", ""},
		{"query in path", "request: {path: /apps}", "request: {path: \"/apps?limit=5\"}", "SPX-P002", "/apps?limit=5", "request.query"},
		{"prefix on bearer", "    type: api_key\n", "    type: bearer\n", "SPX-S016", "prefix: \"SSWS \"", "prefix applies only to api_key"},
		{"oauth2 needs token url", "    type: api_key\n", "    type: oauth2_client_credentials\n", "SPX-S016", "", "token_url"},
		{"base url not absolute", "base_url: https://{config.subdomain}.example.com/api", "base_url: /api", "SPX-S017", "base_url: /api", "absolute"},
		{"plaintext warning only", "base_url: https://{config.subdomain}.example.com/api", "base_url: http://{config.subdomain}.example.com/api", "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(valid, tc.old) {
				t.Fatalf("test bug: %q not in valid spec", tc.old)
			}
			src := strings.Replace(valid, tc.old, tc.new, 1)
			path := filepath.Join(t.TempDir(), "spec.yaml")
			_, err := Load(path, []byte(src))
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("want accepted, got:\n%v", err)
				}
				return
			}
			fs, ok := err.(Findings)
			if !ok {
				t.Fatalf("want Findings, got %T %v", err, err)
			}
			var hit *Finding
			for i := range fs {
				if fs[i].Rule == tc.rule {
					hit = &fs[i]
					break
				}
			}
			if hit == nil {
				t.Fatalf("want rule %s, got:\n%v", tc.rule, err)
			}
			if hit.File != path || hit.Line == 0 {
				t.Errorf("finding not located in the file: %+v", *hit)
			}
			if !strings.Contains(hit.String(), path+":") {
				t.Errorf("finding text lacks file:line: %s", hit)
			}
			if tc.lineOf != "" {
				want := 1 + strings.Count(src[:strings.Index(src, tc.lineOf)], "\n")
				if hit.Line != want {
					t.Errorf("line = %d, want %d (%q); finding: %s", hit.Line, want, tc.lineOf, hit)
				}
			}
			if tc.msg != "" && !strings.Contains(hit.Message, tc.msg) {
				t.Errorf("message %q lacks %q", hit.Message, tc.msg)
			}
		})
	}
}

func TestPlaintextIsWarning(t *testing.T) {
	src := strings.Replace(readValid(t), "base_url: https://", "base_url: http://", 1)
	doc, err := Parse("s.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	fs := Lint(doc)
	if len(fs) != 1 || fs[0].Rule != "SPX-P005" || fs[0].Level != LevelWarning {
		t.Fatalf("want one SPX-P005 warning, got %v", fs)
	}
	local := strings.Replace(readValid(t), "base_url: https://{config.subdomain}.example.com", "base_url: http://127.0.0.1:8080", 1)
	doc, err = Parse("s.yaml", []byte(local))
	if err != nil {
		t.Fatal(err)
	}
	if fs := Lint(doc); len(fs) != 0 {
		t.Fatalf("loopback http should be clean, got %v", fs)
	}
}

func TestLooksLikeSecret(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"AKIAIOSFODNN7EXAMPLE", true},
		{"xoxb-123456789012-abcdefghijkl", true},
		{"-----BEGIN RSA PRIVATE KEY-----", true},
		{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", true},
		{"https://user:hunter22@example.com/", true},
		{"https://api.example.com/v1/keys?api_key=abcd1234efgh", true},
		{"q8Zr2LkP0vN7xTyB4mWc9sJd1HfG6aEu", true},
		{"has(r.created_at) ? r.created_at : null", false},
		{"/services/{svc.id}/integrations", false},
		{"/api/v1/org/factors/yubikey_token/tokens", false},
		{"/work/shared/corpus/okta/management.2024.09.2.yaml", false},
		{"/q8Zr2LkP0vN7xTyB4mWc9sJd1HfG6aEu+xY=", true},
		{"application/vnd.pagerduty+json;version=2", false},
		{"123e4567-e89b-12d3-a456-426614174000", false},
		{"identity-team@example.com", false},
		{"Token token=", false},
		{"r.extension_objects[0].id", false},
		{"https://api.pagerduty.com", false},
	}
	for _, tc := range cases {
		if _, got := LooksLikeSecret(tc.in); got != tc.want {
			t.Errorf("LooksLikeSecret(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestSchemaMatchesTypes keeps the published JSON Schema and the Go types
// in step: every yaml field of every spec struct is a schema property and
// vice versa.
func TestSchemaMatchesTypes(t *testing.T) {
	var schema map[string]any
	if err := json.Unmarshal(Schema(), &schema); err != nil {
		t.Fatal(err)
	}
	defs := schema["$defs"].(map[string]any)
	props := func(node map[string]any) map[string]any {
		if ref, ok := node["$ref"].(string); ok {
			node = defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		}
		if p, ok := node["properties"].(map[string]any); ok {
			return p
		}
		return nil
	}
	var check func(path string, typ reflect.Type, node map[string]any)
	check = func(path string, typ reflect.Type, node map[string]any) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
			if items, ok := node["items"].(map[string]any); ok {
				node = items
			}
		}
		if typ.Kind() == reflect.Map {
			if ap, ok := node["additionalProperties"].(map[string]any); ok {
				node = ap
			}
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct {
			return
		}
		p := props(node)
		if p == nil {
			t.Errorf("%s: schema has no properties for struct %s", path, typ)
			return
		}
		seen := map[string]bool{}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			seen[name] = true
			sub, ok := p[name].(map[string]any)
			if !ok {
				t.Errorf("%s.%s: in the Go type, missing from the schema", path, name)
				continue
			}
			check(path+"."+name, f.Type, sub)
		}
		for name := range p {
			if !seen[name] {
				t.Errorf("%s.%s: in the schema, missing from the Go type", path, name)
			}
		}
	}
	check("$", reflect.TypeOf(Spec{}), schema)
}

func TestDurationText(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "1.5d": 36 * time.Hour, "30s": 30 * time.Second, "250ms": 250 * time.Millisecond, "1d12h": 36 * time.Hour, "2d30m": 48*time.Hour + 30*time.Minute} {
		d, err := ParseDuration(in)
		if err != nil || d.Std() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
	for _, bad := range []string{"", "d", "-1d", "ten", "-5s", "1d-5s", "1e2d", "5sd"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
	if Duration(90*24*time.Hour).String() != "90d" {
		t.Error("90d does not print as 90d")
	}
}

func TestTemplates(t *testing.T) {
	got, err := Expand("/a/{x.id}/b/{config.org}", func(ref string) (string, error) {
		return map[string]string{"x.id": "1/2", "config.org": "acme"}[ref], nil
	}, func(s string) string { return strings.ReplaceAll(s, "/", "%2F") })
	if err != nil || got != "/a/1%2F2/b/acme" {
		t.Errorf("Expand = %q, %v", got, err)
	}
	for _, bad := range []string{"/a/{", "/a/}", "/a/{}", "/a/{x..y}", "/a/{x y}"} {
		if _, err := TemplateRefs(bad); err == nil {
			t.Errorf("TemplateRefs(%q) accepted", bad)
		}
	}
}
