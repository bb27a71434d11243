package draft

import (
	"errors"
	"fmt"
	"github.com/spindlehq/spindle/internal/names"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/nhi"
)

// ErrNoStreams is returned (with a Result listing what was considered)
// when the document has no list operation holding non-human identities.
var ErrNoStreams = errors.New("draft: the document has no readable list of non-human identities")

// Defaults every draft starts from; a doc's own rate limit lowers the rate.
const (
	defaultRPS         = 5
	defaultBurst       = 10
	defaultConcurrency = 4
	defaultAttempts    = 5
)

// Draft writes an integration spec for s: the NHI-relevant list
// operations as streams, auth, paging, records, mappings, relationships and
// least-privilege scopes, each choice with its evidence.
func Draft(s *apisurface.Surface, o Options) (*Result, error) {
	return draftWith(s, o, Overrides{})
}

// streamPlan is one stream being drafted.
type streamPlan struct {
	name     string
	node     *listNode
	cand     *candidate // nil: a parent that only feeds its children
	parent   *streamPlan
	alias    string // the alias children use for this stream's records
	children []*streamPlan
	st       integration.Stream
	fields   []fieldPlan
}

func (p *streamPlan) sortKey() string {
	k := p.node.op.Path
	if p.cand != nil && p.cand.via == viaEmbedded {
		k += " #" + p.cand.embed
	}
	return k
}

type drafter struct {
	s   *apisurface.Surface
	o   Options
	ov  Overrides
	res *Result
	ns  *notes
}

func (d *drafter) decide(topic, choice string, conf float64, ev ...string) {
	d.res.Decisions = append(d.res.Decisions, Decision{Topic: topic, Choice: choice, Confidence: math.Round(conf*100) / 100, Evidence: ev})
}

func (d *drafter) ask(q string) {
	if !slices.Contains(d.res.Questions, q) {
		d.res.Questions = append(d.res.Questions, q)
	}
}

// draftWith drafts under repair's overrides. When its own lint finds
// errors in a stream it drops that stream and drafts again.
func draftWith(s *apisurface.Surface, o Options, ov Overrides) (*Result, error) {
	if s == nil {
		return nil, errors.New("draft: no API surface")
	}
	ov = ov.clone()
	for attempt := 0; ; attempt++ {
		res, drop, err := draftOnce(s, o, ov)
		if err != nil || len(drop) == 0 || attempt >= 5 {
			return res, err
		}
		for op, why := range drop {
			ov.DropOps[op] = why
		}
	}
}

func draftOnce(s *apisurface.Surface, o Options, ov Overrides) (*Result, map[string]string, error) {
	d := &drafter{s: s, o: o, ov: ov, res: &Result{opts: o, Overrides: ov}, ns: newNotes()}
	name := o.Name
	if name == "" {
		name = metaName(s.Title)
	}
	baseURL, config := d.server()
	picked, considered := choose(s, o, &d.ov)

	plans := d.plan(picked)
	d.coverage(considered, plans)
	if len(plans) == 0 {
		d.ask("The document has no list operation this draft recognises as holding non-human identities; which operations list service accounts, keys, tokens, apps or webhooks?")
		return d.res, nil, ErrNoStreams
	}
	var ops []*apisurface.Operation
	for _, p := range plans {
		ops = append(ops, p.node.op)
	}
	for k, v := range d.scopeConfig(plans) {
		if config == nil {
			config = map[string]integration.ConfigVar{}
		}
		if _, taken := config[k]; !taken {
			config[k] = v
		}
	}
	credential := name + "-credential"
	auth, authCfg := d.auth(ops, credential, baseURL)
	for k, v := range authCfg {
		if config == nil {
			config = map[string]integration.ConfigVar{}
		}
		config[k] = v
	}
	d.res.Scopes = scopeNeeds(s, ops)
	d.authScopes(&auth)

	spec := &integration.Spec{
		APIVersion: integration.APIVersion,
		Kind:       "Integration",
		Metadata:   d.metadata(name),
		Connection: integration.Connection{BaseURL: baseURL, Config: config, Auth: auth},
		Defaults:   d.defaults(),
	}
	for _, p := range plans {
		spec.Streams = append(spec.Streams, p.st)
	}
	d.res.Spec = spec
	d.res.YAML = specYAML(spec, d.ns, d.header())

	// Self-check: the YAML must parse and lint clean. A stream with an
	// error is dropped (with its reason in Coverage) and the draft redone.
	doc, err := integration.Parse("integration.yaml", d.res.YAML)
	if err != nil {
		return d.res, nil, fmt.Errorf("draft: the drafted spec does not parse: %w", err)
	}
	errs := integration.Lint(doc).Errors()
	if len(errs) == 0 {
		return d.res, nil, nil
	}
	drop := map[string]string{}
	for _, f := range errs {
		i, ok := streamIndex(f.Path)
		if !ok || i >= len(plans) {
			return d.res, nil, fmt.Errorf("draft: the drafted spec fails its lint: %w", integration.Findings(errs))
		}
		for _, c := range plans[i].candidates() {
			drop[c.opKey()] = fmt.Sprintf("dropped: lint %s: %s", f.Rule, f.Message)
		}
	}
	return d.res, drop, nil
}

