package governance

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/spindlehq/spindle/internal/integration"
)

// Risk kinds. Any of them makes a release need two distinct approvers.
const (
	RiskAuth   = "auth"   // how requests authenticate changed (type, placement, header, prefix, credential, token URL, …)
	RiskScopes = "scopes" // scopes the credential needs that the current release did not ask for
	RiskHosts  = "hosts"  // a host (base_url, token_url) the current release never contacted
	RiskWrite  = "write"  // a stream that does not use GET, new or changed
)

// RiskItem is one flagged change.
type RiskItem struct {
	Kind string `json:"kind"`
	What string `json:"what"`
}

// Risk is what a proposal changes compared with the current release (or,
// for a new integration, everything it introduces) that a person must
// weigh more carefully than a mapping change.
type Risk struct {
	NewIntegration bool       `json:"new_integration"`
	Items          []RiskItem `json:"items"`
	// Writes lists every stream that does not use GET (a read_only POST
	// search), new or not, for the reviewer's eye.
	Writes []string `json:"writes"`
	// Required is the number of distinct approvers the change needs: two
	// when any item is flagged, else one.
	Required int `json:"required_approvals"`
}

// Assess compares the proposed spec with the current release's (nil base:
// a new integration). It reads only the specs — the artifacts the
// approvals bind — never the build report, which is whatever the bundle's
// author wrote, so Verify can recompute it offline from stored texts.
//
// Write methods count alongside auth, scopes and hosts: a non-GET request
// is the one way a read-only integration could change a vendor's data, so
// the lint's read_only exception deserves a second pair of eyes.
func Assess(base, next []byte) (Risk, error) {
	n, err := parseSpec(next)
	if err != nil {
		return Risk{}, fmt.Errorf("proposed spec: %w", err)
	}
	r := Risk{Items: []RiskItem{}, Writes: writes(n)}
	var b *integration.Spec
	if base != nil {
		if b, err = parseSpec(base); err != nil {
			return Risk{}, fmt.Errorf("released spec: %w", err)
		}
	} else {
		r.NewIntegration = true
	}
	add := func(kind, format string, args ...any) {
		r.Items = append(r.Items, RiskItem{Kind: kind, What: fmt.Sprintf(format, args...)})
	}

	na := n.Connection.Auth
	if b == nil {
		if na.Type != integration.AuthNone && na.Type != "" {
			add(RiskAuth, "new auth: %s", describeAuth(na))
		}
	} else {
		ba := b.Connection.Auth
		for _, f := range authFields() {
			if bv, nv := f.get(ba), f.get(na); bv != nv {
				add(RiskAuth, "auth %s changes from %s to %s", f.name, show(bv), show(nv))
			}
		}
	}

	var baseScopes []string
	if b != nil {
		baseScopes = b.Connection.Auth.Scopes
	}
	for _, sc := range uniqueSorted(na.Scopes) {
		if !slices.Contains(baseScopes, sc) {
			add(RiskScopes, "new scope %q", sc)
		}
	}

	var baseHosts []string
	if b != nil {
		baseHosts = Hosts(b)
	}
	for _, h := range Hosts(n) {
		if !slices.Contains(baseHosts, h) {
			add(RiskHosts, "new host %s", h)
		}
	}

	baseMethods := map[string]string{}
	if b != nil {
		for _, st := range b.Streams {
			baseMethods[st.Name] = st.Request.MethodOrGet()
		}
	}
	for _, st := range n.Streams {
		m := st.Request.MethodOrGet()
		if m == "GET" {
			continue
		}
		if old, ok := baseMethods[st.Name]; !ok {
			add(RiskWrite, "new stream %s uses %s %s", st.Name, m, st.Request.Path)
		} else if old != m {
			add(RiskWrite, "stream %s changes from %s to %s %s", st.Name, old, m, st.Request.Path)
		}
	}

	r.Required = 1
	if len(r.Items) > 0 {
		r.Required = 2
	}
	return r, nil
}

// parseSpec parses without linting: a stored spec was linted when it was
// proposed, and risk must be computable for any spec that parses.
func parseSpec(b []byte) (*integration.Spec, error) {
	doc, err := integration.Parse("integration.yaml", b)
	if err != nil {
		return nil, err
	}
	return doc.Spec, nil
}

type authField struct {
	name string
	get  func(integration.Auth) string
}

func authFields() []authField {
	return []authField{
		{"type", func(a integration.Auth) string { return a.Type }},
		{"placement (in)", func(a integration.Auth) string {
			if a.Type == integration.AuthAPIKey && a.In == "" {
				return "header" // the default; writing it out is no change
			}
			return a.In
		}},
		{"header/parameter name", func(a integration.Auth) string { return a.Name }},
		{"prefix", func(a integration.Auth) string { return a.Prefix }},
		{"credential", func(a integration.Auth) string { return a.Credential }},
		{"username", func(a integration.Auth) string { return a.Username }},
		{"client_id", func(a integration.Auth) string { return a.ClientID }},
		{"token_url", func(a integration.Auth) string { return a.TokenURL }},
	}
}

func describeAuth(a integration.Auth) string {
	parts := []string{a.Type}
	if a.Name != "" {
		in := a.In
		if in == "" {
			in = "header"
		}
		parts = append(parts, fmt.Sprintf("%s %s", in, a.Name))
	}
	if a.Prefix != "" {
		parts = append(parts, fmt.Sprintf("prefix %q", a.Prefix))
	}
	if a.TokenURL != "" {
		parts = append(parts, "token_url "+a.TokenURL)
	}
	if a.Credential != "" {
		parts = append(parts, "credential "+a.Credential)
	}
	return strings.Join(parts, ", ")
}

func show(s string) string {
	if s == "" {
		return "(none)"
	}
	return fmt.Sprintf("%q", s)
}

// Hosts are the hosts a spec contacts: base_url's, and an absolute
// token_url's (a relative one is on base_url). The lint keeps every
// request path on base_url's host.
func Hosts(sp *integration.Spec) []string {
	var out []string
	if h := hostOf(sp.Connection.BaseURL); h != "" {
		out = append(out, h)
	}
	if tu := sp.Connection.Auth.TokenURL; strings.Contains(tu, "://") {
		if h := hostOf(tu); h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// hostOf is the host[:port] of an absolute URL, also when it templates
// {config.x} (which url.Parse may reject); compared as written.
func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return strings.ToLower(u.Host)
	}
	i := strings.Index(raw, "://")
	if i < 0 {
		return ""
	}
	h := raw[i+3:]
	if j := strings.IndexAny(h, "/?#"); j >= 0 {
		h = h[:j]
	}
	return strings.ToLower(h)
}

func writes(sp *integration.Spec) []string {
	out := []string{}
	for _, st := range sp.Streams {
		if m := st.Request.MethodOrGet(); m != "GET" {
			out = append(out, fmt.Sprintf("%s: %s %s", st.Name, m, st.Request.Path))
		}
	}
	return out
}

func uniqueSorted(in []string) []string {
	out := slices.Clone(in)
	sort.Strings(out)
	return slices.Compact(out)
}
