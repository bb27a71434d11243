package apisurface

import (
	"fmt"
	"github.com/spindlehq/spindle/internal/names"
	"slices"
	"strings"
)

// Schema shape helpers. The loader merges allOf into Properties and keeps
// oneOf/anyOf as OneOf alternatives, so an envelope's fields may sit in
// either place.

func isArray(s *Schema) bool {
	return s != nil && (s.Type == "array" || s.Type == "" && s.Items != nil)
}

func isObject(s *Schema) bool {
	return s != nil && (s.Type == "object" ||
		s.Type == "" && (len(s.Properties) > 0 || len(s.OneOf) > 0 || s.AdditionalProperties != nil))
}

// isRecordSchema reports whether an array's items look like records
// (objects, or alternatives of objects) rather than scalars.
func isRecordSchema(s *Schema) bool {
	if s == nil {
		return false
	}
	if isObject(s) || s.Circular {
		return true
	}
	for _, alt := range s.OneOf {
		if isObject(alt) {
			return true
		}
	}
	return false
}

// eachProp calls fn for every property of s and of its oneOf/anyOf
// alternatives (two levels deep), each name once, the first seen winning;
// fn returns false to stop.
func eachProp(s *Schema, fn func(p Property) bool) {
	if s == nil {
		return
	}
	if len(s.OneOf) == 0 {
		// The common case: no alternatives, names already unique.
		for _, p := range s.Properties {
			if !fn(p) {
				return
			}
		}
		return
	}
	var seen []string
	var walk func(s *Schema, depth int) bool
	walk = func(s *Schema, depth int) bool {
		if s == nil {
			return true
		}
		for _, p := range s.Properties {
			if slices.Contains(seen, p.Name) {
				continue
			}
			seen = append(seen, p.Name)
			if !fn(p) {
				return false
			}
		}
		if depth < 2 {
			for _, alt := range s.OneOf {
				if !walk(alt, depth+1) {
					return false
				}
			}
		}
		return true
	}
	walk(s, 0)
}

// recordsNames are the property names that conventionally hold the
// records of a list envelope.
var recordsNames = map[string]bool{
	"data": true, "items": true, "results": true, "result": true, "records": true, "values": true,
	"value": true, "entries": true, "elements": true, "list": true, "rows": true, "objects": true,
	"resources": true, "content": true, "hits": true, "nodes": true, "collection": true,
}

// envelopeNames are object properties worth looking inside for a nested
// record array ({"data": {"items": [...]}}, HAL's "_embedded").
var envelopeNames = map[string]bool{
	"data": true, "result": true, "results": true, "response": true, "payload": true, "body": true,
	"page": true, "content": true, "embedded": true, "list": true, "collection": true, "value": true,
	"items": true, "records": true, "hits": true,
}

// metaNames are envelope parts that carry paging and counts, never records.
var metaNames = map[string]bool{
	"links": true, "link": true, "meta": true, "metadata": true, "paging": true, "pagination": true,
	"pageinfo": true, "responsemetadata": true, "cursors": true, "errors": true, "error": true,
	"warnings": true, "messages": true,
}

// pathShape is what the path and operationId say about an operation.
type pathShape struct {
	lastStatic  string // last literal segment ("keys" in /account/keys)
	lastIsParam bool   // the path ends in a {parameter}
	opID        string // operationId, normalised
}

func shapeOf(op *Operation) pathShape {
	var sh pathShape
	segs := strings.Split(strings.Trim(op.Path, "/"), "/")
	for i := len(segs) - 1; i >= 0; i-- {
		sg := segs[i]
		if sg == "" {
			continue
		}
		if strings.HasPrefix(sg, "{") || strings.HasPrefix(sg, ":") {
			if i == len(segs)-1 {
				sh.lastIsParam = true
			}
			continue
		}
		sh.lastStatic = sg
		break
	}
	sh.opID = norm(op.ID)
	return sh
}

// segmentNoun is the noun of a path segment: "users.list" → "users",
// "ssh-keys" → "ssh-keys". RPC-style paths put a verb after the dot.
func segmentNoun(seg string) string {
	if i := strings.IndexByte(seg, '.'); i > 0 {
		return seg[:i]
	}
	return seg
}

type arrayCand struct {
	keys   []string
	schema *Schema
	score  float64
	why    []string
}