// candidates are the candidates a plan and its descendants read.
func (p *streamPlan) candidates() []*candidate {
	var out []*candidate
	if p.cand != nil {
		out = append(out, p.cand)
	}
	for _, c := range p.children {
		out = append(out, c.candidates()...)
	}
	return out
}

var (
	streamIndexRE = regexp.MustCompile(`^\$\.streams\[(\d+)\]`)
	versionRE     = regexp.MustCompile(`^v\d+(\.\d+)?$`)
)

func streamIndex(path string) (int, bool) {
	m := streamIndexRE.FindStringSubmatch(path)
	if m == nil {
		return 0, false
	}
	i, err := strconv.Atoi(m[1])
	return i, err == nil
}

// metaName is the metadata name: a slug of the title without a trailing
// "api" (every document here describes an API).
func metaName(title string) string {
	n := slug(title)
	n = strings.TrimSuffix(n, "-rest-api")
	n = strings.TrimSuffix(n, "-api")
	if n == "" {
		n = "integration"
	}
	return n
}

// server derives base_url and its config inputs from the first server.
func (d *drafter) server() (string, map[string]integration.ConfigVar) {
	s := d.s
	if len(s.Servers) == 0 || !strings.Contains(s.Servers[0].URL, "://") {
		path := ""
		if len(s.Servers) > 0 {
			path = strings.TrimSuffix(s.Servers[0].URL, "/")
		}
		d.ask("The document gives no absolute server URL; which host serves this API? (set connection.config host)")
		d.decide("base_url", "https://{config.host}"+path, 0.3, "no absolute server URL in the document")
		d.ns.trail["connection.base_url"] = "the doc names no host: set config host"
		return "https://{config.host}" + path, map[string]integration.ConfigVar{"host": {Required: true, Description: "the API host"}}
	}
	sv := s.Servers[0]
	u := strings.TrimSuffix(sv.URL, "/")
	var cfg map[string]integration.ConfigVar
	var ev []string
	for _, v := range sv.Variables {
		id := ident(v.Name)
		u = strings.ReplaceAll(u, "{"+v.Name+"}", "{config."+id+"}")
		if cfg == nil {
			cfg = map[string]integration.ConfigVar{}
		}
		cv := integration.ConfigVar{Default: v.Default, Description: safeText(clip(v.Description, 200))}
		if v.Default == "" {
			cv.Required = true
		}
		cfg[id] = cv
		ev = append(ev, fmt.Sprintf("server variable %s (default %q) becomes config %s", v.Name, v.Default, id))
		d.ask(fmt.Sprintf("Which %s does this integration connect to? (config %s; the doc's default is %q)", v.Name, id, v.Default))
	}
	if len(s.Servers) > 1 {
		ev = append(ev, fmt.Sprintf("the first of %d servers", len(s.Servers)))
	}
	d.decide("base_url", u, 0.9, append([]string{"server " + sv.URL}, ev...)...)
	d.ns.trail["connection.base_url"] = "the doc's first server"
	return u, cfg
}

