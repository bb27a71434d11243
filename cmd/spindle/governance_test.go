package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/store/sqlite"
)

// govEnv is a database and a key directory under t.TempDir().
type govEnv struct {
	t    *testing.T
	db   string
	keys string
	dir  string
}

func newGovEnv(t *testing.T) *govEnv {
	dir := t.TempDir()
	return &govEnv{t: t, db: filepath.Join(dir, "gov.db"), keys: filepath.Join(dir, "keys"), dir: dir}
}

// run runs spindle with --db (and --key-dir for the commands that take it)
// and wants exit code want.
func (g *govEnv) run(want int, args ...string) cliResult {
	g.t.Helper()
	args = append(args, "--db", g.db)
	switch args[0] {
	case "approve", "reject":
		args = append(args, "--key-dir", g.keys)
	case "keys":
		if len(args) > 1 && args[1] == "create" {
			args = append(args, "--key-dir", g.keys)
		}
	}
	return mustSpindle(g.t, want, args...)
}

// people: root (admin), alice and bob (approvers) with keys.
func (g *govEnv) people() {
	g.t.Helper()
	r := g.run(0, "role", "grant", "root", "admin")
	if !strings.Contains(r.stdout, "first admin (bootstrap") {
		g.t.Errorf("bootstrap: %s", r)
	}
	g.run(0, "role", "grant", "alice", "approver", "--as", "root")
	g.run(0, "role", "grant", "bob", "approver", "--as", "root")
	g.run(0, "role", "grant", "vera", "viewer", "--as", "root")
	g.run(0, "keys", "create", "alice")
	g.run(0, "keys", "create", "bob")
}

// copyBundle copies the governance fixture bundle into a fresh directory.
func (g *govEnv) copyBundle(name string) string {
	g.t.Helper()
	dst := filepath.Join(g.dir, name)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		g.t.Fatal(err)
	}
	for _, f := range []string{"integration.yaml", "report.json"} {
		b, err := os.ReadFile(filepath.Join("../../internal/governance/testdata/keyring", f))
		if err != nil {
			g.t.Fatal(err)
		}
		writeFile(g.t, dst, f, b)
	}
	return dst
}

