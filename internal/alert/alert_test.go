package alert_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/spindlehq/spindle/internal/alert"
	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/vault"
)

// hook is a webhook stand-in on loopback: it records bodies and answers
// with the scripted statuses, then 200.
type hook struct {
	mu     sync.Mutex
	bodies [][]byte
	script []int
	srv    *httptest.Server
}

func newHook(t *testing.T, script ...int) *hook {
	t.Helper()
	h := &hook{script: script}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, b)
		status := http.StatusOK
		if len(h.script) > 0 {
			status, h.script = h.script[0], h.script[1:]
		}
		h.mu.Unlock()
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) got() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.bodies...)
}

// token is in every hook URL's path, as Slack's tokens are.
const token = "s3cr3tT0ken"

func (h *hook) url() string { return h.srv.URL + "/services/T000/B000/" + token }

func newIdentity(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// notifierOn is a Notifier on db whose vault uses id.
func notifierOn(t *testing.T, db *sql.DB, id *age.X25519Identity) *alert.Notifier {
	t.Helper()
	v, err := vault.Open(db, vault.Options{Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	return alert.New(db, alert.Options{Backoff: time.Millisecond, Timeout: 5 * time.Second, Vault: v,
		Redact: func(s string) string { return strings.ReplaceAll(s, "hunter2", "[redacted]") }})
}

func newNotifier(t *testing.T, b backend) *alert.Notifier {
	t.Helper()
	return notifierOn(t, b.Open(t, b.Fresh(t)), newIdentity(t))
}

func add(t *testing.T, n *alert.Notifier, name, url string, f alert.Format, min ...contract.Health) {
	t.Helper()
	tg := alert.Target{Name: name, URL: url, Format: f, CreatedBy: "olivia"}
	if len(min) > 0 {
		tg.MinHealth = min[0]
	}
	if _, err := n.AddTarget(context.Background(), tg); err != nil {
		t.Fatal(err)
	}
}

func result(health contract.Health, failing ...string) contract.Result {
	r := contract.Result{Integration: "acme-cloud", RunID: 7, CheckedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Health: health}
	r.Checks = append(r.Checks, contract.Finding{ID: "http:keys", Status: contract.Pass, Message: "fine"})
	for _, id := range failing {
		r.Checks = append(r.Checks, contract.Finding{ID: id, Stream: strings.TrimPrefix(id, "count:"), Status: contract.Fail, Message: id + " failed (token hunter2)"})
	}
	return r
}

// warned is a degraded result warning on ids.
func warned(ids ...string) contract.Result {
	r := result(contract.Degraded)
	for _, id := range ids {
		r.Checks = append(r.Checks, contract.Finding{ID: id, Status: contract.Warn, Message: id + " warned"})
	}
	return r
}

// stale is a result whose only failure is staleness.
func stale() contract.Result {
	r := result(contract.Stale)
	r.Checks = append(r.Checks, contract.Finding{ID: contract.StalenessID, Status: contract.Fail, Message: "no successful sync since …"})
	return r
}

func TestNotifyOpensDeduplicatesAndResolves(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		n := newNotifier(t, b)
		jh, sh := newHook(t), newHook(t)
		add(t, n, "ops-json", jh.url(), alert.FormatJSON)
		add(t, n, "ops-slack", sh.url(), alert.FormatSlack)

		// First failure: one POST per target, in its format.
		out, err := n.Notify(ctx, result(contract.Failing, "count:keys", "auth:users"))
		if err != nil || out.Kind != alert.KindOpened || out.Severity != alert.SeverityFailing || len(out.Deliveries) != 2 {
			t.Fatalf("first failure: %+v, %v", out, err)
		}
		if len(jh.got()) != 1 || len(sh.got()) != 1 {
			t.Fatalf("posts: json %d, slack %d", len(jh.got()), len(sh.got()))
		}
		var p alert.Payload
		if err := json.Unmarshal(jh.got()[0], &p); err != nil {
			t.Fatal(err)
		}
		if p.Event != "incident.opened" || p.Severity != "failing" || p.Integration != "acme-cloud" || p.Health != "failing" || p.RunID != 7 ||
			len(p.Failing) != 2 || p.Failing[0].ID != "count:keys" || p.Failing[0].Stream != "keys" || p.Summary == "" || p.Fingerprint == "" {
			t.Errorf("json payload: %+v", p)
		}
		var sp alert.SlackPayload
		if err := json.Unmarshal(sh.got()[0], &sp); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sp.Text, "acme-cloud") || len(sp.Blocks) != 1 || sp.Blocks[0].Type != "section" || sp.Blocks[0].Text.Type != "mrkdwn" ||
			!strings.Contains(sp.Blocks[0].Text.Text, "`count:keys`") || !strings.Contains(sp.Blocks[0].Text.Text, "*Failing*") {
			t.Errorf("slack payload: %s", sh.got()[0])
		}
		for _, b := range append(jh.got(), sh.got()...) {
			if strings.Contains(string(b), "hunter2") || strings.Contains(string(b), token) {
				t.Errorf("payload leaks a secret: %s", b)
			}
		}
		if js, _ := json.Marshal(out); strings.Contains(string(js), token) {
			t.Errorf("outcome leaks the URL: %s", js)
		}

		// The same failure again (checks in another order): no new alert.
		out, err = n.Notify(ctx, result(contract.Failing, "auth:users", "count:keys"))
		if err != nil || out.Kind != alert.KindDuplicate || len(out.Deliveries) != 0 || len(jh.got()) != 1 || len(sh.got()) != 1 {
			t.Fatalf("duplicate: %+v, %v, posts %d/%d", out, err, len(jh.got()), len(sh.got()))
		}

		// A different failing set: a new incident and a new alert; the old
		// one is superseded.
		out, err = n.Notify(ctx, result(contract.Failing, "count:keys"))
		if err != nil || out.Kind != alert.KindOpened || len(jh.got()) != 2 || len(sh.got()) != 2 {
			t.Fatalf("new set: %+v, %v", out, err)
		}
		open, err := n.Incidents(ctx, "acme-cloud", true)
		if err != nil || len(open) != 1 || strings.Join(open[0].Failing, ",") != "count:keys" || open[0].AlertsSent != 2 || open[0].Severity != alert.SeverityFailing {
			t.Fatalf("open incidents: %+v, %v", open, err)
		}

		// Healthy: one resolved message per target, everything closed.
		out, err = n.Notify(ctx, result(contract.Healthy))
		if err != nil || out.Kind != alert.KindResolved || len(jh.got()) != 3 || len(sh.got()) != 3 {
			t.Fatalf("resolved: %+v, %v", out, err)
		}
		if err := json.Unmarshal(jh.got()[2], &p); err != nil || p.Event != "incident.resolved" || p.Health != "healthy" {
			t.Errorf("resolved payload: %s", jh.got()[2])
		}
		if err := json.Unmarshal(sh.got()[2], &sp); err != nil || !strings.Contains(sp.Text, "Resolved") {
			t.Errorf("resolved slack payload: %s", sh.got()[2])
		}
		all, err := n.Incidents(ctx, "acme-cloud", false)
		if err != nil || len(all) != 2 || all[0].Resolution != "superseded" || all[1].Resolution != "healthy" || all[1].ResolvedAt.IsZero() {
			t.Fatalf("incidents after healthy: %+v, %v", all, err)
		}
		// Healthy again: nothing to say.
		if out, err := n.Notify(ctx, result(contract.Healthy)); err != nil || out.Kind != alert.KindNone || len(jh.got()) != 3 {
			t.Fatalf("healthy again: %+v, %v", out, err)
		}
	})
}

