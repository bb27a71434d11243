package apisurface

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Query parameter names by the role they conventionally play in paging,
// normalised (lower-case letters and digits: "$top" → top, "page[size]" →
// pagesize). Order matters where several could fill one role: the first
// present wins.
var (
	sizeParamNames   = []string{"limit", "perpage", "pagesize", "pagelimit", "maxresults", "maxitems", "maxkeys", "top", "size", "resultsperpage", "itemsperpage", "pagelen", "numresults", "take", "first", "count"}
	offsetParamNames = []string{"offset", "skip", "startindex", "startat", "pageoffset", "startposition", "start", "from"}
	pageParamNames   = []string{"page", "pagenumber", "pagenum", "pageno", "pageindex", "currentpage"}
	cursorParamNames = []string{"cursor", "after", "startingafter", "startafter", "marker", "pagecursor", "pageafter", "startcursor", "fromcursor", "nextcursor", "next", "scrollid", "iterator", "exclusivestartkey", "lastkey"}
	tokenParamNames  = []string{"pagetoken", "nexttoken", "nextpagetoken", "paginationtoken", "continuationtoken", "continuation", "continue", "skiptoken", "startingtoken", "pagingtoken", "resumptiontoken"}
	backParamNames   = []string{"before", "endingbefore", "prev", "previous", "beforecursor", "pagebefore"}
)

// Response field names by role, normalised the same way.
var (
	nextURLFieldNames = map[string]bool{"next": true, "nexturl": true, "nextlink": true, "nextpage": true, "nextpageurl": true, "nextpagelink": true, "nexthref": true, "odatanextlink": true, "nextpageuri": true, "nexturi": true}
	cursorFieldNames  = map[string]bool{"nextcursor": true, "endcursor": true, "nextmarker": true, "nextpagecursor": true, "nextkey": true, "lastevaluatedkey": true, "scrollid": true, "cursor": true, "marker": true}
	tokenFieldNames   = map[string]bool{"nexttoken": true, "nextpagetoken": true, "continuationtoken": true, "nextcontinuationtoken": true, "continue": true, "continuation": true, "paginationtoken": true, "nextpaginationtoken": true, "skiptoken": true, "nextskiptoken": true, "pagetoken": true}
	moreFieldNames    = map[string]bool{"more": true, "hasmore": true, "hasnext": true, "hasnextpage": true, "istruncated": true, "truncated": true, "moreresults": true, "morerecords": true, "moreitems": true, "hasmoreitems": true, "hasmorepages": true, "morepages": true, "hasmoreresults": true, "nextpage": true}
	totalFieldNames   = map[string]bool{"total": true, "totalcount": true, "totalresults": true, "totalitems": true, "totalrecords": true, "totalsize": true, "odatacount": true, "totalentries": true, "totalelements": true, "totalhits": true, "numfound": true, "totalrows": true, "totalnumber": true}
	pageEchoNames     = map[string]bool{"page": true, "currentpage": true, "pagenumber": true, "totalpages": true, "pagecount": true, "lastpage": true}
	linkishParents    = map[string]bool{"links": true, "link": true, "paging": true, "pages": true, "pagination": true, "navigation": true, "next": true}
)

// linkProsePhrases, found in an operation's or a paging parameter's prose
// (lower-cased, markup removed), say the next page is in a Link header.
var linkProsePhrases = []string{"link header", "link response header", "link http header", "header link",
	"link relation", "rel=next", "rel= next", "header contains a next link", "next link in the header",
	"links header"}

// field is a scalar or object property of a response envelope.
type field struct {
	keys   []string
	name   string // the key as written
	n      string // norm(name)
	parent string // norm of the parent key, "" at the top
	s      *Schema
	viaAlt bool // reached through a oneOf/anyOf alternative: may be absent
}

func (f field) path() string { return bodyPath(f.keys) }

