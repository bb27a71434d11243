package alert_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/alert"
	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/store/sqlite"
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

// url carries a token in its path, as Slack's do.
func (h *hook) url() string { return h.srv.URL + "/services/T000/B000/s3cr3tT0ken" }

func newNotifier(t *testing.T) *alert.Notifier {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "spindle.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return alert.New(st.DB(), alert.Options{Backoff: time.Millisecond, Timeout: 5 * time.Second,
		Redact: func(s string) string { return strings.ReplaceAll(s, "hunter2", "[redacted]") }})
}

func add(t *testing.T, n *alert.Notifier, name, url string, f alert.Format) {
	t.Helper()
	if _, err := n.AddTarget(context.Background(), alert.Target{Name: name, URL: url, Format: f, CreatedBy: "olivia"}); err != nil {
		t.Fatal(err)
	}
}

func result(health contract.Health, failing ...string) contract.Result {
	r := contract.Result{Integration: "acme-cloud", RunID: 7, CheckedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Health: health}
	r.Checks = append(r.Checks, contract.Finding{ID: "staleness", Status: contract.Pass, Message: "fine"})
	for _, id := range failing {
		r.Checks = append(r.Checks, contract.Finding{ID: id, Stream: strings.TrimPrefix(id, "count:"), Status: contract.Fail, Message: id + " failed (token hunter2)"})
	}
	return r
}

func TestNotifyOpensDeduplicatesAndResolves(t *testing.T) {
	ctx := context.Background()
	n := newNotifier(t)
	jh, sh := newHook(t), newHook(t)
	add(t, n, "ops-json", jh.url(), alert.FormatJSON)
	add(t, n, "ops-slack", sh.url(), alert.FormatSlack)

	// First failure: one POST per target, in its format.
	out, err := n.Notify(ctx, result(contract.Failing, "count:keys", "auth:users"))
	if err != nil || out.Kind != alert.KindOpened || len(out.Deliveries) != 2 {
		t.Fatalf("first failure: %+v, %v", out, err)
	}
	if len(jh.got()) != 1 || len(sh.got()) != 1 {
		t.Fatalf("posts: json %d, slack %d", len(jh.got()), len(sh.got()))
	}
	var p alert.Payload
	if err := json.Unmarshal(jh.got()[0], &p); err != nil {
		t.Fatal(err)
	}
	if p.Event != "incident.opened" || p.Integration != "acme-cloud" || p.Health != "failing" || p.RunID != 7 ||
		len(p.Failing) != 2 || p.Failing[0].ID != "count:keys" || p.Failing[0].Stream != "keys" || p.Summary == "" || p.Fingerprint == "" {
		t.Errorf("json payload: %+v", p)
	}
	var sp alert.SlackPayload
	if err := json.Unmarshal(sh.got()[0], &sp); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sp.Text, "acme-cloud") || len(sp.Blocks) != 1 || sp.Blocks[0].Type != "section" || sp.Blocks[0].Text.Type != "mrkdwn" ||
		!strings.Contains(sp.Blocks[0].Text.Text, "`count:keys`") {
		t.Errorf("slack payload: %s", sh.got()[0])
	}
	for _, b := range append(jh.got(), sh.got()...) {
		if strings.Contains(string(b), "hunter2") || strings.Contains(string(b), "s3cr3tT0ken") {
			t.Errorf("payload leaks a secret: %s", b)
		}
	}
	if js, _ := json.Marshal(out); strings.Contains(string(js), "s3cr3tT0ken") {
		t.Errorf("outcome leaks the URL: %s", js)
	}

	// The same failure again (checks in another order): no new alert.
	out, err = n.Notify(ctx, result(contract.Failing, "auth:users", "count:keys"))
	if err != nil || out.Kind != alert.KindDuplicate || len(out.Deliveries) != 0 || len(jh.got()) != 1 || len(sh.got()) != 1 {
		t.Fatalf("duplicate: %+v, %v, posts %d/%d", out, err, len(jh.got()), len(sh.got()))
	}
	// Degraded changes nothing.
	if out, err := n.Notify(ctx, result(contract.Degraded)); err != nil || out.Kind != alert.KindNone || len(jh.got()) != 1 {
		t.Fatalf("degraded: %+v, %v", out, err)
	}

	// A different failing set: a new incident and a new alert; the old one
	// is superseded.
	out, err = n.Notify(ctx, result(contract.Failing, "count:keys"))
	if err != nil || out.Kind != alert.KindOpened || len(jh.got()) != 2 || len(sh.got()) != 2 {
		t.Fatalf("new set: %+v, %v", out, err)
	}
	open, err := n.Incidents(ctx, "acme-cloud", true)
	if err != nil || len(open) != 1 || strings.Join(open[0].Failing, ",") != "count:keys" || open[0].AlertsSent != 2 {
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
}

