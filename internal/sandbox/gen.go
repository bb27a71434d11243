package sandbox

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"github.com/spindlehq/spindle/internal/names"
	"math"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/brianvoe/gofakeit/v7"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/nhi"
)

// Generation is schema-driven first (types, formats, enums, bounds,
// patterns, required, nullable) and meaning-driven second: a field's name
// says what realistic value it holds (timestamps from a per-record life
// plan, owner references to the sandbox's own users, scopes from the
// doc's vocabulary). No vendor's names appear here.

// maxDepth bounds nesting; below it only required properties are filled.
const maxDepth = 8

// recordCtx is what a value inside one record shares with its siblings.
type recordCtx struct {
	plan *lifePlan
	list *list // nil outside list records (envelopes, errors, objects)
}

// lifePlan is one NHI's life: created, then (maybe) used, updated,
// rotated, and (maybe) expiring, all consistent with each other and the
// sandbox's now.
type lifePlan struct {
	created, updated, lastUsed, expires, rotated time.Time
	neverUsed, neverExpires, expired             bool
	owner                                        int // index into the users list; -1: no owner
}

// plan makes record idx's life plan. The never-used and expiry classes
// cycle by index (phased per list), so every list of five or more records
// has some of each.
func (sb *Sandbox) plan(h uint64, idx, k1, k2, k3 int, floor time.Time) *lifePlan {
	f := faker(hashOf(h, "plan"))
	now := sb.now
	p := &lifePlan{owner: f.IntN(1 << 30)}
	if floor.IsZero() || !floor.Before(now) {
		age := time.Duration(30*24+f.IntN(900*24))*time.Hour + time.Duration(f.IntN(3600))*time.Second
		p.created = now.Add(-age)
	} else {
		p.created = floor.Add(time.Duration(f.Float64() * float64(now.Sub(floor)) / 2)).Truncate(time.Second)
	}
	between := func(a, b time.Time) time.Time {
		return a.Add(time.Duration(f.Float64() * float64(b.Sub(a)))).Truncate(time.Second)
	}
	p.updated = between(p.created, now)
	p.rotated = between(p.created, now)
	switch (idx + k2) % 4 {
	case 0:
		p.expired = true
		p.expires = between(p.created, now)
		if p.expires.Equal(now) {
			p.expires = now.Add(-time.Second)
		}
	case 1:
		p.neverExpires = true
	default:
		p.expires = now.Add(time.Duration(1+f.IntN(400)) * 24 * time.Hour)
	}
	p.neverUsed = (idx+k1)%5 == 0
	if !p.neverUsed {
		end := now
		if p.expired {
			end = p.expires // nothing authenticates with an expired credential
		}
		p.lastUsed = between(p.created, end)
	}
	if (idx+k3)%9 == 4 {
		p.owner = -1
	}
	return p
}

// recordValue generates record i of l under scope from schema (the list's
// record schema, or an item response's), with its id and any drift.
func (sb *Sandbox) recordValue(l *list, scope string, i int, schema *apisurface.Schema, ids []idVal) any {
	if l.scalar && i < len(ids) && (schema == nil || schema == l.records) {
		return ids[i].v // a list of identifiers: the record is its id
	}
	h := hashOf(sb.seed, "rec", l.route.key, scope, strconv.Itoa(i))
	rc := &recordCtx{plan: sb.plan(h, i, l.k1, l.k2, l.k3, time.Time{}), list: l}
	v, _ := sb.value(schema, "", h, rc, 0, true)
	o, ok := v.(*object)
	if !ok {
		return v
	}
	if l.idField != "" && i < len(ids) {
		o.set(l.idField, ids[i].v)
	}
	for _, d := range l.drift {
		d.apply(o)
	}
	return o
}

// bodyValue generates a value outside any list record (envelopes, object
// operations, error bodies).
func (sb *Sandbox) bodyValue(s *apisurface.Schema, h uint64) any {
	rc := &recordCtx{plan: sb.plan(h, int(h%20), 0, 0, 0, time.Time{})}
	v, _ := sb.value(s, "", h, rc, 0, true)
	return v
}

