package prose

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// docCases are small hand-written documents, one per vendor style, with
// every section, endpoint and mention the reader must find in them.
var docCases = []struct {
	file      string
	title     string
	sections  []string // id|level|heading|start-end
	endpoints []string // METHOD path @section:line confidence [host=…]
	mentions  []string // list: kind "detail" [names] @section:line confidence
	warnings  []string
}{
	{
		file:  "stripe.md",
		title: "Payments API",
		sections: []string{
			"payments-api|1|Payments API|1-3",
			"authentication|2|Authentication|5-14",
			"pagination|2|Pagination|16-21",
			"customers|2|Customers|23-23",
			"list-customers|3|List customers|25-40",
			"delete-a-customer|3|Delete a customer|43-46",
			"errors|2|Errors|49-51",
		},
		endpoints: []string{
			"GET /v1/customers @list-customers:27 0.90",
			"DELETE /v1/customers/{id} @delete-a-customer:46 0.90",
		},
		mentions: []string{
			"auth: bearer \"Bearer\" [Authorization] @authentication:11 0.90",
			"paging: cursor \"limit, starting_after, ending_before, has_more\" [limit,starting_after,ending_before,has_more] @pagination:19 0.90",
			"paging: cursor \"limit, starting_after, has_more\" [limit,starting_after,has_more] @list-customers:32 0.90",
			"rate: retry_after \"Retry-After\" [Retry-After] @errors:51 0.90",
			"server: base_url \"https://api.payments.example/v1\" [] @payments-api:3 0.90",
			"server: host \"https://api.payments.example\" [] @authentication:10 0.70",
		},
	},
	{
		file:  "github.md",
		title: "Getting started with the REST API",
		sections: []string{
			"getting-started-with-the-rest-api|1|Getting started with the REST API|5-5",
			"authenticating|2|Authenticating|7-13",
			"using-pagination|2|Using pagination|15-23",
			"repositories|2|Repositories|25-25",
			"list-organization-repositories|3|List organization repositories|27-33",
			"remove-a-team-member|3|Remove a team member|35-37",
			"rate-limits|2|Rate limits|39-41",
		},
		endpoints: []string{
			"GET /user/repos @authenticating:11 0.80 host=https://api.hub.example",
			"GET /orgs/{org}/repos @list-organization-repositories:30 0.90",
			"DELETE /orgs/{org}/teams/{team_slug}/memberships/{username} @remove-a-team-member:37 0.90",
		},
		mentions: []string{
			"auth: bearer \"Bearer\" [Authorization] @authenticating:11 0.90",
			"auth: prefix \"token \" [Authorization] @authenticating:13 0.90",
			"paging: link_header \"Link\" [link] @using-pagination:17 0.90",
			"paging: page_number \"page, per_page\" [page,per_page] @using-pagination:20 0.90",
			"paging: page_number \"per_page, page\" [per_page,page] @list-organization-repositories:33 0.90",
			"rate: rate \"5000/hour\" [] @rate-limits:41 0.60",
			"rate: rate_limit_headers \"x-ratelimit-remaining, x-ratelimit-reset\" [x-ratelimit-remaining,x-ratelimit-reset] @rate-limits:41 0.90",
			"server: host \"https://api.hub.example\" [] @authenticating:11 0.70",
		},
	},
	{
		file:  "pagerduty.md",
		title: "Incident Response API",
		sections: []string{
			"incident-response-api|1|Incident Response API|1-3",
			"authentication|2|Authentication|5-13",
			"pagination|2|Pagination|16-22",
			"extensions|2|Extensions|25-25",
			"list-extensions|3|List extensions|27-29",
			"get-an-extension|3|Get an extension|31-33",
			"list-service-integrations|3|List service integrations|35-37",
			"limits|2|Limits|39-41",
		},
		endpoints: []string{
			"GET /services @authentication:10 0.90",
			"GET /extensions @list-extensions:29 0.90",
			"GET /extensions/{id} @get-an-extension:33 0.90",
			"GET /services/{id}/integrations/{integration_id} @list-service-integrations:37 0.90",
		},
		mentions: []string{
			"auth: prefix \"Token token=\" [Authorization] @authentication:13 0.90",
			"paging: offset \"offset, limit, more, total\" [offset,limit,more,total] @pagination:18 0.90",
			"rate: rate \"960/minute\" [] @limits:41 0.60",
			"server: base_url \"https://api.incidents.example\" [] @incident-response-api:3 0.90",
		},
	},
	{
		file:  "okta.html",
		title: "Users API",
		sections: []string{
			"users-api|1|Users API|11-12",
			"authentication|2|Authentication|13-18",
			"pagination|2|Pagination|20-24",
			"operations|2|Operations|25-31",
			"get-a-user|3|Get a user|34-35",
		},
		endpoints: []string{
			"GET /api/v1/users @authentication:15 0.85 host=https://${yourOktaDomain}",
			"POST /api/v1/users @operations:30 0.85",
			"DELETE /api/v1/users/{userId}/sessions @operations:31 0.85",
			"GET /api/v1/users/{userId} @get-a-user:35 0.60",
		},
		mentions: []string{
			"auth: prefix \"SSWS \" [Authorization] @authentication:17 0.90",
			"paging: link_header \"Link\" [Link] @pagination:22 0.90",
			"paging: cursor \"after, limit\" [after,limit] @pagination:23 0.90",
			"server: host \"https://${yourOktaDomain}\" [] @authentication:15 0.70",
		},
	},
	{
		file:  "slack.md",
		title: "Web API",
		sections: []string{
			"web-api|1|Web API|1-3",
			"authentication|2|Authentication|5-7",
			"errors|2|Errors|9-19",
			"pagination|2|Pagination|22-34",
			"methods|2|Methods|37-37",
			"users-list|3|users.list|39-41",
			"conversations-list|3|conversations.list|43-51",
		},
		endpoints: []string{
			"GET /api/users.list @users-list:41 0.90 host=https://chat.example",
			"POST /api/conversations.list @conversations-list:46 0.85 host=https://chat.example",
		},
		mentions: []string{
			"auth: bearer \"Bearer\" [Authorization] @authentication:7 0.90",
			"paging: cursor \"cursor, limit, response_metadata.next_cursor, next_cursor\" [cursor,limit,response_metadata.next_cursor,next_cursor] @pagination:24 0.90",
			"errors: ok_false \"ok\" [ok,error] @errors:17 0.90",
			"rate: rate \"20/minute\" [] @conversations-list:51 0.60",
			"server: host \"https://chat.example\" [] @users-list:41 0.70",
		},
	},
	{
		file:  "s3.md",
		title: "Object Storage API",
		sections: []string{
			"object-storage-api|1|Object Storage API|1-3",
			"listobjects|2|ListObjects|5-7",
			"request|3|Request|9-13",
			"response|3|Response|16-29",
		},
		endpoints: []string{
			"GET / @request:12 0.90",
		},
		mentions: []string{
			"paging: token \"marker, max-keys, MaxKeys\" [marker,max-keys,MaxKeys] @request:12 0.90",
			"paging: token \"IsTruncated, Marker, NextMarker, MaxKeys\" [IsTruncated,Marker,NextMarker,MaxKeys] @response:22 0.90",
		},
	},
	{
		file:  "kubernetes.md",
		title: "API Concepts",
		sections: []string{
			"api-concepts|1|API Concepts|1-1",
			"retrieving-large-results-sets-in-chunks|2|Retrieving large results sets in chunks|3-27",
			"authentication|2|Authentication|30-32",
			"service-accounts|2|Service accounts|34-38",
		},
		endpoints: []string{
			"GET /api/v1/pods @retrieving-large-results-sets-in-chunks:10 0.90",
			"GET /api/v1/namespaces/{namespace}/serviceaccounts @service-accounts:36 0.90",
			"DELETE /api/v1/namespaces/{namespace}/serviceaccounts/{name} @service-accounts:38 0.90",
		},
		mentions: []string{
			"auth: bearer \"Bearer\" [Authorization] @authentication:32 0.90",
			"paging: token \"limit, metadata.continue, continue\" [limit,metadata.continue,continue] @retrieving-large-results-sets-in-chunks:6 0.90",
		},
	},
	{
		file:  "graph.md",
		title: "Directory Graph API",
		sections: []string{
			"directory-graph-api|1|Directory Graph API|1-1",
			"get-an-access-token|2|Get an access token|3-17",
			"paging|2|Paging|19-28",
			"applications|2|Applications|31-37",
		},
		endpoints: []string{
			"POST /{tenant}/oauth2/v2.0/token @get-an-access-token:8 0.90 host=https://login.example.com",
			"GET /v1.0/applications @applications:35 0.85",
			"GET /v1.0/applications/{id}/owners @applications:36 0.85",
			"PATCH /v1.0/applications/{id} @applications:37 0.85",
		},
		mentions: []string{
			"auth: oauth2_client_credentials \"https://login.example.com/{tenant}/oauth2/v2.0/token\" [client_id,scope,client_secret,grant_type] @get-an-access-token:14 0.90",
			"auth: bearer \"Bearer\" [Authorization] @get-an-access-token:17 0.90",
			"paging: next_url \"@odata.nextLink\" [@odata.nextLink] @paging:21 0.80",
			"paging: token \"$skiptoken\" [$skiptoken] @paging:26 0.80",
			"server: host \"https://login.example.com\" [] @get-an-access-token:8 0.70",
		},
	},
	{
		file:  "acme.md",
		title: "Acme Secrets API",
		sections: []string{
			"acme-secrets-api|1|Acme Secrets API|1-3",
			"authentication|2|Authentication|5-10",
			"listing|2|Listing|13-23",
			"rate-limits|3|Rate limits|26-29",
			"keys|2|Keys|31-35",
		},
		endpoints: []string{
			"GET /v2/admin/keys @authentication:10 0.80 host=https://api.acme.example",
			"GET /v2/keys @keys:33 0.90",
			"POST /v2/keys @keys:34 0.90",
			"DELETE /v2/keys/{key_id} @keys:35 0.90",
		},
		mentions: []string{
			"auth: basic \"Basic\" [Authorization] @authentication:7 0.50",
			"auth: api_key_header \"X-API-Key\" [X-API-Key] @authentication:7 0.90",
			"auth: basic \"username:password\" [Authorization] @authentication:10 0.90",
			"paging: token \"nextPageToken, pageToken, pageSize\" [nextPageToken,pageToken,pageSize] @listing:15 0.90",
			"paging: header \"X-Next-Page-Token\" [X-Next-Page-Token] @listing:16 0.80",
			"rate: rate_limit_headers \"X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset\" [X-RateLimit-Limit,X-RateLimit-Remaining,X-RateLimit-Reset] @rate-limits:28 0.90",
			"rate: retry_after \"Retry-After\" [Retry-After] @rate-limits:29 0.90",
			"server: base_url \"https://api.acme.example/v2\" [] @acme-secrets-api:3 0.90",
			"server: host \"https://api.acme.example\" [] @authentication:10 0.70",
		},
	},
	{
		file:  "malformed.html",
		title: "Broken docs",
		sections: []string{
			"broken-docs|1|Broken docs|1-3",
			"auth|2|Auth|4-7",
		},
		endpoints: []string{
			"GET /v1/things @broken-docs:2 0.90",
			"GET /v1/things/{id} @auth:6 0.85",
			"POST /v1/things @auth:6 0.85",
		},
		mentions: []string{
			"auth: api_key_header \"X-Auth-Token\" [X-Auth-Token] @auth:5 0.70",
		},
		warnings: []string{"html: <nav> at line 3 is never closed; read everything, navigation and widgets included"},
	},
}

