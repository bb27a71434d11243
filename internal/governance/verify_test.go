package governance

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/agent"
)

// chain releases the fixture (alice and bob, two needed), then a
// mapping-only change (carol alone), and returns the env.
func chain(t *testing.T, be backend) *env {
	t.Helper()
	e := newEnv(t, be).people()
	base := baseSpec(t)
	e.release(base)
	p := e.propose(mappingOnly(t, base), "alice")
	if d := e.mustApprove(p.ID, "carol"); d.Release == nil || d.Release.Required != 1 {
		t.Fatalf("second release: %+v", d)
	}
	return e
}

func TestVerifyIntactChain(t *testing.T) { eachBackend(t, testVerifyIntactChain) }

func testVerifyIntactChain(t *testing.T, be backend) {
	e := chain(t, be)
	v, err := e.s.Verify(e.ctx, "keyring-test")
	if err != nil || !v.OK || len(v.Releases) != 2 {
		t.Fatalf("verify: %+v %v", v, err)
	}
	r1, r2 := v.Releases[0], v.Releases[1]
	if r1.Required != 2 || strings.Join(r1.Approvers, ",") != "alice,bob" || r1.Author != "agent:heuristic" || len(r1.Keys) != 2 {
		t.Errorf("release 1: %+v", r1)
	}
	if r2.Required != 1 || strings.Join(r2.Approvers, ",") != "carol" || r2.Author != "alice" || len(r2.Risk) != 0 {
		t.Errorf("release 2: %+v", r2)
	}
	rs, err := e.s.ReleasedSpec(e.ctx, "keyring-test")
	if err != nil || rs.Release.ID != 2 || !bytes.Equal(rs.Spec, []byte(mappingOnly(t, baseSpec(t)))) {
		t.Fatalf("released spec: %+v %v", rs, err)
	}
	if v, _ := e.s.Verify(e.ctx, "nothing"); v.OK || !strings.Contains(v.Problems[0], "no release") {
		t.Errorf("unknown integration: %+v", v)
	}
	if _, err := e.s.ReleasedSpec(e.ctx, "nothing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("released spec of nothing: %v", err)
	}
}

// Any edit of the stored history, made by someone who dropped the
// triggers, fails verification and names what is wrong.
func TestVerifyDetectsTampering(t *testing.T) { eachBackend(t, testVerifyDetectsTampering) }

