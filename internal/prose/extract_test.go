package prose

import (
	"testing"
)

// extractCases are one-fact documents: each line is what the reader must
// find in them, nothing more.
var extractCases = []struct {
	name string
	doc  string
	want []string // endpoints, then mentions, as in endpointLines and mentionLines
}{
	// Endpoints.
	{"prose", "Call GET /v1/users to list users.", []string{"GET /v1/users @preamble:1 0.60"}},
	{"request to", "Send a DELETE request to /v1/keys/{key_id}.", []string{"DELETE /v1/keys/{key_id} @preamble:1 0.60"}},
	{"code span", "Use `POST /v1/keys`.", []string{"POST /v1/keys @preamble:1 0.90"}},
	{"heading", "## PATCH /v1/items/{id}\n\nUpdates an item.", []string{"PATCH /v1/items/{id} @patch-v1-items-id:1 0.90"}},
	{"colon params", "`DELETE /teams/{team_id}/members/:id`", []string{"DELETE /teams/{team_id}/members/{id} @preamble:1 0.90"}},
	{"angle and mustache params", "```\nGET {{baseUrl}}/users/<user_id>/keys/{{key}}\n```", []string{"GET /users/{user_id}/keys/{key} @preamble:2 0.90 host={{baseUrl}}"}},
	{"url with query", "`GET https://api.example.com/v1/users?limit=10#top`", []string{
		"GET /v1/users @preamble:1 0.90 host=https://api.example.com",
		"server: host \"https://api.example.com\" [] @preamble:1 0.70"}},
	{"punctuation", "(see GET /v1/status).", []string{"GET /v1/status @preamble:1 0.60"}},
	{"root", "```\nGET / HTTP/1.1\n```", []string{"GET / @preamble:2 0.90"}},
	{"not endpoints", "GET requests are cached. get /lowercase is prose. GET //cdn.example.com/x and GET /ünïcode are not paths.", []string{}},
	{"code aside", "```\n# then GET /v1/next\n```", []string{"GET /v1/next @preamble:2 0.75"}},
	{"duplicates keep the strongest", "GET /v1/a is listed.\n\n`GET /v1/a`", []string{"GET /v1/a @preamble:3 0.90"}},
	{"curl -X", "```\ncurl -X POST https://api.example.com/v2/keys \\\n  -d name=ci\n```", []string{
		"POST /v2/keys @preamble:2 0.85 host=https://api.example.com",
		"server: host \"https://api.example.com\" [] @preamble:2 0.70"}},
	{"curl data implies POST", "```\ncurl 'https://api.example.com/v2/keys' --data-raw '{\"a\":1}'\n```", []string{
		"POST /v2/keys @preamble:2 0.80 host=https://api.example.com",
		"server: host \"https://api.example.com\" [] @preamble:2 0.70"}},
	{"curl -G", "```\ncurl -G https://api.example.com/search -d q=x\n```", []string{
		"GET /search @preamble:2 0.80 host=https://api.example.com",
		"server: host \"https://api.example.com\" [] @preamble:2 0.70"}},
	{"curl clustered flags", "```\n$ curl -sSL -XDELETE \"https://api.example.com/v1/keys/123?force=true\" | jq .\n```", []string{
		"DELETE /v1/keys/123 @preamble:2 0.85 host=https://api.example.com",
		"server: host \"https://api.example.com\" [] @preamble:2 0.70"}},
	{"curl --url", "```\ncurl --request PATCH --url https://api.example.com/v1/items/42 --header 'content-type: application/json'\n```", []string{
		"PATCH /v1/items/42 @preamble:2 0.85 host=https://api.example.com",
		"server: host \"https://api.example.com\" [] @preamble:2 0.70"}},
	{"curl -I", "```\ncurl -I https://api.example.com/health\n```", []string{
		"HEAD /health @preamble:2 0.80 host=https://api.example.com",
		"server: host \"https://api.example.com\" [] @preamble:2 0.70"}},
	{"method table", "| Method | Endpoint | Notes |\n|---|---|---|\n| `GET` | `/v1/a` | list |\n| DELETE | /v1/a/:id | remove |", []string{
		"GET /v1/a @preamble:3 0.85",
		"DELETE /v1/a/{id} @preamble:4 0.85"}},

	// Auth.
	{"bearer header in prose", "Send Authorization: Bearer <token> with every call.", []string{"auth: bearer \"Bearer\" [Authorization] @preamble:1 0.80"}},
	{"basic header in code", "```\nAuthorization: Basic dXNlcjpwYXNz\n```", []string{"auth: basic \"Basic\" [Authorization] @preamble:2 0.90"}},
	{"vendor prefix", "```\nAuthorization: Bot <token>\n```", []string{"auth: prefix \"Bot \" [Authorization] @preamble:2 0.90"}},
	{"token equals prefix", "`Authorization: Token token=\"abc123\"`", []string{"auth: prefix \"Token token=\" [Authorization] @preamble:1 0.90"}},
	{"bare key", "```\nAuthorization: $API_KEY\n```", []string{"auth: api_key_header \"Authorization\" [Authorization] @preamble:2 0.90"}},
	{"python f-string", "```python\nheaders = {\"Authorization\": f\"Bearer {token}\"}\n```", []string{"auth: bearer \"Bearer\" [Authorization] @preamble:2 0.90"}},
	{"js concatenation", "```js\nheaders: {'Authorization': 'SSWS ' + token}\n```", []string{"auth: prefix \"SSWS \" [Authorization] @preamble:2 0.90"}},
	{"scheme in a span", "Set the Authorization header to `Bearer <token>`.", []string{"auth: bearer \"Bearer\" [Authorization] @preamble:1 0.90"}},
	{"prose is not a header", "Authorization: the act of granting access. authorization: done by admins.", []string{}},
	{"api key header line", "```\nX-API-Key: 3f9a8b7c\n```", []string{"auth: api_key_header \"X-API-Key\" [X-API-Key] @preamble:2 0.90"}},
	{"api key header named", "Pass it in the X-Api-Token HTTP header.", []string{"auth: api_key_header \"X-Api-Token\" [X-Api-Token] @preamble:1 0.70"}},
	{"not auth headers", "```\nIdempotency-Key: 8e03978e\nX-Hub-Signature-256: sha256=abc\nX-Request-Id: 1\n```", []string{}},
	{"api key in query", "```\nGET https://api.example.com/v1/items?api_key=YOUR_KEY\n```", []string{
		"GET /v1/items @preamble:2 0.90 host=https://api.example.com",
		"auth: api_key_query \"api_key\" [api_key] @preamble:2 0.80",
		"server: host \"https://api.example.com\" [] @preamble:2 0.70"}},
	{"curl -u key", "```\ncurl https://api.example.com/v1/charges -u sk_test_123:\n```", []string{
		"GET /v1/charges @preamble:2 0.80 host=https://api.example.com",
		"auth: basic \"username=api key, password empty\" [Authorization] @preamble:2 0.90",
		"server: host \"https://api.example.com\" [] @preamble:2 0.70"}},
	{"curl oauth2 bearer", "```\ncurl --oauth2-bearer \"$TOKEN\" https://api.example.com/v1/me\n```", []string{
		"GET /v1/me @preamble:2 0.80 host=https://api.example.com",
		"auth: bearer \"Bearer\" [Authorization] @preamble:2 0.90",
		"server: host \"https://api.example.com\" [] @preamble:2 0.70"}},
	// Facts on one line are listed by kind, not by column.
	{"phrases", "Authenticate with HTTP Basic authentication or a bearer token.", []string{
		"auth: bearer \"Bearer\" [Authorization] @preamble:1 0.50",
		"auth: basic \"Basic\" [Authorization] @preamble:1 0.50"}},
	{"client credentials with token path", "## OAuth\n\nUse the client credentials grant: `POST /oauth/token` with `client_id` and `client_secret`.", []string{
		"POST /oauth/token @oauth:3 0.90",
		"auth: oauth2_client_credentials \"/oauth/token\" [client_id,client_secret] @oauth:3 0.60"}},

	// Paging.
	{"link header line", "```\nLink: <https://api.example.com/items?page=2>; rel=\"next\"\n```", []string{
		"paging: link_header \"Link\" [Link] @preamble:2 0.90",
		"paging: page_number \"page\" [page] @preamble:2 0.80"}},
	{"link without next", "```\nLink: <https://example.com/style.css>; rel=preload\n```", []string{}},
	{"next url in body", "```json\n{\"links\": {\"next\": \"https://api.example.com/items?cursor=abc\"}}\n```", []string{
		"paging: cursor \"cursor\" [cursor] @preamble:2 0.80",
		"paging: next_url \"next\" [next] @preamble:2 0.80"}},
	{"dotted next", "Follow `links.next` until it is null.", []string{"paging: next_url \"links.next\" [links.next] @preamble:1 0.80"}},
	{"paging header", "The `X-Next-Page` and `X-Total-Count` headers say what is left.", []string{
		"paging: header \"X-Next-Page, X-Total-Count\" [X-Next-Page,X-Total-Count] @preamble:1 0.90"}},
	{"generic words in code are not params", "```python\nfor page in pages:\n    offset = next(page)\n```", []string{
		"paging: offset \"offset\" [offset] @preamble:3 0.80"}},
	{"prose words are not params", "Each page has an offset and a limit; the cursor moves after each call.", []string{}},
	{"camel and snake in prose", "Responses carry nextPageToken and has_more.", []string{
		"paging: token \"nextPageToken\" [nextPageToken] @preamble:1 0.60"}},
	{"table params", "| Name | In |\n|---|---|\n| page | query |\n| per_page | query |", []string{
		"paging: page_number \"page, per_page\" [page,per_page] @preamble:3 0.90"}},

	// Errors, rate limits, servers.
	{"ok false", "The body is `{\"ok\": false, \"error\": \"not_authed\"}` on failure.", []string{"errors: ok_false \"ok\" [ok,error] @preamble:1 0.90"}},
	{"rates", "Up to 100 requests per second, or 5,000 calls an hour. Back off on `Retry-After`.", []string{
		"rate: retry_after \"Retry-After\" [Retry-After] @preamble:1 0.90",
		"rate: rate \"100/second\" [] @preamble:1 0.60",
		"rate: rate \"5000/hour\" [] @preamble:1 0.60"}},
	{"base url", "The base URL for all requests is https://api.example.com/v3/.", []string{"server: base_url \"https://api.example.com/v3\" [] @preamble:1 0.90"}},
}

