// Package sandbox serves a synthetic copy of a vendor's API, generated from
// its API surface, on loopback: every GET operation the documentation
// declares, with synthetic non-human identities that conform to the
// response schemas, the vendor's auth schemes enforced with synthetic
// credentials, paging exactly as the surface declares it, injectable faults
// and a ground truth of what was seeded. Integrations are built and
// validated against it, never against production (architecture boundary 1),
// and its faults let validation prove that failures are loud (boundary 5).
//
// Nothing in the HTTP surface can change the sandbox: there are no admin
// endpoints, and the ground truth and request log are handed out as
// copies. EgressTransport is the dialer that keeps a runtime inside it.
//
// Generation is lazy and deterministic: a record is computed from (seed,
// operation, parent scope, index) when it is served, so a document with
// hundreds of list operations costs memory only for what is requested, and
// the same seed and surface always give byte-identical responses.
package sandbox

import (
	"errors"
	"fmt"
	"github.com/spindlehq/spindle/internal/names"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/nhi"
)

// Defaults and bounds of Options.
const (
	DefaultEntities = 25
	// MaxEntities bounds Options.Entities: records are generated lazily,
	// but ground truth lists every id, and child lists multiply.
	MaxEntities = 1000
	// DefaultPageSize is served when a request names no page size. It is
	// small on purpose, so that 25 entities already take several pages.
	DefaultPageSize = 10
	// maxChildren bounds the records of one child collection per parent
	// (depth 1) and per grandparent-or-deeper scope, so fan-out stays small.
	maxChildren      = 50
	maxGrandchildren = 5
	// hardMaxPageSize caps a page when the doc declares no maximum.
	hardMaxPageSize = 1000
)

// defaultNow is the reference "now" of the synthetic data: fixed, so the
// same seed gives the same timestamps on every run.
var defaultNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// DefaultNow is the reference time used when Options.Now is zero.
func DefaultNow() time.Time { return defaultNow }

// Options shape a sandbox. The zero value is usable.
type Options struct {
	// Seed makes the data and credentials deterministic; 0 is a seed too.
	Seed int64
	// Entities is the number of records each top-level list operation
	// holds (default DefaultEntities, at most MaxEntities). Child
	// collections hold 0..min(Entities, 50) per parent, deeper ones 0..5.
	Entities int
	// Faults to inject; see ParseFaults for the syntax.
	Faults []Fault
	// Now is the reference time: every created/last-used timestamp is at
	// or before it, expiries fall either side. Zero means DefaultNow.
	Now time.Time
}

// Sandbox is a synthetic vendor API. It is safe for concurrent use; its
// data never changes once built.
type Sandbox struct {
	title    string
	seed     uint64
	opts     Options
	now      time.Time
	basePath string // the first server URL's path, "" or "/api/v1"

	router   *router
	routes   []*route // GET routes in path order
	lists    []*list  // list routes in path order
	users    *list    // the human_user list owners reference, if any
	schemes  map[string]*authScheme
	order    []string                 // scheme names in doc order
	tokenEPs map[string][]*authScheme // token endpoint path → the schemes it serves
	vocab    []string                 // scope vocabulary: the doc's oauth scopes
	docSec   []apisurface.Requirement
	errs     map[string]*apisurface.Schema // a doc-wide error style for requests that match no operation
	env      *envelope                     // the doc-wide success flag, for requests that match no list
	faults   []*faultState

	pats  patternCache
	names nameCache

	idMu    sync.Mutex
	idCache map[string][]idVal

	auth authState
	log  requestLog
}

// route is one GET operation as served.
type route struct {
	op       *apisurface.Operation
	key      string // "GET /path/{id}"
	segs     []segment
	role     string // roleList, roleItem, roleObject
	list     *list  // roleList: its own list; roleItem: the list it reads one record of
	binds    []binding
	security []apisurface.Requirement
	// roleItem: where the record sits in the item response, and its schema.
	recPath   []string
	recSchema *apisurface.Schema
	// recID is the record property an item of a scalar list carries its
	// id in; "" when it has none.
	recID string
	// query parameters the doc marks required, with the values their
	// enum allows (none: any value).
	required []requiredParam
	// env is the success flag its responses carry; nil when none.
	env *envelope
}

