package sandbox

import (
	"maps"
	"slices"

	"github.com/spindlehq/spindle/internal/apisurface"
)

// cloneSurface deep-copies what the sandbox reads from a surface, so that
// nobody holding the original (an agent's tools included) can change the
// sandbox after New. Schemas are a DAG — one component $ref'd from many
// places — and are copied once each, so the copy is no larger than the
// original.
func cloneSurface(s *apisurface.Surface) *apisurface.Surface {
	c := &surfaceCloner{seen: map[*apisurface.Schema]*apisurface.Schema{}}
	out := *s
	out.Servers = slices.Clone(s.Servers)
	for i := range out.Servers {
		out.Servers[i].Variables = slices.Clone(out.Servers[i].Variables)
	}
	out.SecuritySchemes = slices.Clone(s.SecuritySchemes)
	for i := range out.SecuritySchemes {
		fl := slices.Clone(out.SecuritySchemes[i].Flows)
		for j := range fl {
			fl[j].Scopes = slices.Clone(fl[j].Scopes)
		}
		out.SecuritySchemes[i].Flows = fl
	}
	out.Security = cloneReqs(s.Security)
	out.Warnings = slices.Clone(s.Warnings)
	out.Operations = slices.Clone(s.Operations)
	for i := range out.Operations {
		op := &out.Operations[i]
		op.Security = cloneReqs(op.Security)
		op.Parameters = slices.Clone(op.Parameters)
		for j := range op.Parameters {
			op.Parameters[j].Schema = c.schema(op.Parameters[j].Schema)
		}
		op.Response = c.schema(op.Response)
		if op.ErrorResponses != nil {
			m := make(map[string]*apisurface.Schema, len(op.ErrorResponses))
			for k, v := range op.ErrorResponses {
				m[k] = c.schema(v)
			}
			op.ErrorResponses = m
		}
		if op.List != nil {
			l := *op.List
			l.Records = c.schema(l.Records)
			op.List = &l
		}
	}
	return &out
}

// cloneReqs keeps nil apart from empty: nil inherits the document's
// requirement, empty means explicitly none.
func cloneReqs(rs []apisurface.Requirement) []apisurface.Requirement {
	if rs == nil {
		return nil
	}
	out := make([]apisurface.Requirement, len(rs))
	for i, r := range rs {
		out[i].Schemes = slices.Clone(r.Schemes)
		for j := range out[i].Schemes {
			out[i].Schemes[j].Scopes = slices.Clone(out[i].Schemes[j].Scopes)
		}
	}
	return out
}

type surfaceCloner struct {
	seen map[*apisurface.Schema]*apisurface.Schema
}

func (c *surfaceCloner) schema(s *apisurface.Schema) *apisurface.Schema {
	if s == nil {
		return nil
	}
	if d, ok := c.seen[s]; ok {
		return d
	}
	d := new(apisurface.Schema)
	c.seen[s] = d // before recursing: a shared child is copied once
	*d = *s
	d.Enum = make([]any, len(s.Enum))
	for i, e := range s.Enum {
		d.Enum[i] = cloneJSON(e)
	}
	if s.Enum == nil {
		d.Enum = nil
	}
	d.Example = cloneJSON(s.Example)
	d.Required = slices.Clone(s.Required)
	d.Properties = slices.Clone(s.Properties)
	for i := range d.Properties {
		d.Properties[i].Schema = c.schema(s.Properties[i].Schema)
	}
	d.AdditionalProperties = c.schema(s.AdditionalProperties)
	d.Items = c.schema(s.Items)
	if s.OneOf != nil {
		d.OneOf = make([]*apisurface.Schema, len(s.OneOf))
		for i, a := range s.OneOf {
			d.OneOf[i] = c.schema(a)
		}
	}
	d.Minimum, d.Maximum = clonePtr(s.Minimum), clonePtr(s.Maximum)
	d.MinLength, d.MaxLength = clonePtr(s.MinLength), clonePtr(s.MaxLength)
	d.MinItems, d.MaxItems = clonePtr(s.MinItems), clonePtr(s.MaxItems)
	return d
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// cloneJSON deep-copies a decoded JSON value (an example or enum value).
func cloneJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := maps.Clone(t)
		for k, x := range m {
			m[k] = cloneJSON(x)
		}
		return m
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = cloneJSON(x)
		}
		return out
	}
	return v
}
