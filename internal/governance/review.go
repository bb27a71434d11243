package governance

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

// Review is what a person needs to decide on a proposal.
type Review struct {
	Proposal Proposal `json:"proposal"`
	// Base is the current release the proposal would replace; nil for a
	// new integration.
	Base *Release `json:"base,omitempty"`
	// Diff is the unified diff of the spec against Base's ("" when new:
	// the whole spec is in Spec).
	Diff string `json:"diff"`
	Spec string `json:"spec"`
	// Validation summarises the build's scorecard. It comes from the
	// bundle's report, which the author supplied: the spec, not the
	// report, is what the approvals bind.
	Validation Validation `json:"validation"`
	Credential string     `json:"credential,omitempty"` // the vault reference to provision
	AuthType   string     `json:"auth_type"`
	// Scopes are what the spec's auth asks for; DocScopes the
	// least-privilege scopes the doc names for the operations read.
	Scopes    []string   `json:"scopes"`
	DocScopes []DocScope `json:"doc_scopes"`
	Hosts     []string   `json:"hosts"`
	Streams   []string   `json:"streams"` // "name: METHOD /path"
	Risk      Risk       `json:"risk"`
	// Decisions recorded so far, and how many approvals are still needed.
	Decisions []Approval `json:"decisions"`
	Approvals int        `json:"approvals"`
	Needed    int        `json:"needed"`
	Questions []string   `json:"questions"`
}

// DocScope is one security scheme's scopes for the streams read.
type DocScope struct {
	Scheme string   `json:"scheme"`
	Scopes []string `json:"scopes"`
}

// Validation is the build's verdict as a reviewer reads it.
type Validation struct {
	Passed  bool     `json:"passed"`
	Brain   string   `json:"brain,omitempty"`
	Stopped string   `json:"stopped,omitempty"`
	Reason  string   `json:"reason,omitempty"`
	Doc     string   `json:"doc,omitempty"`
	DocSHA  string   `json:"doc_sha256,omitempty"`
	Checks  int      `json:"checks"`
	Failed  []string `json:"failed"`
	Warned  []string `json:"warned"`
	Refused []string `json:"lint_refusals"` // policy refusals during the build
}

// Review assembles the review of one proposal.
func (s *Service) Review(ctx context.Context, id int64) (*Review, error) {
	var out *Review
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		p, err := proposalByID(ctx, tx, id)
		if err != nil {
			return err
		}
		out, err = review(ctx, tx, p)
		return err
	})
	return out, err
}

// Queue is the review of every open proposal, oldest first.
func (s *Service) Queue(ctx context.Context) ([]Review, error) {
	out := []Review{}
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+proposalCols+` FROM proposals WHERE status = 'open' ORDER BY id`)
		if err != nil {
			return fmt.Errorf("governance: list open proposals: %w", err)
		}
		var ps []*Proposal
		for rows.Next() {
			p, err := scanProposal(rows)
			if err != nil {
				rows.Close()
				return err
			}
			ps = append(ps, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, p := range ps {
			r, err := review(ctx, tx, p)
			if err != nil {
				return err
			}
			out = append(out, *r)
		}
		return nil
	})
	return out, err
}

