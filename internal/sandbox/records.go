package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// maxRecordScopes bounds the scope check of Records: scopes multiply
// down a chain of child lists, and a caller asking about a scope that
// does not exist should learn so without the sandbox listing millions.
const maxRecordScopes = 100_000

// Records returns the records list operation path (the doc's template,
// as in Truth) holds under scope ("" for a top-level list; for a child
// collection the parent's id, or every ancestor's id outermost first,
// joined by "/", as the keys of OperationTruth.Children), in serving
// order, exactly as they are served: ids set, drift applied.
//
// Truth lists ids only; validation also needs what the records carry
// (the lists embedded in each record, the values a mapping reads), and
// it must judge by the sandbox's data, not by what a spec under test
// reported. The values are a fresh copy, decoded from the JSON the
// sandbox serves into plain Go values (map[string]any, []any, string,
// json.Number, bool, nil): numbers stay json.Number so that large
// integer ids keep every digit. Changing them changes nothing here.
func (sb *Sandbox) Records(path, scope string) ([]any, error) {
	var l *list
	for _, c := range sb.lists {
		if c.route.op.Path == path {
			l = c
			break
		}
	}
	if l == nil {
		return nil, fmt.Errorf("sandbox: %s is not a list operation of this API; Truth lists the list operations", path)
	}
	if l.parent() == nil {
		if scope != "" {
			return nil, fmt.Errorf("sandbox: %s is a top-level list; its only scope is \"\", not %q", path, scope)
		}
	} else if !sb.hasScope(l, scope) {
		return nil, fmt.Errorf("sandbox: %s has no scope %q; its scopes are the keys of its Truth Children", path, scope)
	}
	ids := sb.ids(l, scope)
	out := make([]any, 0, len(ids))
	for i := range ids {
		v, err := plainCopy(sb.recordValue(l, scope, i, l.records, ids))
		if err != nil {
			return nil, fmt.Errorf("sandbox: record %d of %s under %q: %w", i, path, scope, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// hasScope says whether scope is one of l's scopes, listing them the way
// Truth does (so ids that hold "/" compare exactly as Truth keys them).
func (sb *Sandbox) hasScope(l *list, scope string) bool {
	all := sb.scopes(l)
	if len(all) > maxRecordScopes {
		all = all[:maxRecordScopes]
	}
	return slices.Contains(all, scope)
}

// plainCopy turns a generated value into the plain values a JSON decoder
// yields, through the same encoder that writes responses, so the copy is
// what a client of the sandbox sees byte for byte.
func plainCopy(v any) (any, error) {
	b, err := encodeJSON(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}
