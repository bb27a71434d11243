package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/spindlehq/spindle/internal/alert"
	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/production"
	"github.com/spindlehq/spindle/internal/store/sqlite"
	"github.com/spindlehq/spindle/internal/vault"
)

// alertCLI runs `spindle alert …` on db, with the vault's identity found
// the default way (vault.key beside db): the environment is cleared.
func alertCLI(t *testing.T, db string, args ...string) cliResult {
	t.Helper()
	t.Setenv(vault.EnvIdentity, "")
	t.Setenv(vault.EnvIdentityFile, "")
	return spindle(t, append(append([]string{"alert"}, args...), "--db", db)...)
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

// noTokenInFiles fails if the database files hold the token.
func noTokenInFiles(t *testing.T, db string) {
	t.Helper()
	for _, p := range []string{db, db + "-wal"} {
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(slackToken)) {
			t.Errorf("%s holds the webhook URL's token", filepath.Base(p))
		}
	}
}

// TestAlertCommands: adding and removing a webhook takes an operator or
// admin and is audited; the URL, which carries a token, is stored
// encrypted and never appears in full in any output, audit entry or the
// database file.
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
	run(2, "add", "ops", "--url", url, "--format", "slack")                                              // no --as
	run(2, "add", "ops", "--url", url, "--format", "xml", "--as", "olivia")                              // bad format
	run(2, "add", "ops", "--url", url, "--format", "slack", "--min-health", "healthy", "--as", "olivia") // bad min health
	run(2, "add", "ops", "--url", "http://hooks.example.com/x", "--as", "olivia")                        // plain http
	if r := run(1, "add", "ops", "--url", url, "--format", "slack", "--as", "vic"); !strings.Contains(r.stderr, "operator") {
		t.Errorf("viewer refusal: %s", r)
	}
	if r := run(0, "add", "ops", "--url", url, "--format", "slack", "--as", "olivia"); !strings.Contains(r.stdout, "https://hooks.slack.com/…") || !strings.Contains(r.stdout, "failing only") {
		t.Errorf("add: %s", r)
	}
	if _, err := os.Stat(vault.DefaultIdentityFile(db)); err != nil {
		t.Errorf("the vault key was not made beside the database: %v", err)
	}
	run(1, "add", "ops", "--url", url, "--format", "slack", "--as", "olivia") // exists
	if r := run(0, "add", "chat", "--url", url+"2", "--format", "json", "--min-health", "degraded", "--as", "olivia"); !strings.Contains(r.stdout, "failing, degraded and stale") {
		t.Errorf("add --min-health degraded: %s", r)
	}
	if r := run(0, "list"); !strings.Contains(r.stdout, "ops") || !strings.Contains(r.stdout, "https://hooks.slack.com/…") || !strings.Contains(r.stdout, "MIN HEALTH") {
		t.Errorf("list: %s", r)
	}
	var listed []alertTarget
	if err := json.Unmarshal([]byte(run(0, "list", "--json").stdout), &listed); err != nil || len(listed) != 2 ||
		listed[0].Name != "chat" || listed[0].MinHealth != "degraded" || listed[1].Endpoint != "https://hooks.slack.com/…" || listed[1].CreatedBy != "olivia" ||
		listed[1].MinHealth != "failing" || !listed[1].Encrypted {
		t.Errorf("list --json: %+v, %v", listed, err)
	}
	noTokenInFiles(t, db)
	run(1, "remove", "ops", "--as", "vic")
	run(0, "remove", "ops", "--as", "olivia")
	run(0, "remove", "chat", "--as", "olivia")
	run(1, "remove", "ops", "--as", "olivia") // gone
	if r := run(0, "list"); !strings.Contains(r.stdout, "no webhooks") {
		t.Errorf("list after remove: %s", r)
	}

	if strings.Contains(all.String(), slackToken) || strings.Contains(all.String(), "/services/") {
		t.Errorf("the webhook URL was printed:\n%s", all.String())
	}
	es := auditActions(t, db, "alert")
	if len(es) != 4 || es[0].Action != "alert.add" || es[0].Actor.Name != "olivia" || es[0].Details["min_health"] != "failing" || es[3].Action != "alert.remove" {
		t.Fatalf("audit: %+v", es)
	}
	if js, _ := json.Marshal(es); strings.Contains(string(js), slackToken) {
		t.Errorf("the audit log holds the URL: %s", js)
	}
}

