package drift

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pb33f/libopenapi/what-changed/model"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/integration"
)

// item is the path segment that stands for "each element of an array".
const item = "[]"

// read is one body path a stream reads, from the response root.
type read struct {
	segs []string
	// records marks the record itself (the records path plus []): fields
	// added there are news, fields removed there matter only when read.
	records bool
	// strict: the mapping reads it without a ?-guard, so a missing value is
	// an error rather than a null.
	strict bool
	why    string // "mapping", "paging", "records"
}

// readsOf lists the body paths a stream reads: its records path, every
// r.<field> its map and relationships read (and what child streams read
// of its records through their for_each alias), and its paging fields.
func readsOf(sp *integration.Spec, st integration.Stream) []read {
	rec := recordsSegs(st.Records)
	rec = append(rec, item)
	out := []read{{segs: rec, records: true, why: "records"}}
	fields := map[string]bool{}
	for _, x := range exprsOf(st) {
		for _, f := range fieldRefs(x, "r") {
			fields[f.path] = fields[f.path] || f.strict
		}
	}
	// A child stream's template and expressions read this stream's records
	// through its alias: {app.id} in a path is the parent's id.
	for _, child := range sp.Streams {
		if child.ForEach == nil || child.ForEach.Stream != st.Name {
			continue
		}
		xs := append(exprsOf(child), strings.NewReplacer("{", " ", "}", " ").Replace(child.Request.Path))
		for _, x := range xs {
			for _, f := range fieldRefs(x, child.ForEach.As) {
				fields[f.path] = fields[f.path] || f.strict
			}
		}
	}
	for _, f := range sortedKeys(fields) {
		out = append(out, read{segs: append(append([]string{}, rec...), strings.Split(f, ".")...), strict: fields[f], why: "mapping"})
	}
	if p := paging(sp, st); p != nil {
		for _, f := range []string{p.CursorPath, p.NextURLPath, p.MoreField, p.TotalField} {
			if f != "" {
				out = append(out, read{segs: recordsSegs(f), why: "paging"})
			}
		}
	}
	return out
}

func exprsOf(st integration.Stream) []string {
	var xs []string
	for _, k := range sortedKeys(st.Map) {
		xs = append(xs, st.Map[k])
	}
	for _, r := range st.Relationships {
		xs = append(xs, r.ExternalID)
	}
	return xs
}

// recordsSegs splits a body path in the spec's syntax: a dot path with *
// for "each element" ("services.*.integrations"), a JSON Pointer
// ("/data/items"), or "." / "" for the body itself.
func recordsSegs(p string) []string {
	p = strings.TrimSpace(p)
	if p == "" || p == "." || p == "/" {
		return nil
	}
	sep := "."
	if strings.HasPrefix(p, "/") {
		sep = "/"
		p = p[1:]
	}
	var out []string
	for _, s := range strings.Split(p, sep) {
		switch s {
		case "":
		case "*":
			out = append(out, item)
		default:
			out = append(out, s)
		}
	}
	return out
}

type fieldRef struct {
	path   string
	strict bool
}

// fieldRefs finds the field paths an expression reads from variable v:
// v.a, v.?a, v.a.b, v.?a.?b — a segment followed by "(" is a method
// (orValue, startsWith) and ends the path.
func fieldRefs(x, v string) []fieldRef {
	var out []fieldRef
	for i := 0; i < len(x); i++ {
		if !strings.HasPrefix(x[i:], v+".") || (i > 0 && (isIdent(x[i-1]) || x[i-1] == '.')) {
			continue
		}
		j := i + len(v)
		var segs []string
		strict := true
		for j < len(x) && x[j] == '.' {
			k := j + 1
			if k < len(x) && x[k] == '?' {
				k++
				strict = false
			}
			e := k
			for e < len(x) && isIdent(x[e]) {
				e++
			}
			if e == k || (e < len(x) && x[e] == '(') {
				break
			}
			segs = append(segs, x[k:e])
			j = e
		}
		if len(segs) > 0 {
			out = append(out, fieldRef{path: strings.Join(segs, "."), strict: strict})
		}
		i = j - 1
	}
	return out
}