func TestParseDocs(t *testing.T) {
	for _, tc := range docCases {
		t.Run(tc.file, func(t *testing.T) {
			d := parseFile(t, tc.file)
			wantFormat := FormatMarkdown
			if strings.HasSuffix(tc.file, ".html") {
				wantFormat = FormatHTML
			}
			if d.Format != wantFormat || d.Source != tc.file {
				t.Errorf("format, source = %q, %q; want %q, %q", d.Format, d.Source, wantFormat, tc.file)
			}
			if d.Title != tc.title {
				t.Errorf("title = %q, want %q", d.Title, tc.title)
			}
			diff(t, "sections", sectionLines(d), tc.sections)
			diff(t, "endpoints", endpointLines(d), tc.endpoints)
			diff(t, "mentions", mentionLines(d), tc.mentions)
			want := tc.warnings
			if want == nil {
				want = []string{}
			}
			diff(t, "warnings", d.Warnings, want)
		})
	}
}

func parseFile(t *testing.T, name string) *Doc {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(name, data)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return d
}

// diff reports the lines missing from got and the lines got has extra,
// or the first difference in order.
func diff(t *testing.T, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s: missing %q", what, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			t.Errorf("%s: unexpected %q", what, g)
		}
	}
	if !t.Failed() {
		t.Errorf("%s: order differs:\ngot  %q\nwant %q", what, got, want)
	}
}