// signals are the paging hints of one operation.
type signals struct {
	size, offset, page, cursor, token, back []*Parameter
	nextURL, cursorF, tokenF, more, total   []field
	pageEcho, offsetEcho, sizeEcho          []field
	linkHeader                              bool
	nextHeaders, totalHeaders               []string
	linkProse                               string // the phrase found, "" if none
	prose                                   string // plain text of the op's and paging params' prose
}

func (g *signals) any() bool {
	return len(g.size)+len(g.offset)+len(g.page)+len(g.cursor)+len(g.token)+len(g.back)+
		len(g.nextURL)+len(g.cursorF)+len(g.tokenF)+len(g.more)+len(g.total)+len(g.nextHeaders) > 0 ||
		g.linkHeader || g.linkProse != ""
}

func indexOf(list []string, n string) int {
	for i, s := range list {
		if s == n {
			return i
		}
	}
	return -1
}

func isNumeric(s *Schema) bool {
	return s != nil && (s.Type == "integer" || s.Type == "number")
}

func isStringish(s *Schema) bool {
	return s == nil || s.Type == "string" || s.Type == "" && len(s.Properties) == 0 && s.Items == nil
}

// gatherSignals reads paging hints from query parameters, response fields,
// response headers and prose.
func gatherSignals(op *Operation) *signals {
	g := &signals{}
	var prose strings.Builder
	prose.WriteString(op.Summary)
	prose.WriteByte(' ')
	prose.WriteString(op.Description)
	for i := range op.Parameters {
		p := &op.Parameters[i]
		if !strings.EqualFold(p.In, "query") {
			continue
		}
		n := norm(p.Name)
		role := true
		switch {
		case p.Schema != nil && strings.HasPrefix(p.Schema.Format, "date"):
			// after=2024-01-01 filters by time; it does not page.
			role = false
		case indexOf(pageParamNames, n) >= 0 && (p.Schema == nil || p.Schema.Type != "string" || !mentionsCursor(p.Description)):
			g.page = append(g.page, p)
		case indexOf(offsetParamNames, n) >= 0:
			// "start" and "from" are often timestamps: only numbers count.
			if (n == "start" || n == "from") && !isNumeric(p.Schema) {
				role = false
				break
			}
			g.offset = append(g.offset, p)
		case indexOf(sizeParamNames, n) >= 0:
			if (n == "count" || n == "first" || n == "size" || n == "top") && p.Schema != nil && p.Schema.Type != "" && !isNumeric(p.Schema) {
				role = false
				break
			}
			g.size = append(g.size, p)
		case indexOf(tokenParamNames, n) >= 0:
			g.token = append(g.token, p)
		case indexOf(cursorParamNames, n) >= 0, n == "page" && p.Schema != nil && p.Schema.Type == "string":
			g.cursor = append(g.cursor, p)
		case indexOf(backParamNames, n) >= 0:
			g.back = append(g.back, p)
		default:
			role = false
		}
		if role {
			prose.WriteByte(' ')
			prose.WriteString(p.Description)
		}
	}
	g.prose = plainText(prose.String())
	for _, ph := range linkProsePhrases {
		if strings.Contains(g.prose, ph) {
			g.linkProse = ph
			break
		}
	}
	for _, h := range op.ResponseHeaders {
		h = strings.ToLower(h)
		switch {
		case h == "link":
			g.linkHeader = true
		case strings.Contains(h, "total") || strings.Contains(h, "count"):
			g.totalHeaders = append(g.totalHeaders, h)
		case strings.Contains(h, "prev") || strings.Contains(h, "rate") || strings.Contains(h, "limit"):
		case strings.Contains(h, "next") || strings.Contains(h, "continuation") || strings.Contains(h, "cursor") || strings.Contains(h, "page-token"):
			g.nextHeaders = append(g.nextHeaders, h)
		}
	}
	if r := op.Response; isObject(r) {
		w := fieldWalker{g: g, budget: 400}
		w.walk(r, "", false, 0)
	}
	return g
}

