package apisurface

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/nhi"
)

// Small schema builders: hand-written surfaces, one per envelope and
// paging style, in the shapes the loader produces.

func tObj(props ...Property) *Schema { return &Schema{Type: "object", Properties: props} }
func tArr(items *Schema) *Schema     { return &Schema{Type: "array", Items: items} }
func tStr() *Schema                  { return &Schema{Type: "string"} }
func tInt() *Schema                  { return &Schema{Type: "integer"} }
func tBool() *Schema                 { return &Schema{Type: "boolean"} }
func tP(name string, s *Schema) Property {
	return Property{Name: name, Schema: s}
}
func tF(v float64) *float64 { return &v }

// tRec is a record schema with string properties.
func tRec(ref string, names ...string) *Schema {
	s := &Schema{Type: "object", Ref: ref}
	for _, n := range names {
		s.Properties = append(s.Properties, tP(n, tStr()))
	}
	return s
}

func tQ(name string, s *Schema, desc string) Parameter {
	return Parameter{Name: name, In: "query", Schema: s, Description: desc}
}

func tIntMax(max float64) *Schema { return &Schema{Type: "integer", Maximum: tF(max)} }

func tGet(path string, resp *Schema, params ...Parameter) Operation {
	return Operation{Method: "GET", Path: path, Response: resp, ResponseStatus: "200", Parameters: params}
}

// inferOne runs Infer over a one-operation surface.
func inferOne(t *testing.T, op Operation) *Operation {
	t.Helper()
	s := &Surface{Operations: []Operation{op}}
	Infer(s)
	return &s.Operations[0]
}

// want is the part of ListTraits a case asserts: everything but evidence.
type want struct {
	records string
	paging  Paging // Inference.Confidence is a minimum; Evidence ignored
	kind    nhi.Kind
}

func checkList(t *testing.T, op *Operation, w want) {
	t.Helper()
	l := op.List
	if l == nil {
		t.Fatalf("%s %s: List is nil, want a list", op.Method, op.Path)
	}
	if l.RecordsPath != w.records {
		t.Errorf("RecordsPath = %q, want %q (evidence %v)", l.RecordsPath, w.records, l.RecordsConf.Evidence)
	}
	got := l.Paging
	minConf := w.paging.Inference.Confidence
	got.Inference, w.paging.Inference = Inference{}, Inference{}
	if !reflect.DeepEqual(got, w.paging) {
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(w.paging)
		t.Errorf("Paging =\n  %s\nwant\n  %s\nevidence %v", gj, wj, l.Paging.Inference.Evidence)
	}
	if c := l.Paging.Inference.Confidence; c < minConf || c > 1 {
		t.Errorf("paging confidence %.2f, want at least %.2f (evidence %v)", c, minConf, l.Paging.Inference.Evidence)
	}
	if len(l.Paging.Inference.Evidence) == 0 {
		t.Errorf("paging has no evidence")
	}
	if l.Kind != w.kind {
		t.Errorf("Kind = %q, want %q (evidence %v)", l.Kind, w.kind, l.KindConf.Evidence)
	}
	if l.RecordsConf.Confidence <= 0 || len(l.RecordsConf.Evidence) == 0 {
		t.Errorf("records inference is empty: %+v", l.RecordsConf)
	}
}

