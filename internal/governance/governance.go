// Package governance is the release gate: people approve what runs in
// production. A build bundle becomes a proposal; people with the approver
// (or admin) role review it and decide, each decision signed with their
// own ed25519 key over the exact spec digest; the approval that completes
// a proposal creates a release — an approved spec digest — in the same
// transaction. Nobody approves their own proposal, the agent approves
// nothing, and a change to auth, scopes, hosts or write methods needs two
// distinct approvers. Verify re-checks the whole chain offline: digests,
// signatures, distinct approvers, separation of duties and counts.
//
// Every change is recorded in the audit log within its own transaction, so
// a change without its audit entry cannot commit.
package governance

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/spindlehq/spindle/internal/audit"
)

// Auditor records governance actions inside the caller's transaction.
// *audit.Log implements it.
type Auditor interface {
	AppendTx(ctx context.Context, tx *sql.Tx, ev audit.Event) (audit.Entry, error)
}

// Options configure a Service.
type Options struct {
	// Audit is required: every governance action is audited.
	Audit Auditor
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service is governance over one database: the store's DB(), SQLite or
// PostgreSQL. It is safe for concurrent use, by several processes too:
// every change is one write transaction, and the store serialises those
// (SQLite's write lock, taken at BEGIN IMMEDIATE; on PostgreSQL an
// advisory lock the store's DB() takes at BEGIN), so decisions on a
// proposal are never interleaved.
type Service struct {
	db    *sql.DB
	audit Auditor
	now   func() time.Time
	// failAt, set only by this package's tests, fails a decision at the
	// named step so they can show a half-done approval never commits.
	failAt func(step string) error
}

// New returns the governance service over db, whose schema the store's
// migrations created.
func New(db *sql.DB, o Options) (*Service, error) {
	if db == nil {
		return nil, errors.New("governance: no database; open the store and pass its DB()")
	}
	if o.Audit == nil {
		return nil, errors.New("governance: no audit log; every governance action must be audited (pass audit.New(db, …))")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{db: db, audit: o.Audit, now: o.Now}, nil
}

// Rules a refusal names.
const (
	RuleRole       = "role"                 // the principal's roles do not allow it
	RuleAuthor     = "separation-of-duties" // the author cannot approve
	RuleState      = "state"                // the proposal is not open, or the decision was already made
	RuleDigest     = "digest"               // the reviewed digest is not the proposal's
	RuleSignature  = "signature"            // no key, the wrong key, or a signature that does not verify
	RuleDuplicate  = "duplicate"            // the same spec is already proposed or released
	RuleBundle     = "bundle"               // the bundle is not a proposable build
	RuleSuperseded = "superseded"           // the release it was reviewed against is no longer current
)

// RefusedError is a governance rule saying no. Msg says what to do instead.
type RefusedError struct {
	Rule string
	Msg  string
}

func (e *RefusedError) Error() string { return e.Msg }

func refuse(rule, format string, args ...any) error {
	return &RefusedError{Rule: rule, Msg: fmt.Sprintf(format, args...)}
}

// IsRefused reports whether err is a refusal by rule (any rule if "").
func IsRefused(err error, rule string) bool {
	var re *RefusedError
	return errors.As(err, &re) && (rule == "" || re.Rule == rule)
}

// inTx runs f in one write transaction (serialised by the store: see
// Service) and commits only if f and the commit succeed.
func (s *Service) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("governance: begin: %w", err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("governance: commit: %w", err)
	}
	return nil
}

// readTx runs f in a read-only transaction: a consistent snapshot without
// taking the write lock. SQLite begins it deferred (one snapshot from the
// first read; it ignores the isolation level); PostgreSQL needs REPEATABLE
// READ for one snapshot, since READ COMMITTED takes a new one per
// statement and Verify, reading a release committed between two of its
// statements, would report tampering that is not there.
func (s *Service) readTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return fmt.Errorf("governance: begin read: %w", err)
	}
	defer tx.Rollback()
	return f(tx)
}

// record appends ev to the audit log inside tx.
func (s *Service) record(ctx context.Context, tx *sql.Tx, ev audit.Event) error {
	ev.Boundary = audit.BoundaryNone
	if ev.Time.IsZero() {
		ev.Time = s.now() // the governance clock, so entries and rows agree
	}
	if _, err := s.audit.AppendTx(ctx, tx, ev); err != nil {
		return fmt.Errorf("governance: audit %s %s: %w", ev.Action, ev.Object, err)
	}
	return nil
}

func (s *Service) fail(step string) error {
	if s.failAt == nil {
		return nil
	}
	return s.failAt(step)
}

func (s *Service) nowNanos() int64 { return s.now().UTC().UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }
