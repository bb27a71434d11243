package runtime

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"

	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/nhi"
)

// MappingError is a record the spec could not map. It names the stream,
// the page and the record's index on that page, and the field: the record
// is reported, never silently dropped.
type MappingError struct {
	Stream string
	Page   int
	Index  int
	Field  string
	Err    error
}

func (e *MappingError) Error() string {
	return fmt.Sprintf("stream %s, page %d, record %d: field %s: %v", e.Stream, e.Page, e.Index, e.Field, e.Err)
}

func (e *MappingError) Unwrap() error { return e.Err }

// activation resolves CEL variables without building a map per record.
type activation struct {
	rec     any
	config  map[string]string
	parents *parentCtx
	body    any
	status  int64
}

// parentCtx chains for_each ancestors: alias → the parent's raw record.
type parentCtx struct {
	alias string
	rec   any
	up    *parentCtx
}

func (p *parentCtx) get(alias string) (any, bool) {
	for c := p; c != nil; c = c.up {
		if c.alias == alias {
			return c.rec, true
		}
	}
	return nil, false
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case integration.VarRecord:
		return a.rec, true
	case integration.VarConfig:
		return a.config, true
	case integration.VarBody:
		return a.body, true
	case integration.VarStatus:
		return a.status, true
	}
	return a.parents.get(name)
}

func (a *activation) Parent() interpreter.Activation { return nil }

// native converts a CEL result to the generic data model.
func native(v ref.Val) any {
	switch v.Type() {
	case types.NullType:
		return nil
	case types.ListType:
		// A list taken straight from the decoded body wraps the parsed
		// []any, which is already plain data.
		if raw, ok := v.Value().([]any); ok {
			return raw
		}
		l := v.(traits.Lister)
		n := int(l.Size().(types.Int))
		out := make([]any, n)
		for i := 0; i < n; i++ {
			out[i] = native(l.Get(types.Int(i)))
		}
		return out
	case types.MapType:
		if raw, ok := v.Value().(map[string]any); ok {
			return raw
		}
		m := v.(traits.Mapper)
		out := map[string]any{}
		for it := m.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			out[fmt.Sprint(native(k))] = native(m.Get(k))
		}
		return out
	}
	switch t := v.Value().(type) {
	case int:
		return int64(t)
	case uint64:
		return int64(t)
	default:
		return t
	}
}

// mapper turns raw vendor records into canonical records.
type mapper struct {
	source string
	stream *integration.Stream
	progs  *integration.StreamPrograms
	emits  nhi.Kind
	now    time.Time
}

func eval(p cel.Program, act *activation) (any, error) {
	out, _, err := p.Eval(act)
	if err != nil {
		return nil, err
	}
	return native(out), nil
}

