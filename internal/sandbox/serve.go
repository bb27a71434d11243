package sandbox

import (
	"encoding/base64"
	"fmt"
	"github.com/spindlehq/spindle/internal/names"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/apisurface"
)

// Handler serves the sandbox: the doc's GET operations under the first
// server URL's path, and the oauth2 token endpoints. It has no other
// endpoints: nothing reachable over HTTP changes the sandbox.
//
// A truncate fault aborts its response with panic(http.ErrAbortHandler),
// which net/http turns into a closed connection; serve the handler with
// net/http (Start, httptest.NewServer), not a bare ResponseRecorder, when
// that fault is on.
func (sb *Sandbox) Handler() http.Handler { return http.HandlerFunc(sb.serveHTTP) }

func (sb *Sandbox) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	e := &LogEntry{Time: start.UTC(), Method: r.Method, Path: r.URL.EscapedPath(),
		Query: sb.cleanQuery(r.URL.Query(), false).Encode()}
	defer func() {
		e.Status, e.Bytes, e.Duration = rec.status, rec.bytes, time.Since(start)
		if e.Status == 0 {
			e.Status = http.StatusOK
		}
		sb.log.add(*e)
	}()
	if schemes, ok := sb.tokenEPs[r.URL.Path]; ok && r.Method == http.MethodPost {
		sb.serveToken(rec, r, schemes, e)
		return
	}
	sb.serveAPI(rec, r, e)
}

