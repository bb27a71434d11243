package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/apisurface"
)

const docsTestDoc = `openapi: 3.0.3
info: {title: "Keys \x1b[31mAPI", version: "1"}
servers: [{url: https://api.example.com}]
components:
  securitySchemes:
    token: {type: apiKey, in: header, name: Authorization, description: 'Send "Bearer <token>".'}
security: [{token: []}]
paths:
  /keys:
    get:
      operationId: listKeys
      parameters:
        - {name: page, in: query, schema: {type: integer}}
        - {name: per_page, in: query, schema: {type: integer, maximum: 100}}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema:
                type: object
                properties:
                  keys:
                    type: array
                    items:
                      type: object
                      properties:
                        id: {type: string}
                        fingerprint: {type: string}
                        public_key: {type: string}
                        examples: {$ref: '#/components/examples/Nope'}
`

func docsWrite(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDocsInspect(t *testing.T) {
	doc := docsWrite(t, "keys.yaml", docsTestDoc)
	r := mustSpindle(t, 0, "docs", "inspect", doc)
	for _, want := range []string{
		"source      " + doc,
		"format      openapi 3.0.3, 1 file, sha256 ",
		"servers     https://api.example.com",
		"security    token  apiKey in header Authorization",
		"operations  1 (1 GET), 1 list operations",
		"GET     /keys",
		"warnings    1",
		`dangling-ref keys.yaml:`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q\n%s", want, r)
		}
	}
	if strings.ContainsRune(r.stdout, 0x1b) {
		t.Errorf("a control character from the document reached the terminal:\n%q", r.stdout)
	}
	if r.stderr != "" {
		t.Errorf("stderr for a fast load: %q", r.stderr)
	}
}

func TestDocsInspectJSON(t *testing.T) {
	doc := docsWrite(t, "keys.yaml", docsTestDoc)
	r := mustSpindle(t, 0, "docs", "inspect", doc, "--json")
	var s apisurface.Surface
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("stdout is not a surface: %v\n%s", err, r)
	}
	if s.Source.Location != doc || s.Source.Format != "openapi 3.0.3" || len(s.Operations) != 1 || s.Operations[0].ID != "listKeys" {
		t.Errorf("surface = %+v", s)
	}
	if s.Operations[0].Response == nil || s.Operations[0].List == nil {
		t.Errorf("operation lacks its response or list traits: %+v", s.Operations[0])
	}
}

func TestDocsInspectURLWithProgress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(500 * time.Millisecond) // slow enough for progress lines
		w.Write([]byte(docsTestDoc))
	}))
	defer srv.Close()
	r := mustSpindle(t, 0, "docs", "inspect", srv.URL+"/openapi.yaml")
	if !strings.Contains(r.stderr, "loading "+srv.URL+"/openapi.yaml…") || !strings.Contains(r.stderr, "read 1 files in ") {
		t.Errorf("no progress on stderr:\n%s", r)
	}
	if !strings.Contains(r.stdout, "GET     /keys") {
		t.Errorf("no operation listed:\n%s", r)
	}
}

// TestDocsInspectProse: markdown that is not OpenAPI is read as prose —
// endpoint candidates and auth mentions — instead of being refused.
func TestDocsInspectProse(t *testing.T) {
	doc := docsWrite(t, "guide.md", "# Keys API\n\nSend `Authorization: Bearer <token>`.\n\n## List keys\n\n`GET /v1/keys?limit=10` returns a `next_cursor`; pass it as `cursor`.\n")
	r := spindle(t, "docs", "inspect", doc)
	if r.code != 0 {
		t.Fatalf("want exit 0, got %s", r)
	}
	for _, want := range []string{"markdown prose", "sections    2", "GET  /v1/keys", "bearer", "cursor"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = spindle(t, "docs", "inspect", doc, "--json")
	var d struct {
		Format    string
		Endpoints []struct{ Method, Path string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.Format != "markdown" || len(d.Endpoints) != 1 || d.Endpoints[0].Path != "/v1/keys" {
		t.Errorf("--json: %v %+v\n%s", err, d, r.stdout)
	}
}

func TestDocsInspectErrors(t *testing.T) {
	prose := docsWrite(t, "guide.md", "# Keys API\n\nCall `GET /keys` with a bearer token.\n")
	broken := docsWrite(t, "broken.yaml", "openapi: 3.0.3\ninfo: {title: [x\n")
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"docs", "inspect", broken}, 1, broken + ": line 2, column"},
		{[]string{"docs", "inspect", filepath.Join(t.TempDir(), "missing.yaml")}, 1, "no such file"},
		{[]string{"docs", "inspect"}, 2, "accepts 1 arg"},
		{[]string{"docs", "inspect", prose, "--timeout", "0s"}, 2, "--timeout"},
		{[]string{"docs", "frobnicate"}, 2, "unknown command"},
	} {
		r := spindle(t, tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("spindle %s: want exit %d and %q on stderr, got %s", strings.Join(tt.args, " "), tt.code, tt.want, r)
		}
	}
}
