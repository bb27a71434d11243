package governance

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Release is an approved spec digest of an integration: what production
// may run.
type Release struct {
	ID          int64     `json:"id"`
	Integration string    `json:"integration"`
	SpecDigest  string    `json:"spec_sha256"`
	ProposalID  int64     `json:"proposal"`
	Previous    *int64    `json:"previous_release,omitempty"`
	Required    int       `json:"required_approvals"`
	Risk        Risk      `json:"risk"`
	Approvers   []string  `json:"approvers"`
	CreatedAt   time.Time `json:"created_at"`
}

const releaseCols = `id, integration, spec_digest, proposal_id, previous_release, required_approvals, risk, created_at`

func scanRelease(r scanner) (*Release, error) {
	var rel Release
	var prev sql.NullInt64
	var risk string
	var created int64
	if err := r.Scan(&rel.ID, &rel.Integration, &rel.SpecDigest, &rel.ProposalID, &prev, &rel.Required, &risk, &created); err != nil {
		return nil, err
	}
	if prev.Valid {
		rel.Previous = &prev.Int64
	}
	// A damaged risk column is Verify's to report; the release still reads.
	_ = json.Unmarshal([]byte(risk), &rel.Risk)
	rel.CreatedAt = fromNanos(created)
	return &rel, nil
}

func currentRelease(ctx context.Context, q querier, integration string) (*Release, error) {
	rel, err := scanRelease(q.QueryRowContext(ctx, `SELECT `+releaseCols+` FROM releases WHERE integration = ? ORDER BY id DESC LIMIT 1`, integration))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s has no release: %w", integration, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("governance: read the release of %s: %w", integration, err)
	}
	return rel, fillApprovers(ctx, q, rel)
}

func fillApprovers(ctx context.Context, q querier, rel *Release) error {
	rows, err := q.QueryContext(ctx, `SELECT a.approver FROM release_approvals ra JOIN approvals a ON a.id = ra.approval_id
		WHERE ra.release_id = ? ORDER BY a.id`, rel.ID)
	if err != nil {
		return fmt.Errorf("governance: read the approvers of release %d: %w", rel.ID, err)
	}
	defer rows.Close()
	rel.Approvers = []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		rel.Approvers = append(rel.Approvers, n)
	}
	return rows.Err()
}

// Current is the integration's current release (the latest), wrapping
// ErrNotFound when it has none.
func (s *Service) Current(ctx context.Context, integration string) (*Release, error) {
	return currentRelease(ctx, s.db, integration)
}

