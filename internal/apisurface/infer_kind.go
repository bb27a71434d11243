package apisurface

import (
	"fmt"
	"github.com/spindlehq/spindle/internal/names"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/spindlehq/spindle/internal/nhi"
)

// A phrase is a run of singular lower-case words that names a kind, with
// how strongly it does (a "key" alone is less sure than an "ssh key").
type phrase struct {
	words    []string
	kind     nhi.Kind
	strength float64
}

// kindLexicon is generic English for identity things; no vendor's names.
// Longer phrases win over their parts ("service account" is not a
// service plus an account).
var kindLexicon = buildLexicon([]struct {
	kind    nhi.Kind
	phrases string // "a b:0.8; c" — strength 1 unless given
}{
	{nhi.ServiceAccount, "service account; serviceaccount; service user; service principal; machine user:0.9; robot account:0.9; technical user:0.8; system user:0.6; workload identity:0.8; machine identity:0.8; non human identity:0.8; nhi:0.6"},
	{nhi.APIKey, "api key; apikey; api token:0.9; apitoken:0.9; api credential:0.8; access key:0.9; secret key:0.7; key:0.6; credential:0.6; integration key:0.8; app password:0.7; app key:0.8"},
	{nhi.AccessToken, "access token; accesstoken; token:0.8; personal access token; oauth token:0.9; bearer token:0.9; refresh token:0.9; user token:0.8"},
	{nhi.OAuthApp, "oauth app; oauth application; oauth client; oauthclient; client application:0.9; connected app; third party app; third party application; app:0.6; application:0.6; client:0.6; marketplace app:0.8"},
	{nhi.OAuthGrant, "grant:0.9; oauth grant; app grant; consent:0.8; delegation:0.7; authorized app:0.8; authorized application:0.8; authorization grant; oauth authorization:0.9; token grant:0.9"},
	{nhi.AppInstallation, "installation; app installation; installed app; installed application; install:0.7"},
	{nhi.DeployKey, "deploy key; deploykey; deployment key:0.9; deploy token:0.8"},
	{nhi.SSHKey, "ssh key; sshkey; ssh public key; ssh:0.8; public key:0.8; authorized key:0.9"},
	{nhi.Certificate, "certificate; cert:0.9; x509:0.8; tls certificate; ssl certificate; signing certificate"},
	{nhi.Webhook, "webhook; web hook; webhook endpoint; webhook config; webhook configuration; hook config:0.9; hook:0.9; event hook; webhook subscription; event subscription:0.9; subscription:0.5; callback:0.7; notification endpoint:0.8; event destination:0.8"},
	{nhi.Secret, "secret:0.9; secret variable:0.9; vault secret; environment secret; encrypted secret"},
	{nhi.Bot, "bot; bot user; chatbot"},
	{nhi.HumanUser, "user:0.9; member:0.8; people:0.8; person:0.8; collaborator:0.8; employee:0.8; admin:0.5; administrator:0.5"},
	{nhi.Team, "team; group:0.9; user group; squad:0.6; department:0.5"},
	{nhi.Role, "role; custom role; role assignment:0.9; permission set:0.8"},
	{nhi.Resource, "project:0.9; repository:0.9; repo:0.9; account:0.5; organization:0.6; org:0.5; workspace:0.8; tenant:0.5; service:0.5; environment:0.4; namespace:0.4"},
})

func buildLexicon(entries []struct {
	kind    nhi.Kind
	phrases string
}) map[string][]phrase {
	// Keyed by first word; each list longest first so the first match is
	// the longest.
	m := map[string][]phrase{}
	for _, e := range entries {
		for _, item := range strings.Split(e.phrases, ";") {
			item = strings.TrimSpace(item)
			strength := 1.0
			if i := strings.IndexByte(item, ':'); i >= 0 {
				fmt.Sscanf(item[i+1:], "%g", &strength)
				item = item[:i]
			}
			ws := strings.Fields(item)
			m[ws[0]] = append(m[ws[0]], phrase{words: ws, kind: e.kind, strength: strength})
		}
	}
	for k := range m {
		sort.SliceStable(m[k], func(i, j int) bool { return len(m[k][i].words) > len(m[k][j].words) })
	}
	return m
}

