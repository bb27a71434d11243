package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/spindlehq/spindle/internal/names"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/nhi"
)

const testHost = "http://127.0.0.1:9"

func TestNewRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{{Entities: -1}, {Entities: MaxEntities + 1}} {
		if _, err := New(acmeSurface(), o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestOperationsAndRoles(t *testing.T) {
	sb := newSandbox(t, acmeSurface(), Options{})
	got := map[string]Operation{}
	for _, o := range sb.Operations() {
		got[o.Path] = o
	}
	for path, want := range map[string]Operation{
		"/users":                               {Role: RoleList, Kind: nhi.HumanUser, Paging: "link_header", IDField: "id"},
		"/users/{user_id}":                     {Role: RoleItem, List: "/users"},
		"/users/me":                            {Role: RoleObject},
		"/service_accounts/{id}/keys":          {Role: RoleList, Parent: "/service_accounts", RecordsPath: "keys", Paging: "offset"},
		"/service_accounts/{id}/keys/{key_id}": {Role: RoleItem, List: "/service_accounts/{id}/keys", Parent: "/service_accounts"},
		"/apps":                                {Role: RoleList, IDField: "name"},
		"/me":                                  {Role: RoleObject},
	} {
		o, ok := got[path]
		if !ok {
			t.Errorf("%s is not served", path)
			continue
		}
		if o.Role != want.Role || (want.Kind != "" && o.Kind != want.Kind) || o.List != want.List || o.Parent != want.Parent ||
			(want.Paging != "" && o.Paging != want.Paging) || (want.IDField != "" && o.IDField != want.IDField) ||
			(want.RecordsPath != "" && o.RecordsPath != want.RecordsPath) {
			t.Errorf("%s: got %+v, want %+v", path, o, want)
		}
		if !slices.Equal(o.Security, []string{"api_key"}) {
			t.Errorf("%s: security %v", path, o.Security)
		}
	}
	if _, ok := got["/webhooks/{id}"]; ok {
		t.Error("a DELETE-only path is listed as served")
	}
}

// /users/me must not be read as /users/{user_id} with id "me", whatever
// the doc's order; an unknown id 404s in the vendor's style.
func TestRoutingSpecificityAndItems(t *testing.T) {
	s := acmeSurface()
	// Put the parameterised template first: order must not matter.
	slices.Reverse(s.Operations)
	sb := newSandbox(t, s, Options{Seed: 5})
	c := cred(t, sb, "api_key")
	me := do(t, sb.Handler(), testHost+"/api/v1/users/me", c)
	if me.StatusCode != 200 {
		t.Fatalf("/users/me: %d", me.StatusCode)
	}
	users, _ := sb.Truth().Operation("GET", "/users")
	for _, id := range users.IDs {
		if m := decode(t, readAll(t, me)).(map[string]any); m["id"] == id {
			t.Errorf("/users/me served user %s: shadowed by /users/{user_id}", id)
		}
		break
	}
	// The item endpoint serves exactly the record the list serves.
	list := decode(t, readAll(t, do(t, sb.Handler(), testHost+"/api/v1/users?per_page=100", c))).([]any)
	for i, id := range users.IDs {
		resp := do(t, sb.Handler(), testHost+"/api/v1/users/"+id, c)
		b := readAll(t, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("GET /users/%s: %d %s", id, resp.StatusCode, b)
		}
		want, _ := json.Marshal(list[i])
		var got any
		_ = json.Unmarshal(b, &got)
		gotB, _ := json.Marshal(got)
		if !bytes.Equal(gotB, want) {
			t.Errorf("item %s differs from the list's record:\n item %s\n list %s", id, gotB, want)
		}
	}
	// An item inside an envelope ({"service_account": {...}}).
	sa, _ := sb.Truth().Operation("GET", "/service_accounts")
	item := decode(t, readAll(t, do(t, sb.Handler(), testHost+"/api/v1/service_accounts/"+sa.IDs[3], c))).(map[string]any)
	if rec, ok := item["service_account"].(map[string]any); !ok || rec["id"] != sa.IDs[3] {
		t.Errorf("service account item envelope: %v", item)
	}
	for _, target := range []string{"/users/nobody", "/service_accounts/nobody", "/service_accounts/nobody/keys", "/nothing/here"} {
		resp := do(t, sb.Handler(), testHost+"/api/v1"+target, c)
		b := readAll(t, resp)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", target, resp.StatusCode)
		}
		if errs := validate(errorStyle()["404"], decode(t, b)); len(errs) > 0 {
			t.Errorf("%s: 404 not in the vendor's error style: %v %s", target, errs, b)
		}
	}
	// Outside the base path nothing is served.
	if resp := do(t, sb.Handler(), testHost+"/users", c); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/users without the base path: %d", resp.StatusCode)
	}
}