func mentionsCursor(desc string) bool {
	d := strings.ToLower(desc)
	return strings.Contains(d, "cursor") || strings.Contains(d, "token")
}

// fieldWalker visits the non-array properties of an envelope (arrays
// hold records, not paging state), to depth 4, within a node budget:
// envelopes are small, but a schema handed in by a hostile doc need not
// be. It allocates only for the few fields whose names play a paging role.
type fieldWalker struct {
	g      *signals
	path   []string
	budget int
	nb     []byte // scratch for normalised names
}

func (w *fieldWalker) walk(s *Schema, parent string, viaAlt bool, depth int) {
	if s == nil || depth > 4 || w.budget <= 0 {
		return
	}
	for _, p := range s.Properties {
		if w.budget--; w.budget <= 0 {
			return
		}
		if isArray(p.Schema) {
			continue
		}
		w.path = append(w.path, p.Name)
		w.nb = appendNorm(w.nb[:0], p.Name)
		if fieldNamesOfInterest[string(w.nb)] {
			classifyField(w.g, field{keys: slices.Clone(w.path), name: p.Name, n: string(w.nb), parent: norm(parent), s: p.Schema, viaAlt: viaAlt})
		}
		if isObject(p.Schema) {
			w.walk(p.Schema, p.Name, viaAlt, depth+1)
		}
		w.path = w.path[:len(w.path)-1]
	}
	for _, alt := range s.OneOf {
		w.walk(alt, parent, true, depth+1)
	}
}

// fieldNamesOfInterest is every normalised name classifyField can give a
// role to; other fields are passed over without a look.
var fieldNamesOfInterest = func() map[string]bool {
	m := map[string]bool{"href": true, "url": true, "uri": true, "link": true, "after": true}
	for _, set := range []map[string]bool{nextURLFieldNames, cursorFieldNames, tokenFieldNames, moreFieldNames, totalFieldNames, pageEchoNames} {
		for k := range set {
			m[k] = true
		}
	}
	for _, list := range [][]string{offsetParamNames, sizeParamNames} {
		for _, k := range list {
			m[k] = true
		}
	}
	return m
}()

func classifyField(g *signals, f field) {
	s := f.s
	// Deeper than the top, paging state lives in a paging or envelope
	// object (meta.total, response_metadata.next_cursor); a "total" inside
	// a "score" object counts something else.
	if len(f.keys) > 1 && !metaNames[f.parent] && !envelopeNames[f.parent] && !linkishParents[f.parent] {
		return
	}
	switch {
	case s != nil && s.Type == "boolean":
		if moreFieldNames[f.n] {
			g.more = append(g.more, f)
		}
		return
	case isNumeric(s):
		switch {
		case totalFieldNames[f.n]:
			g.total = append(g.total, f)
		case pageEchoNames[f.n] || f.n == "nextpage":
			g.pageEcho = append(g.pageEcho, f)
		case len(f.keys) <= 2 && indexOf(offsetParamNames, f.n) >= 0:
			g.offsetEcho = append(g.offsetEcho, f)
		case len(f.keys) <= 2 && indexOf(sizeParamNames, f.n) >= 0:
			g.sizeEcho = append(g.sizeEcho, f)
		}
		return
	case isObject(s):
		return
	}
	if !isStringish(s) {
		return
	}
	// A URL-valued "href"/"url" under a "next" object: _links.next.href.
	if f.parent == "next" && (f.n == "href" || f.n == "url" || f.n == "uri" || f.n == "link") {
		g.nextURL = append(g.nextURL, f)
		return
	}
	switch {
	case nextURLFieldNames[f.n]:
		if ok, _ := urlish(f); ok {
			g.nextURL = append(g.nextURL, f)
		} else if f.n == "next" {
			// A next value that is not a URL is a cursor to send back.
			g.cursorF = append(g.cursorF, f)
		}
	case tokenFieldNames[f.n]:
		g.tokenF = append(g.tokenF, f)
	case cursorFieldNames[f.n], f.n == "after" && (f.parent == "cursors" || f.parent == "paging"):
		g.cursorF = append(g.cursorF, f)
	}
}

