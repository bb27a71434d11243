package apisurface

import "strings"

// MatchOperation finds the operation a client requests as method and path
// under baseURL: the request's path under the base URL's path is compared
// with the doc's paths under the doc's first server path (and bare, for
// docs whose paths already carry it), parameters compared as
// placeholders. The build agent's facts and drift checks share it so that
// both name the same operation for the same stream. nil when none
// matches.
func (s *Surface) MatchOperation(baseURL, method, path string) *Operation {
	if s == nil {
		return nil
	}
	full := TemplateShape(URLPath(baseURL) + "/" + strings.TrimPrefix(path, "/"))
	docBase := ""
	if len(s.Servers) > 0 {
		docBase = URLPath(s.Servers[0].URL)
	}
	for i := range s.Operations {
		op := &s.Operations[i]
		if op.Method != method {
			continue
		}
		if TemplateShape(docBase+"/"+strings.TrimPrefix(op.Path, "/")) == full || TemplateShape(op.Path) == full {
			return op
		}
	}
	return nil
}

// URLPath is the path of a base or server URL, without a trailing slash,
// query or fragment.
func URLPath(raw string) string {
	// Server URLs may hold {variables} that url.Parse rejects in a host.
	s := raw
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
		if j := strings.IndexByte(s, '/'); j >= 0 {
			s = s[j:]
		} else {
			s = ""
		}
	}
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, "/")
}

// TemplateShape replaces every {placeholder} segment part with {} and
// drops empty segments, so /a/{app.id}/b matches /a/{appId}/b.
func TemplateShape(p string) string {
	var out []string
	for _, seg := range strings.Split(p, "/") {
		if seg == "" {
			continue
		}
		var sb strings.Builder
		for seg != "" {
			i := strings.IndexByte(seg, '{')
			if i < 0 {
				sb.WriteString(seg)
				break
			}
			j := strings.IndexByte(seg[i:], '}')
			if j < 0 {
				sb.WriteString(seg)
				break
			}
			sb.WriteString(seg[:i] + "{}")
			seg = seg[i+j+1:]
		}
		out = append(out, sb.String())
	}
	return "/" + strings.Join(out, "/")
}

// MatchScheme names the doc's security scheme an integration's auth uses:
// authType is the integration spec's auth type (api_key, bearer, basic,
// oauth2_client_credentials) and paramName the api_key header or query
// name. The strings are the spec's vocabulary, spelled out here so that
// the surface need not import the spec package. "" when none matches.
func (s *Surface) MatchScheme(authType, paramName string) string {
	if s == nil {
		return ""
	}
	for _, sc := range s.SecuritySchemes {
		switch {
		case authType == "api_key" && sc.Type == "apiKey" && strings.EqualFold(sc.ParamName, paramName):
			return sc.Name
		case authType == "bearer" && sc.Type == "http" && sc.Scheme == "bearer":
			return sc.Name
		case authType == "basic" && sc.Type == "http" && sc.Scheme == "basic":
			return sc.Name
		case authType == "oauth2_client_credentials" && sc.Type == "oauth2":
			return sc.Name
		}
	}
	return ""
}
