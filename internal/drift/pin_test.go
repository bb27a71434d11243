package drift

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/store/postgres"
	"github.com/spindlehq/spindle/internal/store/postgres/pgtest"
	"github.com/spindlehq/spindle/internal/store/sqlite"
)

// eachDB runs f on a fresh SQLite store and, when a server is configured
// (see pgtest), a fresh PostgreSQL one: the pinning SQL must run on both.
func eachDB(t *testing.T, f func(t *testing.T, db *sql.DB, dialect string)) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "spindle.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		f(t, st.DB(), "sqlite")
	})
	t.Run("postgres", func(t *testing.T) {
		st, err := postgres.Open(t.Context(), pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		f(t, st.DB(), "postgres")
	})
}

func sqliteDB(t *testing.T) *sql.DB {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "spindle.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.DB()
}

func TestPinRoundTrip(t *testing.T) {
	eachDB(t, func(t *testing.T, db *sql.DB, dialect string) {
		ctx := t.Context()
		content := []byte("openapi: 3.0.3\ninfo: {title: T, version: '1'}\npaths: {}\n\x00\xff binary-safe")
		at := time.Date(2026, 3, 1, 9, 0, 0, 123, time.UTC)
		doc, created, err := Pin(ctx, db, "https://vendor.example/openapi.yaml", content, at)
		if err != nil || !created {
			t.Fatalf("pin: created %v, %v", created, err)
		}
		if doc.SHA256 != Digest(content) || doc.Size != int64(len(content)) {
			t.Errorf("pinned %+v", doc)
		}
		// The same bytes again, from elsewhere: nothing new, the first
		// location stays.
		if _, created, err := Pin(ctx, db, "/elsewhere.yaml", content, at.Add(time.Hour)); err != nil || created {
			t.Fatalf("re-pin: created %v, %v", created, err)
		}
		got, err := LoadPinned(ctx, db, doc.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Content, content) || got.Location != "https://vendor.example/openapi.yaml" || !got.PinnedAt.Equal(at) {
			t.Errorf("loaded %+v (%q)", got, got.Content)
		}
		if _, err := LoadPinned(ctx, db, Digest([]byte("other"))); !errors.Is(err, ErrNoPinnedDoc) {
			t.Errorf("unknown digest: %v", err)
		}
		if _, _, err := Pin(ctx, db, "x", nil, at); err == nil {
			t.Error("pinned an empty doc")
		}
		// A pinned doc is never rewritten: the database refuses, and a
		// rewrite behind the trigger's back is caught on read.
		if _, err := db.ExecContext(ctx, `UPDATE pinned_docs SET content = ? WHERE sha256 = ?`, []byte("evil"), doc.SHA256); err == nil || !strings.Contains(err.Error(), "never rewritten") {
			t.Errorf("update: %v", err)
		}
		drop := `DROP TRIGGER pinned_docs_immutable`
		if dialect == "postgres" {
			drop += ` ON pinned_docs`
		}
		if _, err := db.ExecContext(ctx, drop); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE pinned_docs SET content = ? WHERE sha256 = ?`, []byte("evil"), doc.SHA256); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadPinned(ctx, db, doc.SHA256); err == nil || !strings.Contains(err.Error(), "altered in the database") {
			t.Errorf("tampered doc loaded: %v", err)
		}
	})
}

// withSource adds metadata.source_doc to a spec's YAML.
func withSource(t *testing.T, specYAML []byte, location, sha string) []byte {
	t.Helper()
	s := string(specYAML)
	i := strings.Index(s, "\nmetadata:\n")
	if i < 0 {
		t.Fatal("spec has no metadata block")
	}
	i += len("\nmetadata:\n")
	return []byte(s[:i] + "  source_doc: {location: '" + location + "', sha256: '" + sha + "'}\n" + s[i:])
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, p string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSourceFor(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	orig := readFile(t, "testdata/synthetic.old.yaml")
	docPath := writeFile(t, filepath.Join(dir, "vendor.yaml"), orig)
	base := readFile(t, "testdata/synthetic.integration.yaml")
	spec := func(loc, sha string) *integration.Spec {
		doc, err := integration.Parse("integration.yaml", withSource(t, base, loc, sha))
		if err != nil {
			t.Fatal(err)
		}
		return doc.Spec
	}
	sum := Digest(orig)
	bundle := t.TempDir()

	src, err := SourceFor(ctx, spec(docPath, sum), bundle, Options{})
	if err != nil || src == nil || !bytes.Equal(src.Content, orig) || src.FromBundle {
		t.Fatalf("unchanged doc: %+v, %v", src, err)
	}
	// The "file:" form the draft writes for paths that look like secrets.
	if src, err := SourceFor(ctx, spec("file://"+docPath, sum), "", Options{}); err != nil || !bytes.Equal(src.Content, orig) {
		t.Errorf("file:// location: %v", err)
	}

	// The vendor changed the doc after the build: refused, saying what to do.
	writeFile(t, docPath, append(append([]byte{}, orig...), "\n# edited\n"...))
	_, err = SourceFor(ctx, spec(docPath, sum), bundle, Options{})
	if !errors.Is(err, ErrDocChanged) || !strings.Contains(err.Error(), "spindle build") || !strings.Contains(err.Error(), BundleDocFile) {
		t.Errorf("changed doc: %v", err)
	}
	// ... unless the bundle carries the exact doc the spec was built from.
	writeFile(t, filepath.Join(bundle, BundleDocFile), orig)
	if src, err := SourceFor(ctx, spec(docPath, sum), bundle, Options{}); err != nil || !src.FromBundle || !bytes.Equal(src.Content, orig) {
		t.Errorf("bundle copy: %+v, %v", src, err)
	}
	// A bundle copy that is not that doc is refused, not trusted.
	writeFile(t, filepath.Join(bundle, BundleDocFile), []byte("openapi: 3.0.3\n"))
	if _, err := SourceFor(ctx, spec(docPath, sum), bundle, Options{}); err == nil || !strings.Contains(err.Error(), "not the doc the spec was built from") {
		t.Errorf("wrong bundle copy: %v", err)
	}

	// Unreadable, and nothing to pin.
	if _, err := SourceFor(ctx, spec(filepath.Join(dir, "gone.yaml"), sum), "", Options{}); !errors.Is(err, ErrDocUnreadable) || !strings.Contains(err.Error(), "gone.yaml") {
		t.Errorf("missing doc: %v", err)
	}
	plain, err := integration.Parse("integration.yaml", base)
	if err != nil {
		t.Fatal(err)
	}
	if src, err := SourceFor(ctx, plain.Spec, bundle, Options{}); src != nil || err != nil {
		t.Errorf("spec without source_doc: %+v, %v", src, err)
	}
}

func TestFetchDocBounds(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "big.yaml"), bytes.Repeat([]byte("a"), 100))
	if _, err := fetchDoc(ctx, p, Options{Surface: surfaceLimit(99)}); !errors.Is(err, ErrDocUnreadable) || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("oversize file: %v", err)
	}
	if _, err := fetchDoc(ctx, dir, Options{}); !errors.Is(err, ErrDocUnreadable) || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	if _, err := fetchDoc(ctx, writeFile(t, filepath.Join(dir, "empty.yaml"), nil), Options{}); !errors.Is(err, ErrDocUnreadable) {
		t.Errorf("empty: %v", err)
	}
}

func TestExternalRefs(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"$ref": "#/components/schemas/Key"}`, ""},
		{`{"$ref":"schemas/key.json#/Key"}, {"$ref": "schemas/key.json"}`, "schemas/key.json"},
		{"items: {$ref: 'schemas/user.yaml#/User'}\n  /teams:\n    $ref: paths/teams.yaml\n", "schemas/user.yaml paths/teams.yaml"},
		{"$ref: \"#/x\"\n", ""},
		// Okta's schema of JSON References: a property named $ref.
		{"      properties:\n        $ref:\n          type: string\n", ""},
		{`{"properties": {"$ref": {"type": "string"}}}`, ""},
	} {
		if got := strings.Join(ExternalRefs([]byte(c.in), 5), " "); got != c.want {
			t.Errorf("ExternalRefs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestWhere(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pw@docs.example/api.json?token=abc": "https://docs.example/api.json?…",
		"https://docs.example/api.json":                   "https://docs.example/api.json",
		"/srv/docs/api.yaml":                              "/srv/docs/api.yaml",
	} {
		if got := Where(in); got != want {
			t.Errorf("Where(%q) = %q, want %q", in, got, want)
		}
	}
}
