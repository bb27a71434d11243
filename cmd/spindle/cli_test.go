package main

// End-to-end tests of the spindle CLI, driven in-process through execute
// against loopback HTTP servers and a real SQLite file under t.TempDir().

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/spindlehq/spindle/internal/demo"
	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/store"
)

// cliResult is what one in-process invocation of the CLI produced.
type cliResult struct {
	code           int
	stdout, stderr string
}

func (r cliResult) String() string {
	return "exit " + strconv.Itoa(r.code) + "\n--- stdout:\n" + r.stdout + "\n--- stderr:\n" + r.stderr
}

// spindle runs the CLI with args and no stdin.
func spindle(t *testing.T, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := execute(t.Context(), args, strings.NewReader(""), &stdout, &stderr)
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// mustSpindle runs the CLI and fails the test unless it exits with want.
func mustSpindle(t *testing.T, want int, args ...string) cliResult {
	t.Helper()
	r := spindle(t, args...)
	if r.code != want {
		t.Fatalf("spindle %s: want exit %d, got %s", strings.Join(args, " "), want, r)
	}
	return r
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// compileSchema compiles a JSON Schema document; the compiler checks it
// against its meta-schema ($schema) first.
func compileSchema(t *testing.T, name string, src []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(src))
	if err != nil {
		t.Fatalf("%s is not JSON: %v", name, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(name, doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	s, err := c.Compile(name)
	if err != nil {
		t.Fatalf("%s is not a valid JSON Schema: %v", name, err)
	}
	return s
}

// inventory reads `inventory list --json` both as typed entities and as
// raw JSON objects (for schema validation), in the same order.
func inventory(t *testing.T, db string, extra ...string) ([]store.Entity, []map[string]any) {
	t.Helper()
	r := mustSpindle(t, 0, append([]string{"inventory", "list", "--json", "--db", db}, extra...)...)
	var typed []store.Entity
	if err := json.Unmarshal([]byte(r.stdout), &typed); err != nil {
		t.Fatalf("inventory list --json: %v\n%s", err, r.stdout)
	}
	var raw []map[string]any
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("inventory list --json: %v", err)
	}
	if len(raw) != len(typed) {
		t.Fatalf("inventory list --json decoded to %d typed and %d raw entities", len(typed), len(raw))
	}
	return typed, raw
}

func runs(t *testing.T, db string) []store.Run {
	t.Helper()
	r := mustSpindle(t, 0, "inventory", "runs", "--json", "--db", db)
	var rs []store.Run
	if err := json.Unmarshal([]byte(r.stdout), &rs); err != nil {
		t.Fatalf("inventory runs --json: %v\n%s", err, r.stdout)
	}
	return rs
}

// summary parses the run summary table on stdout into stream → outcome.
func summary(t *testing.T, stdout string) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	header := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 2 && f[0] == "STREAM" && f[1] == "OUTCOME":
			header = true
		case header && len(f) == 7 && !strings.HasPrefix(sc.Text(), " "):
			out[f[0]] = f[1]
		case header:
			header = len(f) == 7 && !strings.HasPrefix(sc.Text(), " ")
		}
	}
	if len(out) == 0 {
		t.Fatalf("no STREAM/OUTCOME summary table in stdout:\n%s", stdout)
	}
	return out
}

// demoKinds is what each stream of the bundled spec emits.
var demoKinds = map[string]nhi.Kind{
	demo.StreamUsers:              nhi.HumanUser,
	demo.StreamServiceAccounts:    nhi.ServiceAccount,
	demo.StreamServiceAccountKeys: nhi.APIKey,
	demo.StreamWebhooks:           nhi.Webhook,
}

func demoCounts(t *testing.T) map[string]int {
	t.Helper()
	v, err := demo.NewHandler(demo.Options{Seed: 1}) // example run's default seed
	if err != nil {
		t.Fatal(err)
	}
	return v.Counts()
}

