package runtime

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestNullCounts: each stream's result counts, per mapped field, the stored
// records where it came out null or absent — including attribute keys,
// and across the concurrent walks of a for_each child. Records that failed
// to map are not stored and not counted.
func TestNullCounts(t *testing.T) {
	const total = 12
	mux := http.NewServeMux()
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		var out []any
		for i := range total {
			k := map[string]any{"id": fmt.Sprintf("k%02d", i), "label": fmt.Sprintf("key %d", i), "scopes": []any{"read"},
				"extra": map[string]any{"email": fmt.Sprintf("o%d@example.com", i), "team": "core"}}
			switch {
			case i%4 == 0: // the vendor stopped sending the owner for some
			case i%4 == 1:
				k["owner_id"] = nil
			default:
				k["owner_id"] = fmt.Sprintf("u%d", i)
			}
			if i%3 == 0 {
				k["label"] = "" // missing is null, never ""
				k["scopes"] = []any{}
				k["extra"].(map[string]any)["email"] = nil
			}
			if i == 7 {
				delete(k["extra"].(map[string]any), "team") // absent counts as null too
			}
			if i == 11 {
				delete(k, "label") // read strictly: a mapping error, not a null
			}
			out = append(out, k)
		}
		writeJSON(w, map[string]any{"data": out})
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"data": []any{}})
	})
	mux.HandleFunc("/groups", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"data": []any{map[string]any{"id": "g1"}, map[string]any{"id": "g2"}, map[string]any{"id": "g3"}}})
	})
	mux.HandleFunc("/groups/{id}/bots", func(w http.ResponseWriter, r *http.Request) {
		g := r.PathValue("id")
		bots := []any{map[string]any{"id": g + "-b1", "publisher": "acme"}, map[string]any{"id": g + "-b2"}}
		writeJSON(w, map[string]any{"data": bots})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	spec := mustSpec(t, `  - name: keys
    request: {path: /keys}
    records: data
    emits: api_key
    map:
      external_id: r.id
      name: r.label
      owner: "has(r.owner_id) ? r.owner_id : null"
      scopes: r.scopes
      attributes: r.extra
  - name: empty
    request: {path: /empty}
    records: data
    emits: api_key
    map: {external_id: r.id, name: r.id}
  - name: groups
    request: {path: /groups}
    records: data
  - name: bots
    for_each: {stream: groups, as: g, concurrency: 3}
    request: {path: "/groups/{g.id}/bots"}
    records: data
    emits: bot
    map: {external_id: r.id, publisher: "r.?publisher.orValue(null)"}
`)
	sink, _ := run(t, spec, srv.URL, Options{})

	// keys: records 0..10 stored (11 failed to map). Owner absent in 0,4,8
	// and null in 1,5,9; label "" in 0,3,6,9; scopes [] in the same; email
	// null in 0,3,6,9; team absent in 7.
	cases := []struct {
		stream  string
		records int
		want    map[string]int
	}{
		{"keys", 11, map[string]int{"external_id": 0, "name": 4, "owner": 6, "scopes": 4, "attributes": 0,
			"attributes.email": 4, "attributes.team": 1}},
		{"bots", 6, map[string]int{"external_id": 0, "publisher": 3}},
		{"empty", 0, nil},  // no record: no rate
		{"groups", 0, nil}, // emits nothing: nothing mapped
	}
	for _, c := range cases {
		t.Run(c.stream, func(t *testing.T) {
			res := sink.results[c.stream]
			if res.Records != c.records {
				t.Fatalf("records = %d, want %d (errors %v)", res.Records, c.records, res.Errors)
			}
			if !maps.Equal(res.Nulls, c.want) {
				t.Errorf("nulls = %v, want %v", res.Nulls, c.want)
			}
			if (res.Nulls == nil) != (c.want == nil) {
				t.Errorf("nulls = %#v, want %#v", res.Nulls, c.want)
			}
		})
	}
}

// TestNullCountsBoundAttributeKeys: a vendor object keyed by ids must not
// grow the counts with the record count.
func TestNullCountsBoundAttributeKeys(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var out []any
		for i := range 200 {
			out = append(out, map[string]any{"id": fmt.Sprintf("k%d", i), "grants": map[string]any{fmt.Sprintf("res_%d", i): "read"}})
		}
		writeJSON(w, map[string]any{"data": out})
	}))
	defer srv.Close()
	spec := mustSpec(t, `  - name: keys
    request: {path: /keys}
    records: data
    emits: api_key
    map: {external_id: r.id, attributes: r.grants}
`)
	sink, _ := run(t, spec, srv.URL, Options{})
	res := sink.results["keys"]
	if res.Records != 200 {
		t.Fatalf("records %d: %v", res.Records, res.Errors)
	}
	attrs := 0
	for k, n := range res.Nulls {
		if len(k) > len("attributes.") && k[:len("attributes.")] == "attributes." {
			attrs++
			if n != 199 {
				t.Errorf("%s: %d nulls, want 199 (set in one record of 200)", k, n)
			}
		}
	}
	if attrs != maxAttrKeys {
		t.Errorf("%d attribute keys counted, want the cap %d", attrs, maxAttrKeys)
	}
}
