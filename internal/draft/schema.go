package draft

import (
	"github.com/spindlehq/spindle/internal/names"
	"slices"

	"github.com/spindlehq/spindle/internal/apisurface"
)

// record is a list's record schema as a mapping sees it: the properties
// every shape may have, and those every shape must have.
type record struct {
	ref   string
	props []apisurface.Property // union over oneOf alternatives, document order
	req   map[string]bool       // required in every alternative (strict reads are safe)
	refs  []string              // component names of the record and its alternatives
}

// newRecord flattens s. A oneOf of object shapes (several application
// types, say) is read as one record: a property any shape declares may be
// mapped, guarded; only one that every shape requires is read strictly.
func newRecord(s *apisurface.Schema) *record {
	r := &record{req: map[string]bool{}}
	if s == nil {
		return r
	}
	r.ref = s.Ref
	if s.Ref != "" {
		r.refs = append(r.refs, s.Ref)
	}
	seen := map[string]bool{}
	add := func(ps []apisurface.Property) {
		for _, p := range ps {
			if !seen[p.Name] && p.Schema != nil && !p.Schema.WriteOnly {
				seen[p.Name] = true
				r.props = append(r.props, p)
			}
		}
	}
	add(s.Properties)
	var alts []*apisurface.Schema
	for _, a := range s.OneOf {
		if a != nil && (len(a.Properties) > 0 || len(a.Required) > 0) {
			alts = append(alts, a)
		}
	}
	for _, a := range alts {
		add(a.Properties)
		if a.Ref != "" && !slices.Contains(r.refs, a.Ref) {
			r.refs = append(r.refs, a.Ref)
		}
	}
	for _, name := range s.Required {
		r.req[name] = true
	}
	if len(alts) > 0 {
		// Required in every alternative (or by the shared base).
		for _, p := range r.props {
			all := true
			for _, a := range alts {
				if !slices.Contains(a.Required, p.Name) && !slices.Contains(s.Required, p.Name) {
					all = false
					break
				}
			}
			if all {
				r.req[p.Name] = true
			}
		}
	}
	// A required name the schema never declares cannot be typed; keep only
	// declared ones.
	for name := range r.req {
		if r.prop(name) == nil {
			delete(r.req, name)
		}
	}
	return r
}

func (r *record) prop(name string) *apisurface.Schema {
	for _, p := range r.props {
		if p.Name == name {
			return p.Schema
		}
	}
	return nil
}

func (r *record) names() []string {
	out := make([]string, len(r.props))
	for i, p := range r.props {
		out[i] = p.Name
	}
	return out
}

// find returns the first property whose snake-case name is one of want, in
// want's order of preference.
func (r *record) find(want []string) (string, *apisurface.Schema) {
	for _, w := range want {
		for _, p := range r.props {
			if names.Snake(p.Name) == w {
				return p.Name, p.Schema
			}
		}
	}
	return "", nil
}

// typeOf is a schema's JSON type, inferred when the doc leaves it out.
func typeOf(s *apisurface.Schema) string {
	if s == nil {
		return ""
	}
	if s.Type != "" {
		return s.Type
	}
	switch {
	case len(s.Properties) > 0 || s.AdditionalProperties != nil:
		return "object"
	case s.Items != nil:
		return "array"
	}
	if len(s.OneOf) > 0 {
		t := ""
		for _, a := range s.OneOf {
			at := typeOf(a)
			if t != "" && at != t {
				return ""
			}
			t = at
		}
		return t
	}
	return ""
}

// propOf finds a property of an object schema.
func propOf(s *apisurface.Schema, name string) *apisurface.Schema {
	if s == nil {
		return nil
	}
	for _, p := range s.Properties {
		if p.Name == name {
			return p.Schema
		}
	}
	return nil
}

func requires(s *apisurface.Schema, name string) bool {
	return s != nil && slices.Contains(s.Required, name)
}

// schemaAt follows a dot body path through object properties ("" is s).
func schemaAt(s *apisurface.Schema, path string) *apisurface.Schema {
	if path == "" || path == "." {
		return s
	}
	for _, seg := range splitDots(path) {
		s = propOf(s, seg)
		if s == nil {
			return nil
		}
	}
	return s
}

func splitDots(p string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '.' {
			if i > start {
				out = append(out, p[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// enumStrings lists a schema's string enum values, in order.
func enumStrings(s *apisurface.Schema) []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, e := range s.Enum {
		if v, ok := e.(string); ok {
			out = append(out, v)
		}
	}
	return out
}