// findRecords decides whether a GET's response is a collection, and where
// its records are. hinted says the operation carries paging hints, which
// lowers the bar for an envelope whose array is not conventionally named.
func findRecords(op *Operation, sh pathShape, hinted bool) (path []string, items *Schema, conf Inference, ok bool) {
	r := op.Response
	if r == nil {
		return nil, nil, Inference{}, false
	}
	if isArray(r) {
		return nil, r.Items, Inference{Confidence: 0.95, Evidence: []string{"response is an array"}}, true
	}
	if !isObject(r) {
		return nil, nil, Inference{}, false
	}
	var cands []arrayCand
	collectArrays(r, nil, sh, &cands, 0)
	if len(cands) == 0 {
		return nil, nil, Inference{}, false
	}
	best, second := -1, -1
	for i := range cands {
		switch {
		case best < 0 || cands[i].score > cands[best].score:
			best, second = i, best
		case second < 0 || cands[i].score > cands[second].score:
			second = i
		}
	}
	c := cands[best]
	// A path ending in {id} usually names one object; its arrays are
	// attributes unless the names or paging say otherwise.
	bar := 3.0
	if hinted {
		bar = 2
	}
	if sh.lastIsParam {
		bar++
	}
	if c.score < bar {
		return nil, nil, Inference{}, false
	}
	inf := Inference{Confidence: 0.35 + 0.1*c.score, Evidence: c.why}
	if hinted {
		inf.Evidence = append(inf.Evidence, "the operation has paging parameters or fields")
	}
	if second >= 0 && cands[second].score > c.score-1 {
		inf.Confidence -= 0.15
		inf.Evidence = append(inf.Evidence, fmt.Sprintf("array property %q is almost as likely", bodyPath(cands[second].keys)))
	}
	inf.Confidence = clamp(inf.Confidence, 0.3, 0.92)
	return c.keys, c.schema.Items, inf, true
}

// isIDList says whether an array property holds the identifiers of a
// collection rather than attributes: scalar items under a name such as
// "keys", "ids" or "names" (or ending in "ids": "entity_ids"). Key-value
// stores and LIST-verb APIs answer a list that way, {"data": {"keys":
// ["a", "b"]}}, each identifier a record of its own.
func isIDList(name string, s *Schema) bool {
	if !isArray(s) || isRecordSchema(s.Items) || s.Items == nil {
		return false
	}
	switch s.Items.Type {
	case "string", "integer":
	default:
		return false
	}
	ws := words(name)
	if len(ws) == 0 {
		return false
	}
	switch ws[len(ws)-1] {
	case "keys", "ids", "names", "identifiers", "uuids":
		return true
	}
	return false
}

// collectArrays scores every array property of obj (and of envelope-like
// nested objects, to depth 2) as the home of the records.
func collectArrays(obj *Schema, prefix []string, sh pathShape, out *[]arrayCand, depth int) {
	var recordArrays, arrays int
	hasID := false
	var nb []byte
	eachProp(obj, func(p Property) bool {
		if isArray(p.Schema) && isRecordSchema(p.Schema.Items) {
			recordArrays++
		}
		if isArray(p.Schema) && !metaNames[norm(p.Name)] {
			arrays++
		}
		if nb = appendNorm(nb[:0], p.Name); string(nb) == "id" || string(nb) == "uuid" {
			hasID = true
		}
		return true
	})
	segNoun := normSingular(segmentNoun(sh.lastStatic))
	segWords := words(segmentNoun(sh.lastStatic))
	segLast := ""
	if len(segWords) > 0 {
		segLast = names.Singular(segWords[len(segWords)-1])
	}
	eachProp(obj, func(p Property) bool {
		nb = appendNorm(nb[:0], p.Name)
		if metaNames[string(nb)] {
			return true
		}
		if depth < 2 && !isArray(p.Schema) && isObject(p.Schema) && envelopeNames[string(nb)] {
			collectArrays(p.Schema, append(append([]string(nil), prefix...), p.Name), sh, out, depth+1)
			return true
		}
		if isArray(p.Schema) {
			n := string(nb)
			c := arrayCand{keys: append(append([]string(nil), prefix...), p.Name), schema: p.Schema}
			ns := normSingular(p.Name)
			pw := words(p.Name)
			switch {
			case recordsNames[n]:
				c.score += 3
				c.why = append(c.why, fmt.Sprintf("array property %q has a conventional records name", p.Name))
			case segNoun != "" && ns == segNoun:
				c.score += 3
				c.why = append(c.why, fmt.Sprintf("array property %q matches the path's last segment %q", p.Name, sh.lastStatic))
			case segLast != "" && len(pw) > 0 && names.Singular(pw[len(pw)-1]) == segLast:
				c.score += 2
				c.why = append(c.why, fmt.Sprintf("array property %q ends with the path's last segment %q", p.Name, sh.lastStatic))
			}
			if len(ns) >= 3 && sh.opID != "" && (strings.Contains(sh.opID, ns) || strings.Contains(sh.opID, n)) {
				c.score++
				c.why = append(c.why, fmt.Sprintf("operationId names %q", p.Name))
			}
			switch {
			case isRecordSchema(p.Schema.Items):
				c.score++
				if recordArrays == 1 {
					c.score++
					c.why = append(c.why, fmt.Sprintf("only array of objects is %q", p.Name))
				}
			case isIDList(p.Name, p.Schema):
				// The identifiers are the records: a list that names its
				// members instead of describing them.
				c.score += 3
				c.why = append(c.why, fmt.Sprintf("array property %q lists identifiers (%s items)", p.Name, p.Schema.Items.Type))
				if arrays == 1 {
					// Half a point: enough inside an envelope, not enough
					// to read a {id}-addressed object's attribute as a list.
					c.score += 0.5
					c.why = append(c.why, fmt.Sprintf("only array is %q", p.Name))
				}
			default:
				c.score-- // a list of strings is a list, but rarely of records
			}
			if hasID {
				// Siblings with an id make obj a resource, not an envelope.
				c.score -= 1.5
			}
			c.score -= 0.5 * float64(depth)
			*out = append(*out, c)
		}
		return true
	})
}
