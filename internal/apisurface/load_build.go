package apisurface

import (
	"context"
	"net/url"
	"sort"
	"strings"

	"github.com/pb33f/libopenapi/datamodel/high/base"
	"github.com/pb33f/libopenapi/orderedmap"
)

// builder carries the state of one conversion from a libopenapi model to
// a Surface. It lives for one Load: no state is shared between loads.
type builder struct {
	ctx  context.Context
	src  *source
	w    warnList
	conv *schemaConv
	// dangling holds the dangling refs already reported (ref@file:line).
	dangling map[string]bool
}

func newBuilder(ctx context.Context, src *source) *builder {
	b := &builder{ctx: ctx, src: src}
	b.conv = newSchemaConv(b)
	return b
}

func (b *builder) warn(code, loc, msg string) { b.w.add(code, loc, msg) }

func (b *builder) warnings() []Warning {
	b.conv.finish()
	return b.w.result()
}

// requirements converts security requirements. The result keeps the
// nil/empty distinction: nil when the doc says nothing, empty when it
// says "none".
func requirements(reqs []*base.SecurityRequirement, declared bool) []Requirement {
	if !declared {
		return nil
	}
	out := make([]Requirement, 0, len(reqs))
	for _, r := range reqs {
		if r == nil {
			continue
		}
		req := Requirement{Schemes: []SchemeUse{}}
		for name, scopes := range r.Requirements.FromOldest() {
			req.Schemes = append(req.Schemes, SchemeUse{Scheme: name, Scopes: nonEmpty(scopes)})
		}
		out = append(out, req)
	}
	return out
}

func nonEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}

func scopesOf(m *orderedmap.Map[string, string]) []Scope {
	var out []Scope
	for name, desc := range m.FromOldest() {
		out = append(out, Scope{Name: name, Description: desc})
	}
	return out
}

// mergeParams merges path-level and operation-level parameters: an
// operation parameter replaces the path one with the same (name, in).
func mergeParams(pathLevel, opLevel []Parameter) []Parameter {
	if len(pathLevel) == 0 && len(opLevel) == 0 {
		return nil
	}
	type key struct{ name, in string }
	out := make([]Parameter, 0, len(pathLevel)+len(opLevel))
	pos := map[key]int{}
	for _, p := range pathLevel {
		k := key{p.Name, p.In}
		if i, ok := pos[k]; ok {
			out[i] = p
			continue
		}
		pos[k] = len(out)
		out = append(out, p)
	}
	for _, p := range opLevel {
		k := key{p.Name, p.In}
		if i, ok := pos[k]; ok {
			out[i] = p
			continue
		}
		pos[k] = len(out)
		out = append(out, p)
	}
	return out
}

// isJSONMedia accepts application/json and any +json type, parameters
// (charset, version) ignored.
func isJSONMedia(mt string) (exact, ok bool) {
	mt = strings.ToLower(strings.TrimSpace(mt))
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = strings.TrimSpace(mt[:i])
	}
	if mt == "application/json" {
		return true, true
	}
	return false, strings.HasSuffix(mt, "+json")
}

// successOrder ranks response codes by how well they name "the" success
// response: 200, then 201, then 2XX, then other 2xx in order, then
// default. ok is false for codes that are not successes.
func successOrder(code string) (rank int, ok bool) {
	c := strings.ToUpper(strings.TrimSpace(code))
	switch {
	case c == "200":
		return 0, true
	case c == "201":
		return 1, true
	case c == "2XX":
		return 2, true
	case len(c) == 3 && c[0] == '2' && c[1] >= '0' && c[1] <= '9' && c[2] >= '0' && c[2] <= '9':
		return 10 + int(c[1]-'0')*10 + int(c[2]-'0'), true
	case c == "DEFAULT":
		return 1000, true
	}
	return 0, false
}

// pickResponses records an operation's success response — the best-ranked
// success code with a JSON schema, else the best-ranked code alone — and
// the error schemas a sandbox answers with. Swagger 2 and OpenAPI 3 differ
// only in where a response keeps its schema, which view hides: it returns
// the JSON schema (nil when none), the header names, and whether the code
// has a response at all.
func (b *builder) pickResponses(o *Operation, codes []string, hasDefault bool, where string,
	view func(code string) (*base.SchemaProxy, []string, bool)) {
	for _, c := range codes {
		if !errorStatus(c) {
			continue
		}
		if s, _, ok := view(c); ok && s != nil {
			o.addErrorResponse(c, b.conv.root(s, where+".responses."+c))
		}
	}
	if hasDefault {
		// Beside an explicit success response, default is the error
		// shape; RPC-style docs give no other (errors come back as 200).
		if len(rankedCodes(codes)) > 0 {
			if s, _, ok := view("default"); ok && s != nil {
				o.addErrorResponse("default", b.conv.root(s, where+".responses.default"))
			}
		}
		codes = append(codes, "default")
	}
	firstCode := ""
	var firstHeaders []string
	for _, code := range rankedCodes(codes) {
		s, headers, ok := view(code)
		if !ok {
			continue
		}
		if firstCode == "" {
			firstCode, firstHeaders = code, headers
		}
		if s != nil {
			o.Response = b.conv.root(s, where+".responses."+code)
			o.ResponseStatus, o.ResponseHeaders = code, headers
			return
		}
	}
	if firstCode != "" && firstCode != "default" {
		o.ResponseStatus, o.ResponseHeaders = firstCode, firstHeaders
	}
}

// rankedCodes returns the success codes of a response map, best first.
func rankedCodes(codes []string) []string {
	type rc struct {
		code string
		rank int
	}
	var rs []rc
	for _, c := range codes {
		if r, ok := successOrder(c); ok {
			rs = append(rs, rc{c, r})
		}
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].rank < rs[j].rank })
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.code
	}
	return out
}

// sortOperations orders operations by path, then method.
func sortOperations(ops []Operation) {
	sort.SliceStable(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method < ops[j].Method
	})
}

// resolveServerURL makes a relative server URL absolute against a URL
// document's location, as OpenAPI says; file documents keep it as is.
func (b *builder) resolveServerURL(raw string) string {
	if b.src.baseURL == nil || raw == "" || strings.Contains(raw, "{") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.IsAbs() {
		return raw
	}
	return b.src.baseURL.ResolveReference(u).String()
}

func lowerAll(names []string) []string {
	for i, n := range names {
		names[i] = strings.ToLower(n)
	}
	return names
}
