package governance

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/audit"
)

// Decisions.
const (
	DecisionApprove = "approve"
	DecisionReject  = "reject"
)

// StatementVersion tags the canonical message; a change to its layout
// gets a new tag, and Verify keeps reading the old ones.
const StatementVersion = "spindle-approval/v1"

// Statement is what a person signs: their decision on one exact spec,
// replacing one exact release, at one time.
type Statement struct {
	ProposalID  int64  `json:"proposal_id"`
	Integration string `json:"integration"`
	SpecDigest  string `json:"spec_sha256"`
	// BaseDigest is the release the proposal replaces ("" for a new
	// integration): the diff the approver reviewed was against it.
	BaseDigest string `json:"base_sha256"`
	Approver   string `json:"approver"`
	Decision   string `json:"decision"`
	// Reason of a rejection; signed by its digest.
	Reason string `json:"reason,omitempty"`
	// Time is RFC 3339 with nanoseconds, UTC, exactly as signed.
	Time string `json:"time"`
}

// Message is the canonical byte string signed: one "key value" line per
// field in a fixed order. Values never hold a newline (names, digests and
// the integration name are restricted; the reason enters as its digest),
// so the layout is unambiguous and easy to re-create in any language.
func (st Statement) Message() []byte {
	base := st.BaseDigest
	if base == "" {
		base = "none"
	}
	var b bytes.Buffer
	b.WriteString(StatementVersion + "\n")
	fmt.Fprintf(&b, "proposal %d\n", st.ProposalID)
	fmt.Fprintf(&b, "integration %s\n", st.Integration)
	fmt.Fprintf(&b, "spec-sha256 %s\n", st.SpecDigest)
	fmt.Fprintf(&b, "base-sha256 %s\n", base)
	fmt.Fprintf(&b, "approver %s\n", st.Approver)
	fmt.Fprintf(&b, "decision %s\n", st.Decision)
	fmt.Fprintf(&b, "reason-sha256 %s\n", digest([]byte(st.Reason)))
	fmt.Fprintf(&b, "time %s\n", st.Time)
	return b.Bytes()
}

// check refuses a statement whose fields could make its message ambiguous.
func (st Statement) check() error {
	for _, f := range []string{st.Integration, st.SpecDigest, st.BaseDigest, st.Approver, st.Decision, st.Time} {
		if strings.ContainsAny(f, "\r\n") {
			return fmt.Errorf("a signed field holds a line break: %q", f)
		}
	}
	if st.Decision != DecisionApprove && st.Decision != DecisionReject {
		return fmt.Errorf("decision %q is neither approve nor reject", st.Decision)
	}
	return nil
}

// Approval is a recorded, signed decision.
type Approval struct {
	ID             int64  `json:"id"`
	Statement             // what was signed
	KeyFingerprint string `json:"key_fingerprint"`
	Signature      string `json:"signature"` // base64
}

// DecideInput is one person's decision on a proposal.
type DecideInput struct {
	ProposalID int64
	Approver   string
	// Key is the approver's private key; the decision is signed with it
	// and checked against their stored public key before it is recorded.
	Key ed25519.PrivateKey
	// Digest, when set, is the spec digest the approver reviewed; a
	// proposal with another digest is refused (what was reviewed is what
	// is approved).
	Digest string
	// Reason of a rejection (required there).
	Reason string
}

// Decided is the outcome of a decision.
type Decided struct {
	Approval  Approval `json:"approval"`
	Approvals int      `json:"approvals"` // approvals now recorded for the proposal
	Required  int      `json:"required_approvals"`
	Risk      Risk     `json:"risk"`
	Release   *Release `json:"release,omitempty"` // set when this approval completed the proposal
	// Superseded are the other open proposals of the integration that the
	// release closed.
	Superseded []int64 `json:"superseded,omitempty"`
}

// Approve records a signed approval. When it brings the proposal to the
// approvals its risk requires (two for auth, scope, host or write changes,
// else one), the release is created in the same transaction, the proposal
// is marked released and the integration's other open proposals are
// superseded: they were reviewed against a release that is no longer
// current, so each must be proposed again against the new one.
func (s *Service) Approve(ctx context.Context, in DecideInput) (*Decided, error) {
	return s.decide(ctx, in, DecisionApprove)
}

