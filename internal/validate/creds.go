package validate

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/runtime"
	"github.com/spindlehq/spindle/internal/sandbox"
)

// noCredential is what the resolver hands out when the sandbox has no
// credential matching the spec's auth: the run then goes out with a wrong
// credential, the sandbox refuses it, and the auth check shows why. It is
// long enough for the runtime to accept and redact.
const noCredential = "sbx-no-matching-credential"

// credPlan is how one run authenticates against one sandbox: the secret
// the resolver returns for the spec's credential reference, and the
// non-secret auth inputs (user name, client id, token URL) that must be
// the sandbox's for its credential to work.
type credPlan struct {
	ref    string
	secret string
	config map[string]string // config inputs auth templates read
	notes  []string
}

// resolver is the one place a credential value exists during validation.
func (p credPlan) resolver() runtime.SecretResolver { return planResolver(p) }

type planResolver credPlan

func (r planResolver) Resolve(ctx context.Context, ref string) (runtime.Secret, error) {
	if err := ctx.Err(); err != nil {
		return runtime.Secret{}, err
	}
	if r.ref == "" || ref != r.ref {
		return runtime.Secret{}, fmt.Errorf("credential %q: validation provides only the spec's connection.auth.credential (%q)", ref, r.ref)
	}
	return runtime.NewSecret(r.secret), nil
}

// runSpec returns the spec as validation runs it: the same streams, with
// connection.auth pointed at the sandbox's credential (its user name,
// client id and token URL, which the spec cannot know), and the plan that
// resolves the credential. The spec itself is not changed.
func (v *validation) runSpec(spec *integration.Spec, creds []sandbox.Credential) (*integration.Spec, credPlan) {
	cp := *spec
	a := cp.Connection.Auth
	plan := credPlan{ref: a.Credential, config: map[string]string{}}
	if rl := cp.Defaults.RateLimit; rl != nil {
		// The sandbox is not rate limited, and the runtime's limiter is
		// proven by its own tests; pacing here would only make a 2,000-
		// request validation take minutes at a vendor's 5 requests/s.
		// Throttling is judged by the 429 scenario instead.
		cp.Defaults.RateLimit = nil
		plan.notes = append(plan.notes, fmt.Sprintf("the spec's rate limit (%g requests/s) is lifted in the sandbox; it applies against the vendor", rl.RequestsPerSecond))
	}
	c, how := matchCredential(a, creds)
	if a.Type == integration.AuthNone || a.Type == "" {
		cp.Connection.Auth = a
		if len(creds) > 0 {
			plan.notes = append(plan.notes, "the spec sends no credential (auth type none)")
		}
		return &cp, plan
	}
	if c == nil {
		plan.secret = noCredential
		plan.notes = append(plan.notes, fmt.Sprintf("no sandbox credential fits auth type %s%s (%s); the run sent a placeholder", a.Type, authShape(a), how))
		cp.Connection.Auth = a
		return &cp, plan
	}
	plan.notes = append(plan.notes, fmt.Sprintf("auth %s%s uses the sandbox credential of scheme %s (%s)", a.Type, authShape(a), c.Scheme, how))
	switch a.Type {
	case integration.AuthAPIKey, integration.AuthBearer:
		plan.secret = secretOf(a, *c)
	case integration.AuthBasic:
		if a.Username == "" {
			plan.secret = c.Username + ":" + c.Password
		} else {
			plan.secret = c.Password
			a.Username = v.authInput(&plan, a.Username, c.Username)
		}
	case integration.AuthOAuth2ClientCredentials:
		plan.secret = c.ClientSecret
		a.ClientID = v.authInput(&plan, a.ClientID, c.ClientID)
		// Absolute and on the sandbox: the runtime's token URL must follow
		// the base URL override, and the sandbox serves its token endpoint
		// where the doc's flow says.
		if c.TokenURL != "" {
			a.TokenURL = c.TokenURL
			cp.Connection.BaseURL = tokenBase(c.TokenURL) + v.baseURL.EscapedPath()
		}
	}
	cp.Connection.Auth = a
	return &cp, plan
}

// tokenBase is the origin of an absolute URL (the sandbox's).
func tokenBase(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}

// authInput gives a non-secret auth input the sandbox's value: through its
// config input when the spec templates one ("{config.client_id}"), so
// the spec's own plumbing is exercised, else by replacing the literal.
func (v *validation) authInput(plan *credPlan, tmpl, want string) string {
	if name, ok := strings.CutPrefix(strings.TrimSuffix(strings.TrimPrefix(tmpl, "{"), "}"), integration.VarConfig+"."); ok &&
		strings.HasPrefix(tmpl, "{") && strings.HasSuffix(tmpl, "}") && !strings.ContainsAny(name, "{}") {
		if _, declared := v.spec.Connection.Config[name]; declared {
			plan.config[name] = want
			return tmpl
		}
	}
	return want
}

