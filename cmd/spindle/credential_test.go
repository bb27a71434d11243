package main

// The vault's commands end to end: secrets come in on stdin only, are
// bound and encrypted, and never come back out — not on stdout, stderr,
// --json, the audit log or the database file.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/store/sqlite"
	"github.com/spindlehq/spindle/internal/vault"
)

const cliSecret = "s3cr3t-CLI-VALUE-91c4" // every secret here contains "s3cr3t-"

// spindleIn runs the CLI with stdin.
func spindleIn(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := execute(t.Context(), args, strings.NewReader(stdin), &stdout, &stderr)
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// operators grants the operator role (which may provision credentials and
// accept terms) to people in a fresh database, bootstrapping an admin.
func operators(t *testing.T, db string, people ...string) {
	t.Helper()
	mustSpindle(t, 0, "role", "grant", "root", "admin", "--db", db)
	for _, p := range people {
		mustSpindle(t, 0, "role", "grant", p, "operator", "--as", "root", "--db", db)
	}
}

// clearVaultEnv keeps the caller's environment from choosing the identity.
func clearVaultEnv(t *testing.T) {
	t.Setenv(vault.EnvIdentity, "")
	t.Setenv(vault.EnvIdentityFile, "")
}

// leakCheck fails if any output holds a secret, in the forms it would take.
func leakCheck(t *testing.T, where, s string) {
	t.Helper()
	for _, f := range []string{"s3cr3t-", base64.StdEncoding.EncodeToString([]byte(cliSecret)), "AGE-SECRET-KEY-"} {
		if strings.Contains(s, f) {
			t.Errorf("%s leaks %q:\n%s", where, f, s)
		}
	}
}

func TestCredentialCommands(t *testing.T) {
	clearVaultEnv(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "spindle.db")
	operators(t, db, "alice", "bob", "carol", "dave")
	var outputs []cliResult
	runDB := dbRunner(t, db)
	run := func(want int, stdin string, args ...string) cliResult {
		t.Helper()
		r := runDB(want, stdin, args...)
		outputs = append(outputs, r)
		return r
	}

	// Piped, with the trailing newline echo or a file adds.
	r := run(0, cliSecret+"\n", "credential", "set", "pagerduty", "--integration", "pagerduty", "--host", "https://api.pagerduty.com/v2", "--as", "alice")
	if !strings.Contains(r.stdout, "credential pagerduty set: version 1, bound to integration pagerduty at api.pagerduty.com") {
		t.Errorf("set output: %s", r)
	}
	key := filepath.Join(dir, "vault.key")
	fi, err := os.Stat(key)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file beside the database: %v, %v", fi, err)
	}
	// Windows line ending, and an overdue cadence.
	run(0, cliSecret+"-okta\r\n", "credential", "set", "okta", "--integration", "okta", "--host", "acme.okta.com", "--token-host", "login.acme.example", "--rotate-every", "1ns", "--as", "bob")

	r = run(0, "", "credential", "list")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("list:\n%s", r.stdout)
	}
	if !strings.Contains(lines[1], "okta") || !strings.Contains(lines[1], "(overdue)") || !strings.Contains(lines[1], "(token login.acme.example)") || !strings.Contains(lines[1], "by bob") {
		t.Errorf("okta row: %q", lines[1])
	}
	if !strings.Contains(lines[2], "pagerduty") || strings.Contains(lines[2], "overdue") || !strings.Contains(lines[2], "never") {
		t.Errorf("pagerduty row: %q", lines[2])
	}
	if !strings.Contains(r.stderr, "1 overdue for rotation") {
		t.Errorf("list does not call out the overdue credential: %s", r.stderr)
	}

	r = run(0, "", "credential", "list", "--json")
	var ms []vault.Meta
	if err := json.Unmarshal([]byte(r.stdout), &ms); err != nil || len(ms) != 2 {
		t.Fatalf("list --json: %v\n%s", err, r.stdout)
	}
	if !ms[0].Overdue || ms[1].Overdue || ms[1].Version != 1 || ms[1].Host != "api.pagerduty.com" || ms[0].TokenHost != "login.acme.example" {
		t.Errorf("list --json: %+v", ms)
	}

	// The vault holds what was piped, minus the newline, for its binding only.
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(st.DB(), vault.Options{IdentityFile: key, Audit: audit.New(st.DB(), audit.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{"pagerduty": cliSecret, "okta": cliSecret + "-okta"} {
		b := vault.Binding{Integration: ref, Host: map[string]string{"pagerduty": "https://api.pagerduty.com", "okta": "https://acme.okta.com"}[ref]}
		got, err := v.Resolver(b).Resolve(t.Context(), ref)
		if err != nil || got.Reveal() != want {
			t.Errorf("resolve %s: %v (value matches: %v)", ref, err, got.Reveal() == want)
		}
	}
	st.Close()

	r = run(0, cliSecret+"-v2\n", "credential", "rotate", "pagerduty", "--as", "carol", "--json")
	var m vault.Meta
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil || m.Version != 2 || m.RotatedBy != "carol" {
		t.Errorf("rotate --json: %+v, %v", m, err)
	}
	run(1, cliSecret+"-v2", "credential", "rotate", "pagerduty", "--as", "carol") // the same value again
	r = run(0, "", "credential", "revoke", "okta", "--as", "dave")
	if !strings.Contains(r.stdout, "revoked") || !strings.Contains(r.stdout, "at the vendor") {
		t.Errorf("revoke output: %s", r)
	}
	r = run(0, "", "credential", "list")
	if !strings.Contains(r.stdout, "by dave") || strings.Contains(r.stdout, "(overdue)") {
		t.Errorf("list after revoke:\n%s", r.stdout)
	}
	run(1, "", "credential", "revoke", "okta", "--as", "dave")

	run(0, "", "terms", "accept", "pagerduty", "--as", "alice", "--vendor", "PagerDuty", "--terms", "https://www.pagerduty.com/terms-of-service/")
	r = run(0, "", "terms", "list", "--json")
	var acc []vault.Acceptance
	if err := json.Unmarshal([]byte(r.stdout), &acc); err != nil || len(acc) != 1 || acc[0].AcceptedBy != "alice" || acc[0].Vendor != "PagerDuty" {
		t.Errorf("terms list --json: %v\n%s", err, r.stdout)
	}
	r = run(0, "", "terms", "list")
	if !strings.Contains(r.stdout, "pagerduty") || !strings.Contains(r.stdout, "alice") {
		t.Errorf("terms list:\n%s", r.stdout)
	}

	// Nothing printed anywhere held a secret (or the identity).
	for _, o := range outputs {
		leakCheck(t, "output", o.stdout+o.stderr)
	}
	// Every change was audited, as the person, in production, without the secret.
	st, err = sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := audit.New(st.DB(), audit.Options{})
	entries, err := log.List(t.Context(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		raw, _ := json.Marshal(e)
		leakCheck(t, "audit entry", string(raw))
		if e.Action == vault.ActionUse || strings.HasPrefix(e.Action, "role.") {
			continue // the resolves this test made directly, and the role set-up
		}
		if e.Boundary != audit.BoundaryProduction || e.Actor.Kind != audit.ActorPerson {
			t.Errorf("audit entry %d: %+v", e.Seq, e)
		}
		got = append(got, e.Action+" "+e.Actor.Name+" "+e.Object)
	}
	want := []string{
		"credential.set alice credential:pagerduty",
		"credential.set bob credential:okta",
		"credential.rotate carol credential:pagerduty",
		"credential.revoke dave credential:okta",
		"terms.accept alice integration:pagerduty",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rep, err := log.Verify(t.Context()); err != nil || !rep.OK {
		t.Errorf("audit verify: %+v, %v", rep, err)
	}
	// And the database file holds no secret in clear.
	for _, p := range []string{db, db + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("s3cr3t-")) {
			t.Errorf("%s holds a secret in clear", filepath.Base(p))
		}
	}
}

// A secret never comes from argv: an extra argument is refused before
// anything is read or stored, and the refusal does not repeat it.
func TestCredentialRefusesArgvSecret(t *testing.T) {
	clearVaultEnv(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "spindle.db")
	operators(t, db, "alice", "bob", "carol", "dave")
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"secret after the name", "", []string{"credential", "set", "pd", cliSecret, "--integration", "pd", "--host", "api.pd.example", "--as", "alice"}, 2, "never accepted as an argument"},
		{"secret before the flags", cliSecret, []string{"credential", "set", "pd", "--integration", "pd", cliSecret, "--host", "api.pd.example", "--as", "alice"}, 2, "Pipe it on stdin"},
		{"rotate with an argument", "", []string{"credential", "rotate", "pd", cliSecret, "--as", "alice"}, 2, "never accepted as an argument"},
		{"a secret flag", "", []string{"credential", "set", "pd", "--secret", cliSecret, "--integration", "pd", "--host", "api.pd.example", "--as", "alice"}, 2, "unknown flag: --secret"},
		{"a secret flag with =", "", []string{"credential", "set", "pd", "--secret=" + cliSecret, "--integration", "pd", "--host", "api.pd.example", "--as", "alice"}, 2, "unknown flag"},
		{"no name", cliSecret, []string{"credential", "set", "--integration", "pd", "--host", "api.pd.example", "--as", "alice"}, 2, "missing the credential NAME"},
		{"empty stdin", "", []string{"credential", "set", "pd", "--integration", "pd", "--host", "api.pd.example", "--as", "alice"}, 1, "no secret on stdin"},
		{"only a newline", "\n", []string{"credential", "set", "pd", "--integration", "pd", "--host", "api.pd.example", "--as", "alice"}, 1, "no secret on stdin"},
		{"two newlines", cliSecret + "\n\n", []string{"credential", "set", "pd", "--integration", "pd", "--host", "api.pd.example", "--as", "alice"}, 1, "whitespace"},
		{"no --as", cliSecret, []string{"credential", "set", "pd", "--integration", "pd", "--host", "api.pd.example"}, 2, "--as NAME"},
		{"no --host", cliSecret, []string{"credential", "set", "pd", "--integration", "pd", "--as", "alice"}, 2, "--host are required"},
		{"bad cadence", cliSecret, []string{"credential", "set", "pd", "--integration", "pd", "--host", "api.pd.example", "--rotate-every", "soon", "--as", "alice"}, 2, "--rotate-every"},
		{"too large", strings.Repeat("s3cr3t-x", vault.MaxSecretBytes/8+1), []string{"credential", "set", "pd", "--integration", "pd", "--host", "api.pd.example", "--as", "alice"}, 1, "more than"},
		{"terms without --as", "", []string{"terms", "accept", "pd"}, 2, "--as NAME"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := spindleIn(t, tc.stdin, append(tc.args, "--db", db)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Fatalf("want exit %d mentioning %q, got %s", tc.code, tc.msg, r)
			}
			leakCheck(t, "output", r.stdout+r.stderr)
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "vault.key")); !os.IsNotExist(err) {
		t.Errorf("a refused command created the identity file: %v", err)
	}
	if _, err := os.Stat(db); err == nil {
		r := spindleIn(t, "", "credential", "list", "--json", "--db", db)
		if r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
			t.Errorf("refused commands stored a credential: %s", r)
		}
	}
}

