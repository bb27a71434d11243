package apisurface

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/pb33f/go-yaml"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	"github.com/pb33f/libopenapi/datamodel/low"
	"github.com/pb33f/libopenapi/index"
)

// Bounds on schema conversion, per document. A hostile document can nest
// or fan out schemas without end; these keep memory, and the size of
// anything that walks the surface, bounded.
const (
	// maxSchemaDepth is the deepest a schema tree goes below an operation.
	maxSchemaDepth = 24
	// maxSchemaNodes bounds the schema nodes of the whole surface (the
	// largest corpus document, Okta, has about 48,000).
	maxSchemaNodes = 500_000
	// maxValueNodes bounds one example or enum; maxValueNodesTotal all of
	// them in a document.
	maxValueNodes      = 20_000
	maxValueNodesTotal = 2_000_000
	// maxAliasDepth bounds YAML alias chains inside example values.
	maxAliasDepth = 32
)

// schemaConv converts schemas into Schema trees for one load.
//
// It reads the YAML nodes of the document directly, resolving $refs with
// libopenapi's index, rather than asking libopenapi to build its own
// schema objects: those carry every keyword with its position and cost
// more to build than the whole surface. libopenapi still finds, loads
// and indexes every file, and says where each operation's schema is.
//
// Cycles are cut on the ancestry: a schema met again on its own path
// becomes {Ref, Circular}. Every use of a component is its own copy, so
// consumers may change a surface's schemas freely; the node bound keeps
// the copies in check.
type schemaConv struct {
	b       *builder
	where   string
	stack   []*yaml.Node
	refs    []string
	onStack map[*yaml.Node]int
	cycles  map[string]bool // refs already reported as circular
	missing map[string]bool // refs already reported as unresolvable

	nodes      int // schema nodes, each copy counted
	valueNodes int
	depthCuts  int
	budgetCuts int
	bigValues  int
	firstDepth string
	firstBig   string
}

func newSchemaConv(b *builder) *schemaConv {
	return &schemaConv{b: b, onStack: map[*yaml.Node]int{}, cycles: map[string]bool{}, missing: map[string]bool{}}
}

// root converts the schema behind one parameter or response. libopenapi
// has already resolved a top-level $ref: the proxy's node is the target,
// its index and context those of the file the target is in.
func (c *schemaConv) root(sp *base.SchemaProxy, where string) *Schema {
	if sp == nil {
		return nil
	}
	l := sp.GoLow()
	if l == nil || l.GetValueNode() == nil {
		return nil
	}
	c.where = where
	ref := ""
	if sp.IsReference() {
		ref = refName(sp.GetReference())
	}
	ctx := l.GetContext()
	if ctx == nil {
		ctx = context.Background()
	}
	return c.node(ctx, l.GetIndex(), l.GetValueNode(), ref, 0)
}

// finish reports the bounds reached, once per kind.
func (c *schemaConv) finish() {
	if c.depthCuts > 0 {
		c.b.warn("schema-too-deep", c.firstDepth, fmt.Sprintf("%d schemas nest deeper than %d levels; cut there", c.depthCuts, maxSchemaDepth))
	}
	if c.budgetCuts > 0 {
		c.b.warn("schema-too-large", "", fmt.Sprintf("the document's schemas exceed %d nodes; %d schemas were cut short", maxSchemaNodes, c.budgetCuts))
	}
	if c.bigValues > 0 {
		c.b.warn("example-too-large", c.firstBig, fmt.Sprintf("%d examples or enums were too large (over %d nodes, or %d in all) and were dropped", c.bigValues, maxValueNodes, maxValueNodesTotal))
	}
	c.depthCuts, c.budgetCuts, c.bigValues = 0, 0, 0
}

// deref follows YAML aliases, boundedly (an alias may point at its own
// ancestor).
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxAliasDepth; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

// pairs lists a mapping's keys and values, with YAML merge keys ("<<")
// expanded after the mapping's own keys, which win.
func pairs(n *yaml.Node) [][2]*yaml.Node {
	out := make([][2]*yaml.Node, 0, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "<<" && n.Content[i].Tag != "!!str" {
			merges = append(merges, n.Content[i+1])
			continue
		}
		out = append(out, [2]*yaml.Node{n.Content[i], n.Content[i+1]})
	}
	for _, m := range merges {
		m = deref(m)
		var srcs []*yaml.Node
		if m != nil && m.Kind == yaml.SequenceNode {
			srcs = m.Content
		} else {
			srcs = []*yaml.Node{m}
		}
		for _, src := range srcs {
			src = deref(src)
			if src == nil || src.Kind != yaml.MappingNode {
				continue
			}
			for i := 0; i+1 < len(src.Content); i += 2 {
				if !hasPair(out, src.Content[i].Value) {
					out = append(out, [2]*yaml.Node{src.Content[i], src.Content[i+1]})
				}
			}
		}
	}
	return out
}

