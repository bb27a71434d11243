package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/contract"
	"github.com/spindlehq/spindle/internal/governance"
	"github.com/spindlehq/spindle/internal/integration"
	"github.com/spindlehq/spindle/internal/store"
	"github.com/spindlehq/spindle/internal/vault"
)

// Health is an integration's state as its syncs show it.
type Health string

// Health values, from List. They are judged in this order: the first that
// applies is the one shown.
const (
	// Offboarded: offboarded, and no release approved since.
	Offboarded Health = "offboarded"
	// NeverSynced: no sync run recorded for it.
	NeverSynced Health = "never-synced"
	// Failing: the last run failed (no stream delivered anything).
	Failing Health = "failing"
	// Stale: the last run finished longer ago than StaleAfter (default
	// 48h): the schedule stopped, so the inventory is old whatever it says.
	Stale Health = "stale"
	// Degraded: the last run was partial (a stream partial, denied or
	// failed; the inventory kept what it knew).
	Degraded Health = "degraded"
	// Healthy: the last run completed every stream, within StaleAfter.
	Healthy Health = "healthy"
)

// Summary is one integration's lifecycle at a glance.
type Summary struct {
	Name string `json:"name"`
	// Owner as the current release names it ("" when it names none);
	// HasOwner is false for "" and "unassigned".
	Owner    string `json:"owner"`
	HasOwner bool   `json:"has_owner"`
	// Release is the current release (nil: none yet); OpenProposals the
	// proposals awaiting a decision.
	Release       *ReleaseInfo `json:"release"`
	OpenProposals []int64      `json:"open_proposals"`
	// ReviewEvery is the cadence; the review is due ReviewEvery after the
	// last release (approving a release is a review). The times are nil
	// without a release, and once offboarded.
	ReviewEvery    integration.Duration `json:"review_every"`
	LastReviewedAt *time.Time           `json:"last_reviewed_at"`
	ReviewDue      *time.Time           `json:"review_due"`
	ReviewOverdue  bool                 `json:"review_overdue"`
	// Credentials bound to it, revoked ones included.
	Credentials []Credential `json:"credentials"`
	// Terms is the acceptance in force (nil: no one accepted the terms).
	Terms    *vault.Acceptance `json:"terms"`
	LastSync *SyncInfo         `json:"last_sync"`
	// Contract is the live contract check of the last sync (nil: none
	// recorded for it); when present, Health is the one it concluded.
	Contract *ContractInfo `json:"contract"`
	Health   Health        `json:"health"`
	// Offboarded is set while the offboarding is in force.
	Offboarded *Offboarding `json:"offboarded"`
	// Problems are what needs a person, each with what to do. Empty for an
	// integration in order (and for an offboarded one: it needs nothing).
	Problems []string `json:"problems"`
}

// ReleaseInfo identifies a release.
type ReleaseInfo struct {
	ID         int64     `json:"id"`
	SpecDigest string    `json:"spec_sha256"`
	CreatedAt  time.Time `json:"created_at"`
	Approvers  []string  `json:"approvers"`
}