func TestCredentialIdentityFlags(t *testing.T) {
	clearVaultEnv(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "spindle.db")
	operators(t, db, "alice", "bob", "carol", "dave")
	key := filepath.Join(dir, "keys", "custom.key")
	if err := os.Mkdir(filepath.Dir(key), 0o700); err != nil {
		t.Fatal(err)
	}
	set := func(name, stdin string, extra ...string) cliResult {
		return spindleIn(t, stdin, append([]string{"credential", "set", name, "--integration", name, "--host", name + ".example", "--as", "alice", "--db", db}, extra...)...)
	}
	if r := set("one", cliSecret+"-1", "--vault-identity", key); r.code != 0 {
		t.Fatalf("set with --vault-identity: %s", r)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("--vault-identity file: %v, %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "vault.key")); !os.IsNotExist(err) {
		t.Errorf("the default identity file was created although --vault-identity was given")
	}
	// SPINDLE_VAULT_IDENTITY_FILE names the same file.
	t.Setenv(vault.EnvIdentityFile, key)
	if r := set("two", cliSecret+"-2"); r.code != 0 {
		t.Fatalf("set with %s: %s", vault.EnvIdentityFile, r)
	}
	// Without it, the default (missing) file is not made over stored credentials.
	t.Setenv(vault.EnvIdentityFile, "")
	r := set("three", cliSecret+"-3")
	if r.code != 1 || !strings.Contains(r.stderr, "restore that key file") {
		t.Fatalf("set with the key missing: %s", r)
	}
	leakCheck(t, "output", r.stdout+r.stderr)
	// The key itself in SPINDLE_VAULT_IDENTITY works and is never printed.
	b, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	var keyLine string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "AGE-SECRET-KEY-") {
			keyLine = l
		}
	}
	t.Setenv(vault.EnvIdentity, keyLine)
	if r := set("three", cliSecret+"-3"); r.code != 0 {
		t.Fatalf("set with %s: %s", vault.EnvIdentity, r)
	}
	t.Setenv(vault.EnvIdentity, "")
	// A file others can read is refused, with the fix.
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	r = spindleIn(t, cliSecret+"-4", "credential", "rotate", "one", "--as", "alice", "--vault-identity", key, "--db", db)
	if r.code != 1 || !strings.Contains(r.stderr, "chmod 600") {
		t.Fatalf("rotate with a 0644 identity file: %s", r)
	}
	leakCheck(t, "output", r.stdout+r.stderr)
	// Listing needs no key at all.
	if r := spindleIn(t, "", "credential", "list", "--db", db); r.code != 0 || strings.Count(r.stdout, "alice") != 3 {
		t.Errorf("list without a usable key: %s", r)
	}
	// Reading commands do not create a database.
	other := filepath.Join(dir, "none.db")
	for _, args := range [][]string{{"credential", "list"}, {"terms", "list"}} {
		if r := spindleIn(t, "", append(args, "--db", other)...); r.code != 1 || !strings.Contains(r.stderr, "no database") {
			t.Errorf("%v on a missing database: %s", args, r)
		}
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("a reading command created %s", other)
	}
}

