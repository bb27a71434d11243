package prose

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Extraction reads facts line by line from blocks, knowing whether a piece
// of text is code (a code block or an inline code span), a table cell or
// prose: the same words are strong evidence in code and weak in prose.

type textCtx int

const (
	ctxProse textCtx = iota
	ctxTable
	ctxCode // code block, inline code span, curl command
)

// Confidences, from strongest to weakest evidence.
const (
	confHeading   = 0.9  // "## GET /v1/users"
	confCode      = 0.9  // request line in a code block, exact code span, explicit header
	confCurl      = 0.85 // curl with -X
	confTable     = 0.85 // method table row
	confCurlGET   = 0.8  // curl without -X (method implied by its flags)
	confProseHdr  = 0.8  // "Authorization: Bearer …" written in prose
	confCodeAside = 0.75 // method and path inside a code line, not at its start
	confNamed     = 0.7  // a header named in prose ("the X-API-Key header")
	confProse     = 0.6  // "GET /v1/users" in a sentence
	confPhrase    = 0.5  // "bearer token", "basic authentication"

	confPagingCode = 0.8 // a paging name in code or a table (prose: confProse)
	confPagingMore = 0.1 // added when the section names more than one
)

var (
	methodRe = regexp.MustCompile(`\b(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)[ \t]+(?:request[ \t]+(?:to|on|against)[ \t]+)?(\S+)`)
	// authValueRe finds an Authorization header's value in any notation:
	// "Authorization: …", "Authorization": "…", -H 'Authorization: …'.
	authValueRe   = regexp.MustCompile(`(?i)\bauthorization["'\x60]?[ \t]*[:=][ \t]*`)
	curlHeaderRe  = regexp.MustCompile(`(?:^|\s)(?:-H|--header)(?:[ \t]+|=)?(?:"([^"]*)"|'([^']*)'|(\S+))`)
	lineHeaderRe  = regexp.MustCompile(`^[ \t]*([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$`)
	quotedKeyRe   = regexp.MustCompile(`["']([A-Za-z][A-Za-z0-9_-]*)["'][ \t]*:[ \t]*`)
	namedHeaderRe = regexp.MustCompile(`(?i)\b([A-Za-z][A-Za-z0-9-]*[A-Za-z0-9])["'\x60]?[ \t]+(?:(?:http|request|response)[ \t]+)?headers?\b`)
	headerNamedRe = regexp.MustCompile(`(?i)\bheaders?[ \t]+(?:named[ \t]+|called[ \t]+)?["'\x60]?([A-Za-z][A-Za-z0-9]*-[A-Za-z0-9-]*[A-Za-z0-9]|authorization)\b`)
	bearerRe      = regexp.MustCompile(`(?i)\bbearer[ \t]+(?:tokens?|authentication|auth|authorization)\b`)
	basicRe       = regexp.MustCompile(`(?i)\b(?:http[ \t]+)?basic[ \t]+(?:auth|authentication|access[ \t]+authentication)\b`)
	clientCredRe  = regexp.MustCompile(`(?i)\bclient[ \t_-]credentials?\b`)
	grantRe       = regexp.MustCompile(`(?i)grant_type["']?[ \t]*[:=][ \t]*["']?client_credentials\b`)
	grantParamRe  = regexp.MustCompile(`\b(grant_type|client_id|client_secret|scope|audience)\b`)
	// tokenURLRe: an OAuth token endpoint, absolute or a path, ending in
	// /token or /access_token.
	tokenURLRe   = regexp.MustCompile(`https?://[^\s"'<>()\x60\]]*/(?:access_)?token\b|(?:^|[\s(\x60"'])(/(?:[A-Za-z0-9_.{}-]+/)*(?:access_)?token)\b`)
	queryKeyRe   = regexp.MustCompile(`(?i)[?&](api[_-]?key|apikey|access_token|auth_token|token|key)=`)
	relNextRe    = regexp.MustCompile(`(?i)\brel[ \t]*=[ \t]*["']?next\b`)
	okFalseRe    = regexp.MustCompile(`"?\bok"?[ \t]*:[ \t]*false\b`)
	errorKeyRe   = regexp.MustCompile(`"error"[ \t]*:|\berror:`)
	retryAfterRe = regexp.MustCompile(`(?i)\bretry-after\b`)
	rateHeaderRe = regexp.MustCompile(`(?i)\b(?:x-)?rate-?limit-[a-z][a-z-]*[a-z]\b`)
	rateRe       = regexp.MustCompile(`(?i)\b(\d[\d,]{0,12})[ \t]+(?:api[ \t]+)?(?:requests?|calls?)[ \t]+(?:per|a|an|each|every|/)[ \t]*(second|sec|minute|min|hour|day)\b`)
	baseURLRe    = regexp.MustCompile(`(?i)\b(?:base[ \t_-]?url|api[ \t]+root|root[ \t]+url|base[ \t]+endpoint|api[ \t]+host|hostname)\b[^\n]{0,80}?(https?://[^\s"'<>()\x60\]]+)`)
	templateRe   = regexp.MustCompile(`^(\{\{[^{}/]*\}\}|\$\{[^{}/]*\}|\$[A-Za-z_][A-Za-z0-9_]*|<[^<>/]*>|\{[^{}/]*\})(/.*)?$`)
)

type extractor struct {
	doc       *Doc
	endpoints map[string]int
	seen      map[*[]Mention]map[string]int
	sec       string
	tooMany   bool // endpoints past maxEndpoints were dropped

	// Per-section findings, de-duplicated as found (a hostile section may
	// repeat a fact a million times) and resolved when the section ends.
	auth, paging, errs, rates, servers []Mention
	local                              map[*[]Mention]map[string]int
	families                           [numFamilies]family
	oauth                              *Mention
	rateHeaders                        []string
	rateHeaderAt                       *Mention
}