// serveAPI answers in the order real vendors do: route, authenticate (so
// an unauthenticated caller learns nothing more than that it must
// authenticate), validate, inject faults, then the data.
func (sb *Sandbox) serveAPI(w http.ResponseWriter, r *http.Request, e *LogEntry) {
	var entry *pathEntry
	var vals map[int]string
	if rel, ok := cutBase(r.URL.EscapedPath(), sb.basePath); ok {
		if parts, ok := splitRequestPath(rel); ok {
			entry, vals = sb.router.match(parts)
		}
	}
	if entry == nil || entry.get == nil {
		if out := sb.authenticate(sb.docSec, r); out.status != 0 {
			sb.writeAuthError(w, nil, out)
			return
		}
		if entry != nil {
			sb.writeError(w, nil, http.StatusMethodNotAllowed, "method_not_allowed", "the sandbox serves GET operations only")
			return
		}
		sb.writeError(w, nil, http.StatusNotFound, "not_found", "no operation of this API has this path")
		return
	}
	rt := entry.get
	e.Operation = rt.key
	out := sb.authenticate(rt.security, r)
	if out.status != 0 {
		sb.writeAuthError(w, rt.op, out)
		return
	}
	e.Scheme, e.Scopes = out.scheme, out.scopes
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		sb.writeError(w, rt.op, http.StatusMethodNotAllowed, "method_not_allowed", "the sandbox serves GET operations only")
		return
	}
	q := r.URL.Query()
	for _, p := range rt.required {
		if !q.Has(p.name) {
			sb.writeError(w, rt.op, http.StatusBadRequest, "invalid_request", "missing required query parameter "+strconv.Quote(p.name))
			return
		}
		// list=true where GET stands in for a LIST verb: any other value
		// asks for something else, which the sandbox does not serve.
		if v := q.Get(p.name); len(p.enum) > 0 && !slices.Contains(p.enum, v) {
			sb.writeError(w, rt.op, http.StatusBadRequest, "invalid_request",
				fmt.Sprintf("query parameter %q must be one of %s", p.name, strings.Join(p.enum, ", ")))
			return
		}
	}
	answered, truncate := sb.injectFaults(w, r, rt, e)
	if answered {
		return
	}
	status, body, err := sb.body(rt, r, vals, w.Header())
	if err != nil {
		sb.writeError(w, rt.op, err.status, err.code, err.msg)
		return
	}
	b, jerr := encodeJSON(body)
	if jerr != nil {
		sb.writeError(w, rt.op, http.StatusInternalServerError, "internal_error", "the sandbox could not encode this response")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if truncate {
		// A valid prefix, then the connection closes under the client.
		_, _ = w.Write(b[:len(b)/2])
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	_, _ = w.Write(b)
}

func cutBase(escaped, base string) (string, bool) {
	if base == "" {
		return escaped, true
	}
	if escaped == base {
		return "/", true
	}
	rest, ok := strings.CutPrefix(escaped, base+"/")
	return "/" + rest, ok
}

type httpError struct {
	status    int
	code, msg string
}

func notFound(msg string) *httpError { return &httpError{http.StatusNotFound, "not_found", msg} }

func badRequest(msg string) *httpError {
	return &httpError{http.StatusBadRequest, "invalid_request", msg}
}

// body builds the response of a matched GET: a page of a list, one record
// of a list, or an object.
func (sb *Sandbox) body(rt *route, r *http.Request, vals map[int]string, hdr http.Header) (int, any, *httpError) {
	status := http.StatusOK
	if n, err := strconv.Atoi(rt.op.ResponseStatus); err == nil && n >= 200 && n < 300 && n != http.StatusNoContent {
		status = n
	}
	// Every bound path parameter must name an existing record, outermost
	// first: /services/{id}/integrations 404s for an unknown service.
	scope := ""
	for t, b := range rt.binds {
		v := vals[b.seg]
		ids := sb.ids(b.list, scope)
		i := slices.IndexFunc(ids, func(id idVal) bool { return id.s == v })
		if i < 0 {
			return 0, nil, notFound(fmt.Sprintf("no record with id %q at %s", v, b.list.route.op.Path))
		}
		if rt.role == RoleItem && t == len(rt.binds)-1 {
			return status, rt.env.markOK(sb.itemBody(rt, scope, i, ids)), nil
		}
		scope = joinScope(scope, v)
	}
	if rt.role == RoleList {
		body, err := sb.page(rt.list, scope, r, hdr)
		return status, rt.env.markOK(body), err
	}
	if rt.op.Response == nil {
		return status, &object{}, nil
	}
	return status, rt.env.markOK(sb.bodyValue(rt.op.Response, hashOf(sb.seed, "object", rt.key, r.URL.EscapedPath()))), nil
}

func (sb *Sandbox) itemBody(rt *route, scope string, i int, ids []idVal) any {
	rec := sb.recordValue(rt.list, scope, i, rt.recSchema, ids)
	if o, ok := rec.(*object); ok && rt.recID != "" && i < len(ids) {
		o.set(rt.recID, ids[i].v) // an item of a list of bare ids
	}
	if len(rt.recPath) == 0 {
		return rec
	}
	env := sb.bodyValue(stubAt(rt.op.Response, rt.recPath), hashOf(sb.seed, "item-envelope", rt.key, scope, strconv.Itoa(i)))
	return setPath(env, rt.recPath, rec)
}

// stubAt copies s with the property at path (the records, generated
// separately) replaced by an empty array, copying only the objects along
// the way: the envelope keeps the doc's key order and costs nothing for
// the records it would otherwise generate and throw away.
func stubAt(s *apisurface.Schema, segs []string) *apisurface.Schema {
	if s == nil || len(segs) == 0 {
		return s
	}
	c := *s
	c.Properties = slices.Clone(s.Properties)
	for i, p := range c.Properties {
		if p.Name != segs[0] {
			continue
		}
		if len(segs) > 1 {
			c.Properties[i].Schema = stubAt(p.Schema, segs[1:])
		} else {
			c.Properties[i].Schema = &apisurface.Schema{Type: "array", MaxItems: new(int)}
		}
	}
	if !slices.Contains(c.Required, segs[0]) {
		c.Required = append(slices.Clone(c.Required), segs[0])
	}
	return &c
}

// pageReq is a decoded page request.
type pageReq struct {
	off, size int
	page      int // the page number, for page_number-style positions
}

// position is how a paging style's next request says where to start.
type position struct {
	kind  string // page, offset, cursor
	param string
	start int // page numbering start
}

func (l *list) position() position {
	p := l.paging
	start := 1
	if p.StartPage != nil {
		start = *p.StartPage
	}
	switch p.Style {
	case apisurface.PagePageNumber:
		return position{"page", p.PageParam, start}
	case apisurface.PageOffset:
		return position{"offset", p.OffsetParam, 0}
	case apisurface.PageCursor, apisurface.PageToken:
		return position{"cursor", p.CursorParam, 0}
	case apisurface.PageLinkHeader, apisurface.PageNextURL, apisurface.PageHeader:
		// The server chooses what its next links carry; the doc's names
		// where it gives some.
		switch {
		case p.CursorParam != "":
			return position{"cursor", p.CursorParam, 0}
		case p.PageParam != "":
			return position{"page", p.PageParam, start}
		case p.OffsetParam != "":
			return position{"offset", p.OffsetParam, 0}
		}
		return position{"page", "page", start}
	}
	return position{}
}

func (l *list) sizeParam() string {
	if l.paging.Style == apisurface.PageOffset && l.paging.LimitParam != "" {
		return l.paging.LimitParam
	}
	return l.paging.SizeParam
}

// pageRequest decodes the page a request asks for, as the list's paging
// style reads it. Sizes above the maximum are clamped, as vendors do: an
// integration that asks for more than it gets and stops on a short page
// misses records, which is the point.
func (sb *Sandbox) pageRequest(l *list, scope string, q url.Values, total int) (pageReq, *httpError) {
	style := l.paging.Style
	bodySignal := style == apisurface.PageNextURL || style == apisurface.PageCursor || style == apisurface.PageToken
	if style == apisurface.PageNone || style == apisurface.PageUnknown || style == "" ||
		(bodySignal && len(l.recordsPath) == 0) { // a bare array cannot carry a next link: one page
		return pageReq{off: 0, size: max(total, 1)}, nil
	}
	maxSize := l.paging.MaxPageSize
	if maxSize <= 0 {
		maxSize = hardMaxPageSize
	}
	pr := pageReq{size: min(DefaultPageSize, maxSize)}
	if sp := l.sizeParam(); sp != "" && q.Has(sp) {
		n, err := strconv.Atoi(q.Get(sp))
		if err != nil || n < 1 {
			return pr, badRequest(fmt.Sprintf("query parameter %s must be a positive integer", sp))
		}
		pr.size = min(n, maxSize)
	}
	pos := l.position()
	if pos.param == "" || !q.Has(pos.param) {
		pr.page = pos.start
		return pr, nil
	}
	v := q.Get(pos.param)
	switch pos.kind {
	case "page":
		n, err := strconv.Atoi(v)
		if err != nil || n < pos.start {
			return pr, badRequest(fmt.Sprintf("query parameter %s must be an integer of %d or more", pos.param, pos.start))
		}
		pr.page, pr.off = n, (n-pos.start)*pr.size
	case "offset":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return pr, badRequest(fmt.Sprintf("query parameter %s must be a non-negative integer", pos.param))
		}
		pr.off = n
	case "cursor":
		off, ok := sb.decodeCursor(l, scope, v)
		if !ok {
			return pr, badRequest(fmt.Sprintf("query parameter %s is not a cursor this API issued", pos.param))
		}
		pr.off = off
	}
	return pr, nil
}

