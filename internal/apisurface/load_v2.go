package apisurface

import (
	"github.com/pb33f/libopenapi/datamodel/high/base"
	"sort"
	"strings"

	"github.com/pb33f/go-yaml"
	v2low "github.com/pb33f/libopenapi/datamodel/low/v2"

	v2 "github.com/pb33f/libopenapi/datamodel/high/v2"
	"github.com/pb33f/libopenapi/index"
)

// fromV2 fills out from a Swagger 2.0 model, normalised to the OpenAPI 3
// vocabulary: schemes+host+basePath become servers, basic auth becomes
// http/basic, oauth2 flow names become OpenAPI 3 flow types.
func (b *builder) fromV2(out *Surface, d *v2.Swagger, idx *index.SpecIndex) error {
	if d.Info != nil {
		out.Title, out.Version, out.Description = d.Info.Title, d.Info.Version, d.Info.Description
		if l := d.Info.GoLow(); l != nil {
			b.checkStringNode(l.Title.ValueNode, "info.title")
			if text := b.stringField(idx, l.Description.ValueNode, "info.description"); text != "" {
				out.Description = text
			}
			b.checkStringNode(l.Version.ValueNode, "info.version")
		}
	}
	out.Servers = b.serversV2(d)
	if d.SecurityDefinitions != nil {
		for name, ss := range d.SecurityDefinitions.Definitions.FromOldest() {
			if ss == nil {
				continue
			}
			out.SecuritySchemes = append(out.SecuritySchemes, securitySchemeV2(name, ss))
		}
		// libopenapi builds Swagger security definitions concurrently, in
		// no fixed order: restore the document's.
		line := map[string]int{}
		if l := d.SecurityDefinitions.GoLow(); l != nil {
			for k := range l.Definitions.KeysFromOldest() {
				if k.KeyNode != nil {
					line[k.Value] = k.KeyNode.Line
				}
			}
		}
		sort.SliceStable(out.SecuritySchemes, func(i, j int) bool {
			return line[out.SecuritySchemes[i].Name] < line[out.SecuritySchemes[j].Name]
		})
	}
	declared := d.Security != nil
	if l := d.GoLow(); l != nil && l.Security.KeyNode != nil {
		declared = true
	}
	out.Security = requirements(d.Security, declared)
	if d.Paths != nil {
		for p, item := range d.Paths.PathItems.FromOldest() {
			if item == nil {
				continue
			}
			if err := b.ctx.Err(); err != nil {
				return err
			}
			b.pathItemV2(out, p, item)
		}
	}
	sortOperations(out.Operations)
	return nil
}

// serversV2 builds one server per scheme from host and basePath. With no
// host the API is served from the document's own host (URL documents)
// or the URL stays relative (files).
func (b *builder) serversV2(d *v2.Swagger) []Server {
	host := d.Host
	schemes := d.Schemes
	if host == "" && b.src.baseURL != nil {
		host = b.src.baseURL.Host
	}
	if len(schemes) == 0 {
		if b.src.baseURL != nil {
			schemes = []string{b.src.baseURL.Scheme}
		} else {
			schemes = []string{"https"}
		}
	}
	basePath := d.BasePath
	if basePath != "" && !strings.HasPrefix(basePath, "/") {
		basePath = "/" + basePath
	}
	if host == "" {
		if basePath == "" {
			return nil
		}
		return []Server{{URL: basePath}}
	}
	var out []Server
	for _, sc := range schemes {
		sc = strings.ToLower(sc)
		if sc != "http" && sc != "https" {
			continue // ws/wss serve no REST calls
		}
		out = append(out, Server{URL: sc + "://" + host + strings.TrimSuffix(basePath, "/")})
	}
	return out
}

func securitySchemeV2(name string, ss *v2.SecurityScheme) SecurityScheme {
	out := SecurityScheme{Name: name, Type: ss.Type, Description: ss.Description}
	switch ss.Type {
	case "basic":
		out.Type, out.Scheme = "http", "basic"
	case "apiKey":
		out.In, out.ParamName = ss.In, ss.Name
	case "oauth2":
		typ := map[string]string{
			"implicit":    "implicit",
			"password":    "password",
			"application": "clientCredentials",
			"accessCode":  "authorizationCode",
		}[ss.Flow]
		if typ == "" {
			typ = ss.Flow
		}
		fl := OAuthFlow{Type: typ, TokenURL: ss.TokenUrl, AuthorizationURL: ss.AuthorizationUrl}
		if ss.Scopes != nil {
			fl.Scopes = scopesOf(ss.Scopes.Values)
		}
		out.Flows = []OAuthFlow{fl}
	}
	return out
}

