package draft

import (
	"fmt"
	"github.com/spindlehq/spindle/internal/names"
	"slices"
	"strconv"
	"strings"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/nhi"
)

// fieldPlan is one canonical field's mapping and why.
type fieldPlan struct {
	field    string
	expr     string
	reads    []string // vendor properties read (top-level names), for repair
	strict   bool     // read without a guard: a missing key fails the record
	conf     float64
	evidence []string
}

// accessPath is a property path inside the record, each step with
// whether its object schema requires it.
type accessPath struct {
	segs []string
	req  []bool
}

func (a accessPath) strict() bool {
	for _, r := range a.req {
		if !r {
			return false
		}
	}
	return true
}

// sel renders one selection step.
func sel(seg string, optional bool) string {
	switch {
	case celIdentOK(seg) && optional:
		return ".?" + seg
	case celIdentOK(seg):
		return "." + seg
	case optional:
		return "[?" + strconv.Quote(seg) + "]"
	}
	return "[" + strconv.Quote(seg) + "]"
}

// direct is the plain read: r.a.b, failing on a missing key.
func (a accessPath) direct(root string) string {
	var b strings.Builder
	b.WriteString(root)
	for _, s := range a.segs {
		b.WriteString(sel(s, false))
	}
	return b.String()
}

// value reads the path strictly where every step is required and with
// optional chaining otherwise: r.a.b or r.?a.?b.orValue(null). Only the
// steps after the first optional one need the optional form.
func (a accessPath) value(root string, forceStrict bool) string {
	if forceStrict || a.strict() {
		return a.direct(root)
	}
	var b strings.Builder
	b.WriteString(root)
	opt := false
	for i, s := range a.segs {
		opt = opt || !a.req[i]
		b.WriteString(sel(s, opt))
	}
	b.WriteString(".orValue(null)")
	return b.String()
}

// guarded wraps an expression over the value v in a null guard when the
// path may be missing: `v == null ? null : (expr)`, with v read strictly
// inside (the guard proved it is there).
func (a accessPath) guarded(root string, forceStrict bool, expr func(v string) string) string {
	if forceStrict || a.strict() {
		return expr(a.direct(root))
	}
	return a.value(root, false) + " == null ? null : dyn(" + expr(a.direct(root)) + ")"
}

func top(r *record, name string) accessPath {
	return accessPath{segs: []string{name}, req: []bool{r.req[name]}}
}

func (a accessPath) then(parent *apisurface.Schema, name string) accessPath {
	return accessPath{segs: append(slices.Clone(a.segs), name), req: append(slices.Clone(a.req), requires(parent, name))}
}

// isTimestamp says whether a property holds a point in time, by its
// format, or by a time-like name on a string or number.
func isTimestamp(sn string, s *apisurface.Schema) bool {
	if s == nil || len(s.Enum) > 0 {
		return false
	}
	f := strings.ToLower(s.Format)
	switch typeOf(s) {
	case "string":
		if f == "date-time" || f == "date" {
			return true
		}
		return (f == "" || digitString(s)) && timeLikeName(sn)
	case "integer", "number":
		return timeLikeName(sn)
	}
	return false
}

func timeLikeName(sn string) bool {
	if hasSuffixAny(sn, "_at", "_on", "_time", "_date", "_timestamp", "_datetime", "_at_ms", "_time_ms") {
		return true
	}
	for _, list := range [][]string{createdFields, updatedFields, lastUsedFields, expiresFields, rotatedFields} {
		if slices.Contains(list, sn) {
			return true
		}
	}
	return strings.HasPrefix(sn, "date_")
}

// digitString: a string schema that holds a number (epoch seconds as
// text): its pattern is digits or its format names an integer.
func digitString(s *apisurface.Schema) bool {
	if typeOf(s) != "string" {
		return false
	}
	switch strings.ToLower(s.Format) {
	case "int32", "int64", "integer", "unix-time", "timestamp":
		return true
	}
	return s.Pattern == `^\d+$` || s.Pattern == `^[0-9]+$` || s.Pattern == `\d+`
}

// timeClass lists, per canonical timestamp field, its exact vocabulary and
// the substrings that mark it in other names.
var timeClass = []struct {
	field string
	exact []string
	subs  []string
}{
	{"last_used_at", lastUsedFields, []string{"last_used", "last_access", "last_seen", "accessed", "used_at", "last_activ", "last_auth"}},
	{"expires_at", expiresFields, []string{"expir", "valid_until", "valid_before", "not_after", "valid_to"}},
	{"last_rotated_at", rotatedFields, []string{"rotat"}},
	{"updated_at", updatedFields, []string{"updat", "modif"}},
	{"created_at", createdFields, []string{"creat", "issued", "inserted"}},
}