func TestInferPagingStyles(t *testing.T) {
	t.Parallel()
	one, zero := 1, 0
	user := tRec("User", "id", "login", "email")
	cases := []struct {
		name string
		op   Operation
		want want
	}{
		{
			name: "link header declared and described",
			op: func() Operation {
				op := tGet("/orgs/{org}/repos", tArr(tRec("Repository", "id", "full_name")),
					tQ("per_page", tIntMax(100), "Results per page."),
					tQ("page", tInt(), "Page number of the results to fetch."))
				op.ResponseHeaders = []string{"link"}
				op.Description = `Follow the URL with rel="next" in the Link header for more results.`
				return op
			}(),
			want: want{records: "", kind: nhi.Resource, paging: Paging{Style: PageLinkHeader, SizeParam: "per_page", MaxPageSize: 100,
				Inference: Inference{Confidence: 0.95}}},
		},
		{
			name: "link header only in prose, bare array",
			op: func() Operation {
				op := tGet("/api/v1/apps", tArr(&Schema{OneOf: []*Schema{tRec("BookmarkApplication", "id", "label"), tRec("SamlApplication", "id", "label")}}),
					tQ("after", tStr(), "Treat this as an opaque value obtained through the next link relationship."),
					tQ("limit", tIntMax(200), "Number of results per page"))
				op.Summary = "List all applications"
				op.ID = "listApplications"
				return op
			}(),
			want: want{records: "", kind: nhi.OAuthApp, paging: Paging{Style: PageLinkHeader, SizeParam: "limit", MaxPageSize: 200,
				Inference: Inference{Confidence: 0.9}}},
		},
		{
			name: "body cursor in a nested metadata object",
			op: tGet("/users.list", tObj(
				tP("ok", tBool()),
				tP("members", tArr(user)),
				tP("response_metadata", tObj(tP("next_cursor", tStr())))),
				tQ("cursor", tStr(), "Paginate by setting the cursor parameter to a next_cursor attribute returned by a previous request's response_metadata."),
				tQ("limit", tInt(), "The maximum number of items to return.")),
			want: want{records: "members", kind: nhi.HumanUser, paging: Paging{Style: PageCursor, SizeParam: "limit",
				CursorParam: "cursor", CursorPath: "response_metadata.next_cursor", Inference: Inference{Confidence: 0.9}}},
		},
		{
			name: "nextPageToken",
			op: tGet("/v1/projects/{project}/serviceAccounts", tObj(
				tP("accounts", tArr(tRec("ServiceAccount", "name", "email", "uniqueId"))),
				tP("nextPageToken", tStr())),
				tQ("pageSize", &Schema{Type: "integer", Maximum: tF(100)}, "Maximum number of items to return."),
				tQ("pageToken", tStr(), "Token from a previous response.")),
			want: want{records: "accounts", kind: nhi.ServiceAccount, paging: Paging{Style: PageToken, SizeParam: "pageSize",
				MaxPageSize: 100, CursorParam: "pageToken", CursorPath: "nextPageToken", Inference: Inference{Confidence: 0.8}}},
		},
		{
			name: "@odata.nextLink",
			op: tGet("/applications", tObj(
				tP("@odata.context", tStr()),
				tP("value", tArr(tRec("microsoft.graph.application", "id", "appId", "displayName"))),
				tP("@odata.nextLink", tStr())),
				tQ("$top", tInt(), "Show only the first n items."),
				tQ("$filter", tStr(), "Filter items by property values.")),
			want: want{records: "value", kind: nhi.OAuthApp, paging: Paging{Style: PageNextURL, SizeParam: "$top",
				NextURLPath: "/@odata.nextLink", Inference: Inference{Confidence: 0.8}}},
		},
		{
			name: "NextMarker with IsTruncated",
			op: tGet("/users", tObj(
				tP("Users", tArr(tRec("User", "UserName", "UserId", "Arn"))),
				tP("IsTruncated", tBool()),
				tP("Marker", &Schema{Type: "string", Description: "The marker sent with the request."}),
				tP("NextMarker", &Schema{Type: "string", Description: "Use this value as the Marker in the next request."})),
				tQ("Marker", tStr(), "Use this only when paginating results."),
				tQ("MaxItems", &Schema{Type: "integer", Maximum: tF(1000)}, "Maximum number of items.")),
			want: want{records: "Users", kind: nhi.HumanUser, paging: Paging{Style: PageCursor, SizeParam: "MaxItems", MaxPageSize: 1000,
				CursorParam: "Marker", CursorPath: "NextMarker", MoreField: "IsTruncated", Inference: Inference{Confidence: 0.8}}},
		},
		{
			name: "continue token in metadata",
			op: tGet("/api/v1/namespaces/{namespace}/secrets", tObj(
				tP("apiVersion", tStr()),
				tP("items", tArr(tRec("Secret", "type", "immutable"))),
				tP("kind", tStr()),
				tP("metadata", tObj(tP("continue", tStr()), tP("resourceVersion", tStr())))),
				tQ("continue", tStr(), "The continue option should be set when retrieving more results from the server."),
				tQ("limit", tInt(), "limit is a maximum number of responses to return for a list call.")),
			want: want{records: "items", kind: nhi.Secret, paging: Paging{Style: PageToken, SizeParam: "limit",
				CursorParam: "continue", CursorPath: "metadata.continue", Inference: Inference{Confidence: 0.8}}},
		},
		{
			name: "offset with more and total",
			op: tGet("/extensions", tObj(
				tP("extensions", tArr(tRec("Extension", "id", "name", "endpoint_url"))),
				tP("limit", tInt()), tP("offset", tInt()), tP("more", tBool()), tP("total", &Schema{Type: "integer", Nullable: true})),
				tQ("limit", tInt(), "The number of results per page."),
				tQ("offset", tInt(), "Offset to start pagination search results."),
				tQ("total", tBool(), "Set to true to populate the total field.")),
			want: want{records: "extensions", kind: nhi.Webhook, paging: Paging{Style: PageOffset, LimitParam: "limit",
				OffsetParam: "offset", MoreField: "more", TotalField: "total", Inference: Inference{Confidence: 0.85}}},
		},
		{
			name: "page number with total",
			op: func() Operation {
				op := tGet("/v2/account/keys", tObj(
					tP("ssh_keys", tArr(tRec("sshKeys", "id", "fingerprint", "public_key", "name"))),
					tP("links", tObj(tP("pages", &Schema{OneOf: []*Schema{tObj(tP("last", tStr()), tP("next", tStr())), tObj(tP("first", tStr()), tP("prev", tStr()))}}))),
					tP("meta", tObj(tP("total", tInt())))),
					tQ("per_page", &Schema{Type: "integer", Minimum: tF(1), Maximum: tF(200)}, "Number of items returned per page"),
					tQ("page", &Schema{Type: "integer", Minimum: tF(1)}, "Which 'page' of paginated results to return."))
				op.ID = "sshKeys_list"
				op.Summary = "List All SSH Keys"
				return op
			}(),
			want: want{records: "ssh_keys", kind: nhi.SSHKey, paging: Paging{Style: PagePageNumber, SizeParam: "per_page", MaxPageSize: 200,
				PageParam: "page", StartPage: &one, TotalField: "meta.total", Inference: Inference{Confidence: 0.8}}},
		},
		{
			name: "page number counted from a default of zero",
			op: tGet("/rest/api/groups", tObj(tP("values", tArr(tRec("Group", "name", "groupId"))), tP("isLast", tBool())),
				tQ("page", &Schema{Type: "integer", Default: float64(0)}, "Page index.")),
			want: want{records: "values", kind: nhi.Team, paging: Paging{Style: PagePageNumber, PageParam: "page", StartPage: &zero,
				Inference: Inference{Confidence: 0.6}}},
		},
		{
			name: "x-next-page header",
			op: func() Operation {
				op := tGet("/projects/{id}/deploy_keys", tArr(tRec("DeployKey", "id", "title", "key")),
					tQ("page", tInt(), "Page number."),
					tQ("per_page", tInt(), "Number of items per page."))
				op.ResponseHeaders = []string{"x-next-page", "x-total"}
				return op
			}(),
			want: want{records: "", kind: nhi.DeployKey, paging: Paging{Style: PageHeader, Header: "x-next-page", CursorParam: "page",
				SizeParam: "per_page", Inference: Inference{Confidence: 0.7}}},
		},
		{
			name: "bare array without paging",
			op: func() Operation {
				op := tGet("/api/v1/api-tokens", tArr(tRec("ApiToken", "id", "name", "tokenWindow")))
				op.Summary = "List all API token metadata"
				return op
			}(),
			want: want{records: "", kind: nhi.APIKey, paging: Paging{Style: PageNone, Inference: Inference{Confidence: 0.5}}},
		},
		{
			name: "cursor taken from a record id: unknown",
			op: tGet("/v1/webhook_endpoints", tObj(
				tP("object", tStr()),
				tP("data", tArr(tRec("webhook_endpoint", "id", "url", "enabled_events"))),
				tP("has_more", tBool()),
				tP("url", tStr())),
				tQ("limit", tInt(), "A limit on the number of objects to be returned."),
				tQ("starting_after", tStr(), "An object ID that defines your place in the list."),
				tQ("ending_before", tStr(), "An object ID that defines your place in the list.")),
			want: want{records: "data", kind: nhi.Webhook, paging: Paging{Style: PageUnknown, Inference: Inference{Confidence: 0.2}}},
		},
		{
			name: "nested data.items envelope with a cursor in meta",
			op: tGet("/v3/teams", tObj(
				tP("data", tObj(tP("items", tArr(tRec("Team", "id", "name"))))),
				tP("meta", tObj(tP("pagination", tObj(tP("next_cursor", tStr())))))),
				tQ("page[after]", tStr(), ""),
				tQ("page[size]", tInt(), "")),
			want: want{records: "data.items", kind: nhi.Team, paging: Paging{Style: PageCursor, SizeParam: "page[size]",
				CursorParam: "page[after]", CursorPath: "meta.pagination.next_cursor", Inference: Inference{Confidence: 0.6}}},
		},
		{
			name: "HAL _links.next.href",
			op: tGet("/api/v1/roles", tObj(
				tP("roles", tArr(tRec("Role", "id", "label"))),
				tP("_links", tObj(tP("next", tObj(tP("href", tStr())))))),
				tQ("limit", tInt(), "")),
			want: want{records: "roles", kind: nhi.Role, paging: Paging{Style: PageNextURL, SizeParam: "limit",
				NextURLPath: "_links.next.href", Inference: Inference{Confidence: 0.8}}},
		},
		{
			name: "offset echoed in the envelope, no parameters declared",
			op: tGet("/status_pages", tObj(
				tP("limit", tInt()), tP("offset", tInt()), tP("more", tBool()),
				tP("status_pages", tArr(tRec("StatusPage", "id", "name"))))),
			want: want{records: "status_pages", paging: Paging{Style: PageOffset, OffsetParam: "offset", LimitParam: "limit",
				MoreField: "more", Inference: Inference{Confidence: 0.5}}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			checkList(t, inferOne(t, c.op), c.want)
		})
	}
}