// requiredParam is a query parameter a request must carry.
type requiredParam struct {
	name string
	enum []string
}

// envelope is a success flag as served: true in every success body; on
// an in-band API, false in error bodies answered with 200.
type envelope struct {
	ok, errField []string
	inBand       bool
	// errShape is the error body the success response documents as its
	// other oneOf alternative; nil when it documents none.
	errShape *apisurface.Schema
}

// Roles of a served operation.
const (
	RoleList   = "list"   // a collection: paged records
	RoleItem   = "item"   // one record of a list, by id
	RoleObject = "object" // anything else: a body generated from its schema
)

// binding says that the path parameter at segment seg holds an id of list.
type binding struct {
	seg  int
	list *list
}

// list is a list operation and what serving it needs.
type list struct {
	route       *route
	records     *apisurface.Schema
	recordsPath []string
	recordsRaw  string // RecordsPath as the surface writes it
	paging      apisurface.Paging
	idField     string
	idSchema    *apisurface.Schema
	kind        nhi.Kind
	// scalar: the records are bare identifiers or names (a string or
	// integer schema), each record its own id.
	scalar bool
	// env is the schema of a success body holding the records: the
	// response, or the oneOf alternative of it that has them.
	env        *apisurface.Schema
	k1, k2, k3 int // per-list phase of the realism cycles
	drift      []driftAction
}

func (l *list) depth() int { return len(l.route.binds) }

// parent is the list whose ids scope this one (nil for a top-level list).
func (l *list) parent() *list {
	if n := len(l.route.binds); n > 0 {
		return l.route.binds[n-1].list
	}
	return nil
}

// New builds the sandbox for s. It works on its own deep copy of s:
// changing s afterwards changes nothing here.
func New(s *apisurface.Surface, o Options) (*Sandbox, error) {
	if s == nil {
		return nil, errors.New("sandbox: no API surface")
	}
	s = cloneSurface(s)
	switch {
	case o.Entities < 0 || o.Entities > MaxEntities:
		return nil, fmt.Errorf("sandbox: Entities is %d; want 1..%d (0 means %d)", o.Entities, MaxEntities, DefaultEntities)
	case o.Entities == 0:
		o.Entities = DefaultEntities
	}
	if o.Now.IsZero() {
		o.Now = defaultNow
	}
	// Whole seconds in UTC, so timestamps are plain RFC 3339.
	o.Now = o.Now.UTC().Truncate(time.Second)
	o.Faults = slices.Clone(o.Faults)
	sb := &Sandbox{
		title: strings.TrimSpace(s.Title + " " + s.Version), seed: uint64(o.Seed), opts: o, now: o.Now,
		idCache: map[string][]idVal{}, docSec: s.Security,
	}
	sb.basePath = basePath(s.Servers)
	sb.buildAuth(s)
	if err := sb.buildRoutes(s); err != nil {
		return nil, err
	}
	if err := sb.buildFaults(o.Faults); err != nil {
		return nil, err
	}
	sb.auth.tokens = map[string]*issuedToken{}
	sb.log.max = maxLogEntries
	return sb, nil
}