func hasPair(ps [][2]*yaml.Node, key string) bool {
	for _, p := range ps {
		if p[0].Value == key {
			return true
		}
	}
	return false
}

// node converts one schema node; ref names the component it was reached
// through ("" for an inline schema).
func (c *schemaConv) node(ctx context.Context, idx *index.SpecIndex, n *yaml.Node, ref string, depth int) *Schema {
	n = deref(n)
	if n == nil {
		return &Schema{Ref: ref}
	}
	if n.Kind != yaml.MappingNode {
		// `true` (anything) or a malformed schema: unconstrained.
		c.nodes++
		return &Schema{Ref: ref}
	}
	ps := pairs(n)
	for _, p := range ps {
		if p[0].Value == "$ref" {
			return c.ref(ctx, idx, n, p[1].Value, ps, depth)
		}
	}
	if i, ok := c.onStack[n]; ok {
		if ref == "" {
			ref = c.refs[i]
		}
		if ref != "" && !c.cycles[ref] {
			c.cycles[ref] = true
			c.b.warn("circular-ref", c.where, fmt.Sprintf("schema %q contains itself; cut where it repeats", ref))
		}
		c.nodes++
		return &Schema{Ref: ref, Circular: true}
	}
	if depth > maxSchemaDepth {
		if c.depthCuts == 0 {
			c.firstDepth = c.where
		}
		c.depthCuts++
		return &Schema{Ref: ref}
	}
	if c.nodes >= maxSchemaNodes {
		c.budgetCuts++
		return &Schema{Ref: ref}
	}
	c.nodes++
	s := &Schema{Ref: ref}
	var props, items, addl *yaml.Node
	var oneOf, allOf []*yaml.Node
	var constant *yaml.Node
	for _, p := range ps {
		k, v := p[0].Value, deref(p[1])
		if v == nil {
			continue
		}
		switch k {
		case "properties":
			props = v
		case "items":
			items = v
			if v.Kind == yaml.SequenceNode { // draft-4 tuple: the first item
				items = nil
				if len(v.Content) > 0 {
					items = v.Content[0]
				}
			}
		case "additionalProperties":
			addl = v
		case "oneOf", "anyOf":
			if v.Kind == yaml.SequenceNode {
				oneOf = append(oneOf, v.Content...)
			}
		case "allOf":
			if v.Kind == yaml.SequenceNode {
				allOf = v.Content
			}
		case "const":
			constant = v
		default:
			c.keyword(s, k, v)
		}
	}
	if s.Enum == nil && constant != nil {
		s.Enum = c.values([]*yaml.Node{constant})
	}

	c.onStack[n] = len(c.stack)
	c.stack = append(c.stack, n)
	c.refs = append(c.refs, ref)
	defer func() {
		delete(c.onStack, n)
		c.stack = c.stack[:len(c.stack)-1]
		c.refs = c.refs[:len(c.refs)-1]
	}()

	if props != nil && props.Kind == yaml.MappingNode {
		for _, p := range pairs(props) {
			s.Properties = append(s.Properties, Property{Name: p[0].Value, Schema: c.node(ctx, idx, p[1], "", depth+1)})
		}
	}
	if items != nil {
		s.Items = c.node(ctx, idx, items, "", depth+1)
	}
	if addl != nil {
		switch {
		case addl.Kind == yaml.MappingNode:
			s.AdditionalProperties = c.node(ctx, idx, addl, "", depth+1)
		case addl.Kind == yaml.ScalarNode && addl.Value == "true":
			s.AdditionalProperties = &Schema{} // any value
		}
	}
	for _, o := range oneOf {
		s.OneOf = append(s.OneOf, c.node(ctx, idx, o, "", depth+1))
	}
	if len(allOf) > 0 {
		parts := make([]*Schema, 0, len(allOf))
		for _, a := range allOf {
			parts = append(parts, c.node(ctx, idx, a, "", depth+1))
		}
		mergeAllOf(s, parts)
	}
	if s.Type == "" {
		switch {
		case len(s.Properties) > 0:
			s.Type = "object"
		case s.Items != nil:
			s.Type = "array"
		}
	}
	return s
}

