package store

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

func TestAttributesJSONRoundTrip(t *testing.T) {
	in := map[string]any{
		"int": int64(42), "big": int64(1<<62 + 1), "neg": int64(-7), "whole": 1.0, "frac": 42.5,
		"tiny": 1e-300, "huge": 1e300, "negzero": math.Copysign(0, -1), "str": "1", "bool": true, "null": nil,
		"list":   []any{int64(1), 2.0, "x", []any{3.5}},
		"nested": map[string]any{"id": int64(9007199254740993), "score": 0.1},
	}
	want, err := json.Marshal(in) // what the caller's map looked like
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(AttributesForJSON(in))
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(in); !bytes.Equal(after, want) {
		t.Fatalf("AttributesForJSON modified its input")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	if got := AttributesFromJSON(out); !reflect.DeepEqual(got, in) {
		t.Errorf("round trip differs\n got: %#v\nwant: %#v", got, in)
	}
}

func TestAttributesForJSONRefusesNaN(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := json.Marshal(AttributesForJSON(map[string]any{"x": f})); err == nil {
			t.Errorf("%v encoded, want an error", f)
		}
	}
}

func TestAttributesForJSONWithoutFloatsIsSame(t *testing.T) {
	in := map[string]any{"a": int64(1), "b": []any{"x"}}
	if got := AttributesForJSON(in); reflect.ValueOf(got).Pointer() != reflect.ValueOf(in).Pointer() {
		t.Error("a map without floats was copied")
	}
}
