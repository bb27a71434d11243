package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/spindlehq/spindle/internal/integration"
)

// NewAuth returns a RoundTripper that adds the credential to each request,
// on a clone: the caller's request, and the response's Request field, never
// carry it, so pagination and logs built from them cannot leak it.
//
// Types (a.Type; "" means none):
//   - api_key: a.In "header" (default) or "query"; a.Name defaults to
//     Authorization for a header and is required for a query; a.Prefix
//     (such as "SSWS " or "Token token=") is prepended.
//   - bearer: "Authorization: Bearer <secret>".
//   - basic: username (auth.username, already templated by the caller) and
//     the secret as password; with no username the secret must be
//     "user:password".
//   - oauth2_client_credentials: clientID, the secret as client secret,
//     tokenURL absolute, a.Scopes. The token request goes through
//     tokenTransport, which the caller builds with a HostGuard allowing the
//     token host; it is required so the token request cannot bypass the
//     guard. Tokens are cached until they expire or a request is refused
//     with 401.
//   - none.
//
// The secret and its wire forms (and every access token obtained) are added
// to red; every error this layer returns, including those from the layers
// beneath it, is Redacted by red. With red nil NewAuth uses a private one.
func NewAuth(next http.RoundTripper, a integration.Auth, username, clientID, tokenURL string, secret Secret, tokenTransport http.RoundTripper, red *Redactor) (http.RoundTripper, error) {
	if red == nil {
		red = NewRedactor()
	}
	typ := a.Type
	if typ == "" {
		typ = integration.AuthNone
	}
	if typ != integration.AuthNone {
		if secret.IsZero() {
			return nil, fmt.Errorf("auth %s: credential %q is empty; provision it before running", typ, a.Credential)
		}
		if len(secret.Reveal()) < MinRedactLen {
			return nil, fmt.Errorf("auth %s: credential %q is shorter than %d characters, too short to redact reliably; provision the real credential", typ, a.Credential, MinRedactLen)
		}
		red.Add(secret.Reveal())
	}
	if a.Prefix != "" && typ != integration.AuthAPIKey {
		return nil, fmt.Errorf("auth %s: auth.prefix applies to api_key only (use type api_key with a prefix for a custom scheme)", typ)
	}

	var cred credential
	switch typ {
	case integration.AuthNone:
		cred = noCredential{}
	case integration.AuthAPIKey:
		switch strings.ToLower(a.In) {
		case "", "header":
			name := a.Name
			if name == "" {
				name = "Authorization"
			}
			cred = headerCredential{name: http.CanonicalHeaderKey(name), value: a.Prefix + secret.Reveal()}
		case "query":
			if a.Name == "" {
				return nil, errors.New("auth api_key: auth.name is required when auth.in is query (the query parameter that carries the key)")
			}
			cred = queryCredential{name: a.Name, value: a.Prefix + secret.Reveal()}
		default:
			return nil, fmt.Errorf("auth api_key: auth.in %q is not supported; use header or query", a.In)
		}
	case integration.AuthBearer:
		cred = headerCredential{name: "Authorization", value: "Bearer " + secret.Reveal()}
	case integration.AuthBasic:
		user, pass := username, secret.Reveal()
		if username == "" {
			var ok bool
			if user, pass, ok = strings.Cut(secret.Reveal(), ":"); !ok {
				return nil, fmt.Errorf("auth basic: auth.username is empty, so credential %q must have the form user:password, and it has no ':'", a.Credential)
			}
		}
		// The header carries base64("user:pass"), in which the secret is not
		// a substring, so that form is registered whole.
		red.Add(pass, user+":"+pass)
		cred = basicCredential{user: user, pass: pass}
	case integration.AuthOAuth2ClientCredentials:
		c, err := newOAuthCredential(a, clientID, tokenURL, secret, tokenTransport, red)
		if err != nil {
			return nil, err
		}
		cred = c
	default:
		return nil, fmt.Errorf("auth type %q is not supported; use one of %s", a.Type, strings.Join(integration.AuthTypes, ", "))
	}
	return &authTransport{next: next, cred: cred, red: red}, nil
}

// credential sets itself on an outgoing (cloned) request.
type credential interface {
	apply(ctx context.Context, r *http.Request) error
	// refused is told of a 401 to the request it was applied to.
	refused(r *http.Request)
}

