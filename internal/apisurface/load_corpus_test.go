package apisurface

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// corpusDir is the shared corpus of real vendor documents, read in place.
var corpusDir = filepath.Join("..", "..", "..", "shared", "corpus")

// loadCorpusDoc loads a corpus document, skipping only when the corpus
// itself is absent from this checkout.
func loadCorpusDoc(t *testing.T, rel string) *Surface {
	t.Helper()
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("corpus directory %s is absent (%v); these tests need ../shared/corpus next to the repository", corpusDir, err)
	}
	path := filepath.Join(corpusDir, rel)
	s, err := Load(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return s
}

func ldFindOp(t *testing.T, s *Surface, method, path string) *Operation {
	t.Helper()
	for i := range s.Operations {
		if s.Operations[i].Method == method && s.Operations[i].Path == path {
			return &s.Operations[i]
		}
	}
	t.Fatalf("no operation %s %s", method, path)
	return nil
}

func ldScheme(t *testing.T, s *Surface, name string) SecurityScheme {
	t.Helper()
	for _, sc := range s.SecuritySchemes {
		if sc.Name == name {
			return sc
		}
	}
	t.Fatalf("no security scheme %q in %s", name, mustJSON(s.SecuritySchemes))
	return SecurityScheme{}
}

func ldProperty(s *Schema, name string) *Schema {
	if s == nil {
		return nil
	}
	for _, p := range s.Properties {
		if p.Name == name {
			return p.Schema
		}
	}
	return nil
}

func warningCodes(s *Surface) map[string]int {
	m := map[string]int{}
	for _, w := range s.Warnings {
		m[w.Code]++
	}
	return m
}

// The operation counts below are the method keys under `paths` in each
// document, counted independently of libopenapi.
func TestLoadCorpusOkta(t *testing.T) {
	for _, tt := range []struct {
		file string
		ops  int
	}{
		{"okta/management.2024.09.2.yaml", 648},
		{"okta/management.2025.01.1.yaml", 651},
	} {
		t.Run(tt.file, func(t *testing.T) {
			s := loadCorpusDoc(t, tt.file)
			if s.Source.Format != "openapi 3.0.3" || s.Source.Files != 1 || len(s.Source.SHA256) != 64 {
				t.Errorf("source = %+v", s.Source)
			}
			if len(s.Operations) != tt.ops {
				t.Errorf("%d operations, want %d", len(s.Operations), tt.ops)
			}
			if len(s.Servers) != 1 || s.Servers[0].URL != "https://{yourOktaDomain}" ||
				len(s.Servers[0].Variables) != 1 || s.Servers[0].Variables[0].Default != "subdomain.okta.com" {
				t.Errorf("servers = %s", mustJSON(s.Servers))
			}
			tok := ldScheme(t, s, "apiToken")
			if tok.Type != "apiKey" || tok.In != "header" || tok.ParamName != "Authorization" {
				t.Errorf("apiToken = %+v, want apiKey in header Authorization", tok)
			}
			oauth := ldScheme(t, s, "oauth2")
			if len(oauth.Flows) != 1 || oauth.Flows[0].Type != "authorizationCode" || len(oauth.Flows[0].Scopes) < 100 {
				t.Errorf("oauth2 flows = %s", mustJSON(oauth.Flows))
			}
			users := ldFindOp(t, s, "GET", "/api/v1/users")
			want := []Requirement{{Schemes: []SchemeUse{{Scheme: "apiToken"}}}, {Schemes: []SchemeUse{{Scheme: "oauth2", Scopes: []string{"okta.users.read"}}}}}
			if !reflect.DeepEqual(users.Security, want) {
				t.Errorf("GET /api/v1/users security = %s", mustJSON(users.Security))
			}
			if users.Response == nil || users.Response.Type != "array" || users.Response.Items == nil {
				t.Errorf("GET /api/v1/users response = %s, want an array of users", mustJSON(users.Response))
			}
			// Okta refers to examples it never defines: warnings, and the
			// operations around them keep their responses.
			codes := warningCodes(s)
			if codes["dangling-ref"] == 0 {
				t.Errorf("no dangling-ref warnings: %s", mustJSON(s.Warnings))
			}
			for _, w := range s.Warnings {
				if w.Code == "dangling-ref" && !strings.Contains(w.Message, "#/components/examples/") {
					t.Errorf("unexpected dangling ref: %+v", w)
				}
			}
			csr := ldFindOp(t, s, "POST", "/api/v1/apps/{appId}/credentials/csrs")
			if csr.ResponseStatus != "201" || csr.Response == nil || csr.Response.Ref != "Csr" {
				t.Errorf("POST csrs: status %q response %s, want 201 Csr despite its dangling example", csr.ResponseStatus, mustJSON(csr.Response))
			}
		})
	}
}

