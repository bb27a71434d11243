// Package prodtest sets up, for tests, what a production sync needs: a
// fresh store (SQLite under t.TempDir(), or PostgreSQL from pgtest), the
// governance cast (root admin, approvers alice and bob with signing keys,
// operator olivia), and integrations of the bundled Acme Cloud example
// released by two signed approvals, with their vendor stand-in — a sandbox
// of the same doc on loopback — credentialed and its terms accepted.
package prodtest

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/spindlehq/spindle/internal/alert"
	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/drift"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/lifecycle"
	"github.com/spindlehq/spindle/internal/production"
	"github.com/spindlehq/spindle/internal/sandbox"
	"github.com/spindlehq/spindle/internal/store"
	"github.com/spindlehq/spindle/internal/store/postgres"
	"github.com/spindlehq/spindle/internal/store/postgres/pgtest"
	"github.com/spindlehq/spindle/internal/store/sqlite"
	"github.com/spindlehq/spindle/internal/vault"
)

// Inventory is a store that lifecycle can also read and purge.
type Inventory interface {
	store.Store
	lifecycle.Inventory
}

// Backend opens a fresh store for a test.
type Backend struct {
	Name string
	Open func(t *testing.T) Opened
}

// Opened is a fresh store: its inventory, its control-plane database and,
// on PostgreSQL, the pool River uses. Path is the SQLite file ("" on
// PostgreSQL).
type Opened struct {
	Inventory Inventory
	DB        *sql.DB
	Pool      *pgxpool.Pool
	Path      string
}

// SQLite is a store in a file under t.TempDir().
var SQLite = Backend{Name: "sqlite", Open: func(t *testing.T) Opened {
	path := filepath.Join(t.TempDir(), "spindle.db")
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return Opened{Inventory: st, DB: st.DB(), Path: path}
}}

// Postgres is a store in a fresh PostgreSQL database (skipped without
// $SPINDLE_TEST_POSTGRES; see pgtest).
var Postgres = Backend{Name: "postgres", Open: func(t *testing.T) Opened {
	st, err := postgres.Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return Opened{Inventory: st, DB: st.DB(), Pool: st.Pool()}
}}

// Backends are both.
func Backends() []Backend { return []Backend{SQLite, Postgres} }

// Fixture is an opened store with the governance cast, ready to release
// integrations.
type Fixture struct {
	T      *testing.T
	Ctx    context.Context
	Opened Opened
	Env    *production.Env
	Keys   map[string]ed25519.PrivateKey
	// Server is the Acme Cloud stand-in; Token its credential.
	Server *sandbox.Server
	Token  string
	// Root is the repository root (for examples/).
	Root string
}

// Operator is the person who provisions credentials, accepts terms and
// runs syncs.
const Operator = "olivia"

// New opens b and grants the cast, and starts the Acme Cloud sandbox.
func New(t *testing.T, b Backend) *Fixture {
	t.Helper()
	o := b.Open(t)
	ctx := t.Context()
	log := audit.New(o.DB, audit.Options{})
	gov, err := governance.New(o.DB, governance.Options{Audit: log})
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(o.DB, vault.Options{Identity: id, Audit: log, Authorize: func(ctx context.Context, person, action string) error {
		return gov.Authorize(ctx, person, governance.Action(action))
	}})
	if err != nil {
		t.Fatal(err)
	}
	life, err := lifecycle.New(o.DB, lifecycle.Options{Audit: log, Vault: v, Gov: gov, Inventory: o.Inventory})
	if err != nil {
		t.Fatal(err)
	}
	f := &Fixture{T: t, Ctx: ctx, Opened: o, Keys: map[string]ed25519.PrivateKey{}, Root: root(t),
		Env: &production.Env{DB: o.DB, Inventory: o.Inventory, Vault: v, Gov: gov, Life: life, Audit: log, Alerts: alert.New(o.DB, alert.Options{Vault: v})}}
	f.Grant("", "root", governance.RoleAdmin)
	keyDir := filepath.Join(t.TempDir(), "keys")
	for _, n := range []string{"alice", "bob"} {
		f.Grant("root", n, governance.RoleApprover)
		_, path, err := gov.CreateKey(ctx, n, keyDir, false)
		if err != nil {
			t.Fatal(err)
		}
		if f.Keys[n], err = governance.LoadPrivateKey(path); err != nil {
			t.Fatal(err)
		}
	}
	f.Grant("root", Operator, governance.RoleOperator)
	f.Server = f.Sandbox("127.0.0.1:0", sandbox.Options{})
	f.Token = f.Server.Credentials()[0].Value
	return f
}