// value generates a value for s; name is the property's name (meaning),
// h seeds it. ok is false when the property should be absent (an
// optional last-used of a never-used key, say).
func (sb *Sandbox) value(s *apisurface.Schema, name string, h uint64, rc *recordCtx, depth int, required bool) (any, bool) {
	sn := sb.names.snake(name)
	f := faker(h)
	if s == nil {
		return sb.strMeaning(sn, f, rc), true
	}
	if len(s.OneOf) > 0 {
		return sb.oneOfValue(s, name, h, rc, depth, required)
	}
	typ := effType(s)
	if typ == "null" {
		return nil, true
	}
	if s.Circular && len(s.Properties) == 0 && s.Items == nil {
		if s.Nullable {
			return nil, true
		}
		return zeroOf(typ), true
	}
	// Timestamps follow the record's life plan.
	if tk := timeKindOf(sn, s, typ); tk != tkNone && len(s.Enum) == 0 {
		t, present := rc.plan.at(tk, f, sb.now)
		if !present {
			switch {
			case s.Nullable:
				return nil, true
			case !required:
				return nil, false
			case tk == tkLastUsed:
				t = rc.plan.created // forced to have one: used once, at creation
			default:
				t = sb.now.AddDate(100, 0, 0) // forced expiry: far future
			}
		}
		return timeValue(s, typ, sn, t), true
	}
	if len(s.Enum) > 0 {
		return sb.pickEnum(s, sn, f, rc), true
	}
	owner := rc.list != nil && sb.users != nil && isOwnerRef(sn)
	if owner && typ != "object" && typ != "array" {
		if rc.plan.owner < 0 && s.Nullable {
			return nil, true // an orphaned NHI: nobody owns it
		}
		if v, ok := sb.userRef(s, rc.plan.owner); ok {
			return v, true
		}
	}
	switch typ {
	case "object":
		ownerIdx := -1
		if owner {
			if rc.plan.owner < 0 && s.Nullable {
				return nil, true
			}
			ownerIdx = max(rc.plan.owner, 0)
		}
		return sb.objectValue(s, h, rc, depth, ownerIdx), true
	case "array":
		return sb.arrayValue(s, sn, h, f, rc, depth), true
	case "integer":
		return intValue(s, sn, f), true
	case "number":
		return numberValue(s, sn, f), true
	case "boolean":
		return boolValue(sn, f, rc), true
	default:
		return sb.str(s, sn, f, rc), true
	}
}

// oneOfValue picks an alternative by h; when what it generates does not
// conform (a pattern the generator cannot satisfy, say), the next one.
func (sb *Sandbox) oneOfValue(s *apisurface.Schema, name string, h uint64, rc *recordCtx, depth int, required bool) (any, bool) {
	var alts []*apisurface.Schema
	for _, a := range s.OneOf {
		if a != nil {
			alts = append(alts, mergeAlt(s, a))
		}
	}
	if len(alts) == 0 {
		return sb.value(mergeAlt(s, nil), name, h, rc, depth, required)
	}
	start := int(h % uint64(len(alts)))
	var first any
	var firstOK bool
	for k := range alts {
		alt := alts[(start+k)%len(alts)]
		v, ok := sb.value(alt, name, h, rc, depth, required)
		if k == 0 {
			first, firstOK = v, ok
		}
		if !ok || sb.conforms(alt, v) {
			return v, ok
		}
	}
	return first, firstOK
}

// effType is the schema's type, inferred when the doc leaves it out.
func effType(s *apisurface.Schema) string {
	if s.Type != "" {
		return s.Type
	}
	switch {
	case len(s.Properties) > 0 || s.AdditionalProperties != nil:
		return "object"
	case s.Items != nil:
		return "array"
	case len(s.Enum) > 0:
		return jsonType(s.Enum[0])
	case s.Example != nil:
		return jsonType(s.Example)
	}
	return "string"
}

func jsonType(v any) string {
	switch t := v.(type) {
	case map[string]any, *object:
		return "object"
	case []any:
		return "array"
	case bool:
		return "boolean"
	case float64:
		if t == math.Trunc(t) {
			return "integer"
		}
		return "number"
	case int, int64:
		return "integer"
	}
	return "string"
}

func zeroOf(typ string) any {
	switch typ {
	case "array":
		return []any{}
	case "integer":
		return int64(0)
	case "number":
		return float64(0)
	case "boolean":
		return false
	case "string":
		return ""
	}
	return &object{}
}

func (sb *Sandbox) objectValue(s *apisurface.Schema, h uint64, rc *recordCtx, depth, ownerIdx int) any {
	o := &object{}
	if len(s.Properties) == 0 {
		if s.AdditionalProperties != nil && depth <= maxDepth {
			// A map: a few entries with word keys.
			f := faker(h)
			n := 1 + f.IntN(3)
			for i := 0; i < n; i++ {
				k := names.Slug(f.Noun())
				if _, dup := o.get(k); dup || k == "" {
					continue
				}
				v, ok := sb.value(s.AdditionalProperties, k, hashOf(h, k), rc, depth+1, true)
				if ok {
					o.set(k, v)
				}
			}
			return o
		}
		if m, ok := s.Example.(map[string]any); ok {
			if e, ok := fromJSON(m).(*object); ok {
				return e
			}
		}
		return o
	}
	required := map[string]bool{}
	for _, r := range s.Required {
		required[r] = true
	}
	exMap, _ := s.Example.(map[string]any)
	for _, p := range s.Properties {
		if p.Schema != nil && p.Schema.WriteOnly {
			continue // never in a response
		}
		p.Schema = withExample(p.Schema, exMap[p.Name])
		req := required[p.Name]
		ph := hashOf(h, p.Name)
		if !req && !keepOptional(sb.names.snake(p.Name), ph, depth) {
			continue
		}
		if ownerIdx >= 0 && isIDName(sb.names.snake(p.Name)) {
			if v, ok := sb.userRef(p.Schema, ownerIdx); ok {
				o.set(p.Name, v)
				continue
			}
		}
		v, ok := sb.value(p.Schema, p.Name, ph, rc, depth+1, req)
		if ok {
			o.set(p.Name, v)
		}
	}
	// Docs sometimes require a property they never declare (lost in an
	// allOf): it is present, with a value of its meaning.
	for _, r := range s.Required {
		if _, ok := o.get(r); !ok && !hasProp(s, r) {
			v, _ := sb.value(nil, r, hashOf(h, r), rc, depth+1, true)
			o.set(r, v)
		}
	}
	return o
}

