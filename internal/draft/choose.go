package draft

import (
	"fmt"
	"github.com/spindlehq/spindle/internal/names"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/nhi"
)

// How a stream reads its records.
const (
	viaList     = "list"
	viaForEach  = "for_each"
	viaEmbedded = "embedded"
)

// defaultMaxStreams bounds a draft's streams when Options leave it 0.
const defaultMaxStreams = 12

// Thresholds of the kind judgement.
const (
	// minKindConf is the bar an NHI kind reading must clear to be read.
	minKindConf = 0.6
	// Evidence weights, combined as independent signals (noisy-or): the
	// surface's own inference, a name in the draft's vocabulary that
	// agrees, and record properties typical of the kind.
	wVocabAgree = 0.3
	wTraits     = 0.4
	// A collection named by the vocabulary alone (no surface reading).
	wVocabPath = 0.6
	wVocabRef  = 0.5
)

// listNode is a GET list operation, with what fan-out needs.
type listNode struct {
	op    *apisurface.Operation
	key   string   // "GET /path"
	segs  []string // path segments; "{x}" for parameters
	rec   *record
	items *apisurface.Schema // one record
	// parent is the list whose ids fill this path's last parameter; nil
	// for a top-level list. bindErr says why a parameter has no parent.
	parent  *listNode
	param   string   // the parameter the parent's id fills
	config  []string // parameters a config input fills (a project, an account)
	bindErr string
}

// depth counts the for_each ancestors.
func (n *listNode) depth() int {
	d := 0
	for p := n.parent; p != nil; p = p.parent {
		d++
	}
	return d
}

func isParam(seg string) bool { return strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") }

func splitPath(p string) []string {
	p = strings.SplitN(p, "?", 2)[0]
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// shape is a path with parameter names erased: /apps/{appId} and
// /apps/{id} are the same collection member.
func shape(segs []string) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		if isParam(s) {
			b.WriteString("{}")
		} else {
			b.WriteString(s)
		}
	}
	return b.String()
}

// lastLiteral is the path's last non-parameter segment.
func lastLiteral(segs []string) string {
	for i := len(segs) - 1; i >= 0; i-- {
		if !isParam(segs[i]) {
			return segs[i]
		}
	}
	return ""
}

// buildNodes indexes the surface's GET list operations and binds each
// path parameter to the list whose ids it takes: /things/{thingId}/keys
// fans out over GET /things.
func buildNodes(s *apisurface.Surface) []*listNode {
	var nodes []*listNode
	byShape := map[string]*listNode{}
	getPaths := map[string]string{} // shape → path of any GET (item routes)
	for i := range s.Operations {
		op := &s.Operations[i]
		if op.Method != "GET" {
			continue
		}
		segs := splitPath(op.Path)
		if _, ok := getPaths[shape(segs)]; !ok {
			getPaths[shape(segs)] = op.Path
		}
		if op.List == nil {
			continue
		}
		items := op.List.Records
		if items == nil {
			if arr := schemaAt(op.Response, op.List.RecordsPath); arr != nil {
				items = arr.Items
			}
		}
		n := &listNode{op: op, key: "GET " + op.Path, segs: segs, items: items, rec: newRecord(items)}
		nodes = append(nodes, n)
		if _, dup := byShape[shape(segs)]; !dup {
			byShape[shape(segs)] = n
		}
	}
	for _, n := range nodes {
		// Each parameter is bound to the list at its prefix (fan-out), or,
		// when it selects a scope such as a project or an account that no
		// list enumerates, to a config input. The direct parent is the
		// list of the last list-bound parameter; earlier ones are bound by
		// that parent's own chain.
		for k, sg := range n.segs {
			if !isParam(sg) {
				continue
			}
			name := strings.Trim(sg, "{}")
			p := byShape[shape(n.segs[:k])]
			switch {
			case p != nil && p != n && bareIDs(p.items):
				// A template needs a field of the parent record ({sa.id});
				// a bare identifier has none to name.
				n.bindErr = fmt.Sprintf("its parent list %s holds bare identifiers, which a for_each path cannot template", p.key)
			case p != nil && p != n:
				n.parent, n.param = p, name
			case scopeParam(name):
				n.config = append(n.config, name)
			default:
				n.bindErr = fmt.Sprintf("path parameter %s names no list operation (GET %s is not a list) nor a scope a config input could hold", sg, "/"+strings.Join(n.segs[:k], "/"))
			}
			if n.bindErr != "" {
				n.parent = nil
				break
			}
		}
	}
	// Propagate binding errors up the chains (a parent that cannot be read
	// cannot feed children), bounded against cycles.
	for _, n := range nodes {
		seen := 0
		for p := n.parent; p != nil && seen < 16; p = p.parent {
			if p.bindErr != "" && n.bindErr == "" {
				n.bindErr = fmt.Sprintf("its parent list %s cannot be read: %s", p.key, p.bindErr)
			}
			seen++
		}
		if seen >= 16 {
			n.bindErr = "the parent chain is too deep"
		}
	}
	return nodes
}