func TestSectionText(t *testing.T) {
	for _, tc := range []struct {
		file, section string
		text          string
		path          []string
	}{
		{"stripe.md", "pagination",
			"All list endpoints return at most limit objects (default 10, at most 100). Pass the ID of the last object you received as starting_after to fetch the next page, or ending_before to go back. The response says has_more: true while there are more objects.",
			[]string{"Payments API", "Pagination"}},
		{"stripe.md", "delete-a-customer", "DELETE /v1/customers/:id", []string{"Payments API", "Customers", "Delete a customer"}},
		{"github.md", "authenticating",
			"Send a token in the Authorization header:\n\ncurl -H \"Authorization: Bearer <YOUR-TOKEN>\" https://api.hub.example/user/repos\n\nOlder tokens are also accepted as Authorization: token <TOKEN>.",
			[]string{"Getting started with the REST API", "Authenticating"}},
		{"okta.html", "operations",
			"Method | Path | Description\nGET | /api/v1/users | List all users\nPOST | /api/v1/users | Create a user\nDELETE | /api/v1/users/{userId}/sessions | Revoke all sessions",
			[]string{"Users API", "Operations"}},
		{"okta.html", "get-a-user", "GET /api/v1/users/${userId}", []string{"Users API", "Operations", "Get a user"}},
		{"acme.md", "keys", "- GET /v2/keys lists keys\n- POST /v2/keys creates a key\n- DELETE /v2/keys/<key_id> revokes a key", []string{"Acme Secrets API", "Keys"}},
		{"graph.md", "applications",
			"Method | Path | Description\nGET | /v1.0/applications | List applications\nGET | /v1.0/applications/{id}/owners | List owners\nPATCH | /v1.0/applications/{id} | Update an application",
			[]string{"Directory Graph API", "Applications"}},
		{"malformed.html", "auth", "Send the header X-Auth-Token: your token\n\nGET | /v1/things/:id\nPOST | /v1/things\n\nunterminated code <b>", []string{"Broken docs", "Auth"}},
	} {
		d := parseFile(t, tc.file)
		s, ok := d.Section(tc.section)
		if !ok {
			t.Errorf("%s: no section %q", tc.file, tc.section)
			continue
		}
		if s.Text != tc.text {
			t.Errorf("%s#%s text:\ngot  %q\nwant %q", tc.file, tc.section, s.Text, tc.text)
		}
		if !slices.Equal(s.Path, tc.path) {
			t.Errorf("%s#%s path = %q, want %q", tc.file, tc.section, s.Path, tc.path)
		}
	}
}