// webhook is a loopback webhook that counts posts and answers status.
type webhook struct {
	srv    *httptest.Server
	posts  atomic.Int32
	status atomic.Int32
	last   atomic.Value // []byte
}

func newWebhook(t *testing.T) *webhook {
	t.Helper()
	w := &webhook{}
	w.status.Store(http.StatusOK)
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		_, _ = b.ReadFrom(r.Body)
		w.last.Store(b.Bytes())
		w.posts.Add(1)
		rw.WriteHeader(int(w.status.Load()))
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhook) url(name string) string { return w.srv.URL + "/hook/" + name + "/" + slackToken }

// alertSync is the sync side of alerting on db: the production
// pipeline's Notify, printed as spindle sync prints it.
type alertSync struct {
	t              *testing.T
	a              *app
	stdout, stderr bytes.Buffer
}

func newAlertSync(t *testing.T, db string) *alertSync {
	t.Helper()
	s := &alertSync{t: t}
	s.a = &app{stdout: &s.stdout, stderr: &s.stderr, dbPath: db}
	return s
}

func (s *alertSync) notify(r contract.Result) {
	s.t.Helper()
	b, err := s.a.openBackend(s.t.Context(), "", true)
	if err != nil {
		s.t.Fatal(err)
	}
	defer b.Close()
	out, derr, aerr := b.env.Notify(s.t.Context(), audit.Actor{Kind: audit.ActorPerson, Name: "olivia"}, "", r)
	s.a.printSync(&production.SyncResult{Contract: &r, Alert: out, AlertErr: derr, AlertAuditErr: aerr})
}

func checked(h contract.Health, status contract.Status, ids ...string) contract.Result {
	r := contract.Result{Integration: "acme-cloud", RunID: 3, CheckedAt: time.Now(), Health: h}
	for _, id := range ids {
		r.Checks = append(r.Checks, contract.Finding{ID: id, Status: status, Message: "shrank"})
	}
	return r
}