// urlish reports whether a next field holds a URL, and why.
func urlish(f field) (bool, string) {
	s := f.s
	if s != nil {
		switch strings.ToLower(s.Format) {
		case "uri", "url", "uri-reference", "iri", "iri-reference":
			return true, "its format is " + s.Format
		}
	}
	if strings.Contains(f.n, "url") || strings.Contains(f.n, "link") || strings.Contains(f.n, "uri") || strings.Contains(f.n, "href") {
		return true, "its name says it is a link"
	}
	if linkishParents[f.parent] {
		return true, fmt.Sprintf("it sits in the %q object", f.keys[len(f.keys)-2])
	}
	if s != nil {
		d := strings.ToLower(s.Description)
		if strings.Contains(d, "url") || strings.Contains(d, "uri") || strings.Contains(d, "link") {
			return true, "its description calls it a URL"
		}
		if ex, ok := s.Example.(string); ok && (strings.HasPrefix(ex, "http://") || strings.HasPrefix(ex, "https://") || strings.HasPrefix(ex, "/")) {
			return true, "its example is a URL"
		}
	}
	return false, ""
}

// pick returns the parameter whose normalised name comes first in names.
func pick(ps []*Parameter, names []string) *Parameter {
	var best *Parameter
	bi := len(names) + 1
	for _, p := range ps {
		if i := indexOf(names, norm(p.Name)); i >= 0 && i < bi {
			best, bi = p, i
		}
	}
	if best == nil && len(ps) > 0 {
		best = ps[0]
	}
	return best
}

// firstField prefers fields outside oneOf alternatives, then the
// shallowest, then document order.
func firstField(fs []field) *field {
	var best *field
	for i := range fs {
		f := &fs[i]
		if best == nil || !f.viaAlt && best.viaAlt || f.viaAlt == best.viaAlt && len(f.keys) < len(best.keys) {
			best = f
		}
	}
	return best
}

func maxOf(p *Parameter) int {
	if p == nil || p.Schema == nil || p.Schema.Maximum == nil {
		return 0
	}
	m := *p.Schema.Maximum
	if m < 1 || m > 1e9 {
		return 0
	}
	return int(m)
}

// startPage is the first page number: the parameter's minimum, else its
// default, else 1.
func startPage(p *Parameter) (int, string) {
	if p.Schema != nil {
		if m := p.Schema.Minimum; m != nil && *m >= 0 && *m <= 1 {
			return int(*m), fmt.Sprintf("%q has minimum %d", p.Name, int(*m))
		}
		if d, ok := intValue(p.Schema.Default); ok && d >= 0 && d <= 1 {
			return d, fmt.Sprintf("%q defaults to %d", p.Name, d)
		}
	}
	return 1, "pages count from 1 (no minimum or default given)"
}

func intValue(v any) (int, bool) {
	switch t := v.(type) {
	case int:
		return t, true
	case int64:
		return int(t), true
	case uint64:
		return int(t), true
	case float64:
		if t == float64(int(t)) {
			return int(t), true
		}
	case string:
		if n, err := strconv.Atoi(t); err == nil {
			return n, true
		}
	}
	return 0, false
}

// core strips the "next"/"starting" words that distinguish a returned
// cursor from the parameter that sends it back: next_cursor ↔ cursor,
// nextPageToken ↔ pageToken, NextMarker ↔ marker.
func core(n string) string {
	for _, p := range []string{"next", "starting", "start"} {
		if strings.HasPrefix(n, p) && len(n) > len(p) {
			return n[len(p):]
		}
	}
	return n
}

// inferPaging maps an operation's paging signals onto one of the spec's
// styles. Order encodes precedence: what the doc declares or says outright
// beats what convention suggests, and server-driven links beat client
// arithmetic unless the link is only sometimes present.
func inferPaging(g *signals) Paging {
	pg := choosePaging(g)
	pg.Inference.Confidence = clamp(pg.Inference.Confidence, 0, 0.95)
	return pg
}