func isIdent(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// hit is one what-changed change met on a read path: at is the schema
// node it sits on; about is the property it concerns when the change is
// the node's own record of a property (added, removed, required).
type hit struct {
	c     *model.Change
	at    []string
	about string
}

// walkSchema follows segs through a what-changed schema tree: property
// names, [] into items, and into allOf/oneOf/anyOf members (which do not
// consume a segment). At each node on the way it keeps the changes about
// the next segment; at the end, the node's own changes.
func walkSchema(sc *model.SchemaChanges, prefix, segs []string, out *[]hit) {
	if sc == nil {
		return
	}
	at := append([]string{}, prefix...)
	if len(segs) == 0 {
		for _, c := range changesOf(sc.PropertyChanges) {
			about := ""
			if c.Property == "properties" || c.Property == "required" {
				about = c.Original
				if about == "" {
					about = c.New
				}
			}
			*out = append(*out, hit{c: c, at: at, about: about})
		}
		return
	}
	seg := segs[0]
	for _, c := range changesOf(sc.PropertyChanges) {
		switch c.Property {
		case "properties", "required":
			if c.Original == seg || c.New == seg {
				*out = append(*out, hit{c: c, at: at, about: seg})
			}
		case "type", "$ref", "deprecated":
			// The container itself changed shape or is on its way out:
			// so is whatever is read under it.
			*out = append(*out, hit{c: c, at: at})
		}
	}
	if seg == item {
		walkSchema(sc.ItemsChanges, append(at, item), segs[1:], out)
	} else if child := sc.SchemaPropertyChanges[seg]; child != nil {
		walkSchema(child, append(at, seg), segs[1:], out)
	}
	for _, group := range [][]*model.SchemaChanges{sc.AllOfChanges, sc.OneOfChanges, sc.AnyOfChanges} {
		for _, m := range group {
			walkSchema(m, at, segs, out)
		}
	}
}

// anchors are the places a body path's changes are recorded: the
// operation's own (inline) response schema, and each component schema the
// path passes through — what-changed records a change to a $ref'd
// component once, under components, not under every operation using it.
type anchor struct {
	ref    string   // component name; "" for the inline response schema
	prefix []string // the body path up to the component
	rest   []string // the path inside it
}

func anchorsOf(resp *apisurface.Schema, segs []string) []anchor {
	out := []anchor{{prefix: nil, rest: segs}}
	node := resp
	for i := 0; node != nil; i++ {
		if node.Ref != "" && !node.Circular {
			out = append(out, anchor{ref: node.Ref, prefix: segs[:i], rest: segs[i:]})
		}
		if i == len(segs) {
			break
		}
		if segs[i] == item {
			if node.Type == "array" {
				node = node.Items
			}
			continue
		}
		node = node.At([]string{segs[i]})
	}
	return out
}

// at resolves a body path in a surface schema; [] steps into items, and
// is skipped on a node that is not an array.
func at(s *apisurface.Schema, segs []string) *apisurface.Schema {
	for _, seg := range segs {
		if s == nil {
			return nil
		}
		if seg == item {
			if s.Type == "array" {
				s = s.Items
			}
			continue
		}
		s = s.At([]string{seg})
	}
	return s
}

// response keeps the changes to the response fields a stream reads.
func (d *differ) response(st integration.Stream, op *apisurface.Operation, oc *model.OperationChanges, add func(kind, path, what string, src *model.Change)) {
	newOp := d.new.MatchOperation(d.spec.Connection.BaseURL, st.Request.MethodOrGet(), st.Request.Path)
	var rc *model.ResponsesChanges
	if oc != nil {
		rc = oc.ResponsesChanges
	}
	// The success response itself went away.
	if rc != nil {
		for _, c := range changesOf(rc.PropertyChanges) {
			if c.Original == op.ResponseStatus && isRemoval(c) {
				add(Breaking, "response."+op.ResponseStatus, fmt.Sprintf("the %s response the stream reads was removed", op.ResponseStatus), c)
			}
		}
	}
	var inline []*model.SchemaChanges
	if rc != nil && rc.ResponseChanges[op.ResponseStatus] != nil {
		r := rc.ResponseChanges[op.ResponseStatus]
		if r.SchemaChanges != nil {
			inline = append(inline, r.SchemaChanges)
		}
		for _, mt := range sortedKeys(r.ContentChanges) {
			if strings.Contains(mt, "json") && r.ContentChanges[mt] != nil {
				inline = append(inline, r.ContentChanges[mt].SchemaChanges)
			}
		}
	}
	var comps map[string]*model.SchemaChanges
	if cc := d.components(); cc != nil {
		comps = cc.SchemaChanges
	}
	for _, rd := range readsOf(d.spec, st) {
		var hits []hit
		for _, a := range anchorsOf(op.Response, rd.segs) {
			if a.ref == "" {
				for _, sc := range inline {
					walkSchema(sc, nil, a.rest, &hits)
				}
			} else if cs := comps[a.ref]; cs != nil {
				walkSchema(cs, a.prefix, a.rest, &hits)
			}
		}
		field := strings.Join(rd.segs, ".")
		path := "response.body." + field
		found := false
		for _, h := range hits {
			kind, what, keep := classify(h, rd)
			if !keep {
				continue
			}
			if kind == Breaking && stillThere(op, newOp, rd.segs) {
				// The doc was rearranged (a component inlined, properties
				// moved into oneOf alternatives) but the new doc still
				// resolves the field with its type: nothing to fix.
				kind = NonBreaking
				what += "; the new doc still resolves the field with the same type (restructured), so the mapping still reads it"
			}
			if kind == Breaking {
				found = true
			}
			p := "response.body." + strings.Join(h.at, ".")
			if h.about != "" {
				p += "." + h.about
			}
			add(kind, strings.TrimSuffix(p, "."), what, h.c)
		}
		// A safety net the tree walk cannot give: resolve the path in the
		// new doc. A field the old doc had and the new one lacks, or whose
		// type changed, breaks the mapping however the doc was rearranged
		// (an allOf split, a renamed component).
		if found || rd.records && len(rd.segs) == 1 {
			continue
		}
		was := at(op.Response, rd.segs)
		if was == nil || newOp == nil {
			continue
		}
		now := at(newOp.Response, rd.segs)
		switch {
		case now == nil:
			add(Breaking, path, fmt.Sprintf("%s field %q the %s reads is gone from the new doc's response", rd.why, field, rd.why), nil)
		case was.Type != "" && now.Type != "" && was.Type != now.Type:
			add(Breaking, path, fmt.Sprintf("%s field %q changed type from %s to %s", rd.why, field, was.Type, now.Type), nil)
		}
	}
}

// stillThere says the new doc resolves a read body path to a schema of
// the type it had.
func stillThere(op, newOp *apisurface.Operation, segs []string) bool {
	if newOp == nil {
		return false
	}
	now := at(newOp.Response, segs)
	if now == nil {
		return false
	}
	was := at(op.Response, segs)
	return was == nil || was.Type == "" || now.Type == "" || was.Type == now.Type
}

// classify decides what a change on a read path means for the stream.
func classify(h hit, rd read) (kind, what string, keep bool) {
	c := h.c
	field := strings.Join(rd.segs, ".")
	node := strings.Join(h.at, ".")
	if node == "" {
		node = "(body)"
	}
	reads := fmt.Sprintf(" (the %s reads %q)", rd.why, field)
	if node == field {
		reads = ""
	}
	switch {
	case h.about != "" && c.Property == "properties":
		name := strings.Join(append(append([]string{}, h.at...), h.about), ".")
		if isAddition(c) {
			if rd.records && name != field {
				return NonBreaking, fmt.Sprintf("new field %q in the records (not read yet)", h.about), true
			}
			return NonBreaking, fmt.Sprintf("field %q added", name), true
		}
		if rd.records && name != field {
			// A record field no one reads went away.
			return "", "", false
		}
		if name != field {
			// A part of an object the mapping reads whole.
			return NonBreaking, fmt.Sprintf("%s field %q lost its sub-field %q", rd.why, field, h.about), true
		}
		w := fmt.Sprintf("%s field %q the %s reads was removed", rd.why, name, rd.why)
		if rd.why == "mapping" && !rd.strict {
			w += "; the mapping guards it, so records would silently map it to null"
		}
		return Breaking, w, true
	case h.about != "" && c.Property == "required":
		if rd.records && len(h.at) == len(rd.segs) {
			return "", "", false // required-ness of record fields nobody reads
		}
		if isRemoval(c) {
			w := fmt.Sprintf("field %q is no longer required", h.about)
			if rd.strict {
				w += "; the mapping reads it strictly, so a record without it fails to map"
			}
			return NonBreaking, w, true
		}
		return NonBreaking, fmt.Sprintf("field %q is now required", h.about), true
	case c.Property == "type":
		return Breaking, describe(fmt.Sprintf("field %q%s", node, reads), c), true
	case c.Property == "deprecated":
		if c.New == "true" {
			return Deprecation, fmt.Sprintf("field %q is deprecated%s", node, reads), true
		}
		return NonBreaking, describe(fmt.Sprintf("field %q", node), c), true
	case c.Property == "properties" || c.Property == "required":
		return "", "", false
	}
	return NonBreaking, describe(fmt.Sprintf("field %q%s", node, reads), c), true
}