// candidate is one NHI-relevant read the draft considered.
type candidate struct {
	node     *listNode
	via      string
	embed    string             // viaEmbedded: the array property of each record
	items    *apisurface.Schema // the records this candidate emits
	rec      *record
	kind     nhi.Kind
	conf     float64
	evidence []string
	score    float64
	skip     string
	query    map[string]string
	queryWhy []string
}

func (c *candidate) opKey() string {
	if c.via == viaEmbedded {
		return c.node.key + " (" + c.embed + "[])"
	}
	return c.node.key
}

// noisyOr combines independent evidence weights.
func noisyOr(ws ...float64) float64 {
	p := 1.0
	for _, w := range ws {
		p *= 1 - w
	}
	return math.Round((1-p)*100) / 100
}

// judgeKind decides what a list holds. It starts from the surface's
// inference, corroborates it with the names of the collection and the
// record, and with record properties typical of the kind.
func judgeKind(n *listNode) (k nhi.Kind, conf float64, ev []string, reject string) {
	lt, lc := n.op.List.Kind, n.op.List.KindConf.Confidence
	props := n.rec.names()
	seg := lastLiteral(n.segs)
	recProp := ""
	// A list of bare identifiers sits under a container name ("keys",
	// "ids") that says nothing about what the identifiers name.
	if rp := n.op.List.RecordsPath; rp != "" && !strings.HasPrefix(rp, "/") && !bareIDs(n.items) {
		ds := splitDots(rp)
		recProp = ds[len(ds)-1]
	}
	// The vocabulary's reading of the collection's own names.
	var vk nhi.Kind
	var vw float64
	var vsrc string
	for _, c := range []struct {
		name string
		w    float64
		src  string
	}{{seg, wVocabPath, "path segment"}, {recProp, wVocabPath, "records property"}, {n.rec.ref, wVocabRef, "record schema"}} {
		if c.name == "" {
			continue
		}
		if kk, ok := vocabKind(c.name); ok {
			vk, vw, vsrc = refineKeyKind(kk, words(n.op.Path), props), c.w, fmt.Sprintf("%s %q", c.src, c.name)
			break
		}
	}
	switch {
	case lt.IsNHI():
		ws := []float64{lc}
		ev = append(ev, fmt.Sprintf("surface infers %s (%.2f)", lt, lc))
		if vk == lt {
			ws = append(ws, wVocabAgree)
			ev = append(ev, vsrc+" agrees")
		}
		tr := traitsFor(lt, props)
		if len(tr) > 0 {
			ws = append(ws, wTraits)
			ev = append(ev, "record properties typical of "+string(lt)+": "+strings.Join(first(tr, 3), ", "))
		} else if lt == nhi.OAuthApp {
			return lt, lc, ev, "records show no OAuth client traits (client id, redirect URIs, grant types, credentials, sign-on, scopes): an \"app\" here is not an OAuth identity"
		}
		k, conf = lt, noisyOr(ws...)
	case lt.Valid() && lc >= minKindConf:
		// A confident context kind (users, teams, roles, projects). Its
		// records are identities only when they carry a credential.
		if lt == nhi.HumanUser || lt == nhi.Team || lt == nhi.Role {
			return lt, lc, []string{fmt.Sprintf("surface infers %s (%.2f)", lt, lc)}, fmt.Sprintf("holds %s records, context for NHIs rather than NHIs", lt)
		}
		if p := credentialProp(n.rec); p != "" {
			k, conf = nhi.APIKey, minKindConf
			ev = []string{fmt.Sprintf("surface infers %s (%.2f), but each record carries a credential in %q: the records are credential holders", lt, lc, p)}
			break
		}
		return lt, lc, []string{fmt.Sprintf("surface infers %s (%.2f)", lt, lc)}, fmt.Sprintf("holds %s records, context for NHIs rather than NHIs", lt)
	case vk != "":
		ws := []float64{vw}
		ev = append(ev, vsrc+" names "+string(vk))
		if lt.Valid() {
			ev = append(ev, fmt.Sprintf("surface leans %s (%.2f), below the bar", lt, lc))
		}
		tr := traitsFor(vk, props)
		if len(tr) > 0 {
			ws = append(ws, wTraits)
			ev = append(ev, "record properties typical of "+string(vk)+": "+strings.Join(first(tr, 3), ", "))
		} else if vk == nhi.OAuthApp {
			return vk, vw, ev, "records show no OAuth client traits: an \"app\" here is not an OAuth identity"
		}
		k, conf = vk, noisyOr(ws...)
	default:
		if p := credentialProp(n.rec); p != "" {
			return nhi.APIKey, minKindConf, []string{fmt.Sprintf("each record carries a credential in %q", p)}, ""
		}
		return lt, lc, nil, "no NHI kind"
	}
	if conf < minKindConf {
		return k, conf, ev, fmt.Sprintf("kind %s is a guess (%.2f < %.2f)", k, conf, minKindConf)
	}
	return k, conf, ev, ""
}

// credentialProp is a top-level string property holding a credential.
// An enumerated value is a type tag, not a secret; and the record must
// have an identifier of its own besides it (a "key" that identifies the
// record is a name).
func credentialProp(r *record) string {
	for _, p := range r.props {
		if !credentialProps[names.Snake(p.Name)] || typeOf(p.Schema) != "string" || len(p.Schema.Enum) > 0 {
			continue
		}
		if f := strings.ToLower(p.Schema.Format); f != "" && f != "password" && f != "byte" {
			continue
		}
		if id := idField(r, "", ""); id != "" && id != p.Name {
			return p.Name
		}
	}
	return ""
}

func first(xs []string, n int) []string {
	if len(xs) > n {
		return xs[:n]
	}
	return xs
}

// idField picks the property that identifies a record, in the order
// vendors use: the name the path parameter gives, then id, uuid, a *_id
// that names the collection, a key id, then names and fingerprints.
func idField(r *record, param string, collection string) string {
	ok := func(s *apisurface.Schema) bool {
		t := typeOf(s)
		return t == "string" || t == "integer" || t == ""
	}
	try := func(match func(sn string) bool) string {
		for _, p := range r.props {
			if match(names.Snake(p.Name)) && ok(p.Schema) {
				return p.Name
			}
		}
		return ""
	}
	coll := names.Singular(names.Snake(collection))
	for _, f := range []func(string) bool{
		func(sn string) bool { return param != "" && sn == names.Snake(param) },
		func(sn string) bool { return sn == "id" },
		func(sn string) bool { return sn == "uuid" || sn == "uid" || sn == "guid" },
		func(sn string) bool {
			return coll != "" && strings.HasSuffix(sn, "_id") && (sn == coll+"_id" || strings.HasSuffix(coll, "_"+strings.TrimSuffix(sn, "_id")))
		},
		func(sn string) bool { return sn == "kid" || sn == "key_id" },
		func(sn string) bool { return strings.HasSuffix(sn, "_id") && !isOwnerName(sn) },
		func(sn string) bool { return sn == "key" || sn == "slug" },
		func(sn string) bool { return sn == "fingerprint" || sn == "name" },
	} {
		if f := try(f); f != "" {
			return f
		}
	}
	return ""
}

func isOwnerName(sn string) bool {
	return slices.Contains(ownerFields, sn) || slices.Contains(creatorFields, sn) ||
		strings.HasSuffix(sn, "_by") || strings.HasSuffix(sn, "_by_id") || strings.HasSuffix(sn, "user_id")
}

// requiredQuery fills the operation's required query parameters (paging
// ones aside) from their defaults or enums; a parameter with neither
// cannot be filled without guessing, and the operation is skipped.
func requiredQuery(op *apisurface.Operation) (map[string]string, []string, string) {
	pg := op.List.Paging
	paging := map[string]bool{pg.SizeParam: true, pg.LimitParam: true, pg.OffsetParam: true, pg.PageParam: true, pg.CursorParam: true}
	var q map[string]string
	var why []string
	for _, p := range op.Parameters {
		if p.In != "query" || !p.Required || paging[p.Name] {
			continue
		}
		v, src := "", ""
		if p.Schema != nil && p.Schema.Default != nil {
			v, src = scalarText(p.Schema.Default), "default"
		}
		if v == "" && p.Schema != nil {
			enum := p.Schema.Enum
			if len(enum) == 0 && p.Schema.Items != nil {
				enum = p.Schema.Items.Enum
			}
			if e := firstEnum(&apisurface.Schema{Enum: enum}); e != "" {
				v, src = e, "first enum value"
				if len(enum) > 1 {
					src = fmt.Sprintf("first of the enum %v: the other values' records are not read", enum)
				}
			}
		}
		if v == "" {
			return nil, nil, fmt.Sprintf("required query parameter %q has no default or enum to fill it from", p.Name)
		}
		if q == nil {
			q = map[string]string{}
		}
		q[p.Name] = v
		why = append(why, fmt.Sprintf("required query parameter %s=%s (%s)", p.Name, v, src))
	}
	return q, why, ""
}

func firstEnum(s *apisurface.Schema) string {
	if s == nil {
		return ""
	}
	for _, e := range s.Enum {
		if e != nil {
			return scalarText(e)
		}
	}
	return ""
}

func scalarText(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1e15 {
			return fmt.Sprintf("%d", int64(t))
		}
		return fmt.Sprint(t)
	case bool, int, int64:
		return fmt.Sprint(t)
	}
	return ""
}

// embeddedCandidates finds lists of identities embedded in the records of
// a top-level list: each record's array property whose items carry an id
// and whose name (or item schema) names an NHI kind.
func embeddedCandidates(n *listNode, all []*listNode) []*candidate {
	var out []*candidate
	for _, p := range n.rec.props {
		if typeOf(p.Schema) != "array" || p.Schema.Items == nil {
			continue
		}
		items := p.Schema.Items
		ir := newRecord(items)
		if typeOf(items) != "object" && len(ir.props) == 0 {
			continue
		}
		id := idField(ir, "", p.Name)
		if id == "" {
			continue
		}
		// The item schema's own name says what the elements are when it
		// has one (extension_objects of ServiceReference are services);
		// otherwise the property's name does.
		var k nhi.Kind
		var ok bool
		w := wVocabPath
		src := fmt.Sprintf("embedded array %q", p.Name)
		if items.Ref != "" {
			k, ok = vocabKind(items.Ref)
			w, src = wVocabRef, fmt.Sprintf("item schema %q of embedded array %q", items.Ref, p.Name)
			if pk, pok := vocabKind(p.Name); ok && pok && pk == k {
				w, src = noisyOr(wVocabPath, wVocabAgree), fmt.Sprintf("embedded array %q of %q", p.Name, items.Ref)
			}
		} else {
			k, ok = vocabKind(p.Name)
		}
		if !ok || !k.IsNHI() {
			continue
		}
		k = refineKeyKind(k, words(p.Name), ir.names())
		if k == nhi.OAuthApp && len(traitsFor(k, ir.names())) == 0 {
			continue
		}
		ev := []string{src + " names " + string(k)}
		c := &candidate{node: n, via: viaEmbedded, embed: p.Name, items: items, rec: ir, kind: k, conf: w, evidence: ev}
		for _, other := range all {
			switch {
			case other.parent == n && len(other.segs) == len(n.segs)+2 && names.Snake(lastLiteral(other.segs)) == names.Snake(p.Name):
				c.skip = fmt.Sprintf("read per record by %s instead", other.key)
			case other != n && other.parent == nil && sameEntities(n, other, p.Name, items):
				// The same entities have a list of their own, with full
				// records rather than references.
				c.skip = fmt.Sprintf("the full records are listed by %s", other.key)
			}
		}
		out = append(out, c)
	}
	return out
}

// includeParam finds a query parameter that asks the list to expand an
// embedded property (include=integrations): enum values name properties.
func includeParam(op *apisurface.Operation, prop string) (string, bool) {
	for _, p := range op.Parameters {
		if p.In != "query" || p.Schema == nil {
			continue
		}
		vals := enumStrings(p.Schema)
		vals = append(vals, enumStrings(p.Schema.Items)...)
		if slices.Contains(vals, prop) {
			return p.Name, true
		}
	}
	return "", false
}

// choose considers every list operation and picks the streams to read.
func choose(s *apisurface.Surface, o Options, ov *Overrides) (picked []*candidate, considered []*candidate) {
	nodes := buildNodes(s)
	for _, n := range nodes {
		var cands []*candidate
		k, conf, ev, reject := judgeKind(n)
		if k.IsNHI() || reject == "" {
			c := &candidate{node: n, via: viaList, items: n.items, rec: n.rec, kind: k, conf: conf, evidence: ev, skip: reject}
			if n.parent != nil {
				c.via = viaForEach
			}
			cands = append(cands, c)
		}
		if n.parent == nil && n.bindErr == "" && !hasParams(n.segs) {
			cands = append(cands, embeddedCandidates(n, nodes)...)
		}
		for _, c := range cands {
			switch {
			case c.skip != "":
			case n.op.Deprecated:
				c.skip = "the operation is deprecated"
			case n.bindErr != "":
				c.skip = n.bindErr
			case c.via != viaEmbedded && !bareIDs(c.items) && idField(c.rec, "", lastLiteral(n.segs)) == "":
				c.skip = "its records have no identifying property (id, uuid, *_id, key, name)"
			case c.via == viaEmbedded && n.op.List.Paging.Style == apisurface.PageUnknown:
				c.skip = "the outer list pages in an unknown way"
			}
			if reason, ok := ov.DropOps[c.opKey()]; ok && c.skip == "" {
				c.skip = reason
			}
			for p := n.parent; p != nil && c.skip == ""; p = p.parent {
				if reason, ok := ov.DropOps[p.key]; ok {
					c.skip = "its parent " + p.key + " is not read: " + reason
				}
			}
			if c.skip == "" {
				q, why, skip := requiredQuery(n.op)
				c.query, c.queryWhy, c.skip = q, why, skip
				for p := n.parent; p != nil && c.skip == ""; p = p.parent {
					if _, _, pskip := requiredQuery(p.op); pskip != "" {
						c.skip = "its parent " + p.key + ": " + pskip
					}
				}
			}
			c.score = scoreOf(c)
			considered = append(considered, c)
		}
	}
	sort.SliceStable(considered, func(i, j int) bool {
		if considered[i].score != considered[j].score {
			return considered[i].score > considered[j].score
		}
		return considered[i].opKey() < considered[j].opKey()
	})
	budget := o.MaxStreams
	if budget <= 0 {
		budget = defaultMaxStreams
	}
	streams := map[*listNode]bool{} // nodes read by a stream (emitting or parent)
	used := 0
	for _, c := range considered {
		if c.skip != "" {
			continue
		}
		need := 0
		if c.via == viaEmbedded || !streams[c.node] {
			need++
		}
		for p := c.node.parent; p != nil; p = p.parent {
			if !streams[p] {
				need++
			}
		}
		if used+need > budget {
			c.skip = fmt.Sprintf("beyond the stream budget (MaxStreams %d): less NHI-relevant than the streams read", budget)
			continue
		}
		used += need
		if c.via != viaEmbedded {
			streams[c.node] = true
		}
		for p := c.node.parent; p != nil; p = p.parent {
			streams[p] = true
		}
		picked = append(picked, c)
	}
	sort.SliceStable(considered, func(i, j int) bool { return considered[i].opKey() < considered[j].opKey() })
	return picked, considered
}