func TestLoadCorpusPagerDuty(t *testing.T) {
	for _, tt := range []struct {
		file string
		ops  int
	}{
		{"pagerduty/openapiv3.2024-01-31.json", 326},
		{"pagerduty/openapiv3.2025-03-24.json", 368},
	} {
		t.Run(tt.file, func(t *testing.T) {
			s := loadCorpusDoc(t, tt.file)
			if s.Source.Format != "openapi 3.0.2" || len(s.Operations) != tt.ops {
				t.Errorf("format %q with %d operations, want openapi 3.0.2 with %d", s.Source.Format, len(s.Operations), tt.ops)
			}
			if len(s.Servers) != 1 || s.Servers[0].URL != "https://api.pagerduty.com" {
				t.Errorf("servers = %s", mustJSON(s.Servers))
			}
			key := ldScheme(t, s, "api_key")
			if key.Type != "apiKey" || key.In != "header" || key.ParamName != "Authorization" {
				t.Errorf("api_key = %+v", key)
			}
			if want := []Requirement{{Schemes: []SchemeUse{{Scheme: "api_key"}}}}; !reflect.DeepEqual(s.Security, want) {
				t.Errorf("security = %s", mustJSON(s.Security))
			}
			ext := ldFindOp(t, s, "GET", "/extensions")
			if ext.ResponseStatus != "200" {
				t.Errorf("GET /extensions status %q", ext.ResponseStatus)
			}
			arr := ldProperty(ext.Response, "extensions")
			if arr == nil || arr.Type != "array" || arr.Items == nil || ldProperty(arr.Items, "id") == nil {
				t.Errorf("GET /extensions response has no `extensions` array of records: %s", mustJSON(ext.Response))
			}
			if ldProperty(ext.Response, "more") == nil {
				t.Errorf("GET /extensions response lacks `more` (allOf paging envelope merged?)")
			}
			if len(s.Warnings) == 0 {
				t.Errorf("no warnings")
			}
		})
	}
}

func TestLoadCorpusPagerDutyCircular(t *testing.T) {
	s := loadCorpusDoc(t, "pagerduty/openapiv3.2025-03-24.json")
	found := false
	for _, w := range s.Warnings {
		if w.Code == "circular-ref" && strings.Contains(w.Message, "MatchPredicate") {
			found = true
		}
	}
	if !found {
		t.Errorf("no circular-ref warning for MatchPredicate: %s", mustJSON(s.Warnings))
	}
}

func TestLoadCorpusDigitalOcean(t *testing.T) {
	s := loadCorpusDoc(t, "digitalocean/2024-03-18/specification/DigitalOcean-public.v2.yaml")
	if s.Source.Format != "openapi 3.0.0" || len(s.Operations) != 302 {
		t.Errorf("format %q with %d operations, want openapi 3.0.0 with 302", s.Source.Format, len(s.Operations))
	}
	// Only referenced files are read: about 1,700 of the tree's 1,709
	// (code samples under x-codeSamples are never opened).
	if s.Source.Files < 1000 || s.Source.Files > 1709 {
		t.Errorf("files = %d, want the ~1,700 files the document refers to", s.Source.Files)
	}
	if s.Title != "DigitalOcean API" || !strings.HasPrefix(s.Description, "# Introduction") {
		t.Errorf("title %q description %.40q", s.Title, s.Description)
	}
	refInString := false
	for _, w := range s.Warnings {
		if w.Code == "ref-in-string" && strings.Contains(w.Message, "info.description") {
			refInString = true
		}
	}
	if !refInString {
		t.Errorf("no ref-in-string warning for info.description: %s", mustJSON(s.Warnings))
	}
	keys := ldFindOp(t, s, "GET", "/v2/account/keys")
	if keys.ID != "sshKeys_list" || keys.ResponseStatus != "200" {
		t.Errorf("GET /v2/account/keys = %s %s", keys.ID, keys.ResponseStatus)
	}
	arr := ldProperty(keys.Response, "ssh_keys")
	if arr == nil || arr.Type != "array" || ldProperty(arr.Items, "fingerprint") == nil {
		t.Errorf("GET /v2/account/keys response has no ssh_keys array of keys: %s", mustJSON(keys.Response))
	}
	names := map[string]bool{}
	for _, p := range keys.Parameters {
		names[p.Name] = true
	}
	if !names["per_page"] || !names["page"] {
		t.Errorf("parameters = %s, want per_page and page from the shared file", mustJSON(keys.Parameters))
	}
	if len(s.SecuritySchemes) == 0 {
		t.Errorf("no security schemes")
	}
}

// TestLoadDeterministic: the same document gives the same surface, even
// though libopenapi builds parts of the model concurrently.
func TestLoadDeterministic(t *testing.T) {
	for _, rel := range []string{"pagerduty/openapiv3.2025-03-24.json", "okta/management.2025.01.1.yaml"} {
		a, _ := json.Marshal(loadCorpusDoc(t, rel))
		b, _ := json.Marshal(loadCorpusDoc(t, rel))
		if string(a) != string(b) {
			t.Errorf("%s: two loads differ", rel)
		}
	}
}
