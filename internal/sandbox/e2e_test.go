package sandbox

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/runtime"
	"github.com/spindlehq/spindle/internal/store"
)

// acmeSpec reads every Acme list the way its traits say. The base URL is a
// placeholder: runs point it at the sandbox (or elsewhere, to prove the
// egress guard).
const acmeSpec = `apiVersion: spindle/v1
kind: Integration
metadata:
  name: acme
  vendor: Acme
connection:
  base_url: https://api.acme.example/api/v1
  auth: {type: api_key, in: header, name: Authorization, prefix: "Token token=", credential: acme}
defaults:
  retry: {max_attempts: 4, initial_interval: 10ms, max_interval: 50ms}
streams:
  - name: users
    request: {path: /users}
    pagination: {type: link_header, size_param: per_page, page_size: 10}
    records: "."
    emits: human_user
    map: {external_id: r.id, name: r.name}
  - name: service_accounts
    request: {path: /service_accounts}
    pagination: {type: cursor, cursor_path: meta.next_cursor, cursor_param: cursor, size_param: limit, page_size: 7}
    records: data
    emits: service_account
    map:
      external_id: r.id
      name: r.name
      owner: 'has(r.owner_id) ? r.owner_id : null'
      last_used_at: 'has(r.last_used_at) ? r.last_used_at : null'
  - name: keys
    for_each: {stream: service_accounts, as: sa}
    request: {path: "/service_accounts/{sa.id}/keys"}
    pagination: {type: offset, limit_param: limit, offset_param: offset, page_size: 10, more_field: more}
    records: keys
    emits: api_key
    map:
      external_id: r.id
      name: r.label
      scopes: r.scopes
      expires_at: 'has(r.expires_at) ? r.expires_at : null'
  - name: webhooks
    request: {path: /webhooks}
    pagination: {type: page_number, page_param: page, size_param: per_page, page_size: 10, start_page: 1}
    records: webhooks
    emits: webhook
    map: {external_id: string(r.id), name: r.url}
  - name: tokens
    request: {path: /tokens}
    pagination: {type: next_url, next_url_path: "/@odata.nextLink", size_param: "$top", page_size: 6}
    records: value
    emits: access_token
    map: {external_id: r.id, name: r.displayName}
  - name: apps
    request: {path: /apps}
    pagination: {type: token, cursor_path: nextPageToken, cursor_param: pageToken, size_param: pageSize, page_size: 9}
    records: apps
    emits: oauth_app
    map: {external_id: r.name}
  - name: deploy_keys
    request: {path: /deploy_keys}
    pagination: {type: header, header: X-Next-Page, size_param: limit, page_size: 8}
    records: "."
    emits: deploy_key
    map: {external_id: string(r.id), name: r.fingerprint}
`

// collectSink keeps external ids per stream and each stream's result.
type collectSink struct {
	mu      sync.Mutex
	ids     map[string][]string
	results map[string]store.StreamResult
}

func newCollectSink() *collectSink {
	return &collectSink{ids: map[string][]string{}, results: map[string]store.StreamResult{}}
}

func (s *collectSink) Put(_ context.Context, stream string, rec *nhi.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[stream] = append(s.ids[stream], rec.ExternalID)
	return nil
}

func (s *collectSink) EndStream(_ context.Context, res store.StreamResult) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.results[res.Stream] = res
	return nil
}

type staticSecret string

func (s staticSecret) Resolve(context.Context, string) (runtime.Secret, error) {
	return runtime.NewSecret(string(s)), nil
}

func loadSpec(t *testing.T, yaml string) *integration.Spec {
	t.Helper()
	doc, err := integration.Load("acme.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("spec: %v", err)
	}
	return doc.Spec
}