// Words that carry no noun meaning in a summary or identifier (verbs,
// determiners, and nouns like "metadata" that describe the list, not its
// records), and words that end the head noun phrase ("users assigned to an
// app": the records are users).
var (
	stopWords = map[string]bool{"list": true, "lists": true, "get": true, "gets": true, "all": true, "the": true, "a": true,
		"an": true, "retrieve": true, "retrieves": true, "fetch": true, "return": true, "returns": true, "show": true,
		"shows": true, "every": true, "each": true, "existing": true, "your": true, "my": true, "current": true,
		"find": true, "search": true, "query": true, "read": true, "view": true, "enumerate": true, "available": true,
		"api": true, "v1": true, "v2": true, "v3": true, "v4": true, "metadata": true, "info": true, "information": true,
		"detail": true, "details": true, "summary": true, "object": true, "record": true, "entry": true,
		"item": true, "data": true, "collection": true, "index": true, "paginated": true, "page": true, "of": true,
		"this": true, "its": true, "their": true, "our": true}
	verbWords = map[string]bool{"list": true, "lists": true, "get": true, "gets": true, "all": true, "retrieve": true,
		"fetch": true, "search": true, "find": true, "query": true, "api": true, "v1": true, "v2": true, "v3": true, "v4": true}
	// idNouns name how records are referred to, not what they are: in
	// "token accessors" or "entity ids" the head noun is the word before.
	idNouns = map[string]bool{"id": true, "ids": true, "uuid": true, "identifier": true, "accessor": true,
		"handle": true, "name": true}
	cutWords = map[string]bool{"for": true, "of": true, "by": true, "in": true, "on": true, "from": true, "to": true,
		"with": true, "within": true, "under": true, "assigned": true, "belonging": true, "that": true, "which": true,
		"associated": true, "attached": true, "linked": true, "and": true, "or": true, "at": true, "using": true,
		"matching": true, "owned": true, "created": true, "granted": true, "per": true}
)

// kindScore accumulates weighted evidence per kind.
type kindScore struct {
	contribs []contrib
	// modifier scales matches that are not a text's head noun: lower when
	// the path's own head noun names something that is no kind at all.
	modifier float64
	// minStrength drops weak phrases in a context that rules them out
	// (a "subscription" next to invoices is not a webhook).
	minStrength float64
}

// contrib is one piece of evidence for a kind; its text is written only
// for the kind that wins.
type contrib struct {
	kind      nhi.Kind
	w         float64
	phrase    []string // the lexicon phrase matched; nil for a record property
	head      bool
	src, text string
}

func (c contrib) String() string {
	if c.phrase == nil {
		return fmt.Sprintf("%s %q", c.src, c.text)
	}
	role := "modifier"
	if c.head {
		role = "head noun"
	}
	return fmt.Sprintf("%s %q: %s %q", c.src, c.text, role, strings.Join(c.phrase, " "))
}

var kindOrder = nhi.Kinds() // NHI kinds first: they win ties

func kindIndex(k nhi.Kind) int {
	for i, x := range kindOrder {
		if x == k {
			return i
		}
	}
	return -1
}

func (ks *kindScore) add(c contrib) {
	if kindIndex(c.kind) < 0 || c.w <= 0 {
		return
	}
	ks.contribs = append(ks.contribs, c)
}

