package sandbox

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spindlehq/spindle/internal/apisurface"
)

// Credential is the synthetic credential of one security scheme. Every
// secret value starts with "sbx_": it is valid only against this sandbox
// and printing it is the point, yet the runtime still treats it as a
// secret, so an integration handles it exactly as it will a real one.
type Credential struct {
	Scheme string `json:"scheme"` // the security scheme's name in the doc
	Type   string `json:"type"`   // apiKey, http, oauth2, openIdConnect, mutualTLS
	// apiKey: where it goes, and the prefix sent before it.
	In     string `json:"in,omitempty"`
	Name   string `json:"name,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	// http: the scheme (bearer, basic, …).
	HTTPScheme string `json:"http_scheme,omitempty"`
	// Value is the apiKey, or the http bearer (or other scheme) token.
	Value    string `json:"value,omitempty"`
	Username string `json:"username,omitempty"` // http basic
	Password string `json:"password,omitempty"` // http basic
	// oauth2 client credentials: the sandbox's token endpoint issues
	// access tokens for these; TokenURL is absolute once served.
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	TokenURL     string `json:"token_url,omitempty"`
	// AccessToken (oauth2, openIdConnect) is accepted as a Bearer token
	// directly, with every scope.
	AccessToken string   `json:"access_token,omitempty"`
	Scopes      []string `json:"scopes,omitempty"`
	Note        string   `json:"note,omitempty"`
}

// Apply sets the credential on r the way its scheme expects (oauth2 and
// openIdConnect use AccessToken).
func (c Credential) Apply(r *http.Request) {
	switch c.Type {
	case "apiKey":
		v := c.Prefix + c.Value
		switch c.In {
		case "query":
			q := r.URL.Query()
			q.Set(c.Name, v)
			r.URL.RawQuery = q.Encode()
		case "cookie":
			r.AddCookie(&http.Cookie{Name: c.Name, Value: v})
		default:
			r.Header.Set(c.Name, v)
		}
	case "http":
		if c.HTTPScheme == "basic" {
			r.SetBasicAuth(c.Username, c.Password)
		} else {
			r.Header.Set("Authorization", authScheme{httpScheme: c.HTTPScheme}.authWord()+" "+c.Value)
		}
	case "oauth2", "openIdConnect":
		r.Header.Set("Authorization", "Bearer "+c.AccessToken)
	}
}

// authScheme is one security scheme as the sandbox enforces it.
type authScheme struct {
	name, typ         string
	in, param, prefix string
	httpScheme        string
	cred              Credential
	scopes            []string // every scope its flows declare
	tokenPath         string   // client-credentials token endpoint path, "" when none
}

func (a authScheme) authWord() string {
	if a.httpScheme == "" || a.httpScheme == "bearer" {
		return "Bearer"
	}
	return strings.ToUpper(a.httpScheme[:1]) + a.httpScheme[1:]
}

// authState holds the access tokens the token endpoint issued.
type authState struct {
	mu     sync.Mutex
	tokens map[string]*issuedToken
	order  []string // issue order, to drop the oldest past maxTokens
	seq    uint64
}

type issuedToken struct {
	scheme  string
	scopes  []string
	expires time.Time
}

const (
	maxTokens = 10000
	tokenTTL  = time.Hour
)

// secretFor derives a synthetic secret: deterministic for the seed, and
// unmistakably synthetic.
func (sb *Sandbox) secretFor(prefix string, parts ...string) string {
	a := hashOf(sb.seed, append([]string{"cred"}, parts...)...)
	b := hashOf(a, "2")
	return fmt.Sprintf("%s%016x%016x", prefix, a, b)
}

func (sb *Sandbox) buildAuth(s *apisurface.Surface) {
	sb.schemes = map[string]*authScheme{}
	sb.tokenEPs = map[string][]*authScheme{}
	vocab := map[string]bool{}
	for _, sc := range s.SecuritySchemes {
		a := &authScheme{name: sc.Name, typ: sc.Type, in: strings.ToLower(sc.In), param: sc.ParamName,
			prefix: sc.Prefix, httpScheme: strings.ToLower(sc.Scheme)}
		c := Credential{Scheme: sc.Name, Type: sc.Type}
		switch sc.Type {
		case "apiKey":
			if a.in == "" {
				a.in = "header"
			}
			if a.param == "" {
				a.param = "Authorization"
			}
			c.In, c.Name, c.Prefix = a.in, a.param, a.prefix
			c.Value = sb.secretFor("sbx_", sc.Name, "key")
		case "http":
			c.HTTPScheme = a.httpScheme
			if a.httpScheme == "basic" {
				c.Username = "sbx-user-" + sb.secretFor("", sc.Name, "user")[:8]
				c.Password = sb.secretFor("sbx_", sc.Name, "password")
			} else {
				c.Value = sb.secretFor("sbx_", sc.Name, "token")
			}
		case "oauth2", "openIdConnect":
			c.AccessToken = sb.secretFor("sbx_at_", sc.Name, "static")
			for _, fl := range sc.Flows {
				for _, scope := range fl.Scopes {
					if !slices.Contains(a.scopes, scope.Name) {
						a.scopes = append(a.scopes, scope.Name)
					}
					vocab[scope.Name] = true
				}
				if fl.Type == "clientCredentials" && a.tokenPath == "" {
					a.tokenPath = sb.tokenPath(fl.TokenURL)
					c.ClientID = "sbx-client-" + sb.secretFor("", sc.Name, "client")[:12]
					c.ClientSecret = sb.secretFor("sbx_cs_", sc.Name, "client-secret")
					c.TokenURL = a.tokenPath
				}
			}
			if a.tokenPath != "" {
				sb.tokenEPs[a.tokenPath] = append(sb.tokenEPs[a.tokenPath], a)
			}
		default:
			c.Note = "not enforced: the sandbox cannot check " + sc.Type + " over plain HTTP"
		}
		c.Scopes = slices.Clone(a.scopes)
		a.cred = c
		sb.schemes[sc.Name] = a
		sb.order = append(sb.order, sc.Name)
	}
	for v := range vocab {
		sb.vocab = append(sb.vocab, v)
	}
	slices.Sort(sb.vocab)
}

// tokenPath is where the sandbox serves a flow's token URL: its path when
// absolute, else resolved against the server URL as OpenAPI says.
func (sb *Sandbox) tokenPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return sb.basePath + "/oauth/token"
	}
	p := u.Path
	switch {
	case u.IsAbs() || u.Host != "":
		if p == "" {
			p = "/token"
		}
		return p
	case strings.HasPrefix(p, "/"):
		return p
	}
	return sb.basePath + "/" + p
}

// Credentials returns the synthetic credential of every security scheme,
// in doc order. TokenURL is a path here; Server.Credentials makes it
// absolute.
func (sb *Sandbox) Credentials() []Credential {
	out := make([]Credential, 0, len(sb.order))
	for _, n := range sb.order {
		c := sb.schemes[n].cred
		c.Scopes = slices.Clone(c.Scopes)
		out = append(out, c)
	}
	return out
}

type verdict int

const (
	vMissing verdict = iota // nothing presented in this scheme's place and form
	vWrong                  // presented, not valid
	vScope                  // valid, lacking a scope the operation needs
	vOK
)

// authOutcome is the result of checking a request against a requirement.
type authOutcome struct {
	status  int // 0: authenticated
	code    string
	message string
	scheme  string // the schemes that authenticated, "+"-joined
	scopes  []string
	www     string
}

// authenticate checks r against the effective requirement: any one
// alternative, every scheme in it. Messages say what to send, never what
// was sent.
func (sb *Sandbox) authenticate(reqs []apisurface.Requirement, r *http.Request) authOutcome {
	if len(reqs) == 0 {
		return authOutcome{}
	}
	worst := vOK
	var lacking []string
	for _, alt := range reqs {
		if len(alt.Schemes) == 0 {
			return authOutcome{} // an empty alternative: authentication is optional
		}
		ok := true
		var names, scopes []string
		for _, use := range alt.Schemes {
			a := sb.schemes[use.Scheme]
			v, granted := vMissing, []string(nil)
			if a != nil {
				v, granted = sb.verify(a, r)
			}
			if v == vOK && (a.typ == "oauth2" || a.typ == "openIdConnect") {
				for _, need := range use.Scopes {
					if !slices.Contains(granted, need) {
						v = vScope
						lacking = append(lacking, need)
					}
				}
			}
			if v != vOK {
				ok = false
				if worst == vOK || v > worst {
					worst = v
				}
				continue
			}
			names = append(names, use.Scheme)
			scopes = append(scopes, granted...)
		}
		if ok {
			return authOutcome{scheme: strings.Join(names, "+"), scopes: scopes}
		}
	}
	first := reqs[0].Schemes[0].Scheme
	switch worst {
	case vWrong:
		return authOutcome{status: http.StatusForbidden, code: "forbidden",
			message: "the credential presented is not valid for this API"}
	case vScope:
		slices.Sort(lacking)
		return authOutcome{status: http.StatusForbidden, code: "insufficient_scope",
			message: "the access token lacks the scope this operation needs: " + strings.Join(slices.Compact(lacking), ", ")}
	}
	out := authOutcome{status: http.StatusUnauthorized, code: "unauthorized",
		message: "authentication required: send " + sb.expect(first)}
	if a := sb.schemes[first]; a != nil {
		switch {
		case a.typ == "http" && a.httpScheme == "basic":
			out.www = `Basic realm="sandbox"`
		case a.typ == "http" || a.typ == "oauth2" || a.typ == "openIdConnect":
			out.www = `Bearer realm="sandbox"`
		}
	}
	return out
}

// expect says how scheme name wants the credential sent.
func (sb *Sandbox) expect(name string) string {
	a := sb.schemes[name]
	if a == nil {
		return "a credential (the doc names an undefined security scheme " + strconv.Quote(name) + ")"
	}
	switch a.typ {
	case "apiKey":
		return fmt.Sprintf("the API key in the %s %s as %s<api key>", a.param, a.in, a.prefix)
	case "http":
		if a.httpScheme == "basic" {
			return "HTTP basic authentication"
		}
		return "Authorization: " + a.authWord() + " <token>"
	case "oauth2", "openIdConnect":
		if a.tokenPath != "" {
			return "Authorization: Bearer <access token> (client credentials at " + a.tokenPath + ")"
		}
		return "Authorization: Bearer <access token>"
	}
	return "a " + a.typ + " credential"
}

// verify checks one scheme's credential on r and returns the scopes it
// grants.
func (sb *Sandbox) verify(a *authScheme, r *http.Request) (verdict, []string) {
	eq := func(got, want string) bool { return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 }
	bearer := func(word string) (string, bool) {
		h := strings.TrimSpace(r.Header.Get("Authorization"))
		w, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(w, word) {
			return "", false
		}
		return strings.TrimSpace(tok), true
	}
	switch a.typ {
	case "apiKey":
		var v string
		switch a.in {
		case "query":
			v = r.URL.Query().Get(a.param)
		case "cookie":
			if c, err := r.Cookie(a.param); err == nil {
				v = c.Value
			}
		default:
			v = strings.TrimSpace(r.Header.Get(a.param))
		}
		if v == "" {
			return vMissing, nil
		}
		if a.prefix != "" {
			p := strings.TrimSpace(a.prefix)
			if len(v) < len(p) || !strings.EqualFold(v[:len(p)], p) {
				return vMissing, nil // not in this scheme's form
			}
			v = strings.TrimSpace(v[len(p):])
		}
		if eq(v, a.cred.Value) {
			return vOK, nil
		}
		return vWrong, nil
	case "http":
		if a.httpScheme == "basic" {
			u, p, ok := r.BasicAuth()
			if !ok {
				return vMissing, nil
			}
			if eq(u, a.cred.Username) && eq(p, a.cred.Password) {
				return vOK, nil
			}
			return vWrong, nil
		}
		tok, ok := bearer(a.authWord())
		if !ok {
			return vMissing, nil
		}
		if eq(tok, a.cred.Value) {
			return vOK, nil
		}
		return vWrong, nil
	case "oauth2", "openIdConnect":
		tok, ok := bearer("Bearer")
		if !ok {
			return vMissing, nil
		}
		if eq(tok, a.cred.AccessToken) {
			return vOK, slices.Clone(a.scopes)
		}
		sb.auth.mu.Lock()
		it := sb.auth.tokens[tok]
		sb.auth.mu.Unlock()
		if it != nil && it.scheme == a.name && time.Now().Before(it.expires) {
			return vOK, slices.Clone(it.scopes)
		}
		return vWrong, nil
	}
	return vOK, nil // mutualTLS and unknown types cannot be checked here
}

// serveToken is the oauth2 client-credentials token endpoint (RFC 6749
// 4.4). Errors are RFC 6749 5.2 bodies.
func (sb *Sandbox) serveToken(w http.ResponseWriter, r *http.Request, schemes []*authScheme, e *LogEntry) {
	e.Operation = "POST " + r.URL.Path
	fail := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="sandbox-token"`)
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(http.StatusMethodNotAllowed, "invalid_request", "the token endpoint takes POST")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		fail(http.StatusBadRequest, "unsupported_grant_type", "this sandbox issues tokens for grant_type=client_credentials only")
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 2.3.1: both parts are form-encoded inside the header.
		if u, err := url.QueryUnescape(id); err == nil {
			id = u
		}
		if u, err := url.QueryUnescape(secret); err == nil {
			secret = u
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id == "" || secret == "" {
		fail(http.StatusUnauthorized, "invalid_client", "client authentication required (HTTP basic or client_id and client_secret)")
		return
	}
	var a *authScheme
	for _, s := range schemes {
		if subtle.ConstantTimeCompare([]byte(id), []byte(s.cred.ClientID)) == 1 &&
			subtle.ConstantTimeCompare([]byte(secret), []byte(s.cred.ClientSecret)) == 1 {
			a = s
		}
	}
	if a == nil {
		fail(http.StatusUnauthorized, "invalid_client", "the client credentials are not valid for this sandbox")
		return
	}
	granted := slices.Clone(a.scopes)
	if req := strings.Fields(r.PostForm.Get("scope")); len(req) > 0 {
		for _, s := range req {
			if len(a.scopes) > 0 && !slices.Contains(a.scopes, s) {
				fail(http.StatusBadRequest, "invalid_scope", "scope "+strconv.Quote(s)+" is not one the doc declares")
				return
			}
		}
		granted = req
	}
	sb.auth.mu.Lock()
	sb.auth.seq++
	tok := sb.secretFor("sbx_at_", a.name, "issued", strconv.FormatUint(sb.auth.seq, 10))
	sb.auth.tokens[tok] = &issuedToken{scheme: a.name, scopes: granted, expires: time.Now().Add(tokenTTL)}
	sb.auth.order = append(sb.auth.order, tok)
	if len(sb.auth.order) > maxTokens {
		delete(sb.auth.tokens, sb.auth.order[0])
		sb.auth.order = sb.auth.order[1:]
	}
	sb.auth.mu.Unlock()
	e.Scheme, e.Scopes = a.name, slices.Clone(granted)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": int(tokenTTL / time.Second),
		"scope": strings.Join(granted, " "),
	})
}
