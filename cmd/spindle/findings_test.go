package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/findings"
	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/store"
	"github.com/spindlehq/spindle/internal/store/sqlite"
)

// seedFindings writes two sources into a new SQLite inventory: in "alpha"
// an ownerless key without expiry, an owned expiring key and a user; in
// "beta" an admin service account without owner.
func seedFindings(t *testing.T) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "f.db")
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	created, used, exp := now.Add(-48*time.Hour), now.Add(-time.Hour), now.Add(30*24*time.Hour)
	rec := func(source string, kind nhi.Kind, id string, mut func(r *nhi.Record)) *nhi.Record {
		active, ct, pr := nhi.Active, nhi.Static, nhi.Read
		r := &nhi.Record{ID: nhi.StableID(source, kind, id), Source: source, Kind: kind, ExternalID: id, Status: &active,
			CreatedAt: &created, LastUsedAt: &used, CredentialType: &ct, Privilege: &pr}
		mut(r)
		return r
	}
	owner := nhi.NewRef("alpha", nhi.HumanUser, "u1")
	admin := nhi.Admin
	for source, recs := range map[string][]*nhi.Record{
		"alpha": {
			rec("alpha", nhi.APIKey, "orphan", func(r *nhi.Record) {}),
			rec("alpha", nhi.APIKey, "tidy", func(r *nhi.Record) { r.Owner, r.ExpiresAt = &owner, &exp }),
			rec("alpha", nhi.HumanUser, "u1", func(r *nhi.Record) { r.CredentialType, r.Privilege = nil, nil }),
		},
		"beta": {
			rec("beta", nhi.ServiceAccount, "robot", func(r *nhi.Record) { r.CredentialType, r.Privilege = nil, &admin }),
		},
	} {
		sy, err := st.BeginSync(t.Context(), source, "", now)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := sy.Put(t.Context(), "seed", r); err != nil {
				t.Fatal(err)
			}
		}
		if err := sy.EndStream(t.Context(), store.StreamResult{Stream: "seed", Outcome: store.Complete, Records: len(recs)}); err != nil {
			t.Fatal(err)
		}
		if _, err := sy.Commit(t.Context(), now); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestInventoryListFindings(t *testing.T) {
	db := seedFindings(t)
	type listed struct {
		ExternalID string             `json:"external_id"`
		Findings   []findings.Finding `json:"findings"`
	}
	ids := func(fs []findings.Finding) []string {
		out := []string{}
		for _, f := range fs {
			out = append(out, f.ID)
		}
		return out
	}
	cases := []struct {
		args []string
		// want maps each listed entity to its finding ids.
		want map[string][]string
	}{
		{nil, map[string][]string{
			"orphan": {findings.NoOwner, findings.LongLivedSecret},
			"tidy":   {},
			"u1":     {},
			"robot":  {findings.Overprivileged, findings.NoOwner},
		}},
		{[]string{"--finding", findings.NoOwner}, map[string][]string{
			"orphan": {findings.NoOwner, findings.LongLivedSecret},
			"robot":  {findings.Overprivileged, findings.NoOwner},
		}},
		{[]string{"--finding", findings.NoOwner, "--source", "beta"}, map[string][]string{"robot": {findings.Overprivileged, findings.NoOwner}}},
		// The limit counts entities with the finding, not entities read.
		{[]string{"--finding", findings.Overprivileged, "--limit", "1"}, map[string][]string{"robot": {findings.Overprivileged, findings.NoOwner}}},
		{[]string{"--finding", findings.ThirdPartyWrite}, map[string][]string{}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			r := mustSpindle(t, 0, append([]string{"inventory", "list", "--json", "--db", db}, c.args...)...)
			var got []listed
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got == nil {
				t.Fatalf("inventory list --json: %v\n%s", err, r.stdout)
			}
			if len(got) != len(c.want) {
				t.Fatalf("listed %d entities, want %d: %s", len(got), len(c.want), r.stdout)
			}
			for _, e := range got {
				want, ok := c.want[e.ExternalID]
				if !ok || !slices.Equal(ids(e.Findings), want) {
					t.Errorf("%s: findings %v, want %v (listed: %v)", e.ExternalID, ids(e.Findings), want, ok)
				}
			}
		})
	}

	// The table has a findings column.
	r := mustSpindle(t, 0, "inventory", "list", "--db", db, "--source", "alpha")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if !strings.HasSuffix(strings.TrimSpace(lines[0]), "FINDINGS") {
		t.Errorf("table header %q has no FINDINGS column", lines[0])
	}
	if len(lines) != 4 {
		t.Fatalf("alpha's table has %d lines, want a header and 3 rows:\n%s", len(lines), r.stdout)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		last := f[len(f)-1]
		switch f[2] {
		case "orphan":
			if last != findings.NoOwner+","+findings.LongLivedSecret {
				t.Errorf("orphan's findings cell %q", last)
			}
		case "tidy", "u1":
			if last != "-" {
				t.Errorf("%s's findings cell %q, want -", f[2], last)
			}
		}
	}

	r = mustSpindle(t, 2, "inventory", "list", "--finding", "NHI1", "--db", db)
	if !strings.Contains(r.stderr, findings.NoOwner) || !strings.Contains(r.stderr, findings.ThirdPartyWrite) {
		t.Errorf("an unknown --finding does not list the valid ones: %s", r.stderr)
	}
}

func TestInventoryFindingsSummary(t *testing.T) {
	db := seedFindings(t)
	r := mustSpindle(t, 0, "inventory", "findings", "--json", "--db", db)
	var rows []struct {
		Source   string `json:"source"`
		ID       string `json:"id"`
		Risk     string `json:"risk"`
		Severity string `json:"severity"`
		Entities int    `json:"entities"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("inventory findings --json: %v\n%s", err, r.stdout)
	}
	rules := findings.IDs()
	if len(rows) != 2*len(rules) {
		t.Fatalf("%d rows, want every rule for both sources (%d)", len(rows), 2*len(rules))
	}
	got := map[string]int{}
	for i, row := range rows {
		if want := []string{"alpha", "beta"}[i/len(rules)]; row.Source != want || row.ID != rules[i%len(rules)].ID || row.Risk == "" || row.Severity == "" {
			t.Errorf("row %d: %+v, want source %s and rule %s in order", i, row, want, rules[i%len(rules)].ID)
		}
		if row.Entities > 0 {
			got[row.Source+" "+row.ID] = row.Entities
		}
	}
	want := map[string]int{
		"alpha " + findings.NoOwner:         1,
		"alpha " + findings.LongLivedSecret: 1,
		"beta " + findings.NoOwner:          1,
		"beta " + findings.Overprivileged:   1,
	}
	if len(got) != len(want) {
		t.Errorf("non-zero counts %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d, want %d", k, got[k], n)
		}
	}

	r = mustSpindle(t, 0, "inventory", "findings", "--source", "beta", "--db", db)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 1+len(rules) || !strings.HasPrefix(lines[0], "SOURCE") {
		t.Fatalf("table:\n%s", r.stdout)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		wantN := "0"
		if f[1] == findings.NoOwner || f[1] == findings.Overprivileged {
			wantN = "1"
		}
		if f[0] != "beta" || f[4] != wantN {
			t.Errorf("row %q: want source beta and %s entities", l, wantN)
		}
	}
}
