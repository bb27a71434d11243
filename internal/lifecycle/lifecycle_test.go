package lifecycle

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/store"
	"github.com/spindlehq/spindle/internal/vault"
)

const owner = "identity-team@example.com"

func TestNewRequiresEverything(t *testing.T) { eachBackend(t, testNewRequiresEverything) }

func testNewRequiresEverything(t *testing.T, be backend) {
	e := newEnv(t, be)
	full := Options{Audit: e.log, Vault: e.v, Gov: e.gov, Inventory: e.st}
	for name, o := range map[string]Options{
		"audit":     {Vault: e.v, Gov: e.gov, Inventory: e.st},
		"vault":     {Audit: e.log, Gov: e.gov, Inventory: e.st},
		"gov":       {Audit: e.log, Vault: e.v, Inventory: e.st},
		"inventory": {Audit: e.log, Vault: e.v, Gov: e.gov},
	} {
		if _, err := New(e.db, o); err == nil || !strings.Contains(err.Error(), "pass") {
			t.Errorf("without %s: %v, want an error saying what to pass", name, err)
		}
	}
	if _, err := New(nil, full); err == nil {
		t.Error("without a database: want an error")
	}
}

// Every health state, and the review, credential, owner and terms flags,
// as List reports them.
func TestListStates(t *testing.T) { eachBackend(t, testListStates) }

