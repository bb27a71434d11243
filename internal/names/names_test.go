package names

import "testing"

func TestNames(t *testing.T) {
	for _, c := range []struct{ in, snake string }{
		{"lastUsedAt", "last_used_at"}, {"last-used-at", "last_used_at"}, {"LAST_USED_AT", "last_used_at"},
		{"HTTPServer", "http_server"}, {"@odata.nextLink", "odata_next_link"}, {"client_id", "client_id"},
	} {
		if got := Snake(c.in); got != c.snake {
			t.Errorf("Snake(%q) = %q, want %q", c.in, got, c.snake)
		}
	}
	for in, want := range map[string]string{"policies": "policy", "keys": "key", "addresses": "address", "statuses": "status",
		"class": "class", "status": "status", "axis": "axis", "ids": "ids", "boxes": "box", "certificates": "certificate"} {
		if got := Singular(in); got != want {
			t.Errorf("Singular(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"Acme Cloud API": "acme-cloud-api", "  Okta: Admin (v2) ": "okta-admin-v2", "": ""} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}
