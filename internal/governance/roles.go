package governance

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/spindlehq/spindle/internal/audit"
)

// Role is what a principal may do. Roles are enforced here, in the
// governance layer, so every caller — the CLI, the coming server, the
// scheduler — gets the same answer.
type Role string

// Roles.
const (
	RoleAdmin    Role = "admin"    // everything, including granting roles
	RoleApprover Role = "approver" // approve or reject proposals (never their own)
	RoleOperator Role = "operator" // credentials, terms, production syncs, offboarding
	RoleViewer   Role = "viewer"   // read only
	RoleAgent    Role = "agent"    // the build agent: proposes, and nothing else that changes state
)

// Roles lists every role, most powerful first.
func Roles() []Role { return []Role{RoleAdmin, RoleApprover, RoleOperator, RoleViewer, RoleAgent} }

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles(), r) }

// Action is something a principal asks to do. Other packages ask Can or
// (*Service).Authorize with these before acting: the vault with
// ActionCredentialSet/Read, the sync command with ActionSyncProduction.
type Action string

// Actions.
const (
	ActionProposalCreate      Action = "proposal.create"
	ActionProposalRead        Action = "proposal.read"
	ActionProposalApprove     Action = "proposal.approve"
	ActionProposalReject      Action = "proposal.reject"
	ActionReleaseCreate       Action = "release.create" // done by the approval that completes a proposal
	ActionReleaseRead         Action = "release.read"
	ActionKeyCreate           Action = "key.create"
	ActionRoleGrant           Action = "role.grant"
	ActionRoleRevoke          Action = "role.revoke"
	ActionCredentialSet       Action = "credential.set"
	ActionCredentialRead      Action = "credential.read" // decrypt a value (the runtime, for a production sync)
	ActionCredentialRotate    Action = "credential.rotate"
	ActionCredentialRevoke    Action = "credential.revoke"
	ActionSyncProduction      Action = "sync.production"
	ActionTermsAccept         Action = "terms.accept"
	ActionIntegrationOffboard Action = "integration.offboard"
	ActionAuditRead           Action = "audit.read"
	ActionInventoryRead       Action = "inventory.read"
)

// Actions lists every action.
func Actions() []Action {
	return []Action{ActionProposalCreate, ActionProposalRead, ActionProposalApprove, ActionProposalReject,
		ActionReleaseCreate, ActionReleaseRead, ActionKeyCreate, ActionRoleGrant, ActionRoleRevoke,
		ActionCredentialSet, ActionCredentialRead, ActionCredentialRotate, ActionCredentialRevoke,
		ActionSyncProduction, ActionTermsAccept, ActionIntegrationOffboard, ActionAuditRead, ActionInventoryRead}
}

// Can reports whether role r allows action a. It is a pure function of
// the two, so any package can ask it without a database. The agent role
// may create proposals and read, nothing more: no approving, releasing,
// production syncs, credentials, terms or roles.
func Can(r Role, a Action) bool {
	read := a == ActionProposalRead || a == ActionReleaseRead
	switch r {
	case RoleAdmin:
		return slices.Contains(Actions(), a)
	case RoleApprover:
		switch a {
		case ActionProposalCreate, ActionProposalApprove, ActionProposalReject, ActionReleaseCreate,
			ActionKeyCreate, ActionTermsAccept, ActionAuditRead, ActionInventoryRead:
			return true
		}
		return read
	case RoleOperator:
		switch a {
		case ActionProposalCreate, ActionKeyCreate, ActionCredentialSet, ActionCredentialRead,
			ActionCredentialRotate, ActionCredentialRevoke, ActionSyncProduction, ActionTermsAccept,
			ActionIntegrationOffboard, ActionAuditRead, ActionInventoryRead:
			return true
		}
		return read
	case RoleViewer:
		return read || a == ActionAuditRead || a == ActionInventoryRead
	case RoleAgent:
		return read || a == ActionProposalCreate
	}
	return false
}

