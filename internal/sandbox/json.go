package sandbox

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// object is a JSON object that keeps its keys in schema order, so
// responses read like the vendor's and encode byte-identically every time
// (a Go map would be sorted, or worse, random when ranged over).
type object struct {
	keys []string
	vals []any
}

func (o *object) index(k string) int {
	for i, key := range o.keys {
		if key == k {
			return i
		}
	}
	return -1
}

func (o *object) get(k string) (any, bool) {
	if i := o.index(k); i >= 0 {
		return o.vals[i], true
	}
	return nil, false
}

// set replaces k's value in place, or appends k.
func (o *object) set(k string, v any) {
	if i := o.index(k); i >= 0 {
		o.vals[i] = v
		return
	}
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
}

func (o *object) del(k string) bool {
	i := o.index(k)
	if i < 0 {
		return false
	}
	o.keys = append(o.keys[:i], o.keys[i+1:]...)
	o.vals = append(o.vals[:i], o.vals[i+1:]...)
	return true
}

// rename keeps the key's position, as a vendor's renamed field would.
func (o *object) rename(from, to string) bool {
	i := o.index(from)
	if i < 0 {
		return false
	}
	o.del(to)
	i = o.index(from)
	o.keys[i] = to
	return true
}

func (o *object) MarshalJSON() ([]byte, error) { return encodeJSON(o) }

// encodeJSON encodes generated values in one pass. encoding/json would
// re-validate and compact every nested object's MarshalJSON output again
// at each level above it, which is quadratic in the nesting depth.
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := appendJSON(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func appendJSON(b *bytes.Buffer, v any) error {
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case *object:
		b.WriteByte('{')
		for i, k := range t.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			appendString(b, k)
			b.WriteByte(':')
			if err := appendJSON(b, t.vals[i]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := appendJSON(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case string:
		appendString(b, t)
	case int64:
		b.WriteString(strconv.FormatInt(t, 10))
	case bool:
		b.WriteString(strconv.FormatBool(t))
	default:
		x, err := json.Marshal(t)
		if err != nil {
			return err
		}
		b.Write(x)
	}
	return nil
}

// appendString writes s as a JSON string, escaping as encoding/json does
// (HTML-significant characters and U+2028/U+2029 included).
func appendString(b *bytes.Buffer, s string) {
	if !utf8.ValidString(s) {
		x, _ := json.Marshal(s) // replaces invalid bytes as encoding/json does
		b.Write(x)
		return
	}
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || r == '<' || r == '>' || r == '&' || r == 0x2028 || r == 0x2029:
			b.WriteString(`\u`)
			b.WriteByte(hex[r>>12&0xf])
			b.WriteByte(hex[r>>8&0xf])
			b.WriteByte(hex[r>>4&0xf])
			b.WriteByte(hex[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// splitPath splits a body path in the integration spec's syntax: a dot
// path ("meta.next_cursor"; "" or "." is the root) or a JSON Pointer
// ("/@odata.nextLink") for keys that hold dots.
func splitPath(path string) []string {
	if path == "" || path == "." {
		return nil
	}
	if strings.HasPrefix(path, "/") {
		var segs []string
		for _, s := range strings.Split(path[1:], "/") {
			segs = append(segs, strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~"))
		}
		return segs
	}
	return strings.Split(path, ".")
}

// setPath puts v at path inside root, creating objects on the way, and
// returns the (possibly new) root.
func setPath(root any, segs []string, v any) any {
	if len(segs) == 0 {
		return v
	}
	o, ok := root.(*object)
	if !ok {
		o = &object{}
	}
	child, _ := o.get(segs[0])
	o.set(segs[0], setPath(child, segs[1:], v))
	return o
}

// getPath reads the value at path; ok is false when it is absent.
func getPath(root any, segs []string) (any, bool) {
	cur := root
	for _, s := range segs {
		switch t := cur.(type) {
		case *object:
			v, ok := t.get(s)
			if !ok {
				return nil, false
			}
			cur = v
		case map[string]any:
			v, ok := t[s]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			cur = t[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// delPath removes the value at path; false when there was none.
func delPath(root any, segs []string) bool {
	if len(segs) == 0 {
		return false
	}
	parent, ok := getPath(root, segs[:len(segs)-1])
	if !ok {
		return false
	}
	o, ok := parent.(*object)
	return ok && o.del(segs[len(segs)-1])
}

// fromJSON converts a decoded example (maps, slices, float64) into the
// generator's value types: maps become objects with sorted keys, whole
// numbers int64, so examples encode deterministically.
func fromJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		o := &object{}
		for _, k := range keys {
			o.set(k, fromJSON(t[k]))
		}
		return o
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = fromJSON(e)
		}
		return out
	case float64:
		if t == float64(int64(t)) && t < 1<<53 && t > -(1<<53) {
			return int64(t)
		}
		return t
	case int:
		return int64(t)
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	default:
		return v
	}
}