// Child collections exist per parent and match the truth; unknown parents
// and items of another parent 404.
func TestParentChild(t *testing.T) {
	sb := newSandbox(t, acmeSurface(), Options{Seed: 11})
	c := cred(t, sb, "api_key")
	tr := sb.Truth()
	parents, _ := tr.Operation("GET", "/service_accounts")
	keys, _ := tr.Operation("GET", "/service_accounts/{id}/keys")
	if keys.Parent != "/service_accounts" || len(keys.IDs) != 0 {
		t.Fatalf("keys truth: parent %q, top-level ids %v", keys.Parent, keys.IDs)
	}
	if len(keys.Children) != len(parents.IDs) {
		t.Fatalf("keys truth has %d parents, want %d", len(keys.Children), len(parents.IDs))
	}
	op := findOp(t, acmeSurface(), "/service_accounts/{id}/keys")
	w := walker{t: t, h: sb.Handler(), cred: c, host: testHost}
	empty, full := 0, 0
	for _, pid := range parents.IDs {
		res := w.walk("/api/v1/service_accounts/"+pid+"/keys", op.List.Paging, "keys", 0)
		got := ids(t, res.records, "id")
		if !slices.Equal(got, keys.Children[pid]) {
			t.Errorf("keys of %s: got %v, want %v", pid, got, keys.Children[pid])
		}
		if len(got) == 0 {
			empty++
		}
		if len(got) > DefaultPageSize {
			full++
		}
	}
	if empty == 0 || full == 0 {
		t.Errorf("want some parents with no children and some with several pages; got %d empty, %d multi-page", empty, full)
	}
	// Items under the right parent only.
	var p1, p2 string
	for _, pid := range parents.IDs {
		if len(keys.Children[pid]) > 0 {
			if p1 == "" {
				p1 = pid
			} else if p2 == "" {
				p2 = pid
			}
		}
	}
	k := keys.Children[p1][0]
	if resp := do(t, sb.Handler(), testHost+"/api/v1/service_accounts/"+p1+"/keys/"+k, c); resp.StatusCode != 200 {
		t.Errorf("key %s of %s: %d", k, p1, resp.StatusCode)
	}
	if resp := do(t, sb.Handler(), testHost+"/api/v1/service_accounts/"+p2+"/keys/"+k, c); resp.StatusCode != 404 {
		t.Errorf("key %s under the wrong parent %s: %d, want 404", k, p2, resp.StatusCode)
	}
	// Key ids keep the shape of the doc's example (KEY7F3A9Q).
	if len(k) != len("KEY7F3A9Q") || k[0] != 'K' {
		t.Errorf("key id %q does not keep the example's shape", k)
	}
}