// TestNotifyAlertsFromContractCheck is the sync wiring: a failing
// contract result alerts the webhook once and is audited; a delivery that
// fails is reported on stderr (URL redacted) and audited as alert.fail.
func TestNotifyAlertsFromContractCheck(t *testing.T) {
	db := filepath.Join(t.TempDir(), "spindle.db")
	mustSpindle(t, 0, "role", "grant", "olivia", "admin", "--db", db)
	hook := newWebhook(t)
	alertCLI(t, db, "add", "ops", "--url", hook.url("ops"), "--format", "json", "--as", "olivia")

	s := newAlertSync(t, db)
	s.notify(checked(contract.Failing, contract.Fail, "count:keys"))
	s.notify(checked(contract.Failing, contract.Fail, "count:keys")) // the same incident: nothing new
	if hook.posts.Load() != 1 || !strings.Contains(s.stdout.String(), "alert opened: sent to 1 webhook(s)") {
		t.Fatalf("posts %d, stdout %q, stderr %q", hook.posts.Load(), s.stdout.String(), s.stderr.String())
	}

	hook.status.Store(http.StatusBadRequest)
	s.notify(checked(contract.Failing, contract.Fail, "count:keys", "auth:keys"))
	if hook.posts.Load() != 2 || !strings.Contains(s.stderr.String(), "HTTP 400") || strings.Contains(s.stderr.String(), slackToken) {
		t.Fatalf("posts %d, stderr %q", hook.posts.Load(), s.stderr.String())
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

// TestWarningAlertsAndIncidents: degraded health alerts only the webhook
// added with --min-health degraded, once; recovery resolves it; `alert
// incidents` lists what happened.
func TestWarningAlertsAndIncidents(t *testing.T) {
	db := filepath.Join(t.TempDir(), "spindle.db")
	mustSpindle(t, 0, "role", "grant", "olivia", "admin", "--db", db)
	pager, chat := newWebhook(t), newWebhook(t)
	alertCLI(t, db, "add", "pager", "--url", pager.url("pager"), "--format", "json", "--as", "olivia")
	alertCLI(t, db, "add", "chat", "--url", chat.url("chat"), "--format", "slack", "--min-health", "degraded", "--as", "olivia")

	if r := alertCLI(t, db, "incidents"); r.code != 0 || !strings.Contains(r.stdout, "no incidents") {
		t.Fatalf("incidents before any: %s", r)
	}
	s := newAlertSync(t, db)
	s.notify(checked(contract.Degraded, contract.Warn, "mapping:keys"))
	s.notify(checked(contract.Degraded, contract.Warn, "mapping:keys"))
	if pager.posts.Load() != 0 || chat.posts.Load() != 1 {
		t.Fatalf("degraded: pager %d, chat %d posts; stderr %q", pager.posts.Load(), chat.posts.Load(), s.stderr.String())
	}
	var sp alert.SlackPayload
	if err := json.Unmarshal(chat.last.Load().([]byte), &sp); err != nil || !strings.Contains(sp.Text, "Degraded") {
		t.Errorf("warning payload: %s", chat.last.Load())
	}

	r := alertCLI(t, db, "incidents", "--open")
	if r.code != 0 || !strings.Contains(r.stdout, "warning") || !strings.Contains(r.stdout, "mapping:keys") || !strings.Contains(r.stdout, "open") {
		t.Fatalf("incidents --open: %s", r)
	}
	s.notify(checked(contract.Healthy, contract.Pass, "count:keys"))
	if pager.posts.Load() != 0 || chat.posts.Load() != 2 {
		t.Fatalf("resolved: pager %d, chat %d posts", pager.posts.Load(), chat.posts.Load())
	}
	if r := alertCLI(t, db, "incidents", "--open"); r.code != 0 || !strings.Contains(r.stdout, "no open incidents") {
		t.Errorf("incidents --open after recovery: %s", r)
	}
	var incs []alert.Incident
	if err := json.Unmarshal([]byte(alertCLI(t, db, "incidents", "--json").stdout), &incs); err != nil || len(incs) != 1 ||
		incs[0].Severity != alert.SeverityWarning || incs[0].Resolution != "healthy" || incs[0].AlertsSent != 2 || incs[0].Integration != "acme-cloud" {
		t.Fatalf("incidents --json: %+v, %v", incs, err)
	}
	if r := alertCLI(t, db, "incidents", "--integration", "other"); !strings.Contains(r.stdout, "no incidents") {
		t.Errorf("incidents of another integration: %s", r)
	}
}

// TestAlertWrongIdentity: a webhook sealed to another vault key cannot be
// sent to; sync's alerting says why on stderr, without the URL.
func TestAlertWrongIdentity(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "spindle.db")
	mustSpindle(t, 0, "role", "grant", "olivia", "admin", "--db", db)
	hook := newWebhook(t)
	other := filepath.Join(dir, "other.key")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := alertCLI(t, db, "add", "ops", "--url", hook.url("ops"), "--format", "json", "--vault-identity", other, "--as", "olivia"); r.code != 0 {
		t.Fatalf("add with --vault-identity: %s", r)
	}
	// The sync side uses vault.key beside the database: another key.
	mustWriteKey(t, vault.DefaultIdentityFile(db))
	s := newAlertSync(t, db)
	s.notify(checked(contract.Failing, contract.Fail, "count:keys"))
	msg := s.stderr.String()
	if hook.posts.Load() != 0 || !strings.Contains(msg, "cannot decrypt the webhook URL") || !strings.Contains(msg, id.Recipient().String()) ||
		strings.Contains(msg, slackToken) {
		t.Fatalf("posts %d, stderr %q", hook.posts.Load(), msg)
	}
	if es := auditActions(t, db, "alert.fail"); len(es) != 1 {
		t.Errorf("alert.fail audited %d times", len(es))
	}
}

func mustWriteKey(t *testing.T, path string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}
