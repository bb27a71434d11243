package runtime

import (
	"fmt"
	"strconv"
	"strings"
)

// lookup finds the value at a body path in decoded JSON. A path is either a
// dot path ("meta.next_cursor", "items.0.id"; "" or "." is the root) or a
// JSON Pointer ("/@odata.nextLink") for keys that hold dots.
func lookup(v any, path string) (any, bool) {
	if path == "" || path == "." {
		return v, true
	}
	var segs []string
	if strings.HasPrefix(path, "/") {
		for _, s := range strings.Split(path[1:], "/") {
			segs = append(segs, strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~"))
		}
	} else {
		segs = strings.Split(path, ".")
	}
	cur := v
	for _, s := range segs {
		switch t := cur.(type) {
		case map[string]any:
			next, ok := t[s]
			if !ok {
				return nil, false
			}
			cur = next
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

// scalarString renders a cursor, token or id found in a body as text.
func scalarString(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", nil
	case string:
		return t, nil
	case int64:
		return strconv.FormatInt(t, 10), nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(t), nil
	default:
		return "", fmt.Errorf("want a string or number, got %s", typeName(v))
	}
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case int64, float64:
		return "a number"
	case bool:
		return "a boolean"
	default:
		return fmt.Sprintf("%T", v)
	}
}
