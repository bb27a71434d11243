package integration

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/spindlehq/spindle/internal/nhi"
)

// Rule is one named check. Rules are data (oasdiff's idea): listable by
// `spindle spec rules`, documented, and each tested on its own.
type Rule struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Level   Level  `json:"level"`
	Summary string `json:"summary"`
}

// Rules lists every check the loader and the lint apply.
func Rules() []Rule {
	return []Rule{
		{"SPX-S001", "yaml-syntax", LevelError, "the file is one well-formed YAML document"},
		{"SPX-S002", "schema", LevelError, "the document matches the published JSON Schema (spindle schema integration)"},
		{"SPX-S003", "types", LevelError, "every value decodes into the spec's Go types"},
		{"SPX-S010", "stream-names", LevelError, "stream names are unique"},
		{"SPX-S011", "for-each-parent", LevelError, "for_each names an existing other stream, without cycles"},
		{"SPX-S012", "alias", LevelError, "for_each aliases are unique along a chain and do not shadow r, config, body or status"},
		{"SPX-S013", "pagination", LevelError, "each paging style has the fields it needs"},
		{"SPX-S014", "template", LevelError, "templates reference declared config or a for_each alias"},
		{"SPX-S015", "mapping", LevelError, "a stream that emits records maps external_id; a map needs emits"},
		{"SPX-S016", "auth", LevelError, "each auth type has the fields it needs"},
		{"SPX-S017", "base-url", LevelError, "base_url is an absolute http(s) URL with a host"},
		{"SPX-C001", "cel", LevelError, "every CEL expression compiles"},
		{"SPX-P001", "read-only", LevelError, "only GET; POST only on a stream marked read_only: true"},
		{"SPX-P002", "one-host", LevelError, "every request goes to the base URL's host"},
		{"SPX-P003", "credential-in-auth", LevelError, "credentials appear only as a vault reference in connection.auth"},
		{"SPX-P004", "no-secret-values", LevelError, "no secret value anywhere in the spec"},
		{"SPX-P005", "plaintext", LevelWarning, "base_url uses https unless it is a loopback address"},
		{"SPX-P006", "token-host", LevelWarning, "an absolute token_url on another host (https only) is the vendor's identity provider"},
	}
}

func ruleLevel(id string) Level {
	for _, r := range Rules() {
		if r.ID == id {
			return r.Level
		}
	}
	return LevelError
}

var configName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// linter collects findings located in a document.
type linter struct {
	doc *Document
	out Findings
}

func (l *linter) add(rule, path, format string, args ...any) {
	f := Finding{Rule: rule, Level: ruleLevel(rule), File: l.doc.File, Path: path, Message: fmt.Sprintf(format, args...)}
	f.Line, f.Column = l.doc.Pos(path)
	l.out = append(l.out, f)
}

// Lint applies the structural checks, compiles the CEL and applies the
// policy rules to a parsed document. Findings are ordered by line.
func Lint(doc *Document) Findings {
	l := &linter{doc: doc}
	s := doc.Spec
	l.structure(s)
	l.policy(s)
	if _, issues := compileSpec(s); len(issues) > 0 {
		for _, is := range issues {
			l.add("SPX-C001", is.path, "%s", is.msg)
		}
	}
	l.secrets()
	sort.SliceStable(l.out, func(i, j int) bool { return l.out[i].Line < l.out[j].Line })
	return l.out
}