// TestWarningIncidents: degraded and stale health open warning incidents,
// told only to targets whose min health is degraded, de-duplicated and
// resolved like failing ones; a failing incident takes precedence.
func TestWarningIncidents(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		n := newNotifier(t, b)
		loud, quiet := newHook(t), newHook(t)
		add(t, n, "pager", loud.url(), alert.FormatJSON)                     // failing only (the default)
		add(t, n, "chat", quiet.url(), alert.FormatSlack, contract.Degraded) // warnings too
		posts := func() string { return fmt.Sprintf("pager %d, chat %d", len(loud.got()), len(quiet.got())) }

		steps := []struct {
			name      string
			r         contract.Result
			kind      string
			sev       alert.Severity
			wantPosts string
		}{
			{"degraded opens a warning for chat only", warned("mapping:keys"), alert.KindOpened, alert.SeverityWarning, "pager 0, chat 1"},
			{"the same warning again is a duplicate", warned("mapping:keys"), alert.KindDuplicate, alert.SeverityWarning, "pager 0, chat 1"},
			{"stale is another warning incident", stale(), alert.KindOpened, alert.SeverityWarning, "pager 0, chat 2"},
			{"failing goes to both and supersedes the warning", result(contract.Failing, "count:keys"), alert.KindOpened, alert.SeverityFailing, "pager 1, chat 3"},
			{"degraded while failing is open changes nothing", warned("mapping:keys"), alert.KindNone, "", "pager 1, chat 3"},
			{"healthy resolves the failing incident for both", result(contract.Healthy), alert.KindResolved, alert.SeverityFailing, "pager 2, chat 4"},
			{"degraded again", warned("http:keys"), alert.KindOpened, alert.SeverityWarning, "pager 2, chat 5"},
			{"healthy resolves the warning for chat only", result(contract.Healthy), alert.KindResolved, alert.SeverityWarning, "pager 2, chat 6"},
		}
		for _, s := range steps {
			out, err := n.Notify(ctx, s.r)
			if err != nil || out.Kind != s.kind || out.Severity != s.sev || posts() != s.wantPosts {
				t.Fatalf("%s: %+v, %v, posts %s, want %s %s and %s", s.name, out, err, posts(), s.kind, s.sev, s.wantPosts)
			}
		}

		var sp alert.SlackPayload
		if err := json.Unmarshal(quiet.got()[0], &sp); err != nil || !strings.Contains(sp.Text, "Degraded") || !strings.Contains(sp.Blocks[0].Text.Text, ":warning:") ||
			!strings.Contains(sp.Blocks[0].Text.Text, "`mapping:keys`") {
			t.Errorf("degraded slack payload: %s", quiet.got()[0])
		}
		if err := json.Unmarshal(quiet.got()[1], &sp); err != nil || !strings.Contains(sp.Text, "Stale") || !strings.Contains(sp.Text, "staleness") {
			t.Errorf("stale slack payload: %s", quiet.got()[1])
		}
		var p alert.Payload
		if err := json.Unmarshal(loud.got()[0], &p); err != nil || p.Severity != "failing" {
			t.Errorf("failing json payload: %s", loud.got()[0])
		}

		all, err := n.Incidents(ctx, "", false)
		if err != nil || len(all) != 4 {
			t.Fatalf("incidents: %+v, %v", all, err)
		}
		want := []string{"warning mapping:keys superseded", "warning staleness superseded", "failing count:keys healthy", "warning http:keys healthy"}
		for i, inc := range all {
			if got := fmt.Sprintf("%s %s %s", inc.Severity, strings.Join(inc.Failing, ","), inc.Resolution); got != want[i] {
				t.Errorf("incident %d: %s, want %s", i, got, want[i])
			}
		}
		if all[0].Fingerprint == alert.Fingerprint("acme-cloud", []string{"mapping:keys"}) {
			t.Error("a warning incident shares the fingerprint of a failing one over the same checks")
		}
	})
}