// Same seed and surface: byte-identical responses, whatever the request
// order; another seed: different data.
func TestDeterminism(t *testing.T) {
	targets := []string{"/users", "/users?per_page=3&page=2", "/service_accounts?limit=5", "/webhooks?page=2",
		"/tokens", "/apps", "/deploy_keys", "/audit", "/me", "/users/me"}
	bodies := func(seed int64, reverse bool) map[string]string {
		sb := newSandbox(t, acmeSurface(), Options{Seed: seed})
		c := cred(t, sb, "api_key")
		tr := sb.Truth()
		sa, _ := tr.Operation("GET", "/service_accounts")
		ts := append(slices.Clone(targets), "/service_accounts/"+sa.IDs[1], "/service_accounts/"+sa.IDs[2]+"/keys")
		if reverse {
			slices.Reverse(ts)
		}
		out := map[string]string{}
		for _, tg := range ts {
			resp := do(t, sb.Handler(), testHost+"/api/v1"+tg, c)
			b := readAll(t, resp)
			out[tg] = fmt.Sprint(resp.StatusCode, resp.Header.Get("Link"), resp.Header.Get("X-Next-Page"), string(b))
		}
		tb, _ := json.Marshal(tr)
		out["truth"] = string(tb)
		out["creds"] = fmt.Sprint(sb.Credentials())
		return out
	}
	a, b := bodies(42, false), bodies(42, true)
	if len(a) != len(b) {
		t.Fatalf("different targets")
	}
	for k := range a {
		if a[k] != b[k] {
			t.Errorf("%s differs between two sandboxes with the same seed:\n%s\n%s", k, a[k], b[k])
		}
	}
	other := bodies(43, false)
	if other["/users"] == a["/users"] || other["creds"] == a["creds"] {
		t.Error("seed 43 serves the same data as seed 42")
	}
	zero1, zero2 := bodies(0, false), bodies(0, false)
	if zero1["/users"] != zero2["/users"] {
		t.Error("seed 0 is not deterministic")
	}
}

// Every generated body conforms to the schema it was generated from:
// list envelopes and records, items, objects, across seeds.
func TestSchemaConformance(t *testing.T) {
	s := acmeSurface()
	for seed := int64(0); seed < 5; seed++ {
		sb := newSandbox(t, s, Options{Seed: seed, Entities: 30})
		c := cred(t, sb, "api_key")
		w := walker{t: t, h: sb.Handler(), cred: c, host: testHost}
		tr := sb.Truth()
		for _, l := range sb.lists {
			op := l.route.op
			paths := []string{op.Path}
			if l.parent() != nil {
				paths = nil
				ot, _ := tr.Operation("GET", op.Path)
				for pid := range ot.Children {
					paths = append(paths, strings.Replace(op.Path, "{id}", pid, 1))
				}
				slices.Sort(paths)
				paths = paths[:3]
			}
			for _, p := range paths {
				res := w.walk("/api/v1"+p, l.paging, l.recordsRaw, 0)
				for i, body := range res.bodies {
					if errs := validate(op.Response, decode(t, body)); len(errs) > 0 {
						t.Errorf("seed %d %s page %d does not conform: %v\n%s", seed, p, i+1, errs, body)
					}
				}
				for i, r := range res.records {
					if errs := validate(l.records, r); len(errs) > 0 {
						t.Errorf("seed %d %s record %d: %v", seed, p, i, errs)
					}
				}
			}
		}
		for _, rt := range sb.routes {
			if rt.role != RoleObject || strings.Contains(rt.op.Path, "{") {
				continue
			}
			b := readAll(t, do(t, sb.Handler(), testHost+"/api/v1"+rt.op.Path, c))
			if errs := validate(rt.op.Response, decode(t, b)); len(errs) > 0 {
				t.Errorf("seed %d %s: %v\n%s", seed, rt.op.Path, errs, b)
			}
		}
	}
}

