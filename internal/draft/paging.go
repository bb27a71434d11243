package draft

import (
	"fmt"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/integration"
)

// defaultPageSize is asked for when the doc names a size parameter: large
// enough to keep request counts low, small enough for any vendor's cap.
const defaultPageSize = 100

// PagingStep is how far repair has loosened one stream's paging, in the
// order it tries: stop relying on the total count, then on the more flag,
// then ask for the largest page the doc allows.
type PagingStep int

const (
	StepNone PagingStep = iota
	StepNoTotal
	StepNoMore
	StepMaxPage
	StepLast = StepMaxPage
)

// pagination maps the surface's paging traits 1:1 onto the spec's
// pagination block. ok is false when the style is unknown (the spec then
// reads one page, and a person must say how the list pages).
func pagination(p apisurface.Paging, tw PagingStep) (pg *integration.Pagination, note string, ok bool) {
	size := func() int {
		n := defaultPageSize
		if p.MaxPageSize > 0 && p.MaxPageSize < n {
			n = p.MaxPageSize
		}
		if tw >= StepMaxPage && p.MaxPageSize > 0 {
			n = min(p.MaxPageSize, 100000)
		}
		return n
	}
	pg = &integration.Pagination{Type: p.Style, MoreField: p.MoreField, TotalField: p.TotalField}
	if tw >= StepNoTotal {
		pg.TotalField = ""
	}
	if tw >= StepNoMore {
		pg.MoreField = ""
	}
	switch p.Style {
	case apisurface.PageNone, "":
		if tw >= StepMaxPage && p.SizeParam != "" {
			return &integration.Pagination{Type: integration.PageNone, SizeParam: p.SizeParam, PageSize: size()},
				"one page, asking for the largest page the doc allows", true
		}
		return nil, "one page: the doc shows no paging", true
	case apisurface.PageUnknown:
		return nil, "paging unknown: reading one page", false
	case apisurface.PageOffset:
		if p.OffsetParam == "" || (p.LimitParam == "" && p.SizeParam == "") {
			return nil, "offset paging without a limit parameter: reading one page", false
		}
		pg.OffsetParam = p.OffsetParam
		pg.LimitParam = p.LimitParam
		if pg.LimitParam == "" {
			pg.LimitParam = p.SizeParam
		}
		pg.PageSize = size()
	case apisurface.PagePageNumber:
		if p.PageParam == "" {
			return nil, "page-number paging without a page parameter: reading one page", false
		}
		pg.PageParam = p.PageParam
		if p.StartPage != nil {
			sp := *p.StartPage
			pg.StartPage = &sp
		}
	case apisurface.PageCursor, apisurface.PageToken:
		if p.CursorPath == "" || p.CursorParam == "" {
			return nil, "cursor paging without its cursor path or parameter: reading one page", false
		}
		pg.CursorPath, pg.CursorParam = p.CursorPath, p.CursorParam
	case apisurface.PageNextURL:
		if p.NextURLPath == "" {
			return nil, "next-URL paging without the URL's path: reading one page", false
		}
		pg.NextURLPath = p.NextURLPath
	case apisurface.PageHeader:
		if p.Header == "" {
			return nil, "header paging without the header's name: reading one page", false
		}
		pg.Header, pg.CursorParam = p.Header, p.CursorParam
	case apisurface.PageLinkHeader:
	default:
		return nil, fmt.Sprintf("paging style %q is not one the spec knows: reading one page", p.Style), false
	}
	if p.Style != apisurface.PageOffset && p.SizeParam != "" {
		pg.SizeParam, pg.PageSize = p.SizeParam, size()
	}
	return pg, describePaging(pg), true
}

func describePaging(pg *integration.Pagination) string {
	s := pg.Type
	switch pg.Type {
	case integration.PageOffset:
		s = fmt.Sprintf("offset paging (%s/%s)", pg.LimitParam, pg.OffsetParam)
	case integration.PagePageNumber:
		s = fmt.Sprintf("page numbers in %s", pg.PageParam)
	case integration.PageCursor, integration.PageToken:
		s = fmt.Sprintf("cursor at %s sent back as %s", pg.CursorPath, pg.CursorParam)
	case integration.PageNextURL:
		s = fmt.Sprintf("next page URL at %s", pg.NextURLPath)
	case integration.PageHeader:
		s = fmt.Sprintf("next page in the %s header", pg.Header)
	case integration.PageLinkHeader:
		s = "RFC 8288 Link header"
	}
	if pg.SizeParam != "" {
		s += fmt.Sprintf(", %s=%d", pg.SizeParam, pg.PageSize)
	} else if pg.LimitParam != "" {
		s += fmt.Sprintf(", %d a page", pg.PageSize)
	}
	if pg.MoreField != "" {
		s += ", stops when " + pg.MoreField + " is false"
	}
	if pg.TotalField != "" {
		s += ", total at " + pg.TotalField
	}
	return s
}