// Reject records a signed rejection with its reason and closes the
// proposal; a rejected proposal can never be approved. Any approver may
// reject, the author included (withdrawing one's own proposal is no risk).
func (s *Service) Reject(ctx context.Context, in DecideInput) (*Decided, error) {
	if strings.TrimSpace(in.Reason) == "" {
		return nil, refuse(RuleState, "a rejection needs a reason (--reason TEXT) so the author knows what to change")
	}
	return s.decide(ctx, in, DecisionReject)
}

func (s *Service) decide(ctx context.Context, in DecideInput, decision string) (*Decided, error) {
	if err := CheckName(in.Approver); err != nil {
		return nil, err
	}
	if len(in.Key) != ed25519.PrivateKeySize {
		return nil, refuse(RuleSignature, "no signing key for %s; create one with `spindle keys create %s`, or pass --key FILE", in.Approver, in.Approver)
	}
	action := ActionProposalApprove
	if decision == DecisionReject {
		action = ActionProposalReject
	}
	var out *Decided
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		p, err := proposalByID(ctx, tx, in.ProposalID)
		if err != nil {
			return err
		}
		if err := authorize(ctx, tx, in.Approver, action); err != nil {
			return err
		}
		if err := decidable(p, decision); err != nil {
			return err
		}
		if in.Digest != "" && in.Digest != p.SpecDigest {
			return refuse(RuleDigest, "proposal %d is spec %s, not the %s you reviewed; review it again with `spindle review %d`",
				p.ID, short(p.SpecDigest), short(in.Digest), p.ID)
		}
		if decision == DecisionApprove && in.Approver == p.Author {
			return refuse(RuleAuthor, "%s wrote proposal %d and cannot approve it; ask another approver", in.Approver, p.ID)
		}
		var prior string
		switch err := tx.QueryRowContext(ctx, `SELECT decision FROM approvals WHERE proposal_id = ? AND approver = ?`, p.ID, in.Approver).Scan(&prior); {
		case err == nil:
			return refuse(RuleState, "%s already decided on proposal %d (%s); each person decides once, so ask another approver", in.Approver, p.ID, prior)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		cur, err := currentRelease(ctx, tx, p.Integration)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if !sameRelease(cur, p.BaseRelease) {
			// Releases supersede every other open proposal, so this only
			// happens on a database edited by hand.
			return refuse(RuleSuperseded, "proposal %d was reviewed against another release than %s's current one; propose it again", p.ID, p.Integration)
		}
		base := []byte(nil)
		baseDigest := ""
		if cur != nil {
			bp, err := proposalByID(ctx, tx, cur.ProposalID)
			if err != nil {
				return err
			}
			base, baseDigest = bp.Spec, cur.SpecDigest
		}

		key, err := activeKey(ctx, tx, in.Approver)
		if errors.Is(err, ErrNotFound) {
			return refuse(RuleSignature, "%s has no signing key; create one with `spindle keys create %s`", in.Approver, in.Approver)
		}
		if err != nil {
			return err
		}
		if pub := in.Key.Public().(ed25519.PublicKey); !pub.Equal(key.PublicKey) {
			return refuse(RuleSignature, "the key given (%s) is not %s's registered key (%s); pass the right --key FILE", Fingerprint(pub), in.Approver, key.Fingerprint)
		}
		st := Statement{ProposalID: p.ID, Integration: p.Integration, SpecDigest: p.SpecDigest, BaseDigest: baseDigest,
			Approver: in.Approver, Decision: decision, Reason: in.Reason, Time: s.now().UTC().Format(time.RFC3339Nano)}
		if err := st.check(); err != nil {
			return err
		}
		sig := ed25519.Sign(in.Key, st.Message())
		// Verified against the stored key, not the one given: what is
		// recorded must be what Verify will accept.
		if !ed25519.Verify(key.PublicKey, st.Message(), sig) {
			return refuse(RuleSignature, "the signature of %s does not verify with their stored key %s", in.Approver, key.Fingerprint)
		}
		a := Approval{Statement: st, KeyFingerprint: key.Fingerprint, Signature: base64.StdEncoding.EncodeToString(sig)}
		// RETURNING rather than LastInsertId, which PostgreSQL's driver lacks.
		if err := tx.QueryRowContext(ctx, `INSERT INTO approvals (proposal_id, approver, decision, reason, spec_digest, base_digest, signed_at, key_fingerprint, signature)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, p.ID, st.Approver, st.Decision, st.Reason, st.SpecDigest, st.BaseDigest, st.Time, a.KeyFingerprint, a.Signature).Scan(&a.ID); err != nil {
			return fmt.Errorf("governance: record the decision: %w", err)
		}
		if err := s.fail("approval"); err != nil {
			return err
		}
		risk, err := Assess(base, p.Spec)
		if err != nil {
			return fmt.Errorf("governance: assess proposal %d: %w", p.ID, err)
		}
		out = &Decided{Approval: a, Required: risk.Required, Risk: risk}
		actor := audit.Actor{Kind: audit.ActorPerson, Name: in.Approver}
		if decision == DecisionReject {
			if _, err := tx.ExecContext(ctx, `UPDATE proposals SET status = 'rejected', closed_at = ?, closed_by = ?, reason = ? WHERE id = ?`,
				s.nowNanos(), in.Approver, in.Reason, p.ID); err != nil {
				return fmt.Errorf("governance: close proposal %d: %w", p.ID, err)
			}
			return s.record(ctx, tx, audit.Event{Actor: actor, Action: string(ActionProposalReject), Object: proposalObject(p.ID),
				Details: map[string]any{"spec_sha256": p.SpecDigest, "reason": in.Reason, "key": key.Fingerprint}})
		}

		approvals, err := approvalsOf(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		out.Approvals = len(approvals)
		if err := s.record(ctx, tx, audit.Event{Actor: actor, Action: string(ActionProposalApprove), Object: proposalObject(p.ID),
			Details: map[string]any{"spec_sha256": p.SpecDigest, "key": key.Fingerprint, "approvals": out.Approvals, "required": risk.Required}}); err != nil {
			return err
		}
		if out.Approvals < risk.Required {
			return nil
		}
		if err := authorize(ctx, tx, in.Approver, ActionReleaseCreate); err != nil {
			return err
		}
		rel, superseded, err := s.release(ctx, tx, p, cur, risk, approvals, actor)
		if err != nil {
			return err
		}
		out.Release, out.Superseded = rel, superseded
		return s.fail("release")
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decidable refuses decisions on proposals that are no longer open.
func decidable(p *Proposal, decision string) error {
	switch p.Status {
	case StatusOpen:
		return nil
	case StatusRejected:
		return refuse(RuleState, "proposal %d was rejected by %s (%s); a rejected proposal cannot be %sd — fix the spec and propose it again",
			p.ID, p.ClosedBy, p.Reason, decision)
	case StatusReleased:
		return refuse(RuleState, "proposal %d is already released (%s); nothing to %s", p.ID, p.ClosedBy, decision)
	case StatusSuperseded:
		return refuse(RuleSuperseded, "proposal %d was superseded (%s); propose it again against the current release", p.ID, p.Reason)
	}
	return refuse(RuleState, "proposal %d has status %q", p.ID, p.Status)
}

func sameRelease(cur *Release, base *int64) bool {
	if cur == nil || base == nil {
		return cur == nil && base == nil
	}
	return cur.ID == *base
}

// release creates the release of p with its approvals, closes p and
// supersedes the integration's other open proposals, all inside tx.
func (s *Service) release(ctx context.Context, tx *sql.Tx, p *Proposal, prev *Release, risk Risk, approvals []Approval, actor audit.Actor) (*Release, []int64, error) {
	riskJSON, err := json.Marshal(risk)
	if err != nil {
		return nil, nil, err
	}
	now := s.nowNanos()
	rel := &Release{Integration: p.Integration, SpecDigest: p.SpecDigest, ProposalID: p.ID, Required: risk.Required, Risk: risk, CreatedAt: fromNanos(now)}
	if prev != nil {
		rel.Previous = &prev.ID
	}
	if err := tx.QueryRowContext(ctx, `INSERT INTO releases (integration, spec_digest, proposal_id, previous_release, required_approvals, risk, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, rel.Integration, rel.SpecDigest, rel.ProposalID, nullID(rel.Previous), rel.Required, string(riskJSON), now).Scan(&rel.ID); err != nil {
		return nil, nil, fmt.Errorf("governance: create the release of proposal %d: %w", p.ID, err)
	}
	for _, a := range approvals {
		if _, err := tx.ExecContext(ctx, `INSERT INTO release_approvals (release_id, approval_id) VALUES (?, ?)`, rel.ID, a.ID); err != nil {
			return nil, nil, fmt.Errorf("governance: link approval %d to release %d: %w", a.ID, rel.ID, err)
		}
		rel.Approvers = append(rel.Approvers, a.Approver)
	}
	if err := s.fail("release-linked"); err != nil {
		return nil, nil, err
	}
	by := "release:" + strconv.FormatInt(rel.ID, 10)
	if _, err := tx.ExecContext(ctx, `UPDATE proposals SET status = 'released', closed_at = ?, closed_by = ?, reason = ? WHERE id = ?`,
		now, by, "approved by "+strings.Join(rel.Approvers, ", "), p.ID); err != nil {
		return nil, nil, fmt.Errorf("governance: close proposal %d: %w", p.ID, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM proposals WHERE integration = ? AND status = 'open' AND id <> ? ORDER BY id`, p.Integration, p.ID)
	if err != nil {
		return nil, nil, err
	}
	var superseded []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, nil, err
		}
		superseded = append(superseded, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	for _, id := range superseded {
		if _, err := tx.ExecContext(ctx, `UPDATE proposals SET status = 'superseded', closed_at = ?, closed_by = ?, reason = ? WHERE id = ?`,
			now, by, fmt.Sprintf("release %d of %s (proposal %d) replaced the release it was reviewed against", rel.ID, p.Integration, p.ID), id); err != nil {
			return nil, nil, fmt.Errorf("governance: supersede proposal %d: %w", id, err)
		}
		if err := s.record(ctx, tx, audit.Event{Actor: actor, Action: "proposal.supersede", Object: proposalObject(id),
			Details: map[string]any{"release": rel.ID}}); err != nil {
			return nil, nil, err
		}
	}
	err = s.record(ctx, tx, audit.Event{Actor: actor, Action: string(ActionReleaseCreate), Object: "integration:" + p.Integration,
		Details: map[string]any{"release": rel.ID, "proposal": p.ID, "spec_sha256": p.SpecDigest, "approvers": strings.Join(rel.Approvers, ","), "required": rel.Required}})
	return rel, superseded, err
}

// approvalsOf lists the approve decisions on a proposal, oldest first.
func approvalsOf(ctx context.Context, q querier, proposalID int64) ([]Approval, error) {
	return queryApprovals(ctx, q, `SELECT `+approvalCols+`, p.integration FROM approvals a JOIN proposals p ON p.id = a.proposal_id
		WHERE a.proposal_id = ? AND a.decision = 'approve' ORDER BY a.id`, proposalID)
}

// decisionsOf lists every decision on a proposal, oldest first.
func decisionsOf(ctx context.Context, q querier, proposalID int64) ([]Approval, error) {
	return queryApprovals(ctx, q, `SELECT `+approvalCols+`, p.integration FROM approvals a JOIN proposals p ON p.id = a.proposal_id
		WHERE a.proposal_id = ? ORDER BY a.id`, proposalID)
}

const approvalCols = `a.id, a.proposal_id, a.approver, a.decision, a.reason, a.spec_digest, a.base_digest, a.signed_at, a.key_fingerprint, a.signature`

func queryApprovals(ctx context.Context, q querier, query string, args ...any) ([]Approval, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("governance: read approvals: %w", err)
	}
	defer rows.Close()
	var out []Approval
	for rows.Next() {
		var a Approval
		if err := rows.Scan(&a.ID, &a.ProposalID, &a.Approver, &a.Decision, &a.Reason, &a.SpecDigest, &a.BaseDigest, &a.Time,
			&a.KeyFingerprint, &a.Signature, &a.Integration); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