func (d *drafter) metadata(name string) integration.Metadata {
	owner := d.o.Owner
	if owner == "" {
		owner = "unassigned"
	}
	var kinds []string
	for _, st := range d.res.Coverage {
		if st.Stream != "" && st.Kind != "" && !slices.Contains(kinds, st.Kind) {
			kinds = append(kinds, st.Kind)
		}
	}
	sort.Strings(kinds)
	title := safeText(strings.TrimSpace(d.s.Title))
	desc := fmt.Sprintf("Non-human identities in %s (%s), drafted from its API document by the heuristic brain; review every choice before release.",
		orDefault(title, "this API"), strings.Join(kinds, ", "))
	md := integration.Metadata{Name: name, Vendor: title, Owner: owner, ReviewEvery: integration.Duration(90 * 24 * time.Hour), Description: desc}
	if loc := d.s.Source.Location; loc != "" {
		if _, secretLike := integration.LooksLikeSecret(loc); secretLike && !strings.Contains(loc, "://") {
			// The secret scan takes a long plain file path for a token; as
			// a file URL it is unmistakably a location.
			if strings.HasPrefix(loc, "/") {
				loc = "file://" + loc
			} else {
				loc = "file:" + loc
			}
		}
		md.SourceDoc = &integration.SourceDoc{Location: loc, SHA256: d.s.Source.SHA256}
	}
	return md
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

var rateRE = regexp.MustCompile(`(?i)(\d[\d,]*)\s+(?:api\s+)?(?:requests|calls)\s+(?:per|a|an|each|every|/)\s*(second|sec|minute|min|hour)`)

// defaults are conservative: retries for throttling and transient
// errors, a per-attempt timeout, and a request rate a doc's own stated
// limit lowers.
func (d *drafter) defaults() integration.Defaults {
	rps := float64(defaultRPS)
	why := "a conservative default"
	if m := rateRE.FindStringSubmatch(d.s.Description); m != nil {
		n, err := strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64)
		if err == nil && n > 0 {
			per := map[string]float64{"second": 1, "sec": 1, "minute": 60, "min": 60, "hour": 3600}[strings.ToLower(m[2])]
			doc := n / per
			why = fmt.Sprintf("the doc states %q", m[0])
			if doc < rps {
				rps = math.Max(math.Floor(doc*100)/100, 0.01)
			}
		}
	}
	d.decide("rate_limit", fmt.Sprintf("%g requests/s, burst %d", rps, defaultBurst), 0.6, why)
	d.ns.trail["defaults.rate_limit"] = why
	attempts := defaultAttempts + d.ov.RetryBoost
	d.ns.trail["defaults.retry"] = "throttling and transient server errors"
	return integration.Defaults{
		RateLimit: &integration.RateLimit{RequestsPerSecond: rps, Burst: defaultBurst},
		Retry: &integration.Retry{MaxAttempts: min(attempts, 20), On: []int{429, 500, 502, 503, 504},
			InitialInterval: integration.Duration(250 * time.Millisecond), MaxInterval: integration.Duration(10 * time.Second)},
		Timeout:     integration.Duration(time.Duration(30+15*d.ov.TimeoutBoost) * time.Second),
		Concurrency: defaultConcurrency,
	}
}

func (d *drafter) header() []string {
	h := []string{"Drafted by Spindle's heuristic brain from the vendor's API document; every choice below cites its evidence."}
	if d.s.Source.Location != "" {
		h = append(h, fmt.Sprintf("Source: %s (%s)", d.s.Source.Location, orDefault(d.s.Source.Format, "unknown format")))
	}
	if len(d.res.Scopes) > 0 {
		// Per scheme, wrapped: a reviewer compares them with what the
		// credential holds.
		byScheme := map[string][]string{}
		for _, n := range d.res.Scopes {
			byScheme[n.Scheme] = append(byScheme[n.Scheme], n.Scope)
		}
		for _, scheme := range sortedKeys(byScheme) {
			line := fmt.Sprintf("Least-privilege scopes (scheme %s) the streams need:", scheme)
			for _, sc := range byScheme[scheme] {
				if len(line)+len(sc) > 140 {
					h = append(h, line)
					line = "  "
				}
				line += " " + sc
			}
			h = append(h, line)
		}
	}
	for _, q := range d.res.Questions {
		h = append(h, "QUESTION: "+q)
	}
	return h
}