type authTransport struct {
	next http.RoundTripper
	cred credential
	red  *Redactor
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	if err := t.cred.apply(req.Context(), r); err != nil {
		closeBody(req)
		return nil, t.red.Error(err)
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, t.red.Error(err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		t.cred.refused(r)
	}
	resp.Request = req
	return resp, nil
}

type noCredential struct{}

func (noCredential) apply(context.Context, *http.Request) error { return nil }
func (noCredential) refused(*http.Request)                      {}

type headerCredential struct{ name, value string }

func (c headerCredential) apply(_ context.Context, r *http.Request) error {
	r.Header.Set(c.name, c.value)
	return nil
}
func (headerCredential) refused(*http.Request) {}

type queryCredential struct{ name, value string }

// apply appends the parameter to the raw query rather than re-encoding it,
// so the caller's other parameters (cursors especially) go out byte for
// byte as built.
func (c queryCredential) apply(_ context.Context, r *http.Request) error {
	q := r.URL.Query()
	if q.Has(c.name) {
		q.Del(c.name)
		r.URL.RawQuery = q.Encode()
	}
	kv := url.QueryEscape(c.name) + "=" + url.QueryEscape(c.value)
	if r.URL.RawQuery == "" {
		r.URL.RawQuery = kv
	} else {
		r.URL.RawQuery += "&" + kv
	}
	return nil
}
func (queryCredential) refused(*http.Request) {}

type basicCredential struct{ user, pass string }

func (c basicCredential) apply(_ context.Context, r *http.Request) error {
	r.SetBasicAuth(c.user, c.pass)
	return nil
}
func (basicCredential) refused(*http.Request) {}

type oauthCredential struct {
	conf   *clientcredentials.Config
	client *http.Client
	red    *Redactor
	host   string

	fetch chan struct{} // one token request at a time; a channel so waiters honour ctx
	mu    sync.Mutex
	tok   *oauth2.Token
}

func newOAuthCredential(a integration.Auth, clientID, tokenURL string, secret Secret, tokenTransport http.RoundTripper, red *Redactor) (*oauthCredential, error) {
	if clientID == "" {
		return nil, errors.New("auth oauth2_client_credentials: auth.client_id is required")
	}
	u, err := url.Parse(tokenURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("auth oauth2_client_credentials: token URL %q must be an absolute http(s) URL", tokenURL)
	}
	if tokenTransport == nil {
		return nil, errors.New("auth oauth2_client_credentials: a token transport is required (one whose host guard allows the token host)")
	}
	s := secret.Reveal()
	// The client authenticates as base64(id:secret), raw or (RFC 6749
	// 2.3.1) with both parts form-encoded first; register both.
	red.Add(clientID+":"+s, url.QueryEscape(clientID)+":"+url.QueryEscape(s))
	return &oauthCredential{
		conf: &clientcredentials.Config{
			ClientID: clientID, ClientSecret: s, TokenURL: tokenURL, Scopes: a.Scopes,
		},
		// The token client follows no redirect: a token endpoint that
		// redirects is misconfigured, and the credential should not chase it.
		client: &http.Client{
			Transport:     tokenTransport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		red:   red,
		host:  u.Host,
		fetch: make(chan struct{}, 1),
	}, nil
}

func (c *oauthCredential) current() *oauth2.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tok
}

func (c *oauthCredential) token(ctx context.Context) (*oauth2.Token, error) {
	if t := c.current(); t.Valid() {
		return t, nil
	}
	select {
	case c.fetch <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.fetch }()
	if t := c.current(); t.Valid() { // fetched while we waited
		return t, nil
	}
	t, err := c.conf.Token(context.WithValue(ctx, oauth2.HTTPClient, c.client))
	if err != nil {
		return nil, c.tokenError(err)
	}
	c.red.Add(t.AccessToken, t.RefreshToken)
	c.mu.Lock()
	c.tok = t
	c.mu.Unlock()
	return t, nil
}

func (c *oauthCredential) apply(ctx context.Context, r *http.Request) error {
	t, err := c.token(ctx)
	if err != nil {
		return err
	}
	// Always "Bearer": some servers return token_type "bearer" and reject
	// the lower-case scheme, and this flow only issues bearer tokens.
	r.Header.Set("Authorization", "Bearer "+t.AccessToken)
	return nil
}

// refused drops the cached token if it is the one the server refused: it
// may have been revoked early, and the next request should get a new one.
func (c *oauthCredential) refused(r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != nil && r.Header.Get("Authorization") == "Bearer "+c.tok.AccessToken {
		c.tok = nil
	}
}

func (c *oauthCredential) tokenError(err error) error {
	te := &TokenError{Host: c.host, Err: err}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		te.Refused = re.ErrorCode != "" ||
			(re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 && re.Response.StatusCode != http.StatusTooManyRequests)
	}
	return te
}

// TokenError is a failed oauth2 token request. Refused means the token
// endpoint turned the client down (a 4xx or an OAuth error code): retrying
// will not help, a person has to fix the credential.
type TokenError struct {
	Host    string
	Refused bool
	Err     error
}

func (e *TokenError) Error() string {
	if e.Refused {
		return fmt.Sprintf("oauth2 token endpoint %s refused the client credentials (check auth.client_id, the credential and auth.scopes): %v", e.Host, e.Err)
	}
	return fmt.Sprintf("oauth2 token request to %s failed: %v", e.Host, e.Err)
}

func (e *TokenError) Unwrap() error { return e.Err }

// permanent: a refusal, or whatever the token request hit (a PolicyError)
// that is permanent itself.
func (e *TokenError) permanent() bool { return e.Refused || isPermanent(e.Err) }
