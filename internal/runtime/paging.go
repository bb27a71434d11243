package runtime

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spindlehq/spindle/internal/integration"
)

// pager decides the next request from the page just read. One per walk.
type pager struct {
	p       integration.Pagination
	page    int   // page_number: the page just requested
	offset  int64 // offset: the offset just requested
	fetched int64 // records read so far in this walk
}

func newPager(p *integration.Pagination) *pager {
	pg := &pager{}
	if p != nil {
		pg.p = *p
	}
	if pg.p.Type == "" {
		pg.p.Type = integration.PageNone
	}
	pg.page = 1
	if pg.p.StartPage != nil {
		pg.page = *pg.p.StartPage
	}
	return pg
}

// first adds the first page's paging parameters to q.
func (pg *pager) first(q url.Values) {
	p := pg.p
	if p.PageSize > 0 {
		switch {
		case p.Type == integration.PageOffset:
			q.Set(p.LimitParam, strconv.Itoa(p.PageSize))
		case p.SizeParam != "":
			q.Set(p.SizeParam, strconv.Itoa(p.PageSize))
		}
	}
	switch p.Type {
	case integration.PageOffset:
		q.Set(p.OffsetParam, "0")
	case integration.PagePageNumber:
		q.Set(p.PageParam, strconv.Itoa(pg.page))
	}
}

// stop reasons.
const (
	StopMaxPages       = "max_pages"
	StopRepeatedCursor = "repeated_cursor"
)

// next returns the URL of the next page, or nil when the list is done.
// cur is the URL just fetched; n the number of records it held.
func (pg *pager) next(cur *url.URL, resp *http.Response, body any, n int) (*url.URL, error) {
	p := pg.p
	pg.fetched += int64(n)
	if p.MoreField != "" {
		if v, ok := lookup(body, p.MoreField); ok {
			more, isBool := v.(bool)
			if !isBool {
				return nil, fmt.Errorf("pagination more_field %q holds %s, want a boolean", p.MoreField, typeName(v))
			}
			if !more {
				return nil, nil
			}
		}
	}
	if p.TotalField != "" {
		if v, ok := lookup(body, p.TotalField); ok && v != nil {
			total, isInt := v.(int64)
			if !isInt {
				return nil, fmt.Errorf("pagination total_field %q holds %s, want an integer", p.TotalField, typeName(v))
			}
			if pg.fetched >= total {
				return nil, nil
			}
		}
	}
	withParam := func(k, v string) *url.URL {
		u := *cur
		q := u.Query()
		q.Set(k, v)
		u.RawQuery = q.Encode()
		return &u
	}
	resolve := func(s string) (*url.URL, error) {
		if s == "" {
			return nil, nil
		}
		u, err := cur.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("next page URL %q does not parse: %v", s, err)
		}
		return u, nil
	}
	switch p.Type {
	case integration.PageNone:
		return nil, nil
	case integration.PageLinkHeader:
		return resolve(nextLink(resp.Header.Values("Link")))
	case integration.PageNextURL:
		v, _ := lookup(body, p.NextURLPath)
		s, err := scalarString(v)
		if err != nil {
			return nil, fmt.Errorf("pagination next_url_path %q: %v", p.NextURLPath, err)
		}
		return resolve(s)
	case integration.PageCursor, integration.PageToken:
		v, _ := lookup(body, p.CursorPath)
		s, err := scalarString(v)
		if err != nil {
			return nil, fmt.Errorf("pagination cursor_path %q: %v", p.CursorPath, err)
		}
		if s == "" {
			return nil, nil
		}
		return withParam(p.CursorParam, s), nil
	case integration.PageHeader:
		h := strings.TrimSpace(resp.Header.Get(p.Header))
		if h == "" {
			return nil, nil
		}
		if p.CursorParam == "" || strings.HasPrefix(h, "/") || strings.Contains(h, "://") {
			return resolve(h)
		}
		return withParam(p.CursorParam, h), nil
	case integration.PagePageNumber:
		if n == 0 || (p.PageSize > 0 && n < p.PageSize && p.MoreField == "" && p.TotalField == "") {
			return nil, nil
		}
		pg.page++
		return withParam(p.PageParam, strconv.Itoa(pg.page)), nil
	case integration.PageOffset:
		if n == 0 || (p.PageSize > 0 && n < p.PageSize && p.MoreField == "" && p.TotalField == "") {
			return nil, nil
		}
		pg.offset += int64(n)
		return withParam(p.OffsetParam, strconv.FormatInt(pg.offset, 10)), nil
	}
	return nil, fmt.Errorf("unknown pagination type %q", p.Type)
}

// nextLink finds rel="next" in RFC 8288 Link header values.
func nextLink(values []string) string {
	for _, v := range values {
		for _, link := range splitLinks(v) {
			link = strings.TrimSpace(link)
			if !strings.HasPrefix(link, "<") {
				continue
			}
			end := strings.Index(link, ">")
			if end < 0 {
				continue
			}
			target := link[1:end]
			for _, param := range strings.Split(link[end+1:], ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(param), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}

// splitLinks splits a Link header on the commas between links, not those
// inside <…> or quoted parameters.
func splitLinks(h string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i, c := range h {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			depth--
		case c == ',' && depth == 0:
			out = append(out, h[start:i])
			start = i + 1
		}
	}
	return append(out, h[start:])
}