// AgentPrefix starts the name of every agent principal: "agent:heuristic"
// is the heuristic brain. Such a principal holds the agent role and can
// hold no other.
const AgentPrefix = "agent:"

// AgentPrincipal is the principal name of a build brain.
func AgentPrincipal(brain string) string { return AgentPrefix + brain }

// IsAgent reports whether name is an agent principal by its name.
func IsAgent(name string) bool { return strings.HasPrefix(name, AgentPrefix) }

// namePattern bounds principal names: they appear in signed messages, key
// file names and audit entries, so no separators, spaces or newlines.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)

// CheckName reports whether name can name a principal (a person, or an
// agent as "agent:<brain>").
func CheckName(name string) error {
	n := name
	if IsAgent(n) {
		n = strings.TrimPrefix(n, AgentPrefix)
	}
	if !namePattern.MatchString(n) {
		return fmt.Errorf("%q is not a valid principal name: use letters, digits and . _ @ + - (up to 64, starting with a letter or digit)", name)
	}
	return nil
}

// Principal is a person or agent with their roles.
type Principal struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"` // person or agent
	Roles []Role `json:"roles"`
}

// kindOf is the audit actor kind of a principal with these roles.
func kindOf(name string, roles []Role) string {
	if IsAgent(name) || slices.Contains(roles, RoleAgent) {
		return audit.ActorAgent
	}
	return audit.ActorPerson
}