func (l *linter) structure(s *Spec) {
	base, err := parseTemplatedURL(s.Connection.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		l.add("SPX-S017", "$.connection.base_url", "base_url %q is not an absolute http(s) URL with a host, such as https://api.example.com/v1", s.Connection.BaseURL)
	}
	l.templates(s, "$.connection.base_url", s.Connection.BaseURL, nil)
	for name := range s.Connection.Config {
		if !configName.MatchString(name) {
			l.add("SPX-S014", "$.connection.config."+quoteKey(name), "config name %q must be an identifier (letters, digits, _) so {config.%s} can reference it", name, name)
		}
	}

	a := s.Connection.Auth
	switch a.Type {
	case AuthAPIKey:
		if a.In == "query" && a.Name == "" {
			l.add("SPX-S016", "$.connection.auth", "api_key in query needs name: the query parameter that carries the key")
		}
	case AuthOAuth2ClientCredentials:
		if a.TokenURL == "" {
			l.add("SPX-S016", "$.connection.auth", "oauth2_client_credentials needs token_url")
		}
		if a.ClientID == "" {
			l.add("SPX-S016", "$.connection.auth", "oauth2_client_credentials needs client_id (non-secret; may template {config.client_id})")
		}
	case AuthBasic, AuthBearer:
	case AuthNone:
		if a.Credential != "" {
			l.add("SPX-S016", "$.connection.auth.credential", "auth type none takes no credential")
		}
	}
	if a.Type != AuthNone && a.Credential == "" {
		l.add("SPX-S016", "$.connection.auth", "auth type %s needs credential: the name of a vault entry (never the secret itself)", a.Type)
	}
	if a.In == "query" && a.Type != AuthAPIKey {
		l.add("SPX-S016", "$.connection.auth.in", "only api_key may be sent in the query")
	}
	if a.Prefix != "" && a.Type != AuthAPIKey {
		l.add("SPX-S016", "$.connection.auth.prefix", "prefix applies only to api_key; %s sets its own scheme", a.Type)
	}
	l.templates(s, "$.connection.auth.username", a.Username, nil)
	l.templates(s, "$.connection.auth.client_id", a.ClientID, nil)
	l.templates(s, "$.connection.auth.token_url", a.TokenURL, nil)
	for k, v := range s.Defaults.Headers {
		l.templates(s, "$.defaults.headers."+quoteKey(k), v, nil)
	}
	for k, v := range s.Defaults.Query {
		l.templates(s, "$.defaults.query."+quoteKey(k), v, nil)
	}
	if s.Defaults.Pagination != nil {
		l.pagination("$.defaults.pagination", s.Defaults.Pagination)
	}

	names := map[string]int{}
	for i, st := range s.Streams {
		sp := fmt.Sprintf("$.streams[%d]", i)
		if j, dup := names[st.Name]; dup {
			l.add("SPX-S010", sp+".name", "stream %q is declared twice (first at streams[%d]); names must be unique", st.Name, j)
		}
		names[st.Name] = i
	}
	for i, st := range s.Streams {
		sp := fmt.Sprintf("$.streams[%d]", i)
		if fe := st.ForEach; fe != nil {
			switch {
			case fe.Stream == st.Name:
				l.add("SPX-S011", sp+".for_each.stream", "stream %q cannot fan out over itself", st.Name)
			case s.Stream(fe.Stream) == nil:
				l.add("SPX-S011", sp+".for_each.stream", "for_each names stream %q, which does not exist (streams: %s)", fe.Stream, strings.Join(streamNames(s), ", "))
			case cyclic(s, st.Name):
				l.add("SPX-S011", sp+".for_each.stream", "for_each chain from %q loops back to itself", st.Name)
			}
			if slices.Contains([]string{VarRecord, VarConfig, VarBody, VarStatus}, fe.As) {
				l.add("SPX-S012", sp+".for_each.as", "alias %q shadows a built-in variable; pick another name", fe.As)
			}
			if al := s.Aliases(st.Name); len(al) > 1 && slices.Contains(al[1:], fe.As) {
				l.add("SPX-S012", sp+".for_each.as", "alias %q is already used by an ancestor stream", fe.As)
			}
		}
		aliases := s.Aliases(st.Name)
		l.templates(s, sp+".request.path", st.Request.Path, aliases)
		for k, v := range st.Request.Query {
			l.templates(s, sp+".request.query."+quoteKey(k), v, aliases)
		}
		for k, v := range st.Request.Headers {
			l.templates(s, sp+".request.headers."+quoteKey(k), v, aliases)
		}
		if st.Pagination != nil {
			l.pagination(sp+".pagination", st.Pagination)
		}
		for f := range st.Map {
			if !slices.Contains(MapFields, f) {
				l.add("SPX-S015", sp+".map."+quoteKey(f), "%q is not a canonical field; map one of: %s", f, strings.Join(MapFields, ", "))
			}
		}
		if st.Emits != "" {
			if _, ok := st.Map["external_id"]; !ok {
				l.add("SPX-S015", sp+".map", "stream emits %s but its map has no external_id: map the vendor's identifier, e.g. external_id: r.id", st.Emits)
			}
		} else if len(st.Map) > 0 || len(st.Relationships) > 0 {
			l.add("SPX-S015", sp, "stream has a map but no emits: say which kind it produces (one of %v)", nhi.Kinds())
		}
	}
}

func streamNames(s *Spec) []string {
	out := make([]string, len(s.Streams))
	for i, st := range s.Streams {
		out[i] = st.Name
	}
	return out
}

