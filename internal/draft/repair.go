package draft

import (
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/validate"
)

// Overrides are what repair has learnt about a document: the draft is
// always rewritten from the surface under them, so the YAML keeps its
// evidence comments and stays deterministic.
type Overrides struct {
	// DropOps: operations (Coverage.Key) not to read, and why.
	DropOps map[string]string `json:"drop_ops,omitempty"`
	// Drop: canonical fields per stream left out of the map.
	Drop map[string][]string `json:"drop_fields,omitempty"`
	// Strict: vendor properties per stream read without a guard, so that a
	// rename fails the run loudly.
	Strict map[string][]string `json:"strict,omitempty"`
	// Paging: per stream, how far repair has loosened its paging.
	Paging map[string]PagingStep `json:"paging,omitempty"`
	// NoRelationships: streams whose parent edge is left out.
	NoRelationships []string `json:"no_relationships,omitempty"`
	// AuthOption indexes the supported ways to authenticate, best first.
	AuthOption int `json:"auth_option,omitempty"`
	// RetryBoost adds retry attempts; TimeoutBoost lengthens the timeout
	// in 15 s steps.
	RetryBoost   int `json:"retry_boost,omitempty"`
	TimeoutBoost int `json:"timeout_boost,omitempty"`
}

func (o Overrides) clone() Overrides {
	c := o
	c.DropOps = maps.Clone(o.DropOps)
	if c.DropOps == nil {
		c.DropOps = map[string]string{}
	}
	c.Drop = cloneLists(o.Drop)
	c.Strict = cloneLists(o.Strict)
	c.Paging = maps.Clone(o.Paging)
	if c.Paging == nil {
		c.Paging = map[string]PagingStep{}
	}
	c.NoRelationships = slices.Clone(o.NoRelationships)
	return c
}

func cloneLists(m map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}

func addTo(m map[string][]string, k, v string) bool {
	if slices.Contains(m[k], v) {
		return false
	}
	m[k] = append(m[k], v)
	slices.Sort(m[k])
	return true
}

// Repair takes a scorecard's failed checks and returns a changed draft,
// what it changed, and whether it changed anything: false means it has no
// further idea, and the loop stops. r must come from Draft or Repair on
// the same surface.
func Repair(s *apisurface.Surface, r *Result, failed []validate.Check) (*Result, []string, bool) {
	if s == nil || r == nil {
		return r, nil, false
	}
	ov := r.Overrides.clone()
	rp := &repairer{s: s, r: r, ov: &ov}
	for _, c := range failed {
		if c.Status != "" && c.Status != validate.StatusFail {
			continue
		}
		rp.check(c)
	}
	if len(rp.changes) == 0 {
		return r, nil, false
	}
	nr, err := draftWith(s, r.opts, ov)
	if err != nil || nr == nil || nr.Spec == nil {
		return r, append(rp.changes, fmt.Sprintf("the repaired draft failed: %v", err)), false
	}
	return nr, rp.changes, true
}

type repairer struct {
	s       *apisurface.Surface
	r       *Result
	ov      *Overrides
	changes []string
}

func (rp *repairer) changed(format string, args ...any) {
	rp.changes = append(rp.changes, fmt.Sprintf(format, args...))
}

// stream finds a stream of the current spec.
func (rp *repairer) stream(name string) *integration.Stream {
	if rp.r.Spec == nil {
		return nil
	}
	for i := range rp.r.Spec.Streams {
		if rp.r.Spec.Streams[i].Name == name {
			return &rp.r.Spec.Streams[i]
		}
	}
	return nil
}

// dropStream stops reading a stream's operation, and its descendants',
// recording why in Coverage.
func (rp *repairer) dropStream(name, why string) {
	gone := map[string]bool{name: true}
	if rp.r.Spec != nil {
		for grew := true; grew; {
			grew = false
			for _, st := range rp.r.Spec.Streams {
				if st.ForEach != nil && gone[st.ForEach.Stream] && !gone[st.Name] {
					gone[st.Name], grew = true, true
				}
			}
		}
	}
	for _, cv := range rp.r.Coverage {
		if !gone[cv.Stream] {
			continue
		}
		if _, ok := rp.ov.DropOps[cv.Key()]; !ok {
			rp.ov.DropOps[cv.Key()] = "dropped by repair: " + why
			rp.changed("dropped stream %s (%s): %s", cv.Stream, cv.Key(), why)
		}
	}
}