func TestInferNotAList(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		op   Operation
	}{
		{"single object with an attribute array", tGet("/users/{id}", tObj(tP("id", tStr()), tP("name", tStr()),
			tP("roles", tArr(tRec("Role", "id", "name")))))},
		{"wrapped single object", tGet("/account", tObj(tP("account", tObj(tP("uuid", tStr()), tP("email", tStr())))))},
		{"no response schema", tGet("/things", nil)},
		{"not a GET", Operation{Method: "POST", Path: "/users", Response: tArr(tRec("User", "id"))}},
		{"scalar response", tGet("/count", tInt())},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if op := inferOne(t, c.op); op.List != nil {
				b, _ := json.Marshal(op.List)
				t.Errorf("List = %s, want nil", b)
			}
		})
	}
}

// TestInferHostileShapes: schemas that loop back on themselves, nil
// schemas and empty names (a hand-built or damaged surface) end, without
// panicking.
func TestInferHostileShapes(t *testing.T) {
	t.Parallel()
	loop := &Schema{Type: "object"}
	loop.Properties = []Property{{Name: "self", Schema: loop}, {Name: "data", Schema: &Schema{Type: "array", Items: loop}},
		{Name: "", Schema: nil}, {Name: "next", Schema: nil}}
	loop.OneOf = []*Schema{loop, nil}
	s := &Surface{Operations: []Operation{
		tGet("/loops", loop, Parameter{Name: "page", In: "query"}, Parameter{Name: "", In: "query"}),
		tGet("/", tArr(nil)),
		{Method: "get", Path: "", Response: &Schema{OneOf: []*Schema{nil}}},
	}, SecuritySchemes: []SecurityScheme{{Type: "apiKey", In: "header", ParamName: "Authorization", Description: "`Authorization: {`"}}}
	Infer(s)
	if l := s.Operations[0].List; l == nil || l.RecordsPath != "data" {
		t.Errorf("looping envelope: List = %+v, want records at data", l)
	}
}