func TestRetriesServerErrorsThenDelivers(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		n := newNotifier(t, b)
		h := newHook(t, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
		add(t, n, "flaky", h.url(), alert.FormatJSON)
		out, err := n.Notify(context.Background(), result(contract.Failing, "count:keys"))
		if err != nil || len(out.Deliveries) != 1 || out.Deliveries[0].Attempts != 3 || out.Deliveries[0].Status != 200 || len(h.got()) != 3 {
			t.Fatalf("%+v, %v, posts %d", out, err, len(h.got()))
		}
	})
}

func TestRetries429WithRetryAfter(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		n := newNotifier(t, b)
		h := newHook(t, http.StatusTooManyRequests)
		add(t, n, "limited", h.url(), alert.FormatSlack)
		out, err := n.Notify(context.Background(), result(contract.Failing, "count:keys"))
		if err != nil || out.Deliveries[0].Attempts != 2 || len(h.got()) != 2 {
			t.Fatalf("%+v, %v", out, err)
		}
	})
}

func TestClientErrorIsNotRetriedAndIsRetriedNextTime(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		n := newNotifier(t, b)
		bad, good := newHook(t, http.StatusBadRequest), newHook(t)
		add(t, n, "bad", bad.url(), alert.FormatJSON)
		add(t, n, "good", good.url(), alert.FormatJSON)
		out, err := n.Notify(ctx, result(contract.Failing, "count:keys"))
		var de *alert.DeliveryError
		if !errors.As(err, &de) || len(de.Failed) != 1 || de.Failed[0].Target != "bad" || de.Failed[0].Attempts != 1 || de.Failed[0].Status != 400 {
			t.Fatalf("%+v, %v", out, err)
		}
		if len(bad.got()) != 1 || len(good.got()) != 1 {
			t.Fatalf("posts: bad %d, good %d", len(bad.got()), len(good.got()))
		}
		if strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), "/…") {
			t.Errorf("error shows the URL: %v", err)
		}
		// The next check of the same incident retries only the target that
		// did not get it.
		out, err = n.Notify(ctx, result(contract.Failing, "count:keys"))
		if err != nil || out.Kind != alert.KindDuplicate || len(out.Deliveries) != 1 || out.Deliveries[0].Target != "bad" || len(bad.got()) != 2 || len(good.got()) != 1 {
			t.Fatalf("retry next time: %+v, %v", out, err)
		}
	})
}