func testListStates(t *testing.T, be backend) {
	const name = "acme"
	ready := func(e *env) {
		e.release(spec(t, name, owner, ""))
		e.acceptTerms(name)
	}
	ago := func(e *env, d time.Duration) time.Time { return e.clock.now().Add(-d) }
	for _, tc := range []struct {
		name    string
		setup   func(e *env)
		health  Health
		check   func(t *testing.T, s Summary)
		problem string // a problem that must be listed ("" for none at all)
	}{
		{
			name:   "released, never synced",
			setup:  ready,
			health: NeverSynced,
			check: func(t *testing.T, s Summary) {
				if s.Owner != owner || !s.HasOwner || s.Release == nil || s.ReviewEvery.Std() != 90*24*time.Hour || s.ReviewOverdue {
					t.Errorf("summary: %+v", s)
				}
				if s.LastReviewedAt == nil || !s.LastReviewedAt.Equal(s.Release.CreatedAt) || !s.ReviewDue.Equal(s.Release.CreatedAt.Add(90*24*time.Hour)) {
					t.Errorf("review: last %v due %v, release %v", s.LastReviewedAt, s.ReviewDue, s.Release.CreatedAt)
				}
				if s.Terms == nil || s.LastSync != nil {
					t.Errorf("terms %+v, last sync %+v", s.Terms, s.LastSync)
				}
			},
		},
		{
			name:   "healthy: the last run completed, an hour ago",
			setup:  func(e *env) { ready(e); e.syncRun(name, 2, store.Complete, ago(e, time.Hour)) },
			health: Healthy,
			check: func(t *testing.T, s Summary) {
				if s.LastSync == nil || s.LastSync.Status != store.RunOK || len(s.Problems) != 0 {
					t.Errorf("summary: %+v", s)
				}
			},
		},
		{
			name:    "degraded: the last run was partial",
			setup:   func(e *env) { ready(e); e.syncRun(name, 2, store.Partial, ago(e, time.Hour)) },
			health:  Degraded,
			problem: "last sync partial",
		},
		{
			name: "failing: the last run failed, after an ok one",
			setup: func(e *env) {
				ready(e)
				e.syncRun(name, 2, store.Complete, ago(e, 2*time.Hour))
				e.syncRun(name, 0, store.Failed, ago(e, time.Hour))
			},
			health:  Failing,
			problem: "last sync failed",
		},
		{
			name:    "stale: the last ok run is three days old",
			setup:   func(e *env) { ready(e); e.syncRun(name, 2, store.Complete, ago(e, 72*time.Hour)) },
			health:  Stale,
			problem: "stale: the last sync finished",
		},
		{
			name: "review overdue: 91 days after a 90-day cadence's release",
			setup: func(e *env) {
				ready(e)
				e.clock.add(91 * 24 * time.Hour)
				e.syncRun(name, 2, store.Complete, ago(e, time.Hour))
			},
			health:  Healthy,
			problem: "review overdue since",
			check: func(t *testing.T, s Summary) {
				if !s.ReviewOverdue {
					t.Errorf("not overdue: %+v", s)
				}
			},
		},
		{
			name: "a shorter cadence from the spec",
			setup: func(e *env) {
				e.release(spec(t, name, owner, "7d"))
				e.acceptTerms(name)
				e.clock.add(8 * 24 * time.Hour)
			},
			health:  NeverSynced,
			problem: "review overdue since",
			check: func(t *testing.T, s Summary) {
				if s.ReviewEvery.Std() != 7*24*time.Hour || !s.ReviewOverdue {
					t.Errorf("cadence %s overdue %v", s.ReviewEvery, s.ReviewOverdue)
				}
			},
		},
		{
			name: "credential overdue for rotation",
			setup: func(e *env) {
				ready(e)
				e.credential(name, 24*time.Hour)
				e.clock.add(48 * time.Hour)
			},
			health:  NeverSynced,
			problem: "credential acme-credential overdue for rotation",
			check: func(t *testing.T, s Summary) {
				if len(s.Credentials) != 1 || !s.Credentials[0].Overdue || s.Credentials[0].RevokedAt != nil {
					t.Errorf("credentials: %+v", s.Credentials)
				}
			},
		},
		{
			name:    "no owner: the draft's unassigned",
			setup:   func(e *env) { e.release(spec(t, name, "", "")); e.acceptTerms(name) },
			health:  NeverSynced,
			problem: "no owner: set metadata.owner",
			check: func(t *testing.T, s Summary) {
				if s.HasOwner || s.Owner != Unassigned {
					t.Errorf("owner %q has_owner %v", s.Owner, s.HasOwner)
				}
			},
		},
		{
			name:    "terms not accepted",
			setup:   func(e *env) { e.release(spec(t, name, owner, "")) },
			health:  NeverSynced,
			problem: "spindle terms accept acme",
		},
		{
			name:    "proposed only",
			setup:   func(e *env) { e.propose(spec(t, name, owner, "")) },
			health:  NeverSynced,
			problem: "proposal 1 awaits a decision",
			check: func(t *testing.T, s Summary) {
				if s.Release != nil || s.ReviewDue != nil || !slices.Equal(s.OpenProposals, []int64{1}) {
					t.Errorf("summary: %+v", s)
				}
			},
		},
		{
			name:    "a credential only",
			setup:   func(e *env) { e.credential(name, 0) },
			health:  NeverSynced,
			problem: "no release",
		},
		{
			name: "offboarded: nothing more is asked of it",
			setup: func(e *env) {
				e.release(spec(t, name, "", ""))
				e.credential(name, 24*time.Hour)
				e.syncRun(name, 2, store.Failed, ago(e, time.Hour))
				e.clock.add(100 * 24 * time.Hour)
				if _, err := e.l.Offboard(e.ctx, "oscar", name, false); err != nil {
					t.Fatal(err)
				}
			},
			health: Offboarded,
			check: func(t *testing.T, s Summary) {
				if s.Offboarded == nil || s.Offboarded.By != "oscar" || s.Offboarded.Purged() || len(s.Problems) != 0 || s.ReviewOverdue {
					t.Errorf("summary: %+v", s)
				}
				if s.LastSync == nil || s.LastSync.Status != store.RunFailed {
					t.Errorf("the last sync is still shown: %+v", s.LastSync)
				}
				if len(s.Credentials) != 1 || s.Credentials[0].RevokedAt == nil || s.Credentials[0].Overdue {
					t.Errorf("credentials: %+v", s.Credentials)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, be)
			tc.setup(e)
			s := e.summary(name)
			if s.Health != tc.health {
				t.Errorf("health %s, want %s (%+v)", s.Health, tc.health, s)
			}
			if tc.problem != "" && !hasProblem(s, tc.problem) {
				t.Errorf("problems %q, want one containing %q", s.Problems, tc.problem)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

func TestListNamesEverySource(t *testing.T) { eachBackend(t, testListNamesEverySource) }

func testListNamesEverySource(t *testing.T, be backend) {
	e := newEnv(t, be)
	e.release(spec(t, "released", owner, ""))
	e.propose(spec(t, "proposed", owner, ""))
	e.credential("credentialed", 0)
	ss, err := e.l.List(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range ss {
		names = append(names, s.Name)
	}
	if want := []string{"credentialed", "proposed", "released"}; !slices.Equal(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
	// Listing registered the released integration from its release.
	st, err := e.l.State(e.ctx, "released")
	if err != nil || st == nil || st.Owner != owner || st.Release == nil || st.LastReviewedAt == nil {
		t.Errorf("state after List: %+v %v", st, err)
	}
}

// A newer release replaces the owner and cadence, and counts as a review.
func TestSyncFollowsTheCurrentRelease(t *testing.T) { eachBackend(t, testSyncFollowsTheCurrentRelease) }

func testSyncFollowsTheCurrentRelease(t *testing.T, be backend) {
	e := newEnv(t, be)
	first := e.release(spec(t, "acme", "", ""))
	st, err := e.l.Sync(e.ctx, "acme")
	if err != nil || st.Owner != Unassigned || *st.Release != first.ID {
		t.Fatalf("first sync: %+v %v", st, err)
	}
	updated := st.UpdatedAt
	if again, err := e.l.Sync(e.ctx, "acme"); err != nil || !again.UpdatedAt.Equal(updated) {
		t.Errorf("an unchanged release rewrote the row: %+v %v", again, err)
	}
	e.clock.add(80 * 24 * time.Hour)
	second := e.release(spec(t, "acme", owner, "30d"))
	st, err = e.l.Sync(e.ctx, "acme")
	if err != nil || st.Owner != owner || st.ReviewEvery.Std() != 30*24*time.Hour || *st.Release != second.ID || !st.LastReviewedAt.Equal(second.CreatedAt) {
		t.Errorf("second sync: %+v %v", st, err)
	}
	if _, err := e.l.Sync(e.ctx, "nothing"); !errors.Is(err, ErrNoRelease) || !errors.Is(err, governance.ErrNotFound) {
		t.Errorf("sync without a release: %v", err)
	}
}

func TestReady(t *testing.T) { eachBackend(t, testReady) }

func testReady(t *testing.T, be backend) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, e *env)
		is    error    // nil: ready
		says  []string // in the message
	}{
		{"nothing at all", func(*testing.T, *env) {}, ErrNoRelease, []string{"acme has no release", "spindle build", "spindle propose DIR", "spindle approve ID --as PERSON"}},
		{"proposed, not approved", func(t *testing.T, e *env) { e.propose(spec(t, "acme", owner, "")) }, ErrNoRelease,
			[]string{"Proposal 1 is open", "spindle review 1", "spindle approve 1 --as PERSON"}},
		{"released without an owner", func(t *testing.T, e *env) { e.release(spec(t, "acme", "", "")) }, ErrNoOwner,
			[]string{`metadata.owner "unassigned" in release 1`, "Set metadata.owner", "propose and approve"}},
		{"released with an empty owner", func(t *testing.T, e *env) { e.release(spec(t, "acme", "''", "")) }, ErrNoOwner,
			[]string{"no metadata.owner in release 1"}},
		{"released with an owner", func(t *testing.T, e *env) { e.release(spec(t, "acme", owner, "")) }, nil, nil},
		{"offboarded", func(t *testing.T, e *env) {
			e.release(spec(t, "acme", owner, ""))
			if _, err := e.l.Offboard(e.ctx, "oscar", "acme", true); err != nil {
				t.Fatal(err)
			}
		}, ErrOffboarded, []string{"acme was offboarded", "by oscar", "inventory purged", "new release approved", "spindle credential set"}},
		{"offboarded before any release", func(t *testing.T, e *env) {
			e.credential("acme", 0)
			if _, err := e.l.Offboard(e.ctx, "oscar", "acme", false); err != nil {
				t.Fatal(err)
			}
			e.propose(spec(t, "acme", owner, "")) // a proposal is not a release
		}, ErrOffboarded, []string{"inventory kept"}},
		{"offboarded, then a new release approved", func(t *testing.T, e *env) {
			e.release(spec(t, "acme", owner, ""))
			if _, err := e.l.Offboard(e.ctx, "oscar", "acme", false); err != nil {
				t.Fatal(err)
			}
			e.release(spec(t, "acme", owner, "30d"))
		}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, be)
			tc.setup(t, e)
			err := e.l.Ready(e.ctx, "acme")
			if tc.is == nil {
				if err != nil {
					t.Fatalf("Ready: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.is) {
				t.Fatalf("Ready: %v, want %v", err, tc.is)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Ready's error does not say %q:\n%v", s, err)
				}
			}
		})
	}
}

// A release whose spec was edited in the database names no owner: Ready
// refuses with the chain's problem and List shows it on the row.
func TestTamperedRelease(t *testing.T) { eachBackend(t, testTamperedRelease) }

func testTamperedRelease(t *testing.T, be backend) {
	e := newEnv(t, be)
	e.release(spec(t, "acme", owner, ""))
	e.db.SetMaxOpenConns(1) // the dropped trigger and the edit on one connection
	e.b.DropTrigger(t, e.db, "proposals", "proposals_immutable")
	// Edited in Go: the text functions differ between databases.
	var text []byte
	if err := e.db.QueryRowContext(e.ctx, `SELECT spec_text FROM proposals WHERE id = 1`).Scan(&text); err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(text, []byte("owner: "+owner), []byte("owner: mallory"), 1)
	if bytes.Equal(edited, text) {
		t.Fatal("the spec names no owner to edit")
	}
	if _, err := e.db.ExecContext(e.ctx, `UPDATE proposals SET spec_text = ? WHERE id = 1`, edited); err != nil {
		t.Fatal(err)
	}
	e.db.SetMaxOpenConns(0)
	if err := e.l.Ready(e.ctx, "acme"); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("Ready on a tampered release: %v", err)
	}
	s := e.summary("acme")
	if !hasProblem(s, "release verify acme") || hasProblem(s, "no owner") || s.Owner == "mallory" {
		t.Errorf("summary of a tampered release: %+v", s)
	}
}

func TestOffboard(t *testing.T) { eachBackend(t, testOffboard) }

func testOffboard(t *testing.T, be backend) {
	for _, purge := range []bool{false, true} {
		t.Run(map[bool]string{false: "keep inventory", true: "purge"}[purge], func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, be)
			rel := e.release(spec(t, "acme", owner, ""))
			e.credential("acme", 0)
			e.syncRun("acme", 3, store.Complete, e.clock.now())
			e.syncRun("other", 2, store.Complete, e.clock.now())
			rels := e.relationships("acme")
			before, err := e.log.Head(e.ctx)
			if err != nil {
				t.Fatal(err)
			}

			res, err := e.l.Offboard(e.ctx, "oscar", "acme", purge)
			if err != nil {
				t.Fatalf("Offboard: %v", err)
			}
			if res.By != "oscar" || *res.Release != rel.ID || !slices.Equal(res.Revoked, []string{"acme-credential"}) || res.Purged != purge || res.PurgeOnly {
				t.Errorf("result: %+v", res)
			}
			m, err := e.v.Get(e.ctx, "acme-credential")
			if err != nil || !m.Revoked() || m.RevokedBy != "oscar" {
				t.Errorf("credential after offboarding: %+v %v", m, err)
			}
			wantEntities, wantRels := 3, rels
			if purge {
				wantEntities, wantRels = 0, 0
				if res.EntitiesPurged != 3 {
					t.Errorf("entities purged: %d, want 3", res.EntitiesPurged)
				}
			}
			if e.entities("acme") != wantEntities || e.relationships("acme") != wantRels {
				t.Errorf("acme inventory: %d entities, %d relationships; want %d, %d", e.entities("acme"), e.relationships("acme"), wantEntities, wantRels)
			}
			if e.entities("other") != 2 {
				t.Error("another source's inventory changed")
			}
			if rs, _ := e.st.Runs(e.ctx, "acme", 0); len(rs) != 1 {
				t.Errorf("acme runs: %d, want the one kept", len(rs))
			}

			// Audited: the revocation and the offboarding, in that order,
			// by the person, with the purge flag and the counts.
			es, err := e.log.List(e.ctx, audit.Filter{After: before.Seq})
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, x := range es {
				actions = append(actions, x.Action)
			}
			if !slices.Equal(actions, []string{vault.ActionRevoke, ActionOffboard}) {
				t.Fatalf("audited %v", actions)
			}
			off := es[1]
			if off.Actor != (audit.Actor{Kind: audit.ActorPerson, Name: "oscar"}) || off.Object != "integration:acme" || off.Boundary != audit.BoundaryProduction ||
				off.Details["purge"] != purge || fmt.Sprint(off.Details["credentials_revoked"]) != "1" ||
				fmt.Sprint(off.Details["entities_purged"]) != fmt.Sprint(res.EntitiesPurged) || fmt.Sprint(off.Details["release"]) != fmt.Sprint(rel.ID) {
				t.Errorf("offboard entry: %+v", off)
			}
			if res.Entry.Seq != off.Seq {
				t.Errorf("result entry %d, logged %d", res.Entry.Seq, off.Seq)
			}
			e.auditOK()
			_, err = e.v.Resolver(vault.Binding{Integration: "acme", Host: "api.keyring.test", Actor: audit.Actor{Kind: audit.ActorScheduler, Name: "scheduler"}}).Resolve(e.ctx, "acme-credential")
			if !errors.Is(err, vault.ErrRevoked) {
				t.Errorf("resolving after offboarding: %v, want ErrRevoked", err)
			}

			// Again: refused, unless purging what was kept.
			_, err = e.l.Offboard(e.ctx, "oscar", "acme", false)
			if !governance.IsRefused(err, governance.RuleState) || !strings.Contains(err.Error(), "already offboarded") {
				t.Errorf("offboarding twice: %v", err)
			}
			if purge {
				if _, err := e.l.Offboard(e.ctx, "oscar", "acme", true); !governance.IsRefused(err, governance.RuleState) || !strings.Contains(err.Error(), "nothing is left to do") {
					t.Errorf("purging twice: %v", err)
				}
				return
			}
			if !strings.Contains(err.Error(), "--purge") {
				t.Errorf("the refusal does not say how to purge: %v", err)
			}
			later, err := e.l.Offboard(e.ctx, "root", "acme", true)
			if err != nil || !later.PurgeOnly || later.EntitiesPurged != 3 || later.By != "oscar" || !later.At.Equal(res.At) || later.Entry.Action != ActionPurge {
				t.Fatalf("a later purge: %+v %v", later, err)
			}
			if e.entities("acme") != 0 {
				t.Error("the later purge left entities")
			}
			st, _ := e.l.State(e.ctx, "acme")
			if !st.Offboarding.Purged() || st.Offboarding.By != "oscar" {
				t.Errorf("state after the later purge: %+v", st.Offboarding)
			}
			e.auditOK()
		})
	}
}

