package sandbox

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spindlehq/spindle/internal/apisurface"
)

// Schema conformance. The generator uses it to vet values it cannot build
// correct by construction (a user id reused as an owner reference), and
// tests use it to prove generated records conform to their schema.

// validate checks v (decoded JSON, or the generator's own values) against
// s and returns the violations, each with its JSON path.
func validate(s *apisurface.Schema, v any) []string {
	return validateWith(&patternCache{}, s, v)
}

func validateWith(pc *patternCache, s *apisurface.Schema, v any) []string {
	var errs []string
	pc.check(s, v, "$", &errs, 0)
	return errs
}

func (sb *Sandbox) conforms(s *apisurface.Schema, v any) bool {
	return len(validateWith(&sb.pats, s, v)) == 0
}

func (pc *patternCache) check(s *apisurface.Schema, v any, path string, errs *[]string, depth int) {
	if s == nil || depth > 64 {
		return
	}
	add := func(format string, a ...any) { *errs = append(*errs, path+": "+fmt.Sprintf(format, a...)) }
	if v == nil {
		if !s.Nullable && s.Type != "" && s.Type != "null" && !slices.Contains(s.Enum, nil) {
			add("null, but the schema (%s) is not nullable", s.Type)
		}
		return
	}
	if len(s.OneOf) > 0 {
		for _, alt := range s.OneOf {
			var sub []string
			pc.check(mergeAlt(s, alt), v, path, &sub, depth+1)
			if len(sub) == 0 {
				return
			}
		}
		add("matches none of its %d alternatives", len(s.OneOf))
		return
	}
	if s.Circular && len(s.Properties) == 0 && s.Items == nil {
		return // a cut cycle: unconstrained
	}
	if len(s.Enum) > 0 && !inEnum(s.Enum, v) {
		add("%v is not one of the enum %v", v, s.Enum)
	}
	switch t := v.(type) {
	case string:
		if s.Type != "" && s.Type != "string" {
			add("a string, want %s", s.Type)
			return
		}
		pc.checkString(s, t, add)
	case bool:
		if s.Type != "" && s.Type != "boolean" {
			add("a boolean, want %s", s.Type)
		}
	case *object, map[string]any:
		if s.Type != "" && s.Type != "object" {
			add("an object, want %s", s.Type)
			return
		}
		pc.checkObject(s, t, path, errs, depth)
	case []any:
		if s.Type != "" && s.Type != "array" {
			add("an array, want %s", s.Type)
			return
		}
		n := len(t)
		if s.MinItems != nil && n < *s.MinItems {
			add("%d items, want at least %d", n, *s.MinItems)
		}
		if s.MaxItems != nil && n > *s.MaxItems {
			add("%d items, want at most %d", n, *s.MaxItems)
		}
		for i, e := range t {
			pc.check(s.Items, e, fmt.Sprintf("%s[%d]", path, i), errs, depth+1)
		}
	default:
		f, ok := number(v)
		if !ok {
			add("unexpected value of type %T", v)
			return
		}
		switch s.Type {
		case "", "number":
		case "integer":
			if f != math.Trunc(f) {
				add("%v is not an integer", f)
			}
		default:
			add("a number, want %s", s.Type)
			return
		}
		if s.Minimum != nil && f < *s.Minimum {
			add("%v is below the minimum %v", f, *s.Minimum)
		}
		if s.Maximum != nil && f > *s.Maximum {
			add("%v is above the maximum %v", f, *s.Maximum)
		}
	}
}

