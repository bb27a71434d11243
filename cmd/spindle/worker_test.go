package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/sandbox"
)

// TestScheduleWorkerJobs is the operator's path: an integration released
// and credentialed, an operator schedules it (refused for a viewer, a
// too-short interval, or without --as), `spindle worker` runs the
// scheduled sync as the scheduler on her behalf and stops cleanly on
// cancellation, `jobs list` shows the job, and removing the schedule is
// audited.
func TestScheduleWorkerJobs(t *testing.T) {
	dir := t.TempDir()
	db, keys := filepath.Join(dir, "spindle.db"), filepath.Join(dir, "keys")
	run := dbRunner(t, db)
	run(0, "", "role", "grant", "root", "admin")
	for _, p := range [][2]string{{"alice", "approver"}, {"bob", "approver"}, {"olivia", "operator"}, {"vic", "viewer"}} {
		run(0, "", "role", "grant", p[0], p[1], "--as", "root")
	}
	for _, who := range []string{"alice", "bob"} {
		run(0, "", "keys", "create", who, "--key-dir", keys)
	}
	spec, err := os.ReadFile("../../examples/docs/specs/acme-keys.integration.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "bundle")
	writeFile(t, mkdir(t, bundle), "integration.yaml", spec)
	run(0, "", "propose", bundle, "--as", "olivia")
	for _, who := range []string{"alice", "bob"} {
		run(0, "", "approve", "1", "--as", who, "--key-dir", keys)
	}
	ctx := context.Background()
	surf, err := apisurface.Load(ctx, exampleDoc, apisurface.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(surf, sandbox.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sb.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	token := srv.Credentials()[0].Value
	run(0, token+"\n", "credential", "set", "acme-cloud", "--integration", "acme-cloud", "--host", strings.TrimPrefix(srv.Origin(), "http://"), "--as", "olivia")
	run(0, "", "terms", "accept", "acme-cloud", "--as", "olivia")

	run(0, "", "jobs", "list")
	if r := run(0, "", "schedule", "list"); !strings.Contains(r.stdout, "no schedules") {
		t.Errorf("empty list: %s", r)
	}
	run(2, "", "schedule", "set", "acme-cloud", "--every", "6h")
	run(2, "", "schedule", "set", "acme-cloud", "--as", "olivia")
	if r := run(1, "", "schedule", "set", "acme-cloud", "--every", "6h", "--as", "vic"); !strings.Contains(r.stderr, "operator") {
		t.Errorf("viewer: %s", r)
	}
	run(1, "", "schedule", "set", "acme-cloud", "--every", "10s", "--as", "olivia")
	run(1, "", "schedule", "set", "nope", "--every", "6h", "--as", "olivia")
	if r := run(0, "", "schedule", "set", "acme-cloud", "--every", "6h", "--base-url", srv.URL(), "--as", "olivia"); !strings.Contains(r.stdout, "scheduled acme-cloud every 6h0m0s") {
		t.Errorf("set: %s", r)
	}
	var rows []scheduleRow
	if err := json.Unmarshal([]byte(run(0, "", "schedule", "list", "--json").stdout), &rows); err != nil || len(rows) != 1 ||
		rows[0].SetBy != "olivia" || rows[0].Status != "active" || rows[0].Every != "6h0m0s" {
		t.Fatalf("list: %+v %v", rows, err)
	}

	// The worker, until cancelled.
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var wout, werr bytes.Buffer
	exited := make(chan int, 1)
	go func() {
		exited <- execute(wctx, []string{"worker", "--db", db, "--json", "--grace", "30s"}, strings.NewReader(""), &wout, &werr)
	}()
	for {
		var runs []json.RawMessage
		if r := run(0, "", "inventory", "runs", "--source", "acme-cloud", "--json"); json.Unmarshal([]byte(r.stdout), &runs) == nil && len(runs) > 0 {
			break
		}
		select {
		case code := <-exited:
			t.Fatalf("the worker exited %d:\n%s", code, werr.String())
		case <-t.Context().Done():
			t.Fatal("no scheduled run")
		case <-time.After(50 * time.Millisecond):
		}
	}
	stop()
	if code := <-exited; code != 0 {
		t.Fatalf("worker exit %d:\n%s", code, werr.String())
	}
	logs := werr.String()
	for _, want := range []string{`"msg":"worker started"`, `"msg":"job finish"`, `"kind":"sync"`, `"msg":"worker stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("worker logs lack %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, token) || strings.Contains(wout.String(), token) {
		t.Fatal("the credential appears in the worker's output")
	}

	// The worker stopped gracefully, so the job's completion is recorded.
	var jobsOut []struct {
		Kind        string `json:"kind"`
		State       string `json:"state"`
		Integration string `json:"integration"`
	}
	if err := json.Unmarshal([]byte(run(0, "", "jobs", "list", "--json").stdout), &jobsOut); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, j := range jobsOut {
		if j.Kind == "sync" && j.Integration == "acme-cloud" && j.State == "completed" {
			found = true
		}
	}
	if !found {
		t.Errorf("jobs list: %+v", jobsOut)
	}
	if r := run(0, "", "jobs", "list"); !strings.Contains(r.stdout, "acme-cloud") || !strings.Contains(r.stdout, "completed") {
		t.Errorf("jobs list: %s", r)
	}
	run(2, "", "jobs", "list", "--state", "bogus", "--limit", "5")

	log := run(0, "", "audit", "log", "--action", "sync.start", "--json")
	if !strings.Contains(log.stdout, `"kind":"scheduler"`) || !strings.Contains(log.stdout, `"on_behalf_of":"olivia"`) {
		t.Errorf("sync.start: %s", log.stdout)
	}
	run(1, "", "schedule", "remove", "acme-cloud", "--as", "vic")
	run(0, "", "schedule", "remove", "acme-cloud", "--as", "olivia")
	run(1, "", "schedule", "remove", "acme-cloud", "--as", "olivia")
	if r := run(0, "", "audit", "log", "--action", "schedule", "--json"); !strings.Contains(r.stdout, "schedule.set") || !strings.Contains(r.stdout, "schedule.remove") {
		t.Errorf("audit: %s", r.stdout)
	}
	run(0, "", "audit", "verify")
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}
