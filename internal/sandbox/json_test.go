package sandbox

import (
	"encoding/json"
	"testing"
)

// The one-pass encoder writes what encoding/json would.
func TestEncodeJSONMatchesEncodingJSON(t *testing.T) {
	v := &object{keys: []string{"s", "n", "f", "b", "z", "a", "o", "e"}, vals: []any{
		"quote\" back\\ nl\n tab\t <tag>&amp; \u2028 ctl\x01 \b\f é 日本", int64(-42), 3.25, true, nil,
		[]any{int64(1), "x", []any{}}, &object{keys: []string{"k"}, vals: []any{&object{}}}, "\xff bad utf8"}}
	got, err := encodeJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"s":` + mustJSON(t, v.vals[0]) + `,"n":-42,"f":3.25,"b":true,"z":null,"a":[1,"x",[]],"o":{"k":{}},"e":` + mustJSON(t, v.vals[7]) + `}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	var back any
	if err := json.Unmarshal(got, &back); err != nil {
		t.Errorf("not valid JSON: %v", err)
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
