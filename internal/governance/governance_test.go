package governance

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/audit"
)

func TestCan(t *testing.T) {
	cases := []struct {
		role Role
		yes  []Action
		no   []Action
	}{
		{RoleAgent, []Action{ActionProposalCreate, ActionProposalRead, ActionReleaseRead},
			[]Action{ActionProposalApprove, ActionProposalReject, ActionReleaseCreate, ActionSyncProduction, ActionCredentialSet,
				ActionCredentialRead, ActionCredentialRotate, ActionCredentialRevoke, ActionRoleGrant, ActionRoleRevoke, ActionKeyCreate,
				ActionTermsAccept, ActionIntegrationOffboard, ActionAuditRead}},
		{RoleViewer, []Action{ActionProposalRead, ActionReleaseRead, ActionAuditRead, ActionInventoryRead},
			[]Action{ActionProposalCreate, ActionProposalApprove, ActionCredentialSet, ActionSyncProduction, ActionKeyCreate}},
		{RoleApprover, []Action{ActionProposalApprove, ActionProposalReject, ActionReleaseCreate, ActionKeyCreate},
			[]Action{ActionCredentialSet, ActionCredentialRead, ActionSyncProduction, ActionRoleGrant}},
		{RoleOperator, []Action{ActionCredentialSet, ActionCredentialRead, ActionSyncProduction, ActionIntegrationOffboard},
			[]Action{ActionProposalApprove, ActionProposalReject, ActionReleaseCreate, ActionRoleGrant}},
		{RoleAdmin, Actions(), nil},
		{Role("root"), nil, Actions()},
	}
	for _, c := range cases {
		for _, a := range c.yes {
			if !Can(c.role, a) {
				t.Errorf("Can(%s, %s) = false, want true", c.role, a)
			}
		}
		for _, a := range c.no {
			if Can(c.role, a) {
				t.Errorf("Can(%s, %s) = true, want false", c.role, a)
			}
		}
	}
	if Can(RoleAdmin, Action("credential.exfiltrate")) {
		t.Error("an unknown action is allowed")
	}
}

func TestRolesBootstrapAndGrants(t *testing.T) { eachBackend(t, testRolesBootstrapAndGrants) }

func testRolesBootstrapAndGrants(t *testing.T, be backend) {
	e := newEnv(t, be)
	// Before any admin: only admin can be granted, by anyone.
	if _, err := e.s.Grant(e.ctx, "", "alice", RoleApprover); !IsRefused(err, RuleRole) || !strings.Contains(err.Error(), "no admin yet") {
		t.Fatalf("grant before an admin: %v", err)
	}
	boot, err := e.s.Grant(e.ctx, "", "root", RoleAdmin)
	if err != nil || !boot {
		t.Fatalf("bootstrap: %v %v", boot, err)
	}
	cases := []struct {
		name      string
		by, who   string
		role      Role
		rule, msg string
	}{
		{"second admin without --as", "", "mallory", RoleAdmin, RuleRole, "needs an admin"},
		{"non-admin grants", "alice", "mallory", RoleApprover, RuleRole, "alice holds no role"},
		{"agent principal", "root", "agent:heuristic", RoleApprover, RuleRole, "agent principal"},
		{"agent grants", "agent:heuristic", "mallory", RoleApprover, RuleRole, "role agent"},
		{"unknown role", "root", "x", Role("god"), "", "unknown role"},
		{"bad name", "root", "a b", RoleViewer, "", "not a valid principal name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.s.Grant(e.ctx, c.by, c.who, c.role)
			if err == nil || !strings.Contains(err.Error(), c.msg) || (c.rule != "" && !IsRefused(err, c.rule)) {
				t.Fatalf("got %v, want a %q refusal containing %q", err, c.rule, c.msg)
			}
		})
	}
	e.grant("root", "alice", RoleApprover)
	e.grant("root", "alice", RoleOperator)
	e.grant("root", "bot", RoleAgent)
	if _, err := e.s.Grant(e.ctx, "root", "bot", RoleApprover); !IsRefused(err, RuleRole) {
		t.Errorf("agent + approver on one name: %v", err)
	}
	if _, err := e.s.Grant(e.ctx, "root", "alice", RoleAgent); !IsRefused(err, RuleRole) {
		t.Errorf("approver + agent on one name: %v", err)
	}
	if _, err := e.s.Grant(e.ctx, "root", "alice", RoleApprover); !IsRefused(err, RuleState) {
		t.Errorf("granting twice: %v", err)
	}
	// Revocation: admins only; never the last admin.
	if err := e.s.Revoke(e.ctx, "alice", "alice", RoleOperator); !IsRefused(err, RuleRole) {
		t.Errorf("non-admin revokes: %v", err)
	}
	if err := e.s.Revoke(e.ctx, "root", "root", RoleAdmin); !IsRefused(err, RuleRole) || !strings.Contains(err.Error(), "last admin") {
		t.Errorf("revoking the last admin: %v", err)
	}
	if err := e.s.Revoke(e.ctx, "root", "alice", RoleOperator); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Authorize(e.ctx, "alice", ActionCredentialSet); !IsRefused(err, RuleRole) {
		t.Errorf("revoked role still authorises: %v", err)
	}
	if err := e.s.Authorize(e.ctx, "alice", ActionProposalApprove); err != nil {
		t.Errorf("alice approves: %v", err)
	}
	for _, a := range []Action{ActionProposalApprove, ActionCredentialSet, ActionSyncProduction, ActionRoleGrant} {
		if err := e.s.Authorize(e.ctx, "agent:llm", a); !IsRefused(err, RuleRole) {
			t.Errorf("agent %s: %v", a, err)
		}
		if err := e.s.Authorize(e.ctx, "bot", a); !IsRefused(err, RuleRole) {
			t.Errorf("agent-role bot %s: %v", a, err)
		}
	}
	ps, err := e.s.Principals(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 || ps[1].Name != "bot" || ps[1].Kind != audit.ActorAgent || ps[2].Kind != audit.ActorPerson {
		t.Errorf("principals: %+v", ps)
	}

	// Every grant and revoke is audited; the bootstrap says so.
	es, err := e.log.List(e.ctx, audit.Filter{Action: "role"})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 5 || es[0].Details["bootstrap"] != true || es[0].Actor.Name != "root" || es[4].Action != "role.revoke" {
		t.Errorf("audit: %+v", es)
	}
	if es[1].Details["bootstrap"] != nil || es[1].Actor.Name != "root" {
		t.Errorf("second grant: %+v", es[1])
	}
}

