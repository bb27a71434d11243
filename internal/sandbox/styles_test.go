package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/spindlehq/spindle/internal/apisurface"
)

// The example docs in examples/docs, one per API style: each is loaded
// and inferred as the agent would, served by a sandbox on loopback, and
// every list read with a plain net/http client that pages exactly as the
// inferred traits say, the way an integration would. Every seeded id
// must come back exactly once.

const styleDocsDir = "../../examples/docs"

func styleDocNames(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(styleDocsDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example docs in %s: %v", styleDocsDir, err)
	}
	for i, f := range files {
		files[i] = filepath.Base(f)
	}
	return files
}

func loadStyleDoc(t *testing.T, name string) *apisurface.Surface {
	t.Helper()
	s, err := apisurface.Load(t.Context(), filepath.Join(styleDocsDir, name), apisurface.Options{})
	if err != nil {
		t.Fatalf("Load(%s): %v", name, err)
	}
	return s
}

// startStyle serves doc on loopback.
func startStyle(t *testing.T, name string, o Options) (*apisurface.Surface, *Server) {
	t.Helper()
	s := loadStyleDoc(t, name)
	srv, err := newSandbox(t, s, o).Start(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return s, srv
}

// styleClient is an integration's view of a sandbox: its credentials,
// its base URL, nothing of the sandbox's insides.
type styleClient struct {
	t      *testing.T
	srv    *Server
	s      *apisurface.Surface
	http   *http.Client
	creds  map[string]Credential
	mu     sync.Mutex
	tokens map[string]string // oauth2 scheme + scopes → access token
}

func newStyleClient(t *testing.T, s *apisurface.Surface, srv *Server) *styleClient {
	c := &styleClient{t: t, srv: srv, s: s, http: &http.Client{Transport: srv.Transport()},
		creds: map[string]Credential{}, tokens: map[string]string{}}
	for _, cr := range srv.Credentials() {
		c.creds[cr.Scheme] = cr
	}
	return c
}

// authorize sets the credentials of the first alternative of the
// operation's security; oauth2 schemes get a token with exactly the
// scopes the operation needs from the sandbox's token endpoint.
func (c *styleClient) authorize(r *http.Request, op *apisurface.Operation) {
	c.t.Helper()
	reqs := op.Security
	if reqs == nil {
		reqs = c.s.Security
	}
	if len(reqs) == 0 {
		return
	}
	for _, use := range reqs[0].Schemes {
		cr, ok := c.creds[use.Scheme]
		if !ok {
			c.t.Fatalf("no credential for scheme %q", use.Scheme)
		}
		if cr.Type == "oauth2" && cr.TokenURL != "" {
			r.Header.Set("Authorization", "Bearer "+c.token(cr, use.Scopes))
			continue
		}
		cr.Apply(r)
	}
}

func (c *styleClient) token(cr Credential, scopes []string) string {
	c.t.Helper()
	key := cr.Scheme + " " + strings.Join(scopes, " ")
	c.mu.Lock()
	defer c.mu.Unlock()
	if tok, ok := c.tokens[key]; ok {
		return tok
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	req, _ := http.NewRequest(http.MethodPost, cr.TokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(cr.ClientID), url.QueryEscape(cr.ClientSecret))
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("token: %v", err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != 200 || tr.AccessToken == "" {
		c.t.Fatalf("token: status %d, %v", resp.StatusCode, err)
	}
	c.tokens[key] = tr.AccessToken
	return tr.AccessToken
}

// get fetches target for op and decodes the body (numbers kept exact).
func (c *styleClient) get(op *apisurface.Operation, target string) (*http.Response, any) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	c.authorize(req, op)
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("GET %s: %v", target, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.t.Fatalf("GET %s: %v", target, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		c.t.Fatalf("GET %s: body is not JSON: %v\n%s", target, err, b)
	}
	return resp, doc
}

// lookupBody reads a body path as the integration spec writes it: a JSON
// Pointer ("/@odata.nextLink") or a dot path ("response_metadata.next_cursor").
func lookupBody(doc any, path string) (any, bool) {
	if path == "" || path == "." {
		return doc, true
	}
	var keys []string
	if strings.HasPrefix(path, "/") {
		for _, k := range strings.Split(path[1:], "/") {
			keys = append(keys, strings.ReplaceAll(strings.ReplaceAll(k, "~1", "/"), "~0", "~"))
		}
	} else {
		keys = strings.Split(path, ".")
	}
	cur := doc
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func scalarText(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// walked is what one walk of a list read.
type walked struct {
	records []any
	pages   int
}

const stylePageSize = 7

// walk reads every page of op at path (concrete, under the base URL),
// following op's inferred traits and nothing else.
func (c *styleClient) walk(op *apisurface.Operation, path string) walked {
	c.t.Helper()
	lt := op.List
	p := lt.Paging
	q := url.Values{}
	for k, v := range lt.Query {
		q.Set(k, v)
	}
	size := 0
	if sp := cmpOr(p.LimitParam, p.SizeParam); sp != "" {
		size = stylePageSize
		if p.MaxPageSize > 0 {
			size = min(size, p.MaxPageSize)
		}
		q.Set(sp, strconv.Itoa(size))
	}
	page, offset := 1, 0
	if p.StartPage != nil {
		page = *p.StartPage
	}
	switch p.Style {
	case apisurface.PagePageNumber:
		q.Set(p.PageParam, strconv.Itoa(page))
	case apisurface.PageOffset:
		q.Set(p.OffsetParam, "0")
	}
	first, _ := url.Parse(c.srv.URL() + path)
	first.RawQuery = q.Encode()
	next := first.String()
	var res walked
	for next != "" {
		if res.pages++; res.pages > 500 {
			c.t.Fatalf("%s: more than 500 pages", path)
		}
		resp, doc := c.get(op, next)
		if resp.StatusCode != http.StatusOK {
			c.t.Fatalf("GET %s: status %d: %v", next, resp.StatusCode, doc)
		}
		if env := lt.Envelope; env != nil {
			if ok, _ := lookupBody(doc, env.OKField); ok != true {
				e, _ := lookupBody(doc, env.ErrorField)
				c.t.Fatalf("GET %s: %s is %v (error %v)", next, env.OKField, ok, e)
			}
		}
		v, ok := lookupBody(doc, lt.RecordsPath)
		recs, isList := v.([]any)
		if !ok || !isList {
			c.t.Fatalf("GET %s: no record list at %q: %v", next, lt.RecordsPath, doc)
		}
		res.records = append(res.records, recs...)
		cur, _ := url.Parse(next)
		with := func(k, v string) string {
			u := *cur
			qq := u.Query()
			qq.Set(k, v)
			u.RawQuery = qq.Encode()
			return u.String()
		}
		next = ""
		stop := false
		if p.MoreField != "" {
			more, _ := lookupBody(doc, p.MoreField)
			stop = more == false
		}
		if p.TotalField != "" {
			if tv, ok := lookupBody(doc, p.TotalField); ok && tv != nil {
				total, err := strconv.Atoi(scalarText(tv))
				if err != nil {
					c.t.Fatalf("GET %s: total %q is no integer", cur, scalarText(tv))
				}
				stop = stop || len(res.records) >= total
			}
		}
		if stop {
			break
		}
		switch p.Style {
		case apisurface.PageNone:
		case apisurface.PageLinkHeader:
			next = linkNext(resp.Header.Get("Link"))
		case apisurface.PageNextURL:
			v, _ := lookupBody(doc, p.NextURLPath)
			next = scalarText(v)
		case apisurface.PageCursor, apisurface.PageToken:
			v, _ := lookupBody(doc, p.CursorPath)
			if s := scalarText(v); s != "" {
				next = with(p.CursorParam, s)
			}
		case apisurface.PageHeader:
			if h := resp.Header.Get(p.Header); h != "" {
				next = h
				if p.CursorParam != "" {
					next = with(p.CursorParam, h)
				}
			}
		case apisurface.PagePageNumber:
			if len(recs) > 0 && (size == 0 || len(recs) >= size || p.TotalField != "") {
				page++
				next = with(p.PageParam, strconv.Itoa(page))
			}
		case apisurface.PageOffset:
			if len(recs) > 0 && (size == 0 || len(recs) >= size || p.TotalField != "") {
				offset += len(recs)
				next = with(p.OffsetParam, strconv.Itoa(offset))
			}
		default:
			c.t.Fatalf("%s: paging style %q cannot be walked", path, p.Style)
		}
		if strings.HasPrefix(next, "/") {
			next = c.srv.Origin() + next
		}
	}
	return res
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// recordIDs reads each record's id as the truth names it: a property, or
// the record itself when the list holds bare identifiers (".").
func recordIDs(t *testing.T, recs []any, idField string) []string {
	t.Helper()
	out := make([]string, 0, len(recs))
	for i, r := range recs {
		if idField == "." {
			out = append(out, scalarText(r))
			continue
		}
		m, ok := r.(map[string]any)
		if !ok {
			t.Fatalf("record %d is %T, want an object", i, r)
		}
		v, ok := m[idField]
		if !ok {
			t.Fatalf("record %d has no %q: %v", i, idField, m)
		}
		out = append(out, scalarText(v))
	}
	return out
}

// fillPath fills a path template's parameters: those of the prefix
// already concrete, the rest with a placeholder (a project name, say,
// which no list of the doc enumerates).
func fillPath(template string, concretePrefix string) string {
	segs := strings.Split(strings.Trim(template, "/"), "/")
	pre := strings.Split(strings.Trim(concretePrefix, "/"), "/")
	if concretePrefix == "" {
		pre = nil
	}
	for i, sg := range segs {
		switch {
		case i < len(pre):
			segs[i] = pre[i]
		case strings.HasPrefix(sg, "{"):
			segs[i] = "sbx-demo"
		}
	}
	return "/" + strings.Join(segs, "/")
}

func TestStyleDocsEveryListReadExactlyOnce(t *testing.T) {
	for _, name := range styleDocNames(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, srv := startStyle(t, name, Options{Seed: 11, Entities: 23})
			c := newStyleClient(t, s, srv)
			truth := srv.Truth()
			ops := map[string]*apisurface.Operation{}
			for i := range s.Operations {
				if op := &s.Operations[i]; op.List != nil {
					ops[op.Path] = op
				}
			}
			if len(truth.Operations) != len(ops) {
				t.Fatalf("the sandbox serves %d lists, the surface infers %d", len(truth.Operations), len(ops))
			}
			// Parents before children: a child is read under each parent
			// id the parent's walk returned.
			type reading struct {
				path, scope string
				ids         []string // what the walk read there
			}
			readings := map[string][]reading{}
			var visit func(ot OperationTruth)
			visit = func(ot OperationTruth) {
				if _, done := readings[ot.Path]; done {
					return
				}
				op := ops[ot.Path]
				if op == nil {
					t.Fatalf("the sandbox serves %s as a list; the surface does not", ot.Path)
				}
				var here []reading
				if ot.Parent == "" {
					here = []reading{{path: fillPath(ot.Path, "")}}
				} else {
					pt, _ := truth.Operation("GET", ot.Parent)
					visit(pt)
					for _, pr := range readings[ot.Parent] {
						for _, id := range pr.ids {
							prefix := pr.path + "/" + url.PathEscape(id)
							here = append(here, reading{path: fillPath(ot.Path, prefix), scope: joinScope(pr.scope, id)})
						}
					}
				}
				var out []reading
				for _, rd := range here {
					w := c.walk(op, rd.path)
					got := recordIDs(t, w.records, ot.IDField)
					want := ot.IDs
					if ot.Parent != "" {
						want = ot.Children[rd.scope]
					}
					if !slices.Equal(sorted(got), sorted(want)) {
						t.Errorf("GET %s: read %d ids in %d pages, seeded %d\n got %v\nwant %v", rd.path, len(got), w.pages, len(want), got, want)
					}
					if op.List.Paging.Style != apisurface.PageNone && len(want) > stylePageSize && w.pages < 2 {
						t.Errorf("GET %s: %d records in one page: paging was not exercised", rd.path, len(want))
					}
					rd.ids = got
					out = append(out, rd)
				}
				readings[ot.Path] = out
			}
			for _, ot := range truth.Operations {
				visit(ot)
			}
			for _, ot := range truth.Operations {
				if len(ot.All()) == 0 {
					t.Errorf("%s: nothing seeded", ot.Path)
				}
			}
		})
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// findListOp is the surface operation of a list path template.
func findListOp(t *testing.T, s *apisurface.Surface, path string) *apisurface.Operation {
	t.Helper()
	for i := range s.Operations {
		if op := &s.Operations[i]; op.Path == path && op.Method == "GET" {
			return op
		}
	}
	t.Fatalf("GET %s not in the surface", path)
	return nil
}

// rawGet sends a GET with only the headers given: no credential unless
// one is set by hand.
func rawGet(t *testing.T, srv *Server, target string, hdr map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Transport: srv.Transport()}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	return resp, body
}

// An RPC-style API answers client errors in band, as its doc says: HTTP
// 200, ok false, and the documented error code closest to the situation.
// Rate limits keep their HTTP status.
func TestStyleRPCErrorsInBand(t *testing.T) {
	t.Parallel()
	_, srv := startStyle(t, "rpc-envelope.yaml", Options{Seed: 5})
	tok := srv.Credentials()[0].Value
	for _, c := range []struct {
		name, query, auth string
		want              string
	}{
		{"no credential", "", "", "not_authed"},
		{"wrong token", "", "Bearer sbx_not-the-token", "invalid_auth"},
		{"forged cursor", "?cursor=bm9wZQ", "Bearer " + tok, "invalid_cursor"},
	} {
		resp, body := rawGet(t, srv, srv.URL()+"/tokens.list"+c.query, map[string]string{"Authorization": c.auth})
		if resp.StatusCode != http.StatusOK || body["ok"] != false || body["error"] != c.want {
			t.Errorf("%s: %d %v, want 200 with ok false and error %q", c.name, resp.StatusCode, body, c.want)
		}
	}
	fs, _ := ParseFaults("429:1@/tokens.list")
	_, limited := startStyle(t, "rpc-envelope.yaml", Options{Seed: 5, Faults: fs})
	resp, body := rawGet(t, limited, limited.URL()+"/tokens.list", map[string]string{"Authorization": "Bearer " + tok})
	if resp.StatusCode != http.StatusTooManyRequests || body["ok"] != false || body["error"] != "ratelimited" {
		t.Errorf("rate limited: %d %v, want 429 with ok false and error ratelimited", resp.StatusCode, body)
	}
}

// GET with list=true stands in for a LIST verb: without it, or with any
// other value, the request asks for something the sandbox does not serve.
// The records are bare ids, and an item route describes one of them.
func TestStyleListVerb(t *testing.T) {
	t.Parallel()
	s, srv := startStyle(t, "list-verb.yaml", Options{Seed: 5})
	hdr := map[string]string{"X-Keystone-Token": srv.Credentials()[0].Value}
	for _, q := range []string{"", "?list=false"} {
		if resp, body := rawGet(t, srv, srv.URL()+"/identity/entity/id"+q, hdr); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("list%s: %d %v, want 400", q, resp.StatusCode, body)
		}
	}
	c := newStyleClient(t, s, srv)
	ids := recordIDs(t, c.walk(findListOp(t, s, "/identity/entity/id"), "/identity/entity/id").records, ".")
	if len(ids) == 0 {
		t.Fatal("no entities")
	}
	_, body := rawGet(t, srv, srv.URL()+"/identity/entity/id/"+url.PathEscape(ids[0]), hdr)
	if data, _ := body["data"].(map[string]any); data["id"] != ids[0] {
		t.Errorf("entity %s reads as %v, want data.id %q", ids[0], body, ids[0])
	}
	ot, _ := srv.Truth().Operation("GET", "/identity/entity/id")
	if ot.IDField != "." {
		t.Errorf("truth id field %q, want \".\" (each record its own id)", ot.IDField)
	}
}

// The OData next link is absolute and keeps the request's own options.
func TestStyleODataNextLink(t *testing.T) {
	t.Parallel()
	s, srv := startStyle(t, "odata.yaml", Options{Seed: 5})
	c := newStyleClient(t, s, srv)
	op := findListOp(t, s, "/applications")
	_, doc := c.get(op, srv.URL()+"/applications?%24top=5&%24select=id,displayName")
	next, _ := lookupBody(doc, "/@odata.nextLink")
	u, err := url.Parse(scalarText(next))
	if err != nil || !u.IsAbs() || u.Query().Get("$top") != "5" || u.Query().Get("$select") != "id,displayName" {
		t.Errorf("@odata.nextLink = %v, want an absolute URL keeping $top and $select", next)
	}
	if total, _ := lookupBody(doc, "/@odata.count"); scalarText(total) != strconv.Itoa(DefaultEntities) {
		t.Errorf("@odata.count = %v, want %d", total, DefaultEntities)
	}
}

// Per-operation scopes: a token with another list's scope is refused;
// an operation that also takes an API key reads with it alone.
func TestStylePageTokenScopes(t *testing.T) {
	t.Parallel()
	s, srv := startStyle(t, "page-token.yaml", Options{Seed: 5})
	c := newStyleClient(t, s, srv)
	creds := c.creds
	narrow := c.token(creds["oauth2"], []string{"apikeys.readonly"})
	resp, body := rawGet(t, srv, srv.URL()+"/v1/projects/p1/serviceAccounts", map[string]string{"Authorization": "Bearer " + narrow})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("serviceAccounts with apikeys.readonly: %d %v, want 403", resp.StatusCode, body)
	}
	resp, body = rawGet(t, srv, srv.URL()+"/v1/projects/p1/serviceAccounts", map[string]string{"Authorization": "Bearer " + c.token(creds["oauth2"], []string{"cloud-platform"})})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("serviceAccounts with the alternative scope cloud-platform: %d %v, want 200", resp.StatusCode, body)
	}
	resp, body = rawGet(t, srv, srv.URL()+"/v1/projects/p1/apiKeys?key="+url.QueryEscape(creds["apiKey"].Value), nil)
	if resp.StatusCode != http.StatusOK || body["apiKeys"] == nil {
		t.Errorf("apiKeys with the API key: %d %v, want 200", resp.StatusCode, body)
	}
	if next, _ := body["nextPageToken"].(string); strings.Contains(next, creds["apiKey"].Value) {
		t.Error("the page token carries the API key")
	}
}

// A doc without security is served without any: no credentials to hand
// out, and every request answered.
func TestStyleNoAuth(t *testing.T) {
	t.Parallel()
	_, srv := startStyle(t, "no-auth.yaml", Options{Seed: 5})
	if cs := srv.Credentials(); len(cs) != 0 {
		t.Errorf("credentials %v for a doc without security", cs)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/repos?per_page=3", nil)
	resp, err := (&http.Client{Transport: srv.Transport()}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
		t.Errorf("GET /repos: %d, Link %q", resp.StatusCode, resp.Header.Get("Link"))
	}
}

// Every GET operation of every example doc answers with a body that
// conforms to its schema, and an unauthenticated request with one that
// conforms to the doc's error schema (documented error codes included),
// whatever status the doc's style answers it with.
func TestStyleDocsConform(t *testing.T) {
	for _, name := range styleDocNames(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := loadStyleDoc(t, name)
			sb := newSandbox(t, s, Options{Seed: 3})
			c := &styleClient{t: t, s: s, creds: map[string]Credential{}, tokens: map[string]string{}}
			for _, cr := range sb.Credentials() {
				c.creds[cr.Scheme] = cr
			}
			for _, rt := range sb.routes {
				path, ok := sb.concretePath(rt)
				if !ok {
					continue
				}
				q := url.Values{}
				for _, p := range rt.required {
					if len(p.enum) == 1 {
						q.Set(p.name, p.enum[0])
					}
				}
				target := testHost + sb.BasePath() + path + "?" + q.Encode()
				r := httptest.NewRequest(http.MethodGet, target, nil)
				if reqs := cmpReqs(rt.op.Security, s.Security); len(reqs) > 0 {
					for _, use := range reqs[0].Schemes {
						cr := c.creds[use.Scheme]
						if cr.Type == "oauth2" {
							r.Header.Set("Authorization", "Bearer "+cr.AccessToken)
							continue
						}
						cr.Apply(r)
					}
				}
				w := httptest.NewRecorder()
				sb.Handler().ServeHTTP(w, r)
				resp := w.Result()
				b := readAll(t, resp)
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
					continue
				}
				if errs := validate(rt.op.Response, decode(t, b)); len(errs) > 0 {
					t.Errorf("GET %s: %v", path, errs[:min(3, len(errs))])
				}
				if len(rt.security) == 0 {
					continue
				}
				resp = do(t, sb.Handler(), target, nil)
				b = readAll(t, resp)
				es := sb.errorSchema(rt.op, http.StatusUnauthorized)
				if es == nil {
					continue
				}
				if errs := validate(es, decode(t, b)); len(errs) > 0 {
					t.Errorf("GET %s without a credential (%d): %v\n%s", path, resp.StatusCode, errs[:min(3, len(errs))], b)
				}
			}
		})
	}
}