// basePath is the path of the first server URL, its variables filled with
// their defaults: operations are served under it, as the vendor does.
func basePath(servers []apisurface.Server) string {
	if len(servers) == 0 {
		return ""
	}
	raw := servers[0].URL
	for _, v := range servers[0].Variables {
		raw = strings.ReplaceAll(raw, "{"+v.Name+"}", v.Default)
	}
	u, err := url.Parse(raw)
	if err != nil || strings.ContainsAny(u.Path, "{}") {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/")
}

func (sb *Sandbox) buildRoutes(s *apisurface.Surface) error {
	var entries []*pathEntry
	byTemplate := map[string]*pathEntry{}
	for i := range s.Operations {
		op := &s.Operations[i]
		segs := parseTemplate(op.Path)
		key := "/" + strings.Trim(strings.SplitN(op.Path, "?", 2)[0], "/")
		e := byTemplate[key]
		if e == nil {
			e = &pathEntry{template: key, segs: segs}
			byTemplate[key] = e
			entries = append(entries, e)
		}
		if !strings.EqualFold(op.Method, "GET") || e.get != nil {
			continue
		}
		rt := &route{op: op, key: "GET " + op.Path, segs: segs, role: RoleObject, security: op.Security}
		if rt.security == nil {
			rt.security = s.Security
		}
		e.get = rt
		sb.routes = append(sb.routes, rt)
	}
	sort.SliceStable(sb.routes, func(i, j int) bool { return sb.routes[i].op.Path < sb.routes[j].op.Path })
	sb.router = newRouter(entries)

	// Lists first: a route's bindings refer to the lists on its prefix.
	byShape := map[string]*list{}
	for _, rt := range sb.routes {
		l := newList(rt)
		if l == nil {
			continue
		}
		rt.role, rt.list = RoleList, l
		if _, dup := byShape[shapeKey(rt.segs)]; !dup {
			byShape[shapeKey(rt.segs)] = l
		}
		sb.lists = append(sb.lists, l)
	}
	for _, rt := range sb.routes {
		for k, sg := range rt.segs {
			if sg.param == "" {
				continue
			}
			if l := byShape[shapeKey(rt.segs[:k])]; l != nil && l.route != rt {
				rt.binds = append(rt.binds, binding{seg: k, list: l})
			}
		}
		if rt.role == RoleObject && len(rt.binds) > 0 {
			last := rt.binds[len(rt.binds)-1]
			if last.seg == len(rt.segs)-1 {
				rt.role, rt.list = RoleItem, last.list
			}
		}
		for _, p := range rt.op.Parameters {
			if p.In == "query" && p.Required {
				rp := requiredParam{name: p.Name}
				if p.Schema != nil {
					for _, e := range p.Schema.Enum {
						if e != nil {
							rp.enum = append(rp.enum, fmt.Sprint(e))
						}
					}
				}
				rt.required = append(rt.required, rp)
			}
		}
	}
	for _, l := range sb.lists {
		l.pickID(sb.itemParam(l))
		h := hashOf(sb.seed, "phase", l.route.key)
		l.k1, l.k2, l.k3 = int(h%5), int((h>>8)%4), int((h>>16)%9)
		if l.kind == nhi.HumanUser && l.depth() == 0 && sb.users == nil && l.idField != "" {
			sb.users = l
		}
	}
	// Item routes: find where their record sits, now that id fields are known.
	for _, rt := range sb.routes {
		if rt.role != RoleItem {
			continue
		}
		if rt.list.scalar {
			// The list only names its records; the item describes one,
			// which carries the id under the item parameter's name or an
			// id-like one.
			param := rt.segs[len(rt.segs)-1].param
			rt.recPath, rt.recSchema = findRecord(rt.op.Response, nil, param)
			if !hasProp(rt.recSchema, param) {
				rt.recPath, rt.recSchema = findRecord(rt.op.Response, nil, "id")
			}
			var idSchema *apisurface.Schema
			rt.recID, idSchema = idProp(rt.recSchema, param)
			if l := rt.list; idSchema != nil && (idSchema.Format != "" || idSchema.Pattern != "" || idSchema.Example != nil) &&
				l.idSchema != nil && l.idSchema.Format == "" && l.idSchema.Pattern == "" && l.idSchema.Example == nil &&
				l.idSchema.Type == idSchema.Type {
				// The item says what the ids look like (uuids, say);
				// the list of bare ids only that they are strings.
				l.idSchema = idSchema
			}
			continue
		}
		rt.recPath, rt.recSchema = findRecord(rt.op.Response, rt.list.records, rt.list.idField)
	}
	sb.buildEnvelopes()
	// The doc-wide error style: the first operation's documented errors.
	sb.errs = map[string]*apisurface.Schema{}
	for _, rt := range sb.routes {
		for code, sc := range rt.op.ErrorResponses {
			if _, ok := sb.errs[code]; !ok && sc != nil {
				sb.errs[code] = sc
			}
		}
	}
	return nil
}

// itemParam is the path parameter name of l's item route, when it has one.
func (sb *Sandbox) itemParam(l *list) string {
	for _, rt := range sb.routes {
		if rt.role == RoleItem && rt.list == l {
			return rt.segs[len(rt.segs)-1].param
		}
	}
	return ""
}

// newList returns the list traits of a GET route, or nil when it does not
// return a collection. Without inferred traits, a bare array response is a
// list served in one page.
func newList(rt *route) *list {
	op := rt.op
	l := &list{route: rt}
	switch {
	case op.List != nil:
		l.paging = op.List.Paging
		l.kind = op.List.Kind
		l.recordsRaw = op.List.RecordsPath
		l.recordsPath = splitPath(op.List.RecordsPath)
		l.env = successShape(op.Response, l.recordsPath)
		l.records = op.List.Records
		if l.records == nil {
			if arr := l.env.At(l.recordsPath); arr != nil {
				l.records = arr.Items
			}
		}
	case op.Response != nil && op.Response.Type == "array":
		l.records = op.Response.Items
		l.env = op.Response
		l.paging.Style = apisurface.PageNone
	default:
		return nil
	}
	if l.paging.Style == "" {
		l.paging.Style = apisurface.PageNone
	}
	if !pagingComplete(l.paging, len(l.recordsPath) > 0) {
		// Traits that name a style without what it needs cannot be served
		// as declared; one page holds everything rather than a loop.
		l.paging.Style = apisurface.PageUnknown
	}
	if l.records != nil && len(l.records.OneOf) > 0 && len(l.records.Properties) == 0 {
		// Records of several shapes: ids live on the first object shape.
		for _, alt := range l.records.OneOf {
			if alt != nil && len(alt.Properties) > 0 {
				l.records = mergeAlt(l.records, alt)
				break
			}
		}
	}
	if r := l.records; r != nil && (r.Type == "string" || r.Type == "integer") && len(r.Properties) == 0 {
		l.scalar = true
	}
	return l
}

// successShape is the schema of a success body that holds the records at
// path: the response, or, when the response is a oneOf of a success and
// an error shape, the alternative that has them.
func successShape(resp *apisurface.Schema, path []string) *apisurface.Schema {
	if resp == nil || len(resp.Properties) > 0 || len(resp.OneOf) == 0 || len(path) == 0 {
		return resp
	}
	for _, alt := range resp.OneOf {
		if alt.At(path) != nil {
			return mergeAlt(resp, alt)
		}
	}
	return resp
}

// pagingComplete says whether p names everything its style needs.
func pagingComplete(p apisurface.Paging, envelope bool) bool {
	switch p.Style {
	case apisurface.PageCursor, apisurface.PageToken:
		return p.CursorPath != "" && p.CursorParam != "" && envelope
	case apisurface.PageNextURL:
		return p.NextURLPath != "" && envelope
	case apisurface.PagePageNumber:
		return p.PageParam != ""
	case apisurface.PageOffset:
		return p.OffsetParam != ""
	case apisurface.PageHeader:
		return p.Header != ""
	}
	return true
}

// pickID chooses the record property that identifies a record: the item
// route's parameter name when the record has it, else id, uuid, a *_id,
// then name-like keys. "" when the records have no such property; their
// ids are then their positions.
func (l *list) pickID(itemParam string) {
	if l.records == nil {
		return
	}
	if l.scalar {
		// Each record is its own id; the schema says what ids look like.
		l.idSchema = l.records
		return
	}
	l.idField, l.idSchema = idProp(l.records, itemParam)
	if ex, ok := l.records.Example.(map[string]any); ok && l.idField != "" {
		l.idSchema = withExample(l.idSchema, ex[l.idField])
	}
}

// idProp is the property of record schema s that identifies a record:
// itemParam when s has it, else id, uuid, a *_id, then name-like keys;
// "" when s has none.
func idProp(s *apisurface.Schema, itemParam string) (string, *apisurface.Schema) {
	if s == nil {
		return "", nil
	}
	for _, match := range []func(string) bool{
		func(n string) bool { return itemParam != "" && n == itemParam },
		func(n string) bool { return n == "id" },
		// kid: the JSON Web Key "key ID" (RFC 7517), the id of key records.
		func(n string) bool { return strings.EqualFold(n, "id") || n == "uuid" || n == "uid" || n == "kid" },
		func(n string) bool { s := names.Snake(n); return strings.HasSuffix(s, "_id") || s == "key" },
		func(n string) bool { s := names.Snake(n); return s == "name" || s == "slug" || s == "fingerprint" },
	} {
		for _, p := range s.Properties {
			if match(p.Name) && p.Schema != nil && (p.Schema.Type == "string" || p.Schema.Type == "integer" || p.Schema.Type == "") {
				return p.Name, p.Schema
			}
		}
	}
	return "", nil
}

// findRecord locates a list's record inside an item response: the response
// itself, or an envelope property holding the same schema or the id field.
func findRecord(resp, rec *apisurface.Schema, idField string) ([]string, *apisurface.Schema) {
	if resp == nil {
		return nil, rec
	}
	same := func(a *apisurface.Schema) bool {
		return a != nil && rec != nil && (a == rec || (a.Ref != "" && a.Ref == rec.Ref))
	}
	if same(resp) || hasProp(resp, idField) {
		return nil, resp
	}
	for _, p := range resp.Properties {
		if same(p.Schema) {
			return []string{p.Name}, p.Schema
		}
	}
	var hit []apisurface.Property
	for _, p := range resp.Properties {
		if hasProp(p.Schema, idField) {
			hit = append(hit, p)
		}
	}
	if len(hit) == 1 {
		return []string{hit[0].Name}, hit[0].Schema
	}
	return nil, resp
}

func hasProp(s *apisurface.Schema, name string) bool {
	if s == nil || name == "" {
		return false
	}
	for _, p := range s.Properties {
		if p.Name == name {
			return true
		}
	}
	return false
}

// Operation describes one served GET operation.
type Operation struct {
	Method      string   `json:"method"`
	Path        string   `json:"path"` // the doc's template
	Role        string   `json:"role"` // list, item or object
	Kind        nhi.Kind `json:"kind,omitempty"`
	RecordsPath string   `json:"records_path,omitempty"`
	Paging      string   `json:"paging,omitempty"`
	IDField     string   `json:"id_field,omitempty"`
	// List is an item's list: the path template it reads one record of.
	List string `json:"list,omitempty"`
	// Parent is the path template of the list whose ids scope this one
	// (a child collection's parent).
	Parent string `json:"parent,omitempty"`
	// Security lists the accepted alternatives, each the "+"-joined
	// schemes it needs; empty means none.
	Security []string `json:"security,omitempty"`
}

// Operations lists the GET operations served, in path order.
func (sb *Sandbox) Operations() []Operation {
	out := make([]Operation, 0, len(sb.routes))
	for _, rt := range sb.routes {
		o := Operation{Method: "GET", Path: rt.op.Path, Role: rt.role}
		if l := rt.list; l != nil {
			o.Kind, o.IDField = l.kind, l.idFieldName()
			if rt.role == RoleList {
				o.RecordsPath, o.Paging = l.recordsRaw, l.paging.Style
			}
		}
		binds := rt.binds
		if rt.role == RoleItem {
			o.List = rt.list.route.op.Path
			binds = binds[:len(binds)-1]
		}
		if n := len(binds); n > 0 {
			o.Parent = binds[n-1].list.route.op.Path
		}
		for _, alt := range rt.security {
			var names []string
			for _, u := range alt.Schemes {
				names = append(names, u.Scheme)
			}
			if len(names) == 0 {
				names = []string{"none"} // an empty alternative: auth optional
			}
			o.Security = append(o.Security, strings.Join(names, "+"))
		}
		out = append(out, o)
	}
	return out
}

// BasePath is the path under which the operations are served (the first
// server URL's path).
func (sb *Sandbox) BasePath() string { return sb.basePath }

// Title is the document's title and version.
func (sb *Sandbox) Title() string { return sb.title }
