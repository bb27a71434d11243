package governance

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/integration"
)

// Proposal statuses. There is no lasting "approved": the approval that
// completes a proposal releases it in the same transaction (a release is
// an approved digest), so a proposal is open until released or rejected,
// or superseded when another proposal of its integration is released.
const (
	StatusOpen       = "open"
	StatusRejected   = "rejected"
	StatusReleased   = "released"
	StatusSuperseded = "superseded"
)

// Bundle file names, as `spindle build` writes them.
const (
	BundleSpec   = "integration.yaml"
	BundleReport = "report.json"
)

// Proposal is a spec put forward for release.
type Proposal struct {
	ID          int64      `json:"id"`
	Integration string     `json:"integration"`
	SpecDigest  string     `json:"spec_sha256"`
	Author      string     `json:"author"`
	AuthorKind  string     `json:"author_kind"` // person or agent
	BaseRelease *int64     `json:"base_release,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	Status      string     `json:"status"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
	ClosedBy    string     `json:"closed_by,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	// Spec is integration.yaml byte for byte; Report is report.json.
	Spec   []byte          `json:"-"`
	Report json.RawMessage `json:"-"`
}

// ProposeInput is a build bundle to register.
type ProposeInput struct {
	Spec   []byte // integration.yaml, exactly as written
	Report []byte // report.json
	// Author proposes it: a person's name, or "" for the agent that built
	// it ("agent:<brain>", the brain named in the report).
	Author string
}

// ReadBundle reads integration.yaml and report.json from a build bundle.
func ReadBundle(dir string) (ProposeInput, error) {
	spec, err := os.ReadFile(filepath.Join(dir, BundleSpec))
	if err != nil {
		return ProposeInput{}, fmt.Errorf("%s is not a build bundle: %w (run `spindle build DOC --out %s` first)", dir, err, dir)
	}
	// A missing report is allowed: a person may propose a spec they edited
	// by hand, and the review then says it was never validated.
	rep, err := os.ReadFile(filepath.Join(dir, BundleReport))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ProposeInput{}, fmt.Errorf("read the bundle's report: %w", err)
	}
	return ProposeInput{Spec: spec, Report: rep}, nil
}

// report is the part of report.json (agent.Outcome and spec_sha256) that
// review shows. It is decoded here, not imported, so the agent can one day
// submit proposals without an import cycle.
type report struct {
	Passed  bool   `json:"passed"`
	Stopped string `json:"stopped"`
	Brain   string `json:"brain"`
	Reason  string `json:"reason"`
	Doc     struct {
		Location string `json:"location"`
		SHA256   string `json:"sha256"`
	} `json:"doc"`
	Scorecard *struct {
		Passed bool `json:"passed"`
		Checks []struct {
			ID      string `json:"id"`
			Stream  string `json:"stream"`
			Status  string `json:"status"`
			Summary string `json:"summary"`
		} `json:"checks"`
	} `json:"scorecard"`
	Questions  []string `json:"questions"`
	Rejections []string `json:"rejections"`
	Facts      *struct {
		Hosts []string `json:"hosts"`
		Auth  struct {
			Type       string   `json:"type"`
			Credential string   `json:"credential"`
			Scopes     []string `json:"scopes"`
		} `json:"auth"`
		Scopes []struct {
			Scheme string   `json:"scheme"`
			Scopes []string `json:"scopes"`
		} `json:"scopes"`
	} `json:"facts"`
	SpecSHA256 string `json:"spec_sha256"`
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Propose registers a build bundle as an open proposal. The spec must pass
// the lint (a spec that cannot run is not worth a reviewer's time), and
// report.json, when it names the spec's digest, must name this spec's.
func (s *Service) Propose(ctx context.Context, in ProposeInput) (*Proposal, error) {
	if len(in.Spec) == 0 {
		return nil, refuse(RuleBundle, "the bundle has an empty %s; rebuild it", BundleSpec)
	}
	var rep report
	if len(in.Report) > 0 {
		if err := json.Unmarshal(in.Report, &rep); err != nil {
			return nil, refuse(RuleBundle, "%s is not a build report: %v; rebuild the bundle with `spindle build`", BundleReport, err)
		}
	}
	d := digest(in.Spec)
	if rep.SpecSHA256 != "" && rep.SpecSHA256 != d {
		// The report would vouch for a spec that is not the one proposed.
		return nil, refuse(RuleBundle, "%s describes spec %s but %s hashes to %s: the spec was edited after the build; rebuild the bundle, "+
			"or remove %s and propose the edit as a person (--as NAME) — the review will show it was not validated",
			BundleReport, short(rep.SpecSHA256), BundleSpec, short(d), BundleReport)
	}
	doc, err := integration.Load(BundleSpec, in.Spec)
	if err != nil {
		return nil, refuse(RuleBundle, "%s does not pass the lint, so it cannot be proposed (see `spindle spec lint`):\n%v", BundleSpec, err)
	}
	name := doc.Spec.Metadata.Name
	author := in.Author
	if author == "" {
		if rep.Brain == "" {
			return nil, refuse(RuleBundle, "the bundle has no %s naming the brain that built it; pass --as NAME to propose it as a person", BundleReport)
		}
		author = AgentPrincipal(rep.Brain)
	}
	if err := CheckName(author); err != nil {
		return nil, err
	}
	p := &Proposal{Integration: name, SpecDigest: d, Author: author, Status: StatusOpen, Spec: in.Spec, Report: in.Report}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := authorize(ctx, tx, author, ActionProposalCreate); err != nil {
			return err
		}
		roles, err := rolesOf(ctx, tx, author)
		if err != nil {
			return err
		}
		p.AuthorKind = kindOf(author, roles)
		var dup int64
		switch err := tx.QueryRowContext(ctx, `SELECT id FROM proposals WHERE integration = ? AND spec_digest = ? AND status = 'open'`, name, d).Scan(&dup); {
		case err == nil:
			return refuse(RuleDuplicate, "proposal %d already proposes this exact spec of %s; review it with `spindle review %d`", dup, name, dup)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		cur, err := currentRelease(ctx, tx, name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if cur != nil {
			if cur.SpecDigest == d {
				return refuse(RuleDuplicate, "this spec is already release %d of %s; nothing to propose", cur.ID, name)
			}
			p.BaseRelease = &cur.ID
		}
		now := s.nowNanos()
		p.CreatedAt = fromNanos(now)
		// RETURNING rather than LastInsertId, which PostgreSQL's driver lacks.
		if err := tx.QueryRowContext(ctx, `INSERT INTO proposals (integration, spec_text, spec_digest, report_json, author, author_kind, base_release, created_at, status)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open') RETURNING id`, name, in.Spec, d, string(in.Report), author, p.AuthorKind, nullID(p.BaseRelease), now).Scan(&p.ID); err != nil {
			return fmt.Errorf("governance: store the proposal: %w", err)
		}
		details := map[string]any{"integration": name, "spec_sha256": d}
		if cur != nil {
			details["base_release"] = cur.ID
		}
		return s.record(ctx, tx, audit.Event{Actor: audit.Actor{Kind: p.AuthorKind, Name: author}, Action: string(ActionProposalCreate),
			Object: proposalObject(p.ID), Details: details})
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func proposalObject(id int64) string { return fmt.Sprintf("proposal:%d", id) }