// Only a person whose role allows integration.offboard may offboard, and a
// refusal changes nothing.
func TestOffboardRefusals(t *testing.T) { eachBackend(t, testOffboardRefusals) }

func testOffboardRefusals(t *testing.T, be backend) {
	e := newEnv(t, be)
	e.release(spec(t, "acme", owner, ""))
	e.credential("acme", 0)
	e.syncRun("acme", 2, store.Complete, e.clock.now())
	audits := e.count(`SELECT COUNT(*) FROM audit_log`)
	for _, tc := range []struct {
		actor, name, says string
		is                error
	}{
		{"agent:heuristic", "acme", "agent:heuristic (role agent) may not integration.offboard", nil},
		{"vera", "acme", "vera (role viewer) may not integration.offboard", nil},
		{"alice", "acme", "alice (role approver) may not integration.offboard", nil},
		{"nobody", "acme", "nobody holds no role", nil},
		{"", "acme", "--as PERSON", nil},
		{"oscar", "", "integration's name", nil},
		{"oscar", "acne", `unknown integration "acne"`, ErrUnknown},
	} {
		t.Run(tc.actor+" "+tc.name, func(t *testing.T) {
			_, err := e.l.Offboard(e.ctx, tc.actor, tc.name, true)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Offboard as %q: %v, want it to say %q", tc.actor, err, tc.says)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}
	if m, _ := e.v.Get(e.ctx, "acme-credential"); m.Revoked() {
		t.Error("a refused offboarding revoked the credential")
	}
	if e.entities("acme") != 2 || e.count(`SELECT COUNT(*) FROM integration_lifecycle WHERE offboarded_at IS NOT NULL`) != 0 ||
		e.count(`SELECT COUNT(*) FROM audit_log`) != audits {
		t.Error("a refused offboarding changed something")
	}
	if err := e.l.Ready(e.ctx, "acme"); err != nil {
		t.Errorf("Ready after refusals: %v", err)
	}
}

// Offboarding is one transaction: a failure after the credential's
// revocation, or after the purge, leaves everything as it was.
func TestOffboardIsAtomic(t *testing.T) { eachBackend(t, testOffboardIsAtomic) }

func testOffboardIsAtomic(t *testing.T, be backend) {
	for _, step := range []string{"revoked", "purged"} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, be)
			e.release(spec(t, "acme", owner, ""))
			e.credential("acme", 0)
			e.syncRun("acme", 3, store.Complete, e.clock.now())
			audits, rels := e.count(`SELECT COUNT(*) FROM audit_log`), e.relationships("acme")
			boom := errors.New("power cut")
			e.l.failAt = func(s string) error {
				if s == step {
					return boom
				}
				return nil
			}
			if _, err := e.l.Offboard(e.ctx, "oscar", "acme", true); !errors.Is(err, boom) {
				t.Fatalf("Offboard: %v, want the injected failure", err)
			}
			if m, err := e.v.Get(e.ctx, "acme-credential"); err != nil || m.Revoked() {
				t.Errorf("credential after a failed offboarding: %+v %v", m, err)
			}
			if e.entities("acme") != 3 || e.relationships("acme") != rels {
				t.Error("a failed offboarding purged inventory")
			}
			if n := e.count(`SELECT COUNT(*) FROM audit_log`); n != audits {
				t.Errorf("audit entries %d → %d", audits, n)
			}
			if err := e.l.Ready(e.ctx, "acme"); err != nil {
				t.Errorf("Ready after a failed offboarding: %v", err)
			}
			// Nothing was half-done, so the same offboarding succeeds after.
			e.l.failAt = nil
			if res, err := e.l.Offboard(e.ctx, "oscar", "acme", true); err != nil || len(res.Revoked) != 1 || res.EntitiesPurged != 3 {
				t.Fatalf("retry: %+v %v", res, err)
			}
			e.auditOK()
		})
	}
}

