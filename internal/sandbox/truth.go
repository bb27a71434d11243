package sandbox

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/spindlehq/spindle/internal/nhi"
)

// Truth is the ground truth of a sandbox: which entities were seeded for
// each list operation. Validation compares what an integration read with
// it. Every call returns a fresh copy.
type Truth struct {
	Title      string           `json:"title,omitempty"`
	Seed       int64            `json:"seed"`
	Now        time.Time        `json:"now"`
	Entities   int              `json:"entities"`
	Operations []OperationTruth `json:"operations"`
}

// OperationTruth is what one list operation holds.
type OperationTruth struct {
	Method string   `json:"method"`
	Path   string   `json:"path"` // the doc's template
	Kind   nhi.Kind `json:"kind,omitempty"`
	// IDField is the record property holding the id; "." when each
	// record is a bare identifier (a list of names or keys) and so its
	// own id; "" when records have no id: ids are then positions.
	IDField     string `json:"id_field,omitempty"`
	RecordsPath string `json:"records_path"`
	Paging      string `json:"paging"`
	// Parent is the path template of the list whose ids scope this one.
	Parent string `json:"parent,omitempty"`
	// IDs of a top-level list, in serving order.
	IDs []string `json:"ids,omitempty"`
	// Children of a child collection by parent scope: the parent's id, or
	// for deeper nesting every ancestor's id outermost first, joined by "/".
	Children map[string][]string `json:"children,omitempty"`
	// Drift describes the schema drift injected into its records.
	Drift []string `json:"drift,omitempty"`
}

// All returns every id of the operation, across parents.
func (o OperationTruth) All() []string {
	out := slices.Clone(o.IDs)
	keys := make([]string, 0, len(o.Children))
	for k := range o.Children {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, o.Children[k]...)
	}
	return out
}

// Operation finds the truth of one list operation by method and template.
func (t Truth) Operation(method, path string) (OperationTruth, bool) {
	for _, o := range t.Operations {
		if o.Method == method && o.Path == path {
			return o, true
		}
	}
	return OperationTruth{}, false
}

// Truth returns the ground truth. It lists every id of every list, so on a
// large document prefer WriteTruth, which streams it.
func (sb *Sandbox) Truth() Truth {
	t := sb.truthHeader()
	for _, l := range sb.lists {
		t.Operations = append(t.Operations, sb.operationTruth(l))
	}
	return t
}

// WriteTruth writes the ground truth as JSON (the encoding of Truth), one
// operation at a time so memory stays bounded by the largest list.
func (sb *Sandbox) WriteTruth(w io.Writer) error {
	bw := bufio.NewWriter(w)
	head, err := json.Marshal(sb.truthHeader())
	if err != nil {
		return err
	}
	// The header ends in `"operations":null}`; reopen it as an array.
	head = head[:len(head)-len("null}")]
	bw.Write(head)
	bw.WriteString("[\n")
	for i, l := range sb.lists {
		if i > 0 {
			bw.WriteString(",\n")
		}
		b, err := json.Marshal(sb.operationTruth(l))
		if err != nil {
			return err
		}
		bw.Write(b)
	}
	bw.WriteString("\n]}\n")
	return bw.Flush()
}

func (sb *Sandbox) truthHeader() Truth {
	return Truth{Title: sb.title, Seed: sb.opts.Seed, Now: sb.now, Entities: sb.opts.Entities}
}

func (sb *Sandbox) operationTruth(l *list) OperationTruth {
	o := OperationTruth{Method: "GET", Path: l.route.op.Path, Kind: l.kind, IDField: l.idFieldName(),
		RecordsPath: l.recordsRaw, Paging: l.paging.Style}
	for _, d := range l.drift {
		o.Drift = append(o.Drift, d.String())
	}
	if p := l.parent(); p != nil {
		o.Parent = p.route.op.Path
		o.Children = map[string][]string{}
		for _, sc := range sb.scopes(l) {
			o.Children[sc] = idStrings(sb.ids(l, sc))
		}
		return o
	}
	o.IDs = idStrings(sb.ids(l, ""))
	return o
}

func idStrings(ids []idVal) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.s
	}
	return out
}

// idVal is a record id as the record holds it (string or int64) and as text.
type idVal struct {
	v any
	s string
}