func TestKeys(t *testing.T) { eachBackend(t, testKeys) }

func testKeys(t *testing.T, be backend) {
	e := newEnv(t, be)
	e.grant("", "root", RoleAdmin)
	e.grant("root", "alice", RoleApprover)
	e.grant("root", "vera", RoleViewer)

	k, path, err := e.s.CreateKey(e.ctx, "alice", e.keyDir, false)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(e.keyDir, "alice.ed25519") {
		t.Errorf("path %s", path)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st.Mode(), err)
	}
	b, _ := os.ReadFile(path)
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		t.Fatalf("not PEM PRIVATE KEY:\n%s", b)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if pub := parsed.(ed25519.PrivateKey).Public().(ed25519.PublicKey); !pub.Equal(k.PublicKey) || Fingerprint(pub) != k.Fingerprint {
		t.Error("stored public key is not the file's")
	}
	active, err := e.s.ActiveKey(e.ctx, "alice")
	if err != nil || active.Fingerprint != k.Fingerprint {
		t.Fatalf("active key: %v %v", active, err)
	}

	cases := []struct {
		name, who, dir string
		replace        bool
		msg            string
	}{
		{"second key", "alice", e.keyDir, false, "already has an active key"},
		{"replace onto an existing file", "alice", e.keyDir, true, "never overwritten"},
		{"viewer", "vera", e.keyDir, false, "may not key.create"},
		{"agent", "agent:heuristic", e.keyDir, false, "agents cannot hold signing keys"},
		{"unknown", "nobody", e.keyDir, false, "holds no role"},
		{"no dir", "root", "", false, "no key directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := e.s.CreateKey(e.ctx, c.who, c.dir, c.replace); err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want %q", err, c.msg)
			}
		})
	}
	// A refused replace left alice's key and file alone.
	if b2, _ := os.ReadFile(path); !bytes.Equal(b, b2) {
		t.Error("the existing key file changed")
	}
	if a, _ := e.s.ActiveKey(e.ctx, "alice"); a.Fingerprint != k.Fingerprint {
		t.Error("a refused replace retired the key")
	}
	// Replace into another directory: the old key is retired, not removed.
	dir2 := filepath.Join(t.TempDir(), "new")
	k2, _, err := e.s.CreateKey(e.ctx, "alice", dir2, true)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := e.s.Keys(e.ctx)
	if err != nil || len(keys) != 2 || keys[0].RetiredAt == nil || keys[1].Fingerprint != k2.Fingerprint || keys[1].RetiredAt != nil {
		t.Fatalf("keys after replace: %+v %v", keys, err)
	}

	// A key others can read is refused.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPrivateKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("0644 key: %v", err)
	}
	if _, err := LoadPrivateKey(filepath.Join(e.keyDir, "nope.ed25519")); err == nil || !strings.Contains(err.Error(), "keys create") {
		t.Errorf("missing key: %v", err)
	}
	if got := e.actions(); slices.Index(got, "key.create") < 0 {
		t.Errorf("key.create not audited: %v", got)
	}
}