// runAcme runs the spec against srv (through its egress guard) with base
// as the base URL.
func runAcme(t *testing.T, srv *Server, base string) (*collectSink, *runtime.Report) {
	t.Helper()
	spec := loadSpec(t, acmeSpec)
	var key string
	for _, c := range srv.Credentials() {
		if c.Scheme == "api_key" {
			key = c.Value
		}
	}
	r, err := runtime.New(t.Context(), spec, runtime.Options{BaseURL: base, Secrets: staticSecret(key), Transport: srv.Transport()})
	if err != nil {
		t.Fatalf("runtime.New: %v", err)
	}
	sink := newCollectSink()
	rep, err := r.Run(t.Context(), sink)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return sink, rep
}

// The bundled runtime, confined by the egress guard, reads exactly the
// seeded entities of every stream, fan-out included.
func TestEndToEndRuntimeReadsGroundTruth(t *testing.T) {
	sb := newSandbox(t, acmeSurface(), Options{Seed: 21, Entities: 33})
	srv, err := sb.Start(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sink, rep := runAcme(t, srv, srv.URL())
	tr := srv.Truth()
	for stream, path := range map[string]string{
		"users": "/users", "service_accounts": "/service_accounts", "keys": "/service_accounts/{id}/keys",
		"webhooks": "/webhooks", "tokens": "/tokens", "apps": "/apps", "deploy_keys": "/deploy_keys",
	} {
		res := sink.results[stream]
		if res.Outcome != store.Complete {
			t.Errorf("%s: outcome %s, errors %v", stream, res.Outcome, res.Errors)
		}
		ot, _ := tr.Operation("GET", path)
		want := ot.All()
		got := sink.ids[stream]
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: read %d ids, the sandbox seeded %d\n got %v\nwant %v", stream, len(got), len(want), got, want)
		}
	}
	if rep.Status != store.RunOK {
		t.Errorf("run status %s", rep.Status)
	}
	// The log shows every request authenticated, and no credential.
	for _, e := range srv.RequestLog() {
		if e.Status != 200 || e.Scheme != "api_key" {
			t.Errorf("logged %+v", e)
		}
	}
}