func (sb *Sandbox) arrayValue(s *apisurface.Schema, sn string, h uint64, f *gofakeit.Faker, rc *recordCtx, depth int) any {
	items := s.Items
	ex, _ := s.Example.([]any)
	if items == nil {
		if ex != nil {
			v, _ := fromJSON(ex).([]any)
			return v
		}
		items = &apisurface.Schema{Type: "string"}
	}
	if len(ex) > 0 {
		items = withExample(items, ex[0])
	}
	// Lists nest: 1–3 elements near the top, fewer deeper down, so a page
	// of a deeply nested schema stays the size a vendor's would be.
	lo, hi := 1, 3
	switch {
	case depth >= 4:
		lo, hi = 0, 1
	case depth >= 2:
		lo, hi = 1, 2
	}
	if s.MinItems != nil {
		lo = max(lo, *s.MinItems)
		hi = max(hi, lo)
	}
	if s.MaxItems != nil {
		hi = min(hi, *s.MaxItems)
		lo = min(lo, hi)
	}
	hi = min(hi, max(lo, 20))
	n := lo + f.IntN(hi-lo+1)
	if n == 0 {
		return []any{}
	}
	single := names.Singular(sn)
	// Distinct picks from a vocabulary: the items' enum, or for scopes and
	// permissions the doc's oauth scopes.
	var vocab []any
	switch {
	case len(items.Enum) > 0:
		for _, e := range items.Enum {
			if e != nil {
				vocab = append(vocab, fromJSON(e))
			}
		}
	case isScopes(sn) && effType(items) == "string" && items.Format == "" && items.Pattern == "":
		for _, v := range sb.scopeVocab() {
			vocab = append(vocab, v)
		}
	}
	if len(vocab) > 0 {
		if len(vocab) >= lo { // enough for distinct picks
			n = min(n, len(vocab))
			idx := make([]int, len(vocab))
			for i := range idx {
				idx[i] = i
			}
			f.ShuffleInts(idx)
			idx = idx[:n]
			slices.Sort(idx)
			out := make([]any, n)
			for i, j := range idx {
				out[i] = vocab[j]
			}
			return out
		}
	}
	out := make([]any, 0, n)
	for i := 0; i < n; i++ {
		eh := hashOf(h, strconv.Itoa(i))
		erc := rc
		if effType(items) == "object" && rc.list != nil {
			// Each element is its own sub-entity, born after its record.
			sub := sb.plan(eh, i, 0, 1, 0, rc.plan.created)
			if isOwnerRef(sn) {
				sub.owner = rc.plan.owner + i
			}
			erc = &recordCtx{plan: sub, list: rc.list}
		} else if isOwnerRef(sn) && rc.list != nil && sb.users != nil {
			if v, ok := sb.userRef(items, rc.plan.owner+i); ok {
				out = append(out, v)
				continue
			}
		}
		if v, ok := sb.value(items, single, eh, erc, depth+1, true); ok {
			out = append(out, v)
		}
	}
	return out
}

// withExample lends s an example from its parent's example (an object
// example documents its properties too), without changing the surface.
func withExample(s *apisurface.Schema, ex any) *apisurface.Schema {
	if s == nil || ex == nil || s.Example != nil {
		return s
	}
	c := *s
	c.Example = ex
	return &c
}

// userRef is the id of user idx (modulo the user count), typed for s, or
// false when it would not conform to s.
func (sb *Sandbox) userRef(s *apisurface.Schema, idx int) (any, bool) {
	if sb.users == nil || s == nil {
		return nil, false
	}
	ids := sb.ids(sb.users, "")
	if len(ids) == 0 {
		return nil, false
	}
	id := ids[max(idx, 0)%len(ids)]
	var v any = id.s
	switch s.Type {
	case "integer", "number":
		n, err := strconv.ParseInt(id.s, 10, 64)
		if err != nil {
			return nil, false
		}
		v = n
	case "string", "":
	default:
		return nil, false
	}
	if !sb.conforms(s, v) {
		return nil, false
	}
	return v, true
}

// scopeVocab is the doc's oauth scopes, or a minimal generic set.
func (sb *Sandbox) scopeVocab() []string {
	if len(sb.vocab) > 0 {
		return sb.vocab
	}
	return []string{"read", "write"}
}