// The checker itself catches what it should, so conformance is not
// vacuous.
func TestValidateCatchesViolations(t *testing.T) {
	rec := obj([]string{"id", "n"}, "id", strf("uuid"), "n", &apisurface.Schema{Type: "integer", Maximum: f64(3)},
		"e", enum("a", "b"), "when", strf("date-time"), "tags", &apisurface.Schema{Type: "array", Items: str(), MaxItems: intPtr(1)},
		"p", &apisurface.Schema{Type: "string", Pattern: "^x[0-9]+$"}, "m", &apisurface.Schema{Type: "object", AdditionalProperties: integer()})
	for name, v := range map[string]string{
		"missing required": `{"id":"8c6f4f0e-2f1c-4d3b-9a1e-2b7c5d9e0f11"}`,
		"bad uuid":         `{"id":"nope","n":1}`,
		"over maximum":     `{"id":"8c6f4f0e-2f1c-4d3b-9a1e-2b7c5d9e0f11","n":4}`,
		"not integer":      `{"id":"8c6f4f0e-2f1c-4d3b-9a1e-2b7c5d9e0f11","n":1.5}`,
		"enum":             `{"id":"8c6f4f0e-2f1c-4d3b-9a1e-2b7c5d9e0f11","n":1,"e":"c"}`,
		"date-time":        `{"id":"8c6f4f0e-2f1c-4d3b-9a1e-2b7c5d9e0f11","n":1,"when":"yesterday"}`,
		"max items":        `{"id":"8c6f4f0e-2f1c-4d3b-9a1e-2b7c5d9e0f11","n":1,"tags":["a","b"]}`,
		"pattern":          `{"id":"8c6f4f0e-2f1c-4d3b-9a1e-2b7c5d9e0f11","n":1,"p":"y1"}`,
		"additional":       `{"id":"8c6f4f0e-2f1c-4d3b-9a1e-2b7c5d9e0f11","n":1,"m":{"k":"v"}}`,
		"null":             `{"id":null,"n":1}`,
		"type":             `{"id":"8c6f4f0e-2f1c-4d3b-9a1e-2b7c5d9e0f11","n":"1"}`,
	} {
		var x any
		_ = json.Unmarshal([]byte(v), &x)
		if errs := validate(rec, x); len(errs) == 0 {
			t.Errorf("%s: %s passed", name, v)
		}
	}
	var ok any
	_ = json.Unmarshal([]byte(`{"id":"8c6f4f0e-2f1c-4d3b-9a1e-2b7c5d9e0f11","n":3,"e":"a","when":"2025-01-01T00:00:00Z","tags":["a"],"p":"x12","m":{"k":1}}`), &ok)
	if errs := validate(rec, ok); len(errs) > 0 {
		t.Errorf("a valid record fails: %v", errs)
	}
}

