package main

// `spindle integration list` and `offboard` end to end, on a release made
// through the CLI's own propose and approve.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/governance"

	"github.com/spindlehq/spindle/internal/lifecycle"
	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/store"
	"github.com/spindlehq/spindle/internal/store/sqlite"
)

// integ runs `spindle integration ARGS --db db` and wants exit code want.
func integ(t *testing.T, db string, want int, args ...string) cliResult {
	t.Helper()
	return mustSpindle(t, want, append(append([]string{"integration"}, args...), "--db", db)...)
}

func TestIntegrationCommands(t *testing.T) {
	clearVaultEnv(t)
	g := newGovEnv(t)
	g.people()
	g.run(0, "role", "grant", "oscar", "operator", "--as", "root")

	// Nothing there yet: no database is created by listing.
	missing := filepath.Join(g.dir, "none.db")
	if r := integ(t, missing, 1, "list"); !strings.Contains(r.stderr, "no database at") {
		t.Errorf("list without a database: %s", r)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("list created a database")
	}

	// The fixture as drafted: owner unassigned. Released, it is listed
	// with the missing owner flagged.
	bundle := g.copyBundle("keyring")
	g.run(0, "propose", bundle)
	g.run(0, "approve", "1", "--as", "alice")
	g.run(0, "approve", "1", "--as", "bob")
	r := integ(t, g.db, 0, "list")
	for _, want := range []string{"NAME", "keyring-test", "unassigned !", "never-synced", "never", "none", "needs attention:", "no owner: set metadata.owner"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("list lacks %q:\n%s", want, r.stdout)
		}
	}

	// Owned, with a credential, terms and a sync: healthy.
	withOwner(t, bundle, "identity-team@example.com")
	g.run(0, "propose", bundle)
	g.run(0, "approve", "2", "--as", "alice")
	if r := spindleIn(t, "s3cr3t-integration-test", "credential", "set", "keyring-test-credential", "--integration", "keyring-test",
		"--host", "api.keyring.test", "--as", "oscar", "--db", g.db); r.code != 0 {
		t.Fatalf("credential set: %s", r)
	}
	g.run(0, "terms", "accept", "keyring-test", "--as", "oscar")
	recordSync(t, g.db, "keyring-test", 3)
	r = integ(t, g.db, 0, "list")
	due := time.Now().UTC().Add(90 * 24 * time.Hour).Format("2006-01-02")
	for _, want := range []string{"identity-team@example.com", "healthy", " ok", due, "keyring-test-credential ("} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("list lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "needs attention") || strings.Contains(r.stdout, "!") || !strings.Contains(r.stderr, "1 integration, 0 needing attention") {
		t.Errorf("an integration in order is flagged:\n%s", r)
	}
	ss := listJSON(t, g.db)
	if len(ss) != 1 || ss[0].Health != lifecycle.Healthy || !ss[0].HasOwner || ss[0].Release == nil || ss[0].Release.ID != 2 ||
		ss[0].LastSync == nil || ss[0].Terms == nil || len(ss[0].Credentials) != 1 {
		t.Fatalf("list --json: %+v", ss)
	}
	leakCheck(t, "integration list", r.stdout+r.stderr)

	// Offboarding: who may, and usage.
	for _, tc := range []struct {
		code int
		args []string
		says string
	}{
		{2, []string{"offboard", "keyring-test"}, "pass --as NAME"},
		{2, []string{"offboard", "--as", "oscar"}, "accepts 1 arg"},
		{1, []string{"offboard", "keyring-test", "--as", "vera"}, "vera (role viewer) may not integration.offboard"},
		{1, []string{"offboard", "keyring-test", "--as", "agent:heuristic"}, "agent:heuristic (role agent) may not integration.offboard"},
		{1, []string{"offboard", "keyring-tset", "--as", "oscar"}, `unknown integration "keyring-tset"`},
	} {
		if r := integ(t, g.db, tc.code, tc.args...); !strings.Contains(r.stderr, tc.says) {
			t.Errorf("%v: %s, want it to say %q", tc.args, r, tc.says)
		}
	}
	if ss := listJSON(t, g.db); ss[0].Offboarded != nil || ss[0].Credentials[0].RevokedAt != nil {
		t.Fatalf("a refused offboarding changed something: %+v", ss[0])
	}

	// Kept, then purged.
	r = integ(t, g.db, 0, "offboard", "keyring-test", "--as", "oscar")
	for _, want := range []string{"keyring-test offboarded by oscar", "inventory kept", "credentials revoked: keyring-test-credential", "at the vendor", "integration.offboard"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("offboard lacks %q:\n%s", want, r.stdout)
		}
	}
	if n := len(entitiesOf(t, g.db, "keyring-test")); n != 3 {
		t.Errorf("inventory after offboarding without --purge: %d entities, want 3", n)
	}
	r = integ(t, g.db, 0, "list")
	if !strings.Contains(r.stdout, "offboarded") || !strings.Contains(r.stdout, "revoked") || strings.Contains(r.stdout, "needs attention") {
		t.Errorf("list after offboarding:\n%s", r.stdout)
	}
	if r := integ(t, g.db, 1, "offboard", "keyring-test", "--as", "oscar"); !strings.Contains(r.stderr, "already offboarded") {
		t.Errorf("offboarding twice: %s", r)
	}
	r = integ(t, g.db, 0, "offboard", "keyring-test", "--as", "root", "--purge", "--json")
	var res lifecycle.OffboardResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || !res.PurgeOnly || res.EntitiesPurged != 3 || res.By != "oscar" || res.Entry.Action != lifecycle.ActionPurge {
		t.Fatalf("offboard --purge --json: %+v %v\n%s", res, err, r)
	}
	if n := len(entitiesOf(t, g.db, "keyring-test")); n != 0 {
		t.Errorf("inventory after --purge: %d entities", n)
	}
	if r := integ(t, g.db, 0, "list"); !strings.Contains(r.stdout, "offboarded (purged)") {
		t.Errorf("list after purge:\n%s", r.stdout)
	}

	// Audited, and the chain holds.
	r = g.run(0, "audit", "log", "--action", "integration", "--json")
	for _, want := range []string{`"integration.offboard"`, `"integration.purge"`, `"production"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("audit log lacks %s:\n%s", want, r.stdout)
		}
	}
	g.run(0, "audit", "verify")
}

// withOwner sets metadata.owner in the bundle's spec and the report's
// digest to match, as a person editing a draft and rebuilding would.
func withOwner(t *testing.T, bundle, owner string) {
	t.Helper()
	specPath := filepath.Join(bundle, "integration.yaml")
	b, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	spec := strings.Replace(string(b), "owner: unassigned", "owner: "+owner, 1)
	writeFile(t, bundle, "integration.yaml", []byte(spec))
	rb, err := os.ReadFile(filepath.Join(bundle, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var report map[string]any
	if err := json.Unmarshal(rb, &report); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(spec))
	report["spec_sha256"] = hex.EncodeToString(sum[:])
	rb, err = json.Marshal(report)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, bundle, "report.json", rb)
}

// recordSync commits one complete run of source with n API keys, as a
// production sync would.
func recordSync(t *testing.T, db, source string, n int) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Production runs carry the released digest (development runs of other
	// specs are not counted as syncs).
	digest := "sha256:unreleased"
	g, err := governance.New(st.DB(), governance.Options{Audit: audit.New(st.DB(), audit.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	if rel, err := g.Current(t.Context(), source); err == nil {
		digest = "sha256:" + rel.SpecDigest
	}
	now := time.Now()
	s, err := st.BeginSync(t.Context(), source, digest, now.Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Rollback()
	for i := range n {
		ext := fmt.Sprintf("key-%d", i)
		rec := &nhi.Record{ID: nhi.StableID(source, nhi.APIKey, ext), Source: source, Kind: nhi.APIKey, ExternalID: ext,
			Relationships: []nhi.Relationship{{Type: nhi.OwnedBy, Target: nhi.NewRef(source, nhi.HumanUser, "u")}}}
		if err := s.Put(t.Context(), "api_keys", rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EndStream(t.Context(), store.StreamResult{Stream: "api_keys", Outcome: store.Complete, Records: n}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(t.Context(), now); err != nil {
		t.Fatal(err)
	}
}

func entitiesOf(t *testing.T, db, source string) []store.Entity {
	t.Helper()
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	es, err := st.Entities(t.Context(), store.Query{Source: source})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func listJSON(t *testing.T, db string) []lifecycle.Summary {
	t.Helper()
	r := integ(t, db, 0, "list", "--json")
	var ss []lifecycle.Summary
	if err := json.Unmarshal([]byte(r.stdout), &ss); err != nil {
		t.Fatalf("list --json: %v\n%s", err, r.stdout)
	}
	return ss
}
