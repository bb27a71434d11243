package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/nhi"
)

func serve(t *testing.T, o Options) (*Vendor, *httptest.Server) {
	t.Helper()
	v, err := NewHandler(o)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	srv := httptest.NewServer(v)
	t.Cleanup(srv.Close)
	return v, srv
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// get fetches rawURL with the Authorization header auth ("" sends none).
func get(t *testing.T, rawURL, auth string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func loadSpec(t *testing.T) integration.Spec {
	t.Helper()
	var s integration.Spec
	// Strict: a field name the spec types do not know fails the test.
	if err := yaml.UnmarshalWithOptions(Spec(), &s, yaml.Strict()); err != nil {
		t.Fatalf("embedded spec does not decode strictly into integration.Spec:\n%v", err)
	}
	return s
}

func streamOf(t *testing.T, s integration.Spec, name string) integration.Stream {
	t.Helper()
	for _, st := range s.Streams {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("spec has no stream %q", name)
	return integration.Stream{}
}

func TestAuth(t *testing.T) {
	v, srv := serve(t, Options{Seed: 1})
	wrong := "Token token=acme_demo_0123456789abcdef-wrong"
	tests := []struct {
		name, path, auth string
		status           int
		code             string
	}{
		{"missing", "/users", "", 401, "unauthorized"},
		{"other scheme", "/users", "Bearer " + v.Token(), 401, "unauthorized"},
		{"wrong token", "/users", wrong, 403, "forbidden"},
		{"token with extra", "/users", "Token token=" + v.Token() + "x", 403, "forbidden"},
		// Authentication comes before routing: an outsider learns no paths.
		{"unknown path unauthenticated", "/nope", "", 401, "unauthorized"},
		{"unknown path", "/nope", "Token token=" + v.Token(), 404, "not_found"},
		{"unknown account keys", "/service_accounts/sa_missing/keys", "Token token=" + v.Token(), 404, "not_found"},
		{"good", "/users", "Token token=" + v.Token(), 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, srv.URL+BasePath+tc.path, tc.auth)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			if tc.code == "" {
				return
			}
			var e apiError
			dec := json.NewDecoder(bytes.NewReader(r.body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil {
				t.Fatalf("error body %s: %v", r.body, err)
			}
			if e.Error.Code != tc.code || e.Error.Message == "" {
				t.Errorf("error %+v, want code %q and a message", e.Error, tc.code)
			}
			if _, presented, ok := strings.Cut(tc.auth, "="); ok && bytes.Contains(r.body, []byte(presented)) {
				t.Errorf("error body echoes the presented credential: %s", r.body)
			}
			if bytes.Contains(r.body, []byte(v.Token())) {
				t.Errorf("error body contains the real token: %s", r.body)
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	v, srv := serve(t, Options{})
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+BasePath+"/users", nil)
	req.Header.Set("Authorization", "Token token="+v.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET" {
		t.Fatalf("DELETE: status %d Allow %q, want 405 GET", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// walker pages through one list the way the spec's pagination block says,
// so these tests also prove the spec and the vendor agree on parameter
// names, body paths and stop conditions.
type walker struct {
	t     *testing.T
	base  string // server URL + BasePath
	auth  string
	pages int
}

// walk returns every record of stream at path with the given page size
// (0: send no size, so the vendor default applies).
func (w *walker) walk(st integration.Stream, path string, size int) []map[string]any {
	t := w.t
	t.Helper()
	p := st.Pagination
	u, err := url.Parse(w.base + path)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	sizeParam := p.SizeParam
	if p.Type == integration.PageOffset {
		sizeParam = p.LimitParam
	}
	if size > 0 {
		q.Set(sizeParam, strconv.Itoa(size))
	}
	page, offset := 1, 0
	if p.StartPage != nil {
		page = *p.StartPage
	}
	var all []map[string]any
	for range 1000 { // a loop guard: the vendor must end every walk
		switch p.Type {
		case integration.PagePageNumber:
			q.Set(p.PageParam, strconv.Itoa(page))
		case integration.PageOffset:
			q.Set(p.OffsetParam, strconv.Itoa(offset))
		}
		u.RawQuery = q.Encode()
		r := get(t, u.String(), w.auth)
		w.pages++
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", u, r.status, r.body)
		}
		var body any
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		list, ok := lookup(body, st.Records).([]any)
		if !ok {
			t.Fatalf("GET %s: records %q is not a list in %s", u, st.Records, r.body)
		}
		for _, rec := range list {
			all = append(all, rec.(map[string]any))
		}
		switch p.Type {
		case integration.PageLinkHeader:
			next := nextLink(r.header.Get("Link"))
			if next == "" {
				return all
			}
			if u, err = url.Parse(next); err != nil {
				t.Fatalf("Link next %q: %v", next, err)
			}
			q = u.Query()
		case integration.PageCursor:
			c, _ := lookup(body, p.CursorPath).(string)
			if c == "" {
				return all
			}
			q.Set(p.CursorParam, c)
		case integration.PageOffset:
			more, ok := lookup(body, p.MoreField).(bool)
			if !ok {
				t.Fatalf("GET %s: %q is not a boolean", u, p.MoreField)
			}
			if !more || len(list) == 0 {
				return all
			}
			offset += len(list)
		case integration.PagePageNumber:
			want := size
			if want == 0 {
				want = 20 // the vendor's default page size
			}
			if len(list) < want {
				return all
			}
			page++
		default:
			t.Fatalf("walker does not know paging type %q", p.Type)
		}
	}
	t.Fatalf("walk of %s did not end", path)
	return nil
}

// lookup reads a dot path ("." or "" is the body itself).
func lookup(v any, path string) any {
	if path == "" || path == "." {
		return v
	}
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// nextLink returns the rel="next" target of an RFC 8288 Link header.
func nextLink(h string) string {
	for _, part := range strings.Split(h, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if ok && strings.Contains(params, `rel="next"`) {
			return strings.Trim(strings.TrimSpace(target), "<>")
		}
	}
	return ""
}

func ids(t *testing.T, recs []map[string]any) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	for _, r := range recs {
		id, _ := r["id"].(string)
		if id == "" {
			t.Fatalf("record without id: %v", r)
		}
		if seen[id] {
			t.Fatalf("duplicate record %s", id)
		}
		seen[id] = true
		out = append(out, id)
	}
	return out
}

// walkAll walks every stream of the spec, fanning the keys out over the
// service accounts, and returns the records by stream.
func walkAll(t *testing.T, v *Vendor, srv *httptest.Server, size int) (map[string][]map[string]any, int) {
	t.Helper()
	spec := loadSpec(t)
	w := &walker{t: t, base: srv.URL + BasePath, auth: spec.Connection.Auth.Prefix + v.Token()}
	got := map[string][]map[string]any{}
	for _, st := range spec.Streams {
		if st.ForEach == nil {
			got[st.Name] = w.walk(st, st.Request.Path, size)
			continue
		}
		for _, parent := range got[st.ForEach.Stream] {
			path := strings.ReplaceAll(st.Request.Path, "{"+st.ForEach.As+".id}", parent["id"].(string))
			got[st.Name] = append(got[st.Name], w.walk(st, path, size)...)
		}
	}
	return got, w.pages
}

func TestPagingWalksExactlyCounts(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		size int
	}{
		{"defaults, vendor page sizes", Options{}, 0},
		{"defaults, spec page sizes", Options{}, -1},
		{"page size 1", Options{Seed: 2, Users: 9, ServiceAccounts: 5, KeysPerAccount: 4, Webhooks: 6}, 1},
		{"page size 7", Options{Seed: 3, Users: 50, ServiceAccounts: 21, KeysPerAccount: 7, Webhooks: 14}, 7},
		{"exact multiple of page size", Options{Seed: 4, Users: 200, ServiceAccounts: 100, KeysPerAccount: 100, Webhooks: 100}, 100},
		{"one past a full page", Options{Seed: 5, Users: 201, ServiceAccounts: 101, KeysPerAccount: 101, Webhooks: 101}, 100},
		// No case asks for more than the vendor's maximum (100): the vendor
		// clamps, so a short-page stop would end page_number paging after
		// one page. TestClampedPageSize covers the clamp itself.
		{"single records", Options{Seed: 6, Users: 1, ServiceAccounts: 1, KeysPerAccount: 1, Webhooks: 1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, srv := serve(t, tc.o)
			if tc.size == -1 { // each stream's own spec page size
				spec := loadSpec(t)
				w := &walker{t: t, base: srv.URL + BasePath, auth: "Token token=" + v.Token()}
				for _, name := range []string{StreamUsers, StreamServiceAccounts, StreamWebhooks} {
					st := streamOf(t, spec, name)
					if n := len(ids(t, w.walk(st, st.Request.Path, st.Pagination.PageSize))); n != v.Counts()[name] {
						t.Errorf("%s: walked %d records, Counts says %d", name, n, v.Counts()[name])
					}
				}
				return
			}
			got, pages := walkAll(t, v, srv, tc.size)
			want := v.Counts()
			if len(want) != len(Streams()) {
				t.Fatalf("Counts %v, want a count for each of %v", want, Streams())
			}
			for _, name := range Streams() {
				if n := len(ids(t, got[name])); n != want[name] {
					t.Errorf("%s: walked %d records, Counts says %d", name, n, want[name])
				}
			}
			if tc.size == 1 && pages <= len(Streams()) {
				t.Errorf("page size 1 took only %d requests; paging did not happen", pages)
			}
		})
	}
}

func TestClampedPageSize(t *testing.T) {
	v, srv := serve(t, Options{Users: 150})
	r := get(t, srv.URL+BasePath+"/users?per_page=500", "Token token="+v.Token())
	var users []map[string]any
	if err := json.Unmarshal(r.body, &users); err != nil {
		t.Fatal(err)
	}
	if len(users) != 100 {
		t.Errorf("per_page=500 gave %d users, want the maximum 100", len(users))
	}
}

func TestBadParameters(t *testing.T) {
	v, srv := serve(t, Options{})
	for _, path := range []string{"/users?page=0", "/users?per_page=x", "/service_accounts?cursor=bogus",
		"/service_accounts?limit=-1", "/webhooks?page=-2", "/service_accounts/" + v.accounts[0].ID + "/keys?offset=-1"} {
		r := get(t, srv.URL+BasePath+path, "Token token="+v.Token())
		if r.status != 400 || !bytes.Contains(r.body, []byte(`"code":"invalid_`)) {
			t.Errorf("%s: %d %s, want 400 invalid_*", path, r.status, r.body)
		}
	}
}

func TestDeterministic(t *testing.T) {
	fetchAll := func(o Options) (string, []byte) {
		v, srv := serve(t, o)
		var all []byte
		for _, p := range []string{"/users?per_page=100&page=2", "/service_accounts?limit=100",
			"/service_accounts/" + v.accounts[len(v.accounts)-1].ID + "/keys", "/webhooks?page_size=100"} {
			r := get(t, srv.URL+BasePath+p, "Token token="+v.Token())
			// The Link header carries the random test server port; the body does not.
			all = append(all, r.body...)
		}
		return v.Token(), all
	}
	tok1, a := fetchAll(Options{Seed: 42})
	tok2, b := fetchAll(Options{Seed: 42})
	if tok1 != tok2 || !bytes.Equal(a, b) {
		t.Fatal("the same seed produced different data or tokens")
	}
	tok3, c := fetchAll(Options{Seed: 43})
	if tok3 == tok1 || bytes.Equal(a, c) {
		t.Fatal("a different seed produced the same data or token")
	}
	// A chosen token changes nothing else.
	tok4, d := fetchAll(Options{Seed: 42, Token: "chosen-token"})
	if tok4 != "chosen-token" || !bytes.Equal(a, d) {
		t.Fatal("choosing a token changed the data")
	}
}

func TestInvariants(t *testing.T) {
	for _, seed := range []int64{0, 1, 7, 1 << 40} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			v, err := NewHandler(Options{Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			now := v.Now()
			users := map[string]user{}
			for _, u := range v.users {
				users[u.ID] = u
				if !u.CreatedAt.Before(now) {
					t.Errorf("user %s created %s, not before now", u.ID, u.CreatedAt)
				}
			}
			// usedOK: created < last_used <= now (when used).
			usedOK := func(what string, created time.Time, used *time.Time) {
				if !created.Before(now) {
					t.Errorf("%s created %s, not before now %s", what, created, now)
				}
				if used != nil && (!created.Before(*used) || used.After(now)) {
					t.Errorf("%s: want created %s < last_used %s <= now %s", what, created, used, now)
				}
			}
			for _, sa := range v.accounts {
				creator, ok := users[sa.CreatedBy]
				if !ok {
					t.Errorf("%s: created_by %s is not a user", sa.ID, sa.CreatedBy)
				} else if sa.CreatedAt.Before(creator.CreatedAt) {
					t.Errorf("%s created before its creator existed", sa.ID)
				}
				if _, ok := users[deref(sa.OwnerID)]; sa.OwnerID != nil && !ok {
					t.Errorf("%s: owner_id %s is not a user", sa.ID, *sa.OwnerID)
				}
				if sa.Status != "active" && sa.Status != "disabled" {
					t.Errorf("%s: status %q", sa.ID, sa.Status)
				}
				usedOK(sa.ID, sa.CreatedAt, sa.LastUsedAt)
				var lastKeyUse *time.Time
				for _, k := range v.keys[sa.ID] {
					usedOK(k.ID, k.CreatedAt, k.LastUsedAt)
					if k.CreatedAt.Before(sa.CreatedAt) {
						t.Errorf("key %s created before its account", k.ID)
					}
					if k.ExpiresAt != nil && !k.ExpiresAt.After(k.CreatedAt) {
						t.Errorf("key %s expires before it was created", k.ID)
					}
					if k.ExpiresAt != nil && k.LastUsedAt != nil && k.LastUsedAt.After(*k.ExpiresAt) {
						t.Errorf("key %s used after it expired", k.ID)
					}
					if len(k.Prefix) != 6 || len(k.Scopes) == 0 {
						t.Errorf("key %s: prefix %q scopes %v", k.ID, k.Prefix, k.Scopes)
					}
					for _, s := range k.Scopes {
						if !slices.Contains(KeyScopes(), s) {
							t.Errorf("key %s: scope %q not in the enum", k.ID, s)
						}
					}
					if k.LastUsedAt != nil && (lastKeyUse == nil || k.LastUsedAt.After(*lastKeyUse)) {
						lastKeyUse = k.LastUsedAt
					}
				}
				if !equalTime(sa.LastUsedAt, lastKeyUse) {
					t.Errorf("%s: last_used_at %v, but its latest key use is %v", sa.ID, sa.LastUsedAt, lastKeyUse)
				}
			}
			for _, h := range v.webhooks {
				if _, ok := users[h.CreatedBy]; !ok {
					t.Errorf("webhook %s: created_by %s is not a user", h.ID, h.CreatedBy)
				}
				usedOK(h.ID, h.CreatedAt, nil)
				if !strings.HasPrefix(h.URL, "https://hooks.example.net/") || len(h.Events) == 0 {
					t.Errorf("webhook %s: url %q events %v", h.ID, h.URL, h.Events)
				}
			}
		})
	}
}

// TestShowsTheFindings: the default tenant holds each situation the demo
// exists to show, so `spindle example run` always has something to report.
func TestShowsTheFindings(t *testing.T) {
	v, err := NewHandler(Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := v.Now()
	found := map[string]bool{}
	for _, u := range v.users {
		found["disabled user"] = found["disabled user"] || u.Disabled
	}
	for _, sa := range v.accounts {
		found["orphaned account"] = found["orphaned account"] || sa.OwnerID == nil
		found["never-used account"] = found["never-used account"] || sa.LastUsedAt == nil
		found["disabled account"] = found["disabled account"] || sa.Status == "disabled"
		found["stale account"] = found["stale account"] || sa.LastUsedAt != nil && now.Sub(*sa.LastUsedAt) > 90*day
		for _, k := range v.keys[sa.ID] {
			found["expired key"] = found["expired key"] || k.ExpiresAt != nil && k.ExpiresAt.Before(now)
			found["never-expiring key"] = found["never-expiring key"] || k.ExpiresAt == nil
			found["never-used key"] = found["never-used key"] || k.LastUsedAt == nil
			found["admin key"] = found["admin key"] || slices.Contains(k.Scopes, "admin:org")
		}
	}
	for _, h := range v.webhooks {
		found["inactive webhook"] = found["inactive webhook"] || !h.Active
	}
	for _, want := range []string{"disabled user", "orphaned account", "never-used account", "disabled account",
		"stale account", "expired key", "never-expiring key", "never-used key", "admin key", "inactive webhook"} {
		if !found[want] {
			t.Errorf("the default tenant has no %s", want)
		}
	}
}

// TestWireFormat: nullable fields are present as null (not missing, not
// ""), and timestamps are RFC 3339 in UTC, none but expiry in the future.
func TestWireFormat(t *testing.T) {
	v, srv := serve(t, Options{Seed: 9})
	got, _ := walkAll(t, v, srv, 100)
	nullable := map[string][]string{
		StreamServiceAccounts:    {"owner_id", "last_used_at"},
		StreamServiceAccountKeys: {"last_used_at", "expires_at"},
	}
	for stream, recs := range got {
		for _, r := range recs {
			for _, f := range nullable[stream] {
				if val, ok := r[f]; !ok || val == "" {
					t.Fatalf("%s %v: %s is missing or empty, want a value or null", stream, r["id"], f)
				}
			}
			for k, val := range r {
				if !strings.HasSuffix(k, "_at") || val == nil {
					continue
				}
				s, _ := val.(string)
				ts, err := time.Parse(time.RFC3339, s)
				if err != nil || !strings.HasSuffix(s, "Z") {
					t.Errorf("%s %v: %s = %v, want an RFC 3339 UTC time", stream, r["id"], k, val)
				}
				// Only expiry may lie in the future.
				if k != "expires_at" && ts.After(v.Now()) {
					t.Errorf("%s %v: %s = %v is after now %s", stream, r["id"], k, val, v.Now())
				}
			}
		}
	}
}

func TestFailStream(t *testing.T) {
	for _, name := range Streams() {
		for _, status := range []int{0, 403, 429, 503} {
			t.Run(fmt.Sprintf("%s/%d", name, status), func(t *testing.T) {
				v, srv := serve(t, Options{Seed: 1, FailStream: name, FailStatus: status})
				want := status
				if want == 0 {
					want = 500
				}
				paths := map[string]string{
					StreamUsers:              "/users",
					StreamServiceAccounts:    "/service_accounts",
					StreamServiceAccountKeys: "/service_accounts/" + v.accounts[0].ID + "/keys",
					StreamWebhooks:           "/webhooks",
				}
				for stream, path := range paths {
					r := get(t, srv.URL+BasePath+path, "Token token="+v.Token())
					switch {
					case stream == name && r.status != want:
						t.Errorf("%s: status %d, want the injected %d", stream, r.status, want)
					case stream == name && !bytes.Contains(r.body, []byte(`"error":{"code":`)):
						t.Errorf("%s: fault body %s is not a JSON error", stream, r.body)
					case stream != name && r.status != 200:
						t.Errorf("%s: status %d, want 200 (only %s fails)", stream, r.status, name)
					}
				}
				// Authentication still comes first.
				if r := get(t, srv.URL+BasePath+paths[name], ""); r.status != 401 {
					t.Errorf("unauthenticated request to the failing stream: %d, want 401", r.status)
				}
			})
		}
	}
}

func TestOptionErrors(t *testing.T) {
	for _, o := range []Options{
		{Users: -1},
		{KeysPerAccount: -3},
		{FailStream: "groups"},
		{FailStatus: 500},
		{FailStream: "users", FailStatus: 200},
		{Token: "has space"},
	} {
		if _, err := NewHandler(o); err == nil {
			t.Errorf("NewHandler(%+v) succeeded, want an error", o)
		}
	}
}

// TestSpec checks the embedded spec against the spec types and the
// canonical model. Deeper checks (JSON Schema, CEL compilation, policy
// lint) belong to the integration package, which loads this spec too.
func TestSpec(t *testing.T) {
	s := loadSpec(t)
	if s.APIVersion != integration.APIVersion || s.Kind != "Integration" || s.Metadata.Name != "acme-cloud" {
		t.Errorf("header: %s %s %s", s.APIVersion, s.Kind, s.Metadata.Name)
	}
	if s.Metadata.ReviewEvery.Std() != 90*day {
		t.Errorf("review_every %v, want 90d", s.Metadata.ReviewEvery)
	}
	if a := s.Connection.Auth; a.Type != integration.AuthAPIKey || a.Name != "Authorization" || a.Prefix != authPrefix || a.Credential != "acme-cloud" {
		t.Errorf("auth %+v does not match the vendor's Authorization: %s<token>", a, authPrefix)
	}
	if !strings.HasSuffix(s.Connection.BaseURL, BasePath) {
		t.Errorf("base_url %s does not end in %s", s.Connection.BaseURL, BasePath)
	}
	if r := s.Defaults.Retry; r == nil || r.MaxAttempts != 4 || r.InitialInterval.Std() != 100*time.Millisecond {
		t.Errorf("defaults.retry %+v", r)
	}
	var names []string
	for _, st := range s.Streams {
		names = append(names, st.Name)
		if !nhi.Kind(st.Emits).Valid() {
			t.Errorf("%s: emits %q is not a canonical kind", st.Name, st.Emits)
		}
		if st.Request.MethodOrGet() != http.MethodGet {
			t.Errorf("%s: method %s; the example only reads", st.Name, st.Request.Method)
		}
		if st.Pagination == nil || !slices.Contains(integration.PaginationTypes, st.Pagination.Type) {
			t.Errorf("%s: pagination %+v", st.Name, st.Pagination)
		}
		if _, ok := st.Map["external_id"]; !ok {
			t.Errorf("%s: no external_id mapping", st.Name)
		}
		for field, expr := range st.Map {
			if !slices.Contains(integration.MapFields, field) {
				t.Errorf("%s: map field %q is not one of %v", st.Name, field, integration.MapFields)
			}
			if strings.TrimSpace(expr) == "" {
				t.Errorf("%s: map %s is empty", st.Name, field)
			}
		}
		for _, rel := range st.Relationships {
			if !nhi.RelType(rel.Type).Valid() || !nhi.Kind(rel.Kind).Valid() || rel.ExternalID == "" {
				t.Errorf("%s: relationship %+v", st.Name, rel)
			}
		}
		if f := st.ForEach; f != nil {
			if !slices.Contains(names[:len(names)-1], f.Stream) {
				t.Errorf("%s: for_each over %q, which is not an earlier stream", st.Name, f.Stream)
			}
			if !strings.Contains(st.Request.Path, "{"+f.As+".") {
				t.Errorf("%s: path %s does not use the alias %s", st.Name, st.Request.Path, f.As)
			}
		}
	}
	if !slices.Equal(names, Streams()) {
		t.Errorf("spec streams %v, want %v (Counts keys)", names, Streams())
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