func cmpReqs(op, doc []apisurface.Requirement) []apisurface.Requirement {
	if op != nil {
		return op
	}
	return doc
}

// A success response documented as a oneOf of the success and the error
// shape: pages are served in the success shape, errors in the other.
func TestStyleOneOfSuccessResponse(t *testing.T) {
	t.Parallel()
	okTrue := &apisurface.Schema{Type: "boolean", Enum: []any{true}}
	okFalse := &apisurface.Schema{Type: "boolean", Enum: []any{false}}
	item := obj([]string{"id"}, "id", str(), "name", str())
	resp := &apisurface.Schema{OneOf: []*apisurface.Schema{
		obj([]string{"ok", "error"}, "ok", okFalse, "error", enum("not_authed", "invalid_auth")),
		obj([]string{"ok", "items"}, "ok", okTrue, "items", arrayOf(item),
			"response_metadata", obj(nil, "next_cursor", str())),
	}}
	s := &apisurface.Surface{
		SecuritySchemes: []apisurface.SecurityScheme{{Name: "t", Type: "http", Scheme: "bearer"}},
		Security:        []apisurface.Requirement{{Schemes: []apisurface.SchemeUse{{Scheme: "t"}}}},
		Operations: []apisurface.Operation{{Method: "GET", Path: "/items.list", Response: resp, ResponseStatus: "200",
			Parameters: []apisurface.Parameter{
				{Name: "cursor", In: "query", Schema: str()}, {Name: "limit", In: "query", Schema: integer()}}}},
	}
	apisurface.Infer(s)
	lt := s.Operations[0].List
	if lt == nil || lt.Envelope == nil || !lt.Envelope.InBand || lt.Paging.Style != apisurface.PageCursor {
		t.Fatalf("inferred %+v", lt)
	}
	sb := newSandbox(t, s, Options{Seed: 2})
	c := cred(t, sb, "t")
	w := walker{t: t, h: sb.Handler(), cred: c, host: testHost}
	res := w.walk("/items.list", lt.Paging, lt.RecordsPath, 4)
	if len(res.records) != DefaultEntities || res.pages < 2 {
		t.Errorf("read %d records in %d pages", len(res.records), res.pages)
	}
	for _, b := range res.bodies {
		if doc := decode(t, b).(map[string]any); doc["ok"] != true || doc["error"] != nil {
			t.Errorf("page %s, want the success shape", b)
		}
	}
	resp2 := do(t, sb.Handler(), testHost+"/items.list", nil)
	if body := decode(t, readAll(t, resp2)).(map[string]any); resp2.StatusCode != 200 || body["ok"] != false || body["error"] != "not_authed" {
		t.Errorf("without a credential: %d %v", resp2.StatusCode, body)
	}
}