func TestPropose(t *testing.T) { eachBackend(t, testPropose) }

func testPropose(t *testing.T, be backend) {
	e := newEnv(t, be).people()
	spec := baseSpec(t)

	p := e.propose(spec, "")
	if p.Author != "agent:heuristic" || p.AuthorKind != audit.ActorAgent || p.Integration != "keyring-test" || p.Status != StatusOpen ||
		p.SpecDigest != digest([]byte(spec)) || p.BaseRelease != nil {
		t.Fatalf("agent proposal: %+v", p)
	}
	got, err := e.s.Proposal(e.ctx, p.ID)
	if err != nil || !bytes.Equal(got.Spec, []byte(spec)) || got.Author != p.Author {
		t.Fatalf("stored proposal: %+v %v", got, err)
	}
	p2 := e.propose(mappingOnly(t, spec), "alice")
	if p2.AuthorKind != audit.ActorPerson {
		t.Errorf("person proposal: %+v", p2)
	}
	// A person may propose a hand-edited spec with no report; the review
	// says it was never validated.
	hand, err := e.s.Propose(e.ctx, ProposeInput{Spec: []byte(credentialChange(t, spec)), Author: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := e.s.Review(e.ctx, hand.ID); err != nil || r.Validation.Passed || !strings.Contains(r.Validation.Reason, "not validated") {
		t.Errorf("unvalidated proposal: %+v %v", r.Validation, err)
	}

	noBrain := []byte(`{"passed": true}`)
	cases := []struct {
		name   string
		in     ProposeInput
		rule   string
		msg    string
		status int
	}{
		{"duplicate open", ProposeInput{Spec: []byte(spec), Report: reportFor(t, spec)}, RuleDuplicate, "already proposes this exact spec", 0},
		{"edited after build", ProposeInput{Spec: []byte(headerChange(t, spec)), Report: reportFor(t, spec)}, RuleBundle, "edited after the build", 0},
		{"lint fails", ProposeInput{Spec: []byte(edit(t, spec, "method: GET", "method: DELETE")), Report: noBrain, Author: "alice"}, RuleBundle, "does not pass the lint", 0},
		{"not a spec", ProposeInput{Spec: []byte("hello: [\n"), Report: noBrain, Author: "alice"}, RuleBundle, "lint", 0},
		{"empty spec", ProposeInput{Report: noBrain, Author: "alice"}, RuleBundle, "empty", 0},
		{"report not JSON", ProposeInput{Spec: []byte(spec), Report: []byte("nope")}, RuleBundle, "not a build report", 0},
		{"no brain, no author", ProposeInput{Spec: []byte(headerChange(t, spec)), Report: noBrain}, RuleBundle, "pass --as NAME", 0},
		{"viewer", ProposeInput{Spec: []byte(headerChange(t, spec)), Report: noBrain, Author: "vera"}, RuleRole, "may not proposal.create", 0},
		{"unknown person", ProposeInput{Spec: []byte(headerChange(t, spec)), Report: noBrain, Author: "mallory"}, RuleRole, "holds no role", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.s.Propose(e.ctx, c.in)
			if !IsRefused(err, c.rule) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want a %s refusal containing %q", err, c.rule, c.msg)
			}
		})
	}
	if n := e.count("proposals"); n != 3 {
		t.Errorf("%d proposals stored, want 3", n)
	}
	// Releasing the first supersedes the second; proposing the released
	// spec again is refused.
	e.mustApprove(p.ID, "alice")
	d := e.mustApprove(p.ID, "bob")
	if d.Release == nil || !slices.Equal(d.Superseded, []int64{p2.ID, hand.ID}) {
		t.Fatalf("release: %+v", d)
	}
	if _, err := e.s.Propose(e.ctx, ProposeInput{Spec: []byte(spec), Report: reportFor(t, spec)}); !IsRefused(err, RuleDuplicate) || !strings.Contains(err.Error(), "already release") {
		t.Errorf("re-proposing the release: %v", err)
	}
	p3 := e.propose(mappingOnly(t, spec), "alice")
	if p3.BaseRelease == nil || *p3.BaseRelease != d.Release.ID {
		t.Errorf("new proposal's base: %+v", p3)
	}
	open, err := e.s.Proposals(e.ctx, StatusOpen)
	if err != nil || len(open) != 1 || open[0].ID != p3.ID {
		t.Errorf("open queue: %+v %v", open, err)
	}
}

func TestApprovalRules(t *testing.T) { eachBackend(t, testApprovalRules) }