// Releases lists releases, of one integration or ("") all, oldest first.
func (s *Service) Releases(ctx context.Context, integration string) ([]Release, error) {
	var out []Release
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+releaseCols+` FROM releases WHERE ? = '' OR integration = ? ORDER BY integration, id`, integration, integration)
		if err != nil {
			return fmt.Errorf("governance: list releases: %w", err)
		}
		for rows.Next() {
			rel, err := scanRelease(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, *rel)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range out {
			if err := fillApprovers(ctx, tx, &out[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// Released is what production may run for an integration: the current
// release and its spec, byte for byte.
type Released struct {
	Release Release
	Spec    []byte
}

// ReleasedSpec returns the integration's current release and its spec
// after verifying the integration's whole release chain, so a production
// sync never runs a digest whose approvals do not check out. It wraps
// ErrNotFound when there is no release; a chain that fails verification
// is an error naming every problem.
func (s *Service) ReleasedSpec(ctx context.Context, integration string) (*Released, error) {
	v, err := s.Verify(ctx, integration)
	if err != nil {
		return nil, err
	}
	if len(v.Releases) == 0 {
		return nil, fmt.Errorf("%s has no release: propose a build and have it approved (`spindle propose DIR`, `spindle approve ID`): %w", integration, ErrNotFound)
	}
	if !v.OK {
		return nil, fmt.Errorf("the release chain of %s does not verify, so nothing of it may run:\n  %s", integration, joinProblems(v))
	}
	var out *Released
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		rel, err := currentRelease(ctx, tx, integration)
		if err != nil {
			return err
		}
		p, err := proposalByID(ctx, tx, rel.ProposalID)
		if err != nil {
			return err
		}
		// Checked again here: the chain was verified in another snapshot.
		if digest(p.Spec) != rel.SpecDigest || rel.ID != v.Releases[len(v.Releases)-1].ID {
			return fmt.Errorf("release %d of %s changed while it was being verified; try again", rel.ID, integration)
		}
		out = &Released{Release: *rel, Spec: p.Spec}
		return nil
	})
	return out, err
}

// Verification is the offline check of an integration's release chain.
type Verification struct {
	Integration string                `json:"integration"`
	OK          bool                  `json:"ok"`
	Releases    []ReleaseVerification `json:"releases"`
	// Problems that belong to no single release (an orphaned approval).
	Problems []string `json:"problems"`
}

// ReleaseVerification is one release's checks.
type ReleaseVerification struct {
	ID         int64    `json:"id"`
	Proposal   int64    `json:"proposal"`
	SpecDigest string   `json:"spec_sha256"`
	Author     string   `json:"author"`
	Approvers  []string `json:"approvers"`
	Keys       []string `json:"keys"` // fingerprints that signed, to compare with ones known out of band
	Required   int      `json:"required_approvals"`
	Risk       []string `json:"risk"`
	Problems   []string `json:"problems"`
}

func joinProblems(v *Verification) string {
	var all []string
	all = append(all, v.Problems...)
	for _, r := range v.Releases {
		for _, p := range r.Problems {
			all = append(all, fmt.Sprintf("release %d: %s", r.ID, p))
		}
	}
	out := ""
	for i, p := range all {
		if i > 0 {
			out += "\n  "
		}
		out += p
	}
	return out
}

// Verify checks the integration's whole release chain from what the store
// holds, with no trust in any derived column: each spec text hashes to
// its digest; the chain links each release to the one before; each
// approval's signature verifies with its approver's public key over the
// canonical message rebuilt from the stored fields (proposal, integration,
// digest, the previous release's digest, approver, decision, time);
// approvers are distinct people who held a key at the time; the author
// approved nothing; and the number of approvals is what the risk,
// recomputed from the two spec texts, requires. The error is for a
// database that cannot be read; tampering is reported in the result.
func (s *Service) Verify(ctx context.Context, integration string) (*Verification, error) {
	v := &Verification{Integration: integration, Releases: []ReleaseVerification{}, Problems: []string{}}
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+releaseCols+` FROM releases WHERE integration = ? ORDER BY id`, integration)
		if err != nil {
			return fmt.Errorf("governance: read releases of %s: %w", integration, err)
		}
		var rels []*Release
		for rows.Next() {
			rel, err := scanRelease(rows)
			if err != nil {
				rows.Close()
				return err
			}
			rels = append(rels, rel)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var prevSpec []byte
		var prev *Release
		for _, rel := range rels {
			rv, spec, err := verifyRelease(ctx, tx, rel, prev, prevSpec)
			if err != nil {
				return err
			}
			v.Releases = append(v.Releases, rv)
			prev, prevSpec = rel, spec
		}
		// A release whose row was deleted leaves its proposal marked
		// released by nothing: the chain above cannot see the gap.
		orphans, err := tx.QueryContext(ctx, `SELECT p.id, p.closed_by FROM proposals p WHERE p.integration = ? AND p.status = 'released'
			AND NOT EXISTS (SELECT 1 FROM releases r WHERE r.proposal_id = p.id)`, integration)
		if err != nil {
			return err
		}
		defer orphans.Close()
		for orphans.Next() {
			var id int64
			var by sql.NullString
			if err := orphans.Scan(&id, &by); err != nil {
				return err
			}
			v.Problems = append(v.Problems, fmt.Sprintf("proposal %d is marked released (%s) but no release references it: a release was deleted", id, by.String))
		}
		return orphans.Err()
	})
	if err != nil {
		return nil, err
	}
	v.OK = len(v.Problems) == 0
	for _, r := range v.Releases {
		if len(r.Problems) > 0 {
			v.OK = false
		}
	}
	if len(v.Releases) == 0 && len(v.Problems) == 0 {
		v.OK = false
		v.Problems = append(v.Problems, fmt.Sprintf("%s has no release to verify", integration))
	}
	return v, nil
}