// A spec whose base URL points anywhere but the sandbox fails with the
// sandbox policy error, and nothing was connected to.
func TestEndToEndEgressRefused(t *testing.T) {
	sb := newSandbox(t, acmeSurface(), Options{})
	srv, err := sb.Start(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	other := newRecordingListener(t)
	for _, base := range []string{
		"http://" + other.addr().String() + "/api/v1",
		"http://localhost:" + itoa(int(other.addr().Port())) + "/api/v1",
	} {
		sink, rep := runAcme(t, srv, base)
		if rep.Status != store.RunFailed {
			t.Errorf("%s: run status %s, want failed", base, rep.Status)
		}
		for stream, res := range sink.results {
			if res.Outcome == store.Complete {
				t.Errorf("%s: stream %s complete", base, stream)
			}
			if stream != "keys" && !strings.Contains(strings.Join(res.Errors, " "), "policy "+RuleEgressSandbox) {
				t.Errorf("%s: stream %s errors %v, want the %s policy violation", base, stream, res.Errors, RuleEgressSandbox)
			}
			if res.Retries != 0 {
				t.Errorf("%s: stream %s retried a policy violation %d times", base, stream, res.Retries)
			}
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := other.accepts.Load(); n != 0 {
		t.Errorf("the other listener accepted %d connections", n)
	}
	if n := len(srv.RequestLog()); n != 0 {
		t.Errorf("the sandbox saw %d requests", n)
	}
	var pe *runtime.PolicyError
	req, _ := http.NewRequest("GET", "http://"+other.addr().String()+"/", nil)
	_, err = srv.Transport().RoundTrip(req)
	if !errors.As(err, &pe) {
		t.Errorf("transport error %v is not a PolicyError", err)
	}
}

// Faults make validation's point: 5xx bursts are survived by retries, a
// truncated body or a dropped mapped field fails loudly, never green.
func TestEndToEndFaults(t *testing.T) {
	for _, tc := range []struct {
		faults  string
		stream  string
		outcome store.Outcome
		errLike string
	}{
		{"5xx:2", "users", store.Complete, ""},
		{"truncate:3@/webhooks", "webhooks", store.Failed, "unexpected EOF"},
		{"drift:drop=name@/service_accounts", "service_accounts", store.Partial, "name"},
		{"drift:type=scopes@/service_accounts/{id}/keys", "keys", store.Partial, "scopes"},
	} {
		t.Run(tc.faults, func(t *testing.T) {
			fs, err := ParseFaults(tc.faults)
			if err != nil {
				t.Fatal(err)
			}
			sb := newSandbox(t, acmeSurface(), Options{Seed: 3, Faults: fs})
			srv, err := sb.Start(t.Context(), "")
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			sink, _ := runAcme(t, srv, srv.URL())
			res := sink.results[tc.stream]
			if res.Outcome != tc.outcome || !strings.Contains(strings.Join(res.Errors, " "), tc.errLike) {
				t.Errorf("%s: outcome %s errors %v, want %s mentioning %q", tc.stream, res.Outcome, res.Errors, tc.outcome, tc.errLike)
			}
			if tc.outcome == store.Complete && res.Retries == 0 {
				t.Errorf("%s: no retries under a 5xx burst", tc.stream)
			}
			faulted := 0
			for _, e := range srv.RequestLog() {
				if e.Fault != "" {
					faulted++
				}
			}
			if faulted == 0 {
				t.Error("no fault in the request log")
			}
		})
	}
}

// oauth2 client credentials end to end: the runtime fetches a token from
// the sandbox's token endpoint (the doc's token URL, followed to the
// sandbox by the base URL override) and reads the list with it.
func TestEndToEndOAuthClientCredentials(t *testing.T) {
	oauth := apisurface.SecurityScheme{Name: "oauth", Type: "oauth2", Flows: []apisurface.OAuthFlow{{
		Type: "clientCredentials", TokenURL: "https://api.acme.example/oauth/token",
		Scopes: []apisurface.Scope{{Name: "keys:read"}, {Name: "keys:write"}}}}}
	s := authSurface([]apisurface.Requirement{{Schemes: []apisurface.SchemeUse{{Scheme: "oauth", Scopes: []string{"keys:read"}}}}}, oauth)
	s.Operations[0].List.Paging = apisurface.Paging{Style: apisurface.PageOffset, LimitParam: "limit", OffsetParam: "offset"}
	sb := newSandbox(t, s, Options{Seed: 12})
	srv, err := sb.Start(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := srv.Credentials()[0]
	spec := loadSpec(t, `apiVersion: spindle/v1
kind: Integration
metadata: {name: acme-oauth}
connection:
  base_url: https://api.acme.example
  auth: {type: oauth2_client_credentials, client_id: `+c.ClientID+`, token_url: "https://api.acme.example/oauth/token", credential: acme, scopes: ["keys:read"]}
streams:
  - name: keys
    request: {path: /keys}
    pagination: {type: offset, limit_param: limit, offset_param: offset, page_size: 10}
    records: keys
    emits: api_key
    map: {external_id: r.id}
`)
	r, err := runtime.New(t.Context(), spec, runtime.Options{BaseURL: srv.URL(), Secrets: staticSecret(c.ClientSecret), Transport: srv.Transport()})
	if err != nil {
		t.Fatal(err)
	}
	sink := newCollectSink()
	if _, err := r.Run(t.Context(), sink); err != nil {
		t.Fatal(err)
	}
	ot, _ := srv.Truth().Operation("GET", "/keys")
	got := sink.ids["keys"]
	if res := sink.results["keys"]; res.Outcome != store.Complete || !slices.Equal(got, ot.IDs) {
		t.Errorf("outcome %s %v; read %v, want %v", res.Outcome, res.Errors, got, ot.IDs)
	}
	lg := srv.RequestLog()
	if lg[0].Operation != "POST /oauth/token" || lg[0].Scheme != "oauth" || !slices.Equal(lg[0].Scopes, []string{"keys:read"}) {
		t.Errorf("token request logged as %+v", lg[0])
	}
	for _, e := range lg[1:] {
		if e.Scheme != "oauth" || e.Status != 200 {
			t.Errorf("logged %+v", e)
		}
	}
}
