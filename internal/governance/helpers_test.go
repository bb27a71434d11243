package governance

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/audit"
)

// env is one governance service on a fresh database of a backend.
type env struct {
	t      *testing.T
	ctx    context.Context
	b      backend
	dsn    string
	db     *sql.DB
	clock  *clock
	log    *audit.Log
	s      *Service
	keyDir string
	keys   map[string]ed25519.PrivateKey
}

// clock is a test clock that moves one millisecond per reading, so every
// row and signature gets a distinct, ordered time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func newEnv(t *testing.T, b backend) *env {
	t.Helper()
	dsn := b.Fresh(t)
	db := b.Open(t, dsn)
	c := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 123, time.UTC)}
	log := audit.New(db, audit.Options{Now: c.now})
	s, err := New(db, Options{Audit: log, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: t.Context(), b: b, dsn: dsn, db: db, clock: c, log: log, s: s,
		keyDir: filepath.Join(t.TempDir(), "keys"), keys: map[string]ed25519.PrivateKey{}}
}

// second is another service on e's database through a handle of its own,
// as another process would have: it shares no connection with e.s.
func (e *env) second() *Service {
	e.t.Helper()
	db := e.b.Open(e.t, e.dsn)
	s, err := New(db, Options{Audit: audit.New(db, audit.Options{Now: e.clock.now}), Now: e.clock.now})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// people sets up the usual cast: root (admin), alice, bob and carol
// (approvers), oscar (operator), vera (viewer), each approver and root
// with a key.
func (e *env) people() *env {
	e.t.Helper()
	e.grant("", "root", RoleAdmin)
	for _, n := range []string{"alice", "bob", "carol"} {
		e.grant("root", n, RoleApprover)
	}
	e.grant("root", "oscar", RoleOperator)
	e.grant("root", "vera", RoleViewer)
	for _, n := range []string{"root", "alice", "bob", "carol", "oscar"} {
		e.key(n)
	}
	return e
}

func (e *env) grant(by, name string, r Role) {
	e.t.Helper()
	if _, err := e.s.Grant(e.ctx, by, name, r); err != nil {
		e.t.Fatalf("grant %s to %s: %v", r, name, err)
	}
}

func (e *env) key(name string) ed25519.PrivateKey {
	e.t.Helper()
	_, path, err := e.s.CreateKey(e.ctx, name, e.keyDir, false)
	if err != nil {
		e.t.Fatalf("create key for %s: %v", name, err)
	}
	k, err := LoadPrivateKey(path)
	if err != nil {
		e.t.Fatal(err)
	}
	e.keys[name] = k
	return k
}

// propose registers spec (with the fixture report, its digest updated) as
// author ("" for the agent).
func (e *env) propose(spec, author string) *Proposal {
	e.t.Helper()
	p, err := e.s.Propose(e.ctx, ProposeInput{Spec: []byte(spec), Report: reportFor(e.t, spec), Author: author})
	if err != nil {
		e.t.Fatalf("propose as %q: %v", author, err)
	}
	return p
}

func (e *env) approve(id int64, who string) (*Decided, error) {
	return e.s.Approve(e.ctx, DecideInput{ProposalID: id, Approver: who, Key: e.keys[who]})
}

func (e *env) mustApprove(id int64, who string) *Decided {
	e.t.Helper()
	d, err := e.approve(id, who)
	if err != nil {
		e.t.Fatalf("%s approves %d: %v", who, id, err)
	}
	return d
}

// release proposes spec as the agent and has alice and bob approve it,
// returning the release.
func (e *env) release(spec string) *Release {
	e.t.Helper()
	p := e.propose(spec, "")
	d := e.mustApprove(p.ID, "alice")
	if d.Release == nil {
		d = e.mustApprove(p.ID, "bob")
	}
	if d.Release == nil {
		e.t.Fatalf("proposal %d not released after two approvals: %+v", p.ID, d)
	}
	return d.Release
}

func (e *env) count(table string) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.db.ExecContext(e.ctx, q, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// dropGuards removes the tables' triggers, as someone editing the
// database directly would, so a test can tamper with history.
func (e *env) dropGuards() {
	e.t.Helper()
	// One connection, so a PRAGMA a tamperer runs applies to what follows.
	e.db.SetMaxOpenConns(1)
	for _, tr := range []struct{ table, trigger string }{
		{"proposals", "proposals_immutable"}, {"proposals", "proposals_no_delete"},
		{"approvals", "approvals_no_update"}, {"approvals", "approvals_no_delete"},
		{"releases", "releases_no_update"}, {"releases", "releases_no_delete"},
		{"release_approvals", "release_approvals_no_update"}, {"release_approvals", "release_approvals_no_delete"},
		{"signing_keys", "signing_keys_retire_only"}, {"signing_keys", "signing_keys_no_delete"},
	} {
		e.b.DropTrigger(e.t, e.db, tr.table, tr.trigger)
	}
}

func (e *env) actions() []string {
	e.t.Helper()
	es, err := e.log.List(e.ctx, audit.Filter{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, x := range es {
		out = append(out, x.Action)
	}
	return out
}

// baseSpec is the heuristic brain's spec of internal/agent/testdata/keys.yaml.
func baseSpec(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/keyring/integration.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit replaces old with new in spec exactly once.
func edit(t *testing.T, spec, old, new string) string {
	t.Helper()
	if strings.Count(spec, old) != 1 {
		t.Fatalf("edit: %q occurs %d times in the spec", old, strings.Count(spec, old))
	}
	return strings.Replace(spec, old, new, 1)
}

// reportFor is the fixture report.json naming spec's digest.
func reportFor(t *testing.T, spec string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/keyring/report.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["spec_sha256"] = digest([]byte(spec))
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Spec variants of the fixture, by what they change.
func mappingOnly(t *testing.T, s string) string {
	return edit(t, s, "      name: r.name  #", "      name: 'r.?name.orValue(null)'  #")
}
func headerChange(t *testing.T, s string) string {
	return edit(t, s, "name: X-Api-Token", "name: X-Api-Key")
}
func credentialChange(t *testing.T, s string) string {
	return edit(t, s, "credential: keyring-test-credential", "credential: keyring-admin")
}
func prefixChange(t *testing.T, s string) string {
	return edit(t, s, "    name: X-Api-Token\n", "    name: X-Api-Token\n    prefix: 'Token '\n")
}
func scopeChange(t *testing.T, s string) string {
	return edit(t, s, "    credential: keyring-test-credential\n", "    credential: keyring-test-credential\n    scopes: [keys.read]\n")
}
func hostChange(t *testing.T, s string) string {
	return edit(t, s, "https://api.keyring.test/v1", "https://eu.api.keyring.test/v1")
}
func writeMethod(t *testing.T, s string) string {
	s = edit(t, s, "      method: GET\n      path: /api_keys\n", "      method: POST\n      path: /api_keys\n      body: '{}'\n")
	return edit(t, s, "  - name: api_keys\n", "  - name: api_keys\n    read_only: true\n")
}