// rolesOf reads a principal's roles. Agent principals ("agent:…") hold the
// agent role by their name and need no grant.
func rolesOf(ctx context.Context, q querier, name string) ([]Role, error) {
	if IsAgent(name) {
		return []Role{RoleAgent}, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT role FROM principal_roles WHERE name = ? ORDER BY role`, name)
	if err != nil {
		return nil, fmt.Errorf("governance: read the roles of %s: %w", name, err)
	}
	defer rows.Close()
	var out []Role
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, Role(r))
	}
	return out, rows.Err()
}

// querier is what reads need: a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Roles returns a principal's roles (none for an unknown name).
func (s *Service) Roles(ctx context.Context, name string) ([]Role, error) {
	return rolesOf(ctx, s.db, name)
}

// Authorize returns nil when principal may do action, and otherwise a
// *RefusedError saying which role would allow it.
func (s *Service) Authorize(ctx context.Context, principal string, a Action) error {
	return authorize(ctx, s.db, principal, a)
}

func authorize(ctx context.Context, q querier, principal string, a Action) error {
	if err := CheckName(principal); err != nil {
		return refuse(RuleRole, "%v", err)
	}
	roles, err := rolesOf(ctx, q, principal)
	if err != nil {
		return err
	}
	for _, r := range roles {
		if Can(r, a) {
			return nil
		}
	}
	var allowed []string
	for _, r := range Roles() {
		if r != RoleAdmin && Can(r, a) {
			allowed = append(allowed, string(r))
		}
	}
	allowed = append(allowed, string(RoleAdmin))
	if len(roles) == 0 {
		return refuse(RuleRole, "%s holds no role, and %s needs one of: %s; an admin grants it with `spindle role grant %s ROLE --as ADMIN`",
			principal, a, strings.Join(allowed, ", "), principal)
	}
	return refuse(RuleRole, "%s (role %s) may not %s; that needs one of: %s", principal, joinRoles(roles), a, strings.Join(allowed, ", "))
}

func joinRoles(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// Grant gives name a role. by is the admin granting it; while no admin
// exists, anyone may grant the admin role (the bootstrap, audited as
// such), and nothing else can be granted until then.
func (s *Service) Grant(ctx context.Context, by, name string, role Role) (bootstrap bool, err error) {
	if err := CheckName(name); err != nil {
		return false, err
	}
	if !role.Valid() {
		return false, fmt.Errorf("unknown role %q; one of %s", role, joinRoles(Roles()))
	}
	if IsAgent(name) {
		return false, refuse(RuleRole, "%s is an agent principal: it holds the agent role by its name and can hold no other", name)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var admins int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM principal_roles WHERE role = 'admin'`).Scan(&admins); err != nil {
			return err
		}
		switch {
		case admins == 0 && role == RoleAdmin:
			// The first admin has nobody to be granted by: allowed once,
			// recorded as the bootstrap so the audit log shows who took it.
			bootstrap = true
		case admins == 0:
			return refuse(RuleRole, "there is no admin yet: grant the first one with `spindle role grant NAME admin`, then grant %s as that admin", role)
		case by == "":
			return refuse(RuleRole, "granting a role needs an admin: pass --as ADMIN")
		default:
			if err := authorize(ctx, tx, by, ActionRoleGrant); err != nil {
				return err
			}
		}
		have, err := rolesOf(ctx, tx, name)
		if err != nil {
			return err
		}
		if slices.Contains(have, role) {
			return refuse(RuleState, "%s already holds role %s", name, role)
		}
		// An agent identity acts for a brain, a person acts for themselves:
		// mixing them would let one identity both propose as the agent and
		// approve as a person.
		if len(have) > 0 && (role == RoleAgent || slices.Contains(have, RoleAgent)) {
			return refuse(RuleRole, "%s holds %s; the agent role cannot be combined with a person's roles — use a separate name", name, joinRoles(have))
		}
		actor := by
		if bootstrap {
			actor = name
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO principal_roles (name, role, granted_by, granted_at) VALUES (?, ?, ?, ?)`,
			name, string(role), by, s.nowNanos()); err != nil {
			return fmt.Errorf("governance: grant %s to %s: %w", role, name, err)
		}
		details := map[string]any{"role": string(role)}
		if bootstrap {
			details["bootstrap"] = true
		}
		return s.record(ctx, tx, audit.Event{Actor: audit.Actor{Kind: audit.ActorPerson, Name: actor}, Action: string(ActionRoleGrant),
			Object: "principal:" + name, Details: details})
	})
	return bootstrap, err
}

// Revoke takes a role from name; only an admin may, and the last admin's
// admin role cannot be revoked (nobody could grant it again).
func (s *Service) Revoke(ctx context.Context, by, name string, role Role) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if !role.Valid() {
		return fmt.Errorf("unknown role %q; one of %s", role, joinRoles(Roles()))
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if by == "" {
			return refuse(RuleRole, "revoking a role needs an admin: pass --as ADMIN")
		}
		if err := authorize(ctx, tx, by, ActionRoleRevoke); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM principal_roles WHERE name = ? AND role = ?`, name, string(role))
		if err != nil {
			return fmt.Errorf("governance: revoke %s from %s: %w", role, name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return refuse(RuleState, "%s does not hold role %s", name, role)
		}
		if role == RoleAdmin {
			var admins int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM principal_roles WHERE role = 'admin'`).Scan(&admins); err != nil {
				return err
			}
			if admins == 0 {
				return refuse(RuleRole, "%s is the last admin; grant admin to someone else first", name)
			}
		}
		return s.record(ctx, tx, audit.Event{Actor: audit.Actor{Kind: audit.ActorPerson, Name: by}, Action: string(ActionRoleRevoke),
			Object: "principal:" + name, Details: map[string]any{"role": string(role)}})
	})
}

// Principals lists everyone holding a role, by name.
func (s *Service) Principals(ctx context.Context) ([]Principal, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, role FROM principal_roles ORDER BY name, role`)
	if err != nil {
		return nil, fmt.Errorf("governance: list principals: %w", err)
	}
	defer rows.Close()
	var out []Principal
	for rows.Next() {
		var name, role string
		if err := rows.Scan(&name, &role); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Name != name {
			out = append(out, Principal{Name: name})
		}
		p := &out[len(out)-1]
		p.Roles = append(p.Roles, Role(role))
	}
	for i := range out {
		out[i].Kind = kindOf(out[i].Name, out[i].Roles)
	}
	return out, rows.Err()
}

// ErrNotFound is wrapped by lookups of a proposal, release or key that does
// not exist.
var ErrNotFound = errors.New("not found")