// ref resolves a $ref with libopenapi's index (which knows every file and
// resolves relative refs against the file the ref is in) and converts the
// target. Keywords beside the $ref (description, nullable, …) apply on
// top, as OpenAPI 3.1 reads them.
func (c *schemaConv) ref(ctx context.Context, idx *index.SpecIndex, n *yaml.Node, refStr string, ps [][2]*yaml.Node, depth int) *Schema {
	name := refName(refStr)
	if idx == nil {
		return &Schema{Ref: name}
	}
	target, fIdx, err, fCtx := low.LocateRefNodeWithContext(ctx, n, idx)
	target = deref(target)
	if target == nil || (err != nil && target.Kind == yaml.MappingNode && hasPair(pairs(target), "$ref")) {
		if !c.missing[refStr] {
			c.missing[refStr] = true
			msg := fmt.Sprintf("$ref %q could not be resolved; read as unconstrained", refStr)
			if err != nil {
				msg += ": " + err.Error()
			}
			c.b.warn("unresolved-ref", c.where, msg)
		}
		c.nodes++
		return &Schema{Ref: name}
	}
	if fIdx == nil {
		fIdx = idx
	}
	if fCtx == nil {
		fCtx = ctx
	}
	s := c.node(fCtx, fIdx, target, name, depth)
	if s.Circular {
		return s
	}
	for _, p := range ps {
		switch k := p[0].Value; k {
		case "description", "nullable", "readOnly", "writeOnly", "example", "examples", "default", "format":
			if v := deref(p[1]); v != nil {
				c.keyword(s, k, v)
			}
		}
	}
	return s
}

// keyword applies one keyword that needs no recursion.
func (c *schemaConv) keyword(s *Schema, k string, v *yaml.Node) {
	scalar := v.Kind == yaml.ScalarNode
	switch k {
	case "type":
		if scalar {
			if v.Value == "null" {
				s.Nullable = true
			} else {
				s.Type = v.Value
			}
			return
		}
		if v.Kind == yaml.SequenceNode {
			for _, t := range v.Content {
				switch {
				case t.Value == "null":
					s.Nullable = true
				case s.Type == "":
					s.Type = t.Value
				}
			}
		}
	case "format":
		if scalar {
			s.Format = v.Value
		}
	case "description":
		if scalar {
			s.Description = v.Value
		}
	case "pattern":
		if scalar {
			s.Pattern = v.Value
		}
	case "nullable":
		s.Nullable = s.Nullable || (scalar && v.Value == "true")
	case "readOnly":
		s.ReadOnly = scalar && v.Value == "true"
	case "writeOnly":
		s.WriteOnly = scalar && v.Value == "true"
	case "enum":
		if v.Kind == yaml.SequenceNode {
			s.Enum = c.values(v.Content)
		}
	case "example":
		s.Example, _ = c.value(v)
	case "examples":
		if v.Kind == yaml.SequenceNode && len(v.Content) > 0 && s.Example == nil {
			s.Example, _ = c.value(v.Content[0])
		}
	case "default":
		s.Default, _ = c.value(v)
	case "minimum":
		s.Minimum = number(v)
	case "maximum":
		s.Maximum = number(v)
	case "minLength":
		s.MinLength = count(v)
	case "maxLength":
		s.MaxLength = count(v)
	case "minItems":
		s.MinItems = count(v)
	case "maxItems":
		s.MaxItems = count(v)
	case "required":
		if v.Kind == yaml.SequenceNode {
			for _, r := range v.Content {
				if r.Kind == yaml.ScalarNode {
					s.Required = append(s.Required, r.Value)
				}
			}
		}
	}
}

// number reads a finite number; nil otherwise.
func number(v *yaml.Node) *float64 {
	if v.Kind != yaml.ScalarNode {
		return nil
	}
	f, err := strconv.ParseFloat(v.Value, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil
	}
	return &f
}

// count reads a non-negative integer bound, clamped to 32 bits.
func count(v *yaml.Node) *int {
	f := number(v)
	if f == nil || *f < 0 {
		return nil
	}
	i := int(math.Min(*f, math.MaxInt32))
	return &i
}