func testApprovalRules(t *testing.T, be backend) {
	spec := baseSpec(t)
	cases := []struct {
		name string
		// prepare returns the proposal to decide on.
		prepare  func(e *env) *Proposal
		who      string
		key      func(e *env) ed25519.PrivateKey // default: who's key
		digest   string
		reject   string
		rule     string
		msg      string
		released bool
	}{
		{name: "author cannot approve", prepare: func(e *env) *Proposal { return e.propose(spec, "alice") }, who: "alice",
			rule: RuleAuthor, msg: "alice wrote proposal 1 and cannot approve it; ask another approver"},
		{name: "agent cannot approve", prepare: func(e *env) *Proposal { return e.propose(spec, "") }, who: "agent:heuristic",
			key: func(e *env) ed25519.PrivateKey { return e.keys["alice"] }, rule: RuleRole, msg: "may not proposal.approve"},
		{name: "agent cannot reject", prepare: func(e *env) *Proposal { return e.propose(spec, "") }, who: "agent:heuristic", reject: "no",
			key: func(e *env) ed25519.PrivateKey { return e.keys["alice"] }, rule: RuleRole, msg: "may not proposal.reject"},
		{name: "operator cannot approve", prepare: func(e *env) *Proposal { return e.propose(spec, "") }, who: "oscar",
			rule: RuleRole, msg: "may not proposal.approve"},
		{name: "viewer cannot reject", prepare: func(e *env) *Proposal { return e.propose(spec, "") }, who: "vera", reject: "no",
			key: func(e *env) ed25519.PrivateKey { return e.keys["alice"] }, rule: RuleRole, msg: "may not proposal.reject"},
		{name: "approval binds the reviewed digest", prepare: func(e *env) *Proposal { return e.propose(spec, "") }, who: "alice",
			digest: strings.Repeat("ab", 32), rule: RuleDigest, msg: "not the ababababab"},
		{name: "someone else's key", prepare: func(e *env) *Proposal { return e.propose(spec, "") }, who: "alice",
			key: func(e *env) ed25519.PrivateKey { return e.keys["bob"] }, rule: RuleSignature, msg: "not alice's registered key"},
		{name: "no key stored", prepare: func(e *env) *Proposal { e.grant("root", "dave", RoleApprover); return e.propose(spec, "") }, who: "dave",
			key: func(e *env) ed25519.PrivateKey { return e.keys["alice"] }, rule: RuleSignature, msg: "dave has no signing key"},
		{name: "no key given", prepare: func(e *env) *Proposal { return e.propose(spec, "") }, who: "alice",
			key: func(e *env) ed25519.PrivateKey { return nil }, rule: RuleSignature, msg: "keys create alice"},
		{name: "rejected cannot be approved", prepare: func(e *env) *Proposal {
			p := e.propose(spec, "")
			if _, err := e.s.Reject(e.ctx, DecideInput{ProposalID: p.ID, Approver: "carol", Key: e.keys["carol"], Reason: "wrong header"}); err != nil {
				e.t.Fatal(err)
			}
			return p
		}, who: "alice", rule: RuleState, msg: "rejected by carol (wrong header)"},
		{name: "same person twice", prepare: func(e *env) *Proposal {
			p := e.propose(spec, "")
			e.mustApprove(p.ID, "alice")
			return p
		}, who: "alice", rule: RuleState, msg: "alice already decided on proposal 1"},
		{name: "reject after approving", prepare: func(e *env) *Proposal {
			p := e.propose(spec, "")
			e.mustApprove(p.ID, "alice")
			return p
		}, who: "alice", reject: "changed my mind", rule: RuleState, msg: "already decided"},
		{name: "released cannot be approved again", prepare: func(e *env) *Proposal {
			p := e.propose(spec, "")
			e.mustApprove(p.ID, "alice")
			e.mustApprove(p.ID, "bob")
			return p
		}, who: "carol", rule: RuleState, msg: "already released"},
		{name: "rejection needs a reason", prepare: func(e *env) *Proposal { return e.propose(spec, "") }, who: "alice", reject: " ",
			rule: RuleState, msg: "needs a reason"},
		{name: "author may withdraw", prepare: func(e *env) *Proposal { return e.propose(spec, "alice") }, who: "alice", reject: "withdrawn"},
		{name: "agent-authored approved by a person", prepare: func(e *env) *Proposal { return e.propose(spec, "") }, who: "alice"},
		{name: "admin approves", prepare: func(e *env) *Proposal { return e.propose(spec, "alice") }, who: "root"},
		{name: "unknown proposal", prepare: func(e *env) *Proposal { return &Proposal{ID: 42} }, who: "alice", msg: "no proposal 42"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, be).people()
			p := c.prepare(e)
			before := e.count("approvals")
			in := DecideInput{ProposalID: p.ID, Approver: c.who, Key: e.keys[c.who], Digest: c.digest, Reason: c.reject}
			if c.key != nil {
				in.Key = c.key(e)
			}
			var err error
			if c.reject != "" {
				_, err = e.s.Reject(e.ctx, in)
			} else {
				_, err = e.s.Approve(e.ctx, in)
			}
			if c.msg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if e.count("approvals") != before+1 {
					t.Error("decision not recorded")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.msg) || (c.rule != "" && !IsRefused(err, c.rule)) {
				t.Fatalf("got %v, want a %q refusal containing %q", err, c.rule, c.msg)
			}
			if e.count("approvals") != before {
				t.Error("a refused decision was recorded")
			}
		})
	}
}