func hasParams(segs []string) bool { return slices.ContainsFunc(segs, isParam) }

// scoreOf ranks candidates for the stream budget: kind confidence, less
// for each fan-out level over a parent that is no identity (one request
// per parent record, and a parent stream of its own), much less for
// fanning out over people or groups (one request per user: costly, and
// the same identities are usually listed elsewhere), and less for lists
// whose paging is unknown; a little more when the path or summary names
// a credential outright.
func scoreOf(c *candidate) float64 {
	s := c.conf
	for p := c.node.parent; p != nil; p = p.parent {
		pk, pc := p.op.List.Kind, p.op.List.KindConf.Confidence
		switch {
		case pk.IsNHI() && pc >= minKindConf:
			// The credentials of an identity that is read anyway: who
			// holds which key is the heart of an NHI inventory.
		case (pk == nhi.HumanUser || pk == nhi.Team || pk == nhi.Role) && pc >= minKindConf:
			s -= 0.3
		default:
			s -= 0.1
		}
	}
	if c.node.op.List.Paging.Style == apisurface.PageUnknown {
		s -= 0.05
	}
	// Words that name credentials outright, in the path or the summary,
	// beat collections whose kind rests on vaguer words (apps, add-ons).
	for _, w := range words(c.node.op.Path + " " + c.node.op.Summary + " " + c.embed) {
		if credentialWords[w] {
			s += 0.05
			break
		}
	}
	if c.via == viaEmbedded {
		s -= 0.05 // references, usually thinner than the full records
	}
	return math.Round(s*1000) / 1000
}

// sameEntities says whether the top-level list other holds the entities
// that n's records embed in prop: a sibling collection named like the
// property (/services embeds addons, /addons lists them), or one whose
// record schema the items reference (AddonReference → Addon).
func sameEntities(n, other *listNode, prop string, items *apisurface.Schema) bool {
	if hasParams(other.segs) || len(other.segs) == 0 || len(n.segs) == 0 {
		return false
	}
	sibling := slices.Equal(other.segs[:len(other.segs)-1], n.segs[:len(n.segs)-1])
	if sibling && names.Snake(lastLiteral(other.segs)) == names.Snake(prop) {
		return true
	}
	if items == nil || items.Ref == "" || other.rec.ref == "" {
		return false
	}
	ws := words(items.Ref)
	for len(ws) > 1 && fillerWords[ws[len(ws)-1]] {
		ws = ws[:len(ws)-1]
	}
	return slices.Equal(ws, words(other.rec.ref))
}

// scopeWords name the scopes an integration is set up for once (a
// project, an account, a tenant): a path parameter naming one, with no
// list to enumerate it, becomes a config input.
var scopeWords = map[string]bool{
	"project": true, "org": true, "organization": true, "organisation": true, "account": true, "workspace": true,
	"tenant": true, "region": true, "location": true, "zone": true, "environment": true, "env": true, "site": true,
	"instance": true, "company": true, "enterprise": true, "realm": true, "subscription": true,
}

// configName is the config input a scope parameter fills: project and
// projectId are the same input.
func configName(param string) string {
	sn := names.Snake(param)
	for _, suf := range []string{"_id", "_name", "_key", "_slug"} {
		sn = strings.TrimSuffix(sn, suf)
	}
	return ident(sn)
}

func scopeParam(name string) bool {
	return scopeWords[configName(name)]
}