// Paging families, in the order their mentions on one line are listed.
const (
	famCursor = iota
	famNextURL
	famPage
	famOffset
	famToken
	famHeader
	numFamilies
)

func familyKind(f int) string {
	return [numFamilies]string{"cursor", "next_url", "page_number", "offset", "token", "header"}[f]
}

// family gathers one paging family's names in the current section.
type family struct {
	found  bool // a trigger was seen
	strong bool // a trigger was seen in code or a table
	line   int  // the first trigger's line
	ev     string
	names  []string
	seen   map[string]bool
}

func newExtractor(doc *Doc) *extractor {
	doc.Endpoints, doc.Auth, doc.Paging, doc.Errors, doc.RateLimits, doc.Servers = []Endpoint{}, []Mention{}, []Mention{}, []Mention{}, []Mention{}, []Mention{}
	return &extractor{
		doc:       doc,
		endpoints: map[string]int{},
		seen:      map[*[]Mention]map[string]int{},
		local:     map[*[]Mention]map[string]int{},
	}
}

func (x *extractor) startSection(id string) { x.sec = id }

// line is one logical line of a block: shell continuations are joined.
type line struct {
	text string
	off  int // offset of text in the block
}

func logicalLines(b *block) []line {
	text := b.text
	if b.kind == kindCode {
		// "\\\n" → two spaces keeps offsets while joining continued lines.
		text = strings.ReplaceAll(text, "\\\n", "  ")
	}
	var out []line
	off := 0
	for {
		i := strings.IndexByte(text[off:], '\n')
		if i < 0 {
			out = append(out, line{text[off:], off})
			return out
		}
		out = append(out, line{text[off : off+i], off})
		off += i + 1
	}
}

func (x *extractor) block(b *block) {
	var cells map[string]bool
	if b.kind == kindRow {
		cells = make(map[string]bool, len(b.cells))
		for _, c := range b.cells {
			cells[strings.Trim(c, "`\"'")] = true
		}
	}
	for _, l := range logicalLines(b) {
		// Cheap substring tests keep the regular expressions off the many
		// lines that cannot match them.
		low := asciiLower(l.text)
		if hasMethod(l.text) {
			x.endpointsIn(b, l)
		}
		if b.kind == kindRow {
			x.methodRow(b, l)
		}
		if strings.Contains(low, "curl") {
			x.curl(b, l)
		}
		x.authIn(b, l, low)
		x.headersIn(b, l, low)
		x.pagingIn(b, l, low, cells)
		x.othersIn(b, l, low)
	}
}

func hasMethod(s string) bool {
	for _, m := range [...]string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// ctxOf classifies text[start:end] of a line.
func ctxOf(b *block, l line, start, end int) textCtx {
	switch {
	case b.kind == kindCode, b.inSpan(l.off+start, l.off+end):
		return ctxCode
	case b.kind == kindRow:
		return ctxTable
	}
	return ctxProse
}

// ---- endpoints ----

func (x *extractor) endpointsIn(b *block, l line) {
	for _, m := range methodRe.FindAllStringSubmatchIndex(l.text, -1) {
		host, p, ok := normTarget(l.text[m[4]:m[5]])
		if !ok {
			continue
		}
		conf := confProse
		switch {
		case b.kind == kindHeading:
			conf = confHeading
		case b.kind == kindCode:
			conf = confCodeAside
			if strings.TrimSpace(l.text[:m[0]]) == "" {
				conf = confCode
			}
		case b.inSpan(l.off+m[2], l.off+m[3]):
			conf = confCode
		case b.kind == kindRow:
			conf = confTable
		}
		x.endpoint(Endpoint{Method: l.text[m[2]:m[3]], Path: p, Host: host, Line: b.lineAt(l.off + m[0]), Confidence: conf}, quote{l.text, m[0], m[1]})
	}
}

// methodRow reads a table row with a method cell and a path cell.
func (x *extractor) methodRow(b *block, l line) {
	method, path, host := "", "", ""
	for _, c := range b.cells {
		c = strings.Trim(c, "`")
		if method == "" && isMethod(c) {
			method = c
			continue
		}
		if f := strings.Fields(c); path == "" && len(f) > 0 {
			if h, p, ok := normTarget(f[0]); ok {
				host, path = h, p
			}
		}
	}
	if method != "" && path != "" {
		x.endpoint(Endpoint{Method: method, Path: path, Host: host, Line: b.lineAt(l.off), Confidence: confTable}, quote{l.text, 0, 0})
	}
}

func isMethod(s string) bool {
	switch s {
	case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS":
		return true
	}
	return false
}

// endpoint records a candidate; q is quoted only if it is kept.
func (x *extractor) endpoint(e Endpoint, q quote) {
	e.Section = x.sec
	key := e.Method + " " + e.Path
	if i, ok := x.endpoints[key]; ok {
		if e.Confidence > x.doc.Endpoints[i].Confidence {
			e.Evidence = q.snippet()
			x.doc.Endpoints[i] = e
		}
	} else if len(x.doc.Endpoints) < maxEndpoints {
		e.Evidence = q.snippet()
		x.endpoints[key] = len(x.doc.Endpoints)
		x.doc.Endpoints = append(x.doc.Endpoints, e)
	} else if !x.tooMany {
		x.tooMany = true
		x.doc.Warnings = append(x.doc.Warnings, fmt.Sprintf("over %d endpoint candidates: the rest were dropped", maxEndpoints))
	}
	if strings.HasPrefix(e.Host, "http") {
		x.add(&x.servers, Mention{Kind: "host", Detail: e.Host, Line: e.Line, Confidence: 0.7}, q)
	}
}

// normTarget turns what follows a method into a path template: scheme and
// host (or a host template such as {{baseUrl}}) go to host; query and
// fragment are dropped; ":id", "<id>", "{{id}}", "${id}" and "$ID" become
// "{id}" ("{ID}").
func normTarget(raw string) (host, p string, ok bool) {
	t := strings.TrimLeft(raw, "(\"'`[")
	t = strings.TrimRight(t, ".,;:)]'\"`!?")
	if lower := strings.ToLower(t); strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
		i := strings.Index(t, "://") + 3
		slash := strings.IndexByte(t[i:], '/')
		if slash < 0 {
			return "", "", false
		}
		host, t = t[:i+slash], t[i+slash:]
	} else if m := templateRe.FindStringSubmatch(t); m != nil {
		if m[2] == "" {
			return "", "", false
		}
		host, t = m[1], m[2]
	}
	if i := strings.IndexAny(t, "?#"); i >= 0 {
		t = t[:i]
	}
	if !strings.HasPrefix(t, "/") || strings.HasPrefix(t, "//") || len(t) > 512 {
		return "", "", false
	}
	segs := strings.Split(t, "/")
	for i, s := range segs {
		if i == 0 {
			continue
		}
		switch {
		case len(s) > 1 && s[0] == ':' && isIdent(s[1:]):
			s = "{" + s[1:] + "}"
		case len(s) > 2 && s[0] == '<' && s[len(s)-1] == '>' && isIdent(s[1:len(s)-1]):
			s = "{" + s[1:len(s)-1] + "}"
		case len(s) > 4 && strings.HasPrefix(s, "{{") && strings.HasSuffix(s, "}}") && isIdent(strings.TrimSpace(s[2:len(s)-2])):
			s = "{" + strings.TrimSpace(s[2:len(s)-2]) + "}"
		case len(s) > 3 && strings.HasPrefix(s, "${") && s[len(s)-1] == '}' && isIdent(s[2:len(s)-1]):
			s = "{" + s[2:len(s)-1] + "}"
		case len(s) > 1 && s[0] == '$' && isShellVar(s[1:]):
			s = "{" + s[1:] + "}" // $DROPLET_ID; OData's $count stays
		}
		for _, r := range s {
			if !pathRune(r) {
				return "", "", false
			}
		}
		segs[i] = s
	}
	p = strings.Join(segs, "/")
	if len(p) > 1 {
		p = strings.TrimRight(p, "/")
		if p == "" {
			p = "/"
		}
	}
	return host, p, true
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || unicode.IsLetter(r) || (i > 0 && (unicode.IsDigit(r) || r == '-' || r == '.'))) {
			return false
		}
	}
	return true
}