func (sb *Sandbox) pickEnum(s *apisurface.Schema, sn string, f *gofakeit.Faker, rc *recordCtx) any {
	var vals []any
	for _, e := range s.Enum {
		if e != nil {
			vals = append(vals, fromJSON(e))
		}
	}
	if len(vals) == 0 {
		return nil
	}
	if strings.Contains(sn, "status") || strings.Contains(sn, "state") {
		find := func(want string) any {
			for _, v := range vals {
				if str, ok := v.(string); ok && strings.EqualFold(str, want) {
					return v
				}
			}
			return nil
		}
		// Status agrees with the life plan where the enum lets it.
		if rc.plan.expired {
			if v := find("expired"); v != nil {
				return v
			}
		}
		if v := find("active"); v != nil && f.IntN(10) < 7 {
			return v
		}
		if v := find("enabled"); v != nil && f.IntN(10) < 7 {
			return v
		}
	}
	return vals[f.IntN(len(vals))]
}

// Timestamps.

type timeKind int

const (
	tkNone timeKind = iota
	tkCreated
	tkUpdated
	tkLastUsed
	tkExpires
	tkRotated
	tkOther
)

func (p *lifePlan) at(k timeKind, f *gofakeit.Faker, now time.Time) (time.Time, bool) {
	switch k {
	case tkCreated:
		return p.created, true
	case tkUpdated:
		return p.updated, true
	case tkLastUsed:
		return p.lastUsed, !p.neverUsed
	case tkExpires:
		return p.expires, !p.neverExpires
	case tkRotated:
		return p.rotated, true
	}
	return p.created.Add(time.Duration(f.Float64() * float64(now.Sub(p.created)))).Truncate(time.Second), true
}

// timeKindOf says whether a field holds a timestamp, and which one.
func timeKindOf(sn string, s *apisurface.Schema, typ string) timeKind {
	format := strings.ToLower(s.Format)
	isTime := false
	switch typ {
	case "string":
		isTime = format == "date-time" || format == "date" || (format == "" && s.Pattern == "" && timeName(sn))
	case "integer", "number":
		// By name, or by a description that calls it Unix time.
		d := strings.ToLower(s.Description)
		isTime = unixName(sn) || strings.Contains(d, "unix time") || strings.Contains(d, "unix timestamp") ||
			strings.Contains(d, "epoch") || strings.Contains(d, "seconds since")
	}
	if !isTime {
		return tkNone
	}
	has := func(subs ...string) bool { return containsAny(sn, subs...) }
	switch {
	case has("last_used", "last_access", "last_seen", "last_login", "last_auth", "last_activ", "accessed", "used_at", "last_sign_in"):
		return tkLastUsed
	case has("expir", "valid_until", "valid_before", "not_after", "valid_to"):
		return tkExpires
	case has("rotat"):
		return tkRotated
	case has("updat", "modif", "changed"):
		return tkUpdated
	case has("creat", "insert", "issued", "regist", "added", "install", "not_before", "valid_from", "valid_after", "valid_since", "start", "since"):
		return tkCreated
	}
	return tkOther
}

func timeName(sn string) bool {
	for _, suf := range []string{"_at", "_on", "_time", "_date", "_timestamp", "_datetime"} {
		if strings.HasSuffix(sn, suf) {
			return true
		}
	}
	switch sn {
	case "created", "updated", "modified", "expires", "expiry", "expiration", "expiration_date",
		"last_used", "last_login", "last_seen", "last_updated", "last_modified", "last_rotated",
		"timestamp", "date", "not_before", "not_after":
		return true
	}
	return strings.HasPrefix(sn, "date_")
}

func unixName(sn string) bool {
	for _, suf := range []string{"_at", "_time", "_timestamp", "_at_ms", "_time_ms"} {
		if strings.HasSuffix(sn, suf) {
			return true
		}
	}
	switch sn {
	case "created", "updated", "expires", "expiration", "last_used", "last_active", "last_seen", "last_login", "timestamp":
		return true
	}
	return strings.HasPrefix(sn, "date_")
}

func timeValue(s *apisurface.Schema, typ, sn string, t time.Time) any {
	switch typ {
	case "integer":
		if strings.HasSuffix(sn, "_ms") || strings.Contains(sn, "millis") {
			return t.UnixMilli()
		}
		return t.Unix()
	case "number":
		return float64(t.Unix())
	}
	if strings.EqualFold(s.Format, "date") {
		return t.UTC().Format(time.DateOnly)
	}
	return t.UTC().Format(time.RFC3339)
}

// Scalars.