// The README's path: build → propose → review → approve (two people) →
// release verify, with every refusal on the way exiting 1 and saying why.
func TestGovernanceWalkthrough(t *testing.T) {
	g := newGovEnv(t)
	bundle := filepath.Join(g.dir, "acme")
	mustSpindle(t, 0, "build", exampleDoc, "--out", bundle, "--db", filepath.Join(t.TempDir(), "build.db"))

	// The agent's bundle is proposed before anyone holds a role.
	r := g.run(0, "propose", bundle, "--json")
	var p struct {
		ID          int64  `json:"id"`
		Author      string `json:"author"`
		Integration string `json:"integration"`
		Digest      string `json:"spec_sha256"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("propose --json: %v\n%s", err, r)
	}
	if p.ID != 1 || p.Author != "agent:heuristic" || p.Integration != "acme-cloud" || len(p.Digest) != 64 {
		t.Fatalf("proposal: %+v", p)
	}
	r = g.run(1, "role", "grant", "alice", "approver")
	if !strings.Contains(r.stderr, "no admin yet") {
		t.Errorf("grant before an admin: %s", r)
	}
	g.people()
	g.run(1, "role", "grant", "mallory", "admin")
	g.run(1, "role", "grant", "mallory", "approver", "--as", "alice")
	r = g.run(1, "keys", "create", "alice")
	if !strings.Contains(r.stderr, "already has an active key") {
		t.Errorf("second key: %s", r)
	}
	if st, err := os.Stat(filepath.Join(g.keys, "alice.ed25519")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", st, err)
	}

	r = g.run(0, "review")
	if !strings.Contains(r.stdout, "acme-cloud") || !strings.Contains(r.stdout, "new integration; risk: auth, hosts") || !strings.Contains(r.stdout, "0 of 2") {
		t.Errorf("queue:\n%s", r.stdout)
	}
	r = g.run(0, "review", "1")
	for _, want := range []string{"new integration: no release to compare with", "Validation: PASSED", "Credential to provision: acme-cloud-credential",
		"Hosts contacted: api.acme-cloud.example", "Risk: 2 approver(s) required", "! auth", "! hosts", "Spec (new integration):"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("review 1 lacks %q:\n%s", want, r.stdout)
		}
	}
	r = g.run(0, "review", "1", "--json")
	var rev struct {
		Risk struct {
			Required int `json:"required_approvals"`
		} `json:"risk"`
		Hosts  []string `json:"hosts"`
		Needed int      `json:"needed"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rev); err != nil || rev.Risk.Required != 2 || rev.Needed != 2 || len(rev.Hosts) != 1 {
		t.Errorf("review --json: %+v %v", rev, err)
	}

	refusals := []struct {
		args []string
		want string
	}{
		{[]string{"approve", "1", "--as", "agent:heuristic"}, "agent:heuristic (role agent) may not proposal.approve"},
		{[]string{"approve", "1", "--as", "vera"}, "vera (role viewer) may not proposal.approve"},
		{[]string{"reject", "1", "--as", "agent:heuristic", "--reason", "no"}, "may not proposal.reject"},
		{[]string{"approve", "1", "--as", "root"}, "keys create root"},
		{[]string{"approve", "1", "--as", "bob", "--digest", strings.Repeat("0", 64)}, "not the 000000000000 you reviewed"},
		{[]string{"approve", "9", "--as", "bob"}, "no proposal 9"},
	}
	for _, c := range refusals {
		r := g.run(1, c.args...)
		if !strings.Contains(r.stderr, c.want) {
			t.Errorf("spindle %v: stderr lacks %q:\n%s", c.args, c.want, r.stderr)
		}
	}

	r = g.run(0, "approve", "1", "--as", "alice")
	if !strings.Contains(r.stdout, "1 of 2 approvals: 1 more needed") {
		t.Errorf("first approval:\n%s", r.stdout)
	}
	r = g.run(1, "approve", "1", "--as", "alice")
	if !strings.Contains(r.stderr, "alice already decided on proposal 1") {
		t.Errorf("twice: %s", r)
	}
	r = g.run(0, "approve", "1", "--as", "bob", "--digest", p.Digest, "--json")
	var d struct {
		Release *struct {
			ID        int64    `json:"id"`
			Approvers []string `json:"approvers"`
		} `json:"release"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.Release == nil || d.Release.ID != 1 || strings.Join(d.Release.Approvers, ",") != "alice,bob" {
		t.Fatalf("second approval: %+v %v\n%s", d, err, r)
	}
	r = g.run(0, "release", "list", "--json")
	var rels []struct {
		Integration string `json:"integration"`
		Digest      string `json:"spec_sha256"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rels); err != nil || len(rels) != 1 || rels[0].Digest != p.Digest {
		t.Errorf("release list: %+v %v", rels, err)
	}
	r = g.run(0, "release", "verify", "acme-cloud")
	if !strings.Contains(r.stdout, "acme-cloud: 1 release(s) verified") || !strings.Contains(r.stdout, "alice signed with SHA256:") {
		t.Errorf("verify:\n%s", r.stdout)
	}

	// A person edits the spec by hand: a new proposal, without the
	// build's report (it vouched for the old spec).
	spec, _ := os.ReadFile(filepath.Join(bundle, "integration.yaml"))
	writeFile(t, bundle, "integration.yaml", []byte(strings.Replace(string(spec), "owner: unassigned", "owner: identity@example.com", 1)))
	r = g.run(1, "propose", bundle, "--as", "alice")
	if !strings.Contains(r.stderr, "edited after the build") {
		t.Errorf("stale report: %s", r)
	}
	if err := os.Remove(filepath.Join(bundle, "report.json")); err != nil {
		t.Fatal(err)
	}
	g.run(0, "propose", bundle, "--as", "alice")
	r = g.run(0, "review", "2")
	for _, want := range []string{"against release 1", "-  owner: unassigned", "+  owner: identity@example.com", "Risk: 1 approver(s) required",
		"Validation: FAILED", "not validated"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("review 2 lacks %q:\n%s", want, r.stdout)
		}
	}
	r = g.run(1, "approve", "2", "--as", "alice")
	if !strings.Contains(r.stderr, "alice wrote proposal 2 and cannot approve it; ask another approver") {
		t.Errorf("author approves: %s", r)
	}
	g.run(2, "reject", "2", "--as", "bob")
	r = g.run(0, "reject", "2", "--as", "bob", "--reason", "owner must be a team")
	if !strings.Contains(r.stdout, "bob rejected proposal 2") {
		t.Errorf("reject: %s", r)
	}
	r = g.run(1, "approve", "2", "--as", "bob")
	if !strings.Contains(r.stderr, "was rejected by bob (owner must be a team); a rejected proposal cannot be approved") {
		t.Errorf("approve after reject: %s", r)
	}

	g.run(0, "audit", "verify")
	r = g.run(0, "audit", "log", "--action", "release", "--json")
	if !strings.Contains(r.stdout, `"release.create"`) {
		t.Errorf("audit log:\n%s", r.stdout)
	}

	// Tampering with the stored spec fails verification, naming it.
	st, err := sqlite.Open(t.Context(), g.db)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER proposals_immutable`, `UPDATE proposals SET spec_text = CAST(REPLACE(CAST(spec_text AS TEXT), 'GET', 'PUT') AS BLOB) WHERE id = 1`} {
		if _, err := st.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	r = g.run(1, "release", "verify", "acme-cloud")
	if !strings.Contains(r.stdout, "PROBLEM: the stored spec text hashes to") || !strings.Contains(r.stderr, "does not verify") {
		t.Errorf("tampered verify: %s", r)
	}
	r = g.run(1, "release", "verify", "acme-cloud", "--json")
	var v struct {
		OK bool `json:"ok"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.OK {
		t.Errorf("verify --json: %+v %v", v, err)
	}
}

