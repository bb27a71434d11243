package sandbox

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/apisurface"
)

// Every paging style, walked correctly, yields exactly the seeded ids in
// order; the page size is honoured up to the maximum.
func TestPagingStyles(t *testing.T) {
	s := acmeSurface()
	sb := newSandbox(t, s, Options{Seed: 7})
	w := walker{t: t, h: sb.Handler(), cred: cred(t, sb, "api_key"), host: "http://127.0.0.1:9"}
	truth := sb.Truth()
	for _, tc := range []struct {
		path      string
		size      int
		wantPages int
	}{
		{"/users", 0, 3}, // default page size 10: 25 records in 3 pages
		{"/users", 7, 4},
		{"/service_accounts", 10, 3},
		{"/webhooks", 5, 6}, // page_number: a full last page costs one more, empty, page
		{"/tokens", 4, 7},
		{"/apps", 25, 1},
		{"/apps", 24, 2},
		{"/deploy_keys", 10, 3},
		{"/audit", 3, 1}, // unknown paging: everything in one page
	} {
		t.Run(strings.TrimPrefix(tc.path, "/")+"/"+itoa(tc.size), func(t *testing.T) {
			op := findOp(t, s, tc.path)
			res := w.walk("/api/v1"+tc.path, op.List.Paging, op.List.RecordsPath, tc.size)
			ot, ok := truth.Operation("GET", tc.path)
			if !ok {
				t.Fatalf("no truth for %s", tc.path)
			}
			field := ot.IDField
			var got []string
			if field == "" {
				for i := range res.records {
					got = append(got, itoa(i))
				}
			} else {
				got = ids(t, res.records, field)
			}
			if !slices.Equal(got, ot.IDs) {
				t.Errorf("walked ids differ from truth:\n got %v\nwant %v", got, ot.IDs)
			}
			if res.pages != tc.wantPages {
				t.Errorf("pages = %d, want %d", res.pages, tc.wantPages)
			}
		})
	}
}

// An integration that pages wrongly misses records: it ignores the next
// signal, asks for more than the maximum and stops on a short page, or
// sends the page size under the wrong name.
func TestWrongPagingMissesRecords(t *testing.T) {
	s := acmeSurface()
	sb := newSandbox(t, s, Options{Seed: 7, Entities: 60})
	c := cred(t, sb, "api_key")
	count := func(target, records string) int {
		t.Helper()
		resp := do(t, sb.Handler(), "http://127.0.0.1:9/api/v1"+target, c)
		b := readAll(t, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", target, resp.StatusCode, b)
		}
		v, _ := getPath(decode(t, b), splitPath(records))
		return len(v.([]any))
	}
	// No paging at all: the first page only.
	if n := count("/service_accounts", "data"); n != DefaultPageSize {
		t.Errorf("first page without size: %d records, want the default %d", n, DefaultPageSize)
	}
	// Size above the maximum is clamped: a page_number client that asks
	// for 100, gets the maximum 50 and stops on the "short" page misses
	// the rest.
	op := findOp(t, s, "/webhooks")
	w := walker{t: t, h: sb.Handler(), cred: c, host: "http://127.0.0.1:9"}
	if res := w.walk("/api/v1/webhooks", op.List.Paging, "webhooks", 100); len(res.records) != 50 {
		t.Errorf("page_number walk with per_page=100 over a max of 50 read %d of 60 records, want 50", len(res.records))
	}
	if res := w.walk("/api/v1/webhooks", op.List.Paging, "webhooks", 50); len(res.records) != 60 {
		t.Errorf("page_number walk at the maximum read %d of 60 records", len(res.records))
	}
	sa := sb.Truth()
	var parent string
	for _, id := range func() []string { o, _ := sa.Operation("GET", "/service_accounts"); return o.IDs }() {
		if o, _ := sa.Operation("GET", "/service_accounts/{id}/keys"); len(o.Children[id]) > 0 {
			parent = id
			break
		}
	}
	if parent == "" {
		t.Fatal("no service account has keys")
	}
	if n := count("/service_accounts/"+parent+"/keys?limit=500", "keys"); n > 50 {
		t.Errorf("limit=500 served %d records, want at most the declared maximum 50", n)
	}
	// The wrong size parameter name is ignored: default size.
	if n := count("/webhooks?page_size=100", "webhooks"); n != DefaultPageSize {
		t.Errorf("unknown size parameter: %d records, want the default %d", n, DefaultPageSize)
	}
}