// totals sums the evidence per kind, after letting specific phrases
// claim generic ones: when one source says "keys" and another "deploy
// keys" or "ssh_keys", the keys are deploy or SSH keys.
func (ks *kindScore) totals() (score []float64, explain func(kind int) []string) {
	type spec struct {
		kind  nhi.Kind
		words []string
		w     float64
	}
	var specs []spec
	for _, c := range ks.contribs {
		if c.head && len(c.phrase) > 1 {
			found := false
			for i := range specs {
				if specs[i].kind == c.kind && slices.Equal(specs[i].words, c.phrase) {
					specs[i].w += c.w
					found = true
				}
			}
			if !found {
				specs = append(specs, spec{c.kind, c.phrase, c.w})
			}
		}
	}
	score = make([]float64, len(kindOrder))
	owner := make([]int, len(ks.contribs))
	readAs := make([]*spec, len(ks.contribs))
	for ci, c := range ks.contribs {
		k := c.kind
		if n := len(c.phrase); n > 0 {
			for i := range specs {
				sp := &specs[i]
				if sp.kind != c.kind && len(sp.words) > n && slices.Equal(sp.words[len(sp.words)-n:], c.phrase) &&
					(readAs[ci] == nil || sp.w > readAs[ci].w) {
					readAs[ci] = sp
				}
			}
			if readAs[ci] != nil {
				k = readAs[ci].kind
			}
		}
		owner[ci] = kindIndex(k)
		score[owner[ci]] += c.w
	}
	explain = func(kind int) []string {
		var out []string
		for ci, c := range ks.contribs {
			if owner[ci] != kind {
				continue
			}
			note := ""
			if readAs[ci] != nil {
				note = fmt.Sprintf(", read as %q", strings.Join(readAs[ci].words, " "))
			}
			out = append(out, fmt.Sprintf("%s%s (+%.1f)", c, note, c.w))
		}
		return out
	}
	return score, explain
}

type match struct {
	p          phrase
	start, end int // token range
}

// matches finds lexicon phrases in singular tokens, longest first at each
// position, left to right.
func matches(toks []string) []match {
	var out []match
	for i := 0; i < len(toks); {
		found := false
		for _, p := range kindLexicon[toks[i]] {
			if i+len(p.words) > len(toks) {
				continue
			}
			ok := true
			for j, w := range p.words {
				if toks[i+j] != w {
					ok = false
					break
				}
			}
			if ok {
				out = append(out, match{p: p, start: i, end: i + len(p.words)})
				i += len(p.words)
				found = true
				break
			}
		}
		if !found {
			i++
		}
	}
	return out
}

// tokens splits text into singular words, folding "oauth2" into "oauth".
func tokens(text string) []string {
	ws := words(text)
	for i, w := range ws {
		if w == "oauth2" {
			w = "oauth"
		}
		ws[i] = names.Singular(w)
	}
	return ws
}

// scoreText scores a name or phrase from one source. The head noun — the
// last content word before the phrase is cut by a preposition — names what
// the records are; other matches only modify it ("project keys" are keys,
// "users assigned to an app" are users), so they count a third.
func (ks *kindScore) scoreText(src, text string, weight float64) (headKind bool, hasHead bool) {
	if text == "" {
		return false, false
	}
	toks := tokens(text)
	ms := matches(toks)
	// In a path segment every word but a version or a verb is a noun:
	// /audit/records lists records.
	stop := func(t string) bool { return stopWords[t] && (!strings.HasSuffix(src, "path segment") || verbWords[t]) }
	head, first := -1, -1
	for i, t := range toks {
		if first < 0 {
			if stop(t) || cutWords[t] {
				continue
			}
			first = i
		} else if cutWords[t] {
			break
		}
		if !stop(t) && !idNouns[t] {
			head = i
		}
	}
	for _, m := range ms {
		if head >= m.start && head < m.end {
			headKind = true
		}
	}
	// Modifiers of a head noun that is no kind ("user lockout settings")
	// say little about what the records are.
	mod := 0.35 * ks.modifier
	if head >= 0 && !headKind {
		mod *= 0.3
	}
	for _, m := range ms {
		if m.p.strength <= ks.minStrength {
			continue
		}
		w := weight * m.p.strength
		role := "head noun"
		if head < m.start || head >= m.end {
			w *= mod
			role = "modifier"
		}
		ks.add(contrib{kind: m.p.kind, w: w, phrase: m.p.words, head: role == "head noun", src: src, text: text})
	}
	return headKind, head >= 0
}