func TestHasOwner(t *testing.T) {
	for owner, want := range map[string]bool{"": false, "  ": false, "unassigned": false, "Unassigned ": false, "team@example.com": true, "alice": true} {
		if HasOwner(owner) != want {
			t.Errorf("HasOwner(%q) = %v", owner, !want)
		}
	}
}

// TestProductionRunsOnly: a development run (`spindle run` of a spec that
// was never released) under the same source name is neither the last
// sync nor part of the history production is judged against.
func TestProductionRunsOnly(t *testing.T) { eachBackend(t, testProductionRunsOnly) }

func testProductionRunsOnly(t *testing.T, be backend) {
	const name = "acme"
	e := newEnv(t, be)
	e.release(spec(t, name, owner, ""))
	e.acceptTerms(name)
	e.syncRun(name, 10, store.Complete, e.clock.now().Add(-2*time.Hour))
	// A developer's run of an unreleased spec, later and failed.
	dev, err := e.st.BeginSync(e.ctx, name, "sha256:0123456789abcdef", e.clock.now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.EndStream(e.ctx, store.StreamResult{Stream: "api_keys", Outcome: store.Failed}); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Commit(e.ctx, e.clock.now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	runs, err := e.l.ProductionRuns(e.ctx, name, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Status != "ok" {
		t.Fatalf("production runs = %+v, want only the released run", runs)
	}
	list, err := e.l.List(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Health != Healthy || list[0].LastSync == nil || list[0].LastSync.RunID != runs[0].ID {
		t.Fatalf("list: %+v", list)
	}
}