func uniq(xs []string) []string {
	var out []string
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// auth picks the scheme and fills the auth block.
func (d *drafter) auth(ops []*apisurface.Operation, credential, baseURL string) (integration.Auth, map[string]integration.ConfigVar) {
	required, explicitNone := declaresSecurity(d.s, ops)
	opts := authOptions(d.s, ops, credential, baseURL)
	if len(d.s.SecuritySchemes) == 0 || (!required && explicitNone) {
		if len(d.s.SecuritySchemes) == 0 {
			d.ask("The doc declares no security scheme; how does this API authenticate?")
		}
		d.decide("auth", "none", 0.3, "the document declares no security for the chosen operations")
		d.ns.trail["connection.auth"] = "the doc declares no security: a reviewer must confirm"
		return integration.Auth{Type: integration.AuthNone}, nil
	}
	var tried []string
	idx := d.ov.AuthOption
	if idx >= len(opts) {
		if len(opts) > 0 {
			tried = append(tried, fmt.Sprintf("all %d supported ways to authenticate failed validation", len(opts)))
		}
		idx = -1
	}
	if idx < 0 || len(opts) == 0 {
		var names []string
		for _, sc := range d.s.SecuritySchemes {
			names = append(names, fmt.Sprintf("%s (%s %s%s)", sc.Name, sc.Type, sc.Scheme, sc.In))
		}
		d.ask(fmt.Sprintf("None of the doc's security schemes can be used as declared (%s); how should this integration authenticate?", strings.Join(names, ", ")))
		d.decide("auth", "none", 0.2, append(tried, "no supported scheme")...)
		d.ns.trail["connection.auth"] = "no supported scheme: a reviewer must decide"
		return integration.Auth{Type: integration.AuthNone}, nil
	}
	o := opts[idx]
	ev := append([]string{}, o.why...)
	ev = append(ev, fmt.Sprintf("accepted on its own by %d of the %d operations read", o.covers, len(ops)))
	if idx > 0 {
		ev = append(ev, fmt.Sprintf("repair: option %d of %d after earlier ones failed validation", idx+1, len(opts)))
	}
	if !required {
		d.ask(fmt.Sprintf("The doc declares scheme %q but requires no security on the operations read; does the API need a credential?", o.scheme.Name))
	}
	if o.auth.Type == integration.AuthBearer && o.scheme.Type == "oauth2" {
		d.ask(fmt.Sprintf("Scheme %q offers no client-credentials flow; who obtains the access token the bearer credential holds, and how is it refreshed?", o.scheme.Name))
	}
	if tu := o.auth.TokenURL; tu != "" && !sameOrigin(tu, baseURL) {
		d.ask(fmt.Sprintf("The token URL %s is not on the API's host; confirm it is the vendor's own identity provider.", tu))
	}
	conf := 0.9
	if o.covers < len(ops) {
		conf = 0.6
		d.ask(fmt.Sprintf("Scheme %q is not accepted alone by every operation read (%d of %d); which credential covers the rest?", o.scheme.Name, o.covers, len(ops)))
	}
	d.decide("auth", describeAuth(o.auth), conf, ev...)
	d.ns.trail["connection.auth"] = clip(strings.Join(o.why, "; "), 150)
	return o.auth, o.config
}

func describeAuth(a integration.Auth) string {
	switch a.Type {
	case integration.AuthAPIKey:
		s := fmt.Sprintf("api_key in %s %s", a.In, a.Name)
		if a.Prefix != "" {
			s += fmt.Sprintf(" with prefix %q", a.Prefix)
		}
		return s
	case integration.AuthOAuth2ClientCredentials:
		return "oauth2_client_credentials at " + a.TokenURL
	}
	return a.Type
}

// authScopes puts the scopes the chosen scheme needs in auth.scopes.
func (d *drafter) authScopes(a *integration.Auth) {
	if a.Type == integration.AuthNone {
		return
	}
	scheme := ""
	for _, sc := range d.s.SecuritySchemes {
		// The chosen scheme is the one whose option produced a; match by
		// what each option renders (type and name).
		if schemeMatches(sc, *a) {
			scheme = sc.Name
			break
		}
	}
	var byScheme, all []string
	for _, n := range d.res.Scopes {
		all = append(all, n.Scope)
		if n.Scheme == scheme {
			byScheme = append(byScheme, n.Scope)
		}
	}
	if len(byScheme) > 0 {
		a.Scopes = byScheme
		d.decide("scopes", strings.Join(byScheme, " "), 0.85, "the scopes the operations read ask of scheme "+scheme+", and no more")
		d.ns.trail["connection.auth.scopes"] = "least privilege: only what the streams' operations require"
		return
	}
	if len(all) > 0 {
		d.decide("scopes", strings.Join(uniq(all), " "), 0.7, "another scheme's scopes for the same operations; they say what the credential should be allowed, for the reviewer")
	}
}

func schemeMatches(sc apisurface.SecurityScheme, a integration.Auth) bool {
	switch a.Type {
	case integration.AuthAPIKey:
		return sc.Type == "apiKey" && sc.ParamName == a.Name
	case integration.AuthBearer:
		return (sc.Type == "http" && strings.EqualFold(sc.Scheme, "bearer")) || sc.Type == "oauth2"
	case integration.AuthBasic:
		return sc.Type == "http" && strings.EqualFold(sc.Scheme, "basic")
	case integration.AuthOAuth2ClientCredentials:
		return sc.Type == "oauth2"
	}
	return false
}

// plan turns the picked candidates into streams, with the parents that
// fan-out needs.
func (d *drafter) plan(picked []*candidate) []*streamPlan {
	byNode := map[*listNode]*streamPlan{}
	var plans []*streamPlan
	var ensure func(n *listNode) *streamPlan
	ensure = func(n *listNode) *streamPlan {
		if p, ok := byNode[n]; ok {
			return p
		}
		p := &streamPlan{node: n}
		byNode[n] = p
		plans = append(plans, p)
		if n.parent != nil {
			p.parent = ensure(n.parent)
			p.parent.children = append(p.parent.children, p)
		}
		return p
	}
	for _, c := range picked {
		if c.via == viaEmbedded {
			plans = append(plans, &streamPlan{node: c.node, cand: c})
			continue
		}
		ensure(c.node).cand = c
	}
	sort.SliceStable(plans, func(i, j int) bool { return plans[i].sortKey() < plans[j].sortKey() })
	names := map[string]bool{}
	for _, p := range plans {
		base := streamBase(p.node.segs)
		if p.cand != nil && p.cand.via == viaEmbedded {
			base = streamIdent(base, p.cand.embed)
		}
		n := base
		for i := 2; names[n]; i++ {
			n = fmt.Sprintf("%s_%d", base, i)
		}
		names[n] = true
		p.name = n
		p.alias = aliasFor(p)
	}
	for _, p := range plans {
		d.buildStream(p)
	}
	return plans
}

// streamBase names a stream after its path's literal segments, without
// version and "api" segments: /api/v1/apps/{appId}/grants → apps_grants.
func streamBase(segs []string) string {
	var parts []string
	for _, s := range segs {
		ls := strings.ToLower(s)
		if isParam(s) || ls == "api" || versionRE.MatchString(ls) {
			continue
		}
		parts = append(parts, s)
	}
	return streamIdent(parts...)
}

// aliasFor names a stream's records for its children: the singular of its
// collection, unique along the chain and clear of CEL's own names.
func aliasFor(p *streamPlan) string {
	a := ident(names.Singular(names.Snake(lastLiteral(p.node.segs))))
	switch a {
	case "r", "config", "body", "status", "":
		a += "_rec"
	}
	for up := p.parent; up != nil; up = up.parent {
		if up.alias == a {
			a = fmt.Sprintf("%s_%d", a, p.node.depth())
		}
	}
	return a
}

// buildStream fills one stream: request, paging, records, envelope
// errors, and for emitting streams the kind, map and relationships.
func (d *drafter) buildStream(p *streamPlan) {
	n := p.node
	op := n.op
	c := p.cand
	st := integration.Stream{Name: p.name, Request: integration.Request{Method: "GET", Path: d.templatePath(p)}}
	key := "streams." + p.name
	if p.parent != nil {
		st.ForEach = &integration.ForEach{Stream: p.parent.name, As: p.parent.alias}
		d.ns.trail[key+".for_each"] = fmt.Sprintf("{%s} is an id of %s records", n.param, p.parent.name)
	}
	// Query: required parameters, and an include that expands the
	// embedded list.
	q, why, _ := requiredQuery(op)
	if c != nil && c.via == viaEmbedded {
		if pname, ok := includeParam(op, c.embed); ok {
			if q == nil {
				q = map[string]string{}
			}
			q[pname] = c.embed
			why = append(why, fmt.Sprintf("query parameter %s=%s asks the list to include %s", pname, c.embed, c.embed))
		}
	}
	for _, k := range sortedKeys(op.List.Query) {
		if _, ok := q[k]; ok {
			continue
		}
		if q == nil {
			q = map[string]string{}
		}
		q[k] = op.List.Query[k]
		why = append(why, fmt.Sprintf("%s=%s: the only value the doc allows", k, op.List.Query[k]))
	}
	st.Request.Query = q
	for _, w := range why {
		if strings.Contains(w, "are not read") {
			d.ask(fmt.Sprintf("%s requires a query parameter: %s; should the integration read the other values too (one stream each)?", n.key, w))
		}
	}
	if len(why) > 0 {
		d.ns.trail[key+".request.query"] = strings.Join(why, "; ")
	}
	// Paging.
	tw := d.ov.Paging[p.name]
	pg, pnote, known := pagination(op.List.Paging, tw)
	st.Pagination = pg
	pev := append([]string{}, op.List.Paging.Inference.Evidence...)
	pconf := op.List.Paging.Inference.Confidence
	if !known {
		pconf = 0.2
		d.ask(fmt.Sprintf("How does %s page? %s; the draft reads one page and may miss records.", n.key, pnote))
	}
	if tw > StepNone {
		pev = append(pev, fmt.Sprintf("repair: paging adjusted (step %d)", tw))
	}
	d.decide("paging "+p.name, pnote, pconf, first(pev, 4)...)
	if pg != nil {
		d.ns.trail[key+".pagination"] = pnote
	} else if !known {
		d.ns.head[key+".records"] = append(d.ns.head[key+".records"], "QUESTION: "+pnote)
	}
	// Records.
	rp := op.List.RecordsPath
	switch {
	case c != nil && c.via == viaEmbedded && rp == "":
		st.Records = "*." + c.embed
	case c != nil && c.via == viaEmbedded:
		st.Records = rp + ".*." + c.embed
	case rp == "":
		st.Records = "."
	default:
		st.Records = rp
	}
	rnote := "the body is the list"
	if rp != "" {
		rnote = "the list is at " + rp
	}
	if c != nil && c.via == viaEmbedded {
		rnote = fmt.Sprintf("the %s list embedded in each record of %s", c.embed, orDefault(rp, "the body"))
	}
	d.decide("records "+p.name, st.Records, op.List.RecordsConf.Confidence, append([]string{rnote}, first(op.List.RecordsConf.Evidence, 2)...)...)
	d.ns.trail[key+".records"] = rnote
	// Errors reported inside a 2xx body: the surface's envelope reading
	// first, the draft's own otherwise.
	if ew, em, ev := surfaceEnvelope(op); ew != "" {
		if op.List.Envelope.ErrorField == "" {
			// The surface found no error field; the success schema may
			// still declare one.
			if _, own, oev := envelopeErrors(op); len(oev) > 1 {
				em, ev = own, append(ev, oev[1:]...)
			}
		}
		st.ErrorWhen, st.ErrorMessage = ew, em
		d.decide("error_when "+p.name, ew, op.List.Envelope.Inference.Confidence, ev...)
		d.ns.trail[key+".error_when"] = ev[0]
	} else if ew, em, ev := envelopeErrors(op); ew != "" {
		st.ErrorWhen, st.ErrorMessage = ew, em
		d.decide("error_when "+p.name, ew, 0.8, ev...)
		d.ns.trail[key+".error_when"] = ev[0]
	}
	// Head comment: what the stream reads and why.
	head := []string{n.key}
	if c != nil {
		head[0] += fmt.Sprintf(" → %s (%.2f): %s", c.kind, c.conf, strings.Join(first(c.evidence, 2), "; "))
	} else {
		head[0] += ": read only to fan out to " + childNames(p)
	}
	d.ns.head[key] = head
	if c == nil {
		p.st = st
		return
	}
	// What it emits.
	st.Emits = string(c.kind)
	d.decide("stream "+p.name, fmt.Sprintf("%s emits %s", n.key, c.kind), c.conf, c.evidence...)
	var fields []fieldPlan
	var mnotes []string
	if bareIDs(c.items) {
		fields = bareMapping(c.items)
	} else {
		fields, mnotes = mapRecord(c.rec, c.kind, collectionName(p), d.ov.Strict[p.name], d.ov.Drop[p.name])
	}
	st.Map = map[string]string{}
	for _, f := range fields {
		st.Map[f.field] = f.expr
		d.decide("map "+p.name+"."+f.field, f.expr, f.conf, f.evidence...)
		d.ns.trail[key+".map."+f.field] = fieldNote(f)
	}
	for _, m := range mnotes {
		d.decide("map "+p.name, m, 0.5)
	}
	p.fields = fields
	if _, ok := st.Map["external_id"]; !ok {
		// Cannot happen for chosen candidates (they need an id), but a
		// stream without external_id fails lint: read it as a parent only.
		st.Emits, st.Map = "", nil
		p.st = st
		return
	}
	if p.parent != nil && !slices.Contains(d.ov.NoRelationships, p.name) {
		rel := parentRelationship(c.kind, p.parent)
		pf := parentField(p)
		rel.ExternalID = p.parent.alias + sel(pf, false)
		st.Relationships = append(st.Relationships, rel)
		d.decide("relationship "+p.name, fmt.Sprintf("%s %s %s", rel.Type, rel.Kind, rel.ExternalID), 0.75,
			fmt.Sprintf("each record is read under a %s record (for_each)", p.parent.name))
		d.ns.trail[key+".relationships.0"] = "the parent record this one was read under"
	}
	p.st = st
}

func childNames(p *streamPlan) string {
	var ns []string
	for _, c := range p.children {
		ns = append(ns, c.name)
	}
	return strings.Join(ns, ", ")
}

func collectionName(p *streamPlan) string {
	if p.cand != nil && p.cand.via == viaEmbedded {
		return p.cand.embed
	}
	return lastLiteral(p.node.segs)
}

// parentField is the parent's property that fills this stream's path
// parameter.
func parentField(p *streamPlan) string {
	f := idField(p.parent.node.rec, p.node.param, lastLiteral(p.parent.node.segs))
	if f == "" {
		f = "id"
	}
	return f
}

// templatePath rewrites each path parameter as the id of the ancestor
// whose list it names (/apps/{appId}/keys → /apps/{app.id}/keys), or as
// the config input that holds its scope (/projects/{config.project}/…).
func (d *drafter) templatePath(p *streamPlan) string {
	segs := slices.Clone(p.node.segs)
	for k, sg := range segs {
		if isParam(sg) && slices.Contains(p.node.config, strings.Trim(sg, "{}")) {
			segs[k] = "{config." + configName(strings.Trim(sg, "{}")) + "}"
		}
	}
	for cur := p; cur.parent != nil; cur = cur.parent {
		idx := len(cur.parent.node.segs)
		if idx < len(segs) && isParam(segs[idx]) {
			segs[idx] = "{" + cur.parent.alias + "." + parentField(cur) + "}"
		}
	}
	return "/" + strings.Join(segs, "/")
}

// parentRelationship is the edge from a fanned-out record to its parent:
// a credential authenticates as the identity it belongs to; an app,
// webhook or installation is installed on the resource it hangs off;
// anything else belongs to its parent.
func parentRelationship(child nhi.Kind, parent *streamPlan) integration.RelationshipMap {
	pk := nhi.Resource
	if parent.cand != nil && parent.cand.kind.Valid() {
		pk = parent.cand.kind
	} else if k := parent.node.op.List.Kind; k.Valid() {
		pk = k
	}
	rt := nhi.BelongsTo
	switch child {
	case nhi.APIKey, nhi.AccessToken, nhi.Secret, nhi.SSHKey, nhi.DeployKey, nhi.Certificate:
		if pk.IsNHI() {
			rt = nhi.AuthenticatesAs
		}
	case nhi.Webhook, nhi.AppInstallation, nhi.OAuthApp, nhi.Bot:
		if !pk.IsNHI() {
			rt = nhi.InstalledOn
		}
	}
	return integration.RelationshipMap{Type: string(rt), Kind: string(pk)}
}

// envelopeErrors detects RPC-style envelopes that report failure inside a
// 2xx body: a boolean success flag (ok, success) and an error text.
func envelopeErrors(op *apisurface.Operation) (when, msg string, ev []string) {
	resp := op.Response
	if resp == nil || typeOf(resp) != "object" {
		return "", "", nil
	}
	flag := ""
	for _, name := range []string{"ok", "success"} {
		if s := propOf(resp, name); s != nil && typeOf(s) == "boolean" {
			flag = name
			break
		}
	}
	if flag == "" {
		return "", "", nil
	}
	when = fmt.Sprintf("has(body.%s) && body.%s == false", flag, flag)
	ev = []string{fmt.Sprintf("the %s response carries a boolean %q: an RPC-style envelope that reports errors in a 2xx body", orDefault(op.ResponseStatus, "2xx"), flag)}
	msg = `"the response reports an error"`
	schemas := []*apisurface.Schema{resp}
	for _, k := range sortedKeys(op.ErrorResponses) {
		schemas = append(schemas, op.ErrorResponses[k])
	}
	for _, sc := range schemas {
		for _, name := range []string{"error", "message", "error_message"} {
			es := propOf(sc, name)
			if es == nil {
				continue
			}
			switch typeOf(es) {
			case "string", "":
				msg = fmt.Sprintf(`has(body.%s) ? string(body.%s) : "the response reports an error"`, name, name)
			case "object":
				if m := propOf(es, "message"); m != nil {
					msg = fmt.Sprintf(`has(body.%s) && has(body.%s.message) ? string(body.%s.message) : "the response reports an error"`, name, name, name)
				} else {
					continue
				}
			default:
				continue
			}
			ev = append(ev, fmt.Sprintf("the error text is in %q", name))
			return when, msg, ev
		}
	}
	return when, msg, ev
}

// coverage records every candidate considered, and the parents read only
// to fan out.
func (d *drafter) coverage(considered []*candidate, plans []*streamPlan) {
	byCand := map[*candidate]*streamPlan{}
	for _, p := range plans {
		if p.cand != nil {
			byCand[p.cand] = p
		}
	}
	for _, c := range considered {
		cv := Coverage{Operation: c.node.key, Embedded: c.embed, Kind: string(c.kind), Skipped: c.skip, Confidence: c.conf, Score: c.score}
		if p, ok := byCand[c]; ok {
			cv.Stream, cv.Skipped = p.name, ""
			switch {
			case c.via == viaEmbedded:
				cv.Via = "embedded in " + c.node.key
			case p.parent != nil:
				cv.Via = "for_each " + p.parent.name
			default:
				cv.Via = viaList
			}
		} else if cv.Skipped == "" {
			cv.Skipped = "not read"
		}
		d.res.Coverage = append(d.res.Coverage, cv)
	}
	for _, p := range plans {
		if p.cand == nil {
			d.res.Coverage = append(d.res.Coverage, Coverage{Operation: p.node.key, Stream: p.name,
				Via: "parent (emits nothing) of " + childNames(p)})
		}
	}
	sort.SliceStable(d.res.Coverage, func(i, j int) bool { return d.res.Coverage[i].Key() < d.res.Coverage[j].Key() })
}

// fieldNote is the short YAML comment of a mapped field; the Decision
// carries the full evidence.
func fieldNote(f fieldPlan) string {
	if len(f.reads) == 0 {
		return first(f.evidence, 1)[0]
	}
	src := "from " + strings.Join(quoteAll(f.reads), ", ")
	switch f.field {
	case "external_id":
		return src + ", the records' identifier"
	case "attributes":
		return "vendor extras " + src
	case "status":
		if len(f.evidence) > 1 {
			return src + ": " + strings.Join(f.evidence[1:], ", ")
		}
		return src + ": " + f.evidence[0]
	}
	switch {
	case f.strict:
		src += ": required, read strictly (a rename fails loudly)"
	case strings.Contains(f.expr, "orValue"):
		src += ": optional, guarded (missing is null)"
	}
	if strings.Contains(f.expr, "int(") {
		src += "; digits converted with int()"
	}
	return src
}

// surfaceEnvelope turns the surface's success-flag reading into
// error_when and error_message.
func surfaceEnvelope(op *apisurface.Operation) (when, msg string, ev []string) {
	env := op.List.Envelope
	if env == nil || env.OKField == "" {
		return "", "", nil
	}
	flag := bodyPathSegs(env.OKField)
	if len(flag) == 0 {
		return "", "", nil
	}
	if len(flag) == 1 && celIdentOK(flag[0]) {
		when = fmt.Sprintf("has(body.%s) && body.%s == false", flag[0], flag[0])
	} else {
		when = optionalChain("body", flag, "true") + " == false"
	}
	const def = `"the response reports an error"`
	msg = def
	if ef := bodyPathSegs(env.ErrorField); len(ef) > 0 {
		msg = "string(" + optionalChain("body", ef, def) + ")"
	}
	ev = []string{fmt.Sprintf("responses carry the success flag %s (false on failure)", env.OKField)}
	if env.InBand {
		ev[0] += "; errors come back with a 2xx status"
	}
	if env.ErrorField != "" {
		ev = append(ev, "the error is at "+env.ErrorField)
	}
	return when, msg, append(ev, first(env.Inference.Evidence, 2)...)
}

// bodyPathSegs splits a body path (dot path or JSON Pointer).
func bodyPathSegs(p string) []string {
	if strings.HasPrefix(p, "/") {
		var out []string
		for _, s := range strings.Split(p[1:], "/") {
			out = append(out, strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~"))
		}
		return out
	}
	return splitDots(p)
}

// optionalChain reads root.a.b with optional steps and a default.
func optionalChain(root string, segs []string, def string) string {
	var b strings.Builder
	b.WriteString(root)
	for _, s := range segs {
		b.WriteString(sel(s, true))
	}
	b.WriteString(".orValue(" + def + ")")
	return b.String()
}

// sameOrigin compares the hosts of two (possibly templated) URLs.
func sameOrigin(a, b string) bool {
	host := func(u string) string {
		_, rest, _ := strings.Cut(u, "://")
		h, _, _ := strings.Cut(rest, "/")
		return strings.ToLower(h)
	}
	return host(a) == host(b)
}

// safeText keeps doc text out of the spec when the secret scan would take
// it for a credential: a description is not worth a lint error, and a doc
// that carries a real secret must not pass it on.
func safeText(s string) string {
	if _, secret := integration.LooksLikeSecret(s); secret {
		return ""
	}
	return s
}

// scopeConfig declares the config inputs the streams' scope parameters
// need (the project or account the integration reads).
func (d *drafter) scopeConfig(plans []*streamPlan) map[string]integration.ConfigVar {
	out := map[string]integration.ConfigVar{}
	for _, p := range plans {
		for _, name := range p.node.config {
			cn := configName(name)
			if _, ok := out[cn]; ok {
				continue
			}
			cv := integration.ConfigVar{Required: true}
			for _, prm := range p.node.op.Parameters {
				if prm.Name == name && prm.In == "path" {
					cv.Description = safeText(clip(prm.Description, 200))
					if prm.Schema != nil && prm.Schema.Default != nil {
						cv.Default, cv.Required = scalarText(prm.Schema.Default), false
					}
				}
			}
			out[cn] = cv
			d.ask(fmt.Sprintf("Which %s should this integration read? The doc lists none to fan out over; set config %s.", cn, cn))
			d.decide("config "+cn, fmt.Sprintf("path parameter {%s} is filled from config %s", name, cn), 0.7,
				fmt.Sprintf("%s: no list operation enumerates %s, and %q names a scope set once per integration", p.node.key, name, cn))
		}
	}
	return out
}