// Generated ids keep a vendor's type prefix and an all-digit id's digits;
// a name field's example is a style, not a constant.
func TestStyleGeneratedIDShapes(t *testing.T) {
	t.Parallel()
	f := faker(1)
	for _, c := range []struct{ ex, keep string }{
		{"key_7Hq2Lm9xWc", "key_"}, {"sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_"}, {"wh-41c9d2", "wh-"},
	} {
		for range 5 {
			if v := mutate(c.ex, f); !strings.HasPrefix(v, c.keep) || len(v) != len(c.ex) || v == c.ex {
				t.Errorf("mutate(%q) = %q, want the prefix %q kept and the rest varied", c.ex, v, c.keep)
			}
		}
	}
	for range 5 {
		if v := mutate("104729384756102938475", f); strings.Trim(v, "0123456789") != "" {
			t.Errorf("mutate of an all-digit id = %q", v)
		}
		if v := mutate("deadbeef-1234", f); strings.HasPrefix(v, "deadbeef-") {
			t.Errorf("mutate of a hex id kept %q", v)
		}
	}
	sb := newSandbox(t, &apisurface.Surface{}, Options{})
	rc := &recordCtx{plan: sb.plan(1, 0, 0, 0, 0, DefaultNow())}
	names := map[string]bool{}
	for i := range 20 {
		names[sb.str(&apisurface.Schema{Type: "string", Example: "ci-deployer"}, "name", faker(uint64(i)), rc)] = true
	}
	if len(names) < 10 {
		t.Errorf("20 names from one example, %d distinct: %v", len(names), names)
	}
}