func review(ctx context.Context, tx *sql.Tx, p *Proposal) (*Review, error) {
	r := &Review{Proposal: *p, Spec: string(p.Spec), Scopes: []string{}, DocScopes: []DocScope{}, Hosts: []string{},
		Streams: []string{}, Decisions: []Approval{}, Questions: []string{}}
	// The base is the release the proposal was made against: for an open
	// proposal that is always the current release (a release supersedes
	// the others), and for a closed one it is what it was judged against.
	var base []byte
	if p.BaseRelease != nil {
		rel, err := scanRelease(tx.QueryRowContext(ctx, `SELECT `+releaseCols+` FROM releases WHERE id = ?`, *p.BaseRelease))
		if err != nil {
			return nil, fmt.Errorf("governance: read release %d, the base of proposal %d: %w", *p.BaseRelease, p.ID, err)
		}
		if err := fillApprovers(ctx, tx, rel); err != nil {
			return nil, err
		}
		bp, err := proposalByID(ctx, tx, rel.ProposalID)
		if err != nil {
			return nil, err
		}
		r.Base, base = rel, bp.Spec
		r.Diff, err = Diff(base, p.Spec, fmt.Sprintf("release %d (%s)", rel.ID, short(rel.SpecDigest)), fmt.Sprintf("proposal %d (%s)", p.ID, short(p.SpecDigest)))
		if err != nil {
			return nil, err
		}
	}
	risk, err := Assess(base, p.Spec)
	if err != nil {
		return nil, fmt.Errorf("governance: assess proposal %d: %w", p.ID, err)
	}
	r.Risk = risk
	if sp, err := parseSpec(p.Spec); err == nil {
		a := sp.Connection.Auth
		r.AuthType, r.Credential, r.Scopes = a.Type, a.Credential, uniqueSorted(a.Scopes)
		if r.Scopes == nil {
			r.Scopes = []string{}
		}
		r.Hosts = Hosts(sp)
		for _, st := range sp.Streams {
			r.Streams = append(r.Streams, fmt.Sprintf("%s: %s %s", st.Name, st.Request.MethodOrGet(), st.Request.Path))
		}
	}
	r.Validation = validation(p.Report)
	var rep report
	if json.Unmarshal(p.Report, &rep) == nil {
		if rep.Facts != nil {
			for _, sc := range rep.Facts.Scopes {
				r.DocScopes = append(r.DocScopes, DocScope{Scheme: sc.Scheme, Scopes: sc.Scopes})
			}
		}
		r.Questions = append(r.Questions, rep.Questions...)
	}
	decisions, err := decisionsOf(ctx, tx, p.ID)
	if err != nil {
		return nil, err
	}
	r.Decisions = append(r.Decisions, decisions...)
	for _, d := range decisions {
		if d.Decision == DecisionApprove {
			r.Approvals++
		}
	}
	if p.Status == StatusOpen {
		r.Needed = max(risk.Required-r.Approvals, 0)
	}
	return r, nil
}

// validation summarises report.json's scorecard.
func validation(raw []byte) Validation {
	v := Validation{Failed: []string{}, Warned: []string{}, Refused: []string{}}
	if len(raw) == 0 {
		v.Reason = "no report.json: the spec was proposed without a build, so it was not validated"
		return v
	}
	var rep report
	if err := json.Unmarshal(raw, &rep); err != nil {
		v.Reason = "report.json does not parse: " + err.Error()
		return v
	}
	v.Passed, v.Brain, v.Stopped, v.Reason = rep.Passed, rep.Brain, rep.Stopped, rep.Reason
	v.Doc, v.DocSHA = rep.Doc.Location, rep.Doc.SHA256
	v.Refused = append(v.Refused, rep.Rejections...)
	if rep.Scorecard == nil {
		if v.Reason == "" {
			v.Reason = "no scorecard: the spec was not validated"
		}
		v.Passed = false
		return v
	}
	v.Checks = len(rep.Scorecard.Checks)
	for _, c := range rep.Scorecard.Checks {
		name := c.ID
		if c.Stream != "" {
			name += " (" + c.Stream + ")"
		}
		switch c.Status {
		case "fail": // validate.StatusFail; not imported, to keep governance light
			v.Failed = append(v.Failed, name+": "+c.Summary)
		case "warn": // validate.StatusWarn
			v.Warned = append(v.Warned, name+": "+c.Summary)
		}
	}
	return v
}

// Diff is the unified diff from a to b.
func Diff(a, b []byte, fromName, toName string) (string, error) {
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(a)), B: difflib.SplitLines(string(b)),
		FromFile: fromName, ToFile: toName, Context: 3,
	})
	if err != nil {
		return "", fmt.Errorf("governance: diff: %w", err)
	}
	return d, nil
}

// Summary is a one-line account of a review for the queue.
func (r *Review) Summary() string {
	var parts []string
	if r.Risk.NewIntegration {
		parts = append(parts, "new integration")
	}
	kinds := []string{}
	for _, it := range r.Risk.Items {
		if !slices.Contains(kinds, it.Kind) {
			kinds = append(kinds, it.Kind)
		}
	}
	if len(kinds) > 0 {
		parts = append(parts, "risk: "+strings.Join(kinds, ", "))
	} else {
		parts = append(parts, "no risk flags")
	}
	if !r.Validation.Passed {
		parts = append(parts, "validation FAILED")
	}
	return strings.Join(parts, "; ")
}