func intValue(s *apisurface.Schema, sn string, f *gofakeit.Faker) any {
	lo, hi := int64(0), int64(1000)
	has := func(subs ...string) bool { return containsAny(sn, subs...) }
	switch {
	case isIDName(sn):
		lo, hi = 1000, 9999999
	case has("port"):
		lo, hi = 1024, 65535
	case has("count", "total", "num", "size", "length", "quantity"):
		lo, hi = 0, 100
	case has("priority", "level", "weight", "order", "position", "rank"):
		lo, hi = 1, 10
	case has("ttl", "second", "timeout", "duration", "interval", "expires_in"):
		lo, hi = 30, 86400
	}
	if ex, ok := number(fromJSON(s.Example)); ok && ex == math.Trunc(ex) && math.Abs(ex) < 1e15 {
		e := int64(ex)
		spread := max(5, abs64(e)/10)
		lo, hi = e-spread, e+spread
		if e >= 0 && lo < 0 {
			lo = 0
		}
	}
	if strings.EqualFold(s.Format, "int32") {
		lo, hi = max(lo, math.MinInt32), min(hi, math.MaxInt32)
	}
	if s.Minimum != nil && *s.Minimum > -1e15 {
		m := int64(math.Ceil(*s.Minimum))
		if lo < m {
			lo = m
		}
		if hi < lo {
			hi = lo + 100
		}
	}
	if s.Maximum != nil && *s.Maximum < 1e15 {
		m := int64(math.Floor(*s.Maximum))
		if hi > m {
			hi = m
		}
		if lo > hi {
			lo = hi - 100
			if s.Minimum != nil && float64(lo) < *s.Minimum {
				lo = hi
			}
		}
	}
	if lo > hi {
		lo = hi
	}
	return lo + int64(f.Uint64()%uint64(hi-lo+1))
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func numberValue(s *apisurface.Schema, sn string, f *gofakeit.Faker) any {
	lo, hi := 0.0, 1000.0
	if strings.Contains(sn, "ratio") || strings.Contains(sn, "rate") || strings.Contains(sn, "percent") {
		lo, hi = 0, 1
	}
	if ex, ok := number(fromJSON(s.Example)); ok && math.Abs(ex) < 1e15 {
		spread := max(1, math.Abs(ex)/10)
		lo, hi = ex-spread, ex+spread
		if ex >= 0 && lo < 0 {
			lo = 0
		}
	}
	if s.Minimum != nil && *s.Minimum > lo {
		lo = *s.Minimum
		hi = max(hi, lo+100)
	}
	if s.Maximum != nil && *s.Maximum < hi {
		hi = *s.Maximum
		lo = min(lo, hi)
	}
	v := math.Round((lo+f.Float64()*(hi-lo))*100) / 100
	return math.Min(math.Max(v, lo), hi)
}

func boolValue(sn string, f *gofakeit.Faker, rc *recordCtx) bool {
	has := func(subs ...string) bool { return containsAny(sn, subs...) }
	switch {
	case sn == "expired" || sn == "is_expired":
		return rc.plan.expired
	case has("disabled", "deleted", "revoked", "suspended", "archived", "locked", "blocked", "expired"):
		return f.IntN(10) < 2
	case has("enabled", "active", "valid", "verified", "confirmed", "visible"):
		return f.IntN(10) < 8
	}
	return f.Bool()
}

// Strings.

// str generates a string for s: format first, then the field's meaning or
// the doc's example, fitted to length and pattern.
func (sb *Sandbox) str(s *apisurface.Schema, sn string, f *gofakeit.Faker, rc *recordCtx) string {
	v := sb.strRaw(s, sn, f, rc)
	return sb.fit(s, v, f)
}

func (sb *Sandbox) strRaw(s *apisurface.Schema, sn string, f *gofakeit.Faker, rc *recordCtx) string {
	switch strings.ToLower(s.Format) {
	case "date-time":
		t, _ := rc.plan.at(tkOther, f, sb.now)
		return t.UTC().Format(time.RFC3339)
	case "date":
		t, _ := rc.plan.at(tkOther, f, sb.now)
		return t.UTC().Format(time.DateOnly)
	case "time":
		return fmt.Sprintf("%02d:%02d:%02d", f.IntN(24), f.IntN(60), f.IntN(60))
	case "email", "idn-email":
		return email(f)
	case "uri", "url", "iri", "uri-reference", "iri-reference":
		return synthURL(f)
	case "hostname", "idn-hostname":
		return host(f)
	case "ipv4":
		return docIPv4(f)
	case "ipv6":
		return docIPv6(f)
	case "uuid":
		return f.UUID()
	case "byte":
		b := make([]byte, 12)
		for i := range b {
			b[i] = byte(f.IntN(256))
		}
		return base64.StdEncoding.EncodeToString(b)
	case "password":
		return secretValue(f)
	case "int32", "int64", "integer":
		return strconv.Itoa(f.IntN(1000000))
	}
	ex, _ := s.Example.(string)
	if isIDName(sn) && tokenLike(ex) {
		return mutate(ex, f)
	}
	if v := strongMeaning(sn, f); v != "" {
		return v
	}
	if ex != "" && nameField(sn) && !strings.ContainsAny(ex, " \t\n") && !tokenLike(ex) {
		// A name's example shows the vendor's naming style, not a
		// constant: records named alike would hide a mapping that keys
		// on the name.
		return ex + "-" + strconv.Itoa(2+f.IntN(98))
	}
	if ex != "" {
		if v, ok := exampleVariant(ex, f); ok {
			return v
		}
	}
	return sb.strMeaning(sn, f, rc)
}

// nameField says whether a field holds a record's name, which differs
// from record to record (unlike a type tag, whose example is a constant).
func nameField(sn string) bool {
	switch sn {
	case "name", "display_name", "full_name", "title", "label", "slug", "nickname", "alias", "username", "login", "handle":
		return true
	}
	return strings.HasSuffix(sn, "_name") && !strings.HasSuffix(sn, "type_name")
}

// idString makes a string id for the id field (name, schema s): by its
// format, pattern or example when it has one, else by its meaning (a
// name-keyed list gets names), else an opaque token.
func (sb *Sandbox) idString(s *apisurface.Schema, name string, h uint64) string {
	f := faker(h)
	sn := names.Snake(name)
	if s == nil {
		s = &apisurface.Schema{Type: "string"}
	}
	if s.Format != "" || s.Pattern != "" || tokenLike(fmt.Sprint(s.Example)) || !isIDName(sn) {
		rc := &recordCtx{plan: sb.plan(h, 0, 0, 0, 0, time.Time{})}
		if !isIDName(sn) && s.Format == "" && s.Pattern == "" {
			sn = "id" // a name-keyed id: keep it a name, never an example sentence
			if v := sb.strMeaning(names.Snake(name), f, rc); v != "" {
				return sb.fit(s, v, f)
			}
		}
		return sb.str(s, sn, f, rc)
	}
	return sb.fit(s, alnum(f, 12), f)
}

// fit makes v meet s's length bounds and pattern, generating from the
// pattern when v does not match it.
func (sb *Sandbox) fit(s *apisurface.Schema, v string, f *gofakeit.Faker) string {
	if s == nil {
		return v
	}
	fitLen := func(v string) string {
		r := []rune(v)
		if s.MaxLength != nil && len(r) > *s.MaxLength {
			r = r[:max(*s.MaxLength, 0)]
		}
		if s.MinLength != nil {
			for len(r) < *s.MinLength {
				r = append(r, rune('a'+f.IntN(26)))
			}
		}
		return string(r)
	}
	v = fitLen(v)
	re := sb.pats.get(s.Pattern)
	if re == nil || re.MatchString(v) {
		return v
	}
	if ex, ok := s.Example.(string); ok && re.MatchString(ex) {
		return ex
	}
	for try := 0; try < 8; try++ {
		c := f.Regex(s.Pattern)
		if re.MatchString(c) && len(validateWith(&sb.pats, &apisurface.Schema{MinLength: s.MinLength, MaxLength: s.MaxLength}, c)) == 0 {
			return c
		}
	}
	if c, ok := minimalMatch(s.Pattern); ok && re.MatchString(c) {
		return c
	}
	return v
}

// minimalMatch builds the shortest string the pattern's first
// alternatives accept: a last resort for patterns the random generator
// keeps missing (anchors in odd places, say).
func minimalMatch(pattern string) (string, bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return "", false
	}
	var b strings.Builder
	var walk func(re *syntax.Regexp, depth int) bool
	walk = func(re *syntax.Regexp, depth int) bool {
		if depth > 100 {
			return false
		}
		switch re.Op {
		case syntax.OpLiteral:
			b.WriteString(string(re.Rune))
		case syntax.OpCharClass:
			if len(re.Rune) == 0 {
				return false
			}
			b.WriteRune(re.Rune[0])
		case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
			b.WriteByte('a')
		case syntax.OpPlus:
			return walk(re.Sub[0], depth+1)
		case syntax.OpRepeat:
			for i := 0; i < re.Min; i++ {
				if !walk(re.Sub[0], depth+1) {
					return false
				}
			}
		case syntax.OpConcat:
			for _, sub := range re.Sub {
				if !walk(sub, depth+1) {
					return false
				}
			}
		case syntax.OpAlternate, syntax.OpCapture:
			return walk(re.Sub[0], depth+1)
		case syntax.OpNoMatch:
			return false
		}
		return true // empty matches, anchors, boundaries, star, quest
	}
	if !walk(re, 0) {
		return "", false
	}
	return b.String(), true
}

