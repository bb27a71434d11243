package vault_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/runtime"
	"github.com/spindlehq/spindle/internal/vault"
)

const secret = "s3cr3t-VAULT-7f2a9c" // every test secret contains "s3cr3t-"

var (
	alice     = audit.Actor{Kind: audit.ActorPerson, Name: "alice"}
	bob       = audit.Actor{Kind: audit.ActorPerson, Name: "bob"}
	scheduler = audit.Actor{Kind: audit.ActorScheduler, Name: "scheduler"}
	t0        = time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)
)

// env is one vault on a fresh database, with its audit log.
type env struct {
	b     backend
	dsn   string // where the database is: a file on SQLite
	db    *sql.DB
	log   *audit.Log
	v     *vault.Vault
	clock *clock
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newEnv is newEnvOn SQLite.
func newEnv(t *testing.T, o vault.Options) *env {
	t.Helper()
	return newEnvOn(t, backends()[0], o)
}

// newEnvOn is a vault on a fresh database of backend b.
func newEnvOn(t *testing.T, b backend, o vault.Options) *env {
	t.Helper()
	dsn := b.Fresh(t)
	db := b.Open(t, dsn)
	c := &clock{t: t0}
	log := audit.New(db, audit.Options{Now: c.now})
	if o.Identity == nil && o.IdentityValue == "" && o.IdentityFile == "" {
		o.Identity = newIdentity(t)
	}
	o.Now, o.Audit = c.now, log
	v, err := vault.Open(db, o)
	if err != nil {
		t.Fatal(err)
	}
	return &env{b: b, dsn: dsn, db: db, log: log, v: v, clock: c}
}

// reopen opens another vault on the same database with other options.
func (e *env) reopen(t *testing.T, o vault.Options) *vault.Vault {
	t.Helper()
	o.Now, o.Audit = e.clock.now, e.log
	v, err := vault.Open(e.db, o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func newIdentity(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var pd = vault.Credential{Name: "pagerduty", Integration: "pagerduty", Host: "api.pagerduty.com"}

func (e *env) set(t *testing.T, c vault.Credential, s string) vault.Meta {
	t.Helper()
	m, err := e.v.Set(t.Context(), alice, c, []byte(s))
	if err != nil {
		t.Fatalf("Set %s: %v", c.Name, err)
	}
	return m
}

func resolveWith(ctx context.Context, v *vault.Vault, b vault.Binding, ref string) (string, error) {
	s, err := v.Resolver(b).Resolve(ctx, ref)
	return s.Reveal(), err
}

var pdBinding = vault.Binding{Integration: "pagerduty", Host: "https://api.pagerduty.com", Actor: scheduler}

// noSecret fails if s holds the secret or a fragment long enough to matter.
func noSecret(t *testing.T, where, s string, secrets ...string) {
	t.Helper()
	for _, sec := range append(secrets, "s3cr3t-") {
		if strings.Contains(s, sec) {
			t.Errorf("%s contains a secret (%q): %s", where, sec, s)
		}
	}
}

func TestRoundTrip(t *testing.T) { eachBackend(t, testRoundTrip) }

func testRoundTrip(t *testing.T, be backend) {
	e := newEnvOn(t, be, vault.Options{})
	m := e.set(t, vault.Credential{Name: "pagerduty", Integration: "pagerduty", Host: "https://API.PagerDuty.com:443/v2", RotateEvery: 30 * 24 * time.Hour}, secret)
	want := vault.Meta{Name: "pagerduty", Integration: "pagerduty", Host: "api.pagerduty.com", Version: 1,
		CreatedAt: t0, CreatedBy: "alice", RotateBy: t0.Add(30 * 24 * time.Hour)}
	if m.Name != want.Name || m.Integration != want.Integration || m.Host != want.Host || m.Version != 1 ||
		!m.CreatedAt.Equal(t0) || m.CreatedBy != "alice" || !m.RotateBy.Equal(want.RotateBy) || m.LastUsedAt != nil || m.Overdue {
		t.Fatalf("Set returned %+v", m)
	}

	e.clock.add(time.Hour)
	red := runtime.NewRedactor()
	b := pdBinding
	b.Redactor = red
	got, err := resolveWith(t.Context(), e.v, b, "pagerduty")
	if err != nil || got != secret {
		t.Fatalf("Resolve = %q, %v; want the secret", got, err)
	}
	if s := red.String("token " + secret + " and " + base64.StdEncoding.EncodeToString([]byte(secret))); strings.Contains(s, "s3cr3t") || strings.Contains(s, base64.StdEncoding.EncodeToString([]byte(secret))) {
		t.Errorf("the resolver did not teach the redactor the value: %s", s)
	}

	ms, err := e.v.List(t.Context())
	if err != nil || len(ms) != 1 {
		t.Fatalf("List = %v, %v", ms, err)
	}
	if ms[0].LastUsedAt == nil || !ms[0].LastUsedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("last_used_at = %v, want %v", ms[0].LastUsedAt, t0.Add(time.Hour))
	}
	noSecret(t, "List", fmt.Sprintf("%+v", ms))

	entries, err := e.log.List(t.Context(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		actions = append(actions, en.Action+" "+en.Actor.Name+" "+en.Object+" "+en.Boundary)
		noSecret(t, "audit entry", fmt.Sprintf("%+v", en))
	}
	wantActions := []string{"credential.set alice credential:pagerduty production", "credential.use scheduler credential:pagerduty production"}
	if strings.Join(actions, "\n") != strings.Join(wantActions, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(actions, "\n"), strings.Join(wantActions, "\n"))
	}
	if rep, err := e.log.Verify(t.Context()); err != nil || !rep.OK {
		t.Errorf("audit chain does not verify: %+v, %v", rep, err)
	}
}

// The database holds only ciphertext: no column of any table, nor on
// SQLite the files on disk (database and WAL), contains the secret in any
// common encoding.
func TestCiphertextOnlyAtRest(t *testing.T) { eachBackend(t, testCiphertextOnlyAtRest) }

func testCiphertextOnlyAtRest(t *testing.T, be backend) {
	e := newEnvOn(t, be, vault.Options{})
	forms := func(s string) [][]byte {
		return [][]byte{[]byte(s), []byte(base64.StdEncoding.EncodeToString([]byte(s))), []byte(fmt.Sprintf("%x", s))}
	}
	// Every column of every row of every table, as the database hands it
	// back: text, blobs (bytea) and the rest.
	scanTable := func(when, table string) (rows int) {
		t.Helper()
		q, err := e.db.QueryContext(t.Context(), `SELECT * FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		cols, _ := q.Columns()
		for q.Next() {
			rows++
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := q.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				b := []byte(fmt.Sprint(v))
				if bb, ok := v.([]byte); ok {
					b = bb
				}
				for _, f := range forms("s3cr3t-") {
					if bytes.Contains(b, f) {
						t.Errorf("%s: %s.%s holds the secret", when, table, cols[i])
					}
				}
			}
		}
		if err := q.Err(); err != nil {
			t.Fatal(err)
		}
		return rows
	}
	scanColumns := func(when string) {
		t.Helper()
		tables := e.b.Tables(t, e.db)
		if !slices.Contains(tables, "vault_credentials") || !slices.Contains(tables, "audit_log") {
			t.Fatalf("tables %v: the schema is not the one under test", tables)
		}
		for _, table := range tables {
			if n := scanTable(when, table); table == "vault_credentials" && n != 1 {
				t.Fatalf("%s: %d rows in vault_credentials, want 1", when, n)
			}
		}
		var ct []byte
		if err := e.db.QueryRowContext(t.Context(), `SELECT ciphertext FROM vault_credentials`).Scan(&ct); err != nil {
			t.Fatal(err)
		}
		var nomatch *age.NoIdentityMatchError
		if _, err := age.Decrypt(bytes.NewReader(ct), newIdentity(t)); !errors.As(err, &nomatch) {
			t.Errorf("%s: the stored value is not an age ciphertext for another key: %v", when, err)
		}
	}
	// The files themselves (SQLite; PostgreSQL's files are the server's).
	scanFiles := func(when string) {
		t.Helper()
		if e.b.Name != "sqlite" {
			return
		}
		for _, p := range []string{e.dsn, e.dsn + "-wal"} {
			b, err := os.ReadFile(p)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range forms("s3cr3t-") {
				if bytes.Contains(b, f) {
					t.Errorf("%s: %s holds the secret (%q)", when, filepath.Base(p), f)
				}
			}
		}
	}

	e.set(t, pd, secret)
	scanColumns("after set")
	scanFiles("after set")
	if _, err := e.v.Rotate(t.Context(), bob, "pagerduty", []byte(secret+"-rotated")); err != nil {
		t.Fatal(err)
	}
	if _, err := resolveWith(t.Context(), e.v, pdBinding, "pagerduty"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.v.AcceptTerms(t.Context(), alice, "pagerduty", "PagerDuty", "v3"); err != nil {
		t.Fatal(err)
	}
	scanColumns("after rotate")
	scanFiles("after rotate")
	if e.b.Name == "sqlite" {
		if _, err := e.db.ExecContext(t.Context(), `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
		scanFiles("checkpointed")
	}
}

func TestWrongIdentityCannotDecrypt(t *testing.T) { eachBackend(t, testWrongIdentityCannotDecrypt) }

func testWrongIdentityCannotDecrypt(t *testing.T, be backend) {
	e := newEnvOn(t, be, vault.Options{})
	e.set(t, pd, secret)
	other := newIdentity(t)
	v2 := e.reopen(t, vault.Options{Identity: other})
	_, err := resolveWith(t.Context(), v2, pdBinding, "pagerduty")
	if !errors.Is(err, vault.ErrWrongIdentity) {
		t.Fatalf("resolve with another identity: %v, want ErrWrongIdentity", err)
	}
	for _, want := range []string{other.Recipient().String(), "--vault-identity", "encrypted to vault key age1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	noSecret(t, "error", err.Error(), other.String())
	if err := v2.AddToRedactor(t.Context(), runtime.NewRedactor()); !errors.Is(err, vault.ErrWrongIdentity) {
		t.Errorf("AddToRedactor with another identity: %v", err)
	}
}

func TestTamperedCiphertextFails(t *testing.T) { eachBackend(t, testTamperedCiphertextFails) }

func testTamperedCiphertextFails(t *testing.T, be backend) {
	e := newEnvOn(t, be, vault.Options{})
	e.set(t, pd, secret)
	// One bit of the last byte (inside age's authenticated payload) flipped,
	// in Go so the edit is the same on every database.
	var ct []byte
	if err := e.db.QueryRowContext(t.Context(), `SELECT ciphertext FROM vault_credentials WHERE name = 'pagerduty'`).Scan(&ct); err != nil {
		t.Fatal(err)
	}
	ct[len(ct)-1] ^= 1
	if _, err := e.db.ExecContext(t.Context(), `UPDATE vault_credentials SET ciphertext = ? WHERE name = 'pagerduty'`, ct); err != nil {
		t.Fatal(err)
	}
	_, err := resolveWith(t.Context(), e.v, pdBinding, "pagerduty")
	if err == nil || !strings.Contains(err.Error(), "damaged or was altered") {
		t.Fatalf("resolve of a tampered ciphertext: %v", err)
	}
}

func TestBindingRefusals(t *testing.T) { eachBackend(t, testBindingRefusals) }

func testBindingRefusals(t *testing.T, be backend) {
	e := newEnvOn(t, be, vault.Options{})
	e.set(t, pd, secret)
	e.set(t, vault.Credential{Name: "okta", Integration: "okta", Host: "acme.okta.com", TokenHost: "login.acme.example"}, secret+"-okta")
	e.set(t, vault.Credential{Name: "gone", Integration: "gone", Host: "api.gone.example"}, secret+"-gone")
	if _, err := e.v.Revoke(t.Context(), bob, "gone"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		b       vault.Binding
		ref     string
		want    error  // nil: resolves
		wantMsg string // in the error
	}{
		{"bound", pdBinding, "pagerduty", nil, ""},
		{"same host, other spellings", vault.Binding{Integration: "pagerduty", Host: "HTTPS://api.PagerDuty.com.:443/v1"}, "pagerduty", nil, ""},
		{"bare host", vault.Binding{Integration: "pagerduty", Host: "api.pagerduty.com"}, "pagerduty", nil, ""},
		{"other integration", vault.Binding{Integration: "opsgenie", Host: "https://api.pagerduty.com"}, "pagerduty", vault.ErrRefused, `bound to integration "pagerduty", not "opsgenie"`},
		{"other host", vault.Binding{Integration: "pagerduty", Host: "https://evil.example"}, "pagerduty", vault.ErrRefused, "bound to host api.pagerduty.com, but this run would send it to evil.example"},
		{"other port", vault.Binding{Integration: "pagerduty", Host: "https://api.pagerduty.com:8443"}, "pagerduty", vault.ErrRefused, "api.pagerduty.com:8443"},
		{"subdomain", vault.Binding{Integration: "pagerduty", Host: "https://api.pagerduty.com.evil.example"}, "pagerduty", vault.ErrRefused, "bound to host"},
		{"no host", vault.Binding{Integration: "pagerduty"}, "pagerduty", vault.ErrRefused, "the run's host"},
		{"token host bound", vault.Binding{Integration: "okta", Host: "https://acme.okta.com", TokenHost: "https://login.acme.example/oauth2/token"}, "okta", nil, ""},
		{"other token host", vault.Binding{Integration: "okta", Host: "https://acme.okta.com", TokenHost: "https://acme.okta.com/oauth2/token"}, "okta", vault.ErrRefused, "bound to token host login.acme.example"},
		{"token host defaults to host", vault.Binding{Integration: "pagerduty", Host: "https://api.pagerduty.com", TokenHost: "https://api.pagerduty.com/oauth/token"}, "pagerduty", nil, ""},
		{"token host elsewhere", vault.Binding{Integration: "pagerduty", Host: "https://api.pagerduty.com", TokenHost: "https://evil.example/token"}, "pagerduty", vault.ErrRefused, "token host"},
		{"revoked", vault.Binding{Integration: "gone", Host: "api.gone.example"}, "gone", vault.ErrRevoked, "revoked"},
		{"unknown", pdBinding, "nope", vault.ErrNotFound, "spindle credential set nope"},
		{"agent", vault.Binding{Integration: "pagerduty", Host: "api.pagerduty.com", Actor: audit.Actor{Kind: audit.ActorAgent, Name: "builder"}}, "pagerduty", vault.ErrRefused, "agent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := e.log.List(t.Context(), audit.Filter{Action: vault.ActionRefuse})
			got, err := resolveWith(t.Context(), e.v, tc.b, tc.ref)
			if tc.want == nil {
				if err != nil || !strings.HasPrefix(got, secret) {
					t.Fatalf("Resolve = %q, %v; want the secret", got, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Resolve = %q, %v; want %v", got, err, tc.want)
			}
			if got != "" {
				t.Errorf("a refused resolve returned a value")
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantMsg)
			}
			noSecret(t, "error", err.Error())
			after, _ := e.log.List(t.Context(), audit.Filter{Action: vault.ActionRefuse})
			if tc.want != vault.ErrNotFound && len(after) != len(before)+1 {
				t.Errorf("the refusal was not audited (%d → %d entries)", len(before), len(after))
			}
		})
	}
}

func TestRotate(t *testing.T) { eachBackend(t, testRotate) }

func testRotate(t *testing.T, be backend) {
	e := newEnvOn(t, be, vault.Options{})
	e.set(t, pd, secret)
	e.clock.add(24 * time.Hour)
	m, err := e.v.Rotate(t.Context(), bob, "pagerduty", []byte(secret+"-v2"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 2 || m.RotatedBy != "bob" || m.RotatedAt == nil || !m.RotateBy.Equal(t0.Add(24*time.Hour+vault.DefaultRotateEvery)) || m.CreatedBy != "alice" {
		t.Errorf("Rotate returned %+v", m)
	}
	got, err := resolveWith(t.Context(), e.v, pdBinding, "pagerduty")
	if err != nil || got != secret+"-v2" {
		t.Fatalf("after rotation Resolve = %q, %v; want the new value", got, err)
	}
	// The old value is gone from the vault: a redactor taught by the vault
	// knows only the new one.
	red := runtime.NewRedactor()
	if err := e.v.AddToRedactor(t.Context(), red); err != nil {
		t.Fatal(err)
	}
	if red.String(secret+"-v2") != runtime.Redacted || red.String(secret) != secret {
		t.Errorf("AddToRedactor after rotation: new %q, old %q", red.String(secret+"-v2"), red.String(secret))
	}

	for _, tc := range []struct {
		name, ref, value string
		want             error
		msg              string
	}{
		{"same value", "pagerduty", secret + "-v2", nil, "already stored"},
		{"unknown", "nope", secret + "-x", vault.ErrNotFound, "not in the vault"},
		{"empty", "pagerduty", "", nil, "empty"},
		{"trailing newline", "pagerduty", secret + "-v3\n", nil, "whitespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.v.Rotate(t.Context(), bob, tc.ref, []byte(tc.value))
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Rotate: %v; want %v mentioning %q", err, tc.want, tc.msg)
			}
			noSecret(t, "error", err.Error())
		})
	}
	if m, _ := e.v.Get(t.Context(), "pagerduty"); m.Version != 2 {
		t.Errorf("a refused rotation changed the version to %d", m.Version)
	}

	if _, err := e.v.Revoke(t.Context(), alice, "pagerduty"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.v.Rotate(t.Context(), bob, "pagerduty", []byte(secret+"-v3")); !errors.Is(err, vault.ErrRevoked) {
		t.Errorf("Rotate of a revoked credential: %v", err)
	}
	if _, err := e.v.Revoke(t.Context(), alice, "pagerduty"); !errors.Is(err, vault.ErrRevoked) {
		t.Errorf("second Revoke: %v", err)
	}
	var ct []byte
	if err := e.db.QueryRowContext(t.Context(), `SELECT ciphertext FROM vault_credentials WHERE name = 'pagerduty'`).Scan(&ct); err != nil || ct != nil {
		t.Errorf("a revoked credential keeps its ciphertext (%d bytes, %v)", len(ct), err)
	}
	// Re-provisioning the name continues its version.
	m, err = e.v.Set(t.Context(), alice, vault.Credential{Name: "pagerduty", Integration: "pagerduty", Host: "api.eu.pagerduty.com"}, []byte(secret+"-v4"))
	if err != nil || m.Version != 3 || m.Revoked() || m.Host != "api.eu.pagerduty.com" {
		t.Fatalf("Set over a revoked credential = %+v, %v", m, err)
	}
}

func TestSetValidation(t *testing.T) { eachBackend(t, testSetValidation) }

func testSetValidation(t *testing.T, be backend) {
	e := newEnvOn(t, be, vault.Options{})
	e.set(t, pd, secret)
	tests := []struct {
		name  string
		actor audit.Actor
		c     vault.Credential
		value string
		want  error
		msg   string
	}{
		{"exists", alice, pd, secret + "-2", vault.ErrExists, "rotate it"},
		{"empty", alice, vault.Credential{Name: "a", Integration: "a", Host: "a.example"}, "", nil, "empty"},
		{"whitespace", alice, vault.Credential{Name: "a", Integration: "a", Host: "a.example"}, " \n\t ", nil, "whitespace"},
		{"newline kept", alice, vault.Credential{Name: "a", Integration: "a", Host: "a.example"}, secret + "\n", nil, "whitespace"},
		{"too short", alice, vault.Credential{Name: "a", Integration: "a", Host: "a.example"}, "abc", nil, "shorter than 4"},
		{"not text", alice, vault.Credential{Name: "a", Integration: "a", Host: "a.example"}, "s3cr3t-\xff\xfe", nil, "UTF-8"},
		{"too long", alice, vault.Credential{Name: "a", Integration: "a", Host: "a.example"}, strings.Repeat("s3cr3t-", vault.MaxSecretBytes/7+1), nil, "more than"},
		{"secret as name", alice, vault.Credential{Name: secret, Integration: "a", Host: "a.example"}, secret, nil, "appears in the credential's name"},
		{"secret in host", alice, vault.Credential{Name: "a", Integration: "a", Host: "s3cr3t-host.example"}, "s3cr3t-host", nil, "appears in"},
		{"bad name", alice, vault.Credential{Name: "a b", Integration: "a", Host: "a.example"}, secret, nil, "credential name"},
		{"bad integration", alice, vault.Credential{Name: "a", Integration: "A_B", Host: "a.example"}, secret, nil, "metadata.name"},
		{"no host", alice, vault.Credential{Name: "a", Integration: "a"}, secret, nil, "host: empty"},
		{"host with path", alice, vault.Credential{Name: "a", Integration: "a", Host: "a.example/v1"}, secret, nil, "not a host"},
		{"host with user", alice, vault.Credential{Name: "a", Integration: "a", Host: "https://u:pw@a.example"}, secret, nil, "user information"},
		{"negative rotation", alice, vault.Credential{Name: "a", Integration: "a", Host: "a.example", RotateEvery: -time.Hour}, secret, nil, "positive"},
		{"agent", audit.Actor{Kind: audit.ActorAgent, Name: "builder"}, vault.Credential{Name: "a", Integration: "a", Host: "a.example"}, secret, nil, "only a person"},
		{"scheduler", scheduler, vault.Credential{Name: "a", Integration: "a", Host: "a.example"}, secret, nil, "only a person"},
		{"nobody", audit.Actor{Kind: audit.ActorPerson}, vault.Credential{Name: "a", Integration: "a", Host: "a.example"}, secret, nil, "--as"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.v.Set(t.Context(), tc.actor, tc.c, []byte(tc.value))
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Set: %v; want an error mentioning %q", err, tc.msg)
			}
			noSecret(t, "error", err.Error())
		})
	}
	ms, _ := e.v.List(t.Context())
	if len(ms) != 1 {
		t.Errorf("refused Sets stored something: %+v", ms)
	}
	if entries, _ := e.log.List(t.Context(), audit.Filter{}); len(entries) != 1 {
		t.Errorf("refused Sets were audited as done: %d entries", len(entries))
	}

	noAudit, err := vault.Open(e.db, vault.Options{Identity: newIdentity(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noAudit.Set(t.Context(), alice, vault.Credential{Name: "b", Integration: "b", Host: "b.example"}, []byte(secret)); err == nil || !strings.Contains(err.Error(), "audit") {
		t.Errorf("Set without an audit log: %v", err)
	}
	if _, err := noAudit.Resolver(pdBinding).Resolve(t.Context(), "pagerduty"); err == nil || !strings.Contains(err.Error(), "audit") {
		t.Errorf("Resolve without an audit log: %v", err)
	}
}

func TestOverdue(t *testing.T) { eachBackend(t, testOverdue) }

func testOverdue(t *testing.T, be backend) {
	e := newEnvOn(t, be, vault.Options{})
	e.set(t, vault.Credential{Name: "a", Integration: "a", Host: "a.example", RotateEvery: 48 * time.Hour}, secret+"-a")
	e.set(t, vault.Credential{Name: "b", Integration: "b", Host: "b.example"}, secret+"-b")
	e.set(t, vault.Credential{Name: "c", Integration: "c", Host: "c.example", RotateEvery: time.Hour}, secret+"-c")
	if _, err := e.v.Revoke(t.Context(), alice, "c"); err != nil {
		t.Fatal(err)
	}
	e.clock.add(72 * time.Hour)
	ms, err := e.v.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, m := range ms {
		got[m.Name] = m.Overdue
	}
	if !got["a"] || got["b"] || got["c"] {
		t.Errorf("overdue = %v, want only a (b is within 90d, c is revoked)", got)
	}
	if _, err := e.v.Rotate(t.Context(), alice, "a", []byte(secret+"-a2")); err != nil {
		t.Fatal(err)
	}
	if m, _ := e.v.Get(t.Context(), "a"); m.Overdue || !m.RotateBy.Equal(t0.Add(120*time.Hour)) {
		t.Errorf("after rotation: overdue %v, rotate by %v", m.Overdue, m.RotateBy)
	}
}

func TestIdentityFile(t *testing.T) { eachBackend(t, testIdentityFile) }

func testIdentityFile(t *testing.T, be backend) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "vault.key")
	e := newEnvOn(t, be, vault.Options{IdentityFile: keyPath})

	// Nothing needs the key yet: no file.
	if _, err := e.v.List(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(keyPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("List created the identity file: %v", err)
	}
	// Resolving (nothing stored) does not make one either.
	if _, err := resolveWith(t.Context(), e.v, pdBinding, "pagerduty"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Resolve on an empty vault: %v", err)
	}
	if _, err := os.Stat(keyPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Resolve created the identity file: %v", err)
	}

	e.set(t, pd, secret)
	fi, err := os.Stat(keyPath)
	if err != nil {
		t.Fatalf("Set did not create the identity file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("identity file mode %04o, want 0600", fi.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".vault-key-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	b, _ := os.ReadFile(keyPath)
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil || len(ids) != 1 {
		t.Fatalf("the identity file is not an age identity file: %v", err)
	}
	id := ids[0].(*age.X25519Identity)

	// Another vault on the same file reads the same key; so does the env value.
	for name, o := range map[string]vault.Options{"file": {IdentityFile: keyPath}, "value": {IdentityValue: id.String() + "\n"}} {
		got, err := resolveWith(t.Context(), e.reopen(t, o), pdBinding, "pagerduty")
		if err != nil || got != secret {
			t.Errorf("%s: Resolve = %q, %v", name, got, err)
		}
	}

	// Loose permissions are refused, with the fix.
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = resolveWith(t.Context(), e.reopen(t, vault.Options{IdentityFile: keyPath}), pdBinding, "pagerduty")
	if err == nil || !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), "0644") {
		t.Fatalf("a 0644 identity file: %v", err)
	}
	noSecret(t, "error", err.Error(), id.String())
	if _, err := e.reopen(t, vault.Options{IdentityFile: keyPath}).Set(t.Context(), alice, vault.Credential{Name: "x", Integration: "x", Host: "x.example"}, []byte(secret+"-x")); err == nil {
		t.Errorf("Set with a 0644 identity file succeeded")
	}
	if err := os.Chmod(keyPath, 0o600); err != nil {
		t.Fatal(err)
	}

	// A missing key while credentials are stored is not replaced by a new one.
	missing := filepath.Join(dir, "other.key")
	_, err = e.reopen(t, vault.Options{IdentityFile: missing}).Set(t.Context(), alice, vault.Credential{Name: "x", Integration: "x", Host: "x.example"}, []byte(secret+"-x"))
	if err == nil || !strings.Contains(err.Error(), "restore that key file") || !strings.Contains(err.Error(), id.Recipient().String()) {
		t.Fatalf("Set with a missing identity file while credentials exist: %v", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a new identity file was created over stored credentials")
	}
	_, err = resolveWith(t.Context(), e.reopen(t, vault.Options{IdentityFile: missing}), pdBinding, "pagerduty")
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Resolve with a missing identity file: %v", err)
	}
}

func TestIdentityErrors(t *testing.T) { eachBackend(t, testIdentityErrors) }

func testIdentityErrors(t *testing.T, be backend) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	id1, id2 := newIdentity(t), newIdentity(t)
	tests := []struct {
		name string
		o    vault.Options
		msg  string
	}{
		{"bad env value", vault.Options{IdentityValue: "AGE-SECRET-KEY-1NOTAKEY"}, "not an age X25519 identity"},
		{"empty file", vault.Options{IdentityFile: write("empty.key", "# nothing\n", 0o600)}, "holds no key"},
		{"two keys", vault.Options{IdentityFile: write("two.key", id1.String()+"\n"+id2.String()+"\n", 0o600)}, "more than one key"},
		{"garbage", vault.Options{IdentityFile: write("garbage.key", "s3cr3t-garbage\n", 0o600)}, "line 1: not an age X25519 identity"},
		{"group readable", vault.Options{IdentityFile: write("group.key", id1.String()+"\n", 0o640)}, "chmod 600"},
		{"a directory", vault.Options{IdentityFile: dir}, "not a regular file"},
		{"nothing", vault.Options{Audit: nil}, "no identity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvOn(t, be, vault.Options{IdentityFile: "unused"})
			v := e.reopen(t, tc.o)
			_, err := v.Set(t.Context(), alice, pd, []byte(secret))
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Set: %v; want an error mentioning %q", err, tc.msg)
			}
			noSecret(t, "error", err.Error(), id1.String(), id2.String(), "NOTAKEY")
		})
	}
}

func TestTerms(t *testing.T) { eachBackend(t, testTerms) }

func testTerms(t *testing.T, be backend) {
	e := newEnvOn(t, be, vault.Options{})
	if _, ok, err := e.v.TermsAccepted(t.Context(), "pagerduty"); ok || err != nil {
		t.Fatalf("TermsAccepted before any: %v, %v", ok, err)
	}
	if _, err := e.v.AcceptTerms(t.Context(), alice, "pagerduty", "PagerDuty", "https://www.pagerduty.com/terms-of-service/"); err != nil {
		t.Fatal(err)
	}
	e.clock.add(time.Hour)
	if _, err := e.v.AcceptTerms(t.Context(), bob, "pagerduty", "PagerDuty", "2026-02"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.v.AcceptTerms(t.Context(), alice, "okta", "", ""); err != nil {
		t.Fatal(err)
	}
	a, ok, err := e.v.TermsAccepted(t.Context(), "pagerduty")
	if err != nil || !ok || a.AcceptedBy != "bob" || a.Terms != "2026-02" || !a.AcceptedAt.Equal(t0.Add(time.Hour)) || a.Vendor != "PagerDuty" {
		t.Errorf("TermsAccepted = %+v, %v, %v; want bob's", a, ok, err)
	}
	all, err := e.v.Terms(t.Context())
	if err != nil || len(all) != 3 || all[0].Integration != "okta" || all[1].AcceptedBy != "bob" || all[2].AcceptedBy != "alice" {
		t.Errorf("Terms = %+v, %v", all, err)
	}
	entries, _ := e.log.List(t.Context(), audit.Filter{Action: "terms"})
	if len(entries) != 3 || entries[0].Object != "integration:pagerduty" || entries[0].Actor != alice || entries[0].Boundary != audit.BoundaryProduction {
		t.Errorf("terms audit entries: %+v", entries)
	}
	for _, tc := range []struct {
		name        string
		actor       audit.Actor
		integ, text string
		msg         string
	}{
		{"agent", audit.Actor{Kind: audit.ActorAgent, Name: "builder"}, "pagerduty", "", "only a person"},
		{"bad integration", alice, "Pager Duty", "", "metadata.name"},
		{"multi-line terms", alice, "pagerduty", "v1\nv2", "one line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.v.AcceptTerms(t.Context(), tc.actor, tc.integ, "", tc.text); err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("AcceptTerms: %v; want %q", err, tc.msg)
			}
		})
	}
}

func TestNormalizeHost(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"api.x.com", "api.x.com", ""},
		{"API.X.COM.", "api.x.com", ""},
		{"https://api.x.com/v1?q=1", "api.x.com", ""},
		{"https://api.x.com:443", "api.x.com", ""},
		{"http://api.x.com:80/", "api.x.com", ""},
		{"api.x.com:443", "api.x.com", ""},
		{"api.x.com:8443", "api.x.com:8443", ""},
		{"http://127.0.0.1:41234/api", "127.0.0.1:41234", ""},
		{"[::1]:8080", "[::1]:8080", ""},
		{"https://[::1]/x", "[::1]", ""},
		{"", "", "empty"},
		{"ftp://api.x.com", "", "not an http(s) URL"},
		{"api.x.com/v1", "", "not a host"},
		{"api.x.com:99999", "", "not a port"},
		{"https://user:pw@api.x.com", "", "user information"},
		{"api$x.com", "", "not a host name"},
	}
	for _, tc := range tests {
		got, err := vault.NormalizeHost(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("NormalizeHost(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
			}
			if strings.Contains(fmt.Sprint(err), "pw@") {
				t.Errorf("NormalizeHost(%q) error repeats the user information: %v", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestAddToRedactor(t *testing.T) { eachBackend(t, testAddToRedactor) }

func testAddToRedactor(t *testing.T, be backend) {
	e := newEnvOn(t, be, vault.Options{})
	// Nothing stored: no identity needed, nothing added.
	if err := e.reopen(t, vault.Options{IdentityFile: filepath.Join(t.TempDir(), "absent.key")}).AddToRedactor(t.Context(), runtime.NewRedactor()); err != nil {
		t.Fatalf("AddToRedactor on an empty vault: %v", err)
	}
	e.set(t, pd, secret+"-pd")
	e.set(t, vault.Credential{Name: "okta", Integration: "okta", Host: "acme.okta.com"}, secret+"-okta")
	e.set(t, vault.Credential{Name: "old", Integration: "old", Host: "old.example"}, secret+"-old")
	if _, err := e.v.Revoke(t.Context(), alice, "old"); err != nil {
		t.Fatal(err)
	}
	text := secret + "-pd " + secret + "-okta " + secret + "-old"

	one := runtime.NewRedactor()
	if err := e.v.AddToRedactor(t.Context(), one, "okta"); err != nil {
		t.Fatal(err)
	}
	if got := one.String(text); got != secret+"-pd "+runtime.Redacted+" "+secret+"-old" {
		t.Errorf("named: %q", got)
	}
	all := runtime.NewRedactor()
	if err := e.v.AddToRedactor(t.Context(), all); err != nil {
		t.Fatal(err)
	}
	if got := all.String(text); got != runtime.Redacted+" "+runtime.Redacted+" "+secret+"-old" {
		t.Errorf("all: %q (a revoked secret is destroyed, so not known)", got)
	}
	if err := e.v.AddToRedactor(t.Context(), all, "nope"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("unknown name: %v", err)
	}
}

// Concurrent resolves and rotations keep the vault consistent: every
// resolve sees a whole version, versions increase by one per rotation, and
// the audit chain stays intact. The resolvers and half the setters use a
// second handle on the database, as another process would.
func TestConcurrentUse(t *testing.T) { eachBackend(t, testConcurrentUse) }

func testConcurrentUse(t *testing.T, be backend) {
	id := newIdentity(t)
	e := newEnvOn(t, be, vault.Options{Identity: id})
	e.set(t, pd, secret+"-0")
	db2 := be.Open(t, e.dsn)
	v2, err := vault.Open(db2, vault.Options{Identity: id, Now: e.clock.now, Audit: audit.New(db2, audit.Options{Now: e.clock.now})})
	if err != nil {
		t.Fatal(err)
	}
	const rotations, resolvers = 8, 8
	var wg sync.WaitGroup
	errs := make(chan error, rotations+resolvers*10)
	for i := 1; i <= rotations; i++ {
		wg.Go(func() {
			if _, err := e.v.Rotate(t.Context(), bob, "pagerduty", fmt.Appendf(nil, "%s-%d", secret, i)); err != nil {
				errs <- err
			}
		})
	}
	for range resolvers {
		wg.Go(func() {
			for range 10 {
				got, err := resolveWith(t.Context(), v2, pdBinding, "pagerduty")
				if err != nil {
					errs <- err
					continue
				}
				if !strings.HasPrefix(got, secret+"-") {
					errs <- fmt.Errorf("resolved a torn value of %d bytes", len(got))
				}
			}
		})
	}
	// Two people setting the same new name at once: exactly one wins.
	var won, lost int
	var mu sync.Mutex
	for i := range 4 {
		v := []*vault.Vault{e.v, v2}[i%2]
		wg.Go(func() {
			_, err := v.Set(t.Context(), alice, vault.Credential{Name: "race", Integration: "race", Host: "race.example"}, []byte(secret+"-race"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, vault.ErrExists):
				lost++
			default:
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if won != 1 || lost != 3 {
		t.Errorf("concurrent Set of one name: %d won, %d refused; want 1 and 3", won, lost)
	}
	if m, _ := e.v.Get(t.Context(), "pagerduty"); m.Version != rotations+1 {
		t.Errorf("version %d after %d rotations, want %d", m.Version, rotations, rotations+1)
	}
	if rep, err := e.log.Verify(t.Context()); err != nil || !rep.OK {
		t.Errorf("audit chain: %+v, %v", rep, err)
	}
}

// Offboarding revokes an integration's credentials inside the caller's
// transaction: rolled back, nothing is revoked and nothing is audited;
// committed, all of them are, each with its entry.
func TestRevokeIntegrationTx(t *testing.T) { eachBackend(t, testRevokeIntegrationTx) }

func testRevokeIntegrationTx(t *testing.T, be backend) {
	e := newEnvOn(t, be, vault.Options{})
	e.set(t, vault.Credential{Name: "pd-read", Integration: "pagerduty", Host: "api.pagerduty.com"}, secret+"-1")
	e.set(t, vault.Credential{Name: "pd-events", Integration: "pagerduty", Host: "events.pagerduty.com"}, secret+"-2")
	e.set(t, vault.Credential{Name: "okta", Integration: "okta", Host: "acme.okta.com"}, secret+"-3")
	audited := func() int {
		entries, err := e.log.List(t.Context(), audit.Filter{Action: vault.ActionRevoke})
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}

	tx, err := e.db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := e.v.RevokeIntegrationTx(t.Context(), tx, bob, "pagerduty")
	if err != nil || len(ms) != 2 {
		t.Fatalf("RevokeIntegrationTx = %+v, %v", ms, err)
	}
	tx.Rollback()
	if got, err := resolveWith(t.Context(), e.v, vault.Binding{Integration: "pagerduty", Host: "api.pagerduty.com"}, "pd-read"); err != nil || got != secret+"-1" {
		t.Fatalf("after rollback: %v", err)
	}
	if n := audited(); n != 0 {
		t.Fatalf("a rolled-back revocation left %d audit entries", n)
	}

	tx, err = e.db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.v.RevokeIntegrationTx(t.Context(), tx, bob, "pagerduty"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"pd-read", "pd-events"} {
		if _, err := resolveWith(t.Context(), e.v, vault.Binding{Integration: "pagerduty", Host: "api.pagerduty.com"}, n); !errors.Is(err, vault.ErrRevoked) {
			t.Errorf("%s after offboarding: %v", n, err)
		}
	}
	if m, _ := e.v.Get(t.Context(), "okta"); m.Revoked() {
		t.Errorf("another integration's credential was revoked")
	}
	if n := audited(); n != 2 {
		t.Errorf("%d revoke entries, want 2", n)
	}
	tx, err = e.db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if ms, err := e.v.RevokeIntegrationTx(t.Context(), tx, bob, "pagerduty"); err != nil || len(ms) != 0 {
		t.Errorf("offboarding again: %+v, %v", ms, err)
	}
}
