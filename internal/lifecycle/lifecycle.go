// Package lifecycle keeps every integration answerable after its release:
// someone owns it, it is reviewed on a cadence, its credential is rotated,
// its syncs are watched, and when it is no longer wanted it is offboarded —
// its credentials revoked and its inventory kept or purged — in one audited
// transaction.
//
// Owner and review cadence come from the current release's metadata (owner,
// review_every), never from a command line, so changing who answers for an
// integration is a reviewed and signed change like any other. Approving a
// release counts as reviewing the integration.
package lifecycle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/audit"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/store"
	"github.com/spindlehq/spindle/internal/vault"
)

// DefaultReviewEvery is the review cadence of a release whose spec sets no
// metadata.review_every.
const DefaultReviewEvery = 90 * 24 * time.Hour

// DefaultStaleAfter is how old the last sync may be before an integration
// is stale: twice a daily schedule, so one late or skipped run does not
// raise an alarm but a stopped schedule does.
const DefaultStaleAfter = 48 * time.Hour

// Unassigned is the owner the drafting brain writes: a placeholder that
// asks a person to fill it in, and so no owner at all.
const Unassigned = "unassigned"

// Audit actions.
const (
	ActionOffboard = string(governance.ActionIntegrationOffboard)
	// ActionPurge is a later --purge of an integration already offboarded
	// with its inventory kept.
	ActionPurge = "integration.purge"
)

// Errors Ready wraps, for callers to test with errors.Is. The messages
// around them say what to do.
var (
	ErrNoRelease  = errors.New("no release")
	ErrOffboarded = errors.New("offboarded")
	ErrNoOwner    = errors.New("no owner")
	// ErrUnknown: nothing is released, proposed, credentialed or recorded
	// under the name.
	ErrUnknown = errors.New("unknown integration")
)

// Inventory is what lifecycle needs of the inventory store: the sync runs
// that show an integration's health, and the purge that offboarding with
// --purge runs in its transaction. *sqlite.Store implements it, and so
// must the PostgreSQL store, on the database its DB() opens.
type Inventory interface {
	Runs(ctx context.Context, source string, limit int) ([]store.Run, error)
	PurgeSourceTx(ctx context.Context, tx *sql.Tx, source string) (int64, error)
}

// Options configure a Lifecycle. Audit, Vault, Gov and Inventory are
// required and must all be over the database passed to New.
type Options struct {
	Audit     *audit.Log
	Vault     *vault.Vault
	Gov       *governance.Service
	Inventory Inventory
	// Now is the clock (default time.Now).
	Now func() time.Time
	// StaleAfter is how old the last sync may be before the integration is
	// stale (default DefaultStaleAfter).
	StaleAfter time.Duration
}

// Lifecycle is the integration lifecycle over one database (the store's
// DB(), SQLite or PostgreSQL). It is safe for concurrent use: every change
// is one write transaction, which the store serialises.
type Lifecycle struct {
	db *sql.DB
	o  Options
	// failAt, set only by this package's tests, fails an offboarding at the
	// named step so they can show a half-done one never commits.
	failAt func(step string) error
}