// isShellVar: an upper-case shell variable name, as examples write
// placeholders.
func isShellVar(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c == '_' || (i > 0 && c >= '0' && c <= '9')) {
			return false
		}
	}
	return s != ""
}

func pathRune(r rune) bool {
	return r < utf8.RuneSelf && (isAlnum(byte(r)) || strings.ContainsRune("-._~{}:@%+$!*',;=", r))
}

// ---- curl ----

type shellWord struct {
	s   string
	off int
}

// shellWords splits a command line on blanks, honouring quotes and
// backslash escapes; nothing is expanded or run.
func shellWords(s string) []shellWord {
	var out []shellWord
	var sb strings.Builder
	start, in := -1, false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				sb.WriteByte(c)
			}
			continue
		case c == '\'' || c == '"':
			quote = c
		case c == '\\' && i+1 < len(s):
			i++
			sb.WriteByte(s[i])
		case c == ' ' || c == '\t':
			if in {
				out = append(out, shellWord{sb.String(), start})
				sb.Reset()
				in = false
			}
			continue
		default:
			sb.WriteByte(c)
		}
		if !in {
			in, start = true, i
		}
	}
	if in {
		out = append(out, shellWord{sb.String(), start})
	}
	return out
}

// curlShortArg: curl's one-letter flags that take an argument.
const curlShortArg = "XHduoAebcwmFTxEKrz"

// curlLongArg: curl's long flags that take an argument.
func curlLongArg(flag string) bool {
	switch flag {
	case "--request", "--header", "--data", "--data-raw", "--data-binary", "--data-urlencode", "--data-ascii",
		"--form", "--form-string", "--json", "--user", "--url", "--output", "--user-agent", "--referer",
		"--cookie", "--cookie-jar", "--write-out", "--max-time", "--connect-timeout", "--retry", "--cacert",
		"--capath", "--cert", "--key", "--proxy", "--resolve", "--upload-file", "--config", "--limit-rate",
		"--interface", "--retry-delay", "--retry-max-time", "--max-redirs", "--range", "--time-cond",
		"--url-query", "--oauth2-bearer", "--variable":
		return true
	}
	return false
}