func TestInferKind(t *testing.T) {
	t.Parallel()
	type kc struct {
		path, id, summary string
		tags              []string
		records           string // envelope property; "" for a bare array
		props             []string
		want              nhi.Kind
	}
	cases := []kc{
		{path: "/v1/projects/{project}/serviceAccounts", want: nhi.ServiceAccount},
		{path: "/admin/service_users", summary: "List service users", want: nhi.ServiceAccount},
		{path: "/api/keys", want: nhi.APIKey},
		{path: "/projects/{id}/keys", id: "listProjectKeys", summary: "List the keys of a project", want: nhi.APIKey},
		{path: "/account/credentials", want: nhi.APIKey},
		{path: "/user/tokens", summary: "List personal access tokens", want: nhi.AccessToken},
		{path: "/oauth/applications", want: nhi.OAuthApp},
		{path: "/authorizationServers/{id}/clients", summary: "List all clients", props: []string{"client_id", "redirect_uris"}, want: nhi.OAuthApp},
		{path: "/users/{id}/grants", summary: "List all grants for a user", want: nhi.OAuthGrant},
		{path: "/app/installations", summary: "List installations for the authenticated app", want: nhi.AppInstallation},
		{path: "/repos/{owner}/{repo}/keys", summary: "List deploy keys", want: nhi.DeployKey},
		{path: "/user/keys", summary: "List public SSH keys for the authenticated user", props: []string{"key", "fingerprint"}, want: nhi.SSHKey},
		{path: "/v2/certificates", want: nhi.Certificate},
		{path: "/repos/{owner}/{repo}/hooks", summary: "List repository webhooks", want: nhi.Webhook},
		{path: "/webhook_subscriptions", want: nhi.Webhook},
		{path: "/integrations", summary: "List integrations", records: "integrations", props: []string{"name", "endpoint_url"}, want: nhi.Webhook},
		{path: "/repos/{owner}/{repo}/actions/secrets", records: "secrets", want: nhi.Secret},
		{path: "/bots", want: nhi.Bot},
		{path: "/users", want: nhi.HumanUser},
		{path: "/teams/{id}/members", want: nhi.HumanUser},
		{path: "/teams", want: nhi.Team},
		{path: "/api/v1/groups", want: nhi.Team},
		{path: "/iam/roles", want: nhi.Role},
		{path: "/projects", want: nhi.Resource},
		{path: "/user/repos", want: nhi.Resource},
		// Negatives: billing, metrics and sessions name no identity kind,
		// whatever the context around them.
		{path: "/billing/invoices", tags: []string{"Billing"}, want: ""},
		{path: "/billing/subscriptions", summary: "List billing subscriptions", tags: []string{"Billing"}, want: ""},
		{path: "/v2/monitoring/metrics", want: ""},
		{path: "/users/{id}/sessions", summary: "List a user's active sessions", tags: []string{"Users"}, want: ""},
		{path: "/apps/{app_id}/deployments", tags: []string{"Apps"}, want: ""},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			t.Parallel()
			rec := tRec("", append([]string{"id", "name"}, c.props...)...)
			resp := tArr(rec)
			if c.records != "" {
				resp = tObj(tP(c.records, resp))
			}
			op := tGet(c.path, resp)
			op.ID, op.Summary, op.Tags = c.id, c.summary, c.tags
			got := inferOne(t, op)
			if got.List == nil {
				t.Fatalf("List is nil")
			}
			if got.List.Kind != c.want {
				t.Errorf("Kind = %q, want %q (evidence %v)", got.List.Kind, c.want, got.List.KindConf.Evidence)
			}
			if c.want != "" && (got.List.KindConf.Confidence <= 0 || len(got.List.KindConf.Evidence) == 0) {
				t.Errorf("kind inference is empty: %+v", got.List.KindConf)
			}
		})
	}
}