func (pc *patternCache) checkString(s *apisurface.Schema, v string, add func(string, ...any)) {
	n := utf8.RuneCountInString(v)
	if s.MinLength != nil && n < *s.MinLength {
		add("%q is shorter than %d", v, *s.MinLength)
	}
	if s.MaxLength != nil && n > *s.MaxLength {
		add("%q is longer than %d", v, *s.MaxLength)
	}
	if re := pc.get(s.Pattern); re != nil && !re.MatchString(v) {
		add("%q does not match the pattern %s", v, s.Pattern)
	}
	if !formatOK(s.Format, v) {
		add("%q is not a valid %s", v, s.Format)
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// formatOK checks the formats the generator produces; others pass.
func formatOK(format, v string) bool {
	switch strings.ToLower(format) {
	case "date-time":
		_, err := time.Parse(time.RFC3339, v)
		return err == nil
	case "date":
		_, err := time.Parse(time.DateOnly, v)
		return err == nil
	case "email", "idn-email":
		at := strings.LastIndexByte(v, '@')
		return at > 0 && strings.Contains(v[at:], ".") && !strings.ContainsAny(v, " \t")
	case "uri", "url", "iri":
		u, err := url.Parse(v)
		return err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "")
	case "uuid":
		return uuidRE.MatchString(v)
	case "ipv4":
		a, err := netip.ParseAddr(v)
		return err == nil && a.Is4()
	case "ipv6":
		a, err := netip.ParseAddr(v)
		return err == nil && a.Is6()
	case "hostname", "idn-hostname":
		return v != "" && !strings.ContainsAny(v, " /:@")
	}
	return true
}

func (pc *patternCache) checkObject(s *apisurface.Schema, v any, path string, errs *[]string, depth int) {
	get := func(k string) (any, bool) {
		switch o := v.(type) {
		case *object:
			return o.get(k)
		case map[string]any:
			x, ok := o[k]
			return x, ok
		}
		return nil, false
	}
	declared := map[string]*apisurface.Schema{}
	for _, p := range s.Properties {
		declared[p.Name] = p.Schema
	}
	for _, r := range s.Required {
		if ps, ok := declared[r]; ok && ps != nil && ps.WriteOnly {
			continue // never in a response
		}
		if _, ok := get(r); !ok {
			*errs = append(*errs, fmt.Sprintf("%s: required property %q is missing", path, r))
		}
	}
	visit := func(k string, x any) {
		if ps, ok := declared[k]; ok {
			pc.check(ps, x, path+"."+k, errs, depth+1)
		} else if s.AdditionalProperties != nil {
			pc.check(s.AdditionalProperties, x, path+"."+k, errs, depth+1)
		}
	}
	switch o := v.(type) {
	case *object:
		for i, k := range o.keys {
			visit(k, o.vals[i])
		}
	case map[string]any:
		for k, x := range o {
			visit(k, x)
		}
	}
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func inEnum(enum []any, v any) bool {
	for _, e := range enum {
		if e == nil || v == nil {
			if e == v {
				return true
			}
			continue
		}
		if a, ok := number(e); ok {
			if b, ok := number(v); ok && a == b {
				return true
			}
			continue
		}
		if fmt.Sprint(e) == fmt.Sprint(v) {
			if _, isStr := v.(string); isStr == isString(e) {
				return true
			}
		}
	}
	return false
}

func isString(v any) bool { _, ok := v.(string); return ok }

// patternCache holds compiled schema patterns; nil for those Go cannot
// compile (lookaheads and the like), which are then not enforced.
type patternCache struct {
	mu sync.Mutex
	m  map[string]*regexp.Regexp
}

func (pc *patternCache) get(p string) *regexp.Regexp {
	if p == "" {
		return nil
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if re, ok := pc.m[p]; ok {
		return re
	}
	if pc.m == nil {
		pc.m = map[string]*regexp.Regexp{}
	}
	re, err := regexp.Compile(p)
	if err != nil {
		re = nil
	}
	if len(pc.m) < 4096 {
		pc.m[p] = re
	}
	return re
}

// mergeAlt folds a oneOf alternative into its parent: the parent's own
// properties (from allOf) hold for every alternative.
func mergeAlt(parent, alt *apisurface.Schema) *apisurface.Schema {
	if alt == nil {
		return &apisurface.Schema{Type: parent.Type, Nullable: parent.Nullable, Properties: parent.Properties, Required: parent.Required}
	}
	if len(parent.Properties) == 0 && len(parent.Required) == 0 && !parent.Nullable {
		return alt
	}
	m := *alt
	m.Nullable = alt.Nullable || parent.Nullable
	if m.Type == "" {
		m.Type = parent.Type
	}
	if len(parent.Properties) > 0 {
		m.Properties = slices.Clone(alt.Properties)
		for _, p := range parent.Properties {
			if !hasProp(alt, p.Name) {
				m.Properties = append(m.Properties, p)
			}
		}
	}
	m.Required = slices.Clone(alt.Required)
	for _, r := range parent.Required {
		if !slices.Contains(m.Required, r) {
			m.Required = append(m.Required, r)
		}
	}
	return &m
}