// commerceWords mark a billing context, where weak identity words mean
// something else.
var commerceWords = map[string]bool{"billing": true, "invoice": true, "payment": true, "pricing": true, "price": true,
	"charge": true, "checkout": true, "purchase": true, "order": true, "plan": true, "balance": true, "credit": true}

func commerceContext(op *Operation) bool {
	texts := append([]string{op.Path, op.ID, op.Summary}, op.Tags...)
	for _, t := range texts {
		for _, w := range tokens(t) {
			if commerceWords[w] {
				return true
			}
		}
	}
	return false
}

// recordPropKinds are record property names (normalised) that say what a
// record is: a delivery URL makes a webhook, a public key an SSH key.
var recordPropKinds = map[string]struct {
	kind nhi.Kind
	w    float64
}{
	"endpointurl": {nhi.Webhook, 1.5}, "callbackurl": {nhi.Webhook, 1.5}, "targeturl": {nhi.Webhook, 1.2},
	"deliveryurl": {nhi.Webhook, 1.5}, "webhookurl": {nhi.Webhook, 1.5}, "hookurl": {nhi.Webhook, 1.5},
	"payloadurl": {nhi.Webhook, 1.5}, "notificationurl": {nhi.Webhook, 1.2}, "deliverymethod": {nhi.Webhook, 0.8},
	"publickey": {nhi.SSHKey, 1}, "fingerprint": {nhi.SSHKey, 0.7},
	"serialnumber": {nhi.Certificate, 0.8}, "issuer": {nhi.Certificate, 0.5}, "notafter": {nhi.Certificate, 1},
	"notbefore": {nhi.Certificate, 1}, "x5c": {nhi.Certificate, 1}, "x5t": {nhi.Certificate, 0.8},
	"certificatechain": {nhi.Certificate, 1}, "sha1fingerprint": {nhi.Certificate, 0.8},
	"clientid": {nhi.OAuthApp, 0.8}, "redirecturis": {nhi.OAuthApp, 1.2}, "redirecturi": {nhi.OAuthApp, 1},
	"granttypes": {nhi.OAuthApp, 1}, "clientsecret": {nhi.OAuthApp, 0.8},
	"tokenhash": {nhi.AccessToken, 1}, "tokenprefix": {nhi.AccessToken, 0.8}, "keyprefix": {nhi.APIKey, 0.8},
	"accesskeyid": {nhi.APIKey, 1.2}, "maskedkey": {nhi.APIKey, 1},
	"email": {nhi.HumanUser, 0.6}, "firstname": {nhi.HumanUser, 0.7}, "lastname": {nhi.HumanUser, 0.7},
	"givenname": {nhi.HumanUser, 0.7}, "familyname": {nhi.HumanUser, 0.7},
	"membercount": {nhi.Team, 0.8}, "members": {nhi.Team, 0.6},
	"permissions": {nhi.Role, 0.6},
	"isbot":       {nhi.Bot, 1},
}

