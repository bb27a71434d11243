package store

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Record attributes are vendor extras in the runtime's generic data model:
// integers that fit are int64 (vendor ids must stay exact), other numbers
// float64. Plain encoding/json would turn both into float64 on the way
// back, rounding integers beyond 2^53 and turning int64(1) and float64(1)
// into the same thing. These two helpers keep them apart for any store
// that keeps attributes as JSON.

// AttributesForJSON returns attrs ready for encoding/json: every float64
// (and float32) becomes a json.Number that always has a '.' or an
// exponent, so AttributesFromJSON can tell it from an integer. attrs is not
// modified; it is returned as is when it holds no floats.
func AttributesForJSON(attrs map[string]any) map[string]any {
	if attrs == nil || !hasFloat(attrs) {
		return attrs
	}
	return floatsToNumbers(attrs).(map[string]any)
}

// AttributesFromJSON converts the json.Numbers of attrs, decoded with
// json.Decoder.UseNumber, back: integers that fit int64 to int64, all
// others to float64, as the runtime's parser does. It converts in place
// and returns attrs.
func AttributesFromJSON(attrs map[string]any) map[string]any {
	for k, v := range attrs {
		attrs[k] = numbersToValues(v)
	}
	return attrs
}

func hasFloat(v any) bool {
	switch t := v.(type) {
	case float64, float32:
		return true
	case map[string]any:
		for _, e := range t {
			if hasFloat(e) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if hasFloat(e) {
				return true
			}
		}
	}
	return false
}

// floatsToNumbers copies the maps and lists on the way (the caller's record
// must not change) and replaces floats. A NaN or infinity yields an invalid
// json.Number, which encoding/json then refuses: JSON has no such value.
func floatsToNumbers(v any) any {
	switch t := v.(type) {
	case float64:
		return floatNumber(t)
	case float32:
		return floatNumber(float64(t))
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = floatsToNumbers(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = floatsToNumbers(e)
		}
		return out
	}
	return v
}

func floatNumber(f float64) json.Number {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEnN") { // integral: 1 → 1.0 (nN: NaN, Inf stay invalid)
		s += ".0"
	}
	return json.Number(s)
}

func numbersToValues(v any) any {
	switch t := v.(type) {
	case json.Number:
		s := string(t)
		if !strings.ContainsAny(s, ".eE") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n
			}
		}
		f, _ := strconv.ParseFloat(s, 64) // valid JSON: only a range error, which gives ±max like the runtime
		return f
	case map[string]any:
		for k, e := range t {
			t[k] = numbersToValues(e)
		}
	case []any:
		for i, e := range t {
			t[i] = numbersToValues(e)
		}
	}
	return v
}
