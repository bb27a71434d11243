package apisurface

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/spindlehq/spindle/internal/nhi"
)

// The hand-written example docs in examples/docs, one per API style an
// agent must generalise to: what inference must read from each, list by
// list. They are small and invented, so the expectations are exact.

// styleDoc loads one example doc (Load runs Infer).
func styleDoc(t *testing.T, name string) *Surface {
	t.Helper()
	s, err := Load(context.Background(), filepath.Join("..", "..", "examples", "docs", name), Options{})
	if err != nil {
		t.Fatalf("Load(%s): %v", name, err)
	}
	for _, w := range s.Warnings {
		t.Errorf("%s: warning %s at %s: %s", name, w.Code, w.Location, w.Message)
	}
	return s
}

type styleList struct {
	path     string
	want     want
	envelope *Envelope // nil: none; Inference.Confidence is a minimum
	query    map[string]string
}

func TestInferStyleDocs(t *testing.T) {
	t.Parallel()
	one := 1
	cursor := Paging{Style: PageCursor, CursorPath: "response_metadata.next_cursor", CursorParam: "cursor",
		SizeParam: "limit", MaxPageSize: 200, Inference: Inference{Confidence: 0.9}}
	okEnv := &Envelope{OKField: "ok", ErrorField: "error", InBand: true, Inference: Inference{Confidence: 0.9}}
	token := Paging{Style: PageToken, CursorPath: "nextPageToken", CursorParam: "pageToken", SizeParam: "pageSize",
		MaxPageSize: 100, Inference: Inference{Confidence: 0.8}}
	nextURL := Paging{Style: PageNextURL, NextURLPath: "/@odata.nextLink", SizeParam: "$top", MaxPageSize: 999,
		Inference: Inference{Confidence: 0.85}}
	withTotal := nextURL
	withTotal.TotalField = "/@odata.count"
	none := Paging{Style: PageNone}
	list := map[string]string{"list": "true"}
	offset := Paging{Style: PageOffset, LimitParam: "limit", OffsetParam: "offset", MaxPageSize: 100, TotalField: "total",
		Inference: Inference{Confidence: 0.85}}
	link := Paging{Style: PageLinkHeader, SizeParam: "per_page", MaxPageSize: 50, Inference: Inference{Confidence: 0.8}}

	docs := map[string]struct {
		lists    []styleList
		nonLists []string // GET operations that are no list
	}{
		// RPC methods, an ok envelope with in-band errors, a body cursor.
		"rpc-envelope.yaml": {lists: []styleList{
			{path: "/apps.list", want: want{records: "apps", paging: cursor, kind: nhi.OAuthApp}, envelope: okEnv},
			{path: "/tokens.list", want: want{records: "tokens", paging: cursor, kind: nhi.AccessToken}, envelope: okEnv},
			{path: "/bots.list", want: want{records: "bots", paging: cursor, kind: nhi.Bot}, envelope: okEnv},
		}},
		// nextPageToken/pageToken/pageSize; a child list that does not page.
		"page-token.yaml": {lists: []styleList{
			{path: "/v1/projects/{project}/serviceAccounts", want: want{records: "accounts", paging: token, kind: nhi.ServiceAccount}},
			{path: "/v1/projects/{project}/serviceAccounts/{account}/keys", want: want{records: "keys", paging: none, kind: nhi.APIKey}},
			{path: "/v1/projects/{project}/apiKeys", want: want{records: "apiKeys", paging: token, kind: nhi.APIKey}},
		}, nonLists: []string{"/v1/projects/{project}/serviceAccounts/{account}"}},
		// OData: value + @odata.nextLink (a key with a dot and an @: JSON Pointer).
		"odata.yaml": {lists: []styleList{
			{path: "/applications", want: want{records: "value", paging: withTotal, kind: nhi.OAuthApp}},
			{path: "/servicePrincipals", want: want{records: "value", paging: withTotal, kind: nhi.ServiceAccount}},
			{path: "/oauth2PermissionGrants", want: want{records: "value", paging: nextURL, kind: nhi.OAuthGrant}},
		}, nonLists: []string{"/applications/{application-id}"}},
		// GET with list=true for a LIST verb; the records are bare ids in data.keys.
		"list-verb.yaml": {lists: []styleList{
			{path: "/auth/token/accessors", want: want{records: "data.keys", paging: none, kind: nhi.AccessToken}, query: list},
			{path: "/identity/entity/id", want: want{records: "data.keys", paging: none, kind: ""}, query: list},
			{path: "/auth/approle/role", want: want{records: "data.keys", paging: none, kind: nhi.Role}, query: list},
			{path: "/auth/approle/role/{role_name}/secret-id", want: want{records: "data.keys", paging: none, kind: nhi.Secret}, query: list},
		}, nonLists: []string{"/identity/entity/id/{id}", "/auth/token/lookup-accessor/{accessor}"}},
		// No security at all; a Link header on two lists, bare page numbers on one.
		"no-auth.yaml": {lists: []styleList{
			{path: "/repos", want: want{records: "", paging: link, kind: nhi.Resource}},
			{path: "/repos/{repo_id}/hooks", want: want{records: "", paging: link, kind: nhi.Webhook}},
			{path: "/repos/{repo_id}/keys", want: want{records: "", kind: nhi.DeployKey, paging: Paging{Style: PagePageNumber,
				PageParam: "page", StartPage: &one, SizeParam: "per_page", MaxPageSize: 50, Inference: Inference{Confidence: 0.8}}}},
		}, nonLists: []string{"/repos/{repo_id}"}},
		// Conventional REST: offset + limit with a total, a child key list.
		"acme-keys.yaml": {lists: []styleList{
			{path: "/users", want: want{records: "items", paging: offset, kind: nhi.HumanUser}},
			{path: "/service-accounts", want: want{records: "items", paging: offset, kind: nhi.ServiceAccount}},
			{path: "/service-accounts/{id}/keys", want: want{records: "items", paging: offset, kind: nhi.APIKey}},
			{path: "/webhooks", want: want{records: "items", paging: offset, kind: nhi.Webhook}},
		}, nonLists: []string{"/service-accounts/{id}"}},
	}
	for name, d := range docs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := styleDoc(t, name)
			lists := 0
			for _, op := range s.Operations {
				if op.List != nil {
					lists++
				}
			}
			if lists != len(d.lists) {
				t.Errorf("%d list operations, want %d", lists, len(d.lists))
			}
			for _, c := range d.lists {
				op := findOp(t, s, "GET", c.path)
				checkList(t, op, c.want)
				if op.List == nil {
					continue
				}
				if !reflect.DeepEqual(op.List.Query, c.query) {
					t.Errorf("%s: Query = %v, want %v", c.path, op.List.Query, c.query)
				}
				checkEnvelope(t, c.path, op.List.Envelope, c.envelope)
			}
			for _, p := range d.nonLists {
				if op := findOp(t, s, "GET", p); op.List != nil {
					t.Errorf("%s: inferred a list (records %q), want none", p, op.List.RecordsPath)
				}
			}
		})
	}
}