// The two-approver rule: a change of auth, scopes, hosts or write method
// needs two distinct approvers; a mapping-only change needs one.
func TestRequiredApprovals(t *testing.T) { eachBackend(t, testRequiredApprovals) }

func testRequiredApprovals(t *testing.T, be backend) {
	cases := []struct {
		name     string
		change   func(*testing.T, string) string
		required int
		kind     string
	}{
		{"mapping only", mappingOnly, 1, ""},
		{"auth header", headerChange, 2, RiskAuth},
		{"auth prefix", prefixChange, 2, RiskAuth},
		{"credential reference", credentialChange, 2, RiskAuth},
		{"new scope", scopeChange, 2, RiskScopes},
		{"new host", hostChange, 2, RiskHosts},
		{"write method", writeMethod, 2, RiskWrite},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, be).people()
			base := baseSpec(t)
			first := e.release(base)
			if first.Required != 2 || !first.Risk.NewIntegration {
				t.Errorf("a new integration needs two approvers: %+v", first)
			}
			p := e.propose(c.change(t, base), "carol")
			r, err := e.s.Review(e.ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if r.Risk.Required != c.required || r.Needed != c.required {
				t.Fatalf("review: required %d, needed %d, want %d: %+v", r.Risk.Required, r.Needed, c.required, r.Risk)
			}
			if c.kind != "" && (len(r.Risk.Items) == 0 || r.Risk.Items[0].Kind != c.kind) {
				t.Errorf("risk items %+v, want kind %s", r.Risk.Items, c.kind)
			}
			d := e.mustApprove(p.ID, "alice")
			if (d.Release != nil) != (c.required == 1) {
				t.Fatalf("after one approval: release %v, required %d", d.Release, c.required)
			}
			if c.required == 2 {
				if d.Approvals != 1 || d.Required != 2 {
					t.Errorf("decided: %+v", d)
				}
				d = e.mustApprove(p.ID, "bob")
				if d.Release == nil || !slices.Equal(d.Release.Approvers, []string{"alice", "bob"}) {
					t.Fatalf("after two approvals: %+v", d.Release)
				}
			}
			if d.Release.Previous == nil || *d.Release.Previous != first.ID || d.Release.Required != c.required {
				t.Errorf("release: %+v", d.Release)
			}
			cur, err := e.s.Current(e.ctx, "keyring-test")
			if err != nil || cur.ID != d.Release.ID || cur.SpecDigest != p.SpecDigest {
				t.Errorf("current: %+v %v", cur, err)
			}
			if v, err := e.s.Verify(e.ctx, "keyring-test"); err != nil || !v.OK {
				t.Errorf("verify: %+v %v", v, err)
			}
		})
	}
}