// strongMeaning is a value whose meaning the name settles regardless of
// the doc's example: addresses, ids, secrets, keys.
func strongMeaning(sn string, f *gofakeit.Faker) string {
	has := func(x string) bool { return strings.Contains(sn, x) }
	suffixOf := func(xs ...string) bool {
		for _, x := range xs {
			if strings.HasSuffix(sn, x) {
				return true
			}
		}
		return false
	}
	switch {
	case has("email"):
		return email(f)
	case sn == "self" || sn == "href" || sn == "link" || suffixOf("url", "_uri", "_href", "_link") || has("endpoint") || has("callback") || has("webhook") || sn == "uri":
		return synthURL(f)
	case sn == "ip" || sn == "ipv4" || suffixOf("_ip", "ip_address") || has("ipv4"):
		return docIPv4(f)
	case has("ipv6"):
		return docIPv6(f)
	case has("uuid") || has("guid"):
		return f.UUID()
	case has("fingerprint"):
		return fingerprint(f)
	case has("public_key") || sn == "ssh_key":
		return "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + alnum(f, 43) + " sbx-synthetic"
	case suffixOf("_id", "_type", "_name", "_hint", "_prefix", "_last4", "_last_four", "_count", "_length"):
		return ""
	case has("secret") || has("password") || has("private_key") || sn == "token" || suffixOf("_token") || sn == "api_key" || sn == "apikey":
		return secretValue(f)
	}
	return ""
}