// recordErrFields lists the canonical fields the runtime's mapping
// errors name ("stream S, page P, record I: field F: …").
func recordErrFields(text string, st *integration.Stream) []string {
	var out []string
	for _, m := range recordErrRE.FindAllStringSubmatch(text, -1) {
		if _, ok := st.Map[m[1]]; ok && !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

var (
	recordErrRE  = regexp.MustCompile(`page \d+, record \d+: field ([a-z_]+):`)
	allNullRE    = regexp.MustCompile(`(?m)^([a-z_]+): null or empty in 100%`)
	renamedRE    = regexp.MustCompile(`r\.([A-Za-z_][A-Za-z0-9_]*) renamed to`)
	fieldErrRE   = regexp.MustCompile(`field ([a-z_]+)`)
	streamIdxRE  = regexp.MustCompile(`\$\.streams\[(\d+)\]`)
	lintLineRE   = regexp.MustCompile(`(?m)^[^\s:]+:(\d+):\d+ SPX-`)
	identTokenRE = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_\-]*`)
)

func checkText(c validate.Check) string {
	return c.Summary + "\n" + strings.Join(c.Evidence, "\n")
}

// canonicalFields finds canonical map fields a check's text names: the
// validator's own line forms first ("name: null or empty in 100% …",
// "… record 3: field status: …"), then any map field named as a word.
func canonicalFields(text string, st *integration.Stream) []string {
	var out []string
	for _, m := range allNullRE.FindAllStringSubmatch(text, -1) {
		if _, ok := st.Map[m[1]]; ok && !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, m := range fieldErrRE.FindAllStringSubmatch(text, -1) {
		if _, ok := st.Map[m[1]]; ok && !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, tok := range identTokenRE.FindAllString(text, -1) {
		if _, ok := st.Map[tok]; ok && !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	return out
}

func (rp *repairer) check(c validate.Check) {
	text := checkText(c)
	st := rp.stream(c.Stream)
	switch c.ID {
	case validate.CheckLint:
		// Findings name a line ("file:12:7 SPX-… error: …") or a path
		// ($.streams[3]…); either locates the stream.
		for _, m := range lintLineRE.FindAllStringSubmatch(text, -1) {
			var line int
			fmt.Sscanf(m[1], "%d", &line)
			if name := streamAtLine(rp.r.YAML, line); name != "" {
				rp.dropStream(name, "lint: "+clip(c.Summary, 120))
			}
		}
		for _, m := range streamIdxRE.FindAllStringSubmatch(text, -1) {
			var i int
			fmt.Sscanf(m[1], "%d", &i)
			if rp.r.Spec != nil && i < len(rp.r.Spec.Streams) {
				rp.dropStream(rp.r.Spec.Streams[i].Name, "lint: "+clip(c.Summary, 120))
			}
		}
		if st != nil {
			rp.dropStream(st.Name, "lint: "+clip(c.Summary, 120))
		}
	case validate.CheckOperations:
		if st != nil {
			rp.dropStream(st.Name, "it does not read a documented GET operation")
		}
	case validate.CheckAuth:
		opts := authOptions(rp.s, nil, "x", "https://h")
		if rp.ov.AuthOption+1 < len(opts) {
			rp.ov.AuthOption++
			rp.changed("auth: trying the next declared way to authenticate (%d of %d)", rp.ov.AuthOption+1, len(opts))
		}
	case validate.CheckSchema, validate.CheckNullRate:
		if st == nil {
			return
		}
		rp.fixFields(st, text, c.ID)
	case validate.CheckCompleteness:
		if st == nil {
			return
		}
		// Records lost to mapping errors are a mapping problem first: the
		// fields the errors name are dropped (and the schema check, which
		// sees the same errors, agrees).
		if fs := recordErrFields(text, st); len(fs) > 0 {
			rp.fixFields(st, strings.Join(fs, " "), "mapping errors")
			return
		}
		// Loosen the paging a step at a time, skipping steps that would
		// change nothing for this list.
		if op := rp.operation(st.Name); op != nil && op.List != nil {
			cur := rp.ov.Paging[st.Name]
			was, _, _ := pagination(op.List.Paging, cur)
			for step := cur + 1; step <= StepLast; step++ {
				if now, _, _ := pagination(op.List.Paging, step); !reflect.DeepEqual(now, was) {
					rp.ov.Paging[st.Name] = step
					rp.changed("paging of %s loosened (step %d: %s): %s", st.Name, step, describeStep(step), clip(c.Summary, 100))
					return
				}
			}
		}
		rp.dropStream(st.Name, "completeness failed: "+clip(c.Summary, 120))
	case validate.CheckRelationships:
		if st == nil {
			return
		}
		for _, f := range canonicalFields(text, st) {
			if f == "owner" || f == "creator" {
				if addTo(rp.ov.Drop, st.Name, f) {
					rp.changed("%s: %s dropped: its references do not resolve", st.Name, f)
				}
			}
		}
		if len(st.Relationships) > 0 && !slices.Contains(rp.ov.NoRelationships, st.Name) {
			rp.ov.NoRelationships = append(rp.ov.NoRelationships, st.Name)
			slices.Sort(rp.ov.NoRelationships)
			rp.changed("%s: parent relationship left out: %s", st.Name, clip(c.Summary, 100))
		}
	case validate.CheckDrift:
		rp.fixDrift(c, text)
	case validate.CheckRateLimited, validate.CheckServerErrors:
		if rp.ov.RetryBoost < 6 {
			rp.ov.RetryBoost += 3
			rp.changed("retry: %d attempts (%s failed)", defaultAttempts+rp.ov.RetryBoost, c.ID)
		}
	case validate.CheckSlow:
		if rp.ov.TimeoutBoost < 4 {
			rp.ov.TimeoutBoost++
			rp.changed("timeout: %ds (%s failed)", 30+15*rp.ov.TimeoutBoost, c.ID)
		}
	}
}

// operation finds the documented operation a stream reads.
func (rp *repairer) operation(stream string) *apisurface.Operation {
	for _, cv := range rp.r.Coverage {
		if cv.Stream != stream {
			continue
		}
		key := cv.Operation
		for i := range rp.s.Operations {
			op := &rp.s.Operations[i]
			if op.Method+" "+op.Path == key {
				return op
			}
		}
	}
	return nil
}

func describeStep(s PagingStep) string {
	switch s {
	case StepNoTotal:
		return "no longer trust the total count"
	case StepNoMore:
		return "no longer trust the more flag"
	case StepMaxPage:
		return "ask for the largest page the doc allows"
	}
	return "as inferred"
}

// fixFields drops the mappings a check names: a field that is always null
// reads nothing, one that fails the canonical schema is wrong. Without an
// external_id the stream cannot stand.
func (rp *repairer) fixFields(st *integration.Stream, text, why string) {
	fs := canonicalFields(text, st)
	for _, f := range fs {
		if f == "external_id" {
			rp.dropStream(st.Name, why+": external_id cannot be mapped")
			return
		}
		if addTo(rp.ov.Drop, st.Name, f) {
			rp.changed("%s.%s dropped from the map (%s)", st.Name, f, why)
		}
	}
}

// fixDrift makes the read of a drifted property strict, so that the
// rename fails the run instead of yielding nulls.
func (rp *repairer) fixDrift(c validate.Check, text string) {
	streams := []*integration.Stream{rp.stream(c.Stream)}
	if streams[0] == nil && rp.r.Spec != nil {
		streams = nil
		for i := range rp.r.Spec.Streams {
			streams = append(streams, &rp.r.Spec.Streams[i])
		}
	}
	for _, st := range streams {
		if st == nil || st.Emits == "" {
			continue
		}
		props := rp.recordProps(st.Name)
		toks := identTokenRE.FindAllString(text, -1)
		if m := renamedRE.FindAllStringSubmatch(text, -1); len(m) > 0 {
			toks = nil
			for _, x := range m {
				toks = append(toks, x[1])
			}
		}
		for _, tok := range toks {
			if !slices.Contains(props, tok) {
				continue
			}
			if addTo(rp.ov.Strict, st.Name, tok) {
				rp.changed("%s: property %q now read strictly, so its drift fails loudly", st.Name, tok)
			}
		}
	}
}

// recordProps lists the vendor properties of a stream's records.
func (rp *repairer) recordProps(stream string) []string {
	_, considered := choose(rp.s, rp.r.opts, &Overrides{DropOps: map[string]string{}})
	for _, cv := range rp.r.Coverage {
		if cv.Stream != stream {
			continue
		}
		for _, c := range considered {
			if c.opKey() == cv.Key() {
				return c.rec.names()
			}
		}
	}
	return nil
}

// streamAtLine names the stream whose block holds line (1-based) of the
// draft's YAML; "" outside the streams.
func streamAtLine(yaml []byte, line int) string {
	in, name := false, ""
	for i, l := range strings.Split(string(yaml), "\n") {
		if i+1 > line {
			break
		}
		switch {
		case l == "streams:":
			in = true
		case in && strings.HasPrefix(l, "  - name: "):
			name = strings.Trim(strings.TrimPrefix(l, "  - name: "), "'")
		case in && l != "" && !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "#"):
			in, name = false, ""
		}
	}
	if !in {
		return ""
	}
	return name
}
