package apisurface

import (
	"github.com/pb33f/libopenapi/datamodel/high/base"
	"strings"

	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// fromV3 fills out from an OpenAPI 3.x model.
func (b *builder) fromV3(out *Surface, d *v3.Document) error {
	if d.Info != nil {
		out.Title, out.Version, out.Description = d.Info.Title, d.Info.Version, d.Info.Description
		if l := d.Info.GoLow(); l != nil {
			b.checkStringNode(l.Title.ValueNode, "info.title")
			if text := b.stringField(d.Index, l.Description.ValueNode, "info.description"); text != "" {
				out.Description = text
			}
			b.checkStringNode(l.Version.ValueNode, "info.version")
		}
	}
	out.Servers = b.serversV3(d.Servers)
	if d.Components != nil {
		for name, ss := range d.Components.SecuritySchemes.FromOldest() {
			if ss == nil {
				continue
			}
			out.SecuritySchemes = append(out.SecuritySchemes, securitySchemeV3(name, ss))
		}
	}
	out.Security = requirements(d.Security, d.Security != nil)
	if d.Paths != nil {
		for p, item := range d.Paths.PathItems.FromOldest() {
			if item == nil {
				continue
			}
			if err := b.ctx.Err(); err != nil {
				return err
			}
			b.pathItemV3(out, p, item)
		}
	}
	sortOperations(out.Operations)
	return nil
}

func (b *builder) serversV3(servers []*v3.Server) []Server {
	var out []Server
	for _, s := range servers {
		if s == nil {
			continue
		}
		srv := Server{URL: b.resolveServerURL(s.URL), Description: s.Description}
		for name, v := range s.Variables.FromOldest() {
			if v == nil {
				continue
			}
			srv.Variables = append(srv.Variables, ServerVariable{Name: name, Default: v.Default, Enum: nonEmpty(v.Enum), Description: v.Description})
		}
		out = append(out, srv)
	}
	return out
}

func securitySchemeV3(name string, ss *v3.SecurityScheme) SecurityScheme {
	out := SecurityScheme{
		Name:         name,
		Type:         ss.Type,
		Scheme:       strings.ToLower(ss.Scheme),
		BearerFormat: ss.BearerFormat,
		OpenIDURL:    ss.OpenIdConnectUrl,
		Description:  ss.Description,
	}
	if ss.Type == "apiKey" {
		out.In, out.ParamName = ss.In, ss.Name
	}
	if f := ss.Flows; f != nil {
		add := func(typ string, fl *v3.OAuthFlow) {
			if fl == nil {
				return
			}
			out.Flows = append(out.Flows, OAuthFlow{Type: typ, TokenURL: fl.TokenUrl, AuthorizationURL: fl.AuthorizationUrl,
				RefreshURL: fl.RefreshUrl, Scopes: scopesOf(fl.Scopes)})
		}
		add("clientCredentials", f.ClientCredentials)
		add("authorizationCode", f.AuthorizationCode)
		add("implicit", f.Implicit)
		add("password", f.Password)
		add("deviceAuthorization", f.Device)
	}
	return out
}

// methodsV3 lists a path item's operations in a fixed order.
func methodsV3(item *v3.PathItem) []struct {
	m  string
	op *v3.Operation
} {
	all := []struct {
		m  string
		op *v3.Operation
	}{
		{"GET", item.Get}, {"PUT", item.Put}, {"POST", item.Post}, {"DELETE", item.Delete},
		{"OPTIONS", item.Options}, {"HEAD", item.Head}, {"PATCH", item.Patch}, {"TRACE", item.Trace}, {"QUERY", item.Query},
	}
	for name, op := range item.AdditionalOperations.FromOldest() {
		all = append(all, struct {
			m  string
			op *v3.Operation
		}{strings.ToUpper(name), op})
	}
	return all
}

func (b *builder) pathItemV3(out *Surface, p string, item *v3.PathItem) {
	where := "paths." + p
	if l := item.GoLow(); l != nil {
		b.checkStringNode(l.Summary.ValueNode, where+".summary")
		b.checkStringNode(l.Description.ValueNode, where+".description")
	}
	pathParams := b.paramsV3(item.Parameters, where)
	for _, mo := range methodsV3(item) {
		op := mo.op
		if op == nil {
			continue
		}
		w := where + "." + strings.ToLower(mo.m)
		o := Operation{
			ID:          op.OperationId,
			Method:      mo.m,
			Path:        p,
			Summary:     op.Summary,
			Description: op.Description,
			Tags:        nonEmpty(op.Tags),
			Deprecated:  op.Deprecated != nil && *op.Deprecated,
			Parameters:  mergeParams(pathParams, b.paramsV3(op.Parameters, w)),
		}
		if l := op.GoLow(); l != nil {
			b.checkStringNode(l.Summary.ValueNode, w+".summary")
			b.checkStringNode(l.Description.ValueNode, w+".description")
			o.Security = requirements(op.Security, op.Security != nil || l.Security.KeyNode != nil)
		} else {
			o.Security = requirements(op.Security, op.Security != nil)
		}
		b.responseV3(&o, op.Responses, w)
		out.Operations = append(out.Operations, o)
	}
}

func (b *builder) paramsV3(params []*v3.Parameter, where string) []Parameter {
	var out []Parameter
	for _, p := range params {
		if p == nil || p.Name == "" {
			continue
		}
		prm := Parameter{
			Name:        p.Name,
			In:          p.In,
			Required:    p.Required != nil && *p.Required,
			Description: p.Description,
			Deprecated:  p.Deprecated,
		}
		if p.Schema != nil {
			prm.Schema = b.conv.root(p.Schema, where+".parameters."+p.Name)
		} else {
			// A parameter may carry its schema in content instead.
			for _, mt := range p.Content.FromOldest() {
				if mt != nil && mt.Schema != nil {
					prm.Schema = b.conv.root(mt.Schema, where+".parameters."+p.Name)
					break
				}
			}
		}
		out = append(out, prm)
	}
	return out
}

// responseV3 hands OpenAPI 3's responses to pickResponses: the schema sits
// in the JSON media type of the response's content.
func (b *builder) responseV3(o *Operation, rs *v3.Responses, where string) {
	if rs == nil {
		return
	}
	var codes []string
	for c := range rs.Codes.KeysFromOldest() {
		codes = append(codes, c)
	}
	b.pickResponses(o, codes, rs.Default != nil, where, func(code string) (*base.SchemaProxy, []string, bool) {
		r := rs.Default
		if code != "default" {
			r = rs.Codes.GetOrZero(code)
		}
		if r == nil {
			return nil, nil, false
		}
		var s *base.SchemaProxy
		if mt := jsonMediaV3(r); mt != nil {
			s = mt.Schema
		}
		return s, headerNamesV3(r), true
	})
}

// jsonMediaV3 prefers application/json, then any +json media type.
func jsonMediaV3(r *v3.Response) *v3.MediaType {
	var plus *v3.MediaType
	for name, mt := range r.Content.FromOldest() {
		exact, ok := isJSONMedia(name)
		if !ok || mt == nil || mt.Schema == nil {
			continue
		}
		if exact {
			return mt
		}
		if plus == nil {
			plus = mt
		}
	}
	return plus
}

func headerNamesV3(r *v3.Response) []string {
	var out []string
	for name := range r.Headers.KeysFromOldest() {
		out = append(out, name)
	}
	return lowerAll(out)
}

// errorStatus picks the error responses worth keeping: the ones a client
// meets when auth, lookup or rate limits fail. Keeping every documented
// error schema of every operation would cost memory for nothing.
func errorStatus(code string) bool {
	switch strings.ToUpper(code) {
	case "401", "403", "404", "429", "4XX":
		return true
	}
	return false
}

func (o *Operation) addErrorResponse(code string, s *Schema) {
	if s == nil {
		return
	}
	if o.ErrorResponses == nil {
		o.ErrorResponses = map[string]*Schema{}
	}
	if code != "default" {
		code = strings.ToUpper(code) // 4xx → 4XX; "default" stays as written
	}
	o.ErrorResponses[code] = s
}
