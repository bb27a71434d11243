package sandbox

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/nhi"
)

// Hand-built surfaces: what the loader and inference produce for a small
// vendor ("Acme") with one list per paging style.

func str() *apisurface.Schema { return &apisurface.Schema{Type: "string"} }
func strf(format string) *apisurface.Schema {
	return &apisurface.Schema{Type: "string", Format: format}
}
func nullable(s *apisurface.Schema) *apisurface.Schema { s.Nullable = true; return s }
func integer() *apisurface.Schema                      { return &apisurface.Schema{Type: "integer"} }
func boolean() *apisurface.Schema                      { return &apisurface.Schema{Type: "boolean"} }
func arrayOf(s *apisurface.Schema) *apisurface.Schema {
	return &apisurface.Schema{Type: "array", Items: s}
}
func enum(vals ...any) *apisurface.Schema { return &apisurface.Schema{Type: "string", Enum: vals} }
func intPtr(n int) *int                   { return &n }
func f64(n float64) *float64              { return &n }

func obj(required []string, props ...any) *apisurface.Schema {
	s := &apisurface.Schema{Type: "object", Required: required}
	for i := 0; i+1 < len(props); i += 2 {
		s.Properties = append(s.Properties, apisurface.Property{Name: props[i].(string), Schema: props[i+1].(*apisurface.Schema)})
	}
	return s
}

func listOp(path string, resp *apisurface.Schema, records string, rec *apisurface.Schema, kind nhi.Kind, p apisurface.Paging) apisurface.Operation {
	return apisurface.Operation{Method: "GET", Path: path, Response: resp, ResponseStatus: "200",
		List: &apisurface.ListTraits{RecordsPath: records, Records: rec, Paging: p, Kind: kind}}
}

// errorStyle is a vendor's error body: {"error": {"message", "code", "errors"}}.
func errorStyle() map[string]*apisurface.Schema {
	e := obj([]string{"error"}, "error", obj([]string{"message", "code"},
		"message", str(), "code", integer(), "errors", arrayOf(str())))
	return map[string]*apisurface.Schema{"401": e, "403": e, "404": e, "429": e, "5XX": e}
}

