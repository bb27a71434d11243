package apisurface

import (
	"fmt"
	"sort"
	"strings"
)

// followConventions settles lists whose own paging hints fit no style by
// the document's own convention: when at least two other lists with the
// same paging parameters and response shape page one confident way (say,
// a bare array with after and limit whose siblings' docs name the Link
// header), the undocumented one is read the same way, with a confidence
// that says it was inferred. Only styles that the parameters and headers
// fully describe carry over; cursor paths and next-URL fields do not.
func followConventions(ops []Operation, sigs []*signals) {
	type donor struct {
		pg    *Paging
		n     int
		mixed bool
	}
	keys := make([]string, len(ops))
	donors := map[string]*donor{}
	for i := range ops {
		lt := ops[i].List
		if lt == nil || sigs[i] == nil {
			continue
		}
		keys[i] = conventionKey(sigs[i], lt.RecordsPath == "")
		if keys[i] == "" || lt.Paging.Inference.Confidence < 0.8 {
			continue
		}
		switch lt.Paging.Style {
		case PageLinkHeader, PageHeader, PagePageNumber, PageOffset:
		default:
			continue
		}
		d := donors[keys[i]]
		if d == nil {
			donors[keys[i]] = &donor{pg: &lt.Paging, n: 1}
			continue
		}
		d.n++
		if d.pg.Style != lt.Paging.Style || d.pg.Header != lt.Paging.Header || d.pg.CursorParam != lt.Paging.CursorParam {
			d.mixed = true
		}
	}
	for i := range ops {
		lt := ops[i].List
		if lt == nil || keys[i] == "" || lt.Paging.Style != PageUnknown {
			continue
		}
		d := donors[keys[i]]
		if d == nil || d.mixed || d.n < 2 {
			continue
		}
		own := lt.Paging.Inference.Evidence
		pg := Paging{Style: d.pg.Style, SizeParam: d.pg.SizeParam, LimitParam: d.pg.LimitParam, OffsetParam: d.pg.OffsetParam,
			PageParam: d.pg.PageParam, Header: d.pg.Header, CursorParam: d.pg.CursorParam}
		if d.pg.StartPage != nil {
			sp := *d.pg.StartPage
			pg.StartPage = &sp
		}
		size := pg.SizeParam
		if size == "" {
			size = pg.LimitParam
		}
		for _, p := range sigs[i].size {
			if p.Name == size {
				pg.MaxPageSize = maxOf(p)
			}
		}
		if f := firstField(sigs[i].more); f != nil {
			pg.MoreField = f.path()
		}
		if f := firstField(sigs[i].total); f != nil {
			pg.TotalField = f.path()
		}
		pg.Inference.Confidence = 0.6
		pg.Inference.Evidence = append([]string{fmt.Sprintf(
			"%d other operations of this document with the same paging parameters and response shape page by %s; assumed the same",
			d.n, d.pg.Style)}, own...)
		lt.Paging = pg
	}
}

// conventionKey is an operation's paging parameter names (normalised,
// sorted) and whether its response is a bare array; "" when it has no
// paging parameters to compare by.
func conventionKey(g *signals, bare bool) string {
	var names []string
	for _, ps := range [][]*Parameter{g.size, g.offset, g.page, g.cursor, g.token, g.back} {
		for _, p := range ps {
			names = append(names, norm(p.Name))
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	shape := "|envelope"
	if bare {
		shape = "|bare"
	}
	return strings.Join(names, ",") + shape
}