func (x *extractor) curl(b *block, l line) {
	words := shellWords(l.text)
	i := slices.IndexFunc(words, func(w shellWord) bool { return w.s == "curl" || strings.HasSuffix(w.s, "/curl") })
	if i < 0 {
		return
	}
	at := words[i].off
	method, target, targetAt := "", "", 0
	data, get, head := false, false, false
	user, userAt, userSet, bearer, bearerAt := "", 0, false, false, 0
	option := func(flag, arg string, argAt int) {
		switch flag {
		case "-X", "--request":
			method = strings.ToUpper(arg)
		case "-d", "--data", "--data-raw", "--data-binary", "--data-urlencode", "--data-ascii", "-F", "--form", "--form-string", "--json":
			data = true
		case "-u", "--user":
			user, userAt, userSet = arg, argAt, true
		case "--url":
			if target == "" {
				target, targetAt = arg, argAt
			}
		case "--oauth2-bearer":
			bearer, bearerAt = true, argAt
		case "-G", "--get":
			get = true
		case "-I", "--head":
			head = true
		}
	}
	for i++; i < len(words); i++ {
		w := words[i]
		next, nextAt := "", w.off
		if i+1 < len(words) {
			next, nextAt = words[i+1].s, words[i+1].off
		}
		switch {
		case w.s == "|" || w.s == "||" || w.s == "&&" || w.s == ";" || strings.HasPrefix(w.s, ">"):
			i = len(words)
		case strings.HasPrefix(w.s, "--"):
			flag, arg, hasEq := strings.Cut(w.s, "=")
			switch {
			case hasEq:
				option(flag, arg, w.off)
			case curlLongArg(flag):
				option(flag, next, nextAt)
				i++
			default:
				option(flag, "", w.off)
			}
		case len(w.s) > 1 && w.s[0] == '-':
			// A cluster of short flags: "-sS", "-XPOST", "-u key:".
			for j := 1; j < len(w.s); j++ {
				f := "-" + w.s[j:j+1]
				if strings.IndexByte(curlShortArg, w.s[j]) < 0 {
					option(f, "", w.off)
					continue
				}
				if j+1 < len(w.s) {
					option(f, w.s[j+1:], w.off)
				} else {
					option(f, next, nextAt)
					i++
				}
				break
			}
		case target == "":
			if _, _, ok := normTarget(w.s); ok && (strings.Contains(w.s, "://") || !strings.HasPrefix(w.s, "/")) {
				target, targetAt = w.s, w.off
			}
		}
	}
	ctx := ctxOf(b, l, at, at)
	if ctx == ctxCode {
		if userSet && user != "" {
			detail := "username:password"
			if strings.HasSuffix(user, ":") {
				detail = "username=api key, password empty"
			}
			x.add(&x.auth, Mention{Kind: "basic", Detail: detail, Names: []string{"Authorization"}, Line: b.lineAt(l.off + userAt), Confidence: confCode}, quote{l.text, userAt, userAt + len(user)})
		}
		if bearer {
			x.add(&x.auth, Mention{Kind: "bearer", Detail: "Bearer", Names: []string{"Authorization"}, Line: b.lineAt(l.off + bearerAt), Confidence: confCode}, quote{l.text, bearerAt, bearerAt})
		}
	}
	if target == "" {
		return
	}
	host, p, _ := normTarget(target)
	conf := confCurl
	switch {
	case method != "":
	case head:
		method, conf = "HEAD", confCurlGET
	case data && !get:
		method, conf = "POST", confCurlGET
	default:
		method, conf = "GET", confCurlGET
	}
	if ctx != ctxCode {
		conf = confProse // "use curl to fetch https://…" in a sentence
	}
	if !isMethod(method) {
		return
	}
	x.endpoint(Endpoint{Method: method, Path: p, Host: host, Line: b.lineAt(l.off + at), Confidence: conf}, quote{l.text, at, targetAt + len(target)})
}

// ---- auth ----

func (x *extractor) authIn(b *block, l line, low string) {
	if strings.Contains(low, "authorization") {
		for _, m := range authValueRe.FindAllStringIndex(l.text, -1) {
			x.authorization(b, l, l.text[m[1]:min(len(l.text), m[1]+maxValueBytes)], m[0], ctxOf(b, l, m[0], m[1]))
		}
	}
	if b.kind != kindCode {
		if strings.Contains(low, "bearer") {
			for _, m := range bearerRe.FindAllStringIndex(l.text, -1) {
				if ctxOf(b, l, m[0], m[1]) != ctxCode {
					x.addAt(&x.auth, b, l, m, Mention{Kind: "bearer", Detail: "Bearer", Names: []string{"Authorization"}, Confidence: confPhrase})
				}
			}
		}
		if strings.Contains(low, "basic") {
			for _, m := range basicRe.FindAllStringIndex(l.text, -1) {
				if ctxOf(b, l, m[0], m[1]) != ctxCode {
					x.addAt(&x.auth, b, l, m, Mention{Kind: "basic", Detail: "Basic", Names: []string{"Authorization"}, Confidence: confPhrase})
				}
			}
		}
	}
	if strings.Contains(low, "grant_type") {
		for _, m := range grantRe.FindAllStringIndex(l.text, -1) {
			x.oauthAt(b, l, m, Mention{Confidence: confCode})
		}
	}
	if strings.Contains(low, "credential") {
		for _, m := range clientCredRe.FindAllStringIndex(l.text, -1) {
			x.oauthAt(b, l, m, Mention{Confidence: confProse})
		}
	}
	if !strings.Contains(l.text, "=") {
		return
	}
	for _, m := range queryKeyRe.FindAllStringSubmatchIndex(l.text, -1) {
		name := l.text[m[2]:m[3]]
		conf := confNamed
		if ctxOf(b, l, m[0], m[1]) == ctxCode {
			conf = confProseHdr
		}
		x.addAt(&x.auth, b, l, m[:2], Mention{Kind: "api_key_query", Detail: name, Names: []string{name}, Confidence: conf})
	}
}

// addAt adds a mention found at match m on line l.
func (x *extractor) addAt(list *[]Mention, b *block, l line, m []int, mn Mention) {
	mn.Line = b.lineAt(l.off + m[0])
	x.add(list, mn, quote{l.text, m[0], m[1]})
}

// oauthAt notes a client-credentials mention at match m; it becomes a
// mention when the section ends and its token URL is known.
func (x *extractor) oauthAt(b *block, l line, m []int, mn Mention) {
	if x.oauth == nil || mn.Confidence > x.oauth.Confidence {
		mn.Line = b.lineAt(l.off + m[0])
		mn.Evidence = snippet(l.text, m[0], m[1])
		x.oauth = &mn
	}
}