// strMeaning is a realistic value for a name with no format or example.
func (sb *Sandbox) strMeaning(sn string, f *gofakeit.Faker, rc *recordCtx) string {
	human := rc != nil && rc.list != nil && rc.list.kind == nhi.HumanUser
	switch sn {
	case "first_name", "given_name", "firstname":
		return f.FirstName()
	case "last_name", "family_name", "surname", "lastname":
		return f.LastName()
	case "name", "display_name", "full_name", "real_name":
		if human {
			return f.Name()
		}
		return nhiName(f)
	case "title", "label", "summary", "nickname", "alias", "slug", "description_short":
		return nhiName(f)
	case "username", "user_name", "login", "handle", "screen_name":
		return f.Username()
	case "phone", "phone_number", "mobile":
		return f.Phone()
	case "country", "country_code":
		return f.CountryAbr()
	case "city":
		return f.City()
	case "time_zone", "timezone", "tz":
		return f.TimeZoneRegion()
	case "color", "colour":
		return f.HexColor()
	case "version":
		return f.AppVersion()
	case "domain", "host", "hostname", "fqdn":
		return host(f)
	case "locale", "language", "lang":
		return []string{"en-US", "en-GB", "de-DE", "fr-FR", "ja-JP"}[f.IntN(5)]
	case "currency":
		return f.CurrencyShort()
	case "region", "zone", "location":
		return []string{"us-east", "us-west", "eu-central", "eu-west", "ap-southeast"}[f.IntN(5)] + "-" + strconv.Itoa(1+f.IntN(3))
	case "type", "kind", "object", "category":
		return names.Slug(f.NounCommon())
	}
	switch {
	case strings.HasSuffix(sn, "_name") || strings.HasSuffix(sn, "name"):
		return nhiName(f)
	case sn == "key" && rc != nil && rc.list != nil && (rc.list.kind == nhi.DeployKey || rc.list.kind == nhi.SSHKey):
		// The key of a deploy or SSH key record is its public key.
		return "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + alnum(f, 43) + " sbx-synthetic"
	case isIDName(sn) || sn == "key":
		return alnum(f, 12)
	case strings.Contains(sn, "descr") || strings.Contains(sn, "note") || strings.Contains(sn, "comment") ||
		strings.Contains(sn, "message") || strings.Contains(sn, "detail") || strings.Contains(sn, "reason"):
		return f.HackerPhrase()
	}
	return names.Slug(f.HackerNoun())
}

// nhiName is a machine-identity name: "quantum-firewall-42".
func nhiName(f *gofakeit.Faker) string {
	return names.Slug(f.HackerAdjective()) + "-" + names.Slug(f.HackerNoun()) + "-" + strconv.Itoa(1+f.IntN(99))
}

// email is on a reserved domain (RFC 2606): synthetic addresses must not
// reach a real mailbox.
func email(f *gofakeit.Faker) string {
	return names.Slug(f.FirstName()) + "." + names.Slug(f.LastName()) + "@" + names.Slug(f.LastName()) + ".example"
}

// synthURL is on a reserved domain, so nothing synthetic points at a real
// host.
func synthURL(f *gofakeit.Faker) string {
	return "https://" + host(f) + "/" + names.Slug(f.HackerNoun()) + "/" + alnum(f, 8)
}

func host(f *gofakeit.Faker) string {
	return names.Slug(f.HackerNoun()) + "." + names.Slug(f.LastName()) + ".example"
}

// docIPv4 is in the documentation ranges (RFC 5737), never a real host.
func docIPv4(f *gofakeit.Faker) string {
	return []string{"192.0.2", "198.51.100", "203.0.113"}[f.IntN(3)] + "." + strconv.Itoa(1+f.IntN(254))
}

// docIPv6 is in the documentation prefix 2001:db8::/32 (RFC 3849).
func docIPv6(f *gofakeit.Faker) string {
	return fmt.Sprintf("2001:db8:%x:%x::%x", f.IntN(0x10000), f.IntN(0x10000), 1+f.IntN(0xfffe))
}

func fingerprint(f *gofakeit.Faker) string {
	parts := make([]string, 16)
	for i := range parts {
		parts[i] = fmt.Sprintf("%02x", f.IntN(256))
	}
	return strings.Join(parts, ":")
}

// secretValue is clearly synthetic: every secret-looking value the
// sandbox emits starts with sbx_.
func secretValue(f *gofakeit.Faker) string {
	b := make([]byte, 12)
	for i := range b {
		b[i] = byte(f.IntN(256))
	}
	return "sbx_" + hex.EncodeToString(b)
}

func alnum(f *gofakeit.Faker, n int) string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[f.IntN(len(chars))]
	}
	return string(b)
}

// tokenLike says whether an example looks like an id or key (so a varied
// copy of its shape is realistic) rather than a word or a sentence.
func tokenLike(ex string) bool {
	if len(ex) < 4 || len(ex) > 128 || strings.ContainsAny(ex, " \t\n@") || strings.Contains(ex, "://") {
		return false
	}
	return strings.IndexFunc(ex, unicode.IsDigit) >= 0
}