// root is the repository root, found from this file.
func root(t *testing.T) string {
	_, file, _, ok := goruntime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Grant gives name role, by by ("" for the first admin).
func (f *Fixture) Grant(by, name string, r governance.Role) {
	f.T.Helper()
	if _, err := f.Env.Gov.Grant(f.Ctx, by, name, r); err != nil {
		f.T.Fatalf("grant %s to %s: %v", r, name, err)
	}
}

// Sandbox serves the Acme Cloud doc on addr (seed 3 unless o sets one),
// closed when the test ends. The same addr and seed serve the same
// credential.
func (f *Fixture) Sandbox(addr string, o sandbox.Options) *sandbox.Server {
	f.T.Helper()
	surf, err := apisurface.Load(f.Ctx, filepath.Join(f.Root, "examples/docs/acme-keys.yaml"), apisurface.Options{})
	if err != nil {
		f.T.Fatal(err)
	}
	if o.Seed == 0 {
		o.Seed = 3
	}
	sb, err := sandbox.New(surf, o)
	if err != nil {
		f.T.Fatal(err)
	}
	srv, err := sb.Start(context.Background(), addr)
	if err != nil {
		f.T.Fatal(err)
	}
	f.T.Cleanup(func() { srv.Close() })
	return srv
}

// Host is the sandbox's host:port, as credentials are bound to it.
func (f *Fixture) Host() string { return strings.TrimPrefix(f.Server.Origin(), "http://") }

// Spec is the hand-written Acme Cloud reference spec renamed to name
// (its credential too). With doc set, metadata.source_doc points at doc
// and records its digest, and doc's bytes are pinned as the release's
// baseline for drift checks.
func (f *Fixture) Spec(name, doc string) []byte {
	f.T.Helper()
	b, err := os.ReadFile(filepath.Join(f.Root, "examples/docs/specs/acme-keys.integration.yaml"))
	if err != nil {
		f.T.Fatal(err)
	}
	s := string(b)
	for old, repl := range map[string]string{"  name: acme-cloud\n": "  name: " + name + "\n", "    credential: acme-cloud\n": "    credential: " + name + "\n"} {
		if strings.Count(s, old) != 1 {
			f.T.Fatalf("the Acme Cloud spec no longer has %q once", old)
		}
		s = strings.Replace(s, old, repl, 1)
	}
	if doc != "" {
		content, err := os.ReadFile(doc)
		if err != nil {
			f.T.Fatal(err)
		}
		const src = "  source_doc: {location: examples/docs/acme-keys.yaml}\n"
		if !strings.Contains(s, src) {
			f.T.Fatalf("the Acme Cloud spec no longer has %q", src)
		}
		s = strings.Replace(s, src, "  source_doc: {location: '"+doc+"', sha256: "+drift.Digest(content)+"}\n", 1)
		if _, _, err := drift.Pin(f.Ctx, f.Opened.DB, doc, content, time.Now()); err != nil {
			f.T.Fatal(err)
		}
	}
	return []byte(s)
}

// Release proposes spec (as the operator) and has alice and bob approve
// it.
func (f *Fixture) Release(spec []byte) *governance.Release {
	f.T.Helper()
	p, err := f.Env.Gov.Propose(f.Ctx, governance.ProposeInput{Spec: spec, Author: Operator})
	if err != nil {
		f.T.Fatalf("propose: %v", err)
	}
	for _, who := range []string{"alice", "bob"} {
		d, err := f.Env.Gov.Approve(f.Ctx, governance.DecideInput{ProposalID: p.ID, Approver: who, Key: f.Keys[who]})
		if err != nil {
			f.T.Fatalf("%s approves %d: %v", who, p.ID, err)
		}
		if d.Release != nil {
			return d.Release
		}
	}
	f.T.Fatalf("proposal %d not released after two approvals", p.ID)
	return nil
}

// Ready releases an Acme Cloud integration called name (see Spec for
// doc), binds the sandbox's credential to it and accepts its terms: a
// production sync of it can run against f.Server.
func (f *Fixture) Ready(name, doc string) *governance.Release {
	f.T.Helper()
	rel := f.Release(f.Spec(name, doc))
	op := audit.Actor{Kind: audit.ActorPerson, Name: Operator}
	if _, err := f.Env.Vault.Set(f.Ctx, op, vault.Credential{Name: name, Integration: name, Host: f.Host()}, []byte(f.Token)); err != nil {
		f.T.Fatalf("credential for %s: %v", name, err)
	}
	if _, err := f.Env.Vault.AcceptTerms(f.Ctx, op, name, "Acme Cloud", "v1"); err != nil {
		f.T.Fatalf("terms of %s: %v", name, err)
	}
	return rel
}

// Audit lists the audit entries whose action starts with prefix.
func (f *Fixture) Audit(prefix string) []audit.Entry {
	f.T.Helper()
	es, err := f.Env.Audit.List(f.Ctx, audit.Filter{Action: prefix})
	if err != nil {
		f.T.Fatal(err)
	}
	return es
}

// VerifyAudit fails the test unless the audit chain verifies.
func (f *Fixture) VerifyAudit() {
	f.T.Helper()
	rep, err := f.Env.Audit.Verify(f.Ctx)
	if err != nil || !rep.OK {
		f.T.Errorf("audit verify: %+v %v", rep, err)
	}
}
