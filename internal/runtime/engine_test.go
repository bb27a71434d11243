package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/store"
)

// memSink collects what a run hands to its sink.
type memSink struct {
	mu      sync.Mutex
	recs    map[string][]*nhi.Record
	results map[string]store.StreamResult
}

func newMemSink() *memSink {
	return &memSink{recs: map[string][]*nhi.Record{}, results: map[string]store.StreamResult{}}
}

func (m *memSink) Put(_ context.Context, stream string, rec *nhi.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs[stream] = append(m.recs[stream], rec)
	return nil
}

func (m *memSink) EndStream(_ context.Context, res store.StreamResult) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.results[res.Stream] = res
	return nil
}

// item is the vendor record every test server serves.
func item(i int) map[string]any {
	return map[string]any{"id": fmt.Sprintf("k%04d", i), "name": fmt.Sprintf("key %d", i),
		"created": "2025-01-02T03:04:05Z", "scopes": []string{"read"}}
}

func page(lo, hi, total int) []any {
	var out []any
	for i := lo; i < hi && i < total; i++ {
		out = append(out, item(i))
	}
	if out == nil {
		out = []any{}
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// pagingServer serves `total` items in every paging style the runtime
// knows, each on its own path, checking that the client asks the way the
// style says.
func pagingServer(t *testing.T, total int) *httptest.Server {
	t.Helper()
	atoi := func(s string, def int) int {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
		return def
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/link", func(w http.ResponseWriter, r *http.Request) {
		size, pg := atoi(r.URL.Query().Get("per_page"), 10), atoi(r.URL.Query().Get("page"), 1)
		if (pg)*size < total {
			w.Header().Set("Link", fmt.Sprintf(`<%s/link?per_page=%d&page=%d>; rel="next", <http://x/last>; rel="last"`, "http://"+r.Host, size, pg+1))
		}
		writeJSON(w, page((pg-1)*size, pg*size, total))
	})
	mux.HandleFunc("/nexturl", func(w http.ResponseWriter, r *http.Request) {
		off := atoi(r.URL.Query().Get("from"), 0)
		var next any
		if off+7 < total {
			next = fmt.Sprintf("/nexturl?from=%d", off+7) // relative URL
		}
		writeJSON(w, map[string]any{"value": page(off, off+7, total), "@odata.nextLink": next})
	})
	mux.HandleFunc("/cursor", func(w http.ResponseWriter, r *http.Request) {
		off := atoi(strings.TrimPrefix(r.URL.Query().Get("after"), "c"), 0)
		size := atoi(r.URL.Query().Get("limit"), 5)
		next := ""
		if off+size < total {
			next = fmt.Sprintf("c%d", off+size)
		}
		writeJSON(w, map[string]any{"data": page(off, off+size, total), "meta": map[string]any{"next_cursor": next}})
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		off := atoi(r.URL.Query().Get("pageToken"), 0)
		body := map[string]any{"items": page(off, off+6, total)}
		if off+6 < total {
			body["nextPageToken"] = strconv.Itoa(off + 6)
		}
		writeJSON(w, body)
	})
	mux.HandleFunc("/pages", func(w http.ResponseWriter, r *http.Request) {
		pg, size := atoi(r.URL.Query().Get("page"), 1), atoi(r.URL.Query().Get("page_size"), 10)
		writeJSON(w, map[string]any{"results": page((pg-1)*size, pg*size, total)})
	})
	mux.HandleFunc("/offset", func(w http.ResponseWriter, r *http.Request) {
		off, lim := atoi(r.URL.Query().Get("offset"), 0), atoi(r.URL.Query().Get("limit"), 10)
		writeJSON(w, map[string]any{"things": page(off, off+lim, total), "more": off+lim < total, "total": total})
	})
	mux.HandleFunc("/header", func(w http.ResponseWriter, r *http.Request) {
		pg := atoi(r.URL.Query().Get("page"), 1)
		if pg*8 < total {
			w.Header().Set("X-Next-Page", strconv.Itoa(pg+1))
		}
		writeJSON(w, page((pg-1)*8, pg*8, total))
	})
	mux.HandleFunc("/none", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"ok": true, "list": page(0, total, total)})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

const specHead = `apiVersion: spindle/v1
kind: Integration
metadata: {name: test}
connection:
  base_url: https://api.example.com
  auth: {type: none}
defaults:
  retry: {max_attempts: 3, initial_interval: 1ms, max_interval: 5ms}
streams:
`

func mustSpec(t *testing.T, streams string) *integration.Spec {
	t.Helper()
	doc, err := integration.Load("test.yaml", []byte(specHead+streams))
	if err != nil {
		t.Fatalf("spec: %v", err)
	}
	return doc.Spec
}

func run(t *testing.T, spec *integration.Spec, base string, opts Options) (*memSink, *Report) {
	t.Helper()
	opts.BaseURL = base
	r, err := New(context.Background(), spec, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	sink := newMemSink()
	rep, err := r.Run(context.Background(), sink)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return sink, rep
}

const keyMap = `    emits: api_key
    map: {external_id: r.id, name: r.name, created_at: r.created, scopes: r.scopes}
`

func TestPagingStyles(t *testing.T) {
	const total = 23
	srv := pagingServer(t, total)
	cases := []struct {
		name, stream string
		pages        int
	}{
		{"link_header", "  - name: s\n    request: {path: /link}\n    pagination: {type: link_header, size_param: per_page, page_size: 10}\n", 3},
		{"next_url", "  - name: s\n    request: {path: /nexturl}\n    records: value\n    pagination: {type: next_url, next_url_path: \"/@odata.nextLink\"}\n", 4},
		{"cursor", "  - name: s\n    request: {path: /cursor}\n    records: data\n    pagination: {type: cursor, cursor_path: meta.next_cursor, cursor_param: after, size_param: limit, page_size: 5}\n", 5},
		{"token", "  - name: s\n    request: {path: /token}\n    records: items\n    pagination: {type: token, cursor_path: nextPageToken, cursor_param: pageToken}\n", 4},
		{"page_number", "  - name: s\n    request: {path: /pages}\n    records: results\n    pagination: {type: page_number, page_param: page, size_param: page_size, page_size: 10}\n", 3},
		{"offset", "  - name: s\n    request: {path: /offset}\n    records: things\n    pagination: {type: offset, limit_param: limit, offset_param: offset, page_size: 10, more_field: more}\n", 3},
		{"offset_total", "  - name: s\n    request: {path: /offset}\n    records: things\n    pagination: {type: offset, limit_param: limit, offset_param: offset, page_size: 10, total_field: total}\n", 3},
		{"header", "  - name: s\n    request: {path: /header}\n    pagination: {type: header, header: X-Next-Page, cursor_param: page}\n", 3},
		{"none", "  - name: s\n    request: {path: /none}\n    records: list\n", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink, rep := run(t, mustSpec(t, tc.stream+keyMap), srv.URL, Options{})
			res := sink.results["s"]
			if res.Outcome != store.Complete || rep.Status != "ok" {
				t.Fatalf("outcome %s, errors %v", res.Outcome, res.Errors)
			}
			got := sink.recs["s"]
			if len(got) != total || res.Records != total {
				t.Fatalf("got %d records (reported %d), want %d", len(got), res.Records, total)
			}
			seen := map[string]bool{}
			for _, r := range got {
				if seen[r.ExternalID] {
					t.Fatalf("duplicate record %s", r.ExternalID)
				}
				seen[r.ExternalID] = true
			}
			if res.Pages != tc.pages {
				t.Errorf("pages = %d, want %d", res.Pages, tc.pages)
			}
		})
	}
}

func TestMappingToCanonical(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, []any{
			map[string]any{"id": 9007199254740993, "label": "ci deploy", "state": "ACTIVE", "created": "2024-01-01T00:00:00+02:00",
				"lastUsed": 1735689600, "expires": nil, "scope": "repo:read repo:write", "owner": map[string]any{"id": "u1"},
				"extra": map[string]any{"region": "eu", "client_secret": "abc123", "note": "AKIAIOSFODNN7EXAMPLE"}},
		})
	}))
	defer srv.Close()
	spec := mustSpec(t, `  - name: keys
    request: {path: /keys}
    emits: api_key
    map:
      external_id: r.id
      name: r.label
      status: "r.state == 'ACTIVE' ? 'active' : 'disabled'"
      created_at: r.created
      last_used_at: r.lastUsed
      expires_at: r.expires
      scopes: r.scope
      owner: r.owner.id
      privilege: "r.scope.contains('write') ? 'write' : 'read'"
      attributes: r.extra
    relationships:
      - {type: CAN_ACCESS, kind: resource, external_id: "['repo-1', 'repo-2']", privilege: "'read'"}
`)
	sink, _ := run(t, spec, srv.URL, Options{})
	recs := sink.recs["keys"]
	if len(recs) != 1 {
		t.Fatalf("got %d records: %v", len(recs), sink.results)
	}
	r := recs[0]
	if r.ExternalID != "9007199254740993" {
		t.Errorf("external_id = %q: large integer ids must stay exact", r.ExternalID)
	}
	if r.ID != nhi.StableID("test", nhi.APIKey, "9007199254740993") {
		t.Errorf("id %s is not the stable id", r.ID)
	}
	if r.Status == nil || *r.Status != nhi.Active || r.Privilege == nil || *r.Privilege != nhi.Write {
		t.Errorf("status/privilege = %v/%v", r.Status, r.Privilege)
	}
	if r.CreatedAt == nil || r.CreatedAt.Format("2006-01-02T15:04:05Z07:00") != "2023-12-31T22:00:00Z" {
		t.Errorf("created_at = %v, want UTC 2023-12-31T22:00:00Z", r.CreatedAt)
	}
	if r.LastUsedAt == nil || r.LastUsedAt.Unix() != 1735689600 {
		t.Errorf("last_used_at = %v", r.LastUsedAt)
	}
	if r.ExpiresAt != nil {
		t.Errorf("expires_at = %v, want null", r.ExpiresAt)
	}
	if strings.Join(r.Scopes, ",") != "repo:read,repo:write" {
		t.Errorf("scopes = %v", r.Scopes)
	}
	if r.Owner == nil || r.Owner.ExternalID != "u1" || r.Owner.Kind != nhi.HumanUser {
		t.Errorf("owner = %+v", r.Owner)
	}
	if r.Attributes["client_secret"] != Redacted || r.Attributes["note"] != Redacted || r.Attributes["region"] != "eu" {
		t.Errorf("attributes not Redacted: %v", r.Attributes)
	}
	var types []string
	for _, rel := range r.Relationships {
		types = append(types, string(rel.Type)+":"+rel.Target.ExternalID)
	}
	if strings.Join(types, " ") != "OWNED_BY:u1 CAN_ACCESS:repo-1 CAN_ACCESS:repo-2" {
		t.Errorf("relationships = %v", types)
	}
	if r.Name == nil || *r.Name != "ci deploy" {
		t.Errorf("name = %v", r.Name)
	}
}

