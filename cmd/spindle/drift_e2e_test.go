package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/jobs"
	"github.com/spindlehq/spindle/internal/sandbox"
)

// TestDriftEndToEnd is issue 6's end-to-end drift scenario, through the
// CLI and the worker: the vendor's docs site serves its doc, the agent
// builds from it, people release it, and a production sync against the
// vendor's stand-in is healthy. Then the vendor changes its API — the docs
// site serves the new doc and the stand-in serves the new API on the same
// host — and the worker's daily validation finds the change against the
// doc pinned with the release: health flips to failing, one alert goes
// out, drift check exits 1. A second validation of the same drift raises
// no second alert.
func TestDriftEndToEnd(t *testing.T) {
	dir := t.TempDir()
	db, keys := filepath.Join(dir, "spindle.db"), filepath.Join(dir, "keys")
	run := dbRunner(t, db)
	ctx := context.Background()

	oldDoc, err := os.ReadFile(exampleDoc)
	if err != nil {
		t.Fatal(err)
	}
	// The vendor renames its service accounts' name, a required field the
	// mapping reads.
	newDoc := bytes.Replace(oldDoc, []byte("required: [id, name, status, created_at]\n      properties:\n        id: { type: string, format: uuid }\n        name: { type: string, example: ci-deployer }"),
		[]byte("required: [id, label, status, created_at]\n      properties:\n        id: { type: string, format: uuid }\n        label: { type: string, example: ci-deployer }"), 1)
	if bytes.Equal(newDoc, oldDoc) {
		t.Fatal("the example doc's ServiceAccount schema changed; update the rename")
	}
	var served atomic.Pointer[[]byte]
	served.Store(&oldDoc)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(*served.Load())
	}))
	defer site.Close()
	docURL := site.URL + "/openapi.yaml"

	// The vendor's stand-in, on one address for both versions of the API
	// (the credential is bound to its host).
	standIn := func(doc []byte, addr string) *sandbox.Server {
		t.Helper()
		p := filepath.Join(t.TempDir(), "doc.yaml")
		if err := os.WriteFile(p, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		surf, err := apisurface.Load(ctx, p, apisurface.Options{})
		if err != nil {
			t.Fatal(err)
		}
		sb, err := sandbox.New(surf, sandbox.Options{Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := sb.Start(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		return srv
	}
	srv := standIn(oldDoc, "127.0.0.1:0")
	addr := srv.Addr().String()
	host := strings.TrimPrefix(srv.Origin(), "http://")

	bundle := filepath.Join(dir, "acme")
	run(0, "", "build", docURL, "--out", bundle, "--owner", "identity-team@example.com")
	run(0, "", "role", "grant", "root", "admin")
	for _, p := range [][2]string{{"alice", "approver"}, {"bob", "approver"}, {"olivia", "operator"}} {
		run(0, "", "role", "grant", p[0], p[1], "--as", "root")
	}
	run(0, "", "keys", "create", "alice", "--key-dir", keys)
	run(0, "", "keys", "create", "bob", "--key-dir", keys)
	run(0, "", "propose", bundle) // pins the doc it was built from
	run(0, "", "approve", "1", "--as", "alice", "--key-dir", keys)
	run(0, "", "approve", "1", "--as", "bob", "--key-dir", keys)
	run(0, srv.Credentials()[0].Value+"\n", "credential", "set", "acme-cloud-credential", "--integration", "acme-cloud", "--host", host, "--as", "olivia")
	run(0, "", "terms", "accept", "acme-cloud", "--as", "olivia")

	var posts atomic.Int32
	var lastAlert atomic.Pointer[[]byte]
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		body := b.Bytes()
		lastAlert.Store(&body)
		posts.Add(1)
	}))
	defer hook.Close()
	run(0, "", "alert", "add", "ops", "--url", hook.URL+"/hook", "--format", "json", "--as", "olivia")

	if s := run(0, "", "sync", "acme-cloud", "--as", "olivia", "--base-url", srv.URL()); !strings.Contains(s.stdout, "status ok") {
		t.Fatalf("sync before the drift:\n%s", s.stdout)
	}
	run(0, "", "drift", "check", "acme-cloud")
	if h := health(t, run); h != "healthy" {
		t.Fatalf("health before the drift: %s", h)
	}

	// The vendor ships the change: new doc, new API, same host.
	served.Store(&newDoc)
	srv.Close()
	<-srv.Done()
	standIn(newDoc, addr)

	validate := func() {
		t.Helper()
		wctx, stop := context.WithCancel(ctx)
		done := make(chan cliResult, 1)
		go func() {
			var out, errb bytes.Buffer
			code := execute(wctx, []string{"worker", "--db", db, "--queues", "scheduler,validate", "--tick", "1s", "--grace", "1s"}, strings.NewReader(""), &out, &errb)
			done <- cliResult{code: code, stdout: out.String(), stderr: errb.String()}
		}()
		deadline := time.Now().Add(2 * time.Minute) // a hang guard
		for !validated(t, run) {
			if time.Now().After(deadline) {
				stop()
				t.Fatalf("no validation completed; worker: %s", <-done)
			}
			time.Sleep(100 * time.Millisecond)
		}
		stop()
		r := <-done
		if r.code != 0 {
			t.Fatalf("worker: %s", r)
		}
	}
	validate()
	if h := health(t, run); h != "failing" {
		t.Errorf("health after the drift: %s", h)
	}
	if n := posts.Load(); n != 1 {
		t.Fatalf("%d alerts after the validation, want 1", n)
	}
	var payload map[string]any
	if err := json.Unmarshal(*lastAlert.Load(), &payload); err != nil || !strings.Contains(string(*lastAlert.Load()), "drift.breaking") {
		t.Errorf("the alert does not name the drift: %s (%v)", *lastAlert.Load(), err)
	}
	chk := spindleIn(t, "", "drift", "check", "acme-cloud", "--db", db)
	if chk.code != 1 || !strings.Contains(chk.stdout, "name") || !strings.Contains(chk.stdout, "breaking") {
		t.Errorf("drift check after the change: %s", chk)
	}
	if inc := run(0, "", "alert", "incidents", "--open"); !strings.Contains(inc.stdout, "drift.breaking") {
		t.Errorf("open incidents:\n%s", inc.stdout)
	}

	// The same drift judged again (another day's validation, by hand
	// here): still failing, no second alert.
	run(0, "", "jobs", "list") // the validation job is on record
	clearValidations(t, db)
	validate()
	if n := posts.Load(); n != 1 {
		t.Errorf("%d alerts after a second validation of the same drift, want 1", n)
	}
	run(0, "", "audit", "verify")
}