// New returns the lifecycle kept in db, whose schema (migration 00005) the
// store has applied.
func New(db *sql.DB, o Options) (*Lifecycle, error) {
	switch {
	case db == nil:
		return nil, errors.New("lifecycle: no database; open the store and pass its DB()")
	case o.Audit == nil:
		return nil, errors.New("lifecycle: no audit log; offboarding is audited, so pass audit.New(db, …)")
	case o.Vault == nil:
		return nil, errors.New("lifecycle: no vault; offboarding revokes credentials, so pass vault.Open(db, …)")
	case o.Gov == nil:
		return nil, errors.New("lifecycle: no governance service; owners and cadences come from releases, so pass governance.New(db, …)")
	case o.Inventory == nil:
		return nil, errors.New("lifecycle: no inventory; health comes from its sync runs, so pass the store")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	return &Lifecycle{db: db, o: o}, nil
}

// HasOwner reports whether owner names someone: not empty and not the
// drafts' "unassigned" placeholder.
func HasOwner(owner string) bool {
	owner = strings.TrimSpace(owner)
	return owner != "" && !strings.EqualFold(owner, Unassigned)
}

// Offboarding is an integration's offboarding as recorded.
type Offboarding struct {
	At time.Time `json:"at"`
	By string    `json:"by"`
	// Release was current when it was offboarded (nil: none). A later
	// release brings the integration back.
	Release  *int64     `json:"release,omitempty"`
	PurgedAt *time.Time `json:"purged_at,omitempty"` // nil: the inventory was kept
}

// Purged reports whether the inventory was deleted.
func (o *Offboarding) Purged() bool { return o != nil && o.PurgedAt != nil }

// State is an integration's lifecycle row.
type State struct {
	Name        string               `json:"name"`
	Owner       string               `json:"owner"`
	ReviewEvery integration.Duration `json:"review_every"`
	// Release is the release Owner and ReviewEvery were read from (nil:
	// none yet), and LastReviewedAt that release's time.
	Release        *int64     `json:"release,omitempty"`
	LastReviewedAt *time.Time `json:"last_reviewed_at,omitempty"`
	UpdatedAt      time.Time  `json:"updated_at"`
	// Offboarding is the last offboarding, whether or not a later release
	// brought the integration back (see InForce).
	Offboarding *Offboarding `json:"offboarding,omitempty"`
}

// offboardedBy reports whether s's offboarding is in force when cur is the
// current release (nil: none): it is until a release other than the one
// current at offboarding exists. Releases only ever grow, so "other" is
// "later".
func (s *State) offboardedBy(cur *governance.Release) bool {
	if s == nil || s.Offboarding == nil {
		return false
	}
	if cur == nil {
		return s.Offboarding.Release == nil
	}
	return s.Offboarding.Release != nil && *s.Offboarding.Release == cur.ID
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const stateCols = `name, owner, review_every_ns, release_id, last_reviewed_at, updated_at,
	offboarded_at, offboarded_by, offboarded_release, purged_at`

type scanner interface{ Scan(dest ...any) error }

func scanState(r scanner) (*State, error) {
	var (
		s                            State
		every, updated               int64
		rel, reviewed, offAt, offRel sql.NullInt64
		purged                       sql.NullInt64
		offBy                        sql.NullString
	)
	if err := r.Scan(&s.Name, &s.Owner, &every, &rel, &reviewed, &updated, &offAt, &offBy, &offRel, &purged); err != nil {
		return nil, err
	}
	s.ReviewEvery = integration.Duration(every)
	s.Release = ptrInt(rel)
	s.LastReviewedAt = ptrTime(reviewed)
	s.UpdatedAt = fromNanos(updated)
	if offAt.Valid {
		s.Offboarding = &Offboarding{At: fromNanos(offAt.Int64), By: offBy.String, Release: ptrInt(offRel), PurgedAt: ptrTime(purged)}
	}
	return &s, nil
}

// readState reads name's row; nil when there is none.
func readState(ctx context.Context, q querier, name string) (*State, error) {
	s, err := scanState(q.QueryRowContext(ctx, `SELECT `+stateCols+` FROM integration_lifecycle WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lifecycle: read the state of %s: %w", name, err)
	}
	return s, nil
}

func readStates(ctx context.Context, q querier) (map[string]*State, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+stateCols+` FROM integration_lifecycle ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("lifecycle: list integrations: %w", err)
	}
	defer rows.Close()
	out := map[string]*State{}
	for rows.Next() {
		s, err := scanState(rows)
		if err != nil {
			return nil, fmt.Errorf("lifecycle: list integrations: %w", err)
		}
		out[s.Name] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lifecycle: list integrations: %w", err)
	}
	return out, nil
}

// State returns name's lifecycle row, or nil when lifecycle has not seen
// it yet (no release synced, never offboarded).
func (l *Lifecycle) State(ctx context.Context, name string) (*State, error) {
	return readState(ctx, l.db, name)
}

// Sync registers name, or refreshes it, from its current release: the
// owner and review cadence of the released spec (metadata.owner and
// metadata.review_every, DefaultReviewEvery when unset), and the release's
// time as the last review. The release chain is verified first
// (governance.ReleasedSpec), so a tampered release never names an owner.
// It wraps ErrNoRelease when there is no release. An owner that is missing
// is recorded as written; Ready and List report it.
func (l *Lifecycle) Sync(ctx context.Context, name string) (*State, error) {
	rel, err := l.o.Gov.ReleasedSpec(ctx, name)
	if errors.Is(err, governance.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", ErrNoRelease, err)
	}
	if err != nil {
		return nil, err
	}
	doc, err := integration.Parse(fmt.Sprintf("%s (release %d)", name, rel.Release.ID), rel.Spec)
	if err != nil {
		return nil, fmt.Errorf("the released spec of %s (release %d) does not parse with this build, so its owner and review cadence are unknown; run a build that reads it: %w", name, rel.Release.ID, err)
	}
	owner := strings.TrimSpace(doc.Spec.Metadata.Owner)
	every := doc.Spec.Metadata.ReviewEvery.Std()
	if every <= 0 {
		every = DefaultReviewEvery
	}
	var out *State
	err = l.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := readState(ctx, tx, name)
		if err != nil {
			return err
		}
		if cur != nil && cur.Release != nil && *cur.Release == rel.Release.ID && cur.Owner == owner && cur.ReviewEvery.Std() == every {
			out = cur // nothing changed: no write
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO integration_lifecycle (name, owner, review_every_ns, release_id, last_reviewed_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, review_every_ns = excluded.review_every_ns,
				release_id = excluded.release_id, last_reviewed_at = excluded.last_reviewed_at, updated_at = excluded.updated_at`,
			name, owner, int64(every), rel.Release.ID, rel.Release.CreatedAt.UnixNano(), l.o.Now().UTC().UnixNano()); err != nil {
			return fmt.Errorf("lifecycle: record %s from release %d: %w", name, rel.Release.ID, err)
		}
		out, err = readState(ctx, tx, name)
		return err
	})
	return out, err
}

// Ready returns nil when name may run in production as far as its
// lifecycle goes, and otherwise an error saying what to do: it is refused
// when it has no release (ErrNoRelease), when it was offboarded and no
// release has been approved since (ErrOffboarded), and when its released
// spec names no owner (ErrNoOwner). A release chain that does not verify
// is an error too. Terms and credentials are the vault's to check.
func (l *Lifecycle) Ready(ctx context.Context, name string) error {
	st, err := readState(ctx, l.db, name)
	if err != nil {
		return err
	}
	cur, err := l.current(ctx, name)
	if err != nil {
		return err
	}
	if st.offboardedBy(cur) {
		return offboardedError(name, st.Offboarding)
	}
	if cur == nil {
		return l.noReleaseError(ctx, name)
	}
	st, err = l.Sync(ctx, name)
	if errors.Is(err, ErrNoRelease) {
		return l.noReleaseError(ctx, name)
	}
	if err != nil {
		return err
	}
	if !HasOwner(st.Owner) {
		what := "no metadata.owner"
		if st.Owner != "" {
			what = fmt.Sprintf("metadata.owner %q", st.Owner)
		}
		return fmt.Errorf("%s has no owner (%s in release %d): %w; every production integration needs a team or person who answers for it. "+
			"Set metadata.owner in its integration.yaml, then propose and approve that change (`spindle propose DIR`, `spindle approve ID --as PERSON`)",
			name, what, *st.Release, ErrNoOwner)
	}
	return nil
}

// current is name's current release, nil when it has none.
func (l *Lifecycle) current(ctx context.Context, name string) (*governance.Release, error) {
	cur, err := l.o.Gov.Current(ctx, name)
	if errors.Is(err, governance.ErrNotFound) {
		return nil, nil
	}
	return cur, err
}

func offboardedError(name string, o *Offboarding) error {
	what := "its credentials were revoked and its inventory kept"
	if o.Purged() {
		what = "its credentials were revoked and its inventory purged"
	}
	return fmt.Errorf("%s was offboarded on %s by %s (%s): %w, so it does not run. "+
		"To bring it back, have a new release approved (`spindle propose DIR`, `spindle approve ID --as PERSON`), then provision its credential again (`spindle credential set`)",
		name, o.At.Format(time.RFC3339), o.By, what, ErrOffboarded)
}

func (l *Lifecycle) noReleaseError(ctx context.Context, name string) error {
	open, err := l.openProposals(ctx)
	if err != nil {
		return err
	}
	if ids := open[name]; len(ids) > 0 {
		return fmt.Errorf("%s has no release: %w; nothing runs in production until a person approves one. Proposal %d is open: review it (`spindle review %d`) and approve it (`spindle approve %d --as PERSON`)",
			name, ErrNoRelease, ids[0], ids[0], ids[0])
	}
	return fmt.Errorf("%s has no release: %w; nothing runs in production until a person approves one. "+
		"Build it (`spindle build DOC --out DIR`), propose it (`spindle propose DIR`) and have an approver approve it (`spindle approve ID --as PERSON`)",
		name, ErrNoRelease)
}

// openProposals maps integration → its open proposal IDs, oldest first.
func (l *Lifecycle) openProposals(ctx context.Context) (map[string][]int64, error) {
	ps, err := l.o.Gov.Proposals(ctx, governance.StatusOpen)
	if err != nil {
		return nil, err
	}
	out := map[string][]int64{}
	for _, p := range ps {
		out[p.Integration] = append(out[p.Integration], p.ID)
	}
	return out, nil
}

// inTx runs f in one write transaction (serialised by the store: SQLite's
// BEGIN IMMEDIATE, PostgreSQL's writer lock) and commits only if f and the
// commit succeed.
func (l *Lifecycle) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("lifecycle: begin: %w", err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("lifecycle: commit: %w", err)
	}
	return nil
}

func (l *Lifecycle) fail(step string) error {
	if l.failAt == nil {
		return nil
	}
	return l.failAt(step)
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func ptrTime(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

func ptrInt(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	v := n.Int64
	return &v
}

// ProductionRuns are the integration's runs of a released spec, newest
// first, at most limit. `spindle run` and `example run` write under the
// same source name while a spec is developed; counting those would let a
// developer's run against a small sandbox pass for the last sync, or set
// the record counts production is judged against.
func (l *Lifecycle) ProductionRuns(ctx context.Context, name string, limit int) ([]store.Run, error) {
	rels, err := l.o.Gov.Releases(ctx, name)
	if err != nil {
		return nil, err
	}
	released := map[string]bool{}
	for _, r := range rels {
		released[strings.TrimPrefix(r.SpecDigest, "sha256:")] = true
	}
	if len(released) == 0 {
		return nil, nil
	}
	// Development runs are few next to scheduled ones: read a window and
	// filter rather than widen the store's interface.
	runs, err := l.o.Inventory.Runs(ctx, name, max(limit*4, 200))
	if err != nil {
		return nil, err
	}
	out := runs[:0]
	for _, r := range runs {
		if released[strings.TrimPrefix(r.SpecDigest, "sha256:")] {
			out = append(out, r)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}
