package draft

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/integration"
)

// authOption is one way the runtime can authenticate with a declared
// scheme.
type authOption struct {
	scheme *apisurface.SecurityScheme
	auth   integration.Auth
	config map[string]integration.ConfigVar
	why    []string
	// covers counts the chosen operations that accept this scheme alone.
	covers int
}

// requirements returns an operation's effective security: its own, or
// the document's when it inherits.
func requirements(s *apisurface.Surface, op *apisurface.Operation) []apisurface.Requirement {
	if op.Security != nil {
		return op.Security
	}
	return s.Security
}

// authOptions lists the supported ways to authenticate, best first: the
// scheme most chosen operations accept on its own, ties in the doc's
// order. Each apiKey scheme with an inferred prefix also offers itself
// without it, last, for repair to fall back to.
func authOptions(s *apisurface.Surface, ops []*apisurface.Operation, credential, baseURL string) []authOption {
	covers := map[string]int{}
	for _, op := range ops {
		seen := map[string]bool{}
		for _, req := range requirements(s, op) {
			if len(req.Schemes) == 1 && !seen[req.Schemes[0].Scheme] {
				seen[req.Schemes[0].Scheme] = true
				covers[req.Schemes[0].Scheme]++
			}
		}
	}
	var out, fallbacks []authOption
	for i := range s.SecuritySchemes {
		sc := &s.SecuritySchemes[i]
		opt := authOption{scheme: sc, covers: covers[sc.Name]}
		a := integration.Auth{Credential: credential}
		switch {
		case sc.Type == "apiKey" && (sc.In == "header" || sc.In == "query" || sc.In == ""):
			a.Type = integration.AuthAPIKey
			a.In = sc.In
			if a.In == "" {
				a.In = "header"
			}
			a.Name = sc.ParamName
			if a.Name == "" && a.In == "header" {
				a.Name = "Authorization"
			}
			if a.Name == "" {
				continue
			}
			opt.why = append(opt.why, fmt.Sprintf("scheme %q: apiKey in %s %q", sc.Name, a.In, a.Name))
			if sc.Prefix != "" {
				plain := opt
				plain.auth = a
				plain.why = append(slices.Clone(opt.why), "sent without a prefix (repair fallback)")
				fallbacks = append(fallbacks, plain)
				a.Prefix = sc.Prefix
				ev := "the scheme's description asks for it"
				if len(sc.PrefixEvidence) > 0 {
					ev = fmt.Sprintf("%q", clip(sc.PrefixEvidence[0], 120))
				}
				opt.why = append(opt.why, fmt.Sprintf("value prefix %q: %s", sc.Prefix, ev))
			}
		case sc.Type == "http" && strings.EqualFold(sc.Scheme, "bearer"):
			a.Type = integration.AuthBearer
			opt.why = append(opt.why, fmt.Sprintf("scheme %q: http bearer", sc.Name))
		case sc.Type == "http" && strings.EqualFold(sc.Scheme, "basic"):
			a.Type = integration.AuthBasic
			a.Username = "{config.username}"
			opt.config = map[string]integration.ConfigVar{"username": {Required: true, Description: "the user name sent with HTTP basic auth"}}
			opt.why = append(opt.why, fmt.Sprintf("scheme %q: http basic", sc.Name))
		case sc.Type == "oauth2":
			var cc *apisurface.OAuthFlow
			for j := range sc.Flows {
				if sc.Flows[j].Type == "clientCredentials" {
					cc = &sc.Flows[j]
				}
			}
			if cc == nil {
				// A user-delegated flow: the runtime cannot run it, but an
				// access token obtained out of band is a bearer token.
				a.Type = integration.AuthBearer
				opt.why = append(opt.why, fmt.Sprintf("scheme %q: oauth2 without a client-credentials flow; an access token obtained out of band is sent as a bearer token", sc.Name))
				fallbacks = append(fallbacks, withAuth(opt, a))
				continue
			}
			tu, err := tokenURL(cc.TokenURL, baseURL)
			if err != nil {
				continue
			}
			a.Type = integration.AuthOAuth2ClientCredentials
			a.TokenURL = tu
			a.ClientID = "{config.client_id}"
			opt.config = map[string]integration.ConfigVar{"client_id": {Required: true, Description: "the OAuth client id (not secret)"}}
			opt.why = append(opt.why, fmt.Sprintf("scheme %q: oauth2 client credentials, token URL %s", sc.Name, cc.TokenURL))
		default:
			continue
		}
		out = append(out, withAuth(opt, a))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].covers > out[j].covers })
	sort.SliceStable(fallbacks, func(i, j int) bool { return fallbacks[i].covers > fallbacks[j].covers })
	return append(out, fallbacks...)
}