func TestAssess(t *testing.T) {
	base := baseSpec(t)
	r, err := Assess(nil, []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	want := []RiskItem{{RiskAuth, "new auth: api_key, header X-Api-Token, credential keyring-test-credential"}, {RiskHosts, "new host api.keyring.test"}}
	if !r.NewIntegration || r.Required != 2 || !slices.Equal(r.Items, want) {
		t.Errorf("new integration: %+v", r)
	}
	// Writing out a default, or a no-op, changes nothing.
	same := edit(t, base, "    in: header\n", "")
	if r, err := Assess([]byte(base), []byte(same)); err != nil || len(r.Items) != 0 || r.Required != 1 {
		t.Errorf("default in: %+v %v", r, err)
	}
	// Removing a scope is not a risk; adding one is.
	scoped := scopeChange(t, base)
	if r, _ := Assess([]byte(scoped), []byte(base)); len(r.Items) != 0 {
		t.Errorf("dropping a scope: %+v", r)
	}
	w := writeMethod(t, base)
	r, _ = Assess([]byte(w), []byte(mappingOnly(t, w)))
	if len(r.Items) != 0 || len(r.Writes) != 1 || r.Required != 1 {
		t.Errorf("an existing read_only POST, unchanged: %+v", r)
	}
	oauth := edit(t, base, "    type: api_key\n    in: header\n    name: X-Api-Token\n",
		"    type: oauth2_client_credentials\n    client_id: abc\n    token_url: https://login.keyring.test/oauth/token\n")
	r, err = Assess([]byte(base), []byte(oauth))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, it := range r.Items {
		kinds = append(kinds, it.Kind)
	}
	if !slices.Contains(kinds, RiskAuth) || !slices.Contains(kinds, RiskHosts) || !strings.Contains(r.Items[len(r.Items)-1].What, "login.keyring.test") {
		t.Errorf("token_url on another host: %+v", r)
	}
	if _, err := Assess(nil, []byte("x: [")); err == nil {
		t.Error("a broken spec assessed")
	}
}

func TestReview(t *testing.T) { eachBackend(t, testReview) }

func testReview(t *testing.T, be backend) {
	e := newEnv(t, be).people()
	base := baseSpec(t)
	p := e.propose(base, "")
	r, err := e.s.Review(e.ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Base != nil || r.Diff != "" || !r.Risk.NewIntegration || r.Spec != base {
		t.Errorf("new integration review: base %v diff %q", r.Base, r.Diff)
	}
	if !r.Validation.Passed || r.Validation.Checks == 0 || len(r.Validation.Failed) != 0 || r.Validation.Brain != "heuristic" {
		t.Errorf("validation: %+v", r.Validation)
	}
	if !slices.Equal(r.Hosts, []string{"api.keyring.test"}) || r.Credential != "keyring-test-credential" || r.AuthType != "api_key" ||
		!slices.Equal(r.Streams, []string{"api_keys: GET /api_keys"}) {
		t.Errorf("facts: %+v", r)
	}
	if !strings.Contains(r.Summary(), "new integration") || !strings.Contains(r.Summary(), "risk: auth, hosts") {
		t.Errorf("summary %q", r.Summary())
	}
	e.mustApprove(p.ID, "alice")
	rel := e.mustApprove(p.ID, "bob").Release

	// A failing scorecard shows in the review; a change shows as a diff.
	changed := hostChange(t, base)
	rep := reportFor(t, changed)
	rep = bytes.Replace(rep, []byte(`"status":"pass"`), []byte(`"status":"fail"`), 1)
	p2, err := e.s.Propose(e.ctx, ProposeInput{Spec: []byte(changed), Report: rep, Author: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	e.mustApprove(p2.ID, "alice")
	q, err := e.s.Queue(e.ctx)
	if err != nil || len(q) != 1 {
		t.Fatalf("queue: %v %v", q, err)
	}
	r = &q[0]
	if r.Base == nil || r.Base.ID != rel.ID || !strings.Contains(r.Diff, "-  base_url: 'https://api.keyring.test/v1'") ||
		!strings.Contains(r.Diff, "+  base_url: 'https://eu.api.keyring.test/v1'") || !strings.Contains(r.Diff, "--- release 1") {
		t.Errorf("diff:\n%s", r.Diff)
	}
	if len(r.Validation.Failed) != 1 || !strings.HasPrefix(r.Validation.Failed[0], "lint: ") {
		t.Errorf("failed checks: %v", r.Validation.Failed)
	}
	if r.Approvals != 1 || r.Needed != 1 || len(r.Decisions) != 1 || r.Decisions[0].Approver != "alice" {
		t.Errorf("decisions: %+v", r)
	}
	if len(r.Risk.Items) != 1 || r.Risk.Items[0].What != "new host eu.api.keyring.test" {
		t.Errorf("risk: %+v", r.Risk)
	}
}

func TestSupersede(t *testing.T) { eachBackend(t, testSupersede) }

func testSupersede(t *testing.T, be backend) {
	e := newEnv(t, be).people()
	base := baseSpec(t)
	e.release(base)
	a := e.propose(mappingOnly(t, base), "carol")
	b := e.propose(headerChange(t, base), "carol")
	e.mustApprove(b.ID, "alice") // one of two
	d := e.mustApprove(a.ID, "alice")
	if d.Release == nil || !slices.Equal(d.Superseded, []int64{b.ID}) {
		t.Fatalf("decided: %+v", d)
	}
	// b was reviewed against the release a replaced: it cannot complete.
	if _, err := e.approve(b.ID, "bob"); !IsRefused(err, RuleSuperseded) || !strings.Contains(err.Error(), "propose it again") {
		t.Errorf("approving a superseded proposal: %v", err)
	}
	got, _ := e.s.Proposal(e.ctx, b.ID)
	if got.Status != StatusSuperseded || !strings.Contains(got.Reason, "release 2") {
		t.Errorf("superseded: %+v", got)
	}
	if !slices.Contains(e.actions(), "proposal.supersede") {
		t.Error("supersede not audited")
	}
	// Proposed again, it is reviewed against the new release.
	b2 := e.propose(headerChange(t, mappingOnly(t, base)), "carol")
	if b2.BaseRelease == nil || *b2.BaseRelease != d.Release.ID {
		t.Errorf("re-proposal base: %+v", b2)
	}
}

// An approval that completes a release is one transaction: a failure at
// any step after the approval's insert leaves nothing behind.
func TestCrashMidApproval(t *testing.T) { eachBackend(t, testCrashMidApproval) }

func testCrashMidApproval(t *testing.T, be backend) {
	for _, step := range []string{"approval", "release-linked", "release"} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, be).people()
			p := e.propose(mappingOnly(t, baseSpec(t)), "carol") // a new integration: two approvals
			e.mustApprove(p.ID, "alice")
			approvals, audits := e.count("approvals"), e.count("audit_log")
			boom := errors.New("power cut")
			e.s.failAt = func(s string) error {
				if s == step {
					return boom
				}
				return nil
			}
			if _, err := e.approve(p.ID, "bob"); !errors.Is(err, boom) {
				t.Fatalf("approve: %v", err)
			}
			if e.count("approvals") != approvals || e.count("releases") != 0 || e.count("release_approvals") != 0 || e.count("audit_log") != audits {
				t.Fatalf("half an approval committed: approvals %d→%d, releases %d, audit %d→%d", approvals, e.count("approvals"),
					e.count("releases"), audits, e.count("audit_log"))
			}
			if got, _ := e.s.Proposal(e.ctx, p.ID); got.Status != StatusOpen {
				t.Errorf("status %s", got.Status)
			}
			// Nothing was half-done, so the same approval succeeds after.
			e.s.failAt = nil
			if d := e.mustApprove(p.ID, "bob"); d.Release == nil {
				t.Fatal("no release after the retry")
			}
			if v, _ := e.s.Verify(e.ctx, "keyring-test"); !v.OK {
				t.Errorf("verify: %+v", v)
			}
			if rep, err := e.log.Verify(e.ctx); err != nil || !rep.OK {
				t.Errorf("audit verify: %+v %v", rep, err)
			}
		})
	}
}

