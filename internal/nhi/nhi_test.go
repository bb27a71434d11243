package nhi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(RecordSchema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("record.json", v); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("record.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, r *Record) error {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(v)
}

func full() *Record {
	ts := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	name, pub := "deploy bot", "Acme"
	st, pr, ct, tp := Active, Write, Static, true
	owner := NewRef("src", HumanUser, "u1")
	return &Record{ID: StableID("src", APIKey, "k1"), Source: "src", Kind: APIKey, ExternalID: "k1",
		Name: &name, Status: &st, CreatedAt: &ts, UpdatedAt: &ts, LastUsedAt: &ts, ExpiresAt: &ts, LastRotatedAt: &ts,
		Owner: &owner, Creator: &owner, Scopes: []string{"repo"}, Privilege: &pr, CredentialType: &ct, ThirdParty: &tp,
		Publisher: &pub, Attributes: map[string]any{"region": "eu"},
		Relationships: []Relationship{{Type: OwnedBy, Target: owner}, {Type: CanAccess, Target: NewRef("src", Resource, "r1"), Privilege: &pr}}}
}

func TestStableID(t *testing.T) {
	a := StableID("okta", APIKey, "123")
	if a != StableID("okta", APIKey, "123") {
		t.Fatal("not deterministic")
	}
	for _, other := range []string{StableID("okta2", APIKey, "123"), StableID("okta", SSHKey, "123"), StableID("okta", APIKey, "1234"),
		StableID("okt", APIKey, "a123")} {
		if other == a {
			t.Fatal("collision across source/kind/external_id")
		}
	}
	if !strings.HasPrefix(a, "nhi_") || len(a) != 36 {
		t.Fatalf("id format %q", a)
	}
}

func TestValidate(t *testing.T) {
	bad := func(mut func(r *Record)) *Record { r := full(); mut(r); return r }
	s := Status("deleted")
	cases := []struct {
		name string
		r    *Record
		want string
	}{
		{"ok", full(), ""},
		{"no source", bad(func(r *Record) { r.Source = "" }), "no source"},
		{"bad kind", bad(func(r *Record) { r.Kind = "robot" }), "not a known kind"},
		{"empty external id", bad(func(r *Record) { r.ExternalID = "" }), "empty external_id"},
		{"wrong id", bad(func(r *Record) { r.ID = "nhi_x" }), "stable id"},
		{"bad status", bad(func(r *Record) { r.Status = &s }), "status"},
		{"bad rel", bad(func(r *Record) { r.Relationships[0].Type = "LIKES" }), "unknown type"},
		{"rel without target", bad(func(r *Record) { r.Relationships[0].Target.ExternalID = "" }), "target"},
	}
	for _, tc := range cases {
		err := tc.r.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestSchemaAgreesWithGo: valid records validate, nulls are accepted,
// empty strings and unknown fields are refused, and every JSON field of
// Record is in the schema.
func TestSchemaAgreesWithGo(t *testing.T) {
	s := compileSchema(t)
	if err := validate(t, s, full()); err != nil {
		t.Fatalf("full record rejected: %v", err)
	}
	min := &Record{ID: StableID("s", Bot, "b"), Source: "s", Kind: Bot, ExternalID: "b"}
	if err := validate(t, s, min); err != nil {
		t.Fatalf("minimal record (all nulls) rejected: %v", err)
	}
	empty := ""
	withEmpty := full()
	withEmpty.Name = &empty
	if validate(t, s, withEmpty) == nil {
		t.Error(`name "" accepted: missing must be null, never ""`)
	}
	var schema map[string]any
	_ = json.Unmarshal(RecordSchema(), &schema)
	props := schema["properties"].(map[string]any)
	typ := reflect.TypeOf(Record{})
	for i := 0; i < typ.NumField(); i++ {
		tag := strings.Split(typ.Field(i).Tag.Get("json"), ",")[0]
		if _, ok := props[tag]; !ok {
			t.Errorf("field %s is not in the schema", tag)
		}
	}
	if len(props) != typ.NumField() {
		t.Errorf("schema has %d properties, Record %d fields", len(props), typ.NumField())
	}
	kinds := schema["$defs"].(map[string]any)["kind"].(map[string]any)["enum"].([]any)
	if len(kinds) != len(Kinds()) {
		t.Errorf("schema lists %d kinds, Go %d", len(kinds), len(Kinds()))
	}
}

func TestKindClasses(t *testing.T) {
	if !ServiceAccount.IsNHI() || !Bot.IsNHI() || HumanUser.IsNHI() || Resource.IsNHI() || Kind("x").IsNHI() {
		t.Error("IsNHI misclassifies")
	}
}