// mapRecord evaluates every field; the first failure is returned as a
// MappingError by the caller, which knows page and index. set has bit i
// on when field m.progs.Fields[i] came out non-null: the stream's null
// counts are kept from it without allocating per record.
func (m *mapper) mapRecord(act *activation) (rec *nhi.Record, set uint64, field string, err error) {
	buf := &recordBuf{}
	rec = &buf.rec
	rec.Source, rec.Kind = m.source, m.emits
	vals, field, err := m.evalFields(act)
	if err != nil {
		return nil, 0, field, err
	}
	var kindVal, idVal ref.Val = types.NullValue, types.NullValue
	for i, f := range m.progs.Fields {
		v := vals[i]
		switch f {
		case "kind":
			kindVal = v
		case "external_id":
			idVal = v
		}
	}
	if k := native(kindVal); k != nil {
		ks, _ := k.(string)
		if !nhi.Kind(ks).Valid() {
			return nil, 0, "kind", fmt.Errorf("%v is not a known kind (one of %v)", k, nhi.Kinds())
		}
		rec.Kind = nhi.Kind(ks)
	}
	var idBuf string
	id, err := strVal(idVal, &idBuf)
	if err != nil {
		return nil, 0, "external_id", err
	}
	if id == nil {
		return nil, 0, "external_id", fmt.Errorf("is null or empty; every record needs the vendor's identifier")
	}
	rec.ExternalID = *id
	rec.ID = nhi.StableID(m.source, rec.Kind, rec.ExternalID)
	for i, f := range m.progs.Fields {
		ok, err := m.setField(buf, f, vals[i])
		if err != nil {
			return nil, 0, f, err
		}
		if ok && i < 64 { // at most len(integration.MapFields) fields
			set |= 1 << i
		}
	}
	if rec.Owner != nil {
		rec.Relationships = append(rec.Relationships, nhi.Relationship{Type: nhi.OwnedBy, Target: *rec.Owner})
	}
	if rec.Creator != nil {
		rec.Relationships = append(rec.Relationships, nhi.Relationship{Type: nhi.CreatedBy, Target: *rec.Creator})
	}
	for i, rp := range m.progs.Relationships {
		decl := m.stream.Relationships[i]
		field := fmt.Sprintf("relationships[%d]", i)
		v, err := eval(rp.ExternalID, act)
		if err != nil {
			return nil, 0, field, err
		}
		var priv *nhi.Privilege
		if rp.Privilege != nil {
			pv, err := eval(rp.Privilege, act)
			if err != nil {
				return nil, 0, field + ".privilege", err
			}
			if priv, err = toPrivilege(pv); err != nil {
				return nil, 0, field + ".privilege", err
			}
		}
		ids := []any{v}
		if l, ok := v.([]any); ok {
			ids = l
		}
		for _, x := range ids {
			tid, err := toString(x)
			if err != nil {
				return nil, 0, field, err
			}
			if tid == nil {
				continue
			}
			rec.Relationships = append(rec.Relationships, nhi.Relationship{
				Type: nhi.RelType(decl.Type), Target: nhi.NewRef(m.source, nhi.Kind(decl.Kind), *tid), Privilege: priv})
		}
	}
	// Every field was checked as it was set and the ID is computed here, so
	// rec.Validate() would only repeat work; the store validates on Put.
	return rec, set, "", nil
}

// evalFields evaluates every map field; an error names its field.
func (m *mapper) evalFields(act *activation) ([]ref.Val, string, error) {
	vals := make([]ref.Val, len(m.progs.Fields))
	for i, f := range m.progs.Fields {
		v, _, err := m.progs.Map[i].Eval(act)
		if err != nil {
			return nil, f, err
		}
		vals[i] = v
	}
	return vals, "", nil
}

// recordBuf holds a record and the values its pointer fields point at, so
// mapping one record is one allocation rather than one per field.
type recordBuf struct {
	rec   nhi.Record
	strs  [3]string
	times [5]time.Time
}

// strVal reads a string field straight from a CEL value into dst, skipping
// the generic conversion for the common case.
func strVal(v ref.Val, dst *string) (*string, error) {
	if s, ok := v.(types.String); ok {
		if s == "" {
			return nil, nil
		}
		*dst = string(s)
		return dst, nil
	}
	return toString(native(v))
}

func timeVal(v ref.Val, dst *time.Time) (*time.Time, error) {
	if s, ok := v.(types.String); ok {
		if s == "" {
			return nil, nil
		}
		t, err := parseTime(string(s))
		if err != nil {
			return nil, err
		}
		*dst = t
		return dst, nil
	}
	t, err := toTime(native(v))
	if t == nil || err != nil {
		return nil, err
	}
	*dst = *t
	return dst, nil
}