func TestConcurrentApprovals(t *testing.T) { eachBackend(t, testConcurrentApprovals) }

func testConcurrentApprovals(t *testing.T, be backend) {
	// Each approver decides through a handle of their own on the database,
	// as two processes would: only the store's write serialisation keeps
	// them from both seeing one approval and both releasing, or neither.
	for i := range 5 {
		e := newEnv(t, be).people()
		other := e.second()
		p := e.propose(baseSpec(t), "") // two approvals needed
		errs := make(chan error, 2)
		for _, who := range []string{"alice", "bob"} {
			s := e.s
			if who == "bob" {
				s = other
			}
			go func() {
				_, err := s.Approve(e.ctx, DecideInput{ProposalID: p.ID, Approver: who, Key: e.keys[who]})
				errs <- err
			}()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
		}
		if e.count("releases") != 1 || e.count("approvals") != 2 || e.count("release_approvals") != 2 {
			t.Fatalf("round %d: releases %d approvals %d links %d", i, e.count("releases"), e.count("approvals"), e.count("release_approvals"))
		}
		if v, _ := e.s.Verify(e.ctx, "keyring-test"); !v.OK {
			t.Errorf("verify: %+v", v)
		}
	}

	// One person approving twice at once: one decision, one refusal.
	e := newEnv(t, be).people()
	p := e.propose(baseSpec(t), "")
	errs := make(chan error, 2)
	for _, s := range []*Service{e.s, e.second()} {
		go func() {
			_, err := s.Approve(e.ctx, DecideInput{ProposalID: p.ID, Approver: "alice", Key: e.keys["alice"]})
			errs <- err
		}()
	}
	var refused int
	for range 2 {
		if err := <-errs; IsRefused(err, RuleState) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if refused != 1 || e.count("approvals") != 1 || e.count("releases") != 0 {
		t.Errorf("same person twice: refused %d, approvals %d, releases %d", refused, e.count("approvals"), e.count("releases"))
	}
}

// The database refuses to rewrite history even before Verify is asked.
func TestTriggersGuardHistory(t *testing.T) { eachBackend(t, testTriggersGuardHistory) }

func testTriggersGuardHistory(t *testing.T, be backend) {
	e := newEnv(t, be).people()
	e.release(baseSpec(t))
	for _, c := range []struct{ q, want, only string }{
		{`UPDATE proposals SET spec_text = 'x' WHERE id = 1`, "proposals are immutable", ""},
		{`UPDATE proposals SET status = 'open' WHERE id = 1`, "proposals are immutable", ""},
		{`DELETE FROM proposals`, "proposals cannot be deleted", ""},
		{`UPDATE approvals SET approver = 'mallory'`, "cannot be changed", ""},
		{`DELETE FROM approvals`, "cannot be deleted", ""},
		{`UPDATE releases SET spec_digest = 'x'`, "cannot be changed", ""},
		{`DELETE FROM releases`, "cannot be deleted", ""},
		{`DELETE FROM release_approvals`, "cannot be deleted", ""},
		{`UPDATE signing_keys SET public_key = 'x'`, "can only be retired", ""},
		{`DELETE FROM signing_keys`, "cannot be deleted", ""},
		// TRUNCATE skips PostgreSQL's row triggers; statement triggers guard it.
		{`TRUNCATE release_approvals`, "cannot be deleted", "postgres"},
		{`TRUNCATE proposals, approvals, releases, release_approvals, signing_keys CASCADE`, "cannot be deleted", "postgres"},
	} {
		if c.only != "" && c.only != be.Name {
			continue
		}
		if _, err := e.db.ExecContext(e.ctx, c.q); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", c.q, err, c.want)
		}
	}
	if e.count("proposals") != 1 || e.count("approvals") != 2 || e.count("releases") != 1 || e.count("release_approvals") != 2 || e.count("signing_keys") != 5 {
		t.Errorf("history changed: proposals %d, approvals %d, releases %d, links %d, keys %d",
			e.count("proposals"), e.count("approvals"), e.count("releases"), e.count("release_approvals"), e.count("signing_keys"))
	}
}