// storeOnlyFields are the fields `inventory list --json` adds beside the
// canonical record.
var storeOnlyFields = []string{"stream", "presence", "presence_since", "findings"}

func TestExampleRunFillsInventory(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "x.db")

	r := mustSpindle(t, 0, "example", "run", "--db", db)
	got := summary(t, r.stdout)
	if len(got) != 4 {
		t.Errorf("summary lists %d streams, want 4: %v\n%s", len(got), got, r.stdout)
	}
	for _, s := range demo.Streams() {
		if got[s] != string(store.Complete) {
			t.Errorf("stream %s: outcome %q, want complete\n%s", s, got[s], r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "status ok") {
		t.Errorf("summary does not say status ok:\n%s", r.stdout)
	}

	// Counts per kind equal the vendor's ground truth.
	ents, raw := inventory(t, db)
	counts := demoCounts(t)
	want := map[nhi.Kind]int{}
	total := 0
	for stream, n := range counts {
		k, ok := demoKinds[stream]
		if !ok {
			t.Fatalf("demo Counts has stream %q this test does not know", stream)
		}
		want[k] += n
		total += n
	}
	gotKinds := map[nhi.Kind]int{}
	for _, e := range ents {
		gotKinds[e.Kind]++
		if e.Presence != store.Present {
			t.Errorf("%s %s: presence %q after a complete run, want present", e.Kind, e.ExternalID, e.Presence)
		}
		if e.Source != "acme-cloud" {
			t.Errorf("%s %s: source %q, want acme-cloud", e.Kind, e.ExternalID, e.Source)
		}
		if want := demoKinds[e.Stream]; want != e.Kind {
			t.Errorf("%s %s came from stream %q, which emits %s", e.Kind, e.ExternalID, e.Stream, want)
		}
	}
	if len(ents) != total {
		t.Errorf("inventory holds %d entities, want %d", len(ents), total)
	}
	for k, n := range want {
		if gotKinds[k] != n {
			t.Errorf("kind %s: %d entities, want %d (demo Counts)", k, gotKinds[k], n)
		}
	}
	for k, n := range gotKinds {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected kind %s (%d entities)", k, n)
		}
	}

	// Every entity's canonical part validates against `schema nhi`.
	schema := compileSchema(t, "nhi.json", []byte(mustSpindle(t, 0, "schema", "nhi").stdout))
	bad := 0
	for i, obj := range raw {
		for _, f := range storeOnlyFields {
			if _, ok := obj[f]; !ok {
				t.Errorf("entity %d has no %q field in inventory JSON", i, f)
			}
			delete(obj, f)
		}
		if err := schema.Validate(jsonValue(t, obj)); err != nil {
			bad++
			if bad <= 3 {
				t.Errorf("entity %s (%s) does not validate against schema nhi: %v", ents[i].ExternalID, ents[i].Kind, err)
			}
		}
	}
	if bad > 3 {
		t.Errorf("… %d entities in all fail schema nhi", bad)
	}

	// A second run keeps first_seen and advances last_seen.
	mustSpindle(t, 0, "example", "run", "--db", db)
	ents2, _ := inventory(t, db)
	if len(ents2) != len(ents) {
		t.Fatalf("second run: %d entities, want %d", len(ents2), len(ents))
	}
	before := byID(ents)
	for _, e := range ents2 {
		b, ok := before[e.ID]
		if !ok {
			t.Errorf("second run: new entity %s %s", e.Kind, e.ExternalID)
			continue
		}
		if !sameTime(b.FirstSeen, e.FirstSeen) {
			t.Errorf("%s %s: first_seen changed from %v to %v", e.Kind, e.ExternalID, tstr(b.FirstSeen), tstr(e.FirstSeen))
		}
		if b.LastSeen == nil || e.LastSeen == nil || !e.LastSeen.After(*b.LastSeen) {
			t.Errorf("%s %s: last_seen did not advance (%v then %v)", e.Kind, e.ExternalID, tstr(b.LastSeen), tstr(e.LastSeen))
		}
		if e.Presence != store.Present {
			t.Errorf("%s %s: presence %q, want present", e.Kind, e.ExternalID, e.Presence)
		}
	}

	rs := runs(t, db)
	if len(rs) != 2 {
		t.Fatalf("inventory runs: %d runs, want 2: %+v", len(rs), rs)
	}
	for _, run := range rs {
		if run.Source != "acme-cloud" || run.Status != store.RunOK || len(run.Streams) != 4 {
			t.Errorf("run %d: source %q status %q with %d streams, want acme-cloud ok with 4", run.ID, run.Source, run.Status, len(run.Streams))
		}
	}
	if rs[0].ID <= rs[1].ID {
		t.Errorf("inventory runs not newest first: ids %d, %d", rs[0].ID, rs[1].ID)
	}
}