// inferKind scores what the records of a list operation are.
func inferKind(op *Operation, recordsKeys []string, records *Schema) (nhi.Kind, Inference) {
	ks := kindScore{modifier: 1}
	if commerceContext(op) {
		ks.minStrength = 0.5
	}
	// The path: the last literal segment names the records; earlier ones
	// only the context they live in.
	segs := strings.Split(strings.Trim(op.Path, "/"), "/")
	last := -1
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i] != "" && !strings.HasPrefix(segs[i], "{") && !strings.HasPrefix(segs[i], ":") {
			last = i
			break
		}
	}
	// When the last segment's head noun is no kind ("deployments" of an
	// app), the records are something else: context (tags, parents,
	// modifiers) must not name them.
	context := 1.0
	if last >= 0 {
		known, has := ks.scoreText("path segment", segmentNoun(segs[last]), 3)
		if !has && onlyIDNouns(segmentNoun(segs[last])) {
			// /auth/token/accessors, /entity/id: the last segment names
			// identifiers, the literal segment before it what they identify.
			for i := last - 1; i >= 0; i-- {
				if segs[i] != "" && !strings.HasPrefix(segs[i], "{") && !strings.HasPrefix(segs[i], ":") {
					known, has = ks.scoreText("path segment", segmentNoun(segs[i]), 3)
					last = i
					break
				}
			}
		}
		if has && !known {
			context = 0.3
		}
	}
	ks.modifier = context
	for i := 0; i < last; i++ {
		sg := segs[i]
		if sg == "" || strings.HasPrefix(sg, "{") || strings.HasPrefix(sg, ":") {
			continue
		}
		ks.scoreText("parent path segment", segmentNoun(sg), 0.6*context)
	}
	// An id list's property ("keys", "ids") names identifiers, not what
	// they identify.
	if n := len(recordsKeys); n > 0 && !recordsNames[norm(recordsKeys[n-1])] && !isScalar(records) {
		ks.scoreText("records property", recordsKeys[n-1], 2.5)
	}
	ks.scoreText("operationId", op.ID, 2)
	for i, t := range op.Tags {
		// A tag names a group of operations, not necessarily the records.
		w := 1.2 * context
		if i > 0 {
			w /= 2
		}
		ks.scoreText("tag", t, w)
	}
	ks.scoreText("summary", op.Summary, 1.5)
	ks.scoreText("description", firstSentence(op.Description), 0.5)
	if records != nil {
		if records.Ref != "" {
			ks.scoreText("record schema", records.Ref, 2)
		} else if n := len(records.OneOf); n > 0 {
			for _, alt := range records.OneOf {
				if alt != nil && alt.Ref != "" {
					ks.scoreText("record schema alternative", alt.Ref, 2/float64(n))
				}
			}
		}
		propScore := make([]float64, len(kindOrder))
		eachProp(records, func(p Property) bool {
			pk, ok := recordPropKinds[norm(p.Name)]
			if !ok {
				return true
			}
			i := kindIndex(pk.kind)
			// Properties corroborate; a few of them must not outvote the
			// path and names.
			w := math.Min(pk.w, 2.5-propScore[i])
			propScore[i] += w
			ks.add(contrib{kind: pk.kind, w: w, src: "record property", text: p.Name})
			return true
		})
	}
	score, explain := ks.totals()
	best, second := -1, -1
	for i := range kindOrder {
		s := score[i]
		if s <= 0 {
			continue
		}
		switch {
		case best < 0 || s > score[best]:
			best, second = i, best
		case second < 0 || s > score[second]:
			second = i
		}
	}
	if best < 0 || score[best] < 1.2 {
		inf := Inference{Evidence: []string{"nothing in the path, names or record properties names an identity kind"}}
		if best >= 0 {
			inf.Evidence = []string{fmt.Sprintf("only weak hints (best %s, score %.1f)", kindOrder[best], score[best])}
		}
		return "", inf
	}
	s1, s2 := score[best], 0.0
	if second >= 0 {
		s2 = score[second]
	}
	conf := (1 - math.Exp(-s1/3)) * s1 / (s1 + s2)
	inf := Inference{Confidence: clamp(conf, 0.2, 0.95)}
	why := explain(best)
	if len(why) > 6 {
		why = why[:6]
	}
	inf.Evidence = append(inf.Evidence, why...)
	if second >= 0 && s2 > s1/2 {
		inf.Evidence = append(inf.Evidence, fmt.Sprintf("runner-up %s scored %.1f against %.1f", kindOrder[second], s2, s1))
	}
	return kindOrder[best], inf
}

// firstSentence is the text up to the first sentence end or line break.
func firstSentence(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\n"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// onlyIDNouns says whether every word of text is an identifier noun.
func onlyIDNouns(text string) bool {
	toks := tokens(text)
	for _, t := range toks {
		if !idNouns[t] {
			return false
		}
	}
	return len(toks) > 0
}

// isScalar says whether a record schema is a bare value, not an object.
func isScalar(s *Schema) bool {
	return s != nil && !isRecordSchema(s) && !isArray(s) && s.Type != ""
}