// Cursors are opaque to clients but carry the offset and a check, so a
// forged or stale cursor is refused rather than silently misread.
func (sb *Sandbox) encodeCursor(l *list, scope string, off int) string {
	c := hashOf(sb.seed, "cursor", l.route.key, scope, strconv.Itoa(off)) & 0xffffffff
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d:%08x", off, c)))
}

func (sb *Sandbox) decodeCursor(l *list, scope, s string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	o, _, ok := strings.Cut(string(b), ":")
	off, err := strconv.Atoi(o)
	if !ok || err != nil || off < 0 || sb.encodeCursor(l, scope, off) != s {
		return 0, false
	}
	return off, true
}

// page builds one page of list l under scope: the records, the envelope
// around them, and the paging signals the doc declares.
func (sb *Sandbox) page(l *list, scope string, r *http.Request, hdr http.Header) (any, *httpError) {
	ids := sb.ids(l, scope)
	total := len(ids)
	pr, err := sb.pageRequest(l, scope, r.URL.Query(), total)
	if err != nil {
		return nil, err
	}
	from, to := min(pr.off, total), min(pr.off+pr.size, total)
	recs := make([]any, 0, to-from)
	for i := from; i < to; i++ {
		recs = append(recs, sb.recordValue(l, scope, i, l.records, ids))
	}
	more := pr.off+pr.size < total
	next := pr
	next.off += pr.size
	next.page++

	var body any = recs
	if len(l.recordsPath) > 0 {
		env := stubAt(l.env, l.recordsPath)
		body = sb.bodyValue(env, hashOf(sb.seed, "envelope", l.route.key, scope, strconv.Itoa(pr.off)))
		sb.honestEnvelope(body, pr, total, more, l.paging.Style == apisurface.PagePageNumber)
		body = setPath(body, l.recordsPath, recs)
	}
	env := l.env
	p := l.paging
	nextURL := func() string { return sb.pageURL(l, scope, r, next) }
	switch p.Style {
	case apisurface.PageLinkHeader:
		var links []string
		if more {
			links = append(links, fmt.Sprintf("<%s>; rel=\"next\"", nextURL()))
		}
		links = append(links, fmt.Sprintf("<%s>; rel=\"first\"", sb.pageURL(l, scope, r, pageReq{off: 0, size: pr.size, page: l.position().start})))
		hdr.Set("Link", strings.Join(links, ", "))
	case apisurface.PageNextURL:
		if more {
			body = setPath(body, splitPath(p.NextURLPath), nextURL())
		} else {
			body = terminal(body, env, splitPath(p.NextURLPath))
		}
	case apisurface.PageCursor, apisurface.PageToken:
		if more {
			body = setPath(body, splitPath(p.CursorPath), sb.encodeCursor(l, scope, next.off))
		} else {
			body = terminal(body, env, splitPath(p.CursorPath))
		}
	case apisurface.PageHeader:
		if more && p.Header != "" {
			if p.CursorParam != "" {
				hdr.Set(p.Header, sb.encodeCursor(l, scope, next.off))
			} else {
				hdr.Set(p.Header, nextURL())
			}
		}
	}
	if p.MoreField != "" && len(l.recordsPath) > 0 {
		body = setPath(body, splitPath(p.MoreField), more)
	}
	if p.TotalField != "" && len(l.recordsPath) > 0 {
		body = setPath(body, splitPath(p.TotalField), int64(total))
	}
	return body, nil
}

