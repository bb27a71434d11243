package validate

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/sandbox"
	"github.com/spindlehq/spindle/internal/store"
)

// baseline is what the fault scenarios are judged against.
type baseline struct {
	sc  *scenario
	exp map[string]*expectation
	// good streams were complete and fetched every seeded entity: the
	// fault scenarios must keep them so.
	good map[string]bool
}

// judgeBaseline runs the baseline checks on the fault-free run.
func (v *validation) judgeBaseline(sc *scenario) *baseline {
	bl := &baseline{sc: sc, exp: map[string]*expectation{}, good: map[string]bool{}}
	truth := sc.sb.Truth()
	for _, si := range v.streams {
		bl.exp[si.name()] = expect(sc.sb, truth, si, nil)
	}
	// Children expect what their parent gave them: the children of the
	// parents it fetched, when its records carry the parents' ids.
	for _, si := range v.streams {
		if si.st.ForEach == nil {
			continue
		}
		p := v.byName[si.st.ForEach.Stream]
		pe := bl.exp[si.st.ForEach.Stream]
		if p == nil || !p.emits() || p.embedded || pe.reason != "" || pe.countOnly {
			continue
		}
		fetched := map[string]bool{}
		for _, r := range sc.sink.records[p.name()] {
			if pe.counts[r.ExternalID] > 0 {
				fetched[r.ExternalID] = true
			}
		}
		if len(fetched) > 0 && len(fetched) < len(pe.counts) {
			bl.exp[si.name()] = expect(sc.sb, truth, si, fetched)
		}
	}
	v.checkAuth(sc)
	for _, si := range v.streams {
		v.checkCompleteness(bl, si)
	}
	for _, si := range v.streams {
		if si.emits() {
			v.checkSchema(sc, si)
		}
	}
	for _, si := range v.streams {
		if si.emits() {
			v.checkNullRate(bl, si)
		}
	}
	v.checkRelationships(sc)
	return bl
}

// checkAuth: every request to a documented operation that requires
// security was authenticated by a scheme, and nothing was refused 401/403.
func (v *validation) checkAuth(sc *scenario) {
	requires := map[string]bool{}
	for _, o := range sc.sb.Operations() {
		req := len(o.Security) > 0 && !slices.Contains(o.Security, "none")
		requires[o.Method+" "+o.Path] = req
	}
	var bad []string
	schemes := map[string]int{}
	total := 0
	for _, e := range sc.log {
		total++
		if e.Scheme != "" {
			schemes[e.Scheme]++
		}
		switch {
		case e.Status == 401 || e.Status == 403:
			bad = append(bad, fmt.Sprintf("%s → %d", logLine(e), e.Status))
		case requires[e.Operation] && e.Scheme == "":
			bad = append(bad, fmt.Sprintf("%s → %d without authenticating (the operation requires a security scheme)", logLine(e), e.Status))
		}
	}
	ev := slices.Clone(sc.credNote)
	if sc.startErr != nil {
		v.add(Check{ID: CheckAuth, Status: StatusFail, Summary: "the run did not start: " + sc.startErr.Error(),
			Evidence: append(ev, v.configNote...)})
		return
	}
	if len(bad) > 0 {
		v.add(Check{ID: CheckAuth, Status: StatusFail,
			Summary:  fmt.Sprintf("%d of %d requests were not authenticated the way the doc declares; fix connection.auth (type, header name, prefix)", len(bad), total),
			Evidence: append(ev, bad...)})
		return
	}
	if total == 0 {
		v.add(Check{ID: CheckAuth, Status: StatusFail, Summary: "the run made no request, so auth could not be checked", Evidence: ev})
		return
	}
	names := make([]string, 0, len(schemes))
	for s, n := range schemes {
		names = append(names, fmt.Sprintf("%s (%d)", s, n))
	}
	sort.Strings(names)
	sum := fmt.Sprintf("all %d requests authenticated", total)
	if len(names) > 0 {
		sum += " by " + strings.Join(names, ", ")
	}
	v.add(Check{ID: CheckAuth, Status: StatusPass, Summary: sum, Evidence: ev})
}

func logLine(e sandbox.LogEntry) string {
	s := e.Method + " " + e.Path
	if e.Query != "" {
		s += "?" + e.Query
	}
	if e.Operation != "" && e.Operation != e.Method+" "+e.Path {
		s += " (" + e.Operation + ")"
	}
	return s
}

