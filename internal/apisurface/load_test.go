package apisurface

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Helpers for writing expected schemas compactly.
func ldStr() *Schema                      { return &Schema{Type: "string"} }
func ldStrF(format string) *Schema        { return &Schema{Type: "string", Format: format} }
func ldProp(n string, s *Schema) Property { return Property{Name: n, Schema: s} }
func ldF(f float64) *float64              { return &f }
func ldI(i int) *int                      { return &i }

// loaderCodes are the warning codes Load itself emits; Infer adds its
// own, which its tests check.
var loaderCodes = map[string]bool{
	"dangling-ref": true, "ref-in-string": true, "not-a-string": true, "circular-ref": true,
	"unsupported-version": true, "ref-refused": true, "unresolved-ref": true, "index-error": true,
	"build-error": true, "schema-too-deep": true, "schema-too-large": true,
	"example-too-large": true, "warnings-truncated": true,
}

// loaderView strips what Infer adds, so a test states exactly what the
// loader produced.
func loaderView(s *Surface) *Surface {
	cp := *s
	if s.SecuritySchemes != nil {
		cp.SecuritySchemes = append([]SecurityScheme{}, s.SecuritySchemes...)
	}
	for i := range cp.SecuritySchemes {
		cp.SecuritySchemes[i].Prefix, cp.SecuritySchemes[i].PrefixEvidence = "", nil
	}
	if s.Operations != nil {
		cp.Operations = append([]Operation{}, s.Operations...)
	}
	for i := range cp.Operations {
		cp.Operations[i].List = nil
	}
	cp.Warnings = []Warning{}
	for _, w := range s.Warnings {
		if loaderCodes[w.Code] {
			cp.Warnings = append(cp.Warnings, w)
		}
	}
	return &cp
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func mustJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func TestLoadSmallDocs(t *testing.T) {
	pet := func() *Schema {
		return &Schema{Ref: "Pet", Type: "object",
			Properties: []Property{
				ldProp("id", &Schema{Type: "string", ReadOnly: true}),
				ldProp("created_at", ldStrF("date-time")),
				ldProp("name", &Schema{Type: "string", MinLength: ldI(1), MaxLength: ldI(64), Pattern: "^[a-z]+$"}),
				ldProp("kind", &Schema{Type: "string", Enum: []any{"cat", "dog"}, Example: "cat"}),
				ldProp("owner", &Schema{Type: "string", Nullable: true}),
				ldProp("tags", &Schema{Type: "object", AdditionalProperties: ldStr()}),
			},
			Required: []string{"id", "name"},
		}
	}
	team := func() *Schema {
		return &Schema{Ref: "team", Type: "object", Properties: []Property{ldProp("id", ldStr()), ldProp("name", ldStr())}}
	}
	node := func(inner *Schema) *Schema {
		return &Schema{Ref: "Node", Type: "object", Properties: []Property{
			ldProp("name", ldStr()),
			ldProp("children", &Schema{Type: "array", Items: &Schema{Ref: "Node", Circular: true}}),
			ldProp("owner", inner),
		}}
	}
	tests := []struct {
		name string
		path string
		want Surface
	}{
		{
			name: "openapi 3.0 yaml",
			path: "testdata/load/openapi30.yaml",
			want: Surface{
				Source:      Source{Format: "openapi 3.0.3", Files: 1},
				Title:       "Pets",
				Version:     "1.2",
				Description: "The pet store. Send `Authorization: Bearer <token>`.",
				Servers: []Server{{URL: "https://{region}.pets.example.com/v1", Description: "production",
					Variables: []ServerVariable{{Name: "region", Default: "eu", Enum: []string{"eu", "us"}, Description: "data residency"}}}},
				SecuritySchemes: []SecurityScheme{
					{Name: "bearer", Type: "http", Scheme: "bearer", BearerFormat: "JWT"},
					{Name: "key", Type: "apiKey", In: "header", ParamName: "X-API-Key", Description: "Send the key as is."},
					{Name: "oauth", Type: "oauth2", Flows: []OAuthFlow{{Type: "clientCredentials", TokenURL: "https://auth.example.com/token",
						Scopes: []Scope{{Name: "pets:read", Description: "read pets"}, {Name: "pets:write", Description: "change pets"}}}}},
				},
				Security: []Requirement{{Schemes: []SchemeUse{{Scheme: "bearer"}}}, {Schemes: []SchemeUse{{Scheme: "key"}}}},
				Operations: []Operation{
					{Method: "GET", Path: "/health", ResponseStatus: "204"},
					{
						ID: "listPets", Method: "GET", Path: "/pets", Summary: "List pets", Tags: []string{"pets"},
						Parameters: []Parameter{
							// The operation's limit replaces the path-level one, in its place.
							{Name: "limit", In: "query", Required: true, Description: "page size", Schema: &Schema{Type: "integer", Maximum: ldF(50)}},
							{Name: "X-Trace", In: "header", Schema: ldStr()},
							{Name: "cursor", In: "query", Schema: ldStr()},
						},
						Security: []Requirement{{Schemes: []SchemeUse{{Scheme: "oauth", Scopes: []string{"pets:read"}}}}},
						Response: &Schema{Ref: "PetList", Type: "object", Properties: []Property{
							ldProp("pets", &Schema{Type: "array", MinItems: ldI(0), MaxItems: ldI(100), Items: pet()}),
							ldProp("next", &Schema{Type: "string", Nullable: true}),
						}},
						ResponseStatus:  "200",
						ResponseHeaders: []string{"link", "x-total-count"},
					},
					{
						ID: "createPet", Method: "POST", Path: "/pets",
						Parameters: []Parameter{
							{Name: "limit", In: "query", Schema: &Schema{Type: "integer", Minimum: ldF(1), Maximum: ldF(100), Default: int64(20)}},
							{Name: "X-Trace", In: "header", Schema: ldStr()},
						},
						Response: pet(), ResponseStatus: "201",
					},
					{
						ID: "getPet", Method: "GET", Path: "/pets/{id}", Deprecated: true,
						Parameters: []Parameter{{Name: "id", In: "path", Required: true, Schema: ldStr()}},
						Security:   []Requirement{}, // explicitly unauthenticated
						Response:   pet(), ResponseStatus: "2XX",
					},
				},
				Warnings: []Warning{},
			},
		},
		{
			name: "openapi 3.1 json with type arrays",
			path: "testdata/load/openapi31.json",
			want: Surface{
				Source:          Source{Format: "openapi 3.1.0", Files: 1},
				Title:           "Keys",
				Version:         "2025-01-01",
				Servers:         []Server{{URL: "/api"}},
				SecuritySchemes: []SecurityScheme{{Name: "token", Type: "apiKey", In: "query", ParamName: "access_token"}},
				Security:        []Requirement{{Schemes: []SchemeUse{{Scheme: "token"}}}},
				Operations: []Operation{{
					ID: "listKeys", Method: "GET", Path: "/keys", ResponseStatus: "200",
					Response: &Schema{Type: "array", Items: &Schema{Ref: "Key", Type: "object",
						Properties: []Property{
							ldProp("id", ldStr()),
							ldProp("name", &Schema{Type: "string", Nullable: true, Example: "ci-key"}),
							ldProp("status", &Schema{Enum: []any{"active"}}),
							ldProp("expires_at", &Schema{Type: "string", Format: "date-time", Nullable: true}),
							ldProp("scopes", &Schema{Type: "array", Items: &Schema{Type: "string", Enum: []any{"read", "write"}}}),
							ldProp("usage", &Schema{Type: "integer", Minimum: ldF(0)}),
						},
						Required: []string{"id", "status"},
					}},
				}},
				Warnings: []Warning{},
			},
		},
		{
			name: "swagger 2.0 with basic auth",
			path: "testdata/load/swagger2.yaml",
			want: Surface{
				Source:  Source{Format: "swagger 2.0", Files: 1},
				Title:   "Legacy",
				Version: "1",
				Servers: []Server{{URL: "https://api.legacy.example.com/v2"}, {URL: "http://api.legacy.example.com/v2"}},
				SecuritySchemes: []SecurityScheme{
					{Name: "basic", Type: "http", Scheme: "basic"},
					{Name: "key", Type: "apiKey", In: "header", ParamName: "Authorization", Description: `Send "Token token=<key>".`},
					{Name: "oauth", Type: "oauth2", Flows: []OAuthFlow{{Type: "authorizationCode",
						AuthorizationURL: "https://legacy.example.com/authorize", TokenURL: "https://legacy.example.com/token",
						Scopes: []Scope{{Name: "read", Description: "read everything"}}}}},
				},
				Security: []Requirement{{Schemes: []SchemeUse{{Scheme: "basic"}}}},
				Operations: []Operation{
					{Method: "GET", Path: "/ping", Security: []Requirement{}, ResponseStatus: "200"},
					{
						ID: "listUsers", Method: "GET", Path: "/users",
						// The body parameter is a request body, not modelled.
						Parameters: []Parameter{
							{Name: "page", In: "query", Schema: &Schema{Type: "integer", Minimum: ldF(1), Default: int64(1)}},
							{Name: "state", In: "query", Schema: &Schema{Type: "array", Items: &Schema{Type: "string", Enum: []any{"active", "disabled"}}}},
						},
						Response: &Schema{Type: "object", Properties: []Property{
							ldProp("users", &Schema{Type: "array", Items: &Schema{Ref: "User", Type: "object",
								Properties: []Property{ldProp("id", &Schema{Type: "integer", Format: "int64"}), ldProp("email", ldStrF("email"))},
								Required:   []string{"id"}}}),
							ldProp("next_page", &Schema{Type: "integer"}),
						}},
						ResponseStatus:  "200",
						ResponseHeaders: []string{"x-next-page"},
					},
				},
				Warnings: []Warning{},
			},
		},
		{
			name: "two files with external refs",
			path: "testdata/load/multi/openapi.yaml",
			want: Surface{
				Source:          Source{Format: "openapi 3.0.3", Files: 4},
				Title:           "Multi",
				Version:         "1",
				Servers:         []Server{},
				SecuritySchemes: []SecurityScheme{},
				Operations: []Operation{
					{ID: "listTeams", Method: "GET", Path: "/teams", ResponseStatus: "200",
						Response: &Schema{Type: "array", Items: team()}},
					{ID: "listUsers", Method: "GET", Path: "/users", ResponseStatus: "200",
						Response: &Schema{Type: "object", Properties: []Property{
							ldProp("users", &Schema{Type: "array", Items: &Schema{Ref: "User", Type: "object",
								Properties: []Property{ldProp("id", ldStr()), ldProp("team", team())}}}),
						}}},
				},
				Warnings: []Warning{},
			},
		},
		{
			name: "circular schemas are cut on their own ancestry",
			path: "testdata/load/circular.yaml",
			want: Surface{
				Source:          Source{Format: "openapi 3.0.3", Files: 1},
				Title:           "Tree",
				Version:         "1",
				Servers:         []Server{},
				SecuritySchemes: []SecurityScheme{},
				Operations: []Operation{
					{Method: "GET", Path: "/nodes", ResponseStatus: "200",
						Response: node(&Schema{Ref: "Owner", Type: "object", Properties: []Property{
							ldProp("id", ldStr()),
							ldProp("nodes", &Schema{Type: "array", Items: &Schema{Ref: "Node", Circular: true}}),
						}})},
					{Method: "GET", Path: "/owners", ResponseStatus: "200",
						Response: &Schema{Ref: "Owner", Type: "object", Properties: []Property{
							ldProp("id", ldStr()),
							ldProp("nodes", &Schema{Type: "array", Items: node(&Schema{Ref: "Owner", Circular: true})}),
						}}},
				},
				Warnings: []Warning{
					{Code: "circular-ref", Location: "paths./nodes.get.responses.200", Message: `schema "Node" contains itself; cut where it repeats`},
					{Code: "circular-ref", Location: "paths./owners.get.responses.200", Message: `schema "Owner" contains itself; cut where it repeats`},
				},
			},
		},
		{
			name: "a dangling ref is a warning",
			path: "testdata/load/dangling.yaml",
			want: Surface{
				Source:          Source{Format: "openapi 3.0.3", Files: 1},
				Title:           "Dangling",
				Version:         "1",
				Servers:         []Server{},
				SecuritySchemes: []SecurityScheme{},
				Operations: []Operation{{ID: "listThings", Method: "GET", Path: "/things", ResponseStatus: "200",
					Response: &Schema{Type: "object", Properties: []Property{
						ldProp("things", &Schema{Type: "array", Items: &Schema{Type: "object", Properties: []Property{ldProp("id", ldStr())}}}),
					}}}},
				Warnings: []Warning{{Code: "dangling-ref", Location: "dangling.yaml:19:22",
					Message: `$ref "#/components/examples/Missing" points at nothing; read as absent`}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(context.Background(), tt.path, Options{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := tt.want
			want.Source.Location = tt.path
			want.Source.SHA256 = fileSHA(t, tt.path)
			got := loaderView(s)
			if !reflect.DeepEqual(got, &want) {
				t.Errorf("surface differs\n got: %s\nwant: %s", mustJSON(got), mustJSON(&want))
			}
		})
	}
}

// TestLoadDOInfoDescription: a $ref where info.description wants a string
// is a warning, and its target string is read.
func TestLoadRefInString(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "intro.yml"), "introduction: |\n  Send the token as `Authorization: Bearer TOKEN`.\n")
	writeFile(t, filepath.Join(dir, "openapi.yaml"), `openapi: 3.0.0
info:
  title: Intro
  version: "1"
  description:
    $ref: 'intro.yml#/introduction'
paths: {}
`)
	s, err := Load(context.Background(), filepath.Join(dir, "openapi.yaml"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "Send the token as `Authorization: Bearer TOKEN`.\n"; s.Description != want {
		t.Errorf("description = %q, want %q", s.Description, want)
	}
	want := []Warning{{Code: "ref-in-string", Location: "openapi.yaml:6:5",
		Message: `info.description is a $ref ("intro.yml#/introduction") where OpenAPI wants a string; read the string it points at`}}
	if got := loaderView(s).Warnings; !reflect.DeepEqual(got, want) {
		t.Errorf("warnings = %s, want %s", mustJSON(got), mustJSON(want))
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLoadFileRefsStayInTree: a file document's $refs reach only files
// under its own directory, never remote URLs.
func TestLoadFileRefsStayInTree(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "secret.yaml"), "Secret: {type: object, properties: {password: {type: string}}}\n")
	srv, hits := countingServer(t, "X: {type: object}\n")
	writeFile(t, filepath.Join(dir, "root", "openapi.yaml"), `openapi: 3.0.3
info: {title: Escape, version: "1"}
paths:
  /a:
    get:
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: '../secret.yaml#/Secret'}
  /b:
    get:
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: '`+srv+`/x.yaml#/X'}
`)
	s, err := Load(context.Background(), filepath.Join(dir, "root", "openapi.yaml"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Source.Files != 1 {
		t.Errorf("files = %d, want 1 (nothing outside the tree read)", s.Source.Files)
	}
	for _, op := range s.Operations {
		if op.Response != nil {
			t.Errorf("%s %s: response %s, want none (the ref was refused)", op.Method, op.Path, mustJSON(op.Response))
		}
	}
	if n := hits(); n != 0 {
		t.Errorf("the remote server was hit %d times from a file document", n)
	}
	codes := map[string]int{}
	for _, w := range s.Warnings {
		codes[w.Code]++
	}
	if codes["ref-refused"] != 2 || codes["dangling-ref"] != 2 {
		t.Errorf("warnings = %s, want 2 ref-refused and 2 dangling-ref", mustJSON(s.Warnings))
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	docs := map[string]string{
		"empty.yaml":    "  \n",
		"broken.yaml":   "openapi: 3.0.3\ninfo:\n  title: [unclosed\n  version: 1\npaths: {}\n",
		"broken.json":   "{\n  \"openapi\": \"3.0.3\",\n  \"info\": {\"title\": \"x\",, \"version\": \"1\"},\n  \"paths\": {}\n}",
		"prose.md":      "# Acme API\n\nUse `GET /v1/keys` to list keys. Authenticate with a bearer token.\n",
		"page.html":     "<!doctype html><html><body><h1>Acme API</h1><p>GET /v1/keys</p></body></html>",
		"other.json":    `{"name": "a package.json, not an API"}`,
		"async.yaml":    "asyncapi: 2.6.0\ninfo: {title: x, version: '1'}\nchannels: {}\n",
		"swagger1.json": `{"swaggerVersion": "1.2", "swagger": "1.2", "apis": []}`,
		"mixed.yaml":    "openapi: 2.0\ninfo: {title: x, version: '1'}\npaths: {}\n",
	}
	for name, body := range docs {
		writeFile(t, filepath.Join(dir, name), body)
	}
	tests := []struct {
		file       string
		notOpenAPI bool
		location   string // substring of LoadError.Location
		reason     string // substring of the message
	}{
		{file: "empty.yaml", notOpenAPI: true, reason: "empty"},
		{file: "broken.yaml", location: "line 3", reason: "invalid YAML"},
		{file: "broken.json", location: "line 3, column 25", reason: "invalid JSON"},
		{file: "prose.md", notOpenAPI: true, reason: "prose"},
		{file: "page.html", notOpenAPI: true, reason: "prose"},
		{file: "other.json", notOpenAPI: true, reason: "no top-level `openapi` or `swagger` key"},
		{file: "async.yaml", notOpenAPI: true, reason: "AsyncAPI"},
		{file: "swagger1.json", reason: "1.2"},
		{file: "mixed.yaml", location: "openapi", reason: "version"},
		{file: "missing.yaml", reason: "no such file"},
		{file: ".", reason: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			s, err := Load(context.Background(), path, Options{})
			if err == nil {
				t.Fatalf("Load succeeded: %s", mustJSON(s))
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error %T %v, want *LoadError", err, err)
			}
			if le.Doc != path || le.Hint == "" || !strings.HasPrefix(err.Error(), path+": ") {
				t.Errorf("error %q does not name the document and what to do", err)
			}
			if errors.Is(err, ErrNotOpenAPI) != tt.notOpenAPI {
				t.Errorf("errors.Is(err, ErrNotOpenAPI) = %v, want %v (%v)", !tt.notOpenAPI, tt.notOpenAPI, err)
			}
			if !strings.Contains(le.Location, tt.location) {
				t.Errorf("location %q, want it to contain %q (%v)", le.Location, tt.location, err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q, want it to mention %q", err, tt.reason)
			}
		})
	}
}

func TestLoadBoundsAndLimits(t *testing.T) {
	t.Run("max bytes", func(t *testing.T) {
		_, err := Load(context.Background(), "testdata/load/openapi30.yaml", Options{MaxBytes: 100})
		if err == nil || !strings.Contains(err.Error(), "over the size limit of 100 bytes") {
			t.Fatalf("err = %v, want a size limit error", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Load(ctx, "testdata/load/openapi30.yaml", Options{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("deep nesting is cut", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("openapi: 3.0.3\ninfo: {title: deep, version: '1'}\npaths:\n  /deep:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema:\n")
		indent := "                "
		for i := 0; i < 60; i++ {
			b.WriteString(indent + "type: object\n" + indent + "properties:\n" + indent + "  p:\n")
			indent += "    "
		}
		b.WriteString(indent + "type: string\n")
		path := filepath.Join(t.TempDir(), "deep.yaml")
		writeFile(t, path, b.String())
		s, err := Load(context.Background(), path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		depth := 0
		for sc := s.Operations[0].Response; sc != nil && len(sc.Properties) > 0; sc = sc.Properties[0].Schema {
			depth++
		}
		if depth != maxSchemaDepth+1 {
			t.Errorf("depth = %d, want %d", depth, maxSchemaDepth+1)
		}
		if !hasWarning(s, "schema-too-deep") {
			t.Errorf("no schema-too-deep warning: %s", mustJSON(s.Warnings))
		}
	})
	t.Run("fan-out is bounded", func(t *testing.T) {
		// S0 has 10 properties of S1, which has 10 of S2, … : 10^12 nodes
		// if copied out in full.
		var b strings.Builder
		b.WriteString("openapi: 3.0.3\ninfo: {title: wide, version: '1'}\npaths:\n  /wide:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/S0'}\ncomponents:\n  schemas:\n")
		for i := 0; i < 12; i++ {
			b.WriteString("    S" + itoa(i) + ":\n      type: object\n      properties:\n")
			for j := 0; j < 10; j++ {
				b.WriteString("        p" + itoa(j) + ": {$ref: '#/components/schemas/S" + itoa(i+1) + "'}\n")
			}
		}
		b.WriteString("    S12: {type: string}\n")
		path := filepath.Join(t.TempDir(), "wide.yaml")
		writeFile(t, path, b.String())
		start := time.Now()
		s, err := Load(context.Background(), path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		// Past the bound each open schema ends its properties as stubs.
		if n := countSchemaNodes(s.Operations[0].Response); n > maxSchemaNodes+10*maxSchemaDepth {
			t.Errorf("%d schema nodes, want at most %d", n, maxSchemaNodes+10*maxSchemaDepth)
		}
		if !hasWarning(s, "schema-too-large") {
			t.Errorf("no schema-too-large warning: %s", mustJSON(s.Warnings))
		}
		t.Logf("bounded fan-out in %v", time.Since(start))
	})
}

func hasWarning(s *Surface, code string) bool {
	for _, w := range s.Warnings {
		if w.Code == code {
			return true
		}
	}
	return false
}

func countSchemaNodes(s *Schema) int {
	if s == nil {
		return 0
	}
	n := 1 + countSchemaNodes(s.Items) + countSchemaNodes(s.AdditionalProperties)
	for _, p := range s.Properties {
		n += countSchemaNodes(p.Schema)
	}
	for _, o := range s.OneOf {
		n += countSchemaNodes(o)
	}
	return n
}

func TestRefName(t *testing.T) {
	for ref, want := range map[string]string{
		"#/components/schemas/User":           "User",
		"#/definitions/a~1b~0c":               "a/b~c",
		"schemas/user.yaml#/User":             "User",
		"models/ssh_key.yml":                  "ssh_key",
		"../../shared/attributes.yml#/id":     "id",
		"https://x.example/s.json#/$defs/Key": "Key",
		"#/components/schemas/With%20Space":   "With Space",
		"":                                    "",
	} {
		if got := refName(ref); got != want {
			t.Errorf("refName(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestLooksLikeProse(t *testing.T) {
	for body, want := range map[string]bool{
		"# Title\n\nText":                 true,
		"<html><body>x</body></html>":     true,
		"Just some words about an API.":   true,
		"key: value\nother: 1":            false,
		`{"a": 1}`:                        false,
		"- a\n- b":                        true,
		"```\ncode\n```":                  true,
		"The API lives at https://x.io/.": true,
	} {
		if got := looksLikeProse([]byte(body)); got != want {
			t.Errorf("looksLikeProse(%q) = %v, want %v", body, got, want)
		}
	}
}

func TestYAMLValueIsJSONSafe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "values.yaml")
	writeFile(t, path, `openapi: 3.0.3
info: {title: values, version: '1'}
paths:
  /v:
    get:
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema:
                type: object
                example: &a {n: .nan, i: .inf, big: 123456789012345678901234567890, hex: 0x1F, list: [1, 2.5, true, null, x], m: {1: one}}
                properties:
                  again: {type: object, example: *a}
`)
	s, err := Load(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("surface does not encode as JSON: %v", err)
	}
	want := map[string]any{"n": ".nan", "i": ".inf", "big": 1.2345678901234568e+29, "hex": int64(31),
		"list": []any{int64(1), 2.5, true, nil, "x"}, "m": map[string]any{"1": "one"}}
	if got := s.Operations[0].Response.Example; !reflect.DeepEqual(got, want) {
		t.Errorf("example = %#v, want %#v", got, want)
	}
	if !strings.Contains(string(b), `"again"`) {
		t.Errorf("alias not followed")
	}
}