// mutate keeps an example's shape (first character, separators, letter
// case, digit positions, hex alphabet) and varies the rest, so ids look
// like the vendor's yet differ per record.
func mutate(ex string, f *gofakeit.Faker) string {
	// Hex only when a hex letter shows it: an all-digit id stays digits.
	isHex := strings.IndexFunc(ex, func(r rune) bool { return !strings.ContainsRune("0123456789abcdef-", r) }) < 0 &&
		strings.ContainsAny(ex, "abcdef")
	r := []rune(ex)
	for i := max(1, typePrefix(r)); i < len(r); i++ {
		c := r[i]
		switch {
		case isHex && (c >= 'a' && c <= 'f' || c >= '0' && c <= '9'):
			r[i] = rune("0123456789abcdef"[f.IntN(16)])
		case c >= 'a' && c <= 'z':
			r[i] = rune('a' + f.IntN(26))
		case c >= 'A' && c <= 'Z':
			r[i] = rune('A' + f.IntN(26))
		case c >= '0' && c <= '9':
			r[i] = rune('0' + f.IntN(10))
		}
	}
	return string(r)
}

// typePrefix is the length of an id's type prefix ("key_", "sk_live_",
// "wh-"): lower-case words each ending in "_" or "-", which vendors keep
// constant across ids; 0 when there is none, or when it would leave
// nothing to vary. A word of hex letters only ("deadbeef-") is part of
// a hex id, not a prefix.
func typePrefix(r []rune) int {
	n := 0
	for {
		j, word := n, false
		for j < len(r) && r[j] >= 'a' && r[j] <= 'z' {
			word = word || r[j] > 'f'
			j++
		}
		if !word || j >= len(r)-1 || (r[j] != '_' && r[j] != '-') {
			return n
		}
		n = j + 1
	}
}

// exampleVariant uses the doc's example as a value source: ids and keys
// are varied in shape, single words kept (they are usually constants such
// as a type tag), sentences kept for about half the records.
func exampleVariant(ex string, f *gofakeit.Faker) (string, bool) {
	switch {
	case tokenLike(ex):
		return mutate(ex, f), true
	case strings.ContainsAny(ex, " \t\n"):
		return ex, f.IntN(2) == 0
	}
	return ex, true
}

// Names.

// nameCache memoises snake: a doc has a bounded vocabulary of property
// names, and every generated field asks for its meaning.
type nameCache struct {
	mu sync.RWMutex
	m  map[string]string
}

func (c *nameCache) snake(name string) string {
	c.mu.RLock()
	sn, ok := c.m[name]
	c.mu.RUnlock()
	if ok {
		return sn
	}
	sn = names.Snake(name)
	c.mu.Lock()
	if c.m == nil || len(c.m) > 1<<16 {
		c.m = map[string]string{}
	}
	c.m[name] = sn
	c.mu.Unlock()
	return sn
}

func isIDName(sn string) bool {
	return sn == "id" || sn == "uid" || strings.HasSuffix(sn, "_id") || strings.HasSuffix(sn, "_uid")
}

// isOwnerRef says whether a field names the human who owns, created or
// acts for a record.
func isOwnerRef(sn string) bool {
	switch sn {
	case "owner", "owners", "owner_id", "owner_ids", "user", "users", "user_id", "user_ids",
		"creator", "creator_id", "author", "author_id", "assignee", "assignee_id", "maintainer", "maintainers",
		"principal_id", "created_by", "updated_by", "modified_by", "deleted_by", "granted_by", "revoked_by":
		return true
	}
	for _, suf := range []string{"_by", "_by_id", "_user_id", "_user", "_owner", "_owner_id"} {
		if strings.HasSuffix(sn, suf) {
			return true
		}
	}
	// owner_id-like, not owner_type or owner_name.
	return strings.HasPrefix(sn, "owner_") && (strings.HasSuffix(sn, "_id") || strings.HasSuffix(sn, "_ids") || strings.HasSuffix(sn, "_uuid"))
}

func isScopes(sn string) bool {
	return strings.Contains(sn, "scope") || strings.Contains(sn, "permission") || strings.Contains(sn, "privilege")
}

// keepOptional decides whether an optional property is present. Real
// records leave some out; deep inside nested objects most are left out,
// or one record of a rich schema would weigh megabytes. The fields an
// integration maps for identity, ownership and lifecycle are kept.
func keepOptional(sn string, h uint64, depth int) bool {
	switch {
	case depth >= maxDepth:
		return false
	case important(sn):
		return true
	case depth <= 2:
		return h%8 != 0
	case depth <= 4:
		return h%2 == 0
	}
	return false
}

// important fields are always present, even when optional: those an
// integration maps for identity, ownership and lifecycle.
func important(sn string) bool {
	if isIDName(sn) || isOwnerRef(sn) || isScopes(sn) {
		return true
	}
	switch sn {
	case "name", "display_name", "type", "status", "state", "enabled", "active":
		return true
	}
	return timeName(sn)
}

// containsAny reports whether s contains any of subs: field-name meaning is
// read from substrings ("last_used", "expir", "port").
func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}