// A change to auth needs a second approver; a mapping change one.
func TestGovernanceTwoApprovers(t *testing.T) {
	g := newGovEnv(t)
	g.people()
	g.run(0, "role", "grant", "carol", "approver", "--as", "root")
	g.run(0, "keys", "create", "carol")
	b := g.copyBundle("keyring")
	g.run(0, "propose", b)
	g.run(0, "approve", "1", "--as", "alice")
	g.run(0, "approve", "1", "--as", "bob")

	spec, _ := os.ReadFile(filepath.Join(b, "integration.yaml"))
	os.Remove(filepath.Join(b, "report.json"))
	writeFile(t, b, "integration.yaml", []byte(strings.Replace(string(spec), "name: X-Api-Token", "name: X-Api-Key", 1)))
	g.run(0, "propose", b, "--as", "carol")
	r := g.run(0, "review", "2")
	if !strings.Contains(r.stdout, `auth header/parameter name changes from "X-Api-Token" to "X-Api-Key"`) {
		t.Errorf("review:\n%s", r.stdout)
	}
	if r := g.run(0, "approve", "2", "--as", "alice"); !strings.Contains(r.stdout, "1 more needed") {
		t.Errorf("auth change released on one approval:\n%s", r.stdout)
	}
	if r := g.run(0, "approve", "2", "--as", "bob"); !strings.Contains(r.stdout, "released: release 2") {
		t.Errorf("second approval:\n%s", r.stdout)
	}
	g.run(0, "release", "verify", "keyring-test")
}

func TestGovernanceUsageAndKeys(t *testing.T) {
	g := newGovEnv(t)
	// Reading or deciding never creates a database.
	for _, args := range [][]string{{"review"}, {"release", "list"}, {"release", "verify", "x"}, {"keys", "list"}, {"role", "list"}} {
		r := g.run(1, args...)
		if !strings.Contains(r.stderr, "no database at") {
			t.Errorf("%v: %s", args, r)
		}
	}
	if _, err := os.Stat(g.db); err == nil {
		t.Fatal("a read created the database")
	}
	usage := [][]string{
		{"approve", "1"},
		{"approve", "abc", "--as", "alice"},
		{"approve"},
		{"reject", "1", "--as", "alice"},
		{"review", "x"},
		{"review", "1", "2"},
		{"role", "grant", "alice", "god"},
		{"role", "revoke", "alice", "approver"},
		{"release", "verify"},
		{"propose"},
		{"keys", "create"},
	}
	for _, args := range usage {
		r := g.run(2, args...)
		if !strings.Contains(r.stderr, "--help") {
			t.Errorf("%v: usage error without a pointer to --help: %s", args, r.stderr)
		}
	}

	// The default key directory is $SPINDLE_KEY_DIR.
	t.Setenv("SPINDLE_KEY_DIR", filepath.Join(g.dir, "envkeys"))
	mustSpindle(t, 0, "role", "grant", "root", "admin", "--db", g.db)
	r := mustSpindle(t, 0, "keys", "create", "root", "--db", g.db, "--json")
	var k struct {
		Fingerprint string `json:"fingerprint"`
		Path        string `json:"private_key_file"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &k); err != nil || k.Path != filepath.Join(g.dir, "envkeys", "root.ed25519") || !strings.HasPrefix(k.Fingerprint, "SHA256:") {
		t.Errorf("keys create --json: %+v %v", k, err)
	}
	r = g.run(0, "keys", "list")
	if !strings.Contains(r.stdout, k.Fingerprint) || !strings.Contains(r.stdout, "active") {
		t.Errorf("keys list:\n%s", r.stdout)
	}
	r = g.run(0, "role", "list", "--json")
	if !strings.Contains(r.stdout, `"root"`) || !strings.Contains(r.stdout, `"admin"`) {
		t.Errorf("role list:\n%s", r.stdout)
	}
	r = g.run(0, "role", "actions")
	if !strings.Contains(r.stdout, "sync.production") || !strings.Contains(r.stdout, "AGENT") {
		t.Errorf("role actions:\n%s", r.stdout)
	}
	r = g.run(0, "role", "actions", "--json")
	var m map[string][]string
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil || strings.Join(m["agent"], ",") != "proposal.create,proposal.read,release.read" {
		t.Errorf("role actions --json: %v %v", m["agent"], err)
	}
	r = g.run(1, "propose", filepath.Join(g.dir, "nope"))
	if !strings.Contains(r.stderr, "spindle build") {
		t.Errorf("propose a missing bundle: %s", r)
	}
	r = g.run(0, "review")
	if !strings.Contains(r.stdout, "no open proposals") {
		t.Errorf("empty queue: %s", r)
	}
}