func TestInferPrefix(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		scheme   SecurityScheme
		doc      string
		others   []SecurityScheme
		want     string
		evidence string // a substring of the first evidence sentence
	}{
		{
			name: "prefixed with, and shown",
			scheme: SecurityScheme{Type: "apiKey", In: "header", ParamName: "Authorization",
				Description: "Pass the API token as the Authorization header value prefixed with SSWS: `Authorization: SSWS {API Token}`"},
			want: "SSWS ", evidence: "prefixed with SSWS",
		},
		{
			name:   "format in a code span",
			scheme: SecurityScheme{Type: "apiKey", In: "header", ParamName: "Authorization", Description: "The API Key with format `Token token=<API_KEY>`"},
			want:   "Token token=", evidence: "Token token=<API_KEY>",
		},
		{
			name:   "bearer example",
			scheme: SecurityScheme{Type: "apiKey", In: "header", ParamName: "Authorization", Description: "Send the key as `Authorization: Bearer <key>`."},
			want:   "Bearer ", evidence: "Bearer <key>",
		},
		{
			name:   "header without a prefix",
			scheme: SecurityScheme{Type: "apiKey", In: "header", ParamName: "X-API-Key", Description: "Send `X-API-Key: {key}` with every request."},
			want:   "",
		},
		{
			name:   "no description",
			scheme: SecurityScheme{Type: "apiKey", In: "header", ParamName: "X-API-Key"},
			want:   "",
		},
		{
			name:   "key format is not a header prefix",
			scheme: SecurityScheme{Type: "apiKey", In: "header", ParamName: "X-API-Key", Description: "Keys look like `sk_live_...`."},
			want:   "",
		},
		{
			name:   "prose alone, quoted",
			scheme: SecurityScheme{Type: "apiKey", In: "header", ParamName: "Authorization", Description: "The key, prefixed with `Api-Key`."},
			want:   "Api-Key ", evidence: "prefixed with",
		},
		{
			name: "prose that names no prefix",
			scheme: SecurityScheme{Type: "apiKey", In: "header", ParamName: "Authorization",
				Description: "Tokens begin with an identifiable prefix in order to tell them apart; the value is prefixed with your API key id and starts with sk_."},
			want: "",
		},
		{
			name:   "query keys are not touched",
			scheme: SecurityScheme{Type: "apiKey", In: "query", ParamName: "api_key", Description: "Send `api_key: Token {key}`."},
			want:   "",
		},
		{
			name: "two different examples cancel out",
			scheme: SecurityScheme{Type: "apiKey", In: "header", ParamName: "Authorization",
				Description: "Use `Authorization: Token {key}` or `Authorization: Key {key}`."},
			want: "",
		},
		{
			name:   "document introduction",
			scheme: SecurityScheme{Type: "apiKey", In: "header", ParamName: "Authorization"},
			doc:    "# Authentication\n\ncurl -H \"Authorization: GenieKey $API_KEY\" https://api.example.com/v2/alerts\n",
			want:   "GenieKey ", evidence: "Authorization: GenieKey",
		},
		{
			name:   "document's Bearer belongs to the bearer scheme",
			scheme: SecurityScheme{Type: "apiKey", In: "header", ParamName: "Authorization"},
			doc:    "curl -H \"Authorization: Bearer $TOKEN\" https://api.example.com/",
			others: []SecurityScheme{{Name: "bearer", Type: "http", Scheme: "bearer"}},
			want:   "",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := &Surface{Description: c.doc, SecuritySchemes: append([]SecurityScheme{c.scheme}, c.others...)}
			Infer(s)
			got := s.SecuritySchemes[0]
			if got.Prefix != c.want {
				t.Fatalf("Prefix = %q, want %q (evidence %q)", got.Prefix, c.want, got.PrefixEvidence)
			}
			if c.want == "" {
				if len(got.PrefixEvidence) != 0 {
					t.Errorf("evidence without a prefix: %q", got.PrefixEvidence)
				}
				return
			}
			if len(got.PrefixEvidence) == 0 || !strings.Contains(got.PrefixEvidence[0], c.evidence) {
				t.Errorf("PrefixEvidence = %q, want a sentence containing %q", got.PrefixEvidence, c.evidence)
			}
		})
	}
}