// NHI realism: created ≤ last used ≤ now; some expired, some never used,
// some never expiring; owners are users the sandbox serves; scopes come
// from the doc; status agrees with expiry where the enum allows.
func TestNHIRealism(t *testing.T) {
	sb := newSandbox(t, acmeSurface(), Options{Seed: 9, Entities: 40})
	c := cred(t, sb, "api_key")
	w := walker{t: t, h: sb.Handler(), cred: c, host: testHost}
	tr := sb.Truth()
	users, _ := tr.Operation("GET", "/users")
	now := sb.now
	ts := func(v any) time.Time {
		tm, err := time.Parse(time.RFC3339, v.(string))
		if err != nil {
			t.Fatalf("timestamp %v: %v", v, err)
		}
		return tm
	}
	readList := func(path string) []map[string]any {
		l := sb.lists[slices.IndexFunc(sb.lists, func(l *list) bool { return l.route.op.Path == path })]
		var out []map[string]any
		var paths []string
		if l.parent() == nil {
			paths = []string{path}
		} else {
			ot, _ := tr.Operation("GET", path)
			for pid := range ot.Children {
				paths = append(paths, strings.Replace(path, "{id}", pid, 1))
			}
		}
		for _, p := range paths {
			for _, r := range w.walk("/api/v1"+p, l.paging, l.recordsRaw, 0).records {
				out = append(out, r.(map[string]any))
			}
		}
		return out
	}

	keys := readList("/service_accounts/{id}/keys")
	var expired, neverExpires, future, neverUsed int
	for _, k := range keys {
		created := ts(k["created_at"])
		if created.After(now) {
			t.Errorf("key %v created after now", k["id"])
		}
		if lu, ok := k["last_used_at"]; ok {
			if l := ts(lu); l.Before(created) || l.After(now) {
				t.Errorf("key %v: last used %v outside [created %v, now]", k["id"], l, created)
			}
		} else {
			neverUsed++ // optional, not nullable: absent
		}
		switch e := k["expires_at"]; {
		case e == nil:
			neverExpires++
		case ts(e).Before(now):
			expired++
			if lu, ok := k["last_used_at"]; ok && ts(lu).After(ts(e)) {
				t.Errorf("key %v used after it expired", k["id"])
			}
		default:
			future++
		}
		for _, s := range k["scopes"].([]any) {
			if !slices.Contains([]string{"read", "write"}, s.(string)) {
				t.Errorf("key scope %v is not from the vocabulary", s)
			}
		}
	}
	if expired == 0 || neverExpires == 0 || future == 0 || neverUsed == 0 {
		t.Errorf("keys: %d expired, %d never expire, %d expire later, %d never used; want some of each", expired, neverExpires, future, neverUsed)
	}

	sas := readList("/service_accounts")
	var orphans, owned, nullUsed int
	for _, sa := range sas {
		switch o := sa["owner_id"]; {
		case o == nil:
			orphans++
		case slices.Contains(users.IDs, o.(string)):
			owned++
		default:
			t.Errorf("service account %v: owner %v is not a user the sandbox serves", sa["id"], o)
		}
		if sa["last_used_at"] == nil {
			nullUsed++ // nullable: null
		} else if ts(sa["last_used_at"]).Before(ts(sa["created_at"])) {
			t.Errorf("service account %v used before it was created", sa["id"])
		}
		for _, s := range sa["scopes"].([]any) {
			if !slices.Contains([]string{"read:users", "write:users", "admin"}, s.(string)) {
				t.Errorf("scope %v not from the enum", s)
			}
		}
	}
	if owned == 0 || orphans == 0 || nullUsed == 0 {
		t.Errorf("service accounts: %d owned, %d orphaned, %d never used", owned, orphans, nullUsed)
	}
	for _, h := range readList("/webhooks") {
		if cb, ok := h["created_by"]; ok && !slices.Contains(users.IDs, cb.(string)) {
			t.Errorf("webhook created_by %v is not a user", cb)
		}
		if u := h["url"].(string); !strings.Contains(u, ".example/") {
			t.Errorf("webhook url %s is not on a reserved domain", u)
		}
	}
	for _, u := range readList("/users") {
		if e := u["email"].(string); !strings.HasSuffix(e, ".example") {
			t.Errorf("user email %s is not on a reserved domain", e)
		}
	}
}

// Ground truth and the request log are copies; nothing over HTTP changes
// the sandbox, and there is nothing to administer.
func TestTruthAndLogAreReadOnly(t *testing.T) {
	sb := newSandbox(t, acmeSurface(), Options{Seed: 2})
	c := cred(t, sb, "api_key")
	before, _ := json.Marshal(sb.Truth())
	tr := sb.Truth()
	tr.Operations[0].IDs[0] = "tampered"
	for k := range tr.Operations[slices.IndexFunc(tr.Operations, func(o OperationTruth) bool { return o.Parent != "" })].Children {
		delete(tr.Operations[slices.IndexFunc(tr.Operations, func(o OperationTruth) bool { return o.Parent != "" })].Children, k)
	}
	tr.Operations = nil
	_ = do(t, sb.Handler(), testHost+"/api/v1/users", c)
	lg := sb.RequestLog()
	lg[0].Status = 999
	lg[0].Scopes = append(lg[0].Scopes, "admin")
	if sb.RequestLog()[0].Status == 999 || len(sb.RequestLog()[0].Scopes) != 0 {
		t.Error("the request log was changed through a returned copy")
	}
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		for _, p := range []string{"/api/v1/users", "/api/v1/webhooks/1", "/admin", "/api/v1/_truth", "/truth", "/reset"} {
			r := httptest.NewRequest(m, testHost+p, strings.NewReader(`{"ids":[]}`))
			c.Apply(r)
			rec := httptest.NewRecorder()
			sb.Handler().ServeHTTP(rec, r)
			if rec.Code < 400 {
				t.Errorf("%s %s answered %d", m, p, rec.Code)
			}
		}
	}
	after, _ := json.Marshal(sb.Truth())
	if !bytes.Equal(before, after) {
		t.Error("ground truth changed")
	}
	var buf bytes.Buffer
	if err := sb.WriteTruth(&buf); err != nil {
		t.Fatal(err)
	}
	var streamed Truth
	if err := json.Unmarshal(buf.Bytes(), &streamed); err != nil {
		t.Fatalf("WriteTruth is not a Truth: %v\n%s", err, buf.String())
	}
	sb2, _ := json.Marshal(streamed)
	if !bytes.Equal(sb2, before) {
		t.Errorf("WriteTruth differs from Truth:\n%s\n%s", sb2, before)
	}
}