// pageURL is the absolute URL of page pr: this request's URL with the
// position (and size) parameters set, credentials left out.
func (sb *Sandbox) pageURL(l *list, scope string, r *http.Request, pr pageReq) string {
	q := sb.cleanQuery(r.URL.Query(), true)
	pos := l.position()
	switch pos.kind {
	case "page":
		q.Set(pos.param, strconv.Itoa(pr.page))
	case "offset":
		q.Set(pos.param, strconv.Itoa(pr.off))
	case "cursor":
		q.Set(pos.param, sb.encodeCursor(l, scope, pr.off))
	}
	if sp := l.sizeParam(); sp != "" {
		q.Set(sp, strconv.Itoa(pr.size))
	}
	u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: q.Encode()}
	return u.String()
}

// terminal marks the end of paging at path: null where the schema allows
// it, absent where the field is optional, else "".
func terminal(body any, env *apisurface.Schema, segs []string) any {
	if len(segs) == 0 {
		return body
	}
	s := env.At(segs)
	parent := env.At(segs[:len(segs)-1])
	required := parent != nil && slices.Contains(parent.Required, segs[len(segs)-1])
	switch {
	case s == nil || s.Nullable:
		return setPath(body, segs, nil)
	case !required:
		delPath(body, segs)
		return body
	case s.Type == "string" || s.Type == "":
		return setPath(body, segs, "")
	}
	return setPath(body, segs, nil)
}

// honestEnvelope makes common paging siblings in the envelope (limit,
// offset, total, more, page; at the top level or one object down) tell
// the truth instead of holding random numbers, as a real vendor's would.
func (sb *Sandbox) honestEnvelope(body any, pr pageReq, total int, more, pageStyle bool) {
	var visit func(o *object, depth int)
	visit = func(o *object, depth int) {
		for i, k := range o.keys {
			v := o.vals[i]
			switch sn := names.Snake(k); {
			case isInt(v) && (sn == "limit" || sn == "per_page" || sn == "page_size"):
				o.vals[i] = int64(pr.size)
			case isInt(v) && sn == "offset":
				o.vals[i] = int64(pr.off)
			case isInt(v) && (sn == "total" || sn == "total_count" || sn == "total_results" || sn == "total_items"):
				o.vals[i] = int64(total)
			case isInt(v) && pageStyle && (sn == "page" || sn == "current_page" || sn == "page_number"):
				o.vals[i] = int64(pr.page)
			case isBool(v) && (sn == "more" || sn == "has_more" || sn == "has_next" || sn == "has_next_page"):
				o.vals[i] = more
			default:
				if child, ok := v.(*object); ok && depth == 0 {
					visit(child, 1)
				}
			}
		}
	}
	if o, ok := body.(*object); ok {
		visit(o, 0)
	}
}

func isInt(v any) bool  { _, ok := v.(int64); return ok }
func isBool(v any) bool { _, ok := v.(bool); return ok }

// Errors.