func TestNetworkErrorRedactsURL(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		n := newNotifier(t, b)
		h := newHook(t)
		u := h.url()
		h.srv.Close() // connection refused
		add(t, n, "gone", u, alert.FormatJSON)
		_, err := n.Notify(context.Background(), result(contract.Failing, "count:keys"))
		var de *alert.DeliveryError
		if !errors.As(err, &de) || de.Failed[0].Attempts != 3 || strings.Contains(err.Error(), token) {
			t.Fatalf("%v", err)
		}
	})
}

func TestTargetsValidateAndRedact(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		n := newNotifier(t, b)
		for _, u := range []string{"http://hooks.example.com/services/x", "ftp://example.com/x", "not a url"} {
			_, err := n.AddTarget(ctx, alert.Target{Name: "x", URL: u, Format: alert.FormatJSON, CreatedBy: "olivia"})
			if err == nil || strings.Contains(err.Error(), "/services/x") {
				t.Errorf("%s: %v", u, err)
			}
		}
		if _, err := n.AddTarget(ctx, alert.Target{Name: "x", URL: "https://h.example.com/a", Format: "xml", CreatedBy: "olivia"}); err == nil {
			t.Error("format xml accepted")
		}
		if _, err := n.AddTarget(ctx, alert.Target{Name: "x", URL: "https://h.example.com/a", Format: alert.FormatJSON, MinHealth: contract.Healthy, CreatedBy: "olivia"}); err == nil {
			t.Error("min health healthy accepted")
		}
		add(t, n, "slack", "https://hooks.slack.com/services/T/B/tok?x=1", alert.FormatSlack)
		if _, err := n.AddTarget(ctx, alert.Target{Name: "slack", URL: "https://h.example.com/a", Format: alert.FormatJSON, CreatedBy: "olivia"}); err == nil || !strings.Contains(err.Error(), "exists") {
			t.Errorf("a second target of one name: %v", err)
		}
		ts, err := n.Targets(ctx)
		if err != nil || len(ts) != 1 || ts[0].Redacted() != "https://hooks.slack.com/…" || ts[0].MinHealth != contract.Failing || ts[0].URL != "" || ts[0].Legacy {
			t.Fatalf("%+v, %v", ts, err)
		}
		if js, _ := json.Marshal(ts); strings.Contains(string(js), "tok") {
			t.Errorf("a target's JSON holds its URL: %s", js)
		}
		if _, err := n.RemoveTarget(ctx, "slack"); err != nil {
			t.Fatal(err)
		}
		if _, err := n.RemoveTarget(ctx, "slack"); !errors.Is(err, alert.ErrNotFound) {
			t.Fatal(err)
		}
	})
}

