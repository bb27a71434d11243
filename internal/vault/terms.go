package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/audit"
)

// Acceptance is a person's acceptance of a vendor's terms for an
// integration. Production sync requires one.
type Acceptance struct {
	ID          int64     `json:"id"`
	Integration string    `json:"integration"`
	Vendor      string    `json:"vendor,omitempty"`
	Terms       string    `json:"terms,omitempty"` // a URL or a version
	AcceptedAt  time.Time `json:"accepted_at"`
	AcceptedBy  string    `json:"accepted_by"`
}

// AcceptTerms records that actor (a person) accepts the vendor's terms for
// integration. Accepting again (new terms) adds a row; the latest is the
// one in force.
func (v *Vault) AcceptTerms(ctx context.Context, actor audit.Actor, integration, vendor, terms string) (Acceptance, error) {
	if err := v.checkActor(ctx, actor, "terms.accept"); err != nil {
		return Acceptance{}, err
	}
	if !integrationName.MatchString(integration) {
		return Acceptance{}, fmt.Errorf("integration %q: want the spec's metadata.name (lower-case letters, digits and -)", integration)
	}
	vendor, terms = strings.TrimSpace(vendor), strings.TrimSpace(terms)
	for what, s := range map[string]string{"vendor": vendor, "terms": terms} {
		if len(s) > 2048 || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return Acceptance{}, fmt.Errorf("--%s: want one line of text (a name, a URL or a version), at most 2048 bytes", what)
		}
	}
	now := v.now().UTC()
	a := Acceptance{Integration: integration, Vendor: vendor, Terms: terms, AcceptedAt: now, AcceptedBy: actor.Name}
	err := v.inTx(ctx, func(tx *sql.Tx) error {
		// RETURNING rather than LastInsertId, which PostgreSQL's driver lacks.
		err := tx.QueryRowContext(ctx, `INSERT INTO vault_terms (integration, vendor, terms, accepted_at, accepted_by) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			integration, vendor, terms, now.UnixNano(), actor.Name).Scan(&a.ID)
		if err != nil {
			return fmt.Errorf("vault: record terms acceptance: %w", err)
		}
		return v.record(ctx, tx, actor, ActionTerms, objIntegrate+integration, now, map[string]any{
			"vendor": vendor, "terms": terms, "acceptance": a.ID,
		})
	})
	if err != nil {
		return Acceptance{}, err
	}
	return a, nil
}

// TermsAccepted returns the acceptance in force for integration (the
// latest), and false when none was recorded.
func (v *Vault) TermsAccepted(ctx context.Context, integration string) (Acceptance, bool, error) {
	a, err := scanAcceptance(v.db.QueryRowContext(ctx, `SELECT id, integration, vendor, terms, accepted_at, accepted_by
		FROM vault_terms WHERE integration = ? ORDER BY id DESC LIMIT 1`, integration))
	if errors.Is(err, sql.ErrNoRows) {
		return Acceptance{}, false, nil
	}
	if err != nil {
		return Acceptance{}, false, fmt.Errorf("vault: read terms acceptance for %s: %w", integration, err)
	}
	return a, true, nil
}

// Terms lists every acceptance, by integration, newest first within each.
func (v *Vault) Terms(ctx context.Context) ([]Acceptance, error) {
	rows, err := v.db.QueryContext(ctx, `SELECT id, integration, vendor, terms, accepted_at, accepted_by
		FROM vault_terms ORDER BY integration, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("vault: list terms acceptances: %w", err)
	}
	defer rows.Close()
	out := []Acceptance{}
	for rows.Next() {
		a, err := scanAcceptance(rows)
		if err != nil {
			return nil, fmt.Errorf("vault: list terms acceptances: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vault: list terms acceptances: %w", err)
	}
	return out, nil
}

func scanAcceptance(s scanner) (Acceptance, error) {
	var a Acceptance
	var at int64
	if err := s.Scan(&a.ID, &a.Integration, &a.Vendor, &a.Terms, &at, &a.AcceptedBy); err != nil {
		return Acceptance{}, err
	}
	a.AcceptedAt = fromNanos(at)
	return a, nil
}
