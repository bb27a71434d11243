package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/store/sqlite"
)

// alertCLI runs `spindle alert …` on db: through execute when main.go
// registers the command, else on a test root built the same way.
func alertCLI(t *testing.T, db string, args ...string) cliResult {
	t.Helper()
	args = append(append([]string{"alert"}, args...), "--db", db)
	var probe bytes.Buffer
	if c, _, err := newRoot(&probe, &probe).Find([]string{"alert", "list"}); err == nil && c.Name() == "list" {
		return spindle(t, args...)
	}
	var stdout, stderr bytes.Buffer
	a := &app{stdout: &stdout, stderr: &stderr}
	root := &cobra.Command{Use: "spindle", SilenceUsage: true, SilenceErrors: true}
	root.PersistentFlags().StringVar(&a.dbPath, "db", "spindle.db", "")
	root.PersistentFlags().BoolVar(&a.jsonOut, "json", false, "")
	root.AddCommand(a.alertCmd())
	usageErrors(root)
	root.SetArgs(args)
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	code := 0
	if err := root.ExecuteContext(t.Context()); err != nil {
		stderr.WriteString("spindle: " + err.Error() + "\n")
		code = 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
	}
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func auditActions(t *testing.T, db, prefix string) []audit.Entry {
	t.Helper()
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	es, err := audit.New(st.DB(), audit.Options{}).List(t.Context(), audit.Filter{Action: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

const slackToken = "XyZs3cr3tW3bh00kT0ken"

// TestAlertCommands: adding and removing a webhook takes an operator or
// admin and is audited; the URL, which carries a token, never appears in
// full in any output or audit entry.
func TestAlertCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "spindle.db")
	mustSpindle(t, 0, "role", "grant", "root", "admin", "--db", db)
	mustSpindle(t, 0, "role", "grant", "olivia", "operator", "--as", "root", "--db", db)
	mustSpindle(t, 0, "role", "grant", "vic", "viewer", "--as", "root", "--db", db)
	url := "https://hooks.slack.com/services/T0/B0/" + slackToken

	var all strings.Builder
	run := func(want int, args ...string) cliResult {
		t.Helper()
		r := alertCLI(t, db, args...)
		all.WriteString(r.stdout + r.stderr)
		if r.code != want {
			t.Fatalf("alert %s: want exit %d, got %s", strings.Join(args, " "), want, r)
		}
		return r
	}
	run(2, "add", "ops", "--url", url, "--format", "slack")                       // no --as
	run(2, "add", "ops", "--url", url, "--format", "xml", "--as", "olivia")       // bad format
	run(2, "add", "ops", "--url", "http://hooks.example.com/x", "--as", "olivia") // plain http
	if r := run(1, "add", "ops", "--url", url, "--format", "slack", "--as", "vic"); !strings.Contains(r.stderr, "operator") {
		t.Errorf("viewer refusal: %s", r)
	}
	if r := run(0, "add", "ops", "--url", url, "--format", "slack", "--as", "olivia"); !strings.Contains(r.stdout, "https://hooks.slack.com/…") {
		t.Errorf("add: %s", r)
	}
	run(1, "add", "ops", "--url", url, "--format", "slack", "--as", "olivia") // exists
	if r := run(0, "list"); !strings.Contains(r.stdout, "ops") || !strings.Contains(r.stdout, "https://hooks.slack.com/…") {
		t.Errorf("list: %s", r)
	}
	var listed []alertTarget
	if err := json.Unmarshal([]byte(run(0, "list", "--json").stdout), &listed); err != nil || len(listed) != 1 || listed[0].Endpoint != "https://hooks.slack.com/…" || listed[0].CreatedBy != "olivia" {
		t.Errorf("list --json: %+v, %v", listed, err)
	}
	run(1, "remove", "ops", "--as", "vic")
	run(0, "remove", "ops", "--as", "olivia")
	run(1, "remove", "ops", "--as", "olivia") // gone
	if r := run(0, "list"); !strings.Contains(r.stdout, "no webhooks") {
		t.Errorf("list after remove: %s", r)
	}

	if strings.Contains(all.String(), slackToken) || strings.Contains(all.String(), "/services/") {
		t.Errorf("the webhook URL was printed:\n%s", all.String())
	}
	es := auditActions(t, db, "alert")
	if len(es) != 2 || es[0].Action != "alert.add" || es[0].Actor.Name != "olivia" || es[1].Action != "alert.remove" {
		t.Fatalf("audit: %+v", es)
	}
	if js, _ := json.Marshal(es); strings.Contains(string(js), slackToken) {
		t.Errorf("the audit log holds the URL: %s", js)
	}
}

// TestNotifyAlertsFromContractCheck is the sync wiring: a failing
// contract result alerts the webhook once and is audited; a delivery that
// fails is reported on stderr (URL redacted) and audited as alert.fail.
func TestNotifyAlertsFromContractCheck(t *testing.T) {
	db := filepath.Join(t.TempDir(), "spindle.db")
	mustSpindle(t, 0, "role", "grant", "olivia", "admin", "--db", db)
	var posts atomic.Int32
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	alertCLI(t, db, "add", "ops", "--url", srv.URL+"/hook/"+slackToken, "--format", "json", "--as", "olivia")

	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var stdout, stderr bytes.Buffer
	a := &app{stdout: &stdout, stderr: &stderr, dbPath: db}
	log := audit.New(st.DB(), audit.Options{})
	actor := audit.Actor{Kind: audit.ActorPerson, Name: "olivia"}
	failing := func(ids ...string) contract.Result {
		r := contract.Result{Integration: "acme-cloud", RunID: 3, CheckedAt: time.Now(), Health: contract.Failing}
		for _, id := range ids {
			r.Checks = append(r.Checks, contract.Finding{ID: id, Status: contract.Fail, Message: "shrank"})
		}
		return r
	}

	a.notifyAlerts(t.Context(), st, log, actor, failing("count:keys"))
	a.notifyAlerts(t.Context(), st, log, actor, failing("count:keys")) // the same incident: nothing new
	if posts.Load() != 1 || !strings.Contains(stdout.String(), "alert opened: sent to 1 webhook(s)") {
		t.Fatalf("posts %d, stdout %q, stderr %q", posts.Load(), stdout.String(), stderr.String())
	}

	status.Store(http.StatusBadRequest)
	a.notifyAlerts(t.Context(), st, log, actor, failing("count:keys", "auth:keys"))
	if posts.Load() != 2 || !strings.Contains(stderr.String(), "HTTP 400") || strings.Contains(stderr.String(), slackToken) {
		t.Fatalf("posts %d, stderr %q", posts.Load(), stderr.String())
	}
	es := auditActions(t, db, "alert")
	var actions []string
	for _, e := range es {
		actions = append(actions, e.Action)
	}
	if strings.Join(actions, ",") != "alert.add,alert.send,alert.fail" {
		t.Fatalf("audit: %v", actions)
	}
	if js, _ := json.Marshal(es); strings.Contains(string(js), slackToken) {
		t.Errorf("the audit log holds the URL: %s", js)
	}
}
