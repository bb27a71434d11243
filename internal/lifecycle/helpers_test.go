package lifecycle

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/store"
	"github.com/spindlehq/spindle/internal/vault"
)

// t0 is when every test's clock starts.
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// clock moves one millisecond per reading, so rows and signatures get
// distinct, ordered times, and jumps forward when a test says so.
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

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a lifecycle over a fresh database of a backend, with the usual
// cast: root (admin), alice and bob (approvers with keys), oscar
// (operator), vera (viewer).
type env struct {
	t     *testing.T
	ctx   context.Context
	b     backend
	st    inventory
	db    *sql.DB
	clock *clock
	log   *audit.Log
	gov   *governance.Service
	v     *vault.Vault
	l     *Lifecycle
	keys  map[string]ed25519.PrivateKey
}

func newEnv(t *testing.T, b backend) *env {
	t.Helper()
	st := b.OpenStore(t, b.Fresh(t))
	db := st.DB()
	c := &clock{t: t0}
	log := audit.New(db, audit.Options{Now: c.now})
	gov, err := governance.New(db, governance.Options{Audit: log, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(db, vault.Options{Identity: id, Now: c.now, Audit: log})
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(db, Options{Audit: log, Vault: v, Gov: gov, Inventory: st, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: t.Context(), b: b, st: st, db: db, clock: c, log: log, gov: gov, v: v, l: l, keys: map[string]ed25519.PrivateKey{}}
	keyDir := filepath.Join(t.TempDir(), "keys")
	e.grant("", "root", governance.RoleAdmin)
	for _, n := range []string{"alice", "bob"} {
		e.grant("root", n, governance.RoleApprover)
		_, path, err := gov.CreateKey(e.ctx, n, keyDir, false)
		if err != nil {
			t.Fatal(err)
		}
		if e.keys[n], err = governance.LoadPrivateKey(path); err != nil {
			t.Fatal(err)
		}
	}
	e.grant("root", "oscar", governance.RoleOperator)
	e.grant("root", "vera", governance.RoleViewer)
	return e
}

func (e *env) grant(by, name string, r governance.Role) {
	e.t.Helper()
	if _, err := e.gov.Grant(e.ctx, by, name, r); err != nil {
		e.t.Fatalf("grant %s to %s: %v", r, name, err)
	}
}

// spec is the governance fixture spec renamed to name, with owner and
// review_every as given ("" keeps the fixture's "unassigned" and 90d).
func spec(t *testing.T, name, owner, every string) string {
	t.Helper()
	b, err := os.ReadFile("../governance/testdata/keyring/integration.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := replaceOnce(t, string(b), "  name: keyring-test\n", "  name: "+name+"\n")
	if owner != "" {
		s = replaceOnce(t, s, "owner: unassigned", "owner: "+owner)
	}
	if every != "" {
		s = replaceOnce(t, s, "review_every: '90d'", "review_every: '"+every+"'")
	}
	return s
}

func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if strings.Count(s, old) != 1 {
		t.Fatalf("%q occurs %d times in the spec", old, strings.Count(s, old))
	}
	return strings.Replace(s, old, new, 1)
}

// propose registers spec as the agent's proposal.
func (e *env) propose(spec string) *governance.Proposal {
	e.t.Helper()
	b, err := os.ReadFile("../governance/testdata/keyring/report.json")
	if err != nil {
		e.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(spec))
	m["spec_sha256"] = hex.EncodeToString(sum[:])
	report, err := json.Marshal(m)
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := e.gov.Propose(e.ctx, governance.ProposeInput{Spec: []byte(spec), Report: report})
	if err != nil {
		e.t.Fatalf("propose: %v", err)
	}
	return p
}

// release proposes spec and has alice (and bob, when two are needed)
// approve it.
func (e *env) release(spec string) *governance.Release {
	e.t.Helper()
	p := e.propose(spec)
	for _, who := range []string{"alice", "bob"} {
		d, err := e.gov.Approve(e.ctx, governance.DecideInput{ProposalID: p.ID, Approver: who, Key: e.keys[who]})
		if err != nil {
			e.t.Fatalf("%s approves %d: %v", who, p.ID, err)
		}
		if d.Release != nil {
			return d.Release
		}
	}
	e.t.Fatalf("proposal %d not released after two approvals", p.ID)
	return nil
}

// credential provisions a credential for integration, rotating every.
func (e *env) credential(integration string, every time.Duration) vault.Meta {
	e.t.Helper()
	m, err := e.v.Set(e.ctx, audit.Actor{Kind: audit.ActorPerson, Name: "oscar"},
		vault.Credential{Name: integration + "-credential", Integration: integration, Host: "api.keyring.test", RotateEvery: every},
		[]byte("s3cr3t-"+integration+"-value"))
	if err != nil {
		e.t.Fatalf("set credential: %v", err)
	}
	return m
}

func (e *env) acceptTerms(integration string) {
	e.t.Helper()
	if _, err := e.v.AcceptTerms(e.ctx, audit.Actor{Kind: audit.ActorPerson, Name: "oscar"}, integration, "Keyring", "v1"); err != nil {
		e.t.Fatal(err)
	}
}

// syncRun records a run of source with n API keys (two relationships
// each) whose one stream ended with outcome, finished at finished.
func (e *env) syncRun(source string, n int, outcome store.Outcome, finished time.Time) {
	e.t.Helper()
	// A production sync runs the released digest; development runs of
	// other specs do not count (see TestProductionRunsOnly).
	digest := "sha256:unreleased"
	if rel, err := e.gov.Current(e.ctx, source); err == nil {
		digest = "sha256:" + rel.SpecDigest
	}
	s, err := e.st.BeginSync(e.ctx, source, digest, finished.Add(-time.Minute))
	if err != nil {
		e.t.Fatal(err)
	}
	defer s.Rollback()
	for i := range n {
		ext := fmt.Sprintf("key-%d", i)
		owner := nhi.NewRef(source, nhi.HumanUser, fmt.Sprintf("user-%d", i))
		rec := &nhi.Record{ID: nhi.StableID(source, nhi.APIKey, ext), Source: source, Kind: nhi.APIKey, ExternalID: ext,
			Relationships: []nhi.Relationship{{Type: nhi.OwnedBy, Target: owner}, {Type: nhi.CreatedBy, Target: owner}}}
		if err := s.Put(e.ctx, "api_keys", rec); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := s.EndStream(e.ctx, store.StreamResult{Stream: "api_keys", Outcome: outcome, Records: n}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := s.Commit(e.ctx, finished); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRowContext(e.ctx, q, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) entities(source string) int {
	return e.count(`SELECT COUNT(*) FROM entities WHERE source = ?`, source)
}

func (e *env) relationships(source string) int {
	return e.count(`SELECT COUNT(*) FROM relationships r JOIN entities x ON x.seq = r.from_seq WHERE x.source = ?`, source)
}

func (e *env) summary(name string) Summary {
	e.t.Helper()
	ss, err := e.l.List(e.ctx)
	if err != nil {
		e.t.Fatalf("List: %v", err)
	}
	for _, s := range ss {
		if s.Name == name {
			return s
		}
	}
	e.t.Fatalf("List has no %s: %+v", name, ss)
	return Summary{}
}

func (e *env) auditOK() {
	e.t.Helper()
	rep, err := e.log.Verify(e.ctx)
	if err != nil || !rep.OK {
		e.t.Errorf("audit verify: %+v %v", rep, err)
	}
}

func hasProblem(s Summary, sub string) bool {
	for _, p := range s.Problems {
		if strings.Contains(p, sub) {
			return true
		}
	}
	return false
}