func testVerifyDetectsTampering(t *testing.T, be backend) {
	otherKey := func(e *env) string {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		return hex.EncodeToString(pub)
	}
	cases := []struct {
		name   string
		tamper func(e *env)
		want   string
	}{
		{"spec text edited", func(e *env) {
			// Edited in Go: the text functions differ between databases.
			var spec []byte
			if err := e.db.QueryRow(`SELECT spec_text FROM proposals WHERE id = 1`).Scan(&spec); err != nil {
				e.t.Fatal(err)
			}
			e.exec(`UPDATE proposals SET spec_text = ? WHERE id = 1`, bytes.Replace(spec, []byte("X-Api-Token"), []byte("X-Evil"), 1))
		}, "release 1: the stored spec text hashes to"},
		{"spec text and both digests edited", func(e *env) {
			spec := []byte(headerChange(e.t, baseSpec(e.t)))
			d := digest(spec)
			e.exec(`UPDATE proposals SET spec_text = ?, spec_digest = ? WHERE id = 1`, spec, d)
			e.exec(`UPDATE releases SET spec_digest = ? WHERE id = 1`, d)
		}, "release 1: approval 1 by alice: approved digest"},
		{"approvals' digests edited too", func(e *env) {
			spec := []byte(headerChange(e.t, baseSpec(e.t)))
			d := digest(spec)
			e.exec(`UPDATE proposals SET spec_text = ?, spec_digest = ? WHERE id = 1`, spec, d)
			e.exec(`UPDATE releases SET spec_digest = ? WHERE id = 1`, d)
			e.exec(`UPDATE approvals SET spec_digest = ? WHERE proposal_id = 1`, d)
		}, "signature does not verify"},
		{"release digest edited", func(e *env) {
			e.exec(`UPDATE releases SET spec_digest = ? WHERE id = 2`, strings.Repeat("0", 64))
		}, "release 2: its proposal 2 records digest"},
		{"signature byte flipped", func(e *env) {
			var sig string
			e.db.QueryRow(`SELECT signature FROM approvals WHERE id = 3`).Scan(&sig)
			b := []byte(sig)
			if b[5] == 'A' {
				b[5] = 'B'
			} else {
				b[5] = 'A'
			}
			e.exec(`UPDATE approvals SET signature = ? WHERE id = 3`, string(b))
		}, "release 2: approval 3 by carol: the signature does not verify"},
		{"approver renamed", func(e *env) {
			e.exec(`UPDATE approvals SET approver = 'mallory' WHERE id = 2`)
		}, "approval 2 by mallory: its key"},
		{"approver renamed with the key", func(e *env) {
			e.exec(`UPDATE approvals SET approver = 'dave' WHERE id = 2`)
			e.exec(`UPDATE signing_keys SET principal = 'dave' WHERE principal = 'bob'`)
		}, "approval 2 by dave: the signature does not verify"},
		{"approval deleted", func(e *env) {
			e.exec(`DELETE FROM release_approvals WHERE approval_id = 2`)
			e.exec(`DELETE FROM approvals WHERE id = 2`)
		}, "release 1: has 1 valid approval(s); its changes need 2 distinct approvers"},
		{"approval deleted, link kept", func(e *env) {
			e.b.DropForeignKey(e.t, e.db, "release_approvals", "approval_id")
			e.exec(`DELETE FROM approvals WHERE id = 3`)
		}, "release 2: references approval 3, which is missing"},
		{"required count lowered with an approval removed", func(e *env) {
			e.exec(`UPDATE releases SET required_approvals = 1 WHERE id = 1`)
			e.exec(`DELETE FROM release_approvals WHERE approval_id = 2`)
		}, "release 1: records 1 required approval(s), but its changes need 2"},
		{"author made an approver", func(e *env) {
			e.exec(`UPDATE proposals SET author = 'carol' WHERE id = 2`)
		}, "approval 3 by carol: carol wrote the proposal and cannot approve it"},
		{"public key swapped", func(e *env) {
			e.exec(`UPDATE signing_keys SET public_key = ? WHERE principal = 'carol'`, otherKey(e))
		}, "approval 3 by carol: the stored public key does not match its fingerprint"},
		{"time re-signed away", func(e *env) {
			e.exec(`UPDATE approvals SET signed_at = '2030-01-01T00:00:00Z' WHERE id = 3`)
		}, "approval 3 by carol: the signature does not verify"},
		{"release re-pointed at another proposal", func(e *env) {
			spec := []byte(headerChange(e.t, baseSpec(e.t)))
			e.exec(`INSERT INTO proposals (id, integration, spec_text, spec_digest, report_json, author, author_kind, created_at, status)
				VALUES (10, 'keyring-test', ?, ?, '{}', 'mallory', 'person', 1, 'released')`, spec, digest(spec))
			e.exec(`UPDATE releases SET proposal_id = 10, spec_digest = ? WHERE id = 2`, digest(spec))
		}, "release 2: approval 3 by carol: is for proposal 2, not the released proposal 10"},
		{"latest release deleted", func(e *env) {
			e.exec(`DELETE FROM release_approvals WHERE release_id = 2`)
			e.exec(`DELETE FROM releases WHERE id = 2`)
		}, "proposal 2 is marked released (release:2) but no release references it"},
		{"chain re-linked", func(e *env) {
			e.exec(`UPDATE releases SET previous_release = 2 WHERE id = 2`)
		}, "release 2: does not follow release 1"},
		{"forged approval in place of another", func(e *env) {
			e.exec(`DELETE FROM release_approvals WHERE approval_id = 2`)
			e.exec(`INSERT INTO approvals (id, proposal_id, approver, decision, reason, spec_digest, base_digest, signed_at, key_fingerprint, signature)
				SELECT 10, proposal_id, 'carol', decision, reason, spec_digest, base_digest, signed_at,
				       (SELECT fingerprint FROM signing_keys WHERE principal = 'carol'), signature FROM approvals WHERE id = 1`)
			e.exec(`INSERT INTO release_approvals (release_id, approval_id) VALUES (1, 10)`)
		}, "release 1: approval 10 by carol: the signature does not verify"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := chain(t, be)
			if v, _ := e.s.Verify(e.ctx, "keyring-test"); !v.OK {
				t.Fatalf("not OK before tampering: %+v", v)
			}
			e.dropGuards()
			c.tamper(e)
			v, err := e.s.Verify(e.ctx, "keyring-test")
			if err != nil {
				t.Fatal(err)
			}
			all := joinProblems(v)
			if v.OK || !strings.Contains(all, c.want) {
				t.Fatalf("verify OK=%v, problems:\n  %s\nwant one containing %q", v.OK, all, c.want)
			}
			// Production refuses to run anything of a chain that fails.
			if _, err := e.s.ReleasedSpec(e.ctx, "keyring-test"); err == nil || !strings.Contains(err.Error(), "does not verify") {
				t.Errorf("released spec of a tampered chain: %v", err)
			}
		})
	}
}

// The whole path on a real build bundle: the heuristic brain builds the
// agent's test doc, the agent proposes it, two people approve, and the
// chain verifies.
func TestBuildBundleToRelease(t *testing.T) { eachBackend(t, testBuildBundleToRelease) }

func testBuildBundleToRelease(t *testing.T, be backend) {
	out, err := agent.Build(t.Context(), agent.Config{Doc: "../agent/testdata/keys.yaml", Brain: &agent.Heuristic{}})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "bundle")
	if err := out.WriteBundle(dir); err != nil {
		t.Fatal(err)
	}
	in, err := ReadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, be).people()
	p, err := e.s.Propose(e.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if p.Author != "agent:heuristic" || p.SpecDigest != digest(out.SpecYAML) {
		t.Fatalf("proposal %+v", p)
	}
	r, err := e.s.Review(e.ctx, p.ID)
	if err != nil || !r.Validation.Passed || r.Needed != 2 {
		t.Fatalf("review: %+v %v", r, err)
	}
	e.mustApprove(p.ID, "alice")
	d := e.mustApprove(p.ID, "bob")
	if d.Release == nil || d.Release.SpecDigest != p.SpecDigest {
		t.Fatalf("release: %+v", d)
	}
	rs, err := e.s.ReleasedSpec(e.ctx, p.Integration)
	if err != nil || !bytes.Equal(rs.Spec, out.SpecYAML) {
		t.Fatalf("released spec: %v", err)
	}
	if _, err := ReadBundle(t.TempDir()); err == nil || !strings.Contains(err.Error(), "spindle build") {
		t.Errorf("empty dir as a bundle: %v", err)
	}
}