func choosePaging(g *signals) Paging {
	var pg Paging
	ev := func(format string, a ...any) {
		pg.Inference.Evidence = append(pg.Inference.Evidence, fmt.Sprintf(format, a...))
	}
	size := pick(g.size, sizeParamNames)
	setSize := func() {
		if size == nil {
			return
		}
		pg.SizeParam = size.Name
		pg.MaxPageSize = maxOf(size)
		if pg.MaxPageSize > 0 {
			ev("query parameter %q sets the page size (maximum %d)", size.Name, pg.MaxPageSize)
		} else {
			ev("query parameter %q sets the page size", size.Name)
		}
	}
	stops := func() {
		if f := firstField(g.more); f != nil {
			pg.MoreField = f.path()
			ev("boolean field %q says whether more records follow", pg.MoreField)
		}
		if f := firstField(g.total); f != nil {
			pg.TotalField = f.path()
			ev("integer field %q holds the total count", pg.TotalField)
		}
	}
	bodyCursor := len(g.cursorF)+len(g.tokenF) > 0
	nextURL := firstField(g.nextURL)

	// 1. A Link header the response declares, or prose that says so.
	if g.linkHeader || g.linkProse != "" && !bodyCursor && nextURL == nil {
		pg.Style = PageLinkHeader
		switch {
		case g.linkHeader && g.linkProse != "":
			pg.Inference.Confidence = 0.95
			ev("the response declares a Link header")
			ev("the docs mention %q", g.linkProse)
		case g.linkHeader:
			pg.Inference.Confidence = 0.8
			ev("the response declares a Link header")
		default:
			pg.Inference.Confidence = 0.9
			ev("the docs mention %q (no Link header is declared)", g.linkProse)
		}
		setSize()
		stops()
		return pg
	}

	// 2. A response header that carries the next page or cursor.
	if len(g.nextHeaders) > 0 {
		h := g.nextHeaders[0]
		var back *Parameter
		switch {
		case strings.Contains(h, "page") && !strings.Contains(h, "token") && len(g.page) > 0:
			back = pick(g.page, pageParamNames)
		case len(g.token) > 0:
			back = pick(g.token, tokenParamNames)
		case len(g.cursor) > 0:
			back = pick(g.cursor, cursorParamNames)
		}
		urlHeader := strings.Contains(h, "url") || strings.Contains(h, "link") || strings.Contains(h, "uri")
		if back != nil || urlHeader {
			pg.Style = PageHeader
			pg.Header = h
			pg.Inference.Confidence = 0.75
			if back != nil {
				pg.CursorParam = back.Name
				ev("response header %q carries the next page, sent back as query parameter %q", h, back.Name)
			} else {
				ev("response header %q carries the next page's URL", h)
			}
			setSize()
			stops()
			return pg
		}
	}

	// 3. A cursor or token in the body, sent back as a query parameter.
	if bodyCursor {
		fields := append(append([]field(nil), g.tokenF...), g.cursorF...)
		params := append(append([]*Parameter(nil), g.token...), g.cursor...)
		f, p, how := pairCursor(fields, params)
		if p != nil {
			pg.CursorPath = f.path()
			pg.CursorParam = p.Name
			pg.Style = PageCursor
			if strings.Contains(f.n, "token") || strings.Contains(norm(p.Name), "token") ||
				strings.HasPrefix(core(f.n), "continu") || strings.HasPrefix(norm(p.Name), "continu") {
				pg.Style = PageToken
			}
			switch how {
			case "param names field":
				pg.Inference.Confidence = 0.92
				ev("query parameter %q's description names response field %q", p.Name, f.name)
			case "field names param":
				pg.Inference.Confidence = 0.92
				ev("response field %q's description names query parameter %q", pg.CursorPath, p.Name)
			case "named":
				pg.Inference.Confidence = 0.82
				ev("response field %q pairs by name with query parameter %q", pg.CursorPath, p.Name)
			default:
				pg.Inference.Confidence = 0.62
				ev("response field %q is the only cursor, %q the only parameter to send it back", pg.CursorPath, p.Name)
			}
			setSize()
			stops()
			return pg
		}
		if nextURL == nil {
			return unknownPaging(g, fmt.Sprintf("response field %q looks like a cursor, but no query parameter takes it back", firstField(fields).path()))
		}
	}

	// 4. A URL-valued next field, unless it is only sometimes there and the
	// parameters say how to page on their own.
	if nextURL != nil && !(nextURL.viaAlt && len(g.page)+len(g.offset) > 0) {
		pg.Style = PageNextURL
		pg.NextURLPath = nextURL.path()
		_, why := urlish(*nextURL)
		if nextURL.parent == "next" {
			why = "it is the link of the \"next\" object"
		}
		ev("response field %q holds the next page's URL (%s)", pg.NextURLPath, why)
		pg.Inference.Confidence = 0.8
		if nextURL.n != "next" || nextURL.s != nil && nextURL.s.Format != "" {
			pg.Inference.Confidence = 0.86
		}
		setSize()
		stops()
		return pg
	}

	// 5. Page numbers.
	if len(g.page) > 0 {
		p := pick(g.page, pageParamNames)
		pg.Style = PagePageNumber
		pg.PageParam = p.Name
		sp, why := startPage(p)
		pg.StartPage = &sp
		ev("query parameter %q selects the page; %s", p.Name, why)
		pg.Inference.Confidence = 0.65
		if size != nil {
			pg.Inference.Confidence = 0.8
		}
		setSize()
		stops()
		if pg.TotalField != "" || pg.MoreField != "" || nextURL != nil || len(g.pageEcho) > 0 {
			pg.Inference.Confidence += 0.05
		}
		if nextURL != nil {
			ev("response field %q also links the next page, but only in some response shapes", nextURL.path())
		}
		return pg
	}

	// 6. Offset and limit.
	if len(g.offset) > 0 {
		o := pick(g.offset, offsetParamNames)
		pg.Style = PageOffset
		pg.OffsetParam = o.Name
		ev("query parameter %q sets the offset of the first record", o.Name)
		pg.Inference.Confidence = 0.65
		if size != nil {
			pg.LimitParam = size.Name
			pg.MaxPageSize = maxOf(size)
			pg.Inference.Confidence = 0.8
			if pg.MaxPageSize > 0 {
				ev("query parameter %q sets the page size (maximum %d)", size.Name, pg.MaxPageSize)
			} else {
				ev("query parameter %q sets the page size", size.Name)
			}
		}
		stops()
		if pg.TotalField != "" || pg.MoreField != "" {
			pg.Inference.Confidence += 0.05
		}
		if strings.Contains(g.prose, "paginat") {
			pg.Inference.Confidence += 0.05
			ev("the parameters' descriptions speak of pagination")
		}
		if nextURL != nil {
			ev("response field %q also links the next page, but only in some response shapes", nextURL.path())
		}
		pg.Inference.Confidence = clamp(pg.Inference.Confidence, 0, 0.93)
		return pg
	}

	// 7. No paging parameters declared, but the envelope echoes the
	// request's offset (or page) next to a stop field: the parameters are
	// conventionally named like the echo. Said with low confidence.
	if len(g.cursor)+len(g.token)+len(g.size)+len(g.back)+len(g.nextHeaders) == 0 && !bodyCursor && nextURL == nil &&
		len(g.more)+len(g.total) > 0 {
		var echo *field
		style := ""
		if f := firstField(g.offsetEcho); f != nil {
			echo, style = f, PageOffset
		} else {
			for i := range g.pageEcho {
				if n := g.pageEcho[i].n; (n == "page" || n == "pagenumber") && len(g.pageEcho[i].keys) <= 2 {
					echo, style = &g.pageEcho[i], PagePageNumber
					break
				}
			}
		}
		if echo != nil {
			pg.Style = style
			ev("no paging parameters are declared, but the response echoes %q", echo.path())
			if style == PageOffset {
				pg.OffsetParam = echo.name
			} else {
				pg.PageParam = echo.name
				one := 1
				pg.StartPage = &one
			}
			if f := firstField(g.sizeEcho); f != nil {
				if style == PageOffset {
					pg.LimitParam = f.name
				} else {
					pg.SizeParam = f.name
				}
				ev("and %q", f.path())
			}
			ev("assumed to be query parameters of the same names; check the docs")
			stops()
			pg.Inference.Confidence = 0.5
			return pg
		}
	}

	// 8. Hints that fit no style, or none at all.
	if g.any() {
		return unknownPaging(g, "")
	}
	pg.Style = PageNone
	pg.Inference = Inference{Confidence: 0.5, Evidence: []string{"no paging parameters, response fields or headers"}}
	return pg
}