// mapRecord builds the canonical map for one stream's records.
func mapRecord(r *record, kind nhi.Kind, collection string, strictOver, dropOver []string) (fields []fieldPlan, notes []string) {
	used := map[string]bool{}
	forced := func(name string) bool { return slices.Contains(strictOver, name) }
	add := func(fp fieldPlan) {
		if slices.Contains(dropOver, fp.field) {
			notes = append(notes, fmt.Sprintf("%s: dropped by repair (validation found it empty or invalid)", fp.field))
			return
		}
		fields = append(fields, fp)
		for _, x := range fp.reads {
			used[x] = true
		}
	}
	strictNote := func(a accessPath) string {
		if a.strict() {
			return "required by the schema: read strictly so a rename fails loudly"
		}
		return "optional in the schema: read with a guard, missing is null"
	}

	// external_id: the identifying property, always read strictly (a
	// record without it cannot be stored; failing it is loud).
	id := idField(r, "", collection)
	if id != "" {
		a := top(r, id)
		add(fieldPlan{field: "external_id", expr: a.direct("r"), reads: []string{id}, strict: true, conf: 0.9,
			evidence: []string{fmt.Sprintf("property %q identifies the records (%s)", id, typeOf(r.prop(id)))}})
	}

	// name: the first name-like property the schema requires, else a
	// chain of the optional ones.
	var optNames []string
	for _, want := range nameFields {
		name, s := r.find([]string{want})
		if name == "" || used[name] || !scalarType(s) {
			continue
		}
		if r.req[name] || forced(name) {
			a := top(r, name)
			add(fieldPlan{field: "name", expr: a.direct("r"), reads: []string{name}, strict: true, conf: 0.85,
				evidence: []string{fmt.Sprintf("property %q names the record; %s", name, strictNote(a))}})
			optNames = nil
			break
		}
		if len(optNames) < 3 {
			optNames = append(optNames, name)
		}
	}
	if len(optNames) > 0 {
		expr := "null"
		for i := len(optNames) - 1; i >= 0; i-- {
			sel := sel(optNames[i], true)
			expr = "r" + sel + ".orValue(" + expr + ")"
		}
		add(fieldPlan{field: "name", expr: expr, reads: optNames, conf: 0.75,
			evidence: []string{fmt.Sprintf("optional name-like properties %s, first present wins", strings.Join(quoteAll(optNames), ", "))}})
	}

	// Timestamps.
	for _, tc := range timeClass {
		name := ""
		for _, want := range tc.exact {
			if n, s := r.find([]string{want}); n != "" && !used[n] && isTimestamp(want, s) {
				name = n
				break
			}
		}
		if name == "" {
			for _, p := range r.props {
				sn := names.Snake(p.Name)
				if !used[p.Name] && containsAny(sn, tc.subs...) && isTimestamp(sn, p.Schema) {
					name = p.Name
					break
				}
			}
		}
		if name == "" {
			continue
		}
		s := r.prop(name)
		a := top(r, name)
		expr := a.value("r", forced(name))
		how := "passes through (the runtime reads RFC 3339, dates and epoch numbers)"
		if digitString(s) {
			expr = a.guarded("r", forced(name), func(v string) string { return "int(" + v + ")" })
			how = "a string of digits: converted with int() to epoch seconds"
		}
		add(fieldPlan{field: tc.field, expr: expr, reads: []string{name}, strict: a.strict() || forced(name), conf: 0.85,
			evidence: []string{fmt.Sprintf("property %q (%s%s) %s; %s", name, typeOf(s), fmtSuffix(s), how, strictNote(a))}})
	}

	// scopes.
	scopeWant := scopeFields
	if kind == nhi.OAuthGrant {
		scopeWant = append(slices.Clone(scopeFields), "scope_id", "scope_name")
	}
	if name, s := r.find(scopeWant); name != "" && !used[name] {
		a := top(r, name)
		switch t := typeOf(s); {
		case t == "string" || (t == "array" && scalarType(s.Items)):
			add(fieldPlan{field: "scopes", expr: a.value("r", forced(name)), reads: []string{name}, strict: a.strict(), conf: 0.8,
				evidence: []string{fmt.Sprintf("property %q (%s) lists what the identity may do", name, t)}})
		case t == "array" && typeOf(s.Items) == "object":
			in := newRecord(s.Items)
			if n, _ := in.find([]string{"name", "scope", "value", "id"}); n != "" {
				add(fieldPlan{field: "scopes", expr: a.guarded("r", forced(name), func(v string) string {
					return v + ".map(x, x" + sel(n, true) + ".orValue(\"\"))"
				}), reads: []string{name}, strict: a.strict(), conf: 0.7,
					evidence: []string{fmt.Sprintf("property %q lists objects; their %q is the scope", name, n)}})
			}
		}
	}

	// owner and creator: references to the humans behind the identity.
	for _, ref := range []struct {
		field string
		want  []string
	}{{"creator", creatorFields}, {"owner", ownerFields}} {
		name, s := r.find(ref.want)
		if name == "" || used[name] {
			continue
		}
		a := top(r, name)
		switch t := typeOf(s); {
		case t == "string" || t == "integer":
			add(fieldPlan{field: ref.field, expr: a.value("r", forced(name)), reads: []string{name}, strict: a.strict(), conf: 0.7,
				evidence: []string{fmt.Sprintf("property %q holds a user id (a human_user reference, %s edge)", name, edgeOf(ref.field))}})
		case t == "object":
			if idp := propOf(s, "id"); idp != nil && scalarType(idp) {
				ap := a.then(s, "id")
				add(fieldPlan{field: ref.field, expr: ap.value("r", false), reads: []string{name}, strict: ap.strict(), conf: 0.65,
					evidence: []string{fmt.Sprintf("property %q is a reference object; its id names a human_user (%s edge)", name, edgeOf(ref.field))}})
			}
		}
	}

	// status.
	if fp, ok := statusMapping(r, forced, used); ok {
		add(fp)
	}

	// credential_type follows from the kind itself.
	switch kind {
	case nhi.APIKey, nhi.Secret, nhi.SSHKey, nhi.DeployKey:
		add(fieldPlan{field: "credential_type", expr: `"static"`, conf: 0.7,
			evidence: []string{fmt.Sprintf("%s is a long-lived static credential", withArticle(string(kind)))}})
	case nhi.Certificate:
		add(fieldPlan{field: "credential_type", expr: `"certificate"`, conf: 0.9,
			evidence: []string{"a certificate authenticates by its key pair"}})
	}

	// attributes: a few safe, useful extras (type, the URL a webhook
	// delivers to, a link to the record, a key's fingerprint).
	var attrs []string
	var attrReads []string
	for _, want := range [][]string{
		{"type", "kind", "sign_on_mode", "key_type", "kty"},
		{"url", "endpoint_url", "target_url", "callback_url", "delivery_url", "webhook_url", "uri"},
		{"fingerprint", "sha1_fingerprint", "fingerprint_sha256"},
		{"html_url", "self", "href", "web_url"},
	} {
		name, s := r.find(want)
		if name == "" || used[name] || !scalarType(s) {
			// One level down: a webhook's URL often sits in its delivery
			// or config object.
			if want[0] == "url" && kind == nhi.Webhook {
				if n, sub, ok := nestedURL(r, want); ok && !used[n] {
					attrs = append(attrs, strconv.Quote(names.Snake(sub))+": "+top(r, n).then(r.prop(n), sub).value("r", false))
					attrReads = append(attrReads, n)
				}
			}
			continue
		}
		attrs = append(attrs, strconv.Quote(names.Snake(name))+": "+top(r, name).value("r", false))
		attrReads = append(attrReads, name)
	}
	// Properties repair asked to read strictly that no field reads: kept
	// in attributes as a contract, so their drift fails the run.
	for _, name := range strictOver {
		if used[name] || slices.Contains(attrReads, name) || r.prop(name) == nil {
			continue
		}
		attrs = append(attrs, strconv.Quote(names.Snake(name))+": "+top(r, name).direct("r"))
		attrReads = append(attrReads, name)
	}
	if len(attrs) > 0 {
		add(fieldPlan{field: "attributes", expr: "{" + strings.Join(attrs, ", ") + "}", reads: attrReads, conf: 0.6,
			evidence: []string{"vendor extras kept for reviewers: " + strings.Join(quoteAll(attrReads), ", ")}})
	}
	return fields, notes
}