// Roles are enforced by the governance layer under the vault: only an
// operator or admin provisions credentials or accepts terms.
func TestCredentialRoles(t *testing.T) {
	clearVaultEnv(t)
	db := filepath.Join(t.TempDir(), "spindle.db")
	operators(t, db, "olivia")
	mustSpindle(t, 0, "role", "grant", "vera", "viewer", "--as", "root", "--db", db)
	mustSpindle(t, 0, "role", "grant", "amy", "approver", "--as", "root", "--db", db)
	for _, who := range []string{"vera", "amy", "nobody", "agent:heuristic"} {
		r := spindleIn(t, cliSecret, "credential", "set", "pd", "--integration", "pd", "--host", "api.pd.example", "--as", who, "--db", db)
		if r.code != 1 || !strings.Contains(r.stderr, "credential.set") && !strings.Contains(r.stderr, "only a person") {
			t.Errorf("%s setting a credential: %s", who, r)
		}
		leakCheck(t, who, r.stdout+r.stderr)
		// An approver may accept a vendor's terms (a business decision);
		// a viewer, a stranger and the agent may not.
		if r := spindleIn(t, "", "terms", "accept", "pd", "--as", who, "--db", db); (r.code != 1) != (who == "amy") {
			t.Errorf("%s accepting terms: %s", who, r)
		}
	}
	if r := spindleIn(t, cliSecret, "credential", "set", "pd", "--integration", "pd", "--host", "api.pd.example", "--as", "olivia", "--db", db); r.code != 0 {
		t.Errorf("operator: %s", r)
	}
}