func TestMappingErrorsAreReportedNotDropped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, []any{
			map[string]any{"id": "a", "created": "2024-01-01T00:00:00Z"},
			map[string]any{"id": "b", "created": "last tuesday"},
			map[string]any{"created": "2024-01-01T00:00:00Z"},
			map[string]any{"id": "", "created": "2024-01-01T00:00:00Z"},
		})
	}))
	defer srv.Close()
	spec := mustSpec(t, "  - name: keys\n    request: {path: /keys}\n    emits: api_key\n    map: {external_id: \"has(r.id) ? r.id : null\", created_at: r.created}\n")
	sink, rep := run(t, spec, srv.URL, Options{})
	res := sink.results["keys"]
	if len(sink.recs["keys"]) != 1 {
		t.Errorf("want the one good record kept, got %d", len(sink.recs["keys"]))
	}
	if res.Outcome != store.Partial || rep.Status != "partial" {
		t.Errorf("outcome = %s / %s, want partial: a stream with unmapped records must not count as complete", res.Outcome, rep.Status)
	}
	joined := strings.Join(res.Errors, "\n")
	for _, want := range []string{"stream keys, page 1, record 1: field created_at", "\"last tuesday\" is not a timestamp",
		"record 2: field external_id", "record 3: field external_id"} {
		if !strings.Contains(joined, want) {
			t.Errorf("errors lack %q:\n%s", want, joined)
		}
	}
}