// mergeAllOf folds allOf parts into s: the schema's own keywords win,
// then the parts in order.
func mergeAllOf(s *Schema, parts []*Schema) {
	have := map[string]bool{}
	for _, p := range s.Properties {
		have[p.Name] = true
	}
	req := map[string]bool{}
	for _, r := range s.Required {
		req[r] = true
	}
	refs := 0
	refName := ""
	for _, p := range parts {
		if p.Ref != "" {
			refs++
			refName = p.Ref
		}
		for _, prop := range p.Properties {
			if !have[prop.Name] {
				have[prop.Name] = true
				s.Properties = append(s.Properties, prop)
			}
		}
		for _, r := range p.Required {
			if !req[r] {
				req[r] = true
				s.Required = append(s.Required, r)
			}
		}
		if s.Type == "" {
			s.Type = p.Type
		}
		if s.Format == "" {
			s.Format = p.Format
		}
		if s.Description == "" {
			s.Description = p.Description
		}
		if s.Enum == nil {
			s.Enum = p.Enum
		}
		if s.Example == nil {
			s.Example = p.Example
		}
		if s.Default == nil {
			s.Default = p.Default
		}
		if s.Items == nil {
			s.Items = p.Items
		}
		if s.AdditionalProperties == nil {
			s.AdditionalProperties = p.AdditionalProperties
		}
		if s.OneOf == nil && p.OneOf != nil {
			s.OneOf = append([]*Schema(nil), p.OneOf...)
		}
		if s.Pattern == "" {
			s.Pattern = p.Pattern
		}
		s.Minimum = firstNonNil(s.Minimum, p.Minimum)
		s.Maximum = firstNonNil(s.Maximum, p.Maximum)
		s.MinLength = firstNonNil(s.MinLength, p.MinLength)
		s.MaxLength = firstNonNil(s.MaxLength, p.MaxLength)
		s.MinItems = firstNonNil(s.MinItems, p.MinItems)
		s.MaxItems = firstNonNil(s.MaxItems, p.MaxItems)
		s.Nullable = s.Nullable || p.Nullable
		s.ReadOnly = s.ReadOnly || p.ReadOnly
		s.WriteOnly = s.WriteOnly || p.WriteOnly
	}
	// `allOf: [{$ref: X}, {…extra…}]` is "an X with extras": keep X's name.
	if s.Ref == "" && refs == 1 {
		s.Ref = refName
	}
}

func firstNonNil[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

// refName is the component name a $ref points at: the last JSON pointer
// segment ("#/components/schemas/User" → "User"), or the file's base name
// for a whole-file ref ("models/ssh_key.yml" → "ssh_key").
func refName(ref string) string {
	if i := strings.IndexByte(ref, '#'); i >= 0 {
		frag := ref[i+1:]
		if seg := frag[strings.LastIndexByte(frag, '/')+1:]; seg != "" {
			return unescapePointer(seg)
		}
		ref = ref[:i]
	}
	if ref == "" {
		return ""
	}
	b := path.Base(strings.ReplaceAll(ref, "\\", "/"))
	return strings.TrimSuffix(b, path.Ext(b))
}

// unescapePointer decodes one JSON pointer segment of a URI fragment.
func unescapePointer(seg string) string {
	if strings.IndexByte(seg, '%') >= 0 {
		if u, err := url.PathUnescape(seg); err == nil {
			seg = u
		}
	}
	if strings.IndexByte(seg, '~') >= 0 {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
	}
	return seg
}

// values converts enum values; nil when there are none or they are too big.
func (c *schemaConv) values(nodes []*yaml.Node) []any {
	if len(nodes) == 0 {
		return nil
	}
	out := make([]any, 0, len(nodes))
	for _, n := range nodes {
		v, ok := c.value(n)
		if !ok {
			return nil
		}
		out = append(out, v)
	}
	return out
}

// value converts a YAML value to plain Go values (map[string]any, []any,
// string, int64, float64, bool, nil) that encoding/json can always
// encode, within the value bounds.
func (c *schemaConv) value(n *yaml.Node) (any, bool) {
	budget := maxValueNodes
	if left := maxValueNodesTotal - c.valueNodes; left < budget {
		budget = left
	}
	used := 0
	v, ok := yamlValue(n, &used, budget, 0)
	c.valueNodes += used
	if !ok {
		if c.bigValues == 0 {
			c.firstBig = c.where
		}
		c.bigValues++
		return nil, false
	}
	return v, true
}

func yamlValue(n *yaml.Node, used *int, budget, depth int) (any, bool) {
	if n == nil {
		return nil, true
	}
	*used++
	if *used > budget || depth > maxAliasDepth+maxSchemaDepth {
		return nil, false
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, true
		}
		return yamlValue(n.Content[0], used, budget, depth+1)
	case yaml.AliasNode:
		return yamlValue(n.Alias, used, budget, depth+1)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, ok := yamlValue(n.Content[i+1], used, budget, depth+1)
			if !ok {
				return nil, false
			}
			m[n.Content[i].Value] = v
		}
		return m, true
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, ok := yamlValue(e, used, budget, depth+1)
			if !ok {
				return nil, false
			}
			s = append(s, v)
		}
		return s, true
	case yaml.ScalarNode:
		return scalarValue(n), true
	}
	return nil, true
}

func scalarValue(n *yaml.Node) any {
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool":
		if b, err := strconv.ParseBool(n.Value); err == nil {
			return b
		}
	case "!!int":
		if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return i
		}
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f
		}
	case "!!float":
		// JSON has no Inf or NaN: those stay strings.
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f
		}
	}
	return n.Value
}