// checkCompleteness compares what each stream fetched with what the
// sandbox seeded for it, and fills the stream's score.
func (v *validation) checkCompleteness(bl *baseline, si *streamInfo) {
	sc := bl.sc
	e := bl.exp[si.name()]
	res := sc.result(si.name())
	recs := sc.sink.records[si.name()]
	m := e.match(recs)
	if !si.emits() {
		// It only feeds its children: what it read is judged there.
		m = matchResult{}
		e = &expectation{reason: e.reason}
	}
	score := StreamScore{Name: si.name(), Emits: si.st.Emits, Pages: res.Pages,
		Expected: e.total, Fetched: m.fetched, Matched: m.matched, Missing: m.missing,
		Errors: boundLines(v.red, res.Errors, maxStreamErrors)}
	score.Operation = si.method + " " + si.st.Request.Path
	if si.opPath != "" {
		score.Operation = si.op.Method + " " + si.opPath
	}
	if si.st.ForEach != nil {
		score.Parent = si.st.ForEach.Stream
	}
	if si.emits() {
		score.NullRates = nullRates(si, recs)
	}
	v.mu.Lock()
	v.card.Streams = append(v.card.Streams, score)
	v.mu.Unlock()

	outcome := string(res.Outcome)
	var ev []string
	if sc.startErr != nil {
		ev = append(ev, "the run did not start: "+sc.startErr.Error())
		ev = append(ev, v.configNote...)
	}
	for _, err := range res.Errors {
		ev = append(ev, "runtime: "+err)
	}
	if !si.emits() {
		c := Check{ID: CheckCompleteness, Stream: si.name()}
		if res.Outcome == store.Complete && sc.startErr == nil {
			c.Status, c.Summary = StatusPass, fmt.Sprintf("emits nothing (feeds its for_each children); every walk completed, %d page(s)", res.Pages)
			bl.good[si.name()] = true
		} else {
			c.Status, c.Summary = StatusFail, fmt.Sprintf("outcome %s: the stream did not read its whole list, so its children cannot be complete", outcome)
		}
		c.Evidence = ev
		v.add(c)
		return
	}
	c := Check{ID: CheckCompleteness, Stream: si.name()}
	switch {
	case e.reason != "":
		c.Status, c.Summary = StatusFail, "completeness cannot be proved: "+e.reason
	case e.total == 0:
		c.Status = StatusFail
		c.Summary = fmt.Sprintf("the sandbox seeded nothing for GET %s with seed %d, so an empty result proves nothing; validate with another seed or more entities", si.opPath, v.o.Seed)
	case res.Outcome != store.Complete:
		c.Status = StatusFail
		c.Summary = fmt.Sprintf("outcome %s: fetched %d of %d seeded entities; see the runtime's errors", outcome, m.matched, e.total)
	case !m.complete(e):
		c.Status = StatusFail
		c.Summary = completenessGap(si, e, m)
	default:
		c.Status = StatusPass
		c.Summary = fmt.Sprintf("fetched all %d seeded entities in %d page(s), matched %s", e.total, res.Pages, e.idWords())
		bl.good[si.name()] = true
	}
	if len(m.missing) > 0 {
		ev = append(ev, fmt.Sprintf("missing %d seeded id(s), e.g. %s", m.missingN, strings.Join(m.missing, ", ")))
	}
	if len(m.extras) > 0 {
		ev = append(ev, fmt.Sprintf("%d record(s) with an external_id not seeded (or fetched twice), e.g. %s", m.extra, strings.Join(m.extras, ", ")))
	}
	if si.st.ForEach != nil && e.reason == "" {
		if e.parents < e.allParents {
			ev = append(ev, fmt.Sprintf("fan-out over %s: expected the children of the %d parent records it fetched (the sandbox seeded %d; see its completeness)",
				si.st.ForEach.Stream, e.parents, e.allParents))
		} else {
			ev = append(ev, fmt.Sprintf("fan-out over %s: expected the children of all %d parent records", si.st.ForEach.Stream, e.allParents))
		}
	}
	c.Evidence = ev
	v.add(c)
}