func statusCode(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusBadRequest:
		return "invalid_request"
	case http.StatusNotFound:
		return "not_found"
	}
	if status >= 500 {
		return "server_error"
	}
	return strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
}

func (sb *Sandbox) writeAuthError(w http.ResponseWriter, op *apisurface.Operation, out authOutcome) {
	if out.www != "" {
		w.Header().Set("WWW-Authenticate", out.www)
	}
	sb.writeError(w, op, out.status, out.code, out.message)
}

// writeError answers in the vendor's error style: the doc's error schema
// for this status (the operation's, else any operation's), filled with
// the message; a generic JSON error when the doc has none.
//
// An API that answers errors in band (a success flag, HTTP 200) gets its
// client errors that way too: status 200, the flag false, the error
// field holding the documented code closest to the situation.
func (sb *Sandbox) writeError(w http.ResponseWriter, op *apisurface.Operation, status int, code, msg string) {
	var body any
	env := sb.envOf(op)
	s := sb.errorSchema(op, status)
	if s == nil && env != nil {
		s = env.errShape
	}
	if s != nil {
		body = sb.bodyValue(s, hashOf(sb.seed, "error", strconv.Itoa(status)))
		fillError(body, status, code, msg, 0)
		fixEnums(body, s, code, 0)
		body = env.markError(body, s, code)
		status = env.inBandStatus(status)
	} else if env != nil {
		// No documented error body: the flag and the code are the style.
		body = env.markError(&object{}, nil, code)
		status = env.inBandStatus(status)
	} else {
		body = &object{keys: []string{"error"}, vals: []any{
			&object{keys: []string{"code", "message", "status"}, vals: []any{code, msg, int64(status)}}}}
	}
	b, _ := encodeJSON(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (sb *Sandbox) errorSchema(op *apisurface.Operation, status int) *apisurface.Schema {
	lookup := func(m map[string]*apisurface.Schema) *apisurface.Schema {
		if len(m) == 0 {
			return nil
		}
		code := strconv.Itoa(status)
		for _, k := range []string{code, code[:1] + "XX", code[:1] + "xx", "default"} {
			if s := m[k]; s != nil {
				return s
			}
		}
		// Vendors use one error shape; any documented 4xx/5xx shows it.
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.HasPrefix(k, "4") || strings.HasPrefix(k, "5") {
				return m[k]
			}
		}
		return nil
	}
	if op != nil {
		if s := lookup(op.ErrorResponses); s != nil {
			return s
		}
	}
	return lookup(sb.errs)
}

// fixEnums restores what fillError may have broken: a code written into
// a field whose schema enumerates codes becomes the closest enum value,
// so error bodies conform to the doc.
func fixEnums(v any, s *apisurface.Schema, code string, depth int) {
	o, ok := v.(*object)
	if !ok || s == nil || depth > 4 {
		return
	}
	for i, k := range o.keys {
		ps := s.At([]string{k})
		if ps == nil {
			continue
		}
		switch t := o.vals[i].(type) {
		case string:
			if len(ps.Enum) > 0 && !slices.Contains(ps.Enum, any(t)) {
				o.vals[i] = errorCodeFor(ps, code)
			}
		case *object:
			fixEnums(t, ps, code, depth+1)
		}
	}
}

// fillError writes the message and code into the error body's message-
// and code-like fields, keeping each field's type.
func fillError(v any, status int, code, msg string, depth int) {
	if depth > 4 {
		return
	}
	switch t := v.(type) {
	case *object:
		for i, k := range t.keys {
			sn := names.Snake(k)
			switch cur := t.vals[i].(type) {
			case string:
				switch sn {
				case "message", "error_message", "detail", "error_description", "description", "title", "msg", "reason":
					t.vals[i] = msg
				case "code", "error_code", "error", "type", "status":
					t.vals[i] = code
				}
			case int64:
				switch sn {
				case "code", "status", "status_code", "error_code", "http_status":
					t.vals[i] = int64(status)
				}
			case []any:
				if sn == "errors" || sn == "messages" || sn == "details" {
					if len(cur) > 0 {
						if _, isStr := cur[0].(string); isStr {
							t.vals[i] = []any{msg}
							continue
						}
					}
				}
				for _, e := range cur {
					fillError(e, status, code, msg, depth+1)
				}
			case *object:
				fillError(cur, status, code, msg, depth+1)
			}
		}
	case []any:
		for _, e := range t {
			fillError(e, status, code, msg, depth+1)
		}
	}
}