// TestURLSealedAtRest: the URL is in no column, in no form, and (SQLite)
// not in the database files; it is opened only to send.
func TestURLSealedAtRest(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		dsn := b.Fresh(t)
		db := b.Open(t, dsn)
		id := newIdentity(t)
		n := notifierOn(t, db, id)
		h := newHook(t)
		add(t, n, "ops", h.url(), alert.FormatSlack)
		if _, err := n.Notify(ctx, result(contract.Failing, "count:keys")); err != nil || len(h.got()) != 1 {
			t.Fatalf("send: %v, %d posts", err, len(h.got()))
		}

		forms := [][]byte{[]byte(token), []byte(base64.StdEncoding.EncodeToString([]byte(token))), []byte(fmt.Sprintf("%x", token))}
		rows, err := db.QueryContext(ctx, `SELECT * FROM alert_targets`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		n1 := 0
		for rows.Next() {
			n1++
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				raw := []byte(fmt.Sprint(v))
				if bb, ok := v.([]byte); ok {
					raw = bb
				}
				for _, f := range forms {
					if bytes.Contains(raw, f) {
						t.Errorf("column %s holds the URL's token", cols[i])
					}
				}
			}
		}
		rows.Close()
		if n1 != 1 {
			t.Fatalf("%d rows in alert_targets", n1)
		}
		var ct []byte
		if err := db.QueryRowContext(ctx, `SELECT url_ciphertext FROM alert_targets`).Scan(&ct); err != nil {
			t.Fatal(err)
		}
		var nomatch *age.NoIdentityMatchError
		if _, err := age.Decrypt(bytes.NewReader(ct), newIdentity(t)); !errors.As(err, &nomatch) {
			t.Errorf("the stored URL is not an age ciphertext: %v", err)
		}
		if _, err := age.Decrypt(bytes.NewReader(ct), id); err != nil {
			t.Errorf("the stored URL does not open with the vault's identity: %v", err)
		}
		if b.Name == "sqlite" {
			if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range b.Files(dsn) {
			raw, err := os.ReadFile(p)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range forms {
				if bytes.Contains(raw, f) {
					t.Errorf("%s holds the URL's token (%q)", p, f)
				}
			}
		}
	})
}

// TestWrongIdentityFailsClearly: a notifier whose vault has another key
// cannot send, and says which key the URL is sealed to and what to do,
// without the URL.
func TestWrongIdentityFailsClearly(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.Open(t, b.Fresh(t))
		id := newIdentity(t)
		h := newHook(t)
		add(t, notifierOn(t, db, id), "ops", h.url(), alert.FormatJSON)

		other := notifierOn(t, db, newIdentity(t))
		out, err := other.Notify(ctx, result(contract.Failing, "count:keys"))
		var de *alert.DeliveryError
		if !errors.As(err, &de) || len(out.Deliveries) != 1 || out.Deliveries[0].Attempts != 0 || len(h.got()) != 0 {
			t.Fatalf("send with another identity: %+v, %v, %d posts", out, err, len(h.got()))
		}
		msg := err.Error()
		for _, want := range []string{"cannot decrypt the webhook URL", id.Recipient().String(), "--vault-identity", "add the webhook again"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q does not say %q", msg, want)
			}
		}
		if strings.Contains(msg, token) {
			t.Errorf("error holds the URL: %s", msg)
		}
		// Without a vault: adding refuses, sending says why.
		bare := alert.New(db, alert.Options{})
		if _, err := bare.AddTarget(ctx, alert.Target{Name: "x", URL: "https://h.example.com/a", Format: alert.FormatJSON, CreatedBy: "olivia"}); !errors.Is(err, alert.ErrNoVault) {
			t.Errorf("add without a vault: %v", err)
		}
		// The right identity still delivers the incident the other could not.
		out, err = notifierOn(t, db, id).Notify(ctx, result(contract.Failing, "count:keys"))
		if err != nil || out.Kind != alert.KindDuplicate || len(h.got()) != 1 {
			t.Fatalf("send with the right identity: %+v, %v", out, err)
		}
	})
}