// completenessGap explains a complete run that still missed or invented
// records, naming the likely cause.
func completenessGap(si *streamInfo, e *expectation, m matchResult) string {
	switch {
	case m.matched == 0 && m.fetched > 0 && !e.countOnly:
		return fmt.Sprintf("none of the %d records' external_id is a seeded id (matched %s); map external_id from %s",
			m.fetched, e.idWords(), e.idExpr())
	case m.missingN > 0 && m.extra == 0:
		return fmt.Sprintf("the run reported complete but fetched %d of %d seeded entities: paging stopped early or a for_each parent was missed; check the stream's pagination (page size, stop condition)",
			m.matched, e.total)
	case m.extra > 0 && m.missingN == 0:
		return fmt.Sprintf("fetched %d records for %d seeded entities: %d duplicate or unseeded; check that paging advances (offset, cursor) instead of repeating pages",
			m.fetched, e.total, m.extra)
	}
	return fmt.Sprintf("fetched %d records, %d of %d seeded entities matched, %d not seeded", m.fetched, m.matched, e.total, m.extra)
}

// mappingErrRe matches the runtime's mapping errors and store refusals,
// "stream S, page P, record I: …".
var mappingErrRe = regexp.MustCompile(`^stream \S+, page \d+, record \d+: `)

// moreErrRe is the runtime's note on the errors it did not keep.
var moreErrRe = regexp.MustCompile(`^… and (\d+) more errors$`)

// recordErrors picks the mapping errors and refusals out of a stream's
// errors, and counts them, those the runtime summarised included (it
// keeps the first 20; when other errors are mixed in, the count of the
// rest is attributed to records, the likelier cause by far).
func recordErrors(errs []string) ([]string, int) {
	var out []string
	n := 0
	for _, e := range errs {
		if mappingErrRe.MatchString(e) {
			out = append(out, e)
			n++
		} else if m := moreErrRe.FindStringSubmatch(e); m != nil && n > 0 {
			more, _ := strconv.Atoi(m[1]) // \d+: always a number
			n += more
		}
	}
	return out, n
}

// checkSchema: every record the stream produced is valid in the canonical
// model; mapping errors and refused records count against it.
func (v *validation) checkSchema(sc *scenario, si *streamInfo) {
	res := sc.result(si.name())
	bad, n := recordErrors(res.Errors)
	recs := sc.sink.records[si.name()]
	c := Check{ID: CheckSchema, Stream: si.name()}
	switch {
	case n > 0:
		c.Status = StatusFail
		c.Summary = fmt.Sprintf("%d record(s) could not be mapped into the canonical model or were refused (%d stored); fix the map expressions the errors name", n, len(recs))
		c.Evidence = bad
	case len(recs) == 0:
		c.Status, c.Summary = StatusSkip, "no records were produced, so there is nothing to check"
	default:
		c.Status = StatusPass
		c.Summary = fmt.Sprintf("all %d records are valid canonical %s records", len(recs), si.st.Emits)
	}
	v.add(c)
}

