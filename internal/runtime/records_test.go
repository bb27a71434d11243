package runtime

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRecordsPath(t *testing.T) {
	body := `{"services":[{"id":"s1","integrations":[{"id":"i1"},{"id":"i2"}]},{"id":"s2","integrations":null},{"id":"s3"},{"id":"s4","integrations":[{"id":"i3"}]}],"more":false}`
	var doc any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	bare := []any{map[string]any{"keys": []any{"k1"}}, map[string]any{"keys": []any{"k2", "k3"}}}
	cases := []struct {
		name    string
		doc     any
		path    string
		want    int
		pageLen int
		err     string
	}{
		{"plain", doc, "services", 4, 4, ""},
		{"embedded", doc, "services.*.integrations", 3, 4, ""},
		{"bare parents", bare, "*.keys", 3, 2, ""},
		{"missing outer", doc, "teams.*.members", 0, 0, `records path "teams" is not in the response`},
		{"inner not a list", doc, "services.*.id", 0, 0, `element 0 of "services" holds a string at "id", want an array`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			items, n, err := records(c.doc, c.path)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != c.want || n != c.pageLen {
				t.Fatalf("got %d items, page length %d; want %d, %d", len(items), n, c.want, c.pageLen)
			}
		})
	}
}