func TestCELRuntimeErrorNamesRecord(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"d": []any{map[string]any{"id": "a", "n": 1}, map[string]any{"id": "b", "n": "x"}}})
	}))
	defer srv.Close()
	spec := mustSpec(t, "  - name: s\n    request: {path: /s}\n    records: d\n    emits: bot\n    map: {external_id: r.id, name: \"string(r.n + 1)\"}\n")
	sink, _ := run(t, spec, srv.URL, Options{})
	errs := strings.Join(sink.results["s"].Errors, "\n")
	if !strings.Contains(errs, "page 1, record 1: field name") || !strings.Contains(errs, "no such overload") {
		t.Errorf("errors = %s", errs)
	}
}

func TestFailuresAreLoud(t *testing.T) {
	var hits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/forbidden", func(w http.ResponseWriter, r *http.Request) { http.Error(w, `{"error":"forbidden"}`, 403) })
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) { hits.Add(1); http.Error(w, "oops", 500) })
	mux.HandleFunc("/garbage", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"items": [1, 2`)) })
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"items": ["`))
		w.Write([]byte(strings.Repeat("x", 4<<10)))
		w.Write([]byte(`"]}`))
	})
	mux.HandleFunc("/renamed", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, map[string]any{"entries": []any{}}) })
	mux.HandleFunc("/slackish", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"items": []any{item(1)}, "next": "same"})
	})
	mux.HandleFunc("/endless", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("c"))
		writeJSON(w, map[string]any{"items": []any{item(n)}, "next": strconv.Itoa(n + 1)})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	stream := func(path, extra string) string {
		return fmt.Sprintf("  - name: s\n    request: {path: %s}\n    records: items\n%s", path, extra) + keyMap
	}
	cases := []struct {
		name    string
		stream  string
		outcome store.Outcome
		stop    string
		msg     string
	}{
		{"403 is denied", stream("/forbidden", ""), store.Denied, "", "403 Forbidden"},
		{"500 after retries fails", stream("/broken", ""), store.Failed, "", "500 Internal Server Error"},
		{"malformed JSON", stream("/garbage", ""), store.Failed, "", "not valid JSON"},
		{"huge body", stream("/huge", ""), store.Failed, "", "exceeds"},
		{"envelope changed", stream("/renamed", ""), store.Failed, "", `records path "items" is not in the response (its keys: entries)`},
		{"error in 200 body", stream("/slackish", "    error_when: \"has(body.ok) && body.ok == false\"\n    error_message: body.error\n"), store.Failed, "", "invalid_auth"},
		{"repeated cursor", stream("/loop", "    pagination: {type: cursor, cursor_path: next, cursor_param: c}\n"), store.Partial, StopRepeatedCursor, "same next page"},
		{"endless paging", stream("/endless", "    pagination: {type: cursor, cursor_path: next, cursor_param: c, max_pages: 7}\n"), store.Partial, StopMaxPages, "stopped after 7 pages"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := mustSpec(t, tc.stream)
			spec.Defaults.MaxResponseBytes = 2048
			sink, rep := run(t, spec, srv.URL, Options{})
			res := sink.results["s"]
			if res.Outcome != tc.outcome {
				t.Fatalf("outcome = %s, want %s (errors %v)", res.Outcome, tc.outcome, res.Errors)
			}
			if res.StopReason != tc.stop {
				t.Errorf("stop reason = %q, want %q", res.StopReason, tc.stop)
			}
			if !strings.Contains(strings.Join(res.Errors, "\n"), tc.msg) {
				t.Errorf("errors %q lack %q", res.Errors, tc.msg)
			}
			if rep.Status == "ok" {
				t.Errorf("run status ok for a failing stream")
			}
		})
	}
	if hits.Load() != 3 {
		t.Errorf("500 endpoint hit %d times, want 3 (max_attempts)", hits.Load())
	}
}