// TestInferConventions: a list whose own doc says nothing of how it pages
// follows what its document's like-shaped siblings say, and says so.
func TestInferConventions(t *testing.T) {
	t.Parallel()
	mk := func(path, desc string) Operation {
		return tGet(path, tArr(tRec("", "id")),
			tQ("after", tStr(), desc), tQ("limit", tIntMax(200), "Page size."))
	}
	s := &Surface{Operations: []Operation{
		mk("/api/v1/users", "The cursor, obtained from the Link response header."),
		mk("/api/v1/groups", "The cursor, obtained from the Link response header."),
		mk("/api/v1/zones", "The cursor."),
		// A different parameter set has no siblings to follow.
		tGet("/api/v1/devices", tArr(tRec("", "id")), tQ("after", tStr(), "The cursor.")),
	}}
	Infer(s)
	z := s.Operations[2].List.Paging
	if z.Style != PageLinkHeader || z.SizeParam != "limit" || z.MaxPageSize != 200 || z.Inference.Confidence >= 0.8 {
		t.Errorf("zones paging = %+v, want link_header by convention with limit 200 and a modest confidence", z)
	}
	if !strings.Contains(strings.Join(z.Inference.Evidence, " "), "2 other operations") {
		t.Errorf("zones evidence %q does not name the convention", z.Inference.Evidence)
	}
	if d := s.Operations[3].List.Paging; d.Style != PageUnknown {
		t.Errorf("devices paging = %q, want unknown", d.Style)
	}
	var warned []string
	for _, w := range s.Warnings {
		if w.Code == "unsupported-paging" {
			warned = append(warned, w.Location)
		}
	}
	if !reflect.DeepEqual(warned, []string{"GET /api/v1/devices"}) {
		t.Errorf("unsupported-paging warnings at %q, want only GET /api/v1/devices", warned)
	}
}

