package sandbox

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// servedRecords reads every record of a list over HTTP, one big page.
func servedRecords(t *testing.T, sb *Sandbox, target, recordsKey string) []any {
	t.Helper()
	body := readAll(t, do(t, sb.Handler(), target, cred(t, sb, "api_key")))
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v\n%s", target, err, body)
	}
	recs, _ := v[recordsKey].([]any)
	return recs
}

// Records returns, per scope, exactly the records the sandbox serves
// (drift included), in serving order, with ids matching the truth.
func TestRecordsMatchServedPages(t *testing.T) {
	faults, err := ParseFaults("drift:rename=label>title@/service_accounts/{id}/keys")
	if err != nil {
		t.Fatal(err)
	}
	sb := newSandbox(t, acmeSurface(), Options{Seed: 7, Entities: 12, Faults: faults})
	tr := sb.Truth()

	got, err := sb.Records("/service_accounts", "")
	if err != nil {
		t.Fatal(err)
	}
	want := servedRecords(t, sb, "/api/v1/service_accounts?limit=100", "data")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Records(/service_accounts) differs from the served records\n got %v\nwant %v", got, want)
	}
	sas, _ := tr.Operation("GET", "/service_accounts")
	if len(got) != len(sas.IDs) {
		t.Fatalf("got %d records, truth has %d ids", len(got), len(sas.IDs))
	}
	for i, r := range got {
		if id := fmt.Sprint(r.(map[string]any)["id"]); id != sas.IDs[i] {
			t.Errorf("record %d has id %s, truth %s", i, id, sas.IDs[i])
		}
	}

	keys, _ := tr.Operation("GET", "/service_accounts/{id}/keys")
	checked := 0
	for scope, ids := range keys.Children {
		recs, err := sb.Records("/service_accounts/{id}/keys", scope)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != len(ids) {
			t.Fatalf("scope %s: %d records, truth has %d ids", scope, len(recs), len(ids))
		}
		served := servedRecords(t, sb, "/api/v1/service_accounts/"+scope+"/keys?limit=50", "keys")
		if !reflect.DeepEqual(recs, served) {
			t.Fatalf("scope %s: Records differs from the served records", scope)
		}
		for _, r := range recs {
			m := r.(map[string]any)
			if _, ok := m["label"]; ok {
				t.Errorf("scope %s: drift not applied: %v", scope, m)
			}
			if _, ok := m["title"]; !ok {
				t.Errorf("scope %s: renamed field missing: %v", scope, m)
			}
		}
		checked += len(recs)
	}
	if checked == 0 {
		t.Fatal("no child records to check; pick another seed")
	}
}

// The copy is the caller's: changing it changes nothing the sandbox
// serves or returns next time.
func TestRecordsIsACopy(t *testing.T) {
	sb := newSandbox(t, acmeSurface(), Options{Seed: 3, Entities: 5})
	a, err := sb.Records("/service_accounts", "")
	if err != nil {
		t.Fatal(err)
	}
	a[0].(map[string]any)["id"] = "changed"
	b, _ := sb.Records("/service_accounts", "")
	if b[0].(map[string]any)["id"] == "changed" {
		t.Fatal("Records shares its values with the caller")
	}
}

func TestRecordsErrors(t *testing.T) {
	sb := newSandbox(t, acmeSurface(), Options{Seed: 3, Entities: 5})
	for _, tc := range []struct {
		path, scope, want string
	}{
		{"/nope", "", "not a list operation"},
		{"/me", "", "not a list operation"},
		{"/service_accounts", "x", "top-level list"},
		{"/service_accounts/{id}/keys", "no-such-parent", "has no scope"},
		{"/service_accounts/{id}/keys", "", "has no scope"},
	} {
		_, err := sb.Records(tc.path, tc.scope)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Records(%q, %q) = %v, want an error containing %q", tc.path, tc.scope, err, tc.want)
		}
	}
}