func TestRetryAfterAndBurstRecover(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "0")
			http.Error(w, "slow down", 429)
		case 2, 3:
			http.Error(w, "unavailable", 503)
		default:
			writeJSON(w, map[string]any{"items": page(0, 3, 3)})
		}
	}))
	defer srv.Close()
	spec := mustSpec(t, "  - name: s\n    request: {path: /s}\n    records: items\n"+keyMap)
	spec.Defaults.Retry.MaxAttempts = 5
	sink, _ := run(t, spec, srv.URL, Options{})
	res := sink.results["s"]
	if res.Outcome != store.Complete || res.Records != 3 || res.Retries != 3 {
		t.Fatalf("outcome %s records %d retries %d errors %v; want complete, 3, 3", res.Outcome, res.Records, res.Retries, res.Errors)
	}
}

func TestForEachFanOut(t *testing.T) {
	var inflight, peak atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/services", func(w http.ResponseWriter, r *http.Request) {
		var svcs []any
		for i := 0; i < 12; i++ {
			svcs = append(svcs, map[string]any{"id": fmt.Sprintf("S %d/x", i)}) // needs path escaping
		}
		writeJSON(w, map[string]any{"services": svcs})
	})
	mux.HandleFunc("/services/{id}/integrations", func(w http.ResponseWriter, r *http.Request) {
		cur := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond) // hold the slot so overlap is observable
		id := r.PathValue("id")
		if id == "S 3/x" {
			http.Error(w, "gone", 404)
			return
		}
		writeJSON(w, map[string]any{"integrations": []any{map[string]any{"id": id + "-i1"}, map[string]any{"id": id + "-i2"}}})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	spec := mustSpec(t, `  - name: services
    request: {path: /services}
    records: services
  - name: integrations
    for_each: {stream: services, as: svc, concurrency: 3}
    request: {path: "/services/{svc.id}/integrations"}
    records: integrations
    emits: webhook
    map: {external_id: r.id, name: "svc.id + ' integration'"}
    relationships:
      - {type: INSTALLED_ON, kind: resource, external_id: svc.id}
`)
	sink, _ := run(t, spec, srv.URL, Options{})
	if got := len(sink.recs["integrations"]); got != 22 {
		t.Fatalf("got %d child records, want 22 (11 services × 2): %v", got, sink.results["integrations"].Errors)
	}
	if p := peak.Load(); p > 3 || p < 2 {
		t.Errorf("peak concurrency %d, want 2..3", p)
	}
	res := sink.results["integrations"]
	if res.Outcome != store.Partial {
		t.Errorf("one child 404 must make the child stream partial, got %s", res.Outcome)
	}
	if sink.results["services"].Outcome != store.Complete || len(sink.recs["services"]) != 0 {
		t.Errorf("parent without emits: outcome %s, %d records", sink.results["services"].Outcome, len(sink.recs["services"]))
	}
	r := sink.recs["integrations"][0]
	if len(r.Relationships) != 1 || !strings.HasPrefix(r.Relationships[0].Target.ExternalID, "S ") {
		t.Errorf("relationship from parent alias missing: %+v", r.Relationships)
	}
}