// TestHostileHTMLDropped: script, style and navigation never reach the
// text, where an LLM would read them.
func TestHostileHTMLDropped(t *testing.T) {
	d := parseFile(t, "okta.html")
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"/script/path", "leaked", "/style/path", "/nav/link", "color: red", "Identity Developer"} {
		if bytes.Contains(out, []byte(s)) {
			t.Errorf("output contains %q", s)
		}
	}
}

func TestParseErrors(t *testing.T) {
	big := bytes.Repeat([]byte("# Heading\n\nSome text about GET /v1/users.\n\n"), (30<<20)/40+1)[:30<<20]
	for _, tc := range []struct {
		name, source string
		data         []byte
		want         string
	}{
		{"empty", "empty.md", nil, "prose: empty.md: empty document"},
		{"blank", "blank.md", []byte(" \n\t\r\n\ufeff"), "prose: blank.md: empty document"},
		{"bom only", "bom.md", []byte("\xef\xbb\xbf"), "prose: bom.md: empty document"},
		{"binary", "blob.bin", []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00>\x00"), "prose: blob.bin: binary data, not a markdown or HTML document"},
		{"garbage", "noise", []byte("\xff\xfe\x81\x92\xa0\xc3\x28\x01\x02\x03\xf0\x28\x8c\x28\xe2\x82\x28\x80\x81\x82"), "prose: noise: binary data, not a markdown or HTML document"},
		{"utf-16", "doc.md", []byte("\xff\xfe#\x00 \x00T\x00i\x00t\x00l\x00e\x00"), "prose: doc.md: binary data, not a markdown or HTML document"},
		{"openapi json", "api.json", []byte(`{"openapi": "3.0.3", "info": {"title": "x"}, "paths": {}}`), "prose: api.json: this is an OpenAPI document; read it with the OpenAPI loader (apisurface)"},
		{"swagger yaml", "api.yaml", []byte("swagger: \"2.0\"\ninfo:\n  title: x\npaths: {}\n"), "prose: api.yaml: this is an OpenAPI document; read it with the OpenAPI loader (apisurface)"},
		{"plain json", "data.json", []byte(`{"users": []}`), "prose: data.json: not a markdown or HTML document (JSON or unrecognised data)"},
		{"30 MiB", "huge.md", big, "prose: huge.md: 31457280 bytes: document over the 20 MiB limit (20971520 bytes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse(tc.source, tc.data)
			if err == nil {
				t.Fatalf("no error; got %d sections", len(d.Sections))
			}
			if err.Error() != tc.want {
				t.Errorf("error = %q\nwant    %q", err, tc.want)
			}
			if d != nil {
				t.Errorf("doc = %v, want nil", d)
			}
		})
	}
	if _, err := Parse("huge.md", big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("30 MiB: error %v is not ErrTooLarge", err)
	}
}