func TestExtract(t *testing.T) {
	for _, tc := range extractCases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse(tc.name+".md", []byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			diff(t, tc.name, append(endpointLines(d), mentionLines(d)...), tc.want)
		})
	}
}

func TestNormTarget(t *testing.T) {
	for _, tc := range []struct {
		in, host, path string
		ok             bool
	}{
		{"/v1/users", "", "/v1/users", true},
		{"/v1/users/", "", "/v1/users", true},
		{"https://api.example.com/v1/users?x=1", "https://api.example.com", "/v1/users", true},
		{"HTTPS://API.example.com/V1", "HTTPS://API.example.com", "/V1", true},
		{"https://api.example.com", "", "", false},
		{"${BASE}/v1/x", "${BASE}", "/v1/x", true},
		{"$BASE_URL/v1/x", "$BASE_URL", "/v1/x", true},
		{"<base>/users/:id", "<base>", "/users/{id}", true},
		{"{baseUrl}/users/${userId}", "{baseUrl}", "/users/{userId}", true},
		{"/teams/:team_id/members/<member-id>", "", "/teams/{team_id}/members/{member-id}", true},
		{"/v1/{name}:cancel", "", "/v1/{name}:cancel", true},
		{"/v2/droplets/$DROPLET_ID/actions", "", "/v2/droplets/{DROPLET_ID}/actions", true},
		{"/v1.0/users/$count", "", "/v1.0/users/$count", true},
		{"`/v1/a`,", "", "/v1/a", true},
		{"users", "", "", false},
		{"//cdn.example.com/a", "", "", false},
		{"/a b", "", "", false},
		{"/ünï", "", "", false},
		{"-H", "", "", false},
	} {
		host, p, ok := normTarget(tc.in)
		if host != tc.host || p != tc.path || ok != tc.ok {
			t.Errorf("normTarget(%q) = %q, %q, %v; want %q, %q, %v", tc.in, host, p, ok, tc.host, tc.path, tc.ok)
		}
	}
}
