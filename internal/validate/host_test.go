package validate

import (
	"testing"

	"github.com/spindlehq/spindle/internal/apisurface"
)

func TestCheckHost(t *testing.T) {
	tenant := []apisurface.Server{{URL: "https://{tenant}.example.com/api", Variables: []apisurface.ServerVariable{{Name: "tenant", Default: "acme"}}}}
	bare := []apisurface.Server{{URL: "https://{domain}", Variables: []apisurface.ServerVariable{{Name: "domain", Default: "sub.vendor.example", Enum: []string{"eu.vendor.example"}}}}}
	fixed := []apisurface.Server{{URL: "https://api.vendor.example/v2"}, {URL: "https://sandbox.vendor.example/v2"}}
	cases := []struct {
		name    string
		base    string
		servers []apisurface.Server
		ok      bool
	}{
		{"same host", "https://api.vendor.example/v2", fixed, true},
		{"second server", "https://sandbox.vendor.example", fixed, true},
		{"case", "https://API.vendor.example/v2", fixed, true},
		{"foreign", "https://collector.evil.example/v2", fixed, false},
		{"lookalike", "https://api.vendor.example.evil.example/v2", fixed, false},
		{"templated like the doc", "https://{config.tenant}.example.com/api", tenant, true},
		{"default value", "https://acme.example.com/api", tenant, true},
		{"other tenant literal", "https://other.example.com/api", tenant, false},
		{"whole-host variable, templated", "https://{config.domain}", bare, true},
		{"whole-host variable, enum", "https://eu.vendor.example", bare, true},
		{"whole-host variable, literal elsewhere", "https://evil.example", bare, false},
		{"no servers", "https://anything.example", nil, true},
		{"relative server", "https://anything.example", []apisurface.Server{{URL: "/v1"}}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckHost(c.base, c.servers)
			if (err == nil) != c.ok {
				t.Fatalf("CheckHost(%q) = %v, want ok=%t", c.base, err, c.ok)
			}
		})
	}
}

func TestCheckTokenHost(t *testing.T) {
	doc := &apisurface.Surface{SecuritySchemes: []apisurface.SecurityScheme{{Name: "oauth", Type: "oauth2",
		Flows: []apisurface.OAuthFlow{{Type: "clientCredentials", TokenURL: "https://login.vendor.example/oauth2/token"}}}}}
	relative := &apisurface.Surface{SecuritySchemes: []apisurface.SecurityScheme{{Name: "oauth", Type: "oauth2",
		Flows: []apisurface.OAuthFlow{{Type: "clientCredentials", TokenURL: "/oauth/token"}}}}}
	cases := []struct {
		name, token string
		s           *apisurface.Surface
		ok          bool
	}{
		{"path", "/oauth/token", doc, true},
		{"base host", "https://api.vendor.example/oauth/token", doc, true},
		{"documented identity host", "https://login.vendor.example/oauth2/token", doc, true},
		{"undocumented host", "https://login.evil.example/oauth2/token", doc, false},
		{"doc names none", "https://login.vendor.example/oauth2/token", relative, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckTokenHost(c.token, "https://api.vendor.example/v1", c.s)
			if (err == nil) != c.ok {
				t.Fatalf("CheckTokenHost(%q) = %v, want ok=%t", c.token, err, c.ok)
			}
		})
	}
}