func TestConfigInputs(t *testing.T) {
	spec := mustSpec(t, "  - name: s\n    request: {path: /s}\n"+keyMap)
	spec.Connection.Config = map[string]integration.ConfigVar{"org": {Required: true}}
	if _, err := New(context.Background(), spec, Options{BaseURL: "http://127.0.0.1:1"}); err == nil || !strings.Contains(err.Error(), "--config org=VALUE") {
		t.Errorf("missing required config: %v", err)
	}
	if _, err := New(context.Background(), spec, Options{BaseURL: "http://127.0.0.1:1", Config: map[string]string{"org": "a", "typo": "b"}}); err == nil || !strings.Contains(err.Error(), `"typo" is not declared`) {
		t.Errorf("undeclared config: %v", err)
	}
}

func TestContextCancelStopsRun(t *testing.T) {
	srv := pagingServer(t, 1000)
	spec := mustSpec(t, "  - name: s\n    request: {path: /cursor}\n    records: data\n    pagination: {type: cursor, cursor_path: meta.next_cursor, cursor_param: after, size_param: limit, page_size: 1}\n"+keyMap)
	ctx, cancel := context.WithCancel(context.Background())
	r, err := New(ctx, spec, Options{BaseURL: srv.URL, Progress: func(p Progress) {
		if p.Pages == 5 {
			cancel()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(ctx, newMemSink()); err == nil {
		t.Fatal("a cancelled run must return an error, not a report")
	}
}

func TestCELCostLimitStopsRunawayExpression(t *testing.T) {
	big := make([]any, 1000)
	for i := range big {
		big[i] = i
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, []any{map[string]any{"id": "a", "l": big}})
	}))
	defer srv.Close()
	spec := mustSpec(t, "  - name: s\n    request: {path: /s}\n    emits: bot\n    map: {external_id: r.id, name: \"string(r.l.map(x, r.l.map(y, x * y)).size())\"}\n")
	sink, _ := run(t, spec, srv.URL, Options{})
	errs := strings.Join(sink.results["s"].Errors, "\n")
	if len(sink.recs["s"]) != 0 || !strings.Contains(errs, "field name") || !strings.Contains(errs, "cost limit") {
		t.Fatalf("a million-step expression must be stopped and reported; records %d, errors %s", len(sink.recs["s"]), errs)
	}
}

func TestConfigCannotMoveTheHost(t *testing.T) {
	spec := mustSpec(t, "  - name: s\n    request: {path: /s}\n"+keyMap)
	spec.Connection.BaseURL = "https://{config.tenant}.example.com/api"
	spec.Connection.Config = map[string]integration.ConfigVar{"tenant": {Required: true}}
	for _, v := range []string{"evil.example/#", "a@evil.example", "x:1", "a/b", "a?b"} {
		_, err := New(context.Background(), spec, Options{Config: map[string]string{"tenant": v}})
		if err == nil || !strings.Contains(err.Error(), "may hold only") {
			t.Errorf("tenant %q: err = %v, want a refusal", v, err)
		}
	}
	if _, err := New(context.Background(), spec, Options{Config: map[string]string{"tenant": "acme-1.eu"}}); err != nil {
		t.Errorf("a plain tenant name was refused: %v", err)
	}
}

// With --base-url, an absolute token_url on the spec's host follows the
// override: the client secret never goes to the production token host.
func TestTokenURLFollowsBaseURLOverride(t *testing.T) {
	var tokenCalls atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		tokenCalls.Add(1)
		writeJSON(w, map[string]any{"access_token": "tok-abcdef", "token_type": "bearer", "expires_in": 3600})
	})
	mux.HandleFunc("/api/s", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-abcdef" {
			http.Error(w, "no", 401)
			return
		}
		writeJSON(w, page(0, 2, 2))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	spec := mustSpec(t, "  - name: s\n    request: {path: /s}\n"+keyMap)
	spec.Connection.BaseURL = "https://api.example.com/api"
	spec.Connection.Auth = integration.Auth{Type: integration.AuthOAuth2ClientCredentials, Credential: "c",
		ClientID: "client-1", TokenURL: "https://api.example.com/oauth2/token"}
	sink, _ := run(t, spec, srv.URL+"/api", Options{Secrets: EnvResolver{Default: "X", Lookup: func(string) (string, bool) { return "client-secret-value", true }}})
	if res := sink.results["s"]; res.Outcome != store.Complete || tokenCalls.Load() != 1 {
		t.Fatalf("outcome %s, token calls %d, errors %v", res.Outcome, tokenCalls.Load(), res.Errors)
	}
}