func edgeOf(field string) string {
	if field == "creator" {
		return "CREATED_BY"
	}
	return "OWNED_BY"
}

func quoteAll(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = strconv.Quote(x)
	}
	return out
}

func fmtSuffix(s *apisurface.Schema) string {
	if s != nil && s.Format != "" {
		return " " + s.Format
	}
	return ""
}

func scalarType(s *apisurface.Schema) bool {
	switch typeOf(s) {
	case "string", "integer", "number", "boolean":
		return true
	case "":
		return s != nil && len(s.Properties) == 0 && s.Items == nil
	}
	return false
}

// statusMapping maps a status enum, or a boolean flag, to the canonical
// statuses. Vendor values the vocabulary does not know map to null: a
// "pending" says nothing about whether the identity can act.
func statusMapping(r *record, forced func(string) bool, used map[string]bool) (fieldPlan, bool) {
	if name, s := r.find(statusFields); name != "" && !used[name] {
		enum := enumStrings(s)
		buckets := map[nhi.Status][]string{}
		var unknown []string
		for _, v := range enum {
			if st, ok := statusWords[strings.ToLower(v)]; ok {
				buckets[st] = append(buckets[st], v)
			} else {
				unknown = append(unknown, v)
			}
		}
		if len(buckets) > 0 {
			a := top(r, name)
			expr := a.guarded("r", forced(name), func(v string) string {
				var b strings.Builder
				for _, st := range statusOrder {
					vals := buckets[st]
					if len(vals) == 0 {
						continue
					}
					b.WriteString(v + " in " + celList(vals) + " ? dyn(" + strconv.Quote(string(st)) + ") : ")
				}
				b.WriteString("null")
				return b.String()
			})
			ev := []string{fmt.Sprintf("property %q enum %v", name, enum)}
			for _, st := range statusOrder {
				if len(buckets[st]) > 0 {
					ev = append(ev, fmt.Sprintf("%v → %s", buckets[st], st))
				}
			}
			if len(unknown) > 0 {
				ev = append(ev, fmt.Sprintf("%v → null (no lifecycle meaning)", unknown))
			}
			return fieldPlan{field: "status", expr: expr, reads: []string{name}, strict: a.strict() || forced(name), conf: 0.8, evidence: ev}, true
		}
	}
	for _, b := range []struct {
		want     []string
		yes, no  nhi.Status
		evidence string
	}{
		{revokedBoolFields, nhi.Revoked, nhi.Active, "true means revoked"},
		{expiredBoolFields, nhi.Expired, nhi.Active, "true means expired"},
		{disableBoolFields, nhi.Disabled, nhi.Active, "true means disabled"},
		{activeBoolFields, nhi.Active, nhi.Disabled, "true means active"},
	} {
		name, s := r.find(b.want)
		if name == "" || used[name] || typeOf(s) != "boolean" {
			continue
		}
		a := top(r, name)
		expr := a.guarded("r", forced(name), func(v string) string {
			return v + " == true ? " + strconv.Quote(string(b.yes)) + " : " + strconv.Quote(string(b.no))
		})
		return fieldPlan{field: "status", expr: expr, reads: []string{name}, strict: a.strict() || forced(name), conf: 0.7,
			evidence: []string{fmt.Sprintf("boolean %q: %s", name, b.evidence)}}, true
	}
	return fieldPlan{}, false
}