func authShape(a integration.Auth) string {
	switch a.Type {
	case integration.AuthAPIKey:
		in, name := a.In, a.Name
		if in == "" {
			in = "header"
		}
		if name == "" {
			name = "Authorization"
		}
		s := fmt.Sprintf(" in %s %s", in, name)
		if a.Prefix != "" {
			s += fmt.Sprintf(" with prefix %q", a.Prefix)
		}
		return s
	}
	return ""
}

// secretOf is the value to hand out for an api_key or bearer spec.
func secretOf(a integration.Auth, c sandbox.Credential) string {
	switch c.Type {
	case "apiKey":
		return c.Value
	case "http":
		if c.HTTPScheme == "basic" {
			return base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Password))
		}
		return c.Value
	case "oauth2", "openIdConnect":
		return c.AccessToken
	}
	return c.Value
}

// matchCredential finds the sandbox credential the spec's auth presents:
// the same place, name and prefix for api_key, the same wire form for
// the others (an api_key "Authorization: Bearer " is a bearer token). When
// nothing fits exactly it falls back to the closest credential, so a
// wrong header or prefix reaches the sandbox and is refused there, which
// is the evidence the auth check needs; how says which rule matched.
func matchCredential(a integration.Auth, creds []sandbox.Credential) (*sandbox.Credential, string) {
	find := func(pred func(sandbox.Credential) bool) *sandbox.Credential {
		for i := range creds {
			if pred(creds[i]) {
				return &creds[i]
			}
		}
		return nil
	}
	bearer := func(c sandbox.Credential) bool {
		return c.Type == "http" && c.HTTPScheme == "bearer" && c.Value != ""
	}
	token := func(c sandbox.Credential) bool {
		return (c.Type == "oauth2" || c.Type == "openIdConnect") && c.AccessToken != ""
	}
	switch a.Type {
	case integration.AuthAPIKey:
		in, name := strings.ToLower(a.In), a.Name
		if in == "" {
			in = "header"
		}
		if name == "" {
			name = "Authorization"
		}
		sameName := func(c sandbox.Credential) bool {
			if c.Type != "apiKey" || c.In != in {
				return false
			}
			if in == "header" {
				return strings.EqualFold(c.Name, name)
			}
			return c.Name == name
		}
		if c := find(func(c sandbox.Credential) bool { return sameName(c) && c.Prefix == a.Prefix }); c != nil {
			return c, "same place, name and prefix"
		}
		if in == "header" && strings.EqualFold(name, "Authorization") {
			word, _, _ := strings.Cut(a.Prefix, " ")
			switch strings.ToLower(word) {
			case "bearer":
				if c := find(bearer); c != nil {
					return c, "an Authorization: Bearer header is the doc's bearer scheme"
				}
				if c := find(token); c != nil {
					return c, "an Authorization: Bearer header carries the doc's oauth2 access token"
				}
			case "basic":
				if c := find(func(c sandbox.Credential) bool { return c.Type == "http" && c.HTTPScheme == "basic" }); c != nil {
					return c, "an Authorization: Basic header is the doc's basic scheme"
				}
			}
		}
		if c := find(sameName); c != nil {
			return c, fmt.Sprintf("same name, but the doc's prefix is %q", c.Prefix)
		}
		if c := find(func(c sandbox.Credential) bool { return c.Type == "apiKey" }); c != nil {
			return c, fmt.Sprintf("closest: the doc sends it in %s %s", c.In, c.Name)
		}
	case integration.AuthBearer:
		if c := find(bearer); c != nil {
			return c, "http bearer"
		}
		if c := find(token); c != nil {
			return c, "oauth2 access token"
		}
		if c := find(func(c sandbox.Credential) bool {
			return c.Type == "apiKey" && c.In == "header" && strings.EqualFold(c.Name, "Authorization") &&
				strings.EqualFold(strings.TrimSpace(c.Prefix), "Bearer")
		}); c != nil {
			return c, "an api key sent as Authorization: Bearer"
		}
	case integration.AuthBasic:
		if c := find(func(c sandbox.Credential) bool { return c.Type == "http" && c.HTTPScheme == "basic" }); c != nil {
			return c, "http basic"
		}
	case integration.AuthOAuth2ClientCredentials:
		if c := find(func(c sandbox.Credential) bool { return c.Type == "oauth2" && c.ClientID != "" }); c != nil {
			return c, "oauth2 client credentials flow"
		}
		return nil, "the doc declares no oauth2 clientCredentials flow"
	}
	if len(creds) == 0 {
		return nil, "the doc declares no security scheme"
	}
	return nil, "no scheme of the doc is sent that way"
}