// Credential is a credential's lifecycle facts; never a secret.
type Credential struct {
	Name       string     `json:"name"`
	Host       string     `json:"host"`
	RotateBy   time.Time  `json:"rotate_by"`
	Overdue    bool       `json:"overdue"` // live and past RotateBy
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// SyncInfo is the last recorded sync run of an integration.
type SyncInfo struct {
	RunID      int64     `json:"run_id"`
	Status     string    `json:"status"` // ok, partial, failed
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	SpecDigest string    `json:"spec_digest,omitempty"`
}

// ContractInfo is the recorded contract check (internal/contract) of an
// integration's last sync.
type ContractInfo struct {
	RunID     int64     `json:"run_id"`
	CheckedAt time.Time `json:"checked_at"`
	Health    Health    `json:"health"` // healthy, degraded or failing
	Failing   []string  `json:"failing"`
	Warning   []string  `json:"warning"`
}

// List summarises every integration lifecycle knows of — every name with a
// release, a proposal, a credential or a lifecycle row — by name. Each
// released integration is first synced from its current release (Sync),
// so the owner and cadence shown are the released ones; a release that
// cannot be read (its chain does not verify) is a problem of that row,
// not an error of the list.
func (l *Lifecycle) List(ctx context.Context) ([]Summary, error) {
	now := l.o.Now().UTC()
	rels, err := l.o.Gov.Releases(ctx, "")
	if err != nil {
		return nil, err
	}
	current := map[string]*governance.Release{}
	for i := range rels { // oldest first: the last one of each name is current
		current[rels[i].Integration] = &rels[i]
	}
	open, err := l.openProposals(ctx)
	if err != nil {
		return nil, err
	}
	all, err := l.o.Gov.Proposals(ctx, "")
	if err != nil {
		return nil, err
	}
	creds, err := l.o.Vault.List(ctx)
	if err != nil {
		return nil, err
	}
	terms, err := l.o.Vault.Terms(ctx)
	if err != nil {
		return nil, err
	}
	states, err := readStates(ctx, l.db)
	if err != nil {
		return nil, err
	}

	names := map[string]bool{}
	for n := range current {
		names[n] = true
	}
	for _, p := range all {
		names[p.Integration] = true
	}
	for _, m := range creds {
		names[m.Integration] = true
	}
	for n := range states {
		names[n] = true
	}
	accepted := map[string]*vault.Acceptance{}
	for i := range terms { // newest first within each integration
		if _, ok := accepted[terms[i].Integration]; !ok {
			accepted[terms[i].Integration] = &terms[i]
		}
	}

	out := make([]Summary, 0, len(names))
	for _, name := range sortedKeys(names) {
		s := Summary{Name: name, OpenProposals: open[name], Credentials: []Credential{}, Terms: accepted[name], Problems: []string{}}
		if s.OpenProposals == nil {
			s.OpenProposals = []int64{}
		}
		for _, m := range creds {
			if m.Integration == name {
				s.Credentials = append(s.Credentials, Credential{Name: m.Name, Host: m.Host, RotateBy: m.RotateBy,
					Overdue: m.Overdue, LastUsedAt: m.LastUsedAt, RevokedAt: m.RevokedAt})
			}
		}
		st, cur := states[name], current[name]
		unreadable := false
		if st.offboardedBy(cur) {
			s.Offboarded = st.Offboarding
		}
		if cur != nil && s.Offboarded == nil && (st == nil || st.Release == nil || *st.Release != cur.ID) {
			// A release lifecycle has not read yet: read it now.
			synced, err := l.Sync(ctx, name)
			if err != nil {
				if ctx.Err() != nil {
					return nil, err
				}
				unreadable = true
				s.Problems = append(s.Problems, fmt.Sprintf("its release cannot be read, so its owner and cadence are unknown (check it with `spindle release verify %s`): %v", name, oneLine(err)))
			} else {
				st = synced
			}
		}
		l.fill(&s, st, cur, now)
		runs, err := l.ProductionRuns(ctx, name, 1)
		if err != nil {
			return nil, err
		}
		if len(runs) > 0 {
			r := runs[0]
			s.LastSync = &SyncInfo{RunID: r.ID, Status: r.Status, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, SpecDigest: r.SpecDigest}
		}
		if s.LastSync != nil {
			rec, ok, err := contract.Latest(ctx, l.db, name)
			if err != nil {
				return nil, err
			}
			if ok && (rec.RunID == s.LastSync.RunID || !rec.CheckedAt.Before(s.LastSync.FinishedAt)) {
				s.Contract = &ContractInfo{RunID: rec.RunID, CheckedAt: rec.CheckedAt, Health: Health(rec.Health), Failing: rec.Failing(), Warning: rec.Warning()}
			}
		}
		s.Health = l.health(s, now)
		if s.Offboarded == nil {
			s.Problems = append(s.Problems, l.problems(s, unreadable)...)
		}
		out = append(out, s)
	}
	return out, nil
}

// fill sets what comes from the release and the lifecycle row.
func (l *Lifecycle) fill(s *Summary, st *State, cur *governance.Release, now time.Time) {
	s.ReviewEvery = integration.Duration(DefaultReviewEvery)
	if st != nil {
		s.Owner = st.Owner
		s.ReviewEvery = st.ReviewEvery
	}
	s.HasOwner = HasOwner(s.Owner)
	if cur == nil {
		return
	}
	s.Release = &ReleaseInfo{ID: cur.ID, SpecDigest: cur.SpecDigest, CreatedAt: cur.CreatedAt, Approvers: cur.Approvers}
	if s.Offboarded != nil {
		return // nothing of it is due any more
	}
	reviewed := cur.CreatedAt
	due := reviewed.Add(s.ReviewEvery.Std())
	s.LastReviewedAt, s.ReviewDue, s.ReviewOverdue = &reviewed, &due, now.After(due)
}

// health judges s by its last run; see Health for the order. A contract
// check recorded for the last run decides between failing, degraded and
// healthy; staleness is still judged by time.
func (l *Lifecycle) health(s Summary, now time.Time) Health {
	switch {
	case s.Offboarded != nil:
		return Offboarded
	case s.LastSync == nil:
		return NeverSynced
	case s.Contract != nil && s.Contract.Health == Failing:
		return Failing
	case s.Contract != nil && now.Sub(s.LastSync.FinishedAt) > l.o.StaleAfter:
		return Stale
	case s.Contract != nil:
		return s.Contract.Health
	case s.LastSync.Status == store.RunFailed:
		return Failing
	case now.Sub(s.LastSync.FinishedAt) > l.o.StaleAfter:
		return Stale
	case s.LastSync.Status == store.RunPartial:
		return Degraded
	default:
		return Healthy
	}
}

// problems lists what needs a person, each saying what to do. With
// unreadable the owner is unknown rather than missing: the release's own
// problem is already listed.
func (l *Lifecycle) problems(s Summary, unreadable bool) []string {
	var out []string
	day := func(t time.Time) string { return t.Format("2006-01-02") }
	if s.Release == nil {
		what := "build, propose and approve it (`spindle propose DIR`, `spindle approve ID --as PERSON`)"
		if len(s.OpenProposals) > 0 {
			what = fmt.Sprintf("proposal %d awaits a decision (`spindle review %d`)", s.OpenProposals[0], s.OpenProposals[0])
		}
		out = append(out, "no release, so it does not run in production: "+what)
	} else {
		if !s.HasOwner && !unreadable {
			out = append(out, "no owner: set metadata.owner in its integration.yaml to the team or person who answers for it, then propose and approve the change; sync refuses until then")
		}
		if s.ReviewOverdue {
			out = append(out, fmt.Sprintf("review overdue since %s (every %s): review it and release its spec again (approving a release is the review)", day(*s.ReviewDue), s.ReviewEvery))
		}
		if s.Terms == nil {
			out = append(out, fmt.Sprintf("no one accepted the vendor's terms: `spindle terms accept %s --as PERSON`; sync refuses until then", s.Name))
		}
	}
	for _, c := range s.Credentials {
		if c.Overdue {
			out = append(out, fmt.Sprintf("credential %s overdue for rotation since %s: issue a new secret at the vendor and run `spindle credential rotate %s --as PERSON`", c.Name, day(c.RotateBy), c.Name))
		}
	}
	switch s.Health {
	case Failing:
		if s.Contract != nil && len(s.Contract.Failing) > 0 {
			out = append(out, fmt.Sprintf("contract checks of run %d failed (%s): see `spindle audit log --action contract.check` and `spindle inventory runs --source %s`", s.Contract.RunID, strings.Join(s.Contract.Failing, ", "), s.Name))
			break
		}
		out = append(out, fmt.Sprintf("last sync failed (run %d, %s): see `spindle inventory runs --source %s`", s.LastSync.RunID, day(s.LastSync.FinishedAt), s.Name))
	case Stale:
		out = append(out, fmt.Sprintf("stale: the last sync finished %s, more than %s ago; check its schedule", day(s.LastSync.FinishedAt), integration.Duration(l.o.StaleAfter)))
	case Degraded:
		if s.Contract != nil && s.LastSync.Status == store.RunOK {
			out = append(out, fmt.Sprintf("contract checks of run %d warned (%s)", s.Contract.RunID, strings.Join(s.Contract.Warning, ", ")))
			break
		}
		out = append(out, fmt.Sprintf("last sync partial (run %d): see `spindle inventory runs --source %s` for the streams", s.LastSync.RunID, s.Name))
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// oneLine folds a multi-line error (a release chain's problems) into one
// table cell's worth.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