func TestAudited(t *testing.T) { eachBackend(t, testAudited) }

func testAudited(t *testing.T, be backend) {
	e := newEnv(t, be).people()
	base := baseSpec(t)
	e.release(base)
	p := e.propose(headerChange(t, base), "carol")
	if _, err := e.s.Reject(e.ctx, DecideInput{ProposalID: p.ID, Approver: "bob", Key: e.keys["bob"], Reason: "header is wrong"}); err != nil {
		t.Fatal(err)
	}
	got := e.actions()
	for _, a := range []string{"role.grant", "key.create", "proposal.create", "proposal.approve", "release.create", "proposal.reject"} {
		if !slices.Contains(got, a) {
			t.Errorf("%s not audited: %v", a, got)
		}
	}
	es, _ := e.log.List(e.ctx, audit.Filter{Action: "proposal.create"})
	if es[0].Actor.Kind != audit.ActorAgent || es[0].Actor.Name != "agent:heuristic" || es[1].Actor.Kind != audit.ActorPerson {
		t.Errorf("proposal.create actors: %+v", es)
	}
	for _, x := range es {
		if x.Boundary != audit.BoundaryNone {
			t.Errorf("boundary %q", x.Boundary)
		}
	}
	if rep, err := e.log.Verify(e.ctx); err != nil || !rep.OK {
		t.Errorf("audit verify: %+v %v", rep, err)
	}
}

func TestStatementMessage(t *testing.T) {
	st := Statement{ProposalID: 7, Integration: "okta", SpecDigest: "aa", Approver: "alice", Decision: DecisionApprove, Time: "2026-03-01T09:00:00.5Z"}
	want := "spindle-approval/v1\nproposal 7\nintegration okta\nspec-sha256 aa\nbase-sha256 none\napprover alice\ndecision approve\n" +
		"reason-sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\ntime 2026-03-01T09:00:00.5Z\n"
	if got := string(st.Message()); got != want {
		t.Errorf("message:\n%s\nwant:\n%s", got, want)
	}
	st.Approver = "alice\ndecision reject"
	if st.check() == nil {
		t.Error("a newline in a signed field is accepted")
	}
}

func TestNewNeedsAudit(t *testing.T) { eachBackend(t, testNewNeedsAudit) }

func testNewNeedsAudit(t *testing.T, be backend) {
	e := newEnv(t, be)
	if _, err := New(e.db, Options{}); err == nil || !strings.Contains(err.Error(), "audit") {
		t.Errorf("New without audit: %v", err)
	}
}

// TestReadTxIsOneSnapshot: Verify, Releases and Review read with several
// statements and must not see a change another process commits between
// two of them (PostgreSQL's default, READ COMMITTED, would: Verify would
// then report a release it half saw as tampering).
func TestReadTxIsOneSnapshot(t *testing.T) { eachBackend(t, testReadTxIsOneSnapshot) }

func testReadTxIsOneSnapshot(t *testing.T, be backend) {
	e := newEnv(t, be)
	e.grant("", "root", RoleAdmin)
	other := e.second()
	count := func(tx *sql.Tx) int {
		var n int
		if err := tx.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM principal_roles`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	err := e.s.readTx(e.ctx, func(tx *sql.Tx) error {
		before := count(tx)
		if _, err := other.Grant(e.ctx, "root", "alice", RoleApprover); err != nil {
			return err
		}
		if after := count(tx); after != before {
			t.Errorf("a read transaction saw a grant committed during it: %d roles, then %d", before, after)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.count("principal_roles") != 2 {
		t.Errorf("the grant did not commit: %d roles", e.count("principal_roles"))
	}
}
