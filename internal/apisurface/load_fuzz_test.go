package apisurface

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// FuzzLoad feeds arbitrary bytes to Load as a document file. Load must
// return (never panic, never hang past its context), any surface it
// returns must encode as JSON, and only OpenAPI/Swagger input may load.
//
//	go test ./internal/apisurface -run '^$' -fuzz FuzzLoad -fuzztime 60s -fuzzminimizetime 10s
func FuzzLoad(f *testing.F) {
	for _, p := range []string{
		"testdata/load/openapi30.yaml", "testdata/load/openapi31.json", "testdata/load/swagger2.yaml",
		"testdata/load/circular.yaml", "testdata/load/dangling.yaml",
	} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "{}", "[]", "null", "openapi: 3.0.0", "swagger: '2.0'", "openapi: [", `{"openapi": "3.1.0", "paths": {"/a": {"$ref": "#/paths/~1a"}}}`,
		"openapi: 3.0.0\ninfo: {title: t, version: v}\npaths: {/a: {get: {responses: {'200': {$ref: '#/x'}}}}}\n",
		"openapi: 3.0.0\ncomponents: {schemas: {A: {$ref: '#/components/schemas/B'}, B: {$ref: '#/components/schemas/A'}}}\npaths: {/a: {get: {responses: {'200': {description: x, content: {application/json: {schema: {$ref: '#/components/schemas/A'}}}}}}}}\n",
		"openapi: 3.0.0\nx: &a [*a]\n",
		"openapi: 3.0.0\na: &a {b: *a}\npaths: {}\n",
		"# Title\n\nprose",
	} {
		f.Add([]byte(s))
	}
	hasKey := regexp.MustCompile(`(?i)(openapi|swagger)`)
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "doc.yaml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := Load(ctx, path, Options{MaxBytes: 1 << 20})
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Load hung on %q", data)
		}
		if errors.Is(err, errParserPanic) {
			t.Fatalf("the parser panicked on %q: %v", data, err)
		}
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || le.Doc != path || le.Reason == "" {
				t.Fatalf("error %T %v does not name the document and reason", err, err)
			}
			return
		}
		if !hasKey.Match(data) {
			t.Fatalf("loaded a document with no openapi or swagger key: %q", data)
		}
		if _, err := json.Marshal(s); err != nil {
			t.Fatalf("surface does not encode: %v", err)
		}
	})
}