func checkEnvelope(t *testing.T, path string, got, want *Envelope) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("%s: Envelope = %+v, want none", path, *got)
	case want != nil && got == nil:
		t.Errorf("%s: no Envelope, want %+v", path, *want)
	case want != nil:
		if got.OKField != want.OKField || got.ErrorField != want.ErrorField || got.InBand != want.InBand {
			t.Errorf("%s: Envelope = %+v, want %+v", path, *got, *want)
		}
		if got.Inference.Confidence < want.Inference.Confidence || len(got.Inference.Evidence) == 0 {
			t.Errorf("%s: envelope inference %+v, want confidence at least %.2f with evidence", path, got.Inference, want.Inference.Confidence)
		}
	}
}

// Records that are bare identifiers: the records schema is the scalar,
// and the kind comes from what the ids identify, not from "keys".
func TestInferIDListRecords(t *testing.T) {
	t.Parallel()
	s := styleDoc(t, "list-verb.yaml")
	op := findOp(t, s, "GET", "/auth/token/accessors")
	if r := op.List.Records; r == nil || r.Type != "string" {
		t.Errorf("Records = %+v, want the string schema of one id", r)
	}
	// A list of strings under another name is no list of records.
	for _, c := range []struct {
		name string
		list bool
	}{{"keys", true}, {"entity_ids", true}, {"names", true}, {"scopes", false}, {"tags", false}} {
		op := tGet("/things", tObj(tP("data", tObj(tP(c.name, tArr(tStr()))))))
		if got := inferOne(t, op).List != nil; got != c.list {
			t.Errorf("{data: {%s: [string]}}: list = %v, want %v", c.name, got, c.list)
		}
	}
	// An id list under a path that names one object stays an attribute.
	if l := inferOne(t, tGet("/things/{id}", tObj(tP("keys", tArr(tStr()))))).List; l != nil {
		t.Errorf("/things/{id} with keys: inferred a list at %q, want none", l.RecordsPath)
	}
}

// The success flag: its polarity and shape come from the doc, never from
// a name alone when an enum or an error body says otherwise.
func TestInferEnvelope(t *testing.T) {
	t.Parallel()
	okTrue := &Schema{Type: "boolean", Enum: []any{true}}
	okFalse := &Schema{Type: "boolean", Enum: []any{false}}
	errBody := tObj(tP("ok", okFalse), tP("error", tStr()))
	recs := tP("items", tArr(tRec("Item", "id")))
	cases := []struct {
		name string
		op   Operation
		want *Envelope
	}{
		{
			name: "flag and error body documented as default only",
			op: func() Operation {
				op := tGet("/items.list", tObj(tP("ok", okTrue), recs))
				op.ErrorResponses = map[string]*Schema{"default": errBody}
				return op
			}(),
			want: &Envelope{OKField: "ok", ErrorField: "error", InBand: true},
		},
		{
			name: "flag with HTTP error statuses",
			op: func() Operation {
				op := tGet("/items", tObj(tP("success", tBool()), recs))
				op.ErrorResponses = map[string]*Schema{"401": tObj(tP("success", tBool()), tP("error", tObj(tP("message", tStr()))))}
				return op
			}(),
			want: &Envelope{OKField: "success", ErrorField: "error.message"},
		},
		{
			name: "a oneOf success response that documents the error shape",
			op: tGet("/items.list", &Schema{OneOf: []*Schema{
				tObj(tP("ok", okTrue), recs), errBody}}),
			want: &Envelope{OKField: "ok", ErrorField: "error", InBand: true},
		},
		{
			name: "a paging flag is no success flag",
			op:   tGet("/items", tObj(tP("has_more", tBool()), recs)),
		},
		{
			name: "an optional boolean named like a flag, with nothing else",
			op:   tGet("/items", tObj(tP("ok", tBool()), recs)),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := inferOne(t, c.op)
			if op.List == nil {
				t.Fatal("not a list")
			}
			checkEnvelope(t, op.Path, op.List.Envelope, c.want)
		})
	}
}