// TestLegacyPlaintextURLsAreSealed: a target stored in clear by a build
// before migration 00011 survives the migration, is listed redacted, and
// is sealed (its clear text gone) the first time a notifier with the
// vault runs; it keeps receiving alerts.
func TestLegacyPlaintextURLsAreSealed(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		dsn := b.Fresh(t)
		h := newHook(t)
		old := b.MigrateTo(t, dsn, 10)
		if _, err := old.ExecContext(ctx, fmt.Sprintf(`INSERT INTO alert_targets (name, url, format, created_at, created_by) VALUES ('old', '%s', 'json', 1, 'olivia')`, h.url())); err != nil {
			t.Fatal(err)
		}
		old.Close()

		db := b.Open(t, dsn) // migrates to the latest version
		bare := alert.New(db, alert.Options{})
		ts, err := bare.Targets(ctx)
		if err != nil || len(ts) != 1 || !ts[0].Legacy || ts[0].Redacted() != alert.RedactURL(h.url()) || ts[0].MinHealth != contract.Failing {
			t.Fatalf("legacy target: %+v, %v", ts, err)
		}
		if js, _ := json.Marshal(ts); strings.Contains(string(js), token) {
			t.Errorf("a legacy target's JSON holds its URL: %s", js)
		}

		n := notifierOn(t, db, newIdentity(t))
		out, err := n.Notify(ctx, result(contract.Failing, "count:keys"))
		if err != nil || out.Kind != alert.KindOpened || len(h.got()) != 1 {
			t.Fatalf("notify: %+v, %v", out, err)
		}
		var clearText sql.NullString
		var ct []byte
		if err := db.QueryRowContext(ctx, `SELECT legacy_url, url_ciphertext FROM alert_targets WHERE name = 'old'`).Scan(&clearText, &ct); err != nil {
			t.Fatal(err)
		}
		if clearText.Valid || len(ct) == 0 {
			t.Fatalf("after the first send the URL is still in clear (%v) or not sealed (%d bytes)", clearText.Valid, len(ct))
		}
		if ts, _ := n.Targets(ctx); len(ts) != 1 || ts[0].Legacy || ts[0].Recipient == "" {
			t.Errorf("sealed target: %+v", ts)
		}
		if n, err := n.SealLegacy(ctx); n != 0 || err != nil {
			t.Errorf("sealing again: %d, %v", n, err)
		}
		if out, err := n.Notify(ctx, result(contract.Healthy)); err != nil || out.Kind != alert.KindResolved || len(h.got()) != 2 {
			t.Fatalf("resolve through the sealed URL: %+v, %v", out, err)
		}
	})
}

// TestMigration00011Down: rolling 00011 back keeps the URLs still in
// clear, drops the sealed ones (SQL cannot decrypt them) and the warning
// incidents, and turns stale health into failing; it then applies again.
func TestMigration00011Down(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		dsn := b.Fresh(t)
		db := b.MigrateTo(t, dsn, 10)
		for _, q := range []string{
			`INSERT INTO alert_targets (name, url, format, created_at, created_by) VALUES ('old', 'https://h.example.com/old', 'json', 1, 'olivia')`,
			`INSERT INTO integration_health (integration, run_id, checked_at, health, checks) VALUES ('acme', 1, 1, 'failing', '[]')`,
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		b.MigrateTo(t, dsn, 11)
		for _, q := range []string{
			`INSERT INTO alert_targets (name, url_ciphertext, url_recipient, endpoint, format, created_at, created_by) VALUES ('new', 'x', 'age1x', 'https://h.example.com/…', 'json', 2, 'olivia')`,
			`INSERT INTO integration_health (integration, run_id, checked_at, health, checks) VALUES ('acme', 2, 2, 'stale', '[]')`,
			`INSERT INTO alert_incidents (integration, severity, fingerprint, failing, opened_at) VALUES ('acme', 'warning', 'fp', '[]', 1)`,
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		b.MigrateTo(t, dsn, 10)
		var names, health string
		if err := db.QueryRowContext(ctx, `SELECT name || ' ' || url FROM alert_targets`).Scan(&names); err != nil || names != "old https://h.example.com/old" {
			t.Errorf("targets after down: %q, %v", names, err)
		}
		if err := db.QueryRowContext(ctx, `SELECT health FROM integration_health WHERE run_id = 2`).Scan(&health); err != nil || health != "failing" {
			t.Errorf("stale after down: %q, %v", health, err)
		}
		var incidents int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM alert_incidents`).Scan(&incidents); err != nil || incidents != 0 {
			t.Errorf("warning incidents after down: %d, %v", incidents, err)
		}
		// The newest row gone, the rebuilt table must still not reuse its id.
		if _, err := db.ExecContext(ctx, `DELETE FROM integration_health WHERE run_id = 2`); err != nil {
			t.Fatal(err)
		}
		b.MigrateTo(t, dsn, 11)
		var id int64
		if err := db.QueryRowContext(ctx, `INSERT INTO integration_health (integration, run_id, checked_at, health, checks) VALUES ('acme', 3, 3, 'stale', '[]') RETURNING id`).Scan(&id); err != nil || id != 3 {
			t.Errorf("ids after down and up: %d, %v (want 3: none reused)", id, err)
		}
	})
}