func cyclic(s *Spec, name string) bool {
	seen := map[string]bool{}
	for cur := s.Stream(name); cur != nil && cur.ForEach != nil; cur = s.Stream(cur.ForEach.Stream) {
		if seen[cur.Name] {
			return true
		}
		seen[cur.Name] = true
	}
	return false
}

func (l *linter) pagination(path string, p *Pagination) {
	need := func(field, val string) {
		if val == "" {
			l.add("SPX-S013", path, "pagination type %s needs %s", p.Type, field)
		}
	}
	switch p.Type {
	case PageCursor, PageToken:
		need("cursor_path (where the next cursor is in the body)", p.CursorPath)
		need("cursor_param (the query parameter it is sent back in)", p.CursorParam)
	case PageNextURL:
		need("next_url_path (where the next page's URL is in the body)", p.NextURLPath)
	case PageHeader:
		need("header (the response header that names the next page)", p.Header)
	case PageOffset:
		need("limit_param", p.LimitParam)
		need("offset_param", p.OffsetParam)
		if p.PageSize == 0 {
			l.add("SPX-S013", path, "offset paging needs page_size: it is the limit sent, and a page shorter than it ends the list")
		}
	case PagePageNumber:
		need("page_param", p.PageParam)
	}
	if p.PageSize > 0 && p.SizeParam == "" && p.LimitParam == "" {
		l.add("SPX-S013", path, "page_size %d is set but no size_param says which query parameter carries it", p.PageSize)
	}
}

// templates checks that every {ref} is config.<declared> or an alias.
func (l *linter) templates(s *Spec, path, tmpl string, aliases []string) {
	refs, err := TemplateRefs(tmpl)
	if err != nil {
		l.add("SPX-S014", path, "%v", err)
		return
	}
	for _, ref := range refs {
		head, rest, _ := strings.Cut(ref, ".")
		switch {
		case head == VarConfig:
			if _, ok := s.Connection.Config[rest]; !ok {
				l.add("SPX-S014", path, "{%s} uses config %q, which connection.config does not declare", ref, rest)
			}
		case slices.Contains(aliases, head):
			if rest == "" {
				l.add("SPX-S014", path, "{%s} needs a field of the parent record, such as {%s.id}", ref, head)
			}
		case len(aliases) > 0:
			l.add("SPX-S014", path, "{%s} is neither config.<name> nor a field of the for_each alias %s", ref, strings.Join(aliases, " or "))
		default:
			l.add("SPX-S014", path, "{%s} is not config.<name>; a path parameter must come from connection.config or from a for_each parent", ref)
		}
	}
}

// sensitiveHeaders carry credentials; outside connection.auth they would
// put a secret (or a slot for one) where the vault cannot see it.
var sensitiveHeaders = []string{"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token", "private-token", "x-access-token"}

// sensitiveParams are query parameter names that conventionally carry keys.
var sensitiveParams = []string{"api_key", "apikey", "access_token", "token", "key", "secret", "client_secret", "password", "auth", "signature", "sig"}