// acmeSurface has a human_user list (link header, bare array), service
// accounts (cursor, envelope), their keys (offset + more, child list),
// webhooks (page number), tokens (next_url via JSON Pointer), apps (token),
// deploy keys (header), an audit log (unknown paging), items and objects.
func acmeSurface() *apisurface.Surface {
	user := obj([]string{"id", "name", "email"},
		"id", str(), "name", str(), "email", strf("email"),
		"created_at", strf("date-time"), "last_login_at", nullable(strf("date-time")),
		"status", enum("active", "suspended"), "manager_id", nullable(str()))
	user.Ref = "User"
	sa := obj([]string{"id", "name", "created_at"},
		"id", strf("uuid"), "name", str(), "description", str(),
		"owner_id", nullable(str()), "created_at", strf("date-time"),
		"last_used_at", nullable(strf("date-time")),
		"status", enum("active", "disabled", "expired"),
		"scopes", arrayOf(enum("read:users", "write:users", "admin")))
	keyID := str()
	keyID.Example = "KEY7F3A9Q"
	key := obj([]string{"id", "label", "created_at"},
		"id", keyID, "label", str(), "created_at", strf("date-time"),
		"last_used_at", strf("date-time"), "expires_at", nullable(strf("date-time")),
		"scopes", arrayOf(str()), "prefix", &apisurface.Schema{Type: "string", MinLength: intPtr(6), MaxLength: intPtr(6)})
	hook := obj([]string{"id", "url", "active"},
		"id", &apisurface.Schema{Type: "integer", Format: "int64"}, "url", strf("uri"),
		"events", arrayOf(enum("push", "deploy", "alert")), "active", boolean(),
		"created_by", str(), "created_at", strf("date-time"),
		"secret_hint", &apisurface.Schema{Type: "string", Pattern: "^[a-z]{2}[0-9]{4}$"},
		"retries", &apisurface.Schema{Type: "integer", Minimum: f64(0), Maximum: f64(5)},
		"delivery", &apisurface.Schema{OneOf: []*apisurface.Schema{
			obj([]string{"mode"}, "mode", enum("http"), "timeout_ms", integer()),
			obj([]string{"mode"}, "mode", enum("queue"), "queue", str())}},
		"labels", &apisurface.Schema{Type: "object", AdditionalProperties: str()})
	token := obj([]string{"id", "displayName"},
		"id", strf("uuid"), "displayName", str(), "createdDateTime", strf("date-time"),
		"expirationDateTime", nullable(strf("date-time")), "ipAddress", strf("ipv4"))
	app := obj([]string{"name"}, "name", str(), "createTime", strf("date-time"), "homepage", strf("uri"))
	deployKey := obj([]string{"id", "fingerprint"}, "id", integer(), "fingerprint", str(),
		"public_key", str(), "read_only", boolean(), "created", strf("date"))
	event := obj(nil, "actor", str(), "action", str(), "at", strf("date-time"))

	ops := []apisurface.Operation{
		listOp("/users", arrayOf(user), "", user, nhi.HumanUser,
			apisurface.Paging{Style: apisurface.PageLinkHeader, SizeParam: "per_page", MaxPageSize: 100}),
		{Method: "GET", Path: "/users/{user_id}", Response: user, ResponseStatus: "200"},
		{Method: "GET", Path: "/users/me", Response: user, ResponseStatus: "200"},
		listOp("/service_accounts",
			obj([]string{"data", "meta"}, "data", arrayOf(sa), "meta", obj(nil, "next_cursor", nullable(str()), "total", integer())),
			"data", sa, nhi.ServiceAccount,
			apisurface.Paging{Style: apisurface.PageCursor, CursorPath: "meta.next_cursor", CursorParam: "cursor", SizeParam: "limit", MaxPageSize: 100}),
		{Method: "GET", Path: "/service_accounts/{id}", Response: obj(nil, "service_account", sa), ResponseStatus: "200"},
		listOp("/service_accounts/{id}/keys",
			obj([]string{"keys", "more"}, "keys", arrayOf(key), "limit", integer(), "offset", integer(), "more", boolean()),
			"keys", key, nhi.APIKey,
			apisurface.Paging{Style: apisurface.PageOffset, LimitParam: "limit", OffsetParam: "offset", MoreField: "more", MaxPageSize: 50}),
		{Method: "GET", Path: "/service_accounts/{id}/keys/{key_id}", Response: key, ResponseStatus: "200"},
		listOp("/webhooks",
			obj([]string{"webhooks"}, "webhooks", arrayOf(hook), "page", integer(), "per_page", integer(), "total", integer()),
			"webhooks", hook, nhi.Webhook,
			apisurface.Paging{Style: apisurface.PagePageNumber, PageParam: "page", SizeParam: "per_page", StartPage: intPtr(1), MaxPageSize: 50}),
		listOp("/tokens",
			obj([]string{"value"}, "value", arrayOf(token), "@odata.nextLink", strf("uri")),
			"value", token, nhi.AccessToken,
			apisurface.Paging{Style: apisurface.PageNextURL, NextURLPath: "/@odata.nextLink", SizeParam: "$top"}),
		listOp("/apps",
			obj([]string{"apps"}, "apps", arrayOf(app), "nextPageToken", str()),
			"apps", app, nhi.OAuthApp,
			apisurface.Paging{Style: apisurface.PageToken, CursorPath: "nextPageToken", CursorParam: "pageToken", SizeParam: "pageSize"}),
		listOp("/deploy_keys", arrayOf(deployKey), "", deployKey, nhi.DeployKey,
			apisurface.Paging{Style: apisurface.PageHeader, Header: "X-Next-Page", SizeParam: "limit"}),
		listOp("/audit", obj([]string{"events"}, "events", arrayOf(event)), "events", event, "",
			apisurface.Paging{Style: apisurface.PageUnknown}),
		{Method: "GET", Path: "/me", Response: obj([]string{"account"}, "account", obj(nil, "name", str(), "plan", enum("free", "pro"))), ResponseStatus: "200"},
		{Method: "DELETE", Path: "/webhooks/{id}"},
	}
	for i := range ops {
		ops[i].ErrorResponses = errorStyle()
	}
	return &apisurface.Surface{
		Title: "Acme", Version: "1.0",
		Servers: []apisurface.Server{{URL: "https://api.acme.example/api/v1"}},
		SecuritySchemes: []apisurface.SecurityScheme{
			{Name: "api_key", Type: "apiKey", In: "header", ParamName: "Authorization", Prefix: "Token token="},
		},
		Security:   []apisurface.Requirement{{Schemes: []apisurface.SchemeUse{{Scheme: "api_key"}}}},
		Operations: ops,
	}
}

func newSandbox(t *testing.T, s *apisurface.Surface, o Options) *Sandbox {
	t.Helper()
	sb, err := New(s, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return sb
}

// do sends a GET through the handler (no network) with cred applied.
func do(t *testing.T, h http.Handler, target string, cred *Credential) *http.Response {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if cred != nil {
		cred.Apply(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, b)
	}
	return v
}

func cred(t *testing.T, sb *Sandbox, scheme string) *Credential {
	t.Helper()
	for _, c := range sb.Credentials() {
		if c.Scheme == scheme {
			return &c
		}
	}
	t.Fatalf("no credential for scheme %q", scheme)
	return nil
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}

func doB(h http.Handler, target string, cred *Credential) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if cred != nil {
		cred.Apply(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