// health is acme-cloud's health as `integration list --json` shows it.
func health(t *testing.T, run func(int, string, ...string) cliResult) string {
	t.Helper()
	var list []struct {
		Name   string `json:"name"`
		Health string `json:"health"`
	}
	out := run(0, "", "integration", "list", "--json")
	if err := json.Unmarshal([]byte(out.stdout), &list); err != nil || len(list) != 1 {
		t.Fatalf("integration list: %v\n%s", err, out.stdout)
	}
	return list[0].Health
}

// validated reports whether a validate job has completed.
func validated(t *testing.T, run func(int, string, ...string) cliResult) bool {
	t.Helper()
	var js []struct {
		Kind  string `json:"kind"`
		State string `json:"state"`
	}
	out := run(0, "", "jobs", "list", "--json")
	if err := json.Unmarshal([]byte(out.stdout), &js); err != nil {
		t.Fatalf("jobs list: %v\n%s", err, out.stdout)
	}
	for _, j := range js {
		if j.Kind == "validate" && j.State == "completed" {
			return true
		}
	}
	return false
}

// clearValidations deletes today's validation jobs from River's SQLite
// file: validation is unique per integration per day, so this stands in
// for the next day.
func clearValidations(t *testing.T, db string) {
	t.Helper()
	jdb, err := sql.Open("sqlite", jobs.SQLitePath(db))
	if err != nil {
		t.Fatal(err)
	}
	defer jdb.Close()
	if _, err := jdb.Exec(`DELETE FROM river_job WHERE kind = 'validate'`); err != nil {
		t.Fatal(err)
	}
}
