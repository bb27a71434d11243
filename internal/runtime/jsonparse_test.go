package runtime

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// reference decodes with encoding/json and applies the same number rule.
func reference(b []byte) (any, error) {
	if !json.Valid(b) {
		return nil, strconv.ErrSyntax
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	var fix func(any) any
	fix = func(v any) any {
		switch t := v.(type) {
		case map[string]any:
			for k, x := range t {
				t[k] = fix(x)
			}
		case []any:
			for i, x := range t {
				t[i] = fix(x)
			}
		case json.Number:
			if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
				return i
			}
			f, err := t.Float64()
			if err != nil || math.IsInf(f, 0) {
				return "range"
			}
			return f
		}
		return v
	}
	return fix(v), nil
}

var jsonSeeds = []string{
	`{"a":1,"b":[true,false,null],"c":"x\"y\\z\u00e9\ud83d\ude00","d":-0.5e3,"e":{}}`,
	`[]`, `{}`, `"str"`, `9007199254740993`, `-9223372036854775808`, `9223372036854775808`, `1e400`,
	`{"a":1}x`, `{"a" 1}`, `[1,]`, `01`, `-`, `1.`, `.5`, `"\x01"`, `"\ud800"`, `"\ud800\u0041"`, "\"\xff\xfe\"",
	`  {"nested": [[[[{"k": "v"}]]]]}  `, `{"a":1,"a":2}`, `[1 2]`, `nul`, `"abc`, `{"a":1,}`, `"\q"`,
}

func TestParseJSONMatchesEncodingJSON(t *testing.T) {
	for _, s := range jsonSeeds {
		checkJSON(t, []byte(s))
	}
	deep := strings.Repeat("[", 600) + strings.Repeat("]", 600)
	if _, err := parseJSON([]byte(deep)); err == nil {
		t.Error("600 levels of nesting accepted; want a depth error")
	}
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkJSON)
}

func checkJSON(t *testing.T, b []byte) {
	want, werr := reference(b)
	got, gerr := parseJSON(b)
	if werr != nil || hasRange(want) {
		if gerr == nil && !hasRange(want) {
			t.Fatalf("%q: encoding/json rejects (%v), parseJSON accepts %v", b, werr, got)
		}
		return
	}
	if gerr != nil {
		t.Fatalf("%q: encoding/json accepts, parseJSON rejects: %v", b, gerr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: got %#v, want %#v", b, got, want)
	}
}

func hasRange(v any) bool {
	switch t := v.(type) {
	case string:
		return t == "range"
	case map[string]any:
		for _, x := range t {
			if hasRange(x) {
				return true
			}
		}
	case []any:
		for _, x := range t {
			if hasRange(x) {
				return true
			}
		}
	}
	return false
}