// mappedFields are the canonical fields a stream's map sets, sorted.
func mappedFields(si *streamInfo) []string {
	out := make([]string, 0, len(si.st.Map))
	for k := range si.st.Map {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func nullRates(si *streamInfo, recs []*nhi.Record) map[string]float64 {
	if len(recs) == 0 {
		return nil
	}
	out := map[string]float64{}
	for _, f := range mappedFields(si) {
		n := 0
		for _, r := range recs {
			if _, empty := canonical(r, f); empty {
				n++
			}
		}
		out[f] = float64(n) / float64(len(recs))
	}
	return out
}

// canonical returns a canonical field's value and whether it is null or
// empty.
func canonical(r *nhi.Record, field string) (any, bool) {
	switch field {
	case "external_id":
		return r.ExternalID, r.ExternalID == ""
	case "kind":
		return r.Kind, r.Kind == ""
	case "name":
		return r.Name, r.Name == nil || *r.Name == ""
	case "status":
		return r.Status, r.Status == nil
	case "created_at":
		return r.CreatedAt, r.CreatedAt == nil
	case "updated_at":
		return r.UpdatedAt, r.UpdatedAt == nil
	case "last_used_at":
		return r.LastUsedAt, r.LastUsedAt == nil
	case "expires_at":
		return r.ExpiresAt, r.ExpiresAt == nil
	case "last_rotated_at":
		return r.LastRotatedAt, r.LastRotatedAt == nil
	case "owner":
		return r.Owner, r.Owner == nil
	case "creator":
		return r.Creator, r.Creator == nil
	case "scopes":
		return r.Scopes, len(r.Scopes) == 0
	case "privilege":
		return r.Privilege, r.Privilege == nil
	case "credential_type":
		return r.CredentialType, r.CredentialType == nil
	case "third_party":
		return r.ThirdParty, r.ThirdParty == nil
	case "publisher":
		return r.Publisher, r.Publisher == nil || *r.Publisher == ""
	case "environment":
		return r.Environment, r.Environment == nil || *r.Environment == ""
	case "attributes":
		return r.Attributes, len(r.Attributes) == 0
	}
	return nil, true
}

// canonicalJSON is a field's value as comparable text.
func canonicalJSON(r *nhi.Record, field string) string {
	v, _ := canonical(r, field)
	b, _ := json.Marshal(v)
	return string(b)
}

// propRe finds the record properties a CEL expression reads: r.x, r.?x.
var propRe = regexp.MustCompile(`(?:^|[^A-Za-z0-9_.])r\.\??([A-Za-z_][A-Za-z0-9_]*)`)

// readProps lists the record properties expr reads, in order, unique.
func readProps(expr string) []string {
	var out []string
	for _, m := range propRe.FindAllStringSubmatch(expr, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// checkNullRate: each mapped field is filled. A field null in every
// record while the seeded records carry what it reads is a mapping that
// reads nothing (a misspelt or wrong property behind a has() guard).
func (v *validation) checkNullRate(bl *baseline, si *streamInfo) {
	recs := bl.sc.sink.records[si.name()]
	c := Check{ID: CheckNullRate, Stream: si.name()}
	if len(recs) == 0 {
		c.Status, c.Summary = StatusSkip, "no records were produced, so null rates cannot be measured"
		v.add(c)
		return
	}
	e := bl.exp[si.name()]
	documented := v.documentedProps(si)
	rates := nullRates(si, recs)
	var fails, warns, ev []string
	for _, f := range mappedFields(si) {
		rate := rates[f]
		if rate == 0 {
			continue
		}
		line := fmt.Sprintf("%s: null or empty in %.0f%% of %d records (%s)", f, 100*rate, len(recs), si.st.Map[f])
		switch {
		case rate == 1:
			verdict, why := v.allNull(si.st.Map[f], e, documented)
			ev = append(ev, line+"; "+why)
			if verdict == StatusFail {
				fails = append(fails, f)
			} else {
				warns = append(warns, f)
			}
		case rate > 0.5:
			ev = append(ev, line)
			warns = append(warns, f)
		}
	}
	switch {
	case len(fails) > 0:
		c.Status = StatusFail
		c.Summary = fmt.Sprintf("mapped field(s) %s are null in every record: the mapping reads nothing (the evidence says why); read the property the doc names", strings.Join(fails, ", "))
	case len(warns) > 0:
		c.Status = StatusWarn
		c.Summary = fmt.Sprintf("mapped field(s) %s are mostly null; check that they read the right property", strings.Join(warns, ", "))
	default:
		c.Status = StatusPass
		c.Summary = fmt.Sprintf("every mapped field is filled in at least half of %d records", len(recs))
	}
	c.Evidence = ev
	v.add(c)
}

// allNull judges a field null in every record by what its expression
// reads: properties the seeded records carry (fail: the mapping reads
// nothing), properties the doc does not have (fail: misspelt), or
// documented ones the sandbox happened not to seed (warn: cannot tell).
func (v *validation) allNull(expr string, e *expectation, documented map[string]bool) (string, string) {
	props := readProps(expr)
	if len(props) == 0 {
		return StatusWarn, "it reads no property of the record"
	}
	var undocumented []string
	for _, p := range props {
		n := 0
		for _, it := range e.items {
			if m, ok := it.(map[string]any); ok && m[p] != nil {
				n++
			}
		}
		if n > 0 {
			return StatusFail, fmt.Sprintf("the seeded records carry r.%s in %d of %d", p, n, len(e.items))
		}
		if len(documented) > 0 && !documented[p] {
			undocumented = append(undocumented, p)
		}
	}
	if len(undocumented) > 0 {
		why := fmt.Sprintf("the doc's records have no property %s", strings.Join(undocumented, ", "))
		if near := nearProp(undocumented[0], documented); near != "" {
			why += fmt.Sprintf(" (did you mean %s?)", near)
		}
		return StatusFail, why
	}
	return StatusWarn, "the sandbox seeded no value for " + strings.Join(props, ", ") + ", so this proves nothing either way"
}

func nearProp(p string, documented map[string]bool) string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "") }
	for d := range documented {
		if norm(d) == norm(p) {
			return d
		}
	}
	return ""
}

// documentedProps are the properties the doc gives the stream's records
// (the embedded items for an a.*.b stream), all oneOf shapes included.
func (v *validation) documentedProps(si *streamInfo) map[string]bool {
	if si.op == nil || si.op.List == nil || si.op.List.Records == nil {
		return nil
	}
	s := si.op.List.Records
	if si.embedded {
		s = s.At(strings.Split(si.inner, "."))
		if s != nil && s.Items != nil {
			s = s.Items
		}
	}
	out := map[string]bool{}
	var walk func(s *apisurface.Schema, depth int)
	walk = func(s *apisurface.Schema, depth int) {
		if s == nil || depth > 3 {
			return
		}
		for _, p := range s.Properties {
			out[p.Name] = true
		}
		for _, alt := range s.OneOf {
			walk(alt, depth+1)
		}
	}
	walk(s, 0)
	if len(out) == 0 {
		return nil
	}
	return out
}

// checkRelationships: every edge's target is a record the run fetched, or
// of a kind no stream reads (external by design).
func (v *validation) checkRelationships(sc *scenario) {
	read := map[nhi.Kind]bool{}
	fetched := map[nhi.Kind]map[string]bool{}
	for _, si := range v.streams {
		if si.emits() {
			read[nhi.Kind(si.st.Emits)] = true
		}
		for _, r := range sc.sink.records[si.name()] {
			read[r.Kind] = true
			if fetched[r.Kind] == nil {
				fetched[r.Kind] = map[string]bool{}
			}
			fetched[r.Kind][r.ExternalID] = true
		}
	}
	declared := false
	for _, si := range v.streams {
		recs := sc.sink.records[si.name()]
		edges, resolved := 0, 0
		external := map[nhi.Kind]int{}
		var dangling []string
		for _, r := range recs {
			for _, rel := range r.Relationships {
				edges++
				t := rel.Target
				switch {
				case !read[t.Kind]:
					external[t.Kind]++
				case fetched[t.Kind][t.ExternalID]:
					resolved++
				default:
					dangling = append(dangling, fmt.Sprintf("%s/%s %s → %s/%s: no %s record with that external_id was fetched",
						r.Kind, r.ExternalID, rel.Type, t.Kind, t.ExternalID, t.Kind))
				}
			}
		}
		if edges == 0 && len(si.st.Relationships) == 0 && si.st.Map["owner"] == "" && si.st.Map["creator"] == "" {
			continue
		}
		declared = true
		c := Check{ID: CheckRelationships, Stream: si.name()}
		var ev []string
		kinds := make([]string, 0, len(external))
		n := 0
		for k, cnt := range external {
			kinds = append(kinds, string(k))
			n += cnt
		}
		sort.Strings(kinds)
		if n > 0 {
			ev = append(ev, fmt.Sprintf("%d edges to kinds not read here (%s): external by design", n, strings.Join(kinds, ", ")))
		}
		switch {
		case len(dangling) > 0:
			c.Status = StatusFail
			c.Summary = fmt.Sprintf("%d of %d edges point at records of a kind the spec reads but that were never fetched; the edge's external_id must be the target's external_id", len(dangling), edges)
			ev = append(dangling, ev...)
		case edges == 0:
			c.Status = StatusWarn
			c.Summary = "the stream declares relationships but produced no edge"
		default:
			c.Status = StatusPass
			c.Summary = fmt.Sprintf("%d edges: %d resolve to fetched records, %d to kinds not read here", edges, resolved, n)
		}
		c.Evidence = ev
		v.add(c)
	}
	if !declared {
		v.add(Check{ID: CheckRelationships, Status: StatusSkip, Summary: "no stream declares relationships, owner or creator"})
	}
}