func TestRequestLog(t *testing.T) {
	s := acmeSurface()
	s.SecuritySchemes = []apisurface.SecurityScheme{{Name: "key", Type: "apiKey", In: "query", ParamName: "api_key"}}
	s.Security = []apisurface.Requirement{{Schemes: []apisurface.SchemeUse{{Scheme: "key"}}}}
	sb := newSandbox(t, s, Options{Seed: 4})
	c := cred(t, sb, "key")
	resp := do(t, sb.Handler(), testHost+"/api/v1/users?per_page=5", c)
	if resp.StatusCode != 200 {
		t.Fatalf("%d", resp.StatusCode)
	}
	// The next link must not echo the key.
	if strings.Contains(resp.Header.Get("Link"), c.Value) {
		t.Errorf("the Link header echoes the api key: %s", resp.Header.Get("Link"))
	}
	wrong := *c
	wrong.Value = "sbx_wrong_but_close_" + c.Value[4:10]
	_ = do(t, sb.Handler(), testHost+"/api/v1/users", &wrong)
	_ = do(t, sb.Handler(), testHost+"/api/v1/users", nil)
	lg := sb.RequestLog()
	if len(lg) != 3 {
		t.Fatalf("%d log entries, want 3", len(lg))
	}
	want := []struct {
		status int
		scheme string
	}{{200, "key"}, {403, ""}, {401, ""}}
	for i, e := range lg {
		if e.Status != want[i].status || e.Scheme != want[i].scheme || e.Operation != "GET /users" || e.Method != "GET" || e.Path != "/api/v1/users" {
			t.Errorf("entry %d: %+v", i, e)
		}
	}
	if lg[0].Query != "api_key=REDACTED&per_page=5" {
		t.Errorf("logged query %q", lg[0].Query)
	}
	b, _ := json.Marshal(lg)
	if strings.Contains(string(b), c.Value) || strings.Contains(string(b), wrong.Value) {
		t.Errorf("the log holds a credential: %s", b)
	}
}

func TestRequiredQueryParameter(t *testing.T) {
	s := acmeSurface()
	for i := range s.Operations {
		if s.Operations[i].Path == "/audit" {
			s.Operations[i].Parameters = []apisurface.Parameter{{Name: "since", In: "query", Required: true}}
		}
	}
	sb := newSandbox(t, s, Options{})
	c := cred(t, sb, "api_key")
	if resp := do(t, sb.Handler(), testHost+"/api/v1/audit", c); resp.StatusCode != 400 {
		t.Errorf("missing required query parameter: %d", resp.StatusCode)
	}
	if resp := do(t, sb.Handler(), testHost+"/api/v1/audit?since=2025-01-01", c); resp.StatusCode != 200 {
		t.Errorf("with the parameter: %d", resp.StatusCode)
	}
}

