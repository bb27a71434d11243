package lifecycle

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/governance"
)

// OffboardResult is what an offboarding did.
type OffboardResult struct {
	Name string    `json:"name"`
	At   time.Time `json:"at"`
	By   string    `json:"by"`
	// Release was current at offboarding (nil: none); a later one brings
	// the integration back.
	Release *int64 `json:"release,omitempty"`
	// Revoked are the credentials revoked now (there may be none).
	Revoked []string `json:"credentials_revoked"`
	// Purged: the integration's inventory was deleted now; EntitiesPurged
	// counts them (their relationships went with them).
	Purged         bool  `json:"purged"`
	EntitiesPurged int64 `json:"entities_purged"`
	// PurgeOnly: the integration was already offboarded with its inventory
	// kept, and this purged it.
	PurgeOnly bool `json:"purge_only,omitempty"`
	// Entry is the audit log entry that records it.
	Entry audit.Entry `json:"audit_entry"`
}

// Offboard stops integration name for good, on behalf of actor (a person
// with the operator or admin role): it is marked offboarded, so Ready
// refuses it; every credential bound to it is revoked; with purge its
// inventory (entities and their relationships) is deleted, and without it
// the inventory stays, shown as from an offboarded integration. All of it
// and the audit entries (each credential.revoke, and integration.offboard
// with the purge flag and the counts) commit in one transaction or not at
// all.
//
// Offboarding an integration that is already offboarded is refused, except
// with purge when its inventory was kept: that purges it (audited as
// integration.purge). A release approved after the offboarding brings the
// integration back; offboarding it then is a new offboarding.
//
// It does not revoke credentials at the vendor; the caller tells the
// person to.
func (l *Lifecycle) Offboard(ctx context.Context, actor, name string, purge bool) (*OffboardResult, error) {
	actor, name = strings.TrimSpace(actor), strings.TrimSpace(name)
	if actor == "" {
		return nil, fmt.Errorf("offboarding needs the person doing it: pass --as PERSON (it is recorded in the audit log)")
	}
	if name == "" {
		return nil, fmt.Errorf("offboarding needs the integration's name (its spec's metadata.name); see `spindle integration list`")
	}
	var out *OffboardResult
	err := l.inTx(ctx, func(tx *sql.Tx) error {
		// Asked inside the transaction: the write lock is held, so a role
		// revoked a moment ago is seen, and none can be revoked before this
		// commits.
		if err := l.o.Gov.Authorize(ctx, actor, governance.ActionIntegrationOffboard); err != nil {
			return err
		}
		if governance.IsAgent(actor) {
			// Authorize already refuses agents (the role cannot offboard);
			// this keeps it so if roles ever change.
			return &governance.RefusedError{Rule: governance.RuleRole, Msg: fmt.Sprintf("%s is an agent: only a person may offboard an integration", actor)}
		}
		st, err := readState(ctx, tx, name)
		if err != nil {
			return err
		}
		cur, err := l.current(ctx, name)
		if err != nil {
			return err
		}
		if st == nil && cur == nil {
			if err := l.mustBeKnown(ctx, name); err != nil {
				return err
			}
		}
		now := l.o.Now().UTC()
		out = &OffboardResult{Name: name, At: now, By: actor, Revoked: []string{}}
		if cur != nil {
			out.Release = &cur.ID
		}
		switch {
		case st.offboardedBy(cur) && (!purge || st.Offboarding.Purged()):
			o := st.Offboarding
			msg := fmt.Sprintf("%s was already offboarded on %s by %s", name, o.At.Format(time.RFC3339), o.By)
			if o.Purged() {
				msg += ", and its inventory purged; nothing is left to do"
			} else {
				msg += fmt.Sprintf(", with its inventory kept; to delete that too, run `spindle integration offboard %s --purge --as PERSON`", name)
			}
			return &governance.RefusedError{Rule: governance.RuleState, Msg: msg}
		case st.offboardedBy(cur):
			// Purge what an earlier offboarding kept; the offboarding itself
			// (time, person) stays as it was.
			out.PurgeOnly = true
			out.At, out.By, out.Release = st.Offboarding.At, st.Offboarding.By, st.Offboarding.Release
			if _, err := tx.ExecContext(ctx, `UPDATE integration_lifecycle SET purged_at = ?, updated_at = ? WHERE name = ?`,
				now.UnixNano(), now.UnixNano(), name); err != nil {
				return fmt.Errorf("lifecycle: record the purge of %s: %w", name, err)
			}
		default:
			var purgedAt any
			if purge {
				purgedAt = now.UnixNano()
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO integration_lifecycle (name, updated_at, offboarded_at, offboarded_by, offboarded_release, purged_at)
				VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (name) DO UPDATE SET offboarded_at = excluded.offboarded_at, offboarded_by = excluded.offboarded_by,
					offboarded_release = excluded.offboarded_release, purged_at = excluded.purged_at, updated_at = excluded.updated_at`,
				name, now.UnixNano(), now.UnixNano(), actor, out.Release, purgedAt); err != nil {
				return fmt.Errorf("lifecycle: record the offboarding of %s: %w", name, err)
			}
		}
		// Also when only purging: a credential may have been set since.
		revoked, err := l.o.Vault.RevokeIntegrationTx(ctx, tx, audit.Actor{Kind: audit.ActorPerson, Name: actor}, name)
		if err != nil {
			return err
		}
		for _, m := range revoked {
			out.Revoked = append(out.Revoked, m.Name)
		}
		if err := l.fail("revoked"); err != nil {
			return err
		}
		if purge {
			n, err := l.o.Inventory.PurgeSourceTx(ctx, tx, name)
			if err != nil {
				return err
			}
			out.Purged, out.EntitiesPurged = true, n
			if err := l.fail("purged"); err != nil {
				return err
			}
		}
		action := ActionOffboard
		if out.PurgeOnly {
			action = ActionPurge
		}
		details := map[string]any{
			"purge":               purge,
			"credentials_revoked": len(out.Revoked),
			"entities_purged":     out.EntitiesPurged,
		}
		if len(out.Revoked) > 0 {
			details["credentials"] = out.Revoked
		}
		if out.Release != nil {
			details["release"] = *out.Release
		}
		// Boundary production: offboarding stops what production runs and
		// may delete what it found.
		e, err := l.o.Audit.AppendTx(ctx, tx, audit.Event{Actor: audit.Actor{Kind: audit.ActorPerson, Name: actor}, Action: action,
			Object: "integration:" + name, Boundary: audit.BoundaryProduction, Details: details, Time: now})
		if err != nil {
			return fmt.Errorf("lifecycle: audit %s of %s: %w", action, name, err)
		}
		out.Entry = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// mustBeKnown refuses a name lifecycle has never heard of: offboarding a
// typo would record an offboarding of nothing.
func (l *Lifecycle) mustBeKnown(ctx context.Context, name string) error {
	ps, err := l.o.Gov.Proposals(ctx, "")
	if err != nil {
		return err
	}
	if slices.ContainsFunc(ps, func(p governance.Proposal) bool { return p.Integration == name }) {
		return nil
	}
	ms, err := l.o.Vault.List(ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.Integration == name {
			return nil
		}
	}
	return fmt.Errorf("%w %q: nothing is released, proposed or credentialed under that name; see `spindle integration list` for the names", ErrUnknown, name)
}
