package authn_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/authn"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/production/prodtest"
)

type env struct {
	ctx  context.Context
	db   *sql.DB
	gov  *governance.Service
	log  *audit.Log
	svc  *authn.Service
	now  time.Time
	tick func(time.Duration)
}

func newEnv(t *testing.T, b prodtest.Backend) *env {
	t.Helper()
	o := b.Open(t)
	e := &env{ctx: t.Context(), db: o.DB, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return e.now }
	e.tick = func(d time.Duration) { e.now = e.now.Add(d) }
	e.log = audit.New(o.DB, audit.Options{})
	var err error
	if e.gov, err = governance.New(o.DB, governance.Options{Audit: e.log, Now: clock}); err != nil {
		t.Fatal(err)
	}
	if e.svc, err = authn.New(e.ctx, o.DB, authn.Options{Gov: e.gov, Audit: e.log, Now: clock}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []struct {
		by, name string
		role     governance.Role
	}{{"", "root", governance.RoleAdmin}, {"root", "alice", governance.RoleApprover}, {"root", "vera", governance.RoleViewer}} {
		if _, err := e.gov.Grant(e.ctx, g.by, g.name, g.role); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func TestTokens(t *testing.T) {
	for _, b := range prodtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			tok, rec, err := e.svc.CreateToken(e.ctx, "alice", "alice", governance.RoleApprover, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(tok, authn.TokenPrefix) || len(tok) != len(authn.TokenPrefix)+43 {
				t.Fatalf("token %q: want spx_ and 43 base64url characters", tok[:4])
			}
			// Hashed at rest: the plaintext is in no column of any table
			// this package writes, nor in the audit log.
			for _, table := range []string{"api_tokens", "api_sessions", "audit_log"} {
				assertNotStored(t, e.db, table, tok)
			}
			p, err := e.svc.Authenticate(e.ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			if p != (authn.Principal{Name: "alice", Role: governance.RoleApprover, TokenID: rec.ID}) {
				t.Fatalf("principal %+v", p)
			}
			bad := []struct{ name, tok string }{
				{"empty", ""},
				{"no prefix", strings.TrimPrefix(tok, authn.TokenPrefix)},
				{"truncated", tok[:len(tok)-1]},
				{"unknown", authn.TokenPrefix + strings.Repeat("A", 43)},
				{"not base64url", authn.TokenPrefix + strings.Repeat("!", 43)},
			}
			for _, c := range bad {
				if _, err := e.svc.Authenticate(e.ctx, c.tok); !errors.Is(err, authn.ErrUnauthenticated) {
					t.Errorf("%s: err %v, want ErrUnauthenticated", c.name, err)
				}
			}
			if _, err := e.svc.RevokeToken(e.ctx, "vera", rec.ID); !governance.IsRefused(err, governance.RuleRole) {
				t.Fatalf("vera revoking alice's token: %v, want a role refusal", err)
			}
			if _, err := e.svc.RevokeToken(e.ctx, "alice", rec.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Authenticate(e.ctx, tok); !errors.Is(err, authn.ErrUnauthenticated) || !strings.Contains(err.Error(), "revoked") {
				t.Fatalf("revoked token: %v", err)
			}
			ents, err := e.log.List(e.ctx, audit.Filter{Action: "token"})
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != 2 || ents[0].Action != "token.create" || ents[1].Action != "token.revoke" {
				t.Fatalf("audit: %+v", ents)
			}
		})
	}
}

func assertNotStored(t *testing.T, db *sql.DB, table, secret string) {
	t.Helper()
	rows, err := db.Query(`SELECT * FROM ` + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if strings.Contains(fmt.Sprintf("%s", v), secret) {
				t.Fatalf("%s.%s holds the plaintext secret", table, cols[i])
			}
		}
	}
}

func TestCreateTokenRules(t *testing.T) {
	e := newEnv(t, prodtest.SQLite)
	cases := []struct {
		name       string
		by, person string
		role       governance.Role
		ttl        time.Duration
		ok         bool
	}{
		{"self, held role", "alice", "alice", governance.RoleApprover, 0, true},
		{"self, role not held", "alice", "alice", governance.RoleAdmin, 0, false},
		{"viewer for someone else", "vera", "alice", governance.RoleApprover, 0, false},
		{"admin for anyone", "root", "vera", governance.RoleViewer, time.Hour, true},
		{"admin, role not held", "root", "vera", governance.RoleApprover, 0, false},
		{"admin for an agent", "root", "agent:heuristic", governance.RoleAgent, 0, true},
		{"agent role for a person", "root", "alice", governance.RoleAgent, 0, false},
		{"unknown role", "root", "alice", "superuser", 0, false},
		{"ttl too long", "alice", "alice", governance.RoleApprover, 400 * 24 * time.Hour, false},
		{"no issuer", "", "alice", governance.RoleApprover, 0, false},
		{"bad name", "root", "al ice", governance.RoleViewer, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok, _, err := e.svc.CreateToken(e.ctx, c.by, c.person, c.role, c.ttl)
			if (err == nil) != c.ok {
				t.Fatalf("err %v, want ok=%v", err, c.ok)
			}
			if err != nil && tok != "" {
				t.Fatal("a refused token was returned")
			}
		})
	}
}

func TestRoleRevokedKillsTokenAndSession(t *testing.T) {
	e := newEnv(t, prodtest.SQLite)
	tok, _, err := e.svc.CreateToken(e.ctx, "root", "alice", governance.RoleApprover, 0)
	if err != nil {
		t.Fatal(err)
	}
	sid, p, err := e.svc.Login(e.ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "alice" {
		t.Fatalf("login as %q", p.Name)
	}
	if _, err := e.svc.Session(e.ctx, sid); err != nil {
		t.Fatal(err)
	}
	assertNotStored(t, e.db, "api_sessions", sid)
	if err := e.gov.Revoke(e.ctx, "root", "alice", governance.RoleApprover); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(e.ctx, tok); !errors.Is(err, authn.ErrUnauthenticated) || !strings.Contains(err.Error(), "no longer holds") {
		t.Fatalf("token after role revoked: %v", err)
	}
	if _, err := e.svc.Session(e.ctx, sid); !errors.Is(err, authn.ErrUnauthenticated) {
		t.Fatalf("session after role revoked: %v", err)
	}
}

func TestSessions(t *testing.T) {
	cases := []struct {
		name  string
		end   func(t *testing.T, e *env, sid string, tokenID int64)
		alive bool
	}{
		{"open", func(*testing.T, *env, string, int64) {}, true},
		{"logout", func(t *testing.T, e *env, sid string, _ int64) {
			if err := e.svc.Logout(e.ctx, sid); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"token revoked", func(t *testing.T, e *env, _ string, id int64) {
			if _, err := e.svc.RevokeToken(e.ctx, "root", id); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"12h later", func(_ *testing.T, e *env, _ string, _ int64) { e.tick(authn.DefaultSessionTTL) }, false},
		{"token expired first", func(_ *testing.T, e *env, _ string, _ int64) { e.tick(2 * time.Hour) }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, prodtest.SQLite)
			tok, rec, err := e.svc.CreateToken(e.ctx, "root", "vera", governance.RoleViewer, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			sid, _, err := e.svc.Login(e.ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			c.end(t, e, sid, rec.ID)
			_, err = e.svc.Session(e.ctx, sid)
			if (err == nil) != c.alive {
				t.Fatalf("session: %v, want alive=%v", err, c.alive)
			}
			if err != nil && !errors.Is(err, authn.ErrUnauthenticated) {
				t.Fatalf("session: %v, want ErrUnauthenticated", err)
			}
		})
	}
}

func TestCSRFToken(t *testing.T) {
	e := newEnv(t, prodtest.SQLite)
	a, b := e.svc.CSRFToken("session-a"), e.svc.CSRFToken("session-b")
	if a == b || a != e.svc.CSRFToken("session-a") {
		t.Fatal("CSRF tokens must be deterministic per session and differ between sessions")
	}
	if !e.svc.CheckCSRF("session-a", a) || e.svc.CheckCSRF("session-b", a) || e.svc.CheckCSRF("", e.svc.CSRFToken("")) {
		t.Fatal("CheckCSRF accepts the wrong token")
	}
	// A second service on the same database (another server process)
	// agrees: the key is stored, not per process.
	other, err := authn.New(e.ctx, e.db, authn.Options{Gov: e.gov, Audit: e.log})
	if err != nil {
		t.Fatal(err)
	}
	if other.CSRFToken("session-a") != a {
		t.Fatal("two services on one database disagree on CSRF tokens")
	}
}