func nullID(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func short(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

const proposalCols = `id, integration, spec_text, spec_digest, report_json, author, author_kind, base_release, created_at, status, closed_at, closed_by, reason`

func scanProposal(r scanner) (*Proposal, error) {
	var p Proposal
	var report string
	var base, closedAt sql.NullInt64
	var created int64
	var closedBy, reason sql.NullString
	if err := r.Scan(&p.ID, &p.Integration, &p.Spec, &p.SpecDigest, &report, &p.Author, &p.AuthorKind, &base, &created, &p.Status, &closedAt, &closedBy, &reason); err != nil {
		return nil, err
	}
	p.Report = json.RawMessage(report)
	if base.Valid {
		p.BaseRelease = &base.Int64
	}
	p.CreatedAt = fromNanos(created)
	if closedAt.Valid {
		t := fromNanos(closedAt.Int64)
		p.ClosedAt = &t
	}
	p.ClosedBy, p.Reason = closedBy.String, reason.String
	return &p, nil
}

// Proposal reads one proposal.
func (s *Service) Proposal(ctx context.Context, id int64) (*Proposal, error) {
	return proposalByID(ctx, s.db, id)
}

func proposalByID(ctx context.Context, q querier, id int64) (*Proposal, error) {
	p, err := scanProposal(q.QueryRowContext(ctx, `SELECT `+proposalCols+` FROM proposals WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("no proposal %d (list them with `spindle review`): %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("governance: read proposal %d: %w", id, err)
	}
	return p, nil
}

// Proposals lists proposals with the given status ("" for all), oldest
// first: the review queue is StatusOpen.
func (s *Service) Proposals(ctx context.Context, status string) ([]Proposal, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+proposalCols+` FROM proposals WHERE ? = '' OR status = ? ORDER BY id`, status, status)
	if err != nil {
		return nil, fmt.Errorf("governance: list proposals: %w", err)
	}
	defer rows.Close()
	var out []Proposal
	for rows.Next() {
		p, err := scanProposal(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}