// setField sets canonical field f from cv and reports whether it came out
// non-null. Null is what the record stores as null: "" strings, empty
// scope lists and empty attribute objects too (as validation counts them).
func (m *mapper) setField(buf *recordBuf, f string, cv ref.Val) (bool, error) {
	rec := &buf.rec
	var err error
	switch f {
	case "external_id":
		return true, nil // set before, or the record failed
	case "kind":
		return cv.Type() != types.NullType, nil
	case "name":
		rec.Name, err = strVal(cv, &buf.strs[0])
		return rec.Name != nil, err
	case "publisher":
		rec.Publisher, err = strVal(cv, &buf.strs[1])
		return rec.Publisher != nil, err
	case "environment":
		rec.Environment, err = strVal(cv, &buf.strs[2])
		return rec.Environment != nil, err
	case "created_at":
		rec.CreatedAt, err = timeVal(cv, &buf.times[0])
		return rec.CreatedAt != nil, err
	case "updated_at":
		rec.UpdatedAt, err = timeVal(cv, &buf.times[1])
		return rec.UpdatedAt != nil, err
	case "last_used_at":
		rec.LastUsedAt, err = timeVal(cv, &buf.times[2])
		return rec.LastUsedAt != nil, err
	case "expires_at":
		rec.ExpiresAt, err = timeVal(cv, &buf.times[3])
		return rec.ExpiresAt != nil, err
	case "last_rotated_at":
		rec.LastRotatedAt, err = timeVal(cv, &buf.times[4])
		return rec.LastRotatedAt != nil, err
	}
	v := native(cv)
	switch f {
	case "status":
		var s *string
		if s, err = toString(v); err == nil && s != nil {
			st := nhi.Status(strings.ToLower(*s))
			if !slices.Contains(nhi.Statuses(), st) {
				return false, fmt.Errorf("%q is not a canonical status (one of %v); map the vendor's value, e.g. r.state == \"ACTIVE\" ? \"active\" : \"disabled\"", *s, nhi.Statuses())
			}
			rec.Status = &st
		}
		return rec.Status != nil, err
	case "owner":
		rec.Owner, err = m.toRef(v)
		return rec.Owner != nil, err
	case "creator":
		rec.Creator, err = m.toRef(v)
		return rec.Creator != nil, err
	case "scopes":
		rec.Scopes, err = toStrings(v)
		return len(rec.Scopes) > 0, err
	case "privilege":
		rec.Privilege, err = toPrivilege(v)
		return rec.Privilege != nil, err
	case "credential_type":
		var s *string
		if s, err = toString(v); err == nil && s != nil {
			ct := nhi.CredentialType(strings.ToLower(*s))
			if !slices.Contains(nhi.CredentialTypes(), ct) {
				return false, fmt.Errorf("%q is not a credential type (one of %v)", *s, nhi.CredentialTypes())
			}
			rec.CredentialType = &ct
		}
		return rec.CredentialType != nil, err
	case "third_party":
		switch b := v.(type) {
		case nil:
		case bool:
			rec.ThirdParty = &b
		default:
			return false, fmt.Errorf("want a boolean, got %s", typeName(v))
		}
		return rec.ThirdParty != nil, nil
	case "attributes":
		switch a := v.(type) {
		case nil:
		case map[string]any:
			rec.Attributes = redactAttributes(a)
		default:
			return false, fmt.Errorf("want an object, got %s", typeName(v))
		}
		return len(rec.Attributes) > 0, nil
	}
	return false, fmt.Errorf("not a canonical field")
}

func toString(v any) (*string, error) {
	var s string
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		s = t
	case int64:
		s = strconv.FormatInt(t, 10)
	case float64:
		if t != math.Trunc(t) || math.IsInf(t, 0) {
			return nil, fmt.Errorf("want a string or an integer, got the number %v", t)
		}
		s = strconv.FormatFloat(t, 'f', 0, 64)
	case bool:
		s = strconv.FormatBool(t)
	default:
		return nil, fmt.Errorf("want a string, got %s", typeName(v))
	}
	if s == "" {
		return nil, nil // missing is null, never ""
	}
	return &s, nil
}

func toStrings(v any) ([]string, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		// OAuth scope strings are space-separated; some vendors use commas.
		f := strings.FieldsFunc(t, func(r rune) bool { return r == ' ' || r == ',' })
		if len(f) == 0 {
			return nil, nil
		}
		return f, nil
	case []any:
		out := make([]string, 0, len(t))
		for i, x := range t {
			if s, ok := x.(string); ok { // the common case, without a pointer
				if s != "" {
					out = append(out, s)
				}
				continue
			}
			s, err := toString(x)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			if s != nil {
				out = append(out, *s)
			}
		}
		return out, nil
	default:
		return nil, fmt.Errorf("want a list of strings, got %s", typeName(v))
	}
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05", "2006-01-02", time.RFC1123Z, time.RFC1123}

func toTime(v any) (*time.Time, error) {
	var t time.Time
	switch x := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		t = x
	case string:
		if x == "" {
			return nil, nil
		}
		var err error
		if t, err = parseTime(x); err != nil {
			return nil, err
		}
	case int64:
		t = epoch(float64(x))
	case float64:
		t = epoch(x)
	default:
		return nil, fmt.Errorf("want a timestamp, got %s", typeName(v))
	}
	t = t.UTC()
	return &t, nil
}

func parseTime(x string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, x); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a timestamp (want RFC 3339, such as 2024-05-01T12:00:00Z)", x)
}