func TestPagingBadRequests(t *testing.T) {
	sb := newSandbox(t, acmeSurface(), Options{Seed: 7})
	c := cred(t, sb, "api_key")
	for _, target := range []string{
		"/service_accounts?cursor=forged",
		"/service_accounts?cursor=" + sb.encodeCursor(sb.lists[0], "", 10), // a cursor of another list
		"/service_accounts?limit=0",
		"/webhooks?page=0",
		"/webhooks?per_page=ten",
	} {
		resp := do(t, sb.Handler(), "http://127.0.0.1:9/api/v1"+target, c)
		b := readAll(t, resp)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", target, resp.StatusCode, b)
			continue
		}
		if errs := validate(errorStyle()["404"], decode(t, b)); len(errs) > 0 {
			t.Errorf("%s: the 400 body is not in the vendor's error style: %v\n%s", target, errs, b)
		}
	}
}

// Paging signals in the envelope tell the truth: more, total, limit,
// offset, and the end of a cursor walk.
func TestPagingEnvelopeSignals(t *testing.T) {
	sb := newSandbox(t, acmeSurface(), Options{Seed: 3})
	c := cred(t, sb, "api_key")
	get := func(target string) map[string]any {
		resp := do(t, sb.Handler(), "http://127.0.0.1:9/api/v1"+target, c)
		return decode(t, readAll(t, resp)).(map[string]any)
	}
	wh := get("/webhooks?page=3&per_page=10")
	if wh["total"] != float64(25) || wh["page"] != float64(3) || wh["per_page"] != float64(10) || len(wh["webhooks"].([]any)) != 5 {
		t.Errorf("webhooks page 3: total %v page %v per_page %v records %d", wh["total"], wh["page"], wh["per_page"], len(wh["webhooks"].([]any)))
	}
	last := get("/service_accounts?limit=100")
	if meta := last["meta"].(map[string]any); meta["next_cursor"] != nil {
		t.Errorf("last page next_cursor = %v, want null (the field is nullable)", meta["next_cursor"])
	}
	apps := get("/apps?pageSize=100")
	if _, ok := apps["nextPageToken"]; ok {
		t.Errorf("last page has nextPageToken %v; an optional non-nullable cursor should be absent", apps["nextPageToken"])
	}
	tok := get("/tokens?$top=100")
	if _, ok := tok["@odata.nextLink"]; ok {
		t.Error("last page has @odata.nextLink")
	}
}

func findOp(t *testing.T, s *apisurface.Surface, path string) apisurface.Operation {
	t.Helper()
	for _, op := range s.Operations {
		if op.Method == "GET" && op.Path == path {
			return op
		}
	}
	t.Fatalf("no GET %s", path)
	return apisurface.Operation{}
}

func itoa(i int) string { return strconv.Itoa(i) }

// Traits that name a style without what it needs are served in one page,
// never as an endless first page.
func TestIncompletePagingServesOnePage(t *testing.T) {
	rec := obj([]string{"id"}, "id", str())
	s := &apisurface.Surface{Operations: []apisurface.Operation{
		listOp("/a", obj(nil, "items", arrayOf(rec)), "items", rec, "", apisurface.Paging{Style: apisurface.PageCursor, CursorParam: "after"}),
		listOp("/b", arrayOf(rec), "", rec, "", apisurface.Paging{Style: apisurface.PageNextURL, NextURLPath: "next"}),
		listOp("/c", arrayOf(rec), "", rec, "", apisurface.Paging{Style: apisurface.PagePageNumber, SizeParam: "size"}),
	}}
	sb := newSandbox(t, s, Options{})
	for _, tc := range []struct{ path, records string }{{"/a", "items"}, {"/b", ""}, {"/c", ""}} {
		v, _ := getPath(decode(t, readAll(t, do(t, sb.Handler(), testHost+tc.path, nil))), splitPath(tc.records))
		if n := len(v.([]any)); n != DefaultEntities {
			t.Errorf("%s: %d records, want all %d in one page", tc.path, n, DefaultEntities)
		}
	}
	for _, o := range sb.Operations() {
		if o.Paging != apisurface.PageUnknown {
			t.Errorf("%s: paging %s, want unknown", o.Path, o.Paging)
		}
	}
}