// TestInferIdempotent: running Infer again changes nothing and adds no
// duplicate warnings.
func TestInferIdempotent(t *testing.T) {
	t.Parallel()
	s := &Surface{
		Operations: []Operation{
			tGet("/v1/webhook_endpoints", tObj(tP("data", tArr(tRec("", "id", "url"))), tP("has_more", tBool())),
				tQ("starting_after", tStr(), "")),
			tGet("/teams", tObj(tP("teams", tArr(tRec("", "id", "name"))), tP("more", tBool()), tP("offset", tInt())),
				tQ("offset", tInt(), ""), tQ("limit", tInt(), "")),
		},
		SecuritySchemes: []SecurityScheme{{Type: "apiKey", In: "header", ParamName: "Authorization", Description: "Format: `Token token=<key>`"}},
		Warnings:        []Warning{{Code: "dangling-ref", Message: "kept"}},
	}
	Infer(s)
	first, _ := json.Marshal(s)
	Infer(s)
	second, _ := json.Marshal(s)
	if string(first) != string(second) {
		t.Errorf("second Infer changed the surface:\n%s\n%s", first, second)
	}
	if len(s.Warnings) != 2 || s.Warnings[0].Code != "dangling-ref" {
		t.Errorf("warnings = %+v, want the loader's plus one unsupported-paging", s.Warnings)
	}
	Infer(nil) // must not panic
}

func TestBodyPath(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		keys []string
		want string
	}{
		{nil, ""},
		{[]string{"data"}, "data"},
		{[]string{"data", "items"}, "data.items"},
		{[]string{"@odata.nextLink"}, "/@odata.nextLink"},
		{[]string{"meta", "a/b~c"}, "/meta/a~1b~0c"},
	} {
		if got := bodyPath(c.keys); got != c.want {
			t.Errorf("bodyPath(%q) = %q, want %q", c.keys, got, c.want)
		}
	}
}

func TestWords(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"listAPITokens":            "list api tokens",
		"ssh_keys":                 "ssh keys",
		"sshKeys_list":             "ssh keys list",
		"OpenIdConnectApplication": "open id connect application",
		"@odata.nextLink":          "odata next link",
		"x509Certificates":         "x509 certificates",
		"":                         "",
	} {
		if got := strings.Join(words(in), " "); got != want {
			t.Errorf("words(%q) = %q, want %q", in, got, want)
		}
	}
}

// A fixture surface in testdata: a hand-written mix run end to end, its
// inferred list traits compared with a golden file (regenerate with
// SPINDLE_UPDATE_GOLDEN=1).
func TestInferGolden(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile(filepath.Join("testdata", "infer", "surface.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s Surface
	if err := json.Unmarshal(in, &s); err != nil {
		t.Fatal(err)
	}
	Infer(&s)
	type row struct {
		Op     string      `json:"op"`
		List   *ListTraits `json:"list,omitempty"`
		Prefix string      `json:"prefix,omitempty"`
	}
	var rows []row
	for _, op := range s.Operations {
		if op.List != nil {
			l := *op.List
			l.Records = nil // the input already shows it
			rows = append(rows, row{Op: op.Method + " " + op.Path, List: &l})
		}
	}
	for _, sc := range s.SecuritySchemes {
		rows = append(rows, row{Op: "scheme " + sc.Name, Prefix: sc.Prefix})
	}
	got, _ := json.MarshalIndent(rows, "", "  ")
	got = append(got, '\n')
	golden := filepath.Join("testdata", "infer", "surface.golden.json")
	if os.Getenv("SPINDLE_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with SPINDLE_UPDATE_GOLDEN=1 to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("inferred traits differ from %s; rerun with SPINDLE_UPDATE_GOLDEN=1 after checking:\n%s", golden, got)
	}
}