func withAuth(o authOption, a integration.Auth) authOption {
	o.auth = a
	return o
}

// tokenURL makes a token endpoint the runtime accepts: absolute on the
// base URL's host, or on the vendor's identity host over https (the lint
// then asks the reviewer to confirm it). A doc's relative token URL is
// relative to the server's origin, not to its path, so it is joined to
// the origin.
func tokenURL(raw, baseURL string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("no token URL")
	}
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			return "", err
		}
		b, err := url.Parse(strings.NewReplacer("{", "", "}", "").Replace(baseURL))
		if err != nil {
			return "", err
		}
		if !strings.EqualFold(u.Host, b.Host) && u.Scheme != "https" {
			// The client secret would cross the network in clear.
			return "", fmt.Errorf("token URL %s is on another host over plain http", raw)
		}
		return raw, nil
	}
	origin := baseURL
	if i := strings.Index(origin, "://"); i >= 0 {
		if j := strings.IndexByte(origin[i+3:], '/'); j >= 0 {
			origin = origin[:i+3+j]
		}
	}
	return origin + "/" + strings.TrimPrefix(raw, "/"), nil
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// scopeNeeds collects the scopes the chosen operations need, per scheme:
// for each operation, the alternative of that scheme that asks for the
// fewest scopes (preferring scopes already needed), unioned.
func scopeNeeds(s *apisurface.Surface, ops []*apisurface.Operation) []ScopeNeed {
	type key struct{ scheme, scope string }
	need := map[key][]string{}
	for _, op := range ops {
		opName := op.Method + " " + op.Path
		perScheme := map[string][][]string{}
		for _, req := range requirements(s, op) {
			if len(req.Schemes) != 1 {
				continue
			}
			u := req.Schemes[0]
			if len(u.Scopes) > 0 {
				perScheme[u.Scheme] = append(perScheme[u.Scheme], u.Scopes)
			}
		}
		for scheme, alts := range perScheme {
			best := alts[0]
			bestNew := -1
			for _, alt := range alts {
				n := 0
				for _, sc := range alt {
					if _, ok := need[key{scheme, sc}]; !ok {
						n++
					}
				}
				if bestNew < 0 || n < bestNew || (n == bestNew && len(alt) < len(best)) {
					best, bestNew = alt, n
				}
			}
			for _, sc := range best {
				k := key{scheme, sc}
				if !slices.Contains(need[k], opName) {
					need[k] = append(need[k], opName)
				}
			}
		}
	}
	var out []ScopeNeed
	for k, ops := range need {
		slices.Sort(ops)
		out = append(out, ScopeNeed{Scheme: k.scheme, Scope: k.scope, Operations: ops})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Scheme != out[j].Scheme {
			return out[i].Scheme < out[j].Scheme
		}
		return out[i].Scope < out[j].Scope
	})
	return out
}

// declaresSecurity says whether the doc requires anything of any chosen
// operation (or declares any scheme at all).
func declaresSecurity(s *apisurface.Surface, ops []*apisurface.Operation) (required, explicitNone bool) {
	for _, op := range ops {
		reqs := requirements(s, op)
		if op.Security != nil && len(op.Security) == 0 {
			explicitNone = true
		}
		for _, r := range reqs {
			if len(r.Schemes) > 0 {
				required = true
			}
		}
	}
	return required, explicitNone
}