func (l *linter) policy(s *Spec) {
	base, _ := parseTemplatedURL(s.Connection.BaseURL)
	if base != nil && base.Scheme == "http" && !isLoopback(base.Hostname()) {
		l.add("SPX-P005", "$.connection.base_url", "base_url uses plain http: credentials would cross the network unencrypted; use https")
	}
	if tu := s.Connection.Auth.TokenURL; tu != "" && base != nil {
		if u, err := parseTemplatedURL(tu); err != nil {
			l.add("SPX-P002", "$.connection.auth.token_url", "token_url %q does not parse: %v", tu, err)
		} else if u.IsAbs() && !sameHost(u, base) {
			// Vendors often issue tokens from a separate identity host
			// (login.vendor.example). Only the token request goes there, over
			// https; it is a warning so the reviewer confirms the host, and
			// validation checks it against the doc's own token URL.
			if u.Scheme != "https" && !isLoopback(u.Hostname()) {
				l.add("SPX-P002", "$.connection.auth.token_url", "token_url %q is on another host over plain http: the client secret would cross the network unencrypted; use the https token URL the vendor documents", tu)
			} else {
				l.add("SPX-P006", "$.connection.auth.token_url", "token_url host %q differs from base_url host %q: the client secret is sent there; confirm it is the vendor's own identity provider as its documentation names it", u.Host, base.Host)
			}
		}
	}
	for k := range s.Defaults.Headers {
		if slices.Contains(sensitiveHeaders, strings.ToLower(k)) {
			l.add("SPX-P003", "$.defaults.headers."+quoteKey(k), "header %s carries credentials; declare them in connection.auth with a vault reference instead", k)
		}
	}
	for k := range s.Defaults.Query {
		if slices.Contains(sensitiveParams, strings.ToLower(k)) {
			l.add("SPX-P003", "$.defaults.query."+quoteKey(k), "query parameter %s carries credentials; use connection.auth (type api_key, in: query) instead", k)
		}
	}
	for i, st := range s.Streams {
		sp := fmt.Sprintf("$.streams[%d]", i)
		m := st.Request.MethodOrGet()
		switch {
		case m == "GET":
		case m == "POST" && st.ReadOnly:
		case m == "POST":
			l.add("SPX-P001", sp+".request.method", "POST is allowed only for a read-only search; mark the stream read_only: true if this request changes nothing")
		default:
			l.add("SPX-P001", sp+".request.method", "method %s can change the vendor's data; integrations are read-only (GET, or POST with read_only: true)", m)
		}
		if st.Request.Body != "" && m == "GET" {
			l.add("SPX-P001", sp+".request.body", "a GET request takes no body")
		}
		p := st.Request.Path
		if strings.ContainsAny(p, "?#") {
			l.add("SPX-P002", sp+".request.path", "path %q holds a query or fragment; put query parameters in request.query", p)
		} else if u, err := url.Parse(p); err != nil || u.IsAbs() || u.Host != "" || strings.HasPrefix(p, "//") {
			l.add("SPX-P002", sp+".request.path", "path %q must be relative to base_url (such as /users); a spec may contact only its base URL's host", p)
		} else if !strings.HasPrefix(p, "/") {
			l.add("SPX-P002", sp+".request.path", "path %q must start with /", p)
		}
		for k := range st.Request.Headers {
			if slices.Contains(sensitiveHeaders, strings.ToLower(k)) {
				l.add("SPX-P003", sp+".request.headers."+quoteKey(k), "header %s carries credentials; declare them in connection.auth with a vault reference instead", k)
			}
		}
		for k := range st.Request.Query {
			if slices.Contains(sensitiveParams, strings.ToLower(k)) {
				l.add("SPX-P003", sp+".request.query."+quoteKey(k), "query parameter %s carries credentials; use connection.auth (type api_key, in: query) instead", k)
			}
		}
	}
}

// parseTemplatedURL parses a URL whose templates are replaced by a
// placeholder, so "https://{config.tenant}.example.com" has a host.
func parseTemplatedURL(s string) (*url.URL, error) {
	flat, err := Expand(s, func(ref string) (string, error) { return strings.ReplaceAll(ref, ".", "-"), nil }, nil)
	if err != nil {
		return nil, err
	}
	return url.Parse(flat)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sameHost(a, b *url.URL) bool {
	return strings.EqualFold(a.Hostname(), b.Hostname()) && a.Port() == b.Port()
}

// secrets walks every scalar in the document and flags values that look
// like secrets. It walks the YAML AST rather than the Go types so nothing —
// a comment-free unknown corner, a header, a CEL literal — escapes it.
func (l *linter) secrets() {
	walkScalars(l.doc, func(path, key, val string) {
		if path == "$.metadata.source_doc.sha256" {
			return
		}
		if path == "$.connection.auth.credential" {
			if reason, ok := LooksLikeSecret(val); ok {
				l.add("SPX-P004", path, "credential must name a vault entry, but this looks like a secret value (%s); remove it, rotate it, and keep it where the run's credential source reads it (such as --credential-env)", reason)
			}
			return
		}
		if reason, ok := LooksLikeSecret(val); ok {
			l.add("SPX-P004", path, "value looks like a secret (%s); specs hold no secrets: remove it, rotate it, and reference a vault entry in connection.auth", reason)
			return
		}
		k := strings.ToLower(key)
		// Map keys are canonical field names (credential_type), not slots.
		inMap := strings.Contains(path, "].map.")
		if !inMap && !strings.HasPrefix(path, "$.connection.auth.") && secretKey(k) && val != "" {
			l.add("SPX-P003", path, "%s holds a credential outside connection.auth; credentials belong only in connection.auth as a vault reference", key)
		}
	})
}

// secretKey reports whether a mapping key names a credential.
func secretKey(k string) bool {
	for _, w := range []string{"password", "passwd", "secret", "credential", "api_key", "apikey", "private_key", "access_token", "refresh_token"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return k == "token"
}