// jsonValue round-trips v through encoding/json into the form the
// validator expects.
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func byID(ents []store.Entity) map[string]store.Entity {
	m := make(map[string]store.Entity, len(ents))
	for _, e := range ents {
		m[e.ID] = e
	}
	return m
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func tstr(t *time.Time) string {
	if t == nil {
		return "null"
	}
	return t.Format(time.RFC3339Nano)
}

func TestSchemaIntegrationValidatesExampleSpec(t *testing.T) {
	out := mustSpindle(t, 0, "schema", "integration").stdout
	var meta struct {
		Schema string `json:"$schema"`
	}
	if err := json.Unmarshal([]byte(out), &meta); err != nil {
		t.Fatalf("schema integration is not JSON: %v", err)
	}
	if meta.Schema == "" {
		t.Errorf("schema integration names no $schema dialect")
	}
	schema := compileSchema(t, "integration.json", []byte(out))

	spec := mustSpindle(t, 0, "example", "spec").stdout
	js, err := yaml.YAMLToJSON([]byte(spec))
	if err != nil {
		t.Fatalf("example spec is not YAML: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Errorf("example spec does not validate against schema integration: %v", err)
	}

	// The schema is not vacuous: a spec without streams fails it.
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "streams")
	if err := schema.Validate(jsonValue(t, m)); err == nil {
		t.Errorf("a spec without streams validates against schema integration")
	}
}

func TestSchemaNHICompiles(t *testing.T) {
	compileSchema(t, "nhi.json", []byte(mustSpindle(t, 0, "schema", "nhi").stdout))
}

func TestSpecLint(t *testing.T) {
	dir := t.TempDir()
	example := mustSpindle(t, 0, "example", "spec").stdout
	good := writeFile(t, dir, "acme.yaml", []byte(example))

	// The first stream's GET becomes DELETE; remember where.
	lines := strings.Split(example, "\n")
	delLine, delCol := 0, 0
	for i, l := range lines {
		if j := strings.Index(l, "method: GET"); j >= 0 {
			lines[i] = strings.Replace(l, "GET", "DELETE", 1)
			delLine, delCol = i+1, j+len("method: ")+1
			break
		}
	}
	if delLine == 0 {
		t.Fatal("the example spec has no `method: GET` to turn into DELETE")
	}
	del := writeFile(t, dir, "delete.yaml", []byte(strings.Join(lines, "\n")))
	missing := filepath.Join(dir, "no-such-spec.yaml")

	t.Run("example spec is clean", func(t *testing.T) {
		r := mustSpindle(t, 0, "spec", "lint", good)
		if !strings.Contains(r.stdout, good+": ok") {
			t.Errorf("want %q in stdout, got %s", good+": ok", r)
		}
		r = mustSpindle(t, 0, "spec", "lint", "--json", good)
		var out struct {
			File     string            `json:"file"`
			OK       bool              `json:"ok"`
			Findings []json.RawMessage `json:"findings"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("--json: %v\n%s", err, r.stdout)
		}
		if !out.OK || out.Findings == nil || len(out.Findings) != 0 {
			t.Errorf("--json on a clean spec: %s", r.stdout)
		}
	})

	t.Run("DELETE is SPX-P001 at its position", func(t *testing.T) {
		r := mustSpindle(t, 1, "spec", "lint", del)
		loc := del + ":" + strconv.Itoa(delLine) + ":" + strconv.Itoa(delCol) + ": error SPX-P001"
		if !strings.Contains(r.stdout, loc) {
			t.Errorf("want %q in stdout, got %s", loc, r)
		}
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(del) + `:\d+:\d+: error SPX-P001: .*DELETE`).MatchString(r.stdout) {
			t.Errorf("finding line is not file:line:col: error SPX-P001: … DELETE …: %s", r)
		}
		if !strings.Contains(r.stderr, "1 errors") {
			t.Errorf("stderr does not count the errors: %s", r)
		}
	})

	t.Run("DELETE with --json", func(t *testing.T) {
		r := mustSpindle(t, 1, "spec", "lint", "--json", del)
		var out struct {
			OK       *bool `json:"ok"`
			Findings []struct {
				Rule    string `json:"rule"`
				Level   string `json:"level"`
				Line    int    `json:"line"`
				Column  int    `json:"column"`
				Message string `json:"message"`
			} `json:"findings"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("--json: %v\n%s", err, r.stdout)
		}
		if out.OK == nil || *out.OK {
			t.Errorf(`want "ok":false, got %s`, r.stdout)
		}
		found := false
		for _, f := range out.Findings {
			if f.Rule == "SPX-P001" {
				found = true
				if f.Line != delLine || f.Column != delCol || f.Level != "error" || !strings.Contains(f.Message, "DELETE") {
					t.Errorf("SPX-P001 finding %+v, want error at %d:%d naming DELETE", f, delLine, delCol)
				}
			}
		}
		if !found {
			t.Errorf("no SPX-P001 finding: %s", r.stdout)
		}
	})

	t.Run("missing file", func(t *testing.T) {
		r := mustSpindle(t, 1, "spec", "lint", missing)
		if !strings.Contains(r.stderr, missing) || !strings.Contains(r.stderr, "no such file") {
			t.Errorf("error does not name the missing file clearly: %s", r)
		}
		if r.stdout != "" {
			t.Errorf("stdout not empty: %q", r.stdout)
		}
	})
}

func TestInventoryWithoutDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	for _, args := range [][]string{
		{"inventory", "list", "--db", db},
		{"inventory", "list", "--json", "--db", db},
		{"inventory", "runs", "--db", db},
	} {
		r := spindle(t, args...)
		if r.code != 1 {
			t.Errorf("%v: want exit 1, got %s", args, r)
		}
		if !strings.Contains(r.stderr, "spindle example run") || !strings.Contains(r.stderr, db) {
			t.Errorf("%v: error does not name the db and say to run `spindle example run` first: %s", args, r)
		}
		if r.stdout != "" {
			t.Errorf("%v: stdout not empty: %q", args, r.stdout)
		}
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("reading the inventory created %s (stat: %v)", db, err)
	}
}

// Usage errors exit 2 (main.go: exitError).
func TestUsageErrorsExit2(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	for _, args := range [][]string{
		{"schema", "nope"},
		{"inventory", "list", "--kind", "nope", "--db", db},
		{"inventory", "list", "--presence", "maybe", "--db", db},
		{"inventory", "list", "--no-such-flag", "--db", db},
		{"run"},
		{"spec", "lint"},
		{"no-such-command"},
		{"inventory", "no-such-subcommand", "--db", db},
	} {
		if r := spindle(t, args...); r.code != 2 {
			t.Errorf("%v: want exit 2 (usage), got %s", args, r)
		}
	}
}