// A document with hundreds of list operations costs memory only for what
// is requested: building the sandbox generates nothing.
func TestLargeSurfaceIsLazy(t *testing.T) {
	s := &apisurface.Surface{}
	rec := obj([]string{"id"}, "id", str(), "name", str(), "created_at", strf("date-time"))
	for i := 0; i < 800; i++ {
		p := fmt.Sprintf("/r%d", i)
		s.Operations = append(s.Operations,
			listOp(p, obj(nil, "items", arrayOf(rec)), "items", rec, nhi.APIKey, apisurface.Paging{Style: apisurface.PageNone}),
			listOp(p+"/{id}/children", arrayOf(rec), "", rec, nhi.Secret, apisurface.Paging{Style: apisurface.PageNone}))
	}
	sb := newSandbox(t, s, Options{Entities: MaxEntities})
	if n := len(sb.idCache); n != 0 {
		t.Errorf("New generated %d id lists", n)
	}
	resp := do(t, sb.Handler(), testHost+"/r5/"+sb.ids(sb.lists[slices.IndexFunc(sb.lists, func(l *list) bool { return l.route.op.Path == "/r5" })], "")[0].s+"/children", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("child list: %d", resp.StatusCode)
	}
	if n := len(sb.idCache); n > 3 {
		t.Errorf("one request cached %d id lists", n)
	}
}

// Field meanings: the name decides the kind of value, never a vendor.
func TestFieldMeanings(t *testing.T) {
	for _, tc := range []struct {
		name  string
		owner bool
		time  bool
	}{
		{"owner_id", true, false}, {"ownerId", true, false}, {"created_by", true, false}, {"lastModifiedBy", true, false},
		{"creator_user_id", true, false}, {"owner_type", false, false}, {"owner_name", false, false},
		{"user_agent", false, false}, {"username", false, false},
		{"created_at", false, true}, {"lastUsedAt", false, true}, {"expires_at", false, true}, {"expires_in", false, false},
		{"updated", false, true},
	} {
		sn := names.Snake(tc.name)
		if got := isOwnerRef(sn); got != tc.owner {
			t.Errorf("isOwnerRef(%s) = %v", tc.name, got)
		}
		if got := timeKindOf(sn, str(), "string") != tkNone; got != tc.time {
			t.Errorf("%s is a timestamp: %v", tc.name, got)
		}
	}
	for in, want := range map[string]string{"lastUsedAt": "last_used_at", "HTTPSEndpoint": "https_endpoint",
		"last-used-at": "last_used_at", "id": "id", "@odata.nextLink": "odata_next_link", "userID": "user_id"} {
		if got := names.Snake(in); got != want {
			t.Errorf("names.Snake(%q) = %q, want %q", in, got, want)
		}
	}
}

// Changing the surface after New changes nothing the sandbox serves.
func TestSurfaceIsCopied(t *testing.T) {
	s := acmeSurface()
	sb := newSandbox(t, s, Options{Seed: 6})
	c := cred(t, sb, "api_key")
	before := readAll(t, do(t, sb.Handler(), testHost+"/api/v1/service_accounts", c))
	truth, _ := json.Marshal(sb.Truth())
	for i := range s.Operations {
		op := &s.Operations[i]
		op.Security = []apisurface.Requirement{}
		if op.List != nil {
			op.List.Paging.Style = apisurface.PageNone
			op.List.Records.Properties = nil
			op.List.RecordsPath = "x"
		}
	}
	s.SecuritySchemes[0].Prefix = ""
	after := readAll(t, do(t, sb.Handler(), testHost+"/api/v1/service_accounts", c))
	truth2, _ := json.Marshal(sb.Truth())
	if !bytes.Equal(before, after) || !bytes.Equal(truth, truth2) {
		t.Error("mutating the surface after New changed the sandbox")
	}
	if resp := do(t, sb.Handler(), testHost+"/api/v1/service_accounts", nil); resp.StatusCode != 401 {
		t.Errorf("auth dropped: %d", resp.StatusCode)
	}
}