// TestExtensionHint: a name's extension decides what the content leaves
// open, and a page that declares itself HTML is HTML whatever its name.
func TestExtensionHint(t *testing.T) {
	for _, tc := range []struct {
		source, data, format string
	}{
		{"notes.md", "<p>GET /v1/x</p>", FormatMarkdown},
		{"page.html", "# Not a heading\n\nGET /v1/x", FormatHTML},
		{"https://docs.example.com/api.html?tab=2#auth", "plain text", FormatHTML},
		{"https://docs.example.com/api", "<div><p>GET /v1/x</p></div>", FormatHTML},
		{"readme.md", "<!DOCTYPE html><html><body><h1>T</h1></body></html>", FormatHTML},
		{"openapi.md", "openapi: 3.0.0\n", FormatMarkdown},
		{"notes", "# Title\n\nText.", FormatMarkdown},
	} {
		d, err := Parse(tc.source, []byte(tc.data))
		if err != nil {
			t.Errorf("%s: %v", tc.source, err)
			continue
		}
		if d.Format != tc.format {
			t.Errorf("%s: format %q, want %q", tc.source, d.Format, tc.format)
		}
	}
}

func TestSniff(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"empty", "", FormatUnknown},
		{"whitespace", "  \n\n", FormatUnknown},
		{"binary", "\x00\x01\x02\x03", FormatUnknown},
		{"openapi json", "\ufeff  {\n  \"openapi\": \"3.1.0\",\n  \"info\": {}\n}", FormatOpenAPI},
		{"swagger json", `{"info": {"title": "t"}, "swagger": "2.0"}`, FormatOpenAPI},
		{"other json", `{"data": [1, 2]}`, FormatUnknown},
		{"json array", `[{"openapi": 1}]`, FormatUnknown},
		{"openapi yaml", "openapi: 3.0.3\ninfo:\n  title: T\n", FormatOpenAPI},
		{"openapi yaml later key", "# comment\n---\ninfo:\n  title: T\n  version: '1'\nopenapi: \"3.1.0\"\n", FormatOpenAPI},
		{"quoted key", "'swagger': '2.0'\n", FormatOpenAPI},
		{"markdown quoting openapi", "# API\n\nOur spec:\n\n```yaml\nopenapi: 3.0.0\n```\n", FormatMarkdown},
		{"front matter", "---\ntitle: Users\n---\n\n# Users\n", FormatMarkdown},
		{"doctype", "<!DOCTYPE html>\n<html><body></body></html>", FormatHTML},
		{"comment then html", "<!-- generated -->\n<html lang=en>", FormatHTML},
		{"fragment", "<div class=\"doc\"><h2>Users</h2></div>", FormatHTML},
		{"markdown starting with html", "<p align=\"center\"><img src=\"logo.png\"></p>\n\n# Project\n\nText.", FormatMarkdown},
		{"plain text", "Just some words.\nMore words.", FormatMarkdown},
	} {
		if got := Sniff([]byte(tc.data)); got != tc.want {
			t.Errorf("%s: Sniff = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestDeterministic: the same bytes give the same JSON, byte for byte.
func TestDeterministic(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.*"))
	if err != nil || len(files) == 0 {
		t.Fatal(err, files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var first []byte
		for i := 0; i < 3; i++ {
			d, err := Parse(filepath.Base(f), data)
			if err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = out
			} else if !bytes.Equal(out, first) {
				t.Fatalf("%s: run %d differs", f, i)
			}
		}
	}
}

// TestJSONShape: lists are [] rather than null, so a reader of the JSON
// need not tell "none found" from "not looked for".
func TestJSONShape(t *testing.T) {
	d, err := Parse("t.md", []byte("Nothing to see."))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(d)
	want := `{"source":"t.md","format":"markdown","title":"","sections":[{"id":"preamble","level":0,"heading":"","path":[],"text":"Nothing to see.","start":1,"end":1}],"endpoints":[],"auth":[],"paging":[],"errors":[],"rate_limits":[],"servers":[],"warnings":[]}`
	if string(out) != want {
		t.Errorf("JSON:\ngot  %s\nwant %s", out, want)
	}
}

func TestSearch(t *testing.T) {
	d := parseFile(t, "stripe.md")
	for _, tc := range []struct {
		query string
		max   int
		want  []string // section@line: snippet
	}{
		{"starting_after", 10, []string{
			"pagination@19: …most 100). Pass the ID of the last object you received as starting_after to fetch the next page, or ending_before to go back. The response says has_more: true while there are more objects.",
			"list-customers@32: …Description limit | integer | Number of objects to return. starting_after | string | A cursor for use in pagination. { \"object\": \"list\", \"data\": [{\"id\": \"cus_123\", \"object\": \"customer\"}],…",
		}},
		{"BEARER token", 10, []string{
			"authentication@7: Authenticate with your secret key as a bearer token: curl https://api.payments.example/v1/customers \\ -H \"Authorization: Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc\"…",
		}},
		// The heading weighs more, but more mentions in the text win.
		{"customers", 2, []string{
			"list-customers@27: GET /v1/customers Parameter | Type | Description limit | integer | Number of objects to return. starting_after | string | A cursor for…",
			"customers@23: ",
		}},
		{"", 10, []string{}},
		{"no-such-word", 10, []string{}},
	} {
		var got []string
		for _, h := range d.Search(tc.query, tc.max) {
			got = append(got, h.Section+"@"+itoa(h.Line)+": "+h.Snippet)
		}
		if got == nil {
			got = []string{}
		}
		diff(t, "search "+tc.query, got, tc.want)
	}
	many, err := Parse("many.md", []byte(strings.Repeat("## Part\n\nx\n\n", 120)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ max, want int }{{0, defaultHits}, {-1, defaultHits}, {3, 3}, {1000, maxHits}} {
		hits := many.Search("x", tc.max)
		if len(hits) != tc.want {
			t.Errorf("max %d: %d hits, want %d", tc.max, len(hits), tc.want)
		}
		if len(hits) > 1 && (hits[0].Section != "part" || hits[1].Section != "part-2") {
			t.Errorf("max %d: ties not in document order: %s, %s", tc.max, hits[0].Section, hits[1].Section)
		}
	}
}

func itoa(n int) string {
	out, _ := json.Marshal(n)
	return string(out)
}