// maxIDCache bounds the id lists kept; past it the cache starts over
// (ids are cheap to recompute and always the same).
const maxIDCache = 4096

// count is how many records list l holds under scope.
func (sb *Sandbox) count(l *list, scope string) int {
	n := sb.opts.Entities
	if e := l.idEnum(); len(e) > 0 {
		n = min(n, len(e)) // one record per enumerated key
	}
	switch d := l.depth(); {
	case d == 0:
		return n
	case d == 1:
		n = min(n, maxChildren)
	default:
		n = min(n, maxGrandchildren)
	}
	return int(hashOf(sb.seed, "count", l.route.key, scope) % uint64(n+1))
}

// ids lists the ids of l's records under scope, in serving order, unique.
func (sb *Sandbox) ids(l *list, scope string) []idVal {
	key := l.route.key + "\x00" + scope
	sb.idMu.Lock()
	cached, ok := sb.idCache[key]
	sb.idMu.Unlock()
	if ok {
		return cached
	}
	n := sb.count(l, scope)
	out := make([]idVal, n)
	seen := make(map[string]bool, n)
	for i := range n {
		var id idVal
		for attempt := 0; attempt < 8; attempt++ {
			if id = sb.genID(l, scope, i, attempt); !seen[id.s] {
				break
			}
		}
		if seen[id.s] { // a tiny id space: make it unique by position
			id = idVal{v: id.s + strconv.Itoa(i), s: id.s + strconv.Itoa(i)}
		}
		seen[id.s] = true
		out[i] = id
	}
	sb.idMu.Lock()
	if len(sb.idCache) >= maxIDCache {
		clear(sb.idCache)
	}
	sb.idCache[key] = out
	sb.idMu.Unlock()
	return out
}

// genID makes the id of record i. Integer ids count up from a per-list
// base, as databases do; string ids follow the id field's format, pattern
// or example.
func (sb *Sandbox) genID(l *list, scope string, i, attempt int) idVal {
	if l.idField == "" && !l.scalar {
		return idVal{s: strconv.Itoa(i)}
	}
	s := l.idSchema
	if s != nil && (s.Type == "integer" || s.Type == "number") {
		hb := hashOf(sb.seed, "idbase", l.route.key, scope)
		base := int64(1000 + hb%900000)
		step := int64(1 + (hb>>32)%7)
		if s.Minimum != nil && float64(base) < *s.Minimum {
			base = int64(*s.Minimum)
		}
		v := base + int64(i)*step + int64(attempt)
		return idVal{v: v, s: strconv.FormatInt(v, 10)}
	}
	if e := l.idEnum(); len(e) > 0 {
		// Keyed by an enum: each value once, in a per-scope rotation.
		k := int(hashOf(sb.seed, "idenum", l.route.key, scope) % uint64(len(e)))
		v := e[(i+k+attempt)%len(e)]
		return idVal{v: v, s: fmt.Sprint(v)}
	}
	h := hashOf(sb.seed, "id", l.route.key, scope, strconv.Itoa(i), strconv.Itoa(attempt))
	name := l.idField
	if l.scalar {
		name = "id" // bare identifiers: opaque ids unless the schema shapes them
	}
	v := sb.idString(s, name, h)
	return idVal{v: v, s: v}
}

// idFieldName is the id field as Truth and Operations report it: "."
// for a list of bare identifiers.
func (l *list) idFieldName() string {
	if l.scalar {
		return "."
	}
	return l.idField
}

// idEnum is the id field's enum, without null.
func (l *list) idEnum() []any {
	if l.idSchema == nil {
		return nil
	}
	var out []any
	for _, e := range l.idSchema.Enum {
		if e != nil {
			out = append(out, fromJSON(e))
		}
	}
	return out
}

// scopes lists every scope of l: "" for a top-level list, else each
// parent record's scope joined with its id.
func (sb *Sandbox) scopes(l *list) []string {
	p := l.parent()
	if p == nil {
		return []string{""}
	}
	var out []string
	for _, ps := range sb.scopes(p) {
		for _, id := range sb.ids(p, ps) {
			out = append(out, joinScope(ps, id.s))
		}
	}
	return out
}

func joinScope(scope, id string) string {
	if scope == "" {
		return id
	}
	return scope + "/" + id
}