func (b *builder) pathItemV2(out *Surface, p string, item *v2.PathItem) {
	where := "paths." + p
	pathParams := b.paramsV2(item.Parameters, where)
	var lowItem v2low.PathItem
	if l := item.GoLow(); l != nil {
		lowItem = *l
	}
	for _, mo := range []struct {
		m    string
		op   *v2.Operation
		node *yaml.Node
	}{
		{"GET", item.Get, lowItem.Get.ValueNode}, {"PUT", item.Put, lowItem.Put.ValueNode},
		{"POST", item.Post, lowItem.Post.ValueNode}, {"DELETE", item.Delete, lowItem.Delete.ValueNode},
		{"OPTIONS", item.Options, lowItem.Options.ValueNode}, {"HEAD", item.Head, lowItem.Head.ValueNode},
		{"PATCH", item.Patch, lowItem.Patch.ValueNode},
	} {
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
			Deprecated:  op.Deprecated,
			Parameters:  mergeParams(pathParams, b.paramsV2(op.Parameters, w)),
		}
		// Both models drop an empty `security: []`, which means "no auth":
		// look for the key in the operation's own node.
		declared := op.Security != nil || mappingHas(mo.node, "security")
		if l := op.GoLow(); l != nil {
			b.checkStringNode(l.Summary.ValueNode, w+".summary")
			b.checkStringNode(l.Description.ValueNode, w+".description")
		}
		o.Security = requirements(op.Security, declared)
		b.responseV2(&o, op.Responses, w)
		out.Operations = append(out.Operations, o)
	}
}

// paramsV2 converts Swagger parameters. Body and formData parameters are
// request bodies in OpenAPI 3 terms, which the surface does not model.
func (b *builder) paramsV2(params []*v2.Parameter, where string) []Parameter {
	var out []Parameter
	for _, p := range params {
		if p == nil || p.Name == "" || p.In == "body" || p.In == "formData" {
			continue
		}
		prm := Parameter{Name: p.Name, In: p.In, Required: p.Required != nil && *p.Required, Description: p.Description}
		s := &Schema{Type: p.Type, Format: p.Format, Pattern: p.Pattern}
		if p.Type == "file" {
			s.Type = "string"
		}
		s.Enum = b.conv.values(p.Enum)
		if p.Default != nil {
			s.Default, _ = b.conv.value(p.Default)
		}
		s.Minimum, s.Maximum = intToFloat(p.Minimum), intToFloat(p.Maximum)
		s.MinLength, s.MaxLength = p.MinLength, p.MaxLength
		s.MinItems, s.MaxItems = p.MinItems, p.MaxItems
		if p.Items != nil {
			s.Items = b.itemsV2(p.Items, 0)
		}
		prm.Schema = s
		out = append(out, prm)
	}
	return out
}

// itemsV2 converts the Swagger Items object of an array parameter.
func (b *builder) itemsV2(it *v2.Items, depth int) *Schema {
	if it == nil || depth > maxSchemaDepth {
		return nil
	}
	s := &Schema{Type: it.Type, Format: it.Format, Pattern: it.Pattern, Enum: b.conv.values(it.Enum)}
	if it.Items != nil {
		s.Items = b.itemsV2(it.Items, depth+1)
	}
	return s
}

// mappingHas says whether a YAML mapping has the key.
func mappingHas(n *yaml.Node, key string) bool {
	if n == nil || n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

func intToFloat(i *int) *float64 {
	if i == nil {
		return nil
	}
	f := float64(*i)
	return &f
}

// responseV2 hands Swagger 2's responses to pickResponses: the schema sits
// on the response itself.
func (b *builder) responseV2(o *Operation, rs *v2.Responses, where string) {
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
		return r.Schema, headerNamesV2(r), true
	})
}

func headerNamesV2(r *v2.Response) []string {
	var out []string
	for name := range r.Headers.KeysFromOldest() {
		out = append(out, name)
	}
	return lowerAll(out)
}