// verifyRelease checks one release against the one before it, returning
// its spec text (when it could be read) for the next release's risk.
func verifyRelease(ctx context.Context, tx *sql.Tx, rel, prev *Release, prevSpec []byte) (ReleaseVerification, []byte, error) {
	rv := ReleaseVerification{ID: rel.ID, Proposal: rel.ProposalID, SpecDigest: rel.SpecDigest, Approvers: []string{}, Keys: []string{}, Risk: []string{}, Problems: []string{}}
	bad := func(format string, args ...any) { rv.Problems = append(rv.Problems, fmt.Sprintf(format, args...)) }

	switch {
	case prev == nil && rel.Previous != nil:
		bad("names release %d as its predecessor, which is not in %s's chain", *rel.Previous, rel.Integration)
	case prev != nil && (rel.Previous == nil || *rel.Previous != prev.ID):
		bad("does not follow release %d, the one before it: the chain was edited", prev.ID)
	}
	baseDigest := ""
	if prev != nil {
		baseDigest = prev.SpecDigest
	}

	p, err := proposalByID(ctx, tx, rel.ProposalID)
	if errors.Is(err, ErrNotFound) {
		bad("its proposal %d is missing", rel.ProposalID)
		return rv, nil, nil
	}
	if err != nil {
		return rv, nil, err
	}
	rv.Author = p.Author
	var spec []byte
	switch got := digest(p.Spec); {
	case p.Integration != rel.Integration:
		bad("its proposal %d is of integration %q, not %q", p.ID, p.Integration, rel.Integration)
	case p.SpecDigest != rel.SpecDigest:
		bad("its proposal %d records digest %s, the release %s", p.ID, short(p.SpecDigest), short(rel.SpecDigest))
	case got != rel.SpecDigest:
		bad("the stored spec text hashes to %s, not the released digest %s: the spec was edited after approval", short(got), short(rel.SpecDigest))
	default:
		spec = p.Spec
	}
	if p.Status != StatusReleased {
		bad("its proposal %d has status %s, not released", p.ID, p.Status)
	}

	// The approvals the release references, joined loosely so that a
	// reference to a deleted approval shows as such.
	rows, err := tx.QueryContext(ctx, `SELECT ra.approval_id, a.id IS NOT NULL FROM release_approvals ra LEFT JOIN approvals a ON a.id = ra.approval_id
		WHERE ra.release_id = ? ORDER BY ra.approval_id`, rel.ID)
	if err != nil {
		return rv, nil, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		var exists bool
		if err := rows.Scan(&id, &exists); err != nil {
			rows.Close()
			return rv, nil, err
		}
		if exists {
			ids = append(ids, id)
		} else {
			bad("references approval %d, which is missing", id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rv, nil, err
	}

	valid := 0
	for _, id := range ids {
		as, err := queryApprovals(ctx, tx, `SELECT `+approvalCols+`, COALESCE(p.integration, '') FROM approvals a LEFT JOIN proposals p ON p.id = a.proposal_id WHERE a.id = ?`, id)
		if err != nil {
			return rv, nil, err
		}
		if len(as) != 1 {
			bad("approval %d cannot be read", id)
			continue
		}
		a := as[0]
		if problem := checkApproval(ctx, tx, a, rel, p, baseDigest); problem != "" {
			bad("approval %d by %s: %s", a.ID, a.Approver, problem)
			continue
		}
		if slices.Contains(rv.Approvers, a.Approver) {
			bad("%s approved twice; approvers must be distinct", a.Approver)
			continue
		}
		rv.Approvers = append(rv.Approvers, a.Approver)
		rv.Keys = append(rv.Keys, a.KeyFingerprint)
		valid++
	}

	switch {
	case spec == nil:
		// Already reported: the spec it released cannot be trusted.
		rv.Required = rel.Required
	case prev != nil && prevSpec == nil:
		bad("its risk cannot be assessed because the release before it does not verify")
		rv.Required = rel.Required
	default:
		risk, err := Assess(prevSpec, spec)
		if err != nil {
			bad("its spec no longer parses: %v", err)
			rv.Required = rel.Required
			break
		}
		rv.Required = risk.Required
		for _, it := range risk.Items {
			rv.Risk = append(rv.Risk, it.What)
		}
		if rel.Required != risk.Required {
			bad("records %d required approval(s), but its changes need %d", rel.Required, risk.Required)
		}
	}
	if valid < rv.Required {
		bad("has %d valid approval(s); its changes need %d distinct approvers", valid, rv.Required)
	}
	// Releases are created at exactly the required count, so fewer linked
	// approvals than recorded means some were removed.
	if len(ids) < rel.Required {
		bad("links %d approval(s) but was released with %d", len(ids), rel.Required)
	}
	return rv, spec, nil
}

// checkApproval says what is wrong with one approval of rel, or "".
func checkApproval(ctx context.Context, tx *sql.Tx, a Approval, rel *Release, p *Proposal, baseDigest string) string {
	switch {
	case a.ProposalID != rel.ProposalID:
		return fmt.Sprintf("is for proposal %d, not the released proposal %d", a.ProposalID, rel.ProposalID)
	case a.Decision != DecisionApprove:
		return fmt.Sprintf("is a %s, not an approval", a.Decision)
	case a.SpecDigest != rel.SpecDigest:
		return fmt.Sprintf("approved digest %s, not the released %s", short(a.SpecDigest), short(rel.SpecDigest))
	case a.BaseDigest != baseDigest:
		return fmt.Sprintf("was reviewed against release digest %q, but the release before is %q", short(a.BaseDigest), short(baseDigest))
	case a.Approver == p.Author:
		return fmt.Sprintf("%s wrote the proposal and cannot approve it", a.Approver)
	case IsAgent(a.Approver):
		return "an agent cannot approve"
	}
	key, err := keyByFingerprint(ctx, tx, a.KeyFingerprint)
	if err != nil {
		return fmt.Sprintf("its key %s is missing", a.KeyFingerprint)
	}
	if key.Principal != a.Approver {
		return fmt.Sprintf("its key %s belongs to %s", a.KeyFingerprint, key.Principal)
	}
	if len(key.PublicKey) != ed25519.PublicKeySize || Fingerprint(key.PublicKey) != key.Fingerprint {
		return fmt.Sprintf("the stored public key does not match its fingerprint %s: the key was edited", key.Fingerprint)
	}
	t, err := time.Parse(time.RFC3339Nano, a.Time)
	if err != nil {
		return fmt.Sprintf("its time %q is not RFC 3339", a.Time)
	}
	if t.Before(key.CreatedAt) || (key.RetiredAt != nil && !t.Before(*key.RetiredAt)) {
		return fmt.Sprintf("was signed at %s, outside the life of key %s", a.Time, key.Fingerprint)
	}
	sig, err := base64.StdEncoding.DecodeString(a.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return "its signature is not a base64 ed25519 signature"
	}
	if !ed25519.Verify(key.PublicKey, a.Statement.Message(), sig) {
		return fmt.Sprintf("the signature does not verify with key %s over the recorded decision: something it signed was changed", key.Fingerprint)
	}
	return ""
}