// epoch reads Unix seconds, or milliseconds when the value is too large to
// be seconds (after the year 33658).
func epoch(f float64) time.Time {
	if math.Abs(f) > 1e12 {
		return time.UnixMilli(int64(f))
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}

func toPrivilege(v any) (*nhi.Privilege, error) {
	s, err := toString(v)
	if err != nil || s == nil {
		return nil, err
	}
	p := nhi.Privilege(strings.ToLower(*s))
	if !slices.Contains(nhi.Privileges(), p) {
		return nil, fmt.Errorf("%q is not a privilege level (one of %v)", *s, nhi.Privileges())
	}
	return &p, nil
}

// toRef reads an owner or creator: a bare id (a human user) or an object
// {kind, external_id}.
func (m *mapper) toRef(v any) (*nhi.Ref, error) {
	kind := nhi.HumanUser
	if o, ok := v.(map[string]any); ok {
		if k, ok := o["kind"].(string); ok {
			kind = nhi.Kind(k)
			if !kind.Valid() {
				return nil, fmt.Errorf("reference kind %q is not a known kind", k)
			}
		}
		v = o["external_id"]
	}
	if s, ok := v.(string); ok {
		if s == "" {
			return nil, nil
		}
		r := nhi.NewRef(m.source, kind, s)
		return &r, nil
	}
	id, err := toString(v)
	if err != nil || id == nil {
		return nil, err
	}
	r := nhi.NewRef(m.source, kind, *id)
	return &r, nil
}

// redactAttributes keeps vendor extras but never a secret: keys that name
// credentials and values that look like them are replaced.
func redactAttributes(a map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		switch {
		case secretAttrKey(k):
			out[k] = Redacted
		default:
			switch t := v.(type) {
			case string:
				if _, bad := integration.LooksLikeSecret(t); bad {
					out[k] = Redacted
				} else {
					out[k] = t
				}
			case map[string]any:
				out[k] = redactAttributes(t)
			case []any:
				l := make([]any, len(t))
				for i, x := range t {
					if m, ok := x.(map[string]any); ok {
						l[i] = redactAttributes(m)
					} else if s, ok := x.(string); ok {
						if _, bad := integration.LooksLikeSecret(s); bad {
							l[i] = Redacted
						} else {
							l[i] = s
						}
					} else {
						l[i] = x
					}
				}
				out[k] = l
			default:
				out[k] = v
			}
		}
	}
	return out
}

func secretAttrKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range []string{"secret", "password", "private_key", "privatekey", "credential", "access_token", "refresh_token", "client_secret", "api_key", "apikey"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return k == "token" || k == "key" || k == "value"
}

// scrubRecord removes the run's own secrets from everything a record will
// store: a vendor may echo the caller's credential back in a record (a
// token's "value", a webhook URL carrying a key). An external_id that
// holds one is an error — redacting it would merge records.
func scrubRecord(rec *nhi.Record, red *Redactor) error {
	if red == nil {
		return nil
	}
	if red.String(rec.ExternalID) != rec.ExternalID {
		return fmt.Errorf("the external_id holds this run's credential; map a different identifier")
	}
	for _, p := range []*string{rec.Name, rec.Publisher, rec.Environment} {
		if p != nil {
			*p = red.String(*p)
		}
	}
	for i, s := range rec.Scopes {
		rec.Scopes[i] = red.String(s)
	}
	for i := range rec.Relationships {
		t := &rec.Relationships[i].Target
		if red.String(t.ExternalID) != t.ExternalID {
			return fmt.Errorf("relationship %s points at an id that holds this run's credential", rec.Relationships[i].Type)
		}
	}
	for _, ref := range []*nhi.Ref{rec.Owner, rec.Creator} {
		if ref != nil && red.String(ref.ExternalID) != ref.ExternalID {
			return fmt.Errorf("owner or creator id holds this run's credential")
		}
	}
	if rec.Attributes != nil {
		rec.Attributes = scrubValue(rec.Attributes, red).(map[string]any)
	}
	return nil
}

func scrubValue(v any, red *Redactor) any {
	switch t := v.(type) {
	case string:
		return red.String(t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[red.String(k)] = scrubValue(x, red)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = scrubValue(x, red)
		}
		return out
	}
	return v
}