// authorization reads an Authorization header's value: a scheme (Bearer,
// Basic, or a vendor prefix such as "SSWS " or "Token token=") before the
// secret, or a bare secret.
func (x *extractor) authorization(b *block, l line, rest string, at int, ctx textCtx) {
	v := rest
	if len(v) > 1 && v[0] == 'f' && (v[1] == '"' || v[1] == '\'') {
		v = v[1:] // a Python f-string
	}
	v = strings.TrimLeft(v, "\"'` \t")
	// The value ends at a closing quote or where code goes on: "SSWS " + token.
	cut := strings.IndexAny(v, "\"'`,;}+)|")
	if cut >= 0 {
		v = v[:cut]
	}
	fields := strings.Fields(v)
	if len(fields) == 0 {
		return
	}
	conf := confCode
	if ctx == ctxProse {
		conf = confProseHdr
	}
	q := quote{l.text, at, len(l.text) - len(rest)}
	mk := func(kind, detail string) {
		x.add(&x.auth, Mention{Kind: kind, Detail: detail, Names: []string{"Authorization"}, Line: b.lineAt(l.off + at), Confidence: conf}, q)
	}
	scheme := fields[0]
	switch strings.ToLower(scheme) {
	case "bearer":
		mk("bearer", "Bearer")
		return
	case "basic":
		mk("basic", "Basic")
		return
	}
	// In prose, "authorization: the act of…" is not a header, so a scheme
	// there must be capitalised; code may write GitHub's "token <TOKEN>".
	schemeLike := isScheme(scheme) && (ctx != ctxProse || (scheme[0] >= 'A' && scheme[0] <= 'Z'))
	switch {
	case len(fields) == 1 && schemeLike && cut >= 0 && strings.HasSuffix(v, " "):
		// "SSWS ' + token": the secret is concatenated after the prefix.
		mk("prefix", scheme+" ")
	case len(fields) == 1:
		if ctx == ctxCode && secretLike(scheme) {
			mk("api_key_header", "Authorization")
		}
	case schemeLike:
		next := fields[1]
		if k, _, ok := strings.Cut(next, "="); ok && isIdent(k) {
			mk("prefix", scheme+" "+k+"=")
		} else if secretLike(next) {
			mk("prefix", scheme+" ")
		}
	}
}

func isScheme(s string) bool {
	if len(s) == 0 || len(s) > 32 || !unicode.IsLetter(rune(s[0])) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(isAlnum(s[i]) || s[i] == '-' || s[i] == '_') {
			return false
		}
	}
	return true
}

// secretLike: a placeholder (<token>, ${TOKEN}, {apiKey}, YOUR_API_KEY) or
// something that looks like a real secret.
func secretLike(s string) bool {
	if strings.ContainsAny(s, "<>${}[]*") {
		return true
	}
	upper, digit, letter := len(s) >= 3, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'a' && c <= 'z':
			letter, upper = true, false
		case c >= 'A' && c <= 'Z':
			letter = true
		case c == '_' || c == '-' || c == '.' || c == '=' || c == '~' || c == '+' || c == '/':
		default:
			return false
		}
	}
	low := strings.ToLower(s)
	return upper || (len(s) >= 12 && digit && letter) ||
		strings.Contains(low, "token") || strings.Contains(low, "key") || strings.Contains(low, "secret")
}

type headerRef struct {
	name, value string
	at, end     int
	ctx         textCtx
}

// headersIn finds headers other than Authorization: in curl -H arguments,
// "Name: value" lines of code, quoted keys in code ("X-Api-Key": key) and
// prose naming a header ("the X-API-Key header").
func (x *extractor) headersIn(b *block, l line, low string) {
	var refs []headerRef
	if !strings.Contains(l.text, ":") && !strings.Contains(low, "header") {
		return
	}
	if strings.Contains(l.text, "-H") || strings.Contains(l.text, "--header") {
		for _, m := range curlHeaderRe.FindAllStringSubmatchIndex(l.text, -1) {
			for g := 2; g < 8; g += 2 {
				if m[g] >= 0 {
					if n, v, ok := strings.Cut(l.text[m[g]:m[g+1]], ":"); ok && len(n) <= maxNameBytes {
						refs = append(refs, headerRef{strings.TrimSpace(n), strings.TrimSpace(v), m[g], m[g+1], ctxCode})
					}
				}
			}
		}
	}
	if b.kind == kindCode {
		if m := lineHeaderRe.FindStringSubmatchIndex(l.text); m != nil {
			refs = append(refs, headerRef{l.text[m[2]:m[3]], l.text[m[4]:m[5]], m[2], m[5], ctxCode})
		}
		if strings.Contains(l.text, "-") || strings.Contains(low, "link") {
			for _, m := range quotedKeyRe.FindAllStringSubmatchIndex(l.text, -1) {
				refs = append(refs, headerRef{l.text[m[2]:m[3]], "", m[0], m[1], ctxCode})
			}
		}
	}
	if b.kind != kindCode && strings.Contains(low, "header") {
		for _, re := range []*regexp.Regexp{namedHeaderRe, headerNamedRe} {
			for _, m := range re.FindAllStringSubmatchIndex(l.text, -1) {
				refs = append(refs, headerRef{l.text[m[2]:m[3]], "", m[0], m[1], ctxOf(b, l, m[2], m[3])})
			}
		}
	}
	if len(refs) == 0 {
		return
	}
	done := map[string]bool{}
	for _, r := range refs {
		low := strings.ToLower(r.name)
		if done[low] || !(strings.Contains(low, "-") || low == "authorization" || low == "link") {
			continue
		}
		done[low] = true
		conf := confCode
		if r.ctx != ctxCode {
			conf = confNamed
		}
		q := quote{l.text, r.at, r.end}
		mk := func(kind, detail string) Mention {
			return Mention{Kind: kind, Detail: detail, Names: []string{r.name}, Line: b.lineAt(l.off + r.at), Confidence: conf}
		}
		switch {
		case low == "authorization":
			if r.value == "" {
				x.authorizationFromSpan(b, l, r)
			}
		case low == "link":
			if b.kind == kindCode && r.value != "" && !relNextRe.MatchString(r.value) {
				continue
			}
			x.add(&x.paging, mk("link_header", "Link"), q)
		case isAuthHeader(low):
			x.add(&x.auth, mk("api_key_header", r.name), q)
		}
	}
}