// pairCursor matches a returned cursor field with the parameter that
// sends it back: by a description naming the other, by name, or as the
// only pair; how says which.
func pairCursor(fields []field, params []*Parameter) (*field, *Parameter, string) {
	if len(fields) == 0 || len(params) == 0 {
		return nil, nil, ""
	}
	// A field that says "next" is the cursor to send; a bare "marker" or
	// "cursor" beside it is often the echo of the one just sent.
	sort.SliceStable(fields, func(i, j int) bool {
		return strings.HasPrefix(fields[i].n, "next") && !strings.HasPrefix(fields[j].n, "next")
	})
	for i := range fields {
		f := &fields[i]
		for _, p := range params {
			if containsWord(p.Description, f.name) || f.path() != f.name && containsWord(p.Description, f.path()) {
				return f, p, "param names field"
			}
			if f.s != nil && containsWord(f.s.Description, p.Name) {
				return f, p, "field names param"
			}
		}
	}
	for i := range fields {
		f := &fields[i]
		for _, p := range params {
			if pn := norm(p.Name); f.n == pn || core(f.n) == core(pn) {
				return f, p, "named"
			}
		}
	}
	if len(params) == 1 {
		return &fields[0], params[0], "alone"
	}
	return nil, nil, ""
}

// unknownPaging reports hints that fit no known style: a person or the
// agent decides, nothing is guessed.
func unknownPaging(g *signals, why string) Paging {
	pg := Paging{Style: PageUnknown, Inference: Inference{Confidence: 0.3}}
	ev := func(format string, a ...any) {
		pg.Inference.Evidence = append(pg.Inference.Evidence, fmt.Sprintf(format, a...))
	}
	if why != "" {
		ev("%s", why)
	}
	names := func(ps []*Parameter) string {
		var b strings.Builder
		for i, p := range ps {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(p.Name))
		}
		return b.String()
	}
	fnames := func(fs []field) string {
		var b strings.Builder
		for i, f := range fs {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(f.path()))
		}
		return b.String()
	}
	if len(g.size) > 0 {
		ev("page size parameter %s", names(g.size))
	}
	if len(g.cursor)+len(g.token) > 0 {
		ev("cursor parameter %s, but no response field or header returns a cursor", names(append(append([]*Parameter(nil), g.cursor...), g.token...)))
	}
	if len(g.back) > 0 {
		ev("backward cursor parameter %s", names(g.back))
	}
	if len(g.nextHeaders) > 0 {
		ev("response header %q, but no parameter to send its value back in", g.nextHeaders[0])
	}
	if len(g.more) > 0 {
		ev("more-records field %s", fnames(g.more))
	}
	if len(g.total) > 0 {
		ev("total field %s", fnames(g.total))
	}
	if len(g.cursor)+len(g.token)+len(g.page)+len(g.offset)+len(g.nextURL)+len(g.cursorF)+len(g.tokenF)+len(g.nextHeaders) == 0 {
		ev("nothing says how to request the next page")
	}
	return pg
}