func TestRetriesServerErrorsThenDelivers(t *testing.T) {
	n := newNotifier(t)
	h := newHook(t, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
	add(t, n, "flaky", h.url(), alert.FormatJSON)
	out, err := n.Notify(context.Background(), result(contract.Failing, "count:keys"))
	if err != nil || len(out.Deliveries) != 1 || out.Deliveries[0].Attempts != 3 || out.Deliveries[0].Status != 200 || len(h.got()) != 3 {
		t.Fatalf("%+v, %v, posts %d", out, err, len(h.got()))
	}
}

func TestRetries429WithRetryAfter(t *testing.T) {
	n := newNotifier(t)
	h := newHook(t, http.StatusTooManyRequests)
	add(t, n, "limited", h.url(), alert.FormatSlack)
	out, err := n.Notify(context.Background(), result(contract.Failing, "count:keys"))
	if err != nil || out.Deliveries[0].Attempts != 2 || len(h.got()) != 2 {
		t.Fatalf("%+v, %v", out, err)
	}
}

func TestClientErrorIsNotRetriedAndIsRetriedNextTime(t *testing.T) {
	ctx := context.Background()
	n := newNotifier(t)
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
	if strings.Contains(err.Error(), "s3cr3tT0ken") || !strings.Contains(err.Error(), "/…") {
		t.Errorf("error shows the URL: %v", err)
	}
	// The next check of the same incident retries only the target that
	// did not get it.
	out, err = n.Notify(ctx, result(contract.Failing, "count:keys"))
	if err != nil || out.Kind != alert.KindDuplicate || len(out.Deliveries) != 1 || out.Deliveries[0].Target != "bad" || len(bad.got()) != 2 || len(good.got()) != 1 {
		t.Fatalf("retry next time: %+v, %v", out, err)
	}
}

func TestNetworkErrorRedactsURL(t *testing.T) {
	n := newNotifier(t)
	h := newHook(t)
	u := h.url()
	h.srv.Close() // connection refused
	add(t, n, "gone", u, alert.FormatJSON)
	_, err := n.Notify(context.Background(), result(contract.Failing, "count:keys"))
	var de *alert.DeliveryError
	if !errors.As(err, &de) || de.Failed[0].Attempts != 3 || strings.Contains(err.Error(), "s3cr3tT0ken") {
		t.Fatalf("%v", err)
	}
}

func TestTargetsValidateAndRedact(t *testing.T) {
	ctx := context.Background()
	n := newNotifier(t)
	for _, u := range []string{"http://hooks.example.com/services/x", "ftp://example.com/x", "not a url"} {
		_, err := n.AddTarget(ctx, alert.Target{Name: "x", URL: u, Format: alert.FormatJSON, CreatedBy: "olivia"})
		if err == nil || strings.Contains(err.Error(), "/services/x") {
			t.Errorf("%s: %v", u, err)
		}
	}
	if _, err := n.AddTarget(ctx, alert.Target{Name: "x", URL: "https://h.example.com/a", Format: "xml", CreatedBy: "olivia"}); err == nil {
		t.Error("format xml accepted")
	}
	add(t, n, "slack", "https://hooks.slack.com/services/T/B/tok?x=1", alert.FormatSlack)
	ts, err := n.Targets(ctx)
	if err != nil || len(ts) != 1 || ts[0].Redacted() != "https://hooks.slack.com/…" {
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
}