// authorizationFromSpan: "set the Authorization header to `Bearer <token>`".
func (x *extractor) authorizationFromSpan(b *block, l line, r headerRef) {
	first := lowerBound(len(b.spans), func(i int) bool { return b.spans[i][0] >= l.off })
	for _, s := range b.spans[first:] {
		if s[1] > l.off+len(l.text) {
			break
		}
		span := b.text[s[0]:s[1]]
		if f := strings.Fields(span); len(f) >= 2 && (isScheme(f[0]) || strings.EqualFold(f[0], "bearer") || strings.EqualFold(f[0], "basic")) {
			sub := line{text: span, off: s[0]}
			x.authorization(b, sub, span, 0, ctxCode)
			return
		}
	}
}

func isAuthHeader(low string) bool {
	for _, not := range []string{"idempotency", "page", "next", "cursor", "continuation", "csrf", "xsrf", "content-",
		"request-id", "trace", "signature", "www-authenticate", "proxy-", "webhook"} {
		if strings.Contains(low, not) {
			return false
		}
	}
	for _, is := range []string{"api-key", "apikey", "api_key", "access-key", "auth", "token", "secret", "app-key", "application-key", "session"} {
		if strings.Contains(low, is) {
			return true
		}
	}
	return false
}

// ---- paging ----

// pagingRoles says which paging families a name belongs to, and whether
// it alone shows the family (a trigger) or only completes it.
func pagingRoles(name string, keyed, table bool) (triggers, companions []int) {
	low := strings.ToLower(strings.TrimLeft(name, "$"))
	last := low
	if i := strings.LastIndexByte(low, '.'); i >= 0 {
		last = low[i+1:]
	}
	dotted := last != low
	if strings.HasPrefix(low, "x-") {
		switch {
		case strings.Contains(low, "page") || strings.Contains(low, "next") || strings.Contains(low, "cursor") || strings.Contains(low, "continuation"):
			return []int{famHeader}, nil
		case strings.HasPrefix(low, "x-total"):
			return nil, []int{famHeader}
		}
		return nil, nil
	}
	if strings.Contains(last, "cursor") && !strings.Contains(last, "-") {
		return []int{famCursor}, nil // next_cursor, endCursor; not "cursor-based"
	}
	switch last {
	case "starting_after", "ending_before", "startingafter", "endingbefore", "after", "before":
		return []int{famCursor}, nil
	case "has_more", "hasmore", "hasnextpage", "has_next_page":
		return nil, []int{famCursor, famOffset}
	case "limit":
		return nil, []int{famCursor, famOffset, famPage, famToken}
	case "page_size", "pagesize", "page-size":
		return nil, []int{famCursor, famPage, famToken}
	case "offset", "skip":
		return []int{famOffset}, nil
	case "more", "total", "top":
		return nil, []int{famOffset}
	case "page", "page_number", "pagenumber", "page_num", "pagenum", "per_page", "perpage", "per-page":
		return []int{famPage}, nil
	case "total_pages", "totalpages", "total_count", "totalcount", "last_page":
		return nil, []int{famPage}
	case "nextpagetoken", "pagetoken", "page_token", "next_page_token", "nexttoken", "next_token",
		"continuation_token", "continuationtoken", "nextcontinuationtoken", "marker", "nextmarker",
		"next_marker", "skiptoken":
		return []int{famToken}, nil
	case "continue":
		if keyed || dotted || table {
			return []int{famToken}, nil
		}
	case "istruncated", "is_truncated", "maxresults", "max_results", "maxkeys", "max-keys", "max_keys", "maxitems", "max_items":
		return nil, []int{famToken}
	case "next_url", "nexturl", "next_link", "nextlink", "next_page_url", "nextpageurl", "next_href":
		return []int{famNextURL}, nil
	case "next":
		if keyed || dotted {
			return []int{famNextURL}, nil
		}
	}
	return nil, nil
}

// genericWord: names that are ordinary words, which count in a code
// block only as a key or parameter (page=2, "next": …, <Marker>).
func genericWord(last string) bool {
	switch last {
	case "page", "offset", "skip", "after", "before", "marker", "limit", "more", "total", "top", "next", "continue":
		return true
	}
	return false
}

func (x *extractor) pagingIn(b *block, l line, low string, cells map[string]bool) {
	forEachIdent(l.text, func(start, end int) {
		for end > start && (l.text[end-1] == '.' || l.text[end-1] == '-') {
			end--
		}
		name := l.text[start:end]
		if len(name) > maxNameBytes {
			return
		}
		keyed := isKeyed(l.text, start, end)
		ctx := ctxOf(b, l, start, end)
		table := ctx == ctxTable && cells[name]
		switch {
		case ctx == ctxTable && !table && !codeShaped(name) && !keyed:
			return
		case ctx == ctxProse && !codeShaped(name) && !keyed:
			return
		case b.kind == kindCode && !keyed && !strings.Contains(name, ".") && genericWord(strings.ToLower(strings.TrimLeft(name, "$"))):
			return
		}
		triggers, companions := pagingRoles(name, keyed, table)
		for _, f := range triggers {
			fam := &x.families[f]
			if !fam.found {
				fam.found, fam.line, fam.ev = true, b.lineAt(l.off+start), snippet(l.text, start, end)
			}
			fam.strong = fam.strong || ctx != ctxProse
			fam.add(name)
		}
		for _, f := range companions {
			x.families[f].add(name)
		}
	})
	if !strings.Contains(low, "rel") {
		return
	}
	for _, m := range relNextRe.FindAllStringIndex(l.text, -1) {
		conf := confProseHdr
		if ctxOf(b, l, m[0], m[1]) == ctxCode {
			conf = confCode
		}
		x.addAt(&x.paging, b, l, m, Mention{Kind: "link_header", Detail: "Link", Names: []string{"Link"}, Confidence: conf})
	}
}

