package sandbox

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/apisurface"
)

// walker is a minimal client that pages the way a list's traits say, the
// way an integration should. Tests use it to read a whole list through
// the handler, with no network.
type walker struct {
	t    *testing.T
	h    http.Handler
	cred *Credential
	host string // absolute URLs the sandbox builds point here
}

type walkResult struct {
	records []any
	pages   int
	bodies  [][]byte
}

// walk reads every page of path (a concrete path under the base path).
func (w walker) walk(path string, p apisurface.Paging, records string, size int) walkResult {
	w.t.Helper()
	var res walkResult
	q := url.Values{}
	sizeParam := p.SizeParam
	if p.Style == apisurface.PageOffset && p.LimitParam != "" {
		sizeParam = p.LimitParam
	}
	if size > 0 && sizeParam != "" {
		q.Set(sizeParam, strconv.Itoa(size))
	}
	page := 1
	if p.StartPage != nil {
		page = *p.StartPage
	}
	if p.Style == apisurface.PagePageNumber {
		q.Set(p.PageParam, strconv.Itoa(page))
	}
	offset := 0
	next := w.host + path
	if len(q) > 0 {
		next += "?" + q.Encode()
	}
	for res.pages < 1000 {
		resp := do(w.t, w.h, next, w.cred)
		b := readAll(w.t, resp)
		if resp.StatusCode != 200 {
			w.t.Fatalf("GET %s: %d %s", next, resp.StatusCode, b)
		}
		res.pages++
		res.bodies = append(res.bodies, b)
		doc := decode(w.t, b)
		recs, ok := getPath(doc, splitPath(records))
		if !ok {
			w.t.Fatalf("GET %s: no records at %q: %s", next, records, b)
		}
		items, _ := recs.([]any)
		res.records = append(res.records, items...)
		cur, _ := url.Parse(next)
		setParam := func(k, v string) string {
			u := *cur
			qq := u.Query()
			qq.Set(k, v)
			u.RawQuery = qq.Encode()
			return u.String()
		}
		next = ""
		switch p.Style {
		case apisurface.PageLinkHeader:
			next = linkNext(resp.Header.Get("Link"))
		case apisurface.PageNextURL:
			v, _ := getPath(doc, splitPath(p.NextURLPath))
			next, _ = v.(string)
		case apisurface.PageCursor, apisurface.PageToken:
			v, _ := getPath(doc, splitPath(p.CursorPath))
			if s, _ := v.(string); s != "" {
				next = setParam(p.CursorParam, s)
			}
		case apisurface.PageHeader:
			if h := resp.Header.Get(p.Header); h != "" {
				next = h
				if p.CursorParam != "" {
					next = setParam(p.CursorParam, h)
				}
			}
		case apisurface.PagePageNumber:
			if len(items) > 0 && (size <= 0 || len(items) >= size) {
				page++
				next = setParam(p.PageParam, strconv.Itoa(page))
			}
		case apisurface.PageOffset:
			more := len(items) > 0 && (size <= 0 || len(items) >= size)
			if p.MoreField != "" {
				v, _ := getPath(doc, splitPath(p.MoreField))
				more, _ = v.(bool)
			}
			if more {
				offset += len(items)
				next = setParam(p.OffsetParam, strconv.Itoa(offset))
			}
		}
		if next == "" {
			return res
		}
		if strings.HasPrefix(next, "/") {
			next = w.host + next
		}
	}
	w.t.Fatalf("walk %s: more than 1000 pages", path)
	return res
}

func linkNext(h string) string {
	for _, part := range strings.Split(h, ",") {
		part = strings.TrimSpace(part)
		if strings.HasSuffix(part, `rel="next"`) {
			if i, j := strings.IndexByte(part, '<'), strings.IndexByte(part, '>'); i >= 0 && j > i {
				return part[i+1 : j]
			}
		}
	}
	return ""
}

// ids extracts the field from each record, as text.
func ids(t *testing.T, recs []any, field string) []string {
	t.Helper()
	out := make([]string, 0, len(recs))
	for i, r := range recs {
		m, ok := r.(map[string]any)
		if !ok {
			t.Fatalf("record %d is %T, want an object", i, r)
		}
		v, ok := m[field]
		if !ok {
			t.Fatalf("record %d has no %q: %v", i, field, m)
		}
		switch n := v.(type) {
		case float64:
			out = append(out, strconv.FormatFloat(n, 'f', -1, 64))
		default:
			out = append(out, fmt.Sprint(n))
		}
	}
	return out
}