func celList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// nestedURL finds a URL-like scalar one level down, in an object property.
func nestedURL(r *record, want []string) (string, string, bool) {
	for _, p := range r.props {
		if typeOf(p.Schema) != "object" {
			continue
		}
		for _, w := range want {
			for _, sp := range p.Schema.Properties {
				if names.Snake(sp.Name) == w && scalarType(sp.Schema) {
					return p.Name, sp.Name, true
				}
			}
		}
	}
	return "", "", false
}

func withArticle(w string) string {
	if w != "" && strings.ContainsRune("aeiou", rune(w[0])) {
		return "an " + w
	}
	return "a " + w
}

// bareIDs says whether a list's records are bare identifiers (strings or
// numbers), each its own id.
func bareIDs(items *apisurface.Schema) bool {
	if items == nil || len(items.Properties) > 0 {
		return false
	}
	switch typeOf(items) {
	case "string", "integer":
		return true
	}
	return false
}

// bareMapping maps a list of bare identifiers: the record is its id.
func bareMapping(items *apisurface.Schema) []fieldPlan {
	ev := []string{fmt.Sprintf("the records are bare %ss: each is its own identifier", typeOf(items))}
	return []fieldPlan{{field: "external_id", expr: "r", strict: true, conf: 0.8, evidence: ev}}
}