// forEachIdent calls fn for each identifier-like run in s: a letter, "_",
// "@" or "$", then letters, digits and "_.@$-".
func forEachIdent(s string, fn func(start, end int)) {
	for i := 0; i < len(s); {
		c := s[i]
		if !(c == '_' || c == '@' || c == '$' || (c|0x20 >= 'a' && c|0x20 <= 'z')) {
			i++
			continue
		}
		j := i + 1
		for j < len(s) && (isAlnum(s[j]) || strings.IndexByte("_.@$-", s[j]) >= 0) {
			j++
		}
		fn(i, j)
		i = j
	}
}

// isKeyed: the name is used as a key or parameter — followed by ":" or
// "=" (past a closing quote), or after "?", "&" or "<".
func isKeyed(s string, start, end int) bool {
	if start > 0 && strings.IndexByte("?&<", s[start-1]) >= 0 {
		return true
	}
	i := end
	if i < len(s) && (s[i] == '"' || s[i] == '\'') {
		i++
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i < len(s) && (s[i] == ':' || s[i] == '=')
}

// codeShaped: a name that is not a plain word: snake_case, dotted.path,
// camelCase, @odata, X-Header.
func codeShaped(s string) bool {
	if strings.ContainsAny(s, "_@$") || (len(s) > 2 && (s[:2] == "X-" || s[:2] == "x-")) {
		return true
	}
	if i := strings.IndexByte(s, '.'); i > 0 && i < len(s)-1 {
		return true
	}
	for i := 1; i < len(s); i++ {
		if s[i-1] >= 'a' && s[i-1] <= 'z' && s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

func (f *family) add(name string) {
	low := strings.ToLower(name)
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	if !f.seen[low] && len(f.names) < maxNames {
		f.seen[low] = true
		f.names = append(f.names, name)
	}
}

// resolvePaging makes one mention per family that has a trigger in the
// section; its names are every member seen, in order.
func (x *extractor) resolvePaging() {
	for i := range x.families {
		f := &x.families[i]
		if f.found {
			conf := confProse
			if f.strong {
				conf = confPagingCode
			}
			if len(f.names) > 1 {
				conf += confPagingMore // a parameter and the field that feeds it
			}
			x.add(&x.paging, Mention{Kind: familyKind(i), Detail: strings.Join(f.names, ", "), Names: f.names, Line: f.line, Evidence: f.ev, Confidence: round2(conf)}, quote{})
		}
		x.families[i] = family{}
	}
}

const (
	maxEndpoints  = 20_000 // candidates kept per document
	maxMentions   = 1_000  // mentions kept per list and section, and per document
	maxNames      = 16     // names one mention lists
	maxNameBytes  = 128    // a longer "name" is not a header or parameter
	maxValueBytes = 256    // how much of a header value is read
	maxTokenURLs  = 100    // token endpoint candidates weighed per section
)

func round2(f float64) float64 { return float64(int(f*100+0.5)) / 100 }

// ---- errors, rate limits, servers ----

func (x *extractor) othersIn(b *block, l line, low string) {
	code := func(m []int) float64 {
		if ctxOf(b, l, m[0], m[1]) == ctxCode {
			return confCode
		}
		return confNamed
	}
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(low, w) {
				return true
			}
		}
		return false
	}
	if has("false") {
		for _, m := range okFalseRe.FindAllStringIndex(l.text, -1) {
			x.addAt(&x.errs, b, l, m, Mention{Kind: "ok_false", Detail: "ok", Names: []string{"ok"}, Confidence: code(m)})
		}
	}
	if has("retry-after") {
		for _, m := range retryAfterRe.FindAllStringIndex(l.text, -1) {
			x.addAt(&x.rates, b, l, m, Mention{Kind: "retry_after", Detail: "Retry-After", Names: []string{"Retry-After"}, Confidence: code(m)})
		}
	}
	if has("ratelimit-", "rate-limit-") {
		x.rateHeadersIn(b, l, code)
	}
	if has("request", "call") && strings.ContainsAny(l.text, "0123456789") {
		x.ratesIn(b, l)
	}
	if has("http") && has("base", "root", "host") {
		for _, m := range baseURLRe.FindAllStringSubmatchIndex(l.text, -1) {
			u := strings.TrimRight(l.text[m[2]:m[3]], ".,;:/")
			x.addAt(&x.servers, b, l, m[:2], Mention{Kind: "base_url", Detail: u, Confidence: confCode})
		}
	}
}

// rateHeadersIn gathers the section's rate limit headers into one mention.
func (x *extractor) rateHeadersIn(b *block, l line, code func([]int) float64) {
	for _, m := range rateHeaderRe.FindAllStringIndex(l.text, -1) {
		name := l.text[m[0]:m[1]]
		if len(x.rateHeaders) < maxNames && !slices.ContainsFunc(x.rateHeaders, func(s string) bool { return strings.EqualFold(s, name) }) {
			x.rateHeaders = append(x.rateHeaders, name)
		}
		if x.rateHeaderAt == nil {
			x.rateHeaderAt = &Mention{Kind: "rate_limit_headers", Line: b.lineAt(l.off + m[0]), Evidence: snippet(l.text, m[0], m[1]), Confidence: code(m)}
		}
	}
}

// ratesIn reads "100 requests per minute".
func (x *extractor) ratesIn(b *block, l line) {
	for _, m := range rateRe.FindAllStringSubmatchIndex(l.text, -1) {
		n := strings.ReplaceAll(l.text[m[2]:m[3]], ",", "")
		unit := strings.ToLower(l.text[m[4]:m[5]])
		switch unit {
		case "sec":
			unit = "second"
		case "min":
			unit = "minute"
		}
		x.addAt(&x.rates, b, l, m[:2], Mention{Kind: "rate", Detail: n + "/" + unit, Confidence: confProse})
	}
}

// endSection resolves what needed the whole section and moves the
// section's findings into the document, in line order.
func (x *extractor) endSection(s *Section) {
	// The section's text, for facts that span its lines; built only when needed.
	text := func() string { return s.Heading + "\n" + s.Text }
	x.resolvePaging()
	if x.oauth != nil {
		m := *x.oauth
		m.Kind = "oauth2_client_credentials"
		all := text()
		m.Detail = tokenURL(s, all, m.Line)
		m.Names = []string{}
		for _, p := range grantParamRe.FindAllString(all, -1) {
			if !slices.Contains(m.Names, p) {
				m.Names = append(m.Names, p)
			}
		}
		x.add(&x.auth, m, quote{})
		x.oauth = nil
	}
	if len(x.errs) > 0 && errorKeyRe.MatchString(text()) {
		for i := range x.errs {
			x.errs[i].Names = []string{"ok", "error"}
		}
	}
	if x.rateHeaderAt != nil {
		m := *x.rateHeaderAt
		m.Detail, m.Names = strings.Join(x.rateHeaders, ", "), x.rateHeaders
		x.add(&x.rates, m, quote{})
		x.rateHeaderAt, x.rateHeaders = nil, nil
	}
	for _, lst := range []struct {
		doc   *[]Mention
		found *[]Mention
	}{{&x.doc.Auth, &x.auth}, {&x.doc.Paging, &x.paging}, {&x.doc.Errors, &x.errs}, {&x.doc.RateLimits, &x.rates}, {&x.doc.Servers, &x.servers}} {
		found := *lst.found
		slices.SortStableFunc(found, func(a, b Mention) int { return a.Line - b.Line })
		for _, m := range found {
			m.Section = x.sec
			upsert(lst.doc, index(x.seen, lst.doc), m, quote{})
		}
		*lst.found = found[:0]
		clear(x.local[lst.found])
	}
}

// tokenURL picks, of the token endpoints in a section's text (heading,
// newline, text), the one nearest the line of the client-credentials
// mention; "" if there is none.
func tokenURL(s *Section, all string, near int) string {
	best, bestDist := "", -1
	for _, u := range tokenURLRe.FindAllStringSubmatchIndex(all, maxTokenURLs) {
		from, to := u[0], u[1]
		if u[2] >= 0 {
			from, to = u[2], u[3]
		}
		line := s.Start
		if off := from - len(s.Heading) - 1; off >= 0 {
			line = max(line, lineOf(s.marks, off))
		}
		if d := abs(line - near); bestDist < 0 || d < bestDist {
			best, bestDist = all[from:to], d
		}
	}
	return best
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// add records a finding of the current section.
func (x *extractor) add(list *[]Mention, m Mention, q quote) {
	upsert(list, index(x.local, list), m, q)
}

// upsert keeps one entry per kind and detail in list, the strongest: a new
// one goes last, a stronger one takes the place of the first. q is quoted
// only for an entry kept.
func upsert(list *[]Mention, idx map[string]int, m Mention, q quote) {
	key := m.Kind + "\x00" + strings.ToLower(m.Detail)
	i, ok := idx[key]
	if (ok && m.Confidence <= (*list)[i].Confidence) || (!ok && len(*list) >= maxMentions) {
		return
	}
	if q.s != "" {
		m.Evidence = q.snippet()
	}
	if m.Names == nil {
		m.Names = []string{}
	}
	if ok {
		(*list)[i] = m
		return
	}
	idx[key] = len(*list)
	*list = append(*list, m)
}

// index returns list's index in indexes, making it on first use.
func index(indexes map[*[]Mention]map[string]int, list *[]Mention) map[string]int {
	idx := indexes[list]
	if idx == nil {
		idx = map[string]int{}
		indexes[list] = idx
	}
	return idx
}

// quote is the text a fact was read from, quoted only when kept.
type quote struct {
	s    string
	a, b int
}

func (q quote) snippet() string { return snippet(q.s, q.a, q.b) }

// Evidence quotes this much text before and after a match.
const (
	snippetBefore = 80
	snippetAfter  = 160
	snippetMax    = 300
)

// snippet quotes s around [start, end) for evidence.
func snippet(s string, start, end int) string {
	return quoteAround(s, start, end, snippetBefore, snippetAfter)
}

// quoteAround quotes s from about before bytes ahead of start to about
// after bytes past end, in whole words, whitespace collapsed, "…" where it
// was cut.
func quoteAround(s string, start, end, before, after int) string {
	from := max(0, start-before)
	to := min(len(s), max(end, start)+after, start+snippetMax)
	for from > 0 && !utf8.RuneStart(s[from]) {
		from--
	}
	for to < len(s) && !utf8.RuneStart(s[to]) {
		to++
	}
	if from > 0 {
		if i := strings.IndexAny(s[from:start], " \t\n"); i >= 0 {
			from += i + 1
		}
	}
	if to < len(s) && to > end {
		if i := strings.LastIndexAny(s[end:to], " \t\n"); i >= 0 {
			to = end + i
		}
	}
	var sb strings.Builder
	sb.Grow(to - from + 6)
	if from > 0 {
		sb.WriteString("…")
	}
	words, space := false, false
	for i := from; i < to; i++ {
		if c := s[i]; isSpace(c) {
			space = words
		} else {
			if space {
				sb.WriteByte(' ')
				space = false
			}
			sb.WriteByte(c)
			words = true
		}
	}
	if to < len(s) {
		sb.WriteString("…")
	}
	return sb.String()
}
