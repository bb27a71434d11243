package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/agent"
	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/store/sqlite"
)

// auditLog reads `audit log --json` (JSON Lines) with extra flags.
func auditLog(t *testing.T, db string, extra ...string) []audit.Entry {
	t.Helper()
	r := mustSpindle(t, 0, append([]string{"audit", "log", "--json", "--db", db}, extra...)...)
	var out []audit.Entry
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e audit.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit log --json line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// handMadeOutcome is a small failed build with a tool error and a note.
func handMadeOutcome(bigArgs string) *agent.Outcome {
	return &agent.Outcome{
		Brain:    "scripted",
		Doc:      agent.DocRef{Location: "vendor.yaml", SHA256: strings.Repeat("ab", 32)},
		Stopped:  "iteration budget spent (3 tool calls)",
		Reason:   "validation failed: completeness (keys)",
		SpecYAML: []byte("apiVersion: spindle/v1\n"),
		Transcript: []agent.Entry{
			{Seq: 1, Kind: "tool", Tool: agent.ToolWriteSpec, Args: json.RawMessage(bigArgs), Summary: "wrote 1 stream"},
			{Seq: 2, Kind: "malformed", Summary: "the model's call was not JSON"},
			{Seq: 3, Kind: "tool", Tool: agent.ToolValidate, Args: json.RawMessage(`{}`), Summary: "passed=false", IsError: true},
		},
	}
}

func TestAuditBuildRecordsEveryToolCall(t *testing.T) {
	db := filepath.Join(t.TempDir(), "spindle.db")
	a := &app{dbPath: db, stdout: io.Discard, stderr: io.Discard}
	out, err := agent.Build(t.Context(), agent.Config{Doc: exampleDoc, Brain: &agent.Heuristic{}})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Passed || len(out.Transcript) == 0 {
		t.Fatalf("the example build did not pass: %s %s", out.Stopped, out.Reason)
	}
	if err := a.auditBuild(t.Context(), out); err != nil {
		t.Fatal(err)
	}

	es := auditLog(t, db, "--limit", "0")
	if len(es) != len(out.Transcript)+1 {
		t.Fatalf("%d audit entries for %d transcript entries (+1 verdict)", len(es), len(out.Transcript))
	}
	object := "build:" + out.Doc.SHA256[:12]
	for i, e := range es {
		if e.Seq != int64(i+1) || e.Actor != (audit.Actor{Kind: audit.ActorAgent, Name: "heuristic"}) ||
			e.Object != object || e.Boundary != audit.BoundarySandbox {
			t.Errorf("entry %d: %+v", i, e)
		}
		if i == len(out.Transcript) {
			break
		}
		tr := out.Transcript[i]
		if want := "agent.tool." + tr.Tool; e.Action != want {
			t.Errorf("entry %d: action %s, want %s", e.Seq, e.Action, want)
		}
		digest := any(nil) // no arguments, no digest
		if len(tr.Args) > 0 {
			sum := sha256.Sum256(tr.Args)
			digest = hex.EncodeToString(sum[:])
		}
		if e.Details["args_sha256"] != digest || e.Details["summary"] != tr.Summary ||
			fmt.Sprint(e.Details["seq"]) != fmt.Sprint(tr.Seq) {
			t.Errorf("entry %d details %v; transcript %+v", e.Seq, e.Details, tr)
		}
		if _, has := e.Details["args"]; has {
			t.Errorf("entry %d stores the arguments themselves", e.Seq)
		}
	}
	last := es[len(es)-1]
	specSum := sha256.Sum256(out.SpecYAML)
	if last.Action != "agent.build" || last.Details["passed"] != true || last.Details["stopped"] != "submitted" ||
		last.Details["spec_sha256"] != hex.EncodeToString(specSum[:]) || last.Details["integration"] != out.Facts.Name {
		t.Errorf("verdict entry: %+v", last)
	}

	// The filters reach the CLI.
	if got := auditLog(t, db, "--action", "agent.build"); len(got) != 1 || got[0].Seq != last.Seq {
		t.Errorf("--action agent.build: %+v", got)
	}
	if got := auditLog(t, db, "--action", "agent.tool.submit", "--actor", "agent:heuristic", "--object", object); len(got) != 1 {
		t.Errorf("--action agent.tool.submit: %d entries", len(got))
	}
	if got := auditLog(t, db, "--limit", "2"); len(got) != 2 || got[1].Seq != last.Seq {
		t.Errorf("--limit 2 is not the newest two: %+v", got)
	}
	if got := auditLog(t, db, "--after", "2", "--limit", "1"); len(got) != 1 || got[0].Seq != 3 {
		t.Errorf("--after 2 --limit 1: %+v", got)
	}

	v := mustSpindle(t, 0, "audit", "verify", "--db", db)
	head := fmt.Sprintf("%d:%s", last.Seq, last.Hash)
	if !strings.Contains(v.stdout, fmt.Sprintf("intact: %d entries", len(es))) || !strings.Contains(v.stdout, "head: "+head) {
		t.Errorf("verify:\n%s", v)
	}

	// A second build extends the same chain.
	if err := a.auditBuild(t.Context(), handMadeOutcome(`{}`)); err != nil {
		t.Fatal(err)
	}
	mustSpindle(t, 0, "audit", "verify", "--db", db, "--head", head)
	if got := auditLog(t, db, "--actor", "scripted", "--limit", "0"); len(got) != 4 || got[0].PrevHash != last.Hash {
		t.Errorf("second build: %+v", got)
	}
}

func TestAuditBuildHandMadeOutcome(t *testing.T) {
	db := filepath.Join(t.TempDir(), "spindle.db")
	a := &app{dbPath: db, stdout: io.Discard, stderr: io.Discard}
	// Arguments far over an entry's 8 KiB: only their digest is recorded.
	bigArgs := `{"yaml":"` + strings.Repeat("streams: []  # padding ", 2000) + `"}`
	out := handMadeOutcome(bigArgs)
	if err := a.auditBuild(t.Context(), out); err != nil {
		t.Fatal(err)
	}
	r := mustSpindle(t, 0, "audit", "log", "--json", "--db", db)
	if strings.Contains(r.stdout, "padding") {
		t.Error("the tool arguments themselves were recorded")
	}
	es := auditLog(t, db)
	want := []string{"agent.tool.write_spec", "agent.note.malformed", "agent.tool.validate", "agent.build"}
	if len(es) != len(want) {
		t.Fatalf("%d entries: %+v", len(es), es)
	}
	sum := sha256.Sum256([]byte(bigArgs))
	for i, e := range es {
		if e.Action != want[i] || e.Object != "build:abababababab" || e.Actor.Name != "scripted" {
			t.Errorf("entry %d: %s %s %s", i, e.Action, e.Object, e.Actor.Name)
		}
	}
	if es[0].Details["args_sha256"] != hex.EncodeToString(sum[:]) || fmt.Sprint(es[0].Details["args_bytes"]) != fmt.Sprint(len(bigArgs)) {
		t.Errorf("write_spec details: %v", es[0].Details)
	}
	if _, has := es[1].Details["args_sha256"]; has || es[1].Details["summary"] != "the model's call was not JSON" {
		t.Errorf("note details: %v", es[1].Details)
	}
	if es[2].Details["is_error"] != true {
		t.Errorf("validate details: %v", es[2].Details)
	}
	if v := es[3].Details; v["passed"] != false || v["reason"] != out.Reason || v["doc_sha256"] != out.Doc.SHA256 {
		t.Errorf("verdict details: %v", v)
	}

	// The table form.
	tbl := mustSpindle(t, 0, "audit", "log", "--db", db)
	if !strings.HasPrefix(tbl.stdout, "SEQ") || !strings.Contains(tbl.stdout, "agent:scripted") ||
		!strings.Contains(tbl.stdout, "agent.note.malformed") || !strings.Contains(tbl.stderr, "4 entries") {
		t.Errorf("audit log:\n%s", tbl)
	}

	// No database path: an error, not a build silently left unaudited.
	if err := (&app{}).auditBuild(t.Context(), out); err == nil || !strings.Contains(err.Error(), "database path") {
		t.Errorf("auditBuild without --db: %v", err)
	}
}

func TestAuditCLI(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "spindle.db")
	a := &app{dbPath: db, stdout: io.Discard, stderr: io.Discard}
	for range 2 {
		if err := a.auditBuild(t.Context(), handMadeOutcome(`{"x":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	es := auditLog(t, db, "--limit", "0")
	head := fmt.Sprintf("%d:%s", es[len(es)-1].Seq, es[len(es)-1].Hash)
	missing := filepath.Join(dir, "none.db")

	usage := []struct {
		name string
		args []string
		code int
		want string // on stderr
	}{
		{"log without a database", []string{"audit", "log", "--db", missing}, 1, "no database at"},
		{"verify without a database", []string{"audit", "verify", "--db", missing}, 1, "no database at"},
		{"unknown boundary", []string{"audit", "log", "--boundary", "staging", "--db", db}, 2, "want sandbox, production or none"},
		{"negative limit", []string{"audit", "log", "--limit", "-1", "--db", db}, 2, "--limit"},
		{"negative after", []string{"audit", "log", "--after", "-1", "--db", db}, 2, "--after"},
		{"malformed head", []string{"audit", "verify", "--head", "12:xyz", "--db", db}, 2, "64 lowercase hex"},
		{"unknown subcommand", []string{"audit", "frob", "--db", db}, 2, "unknown command"},
		{"stray argument", []string{"audit", "log", "x", "--db", db}, 2, "--help"},
		{"unknown flag", []string{"audit", "verify", "--heads", "x", "--db", db}, 2, "--help"},
	}
	for _, tc := range usage {
		t.Run(tc.name, func(t *testing.T) {
			r := mustSpindle(t, tc.code, tc.args...)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr does not mention %q:\n%s", tc.want, r)
			}
		})
	}

	t.Run("intact", func(t *testing.T) {
		mustSpindle(t, 0, "audit", "verify", "--db", db, "--head", head)
		r := mustSpindle(t, 0, "audit", "verify", "--db", db, "--json")
		var rep audit.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || !rep.OK || rep.Entries != 8 || rep.Checkpoint().String() != head {
			t.Fatalf("verify --json: %+v, %v\n%s", rep, err, r)
		}
	})

	// Tampering by hand, past the triggers: verify names it and exits 1.
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.DB().Exec(`UPDATE audit_log SET object = 'build:forged' WHERE seq = 2`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("the database let an entry be changed: %v", err)
	}
	for _, q := range []string{`DROP TRIGGER audit_log_no_update`, `DROP TRIGGER audit_log_no_delete`, `UPDATE audit_log SET object = 'build:forged' WHERE seq = 2`} {
		if _, err := st.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("edited", func(t *testing.T) {
		r := mustSpindle(t, 1, "audit", "verify", "--db", db)
		if !strings.Contains(r.stdout, "NOT INTACT: 1 problem in 8 entries") || !strings.Contains(r.stdout, "seq 2: its content does not match its hash") ||
			!strings.Contains(r.stderr, "NOT intact") || !strings.Contains(r.stderr, "first at seq 2") {
			t.Errorf("verify:\n%s", r)
		}
		r = mustSpindle(t, 1, "audit", "verify", "--db", db, "--json")
		var rep audit.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.OK || len(rep.Problems) != 1 || rep.Problems[0].Seq != 2 {
			t.Errorf("verify --json: %+v, %v", rep, err)
		}
	})
	// Put it back, then cut the newest entries: the chain alone still
	// looks whole; the recorded head does not.
	if _, err := st.DB().Exec(`UPDATE audit_log SET object = ? WHERE seq = 2`, es[1].Object); err != nil {
		t.Fatal(err)
	}
	mustSpindle(t, 0, "audit", "verify", "--db", db)
	if _, err := st.DB().Exec(`DELETE FROM audit_log WHERE seq > 6`); err != nil {
		t.Fatal(err)
	}
	t.Run("truncated", func(t *testing.T) {
		mustSpindle(t, 0, "audit", "verify", "--db", db)
		r := mustSpindle(t, 1, "audit", "verify", "--db", db, "--head", head)
		if !strings.Contains(r.stdout, "seq 8: the log ends at seq 6") {
			t.Errorf("verify --head:\n%s", r)
		}
	})
}
