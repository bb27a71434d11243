package validate

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/sandbox"
)

// expectation is what the sandbox seeded for one stream: the ids its
// records must carry as external_id (a multiset: embedded items may
// repeat), or only their number when the records have no id field.
type expectation struct {
	counts    map[string]int
	total     int
	countOnly bool
	idField   string
	// reason is set when no expectation can be built; the stream then
	// cannot be proved complete.
	reason string
	// items are the seeded vendor records as the stream sees them (the
	// embedded items for an a.*.b stream), across every scope.
	items []any
	// parents and allParents: for a child list, the parent scopes
	// expected (those the parent stream fetched) of all the sandbox has.
	parents, allParents int
}

// lastScopeID is the id in ids that a child scope ends with (the direct
// parent's; a deeper scope joins ancestors' ids with "/"), or "".
func lastScopeID(scope string, ids map[string]bool) string {
	if ids[scope] {
		return scope
	}
	for i := len(scope) - 1; i >= 0; i-- {
		if scope[i] == '/' && ids[scope[i+1:]] {
			return scope[i+1:]
		}
	}
	return ""
}

// expect builds the expectation of si from the sandbox's truth and its
// generated records. A for_each child expects the children of the parent
// records its parent stream fetched (parents: their ids), or of every
// parent when parents is nil (the parent emits nothing, or its records
// cannot be told apart by id). A parent that missed records fails its own
// completeness check; its children are judged on what they were given.
func expect(sb *sandbox.Sandbox, truth sandbox.Truth, si *streamInfo, parents map[string]bool) *expectation {
	e := &expectation{}
	if si.opPath == "" {
		e.reason = "the stream reads no documented operation, so nothing was seeded for it"
		return e
	}
	if si.method != "GET" {
		e.reason = fmt.Sprintf("the sandbox serves GET operations only, so a %s stream cannot be proved complete", si.method)
		return e
	}
	ot, ok := truth.Operation("GET", si.opPath)
	if !ok {
		e.reason = fmt.Sprintf("GET %s is not a list operation in the sandbox, so it has no ground truth; read a documented list operation", si.opPath)
		return e
	}
	scopes := []string{""}
	if ot.Parent != "" {
		scopes = scopes[:0]
		for k := range ot.Children {
			if parents == nil || parents[lastScopeID(k, parents)] {
				scopes = append(scopes, k)
			}
		}
		e.parents, e.allParents = len(scopes), len(ot.Children)
		sort.Strings(scopes)
	}
	for _, sc := range scopes {
		recs, err := sb.Records(si.opPath, sc)
		if err != nil {
			e.reason = err.Error()
			return e
		}
		if !si.embedded {
			e.items = append(e.items, recs...)
			continue
		}
		for _, r := range recs {
			if l, ok := lookupPath(r, si.inner).([]any); ok {
				e.items = append(e.items, l...)
			}
		}
	}
	e.counts = map[string]int{}
	if !si.embedded {
		ids := ot.IDs
		for _, sc := range scopes {
			if ot.Parent != "" {
				ids = append(ids, ot.Children[sc]...)
			}
		}
		e.idField, e.countOnly, e.total = ot.IDField, ot.IDField == "", len(ids)
		for _, id := range ids {
			e.counts[id]++
		}
		return e
	}
	e.total = len(e.items)
	e.idField = itemIDField(e.items)
	e.countOnly = e.idField == ""
	for _, it := range e.items {
		switch {
		case e.countOnly:
		case e.idField == ".":
			e.counts[scalarString(it)]++
		default:
			e.counts[scalarString(it.(map[string]any)[e.idField])]++
		}
	}
	return e
}

// idWords says how records are matched, for summaries.
func (e *expectation) idWords() string {
	switch {
	case e.countOnly:
		return "by count (the records have no id field)"
	case e.idField == ".":
		return "by external_id = the record itself (a list of bare identifiers)"
	}
	return "by external_id = " + e.idField
}

// idExpr is the CEL that reads the records' id, for hints.
func (e *expectation) idExpr() string {
	if e.idField == "." {
		return "r"
	}
	return "r." + e.idField
}

// itemIDField picks the property identifying embedded items the way the
// sandbox picks a list's: id, then uuid/uid, then a *_id or *Id, present
// as a scalar in every item; "." when the items are bare identifiers
// (strings or numbers), each its own id. "" when there is none: counts
// are compared.
func itemIDField(items []any) string {
	if len(items) == 0 {
		return ""
	}
	if !slices.ContainsFunc(items, func(it any) bool {
		switch it.(type) {
		case string, json.Number:
			return false
		}
		return true
	}) {
		return "."
	}
	common := map[string]bool{}
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return ""
		}
		keys := map[string]bool{}
		for k, v := range m {
			switch v.(type) {
			case string, json.Number:
				keys[k] = true
			}
		}
		if i == 0 {
			common = keys
			continue
		}
		for k := range common {
			if !keys[k] {
				delete(common, k)
			}
		}
	}
	names := make([]string, 0, len(common))
	for k := range common {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, pick := range []func(string) bool{
		func(n string) bool { return n == "id" },
		func(n string) bool { l := strings.ToLower(n); return l == "id" || l == "uuid" || l == "uid" },
		func(n string) bool { return strings.HasSuffix(n, "_id") || strings.HasSuffix(n, "Id") },
	} {
		for _, n := range names {
			if pick(n) {
				return n
			}
		}
	}
	return ""
}

// lookupPath reads a dot path (or JSON Pointer) inside decoded JSON; nil
// when absent.
func lookupPath(v any, path string) any {
	var segs []string
	switch {
	case path == "" || path == ".":
		return v
	case strings.HasPrefix(path, "/"):
		for _, s := range strings.Split(path[1:], "/") {
			segs = append(segs, strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~"))
		}
	default:
		segs = strings.Split(path, ".")
	}
	for _, s := range segs {
		switch t := v.(type) {
		case map[string]any:
			v = t[s]
		case []any:
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(t) {
				return nil
			}
			v = t[i]
		default:
			return nil
		}
	}
	return v
}

func scalarString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// matchResult compares what a stream fetched with its expectation.
type matchResult struct {
	fetched, matched, extra, missingN int
	missing                           []string // up to 10
	extras                            []string // up to 5 unexpected ids
}

func (e *expectation) match(recs []*nhi.Record) matchResult {
	m := matchResult{fetched: len(recs)}
	if e.countOnly {
		m.matched = min(len(recs), e.total)
		m.extra = max(0, len(recs)-e.total)
		m.missingN = max(0, e.total-len(recs))
		return m
	}
	got := map[string]int{}
	for _, r := range recs {
		got[r.ExternalID]++
	}
	ids := make([]string, 0, len(e.counts))
	for id := range e.counts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		want, have := e.counts[id], got[id]
		m.matched += min(want, have)
		if have < want {
			m.missingN += want - have
			if len(m.missing) < 10 {
				m.missing = append(m.missing, id)
			}
		}
	}
	others := make([]string, 0)
	for id, have := range got {
		if extra := have - e.counts[id]; extra > 0 {
			m.extra += extra
			others = append(others, id)
		}
	}
	sort.Strings(others)
	m.extras = others[:min(len(others), 5)]
	return m
}

// complete says whether the fetch matches the expectation exactly.
func (m matchResult) complete(e *expectation) bool {
	return e.reason == "" && e.total > 0 && m.matched == e.total && m.extra == 0
}
