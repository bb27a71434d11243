// Package findings evaluates inventoried non-human identities against
// deterministic rules, each evidencing a risk of the OWASP Non-Human
// Identities Top 10 (2025). A rule reads only the canonical record and its
// relationships, so the same entity gives the same findings at the same
// time whatever its vendor. Missing data never fires a rule, except where
// the absence itself is the risk (no owner, no expiry, never used), and
// then the evidence names the null field. See docs/findings.md.
package findings

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/store"
)

// Severity ranks a finding.
type Severity string

const (
	High   Severity = "high"
	Medium Severity = "medium"
	Low    Severity = "low"
)

// rank orders severities, highest first, for sorting.
func (s Severity) rank() int {
	switch s {
	case High:
		return 0
	case Medium:
		return 1
	}
	return 2
}

// Finding is one rule that fired on one entity.
type Finding struct {
	ID string `json:"id"`
	// Risk is the OWASP NHI Top 10 (2025) risk it evidences, e.g. "NHI7:2025".
	Risk     string   `json:"risk"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	// Evidence names the fields and values that made the rule fire.
	Evidence string `json:"evidence"`
}

// Rule describes a rule, for docs and for validating a filter.
type Rule struct {
	ID       string   `json:"id"`
	Risk     string   `json:"risk"`
	RiskName string   `json:"risk_name"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
}

// Options are the rules' thresholds; zero values take the defaults.
type Options struct {
	// MaxLifetime: a static secret expiring later than this after its
	// creation is long-lived (default 365 days).
	MaxLifetime time.Duration
	// RotateAfter: a static secret last rotated (else created) longer ago
	// than this is not rotated (default 365 days).
	RotateAfter time.Duration
	// UnusedAfter: a live identity last used (or, never used, created)
	// longer ago than this is unused (default 90 days).
	UnusedAfter time.Duration
}

// Defaults of Options.
const (
	DefaultMaxLifetime = 365 * 24 * time.Hour
	DefaultRotateAfter = 365 * 24 * time.Hour
	DefaultUnusedAfter = 90 * 24 * time.Hour
)

func (o Options) withDefaults() Options {
	if o.MaxLifetime <= 0 {
		o.MaxLifetime = DefaultMaxLifetime
	}
	if o.RotateAfter <= 0 {
		o.RotateAfter = DefaultRotateAfter
	}
	if o.UnusedAfter <= 0 {
		o.UnusedAfter = DefaultUnusedAfter
	}
	return o
}

// Rule ids.
const (
	NoOwner          = "nhi.no_owner"
	LongLivedSecret  = "nhi.long_lived_secret"
	NotRotated       = "nhi.not_rotated"
	Unused           = "nhi.unused"
	NeverUsed        = "nhi.never_used"
	Overprivileged   = "nhi.overprivileged"
	ActivePastExpiry = "nhi.active_past_expiry"
	ExpiredPresent   = "nhi.expired_present"
	ThirdPartyWrite  = "nhi.third_party_write"
)

// OWASP NHI Top 10 (2025) risks the rules cite.
var riskNames = map[string]string{
	"NHI1:2025": "Improper Offboarding",
	"NHI3:2025": "Vulnerable Third-Party NHI",
	"NHI5:2025": "Overprivileged NHI",
	"NHI7:2025": "Long-Lived Secrets",
}

type rule struct {
	Rule
	// check returns the evidence when the rule fires on e, "" otherwise.
	check func(e store.Entity, now time.Time, o Options) string
}

// rules are evaluated in this order; Evaluate sorts by severity after.
var rules = []rule{
	{Rule{ID: NoOwner, Risk: "NHI1:2025", Severity: Medium, Title: "No owner"}, noOwner},
	{Rule{ID: LongLivedSecret, Risk: "NHI7:2025", Severity: Medium, Title: "Long-lived secret"}, longLived},
	{Rule{ID: NotRotated, Risk: "NHI7:2025", Severity: Medium, Title: "Not rotated"}, notRotated},
	{Rule{ID: Unused, Risk: "NHI1:2025", Severity: Medium, Title: "Unused but active"}, unused},
	{Rule{ID: NeverUsed, Risk: "NHI1:2025", Severity: Low, Title: "Never used but active"}, neverUsed},
	{Rule{ID: Overprivileged, Risk: "NHI5:2025", Severity: High, Title: "Admin privilege"}, overprivileged},
	{Rule{ID: ActivePastExpiry, Risk: "NHI7:2025", Severity: Medium, Title: "Active past its expiry"}, activePastExpiry},
	{Rule{ID: ExpiredPresent, Risk: "NHI1:2025", Severity: Low, Title: "Expired or revoked but still listed"}, expiredPresent},
	{Rule{ID: ThirdPartyWrite, Risk: "NHI3:2025", Severity: High, Title: "Third party with write access"}, thirdPartyWrite},
}

// IDs lists every rule, in evaluation order.
func IDs() []Rule {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		out[i] = r.Rule
		out[i].RiskName = riskNames[r.Risk]
	}
	return out
}

// RiskName is the name of an OWASP NHI Top 10 (2025) risk a rule cites,
// e.g. "Long-Lived Secrets" for "NHI7:2025"; "" for any other.
func RiskName(risk string) string { return riskNames[risk] }

// Known reports whether id is a rule id.
func Known(id string) bool {
	return slices.ContainsFunc(rules, func(r rule) bool { return r.ID == id })
}

// Evaluate returns e's findings at now, highest severity first (then in
// rule order). Context kinds (human_user, team, role, resource) and
// entities a complete sync no longer reports (presence gone) have none.
func Evaluate(e store.Entity, now time.Time, o Options) []Finding {
	if !e.Kind.IsNHI() || e.Presence == store.Gone {
		return []Finding{}
	}
	o = o.withDefaults()
	out := []Finding{}
	for _, r := range rules {
		if ev := r.check(e, now, o); ev != "" {
			out = append(out, Finding{ID: r.ID, Risk: r.Risk, Severity: r.Severity, Title: r.Title, Evidence: ev})
		}
	}
	// Stable: equal severities keep rule order.
	slices.SortStableFunc(out, func(a, b Finding) int { return a.Severity.rank() - b.Severity.rank() })
	return out
}

// Has reports whether fs holds the finding id.
func Has(fs []Finding, id string) bool {
	return slices.ContainsFunc(fs, func(f Finding) bool { return f.ID == id })
}

// Entity is an inventoried entity with its findings, as the API and the
// CLI show it (store.Entity stays the store's view).
type Entity struct {
	store.Entity
	Findings []Finding `json:"findings"`
}

// Assess evaluates each entity.
func Assess(ents []store.Entity, now time.Time, o Options) []Entity {
	out := make([]Entity, len(ents))
	for i, e := range ents {
		out[i] = Entity{Entity: e, Findings: Evaluate(e, now, o)}
	}
	return out
}

// live: not known to be unusable. A null status is taken as live, since
// many sources do not report one and the risk is then still open.
func live(e store.Entity) bool {
	return e.Status == nil || *e.Status == nhi.Active
}

// staticSecret: a credential whose secret stays the same until someone
// replaces it. Federated and certificate credentials rotate by design or
// carry their own validity; a null credential_type is not guessed.
func staticSecret(e store.Entity) bool {
	return e.CredentialType != nil && (*e.CredentialType == nhi.Static || *e.CredentialType == nhi.Password)
}

// credentialBearing: the NHI kinds that authenticate. A webhook delivers
// data outward but is not an identity that signs in.
func credentialBearing(k nhi.Kind) bool {
	return k.IsNHI() && k != nhi.Webhook
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// days renders d in whole days, the unit the thresholds are set in.
func days(d time.Duration) string { return fmt.Sprintf("%d days", int(d/(24*time.Hour))) }

func noOwner(e store.Entity, _ time.Time, _ Options) string {
	if !credentialBearing(e.Kind) || e.Owner != nil {
		return ""
	}
	for _, r := range e.Relationships {
		if r.Type == nhi.OwnedBy {
			return ""
		}
	}
	return "owner is null and no OWNED_BY relationship is recorded"
}

func longLived(e store.Entity, _ time.Time, o Options) string {
	if !staticSecret(e) || !live(e) {
		return ""
	}
	if e.ExpiresAt == nil {
		return fmt.Sprintf("credential_type %s with expires_at null (no expiry recorded)", *e.CredentialType)
	}
	if e.CreatedAt == nil {
		return ""
	}
	if life := e.ExpiresAt.Sub(*e.CreatedAt); life > o.MaxLifetime {
		return fmt.Sprintf("created %s, expires %s: a lifetime of %s, more than %s", day(*e.CreatedAt), day(*e.ExpiresAt), days(life), days(o.MaxLifetime))
	}
	return ""
}

func notRotated(e store.Entity, now time.Time, o Options) string {
	if !staticSecret(e) || !live(e) {
		return ""
	}
	since, field := e.LastRotatedAt, "last_rotated_at"
	if since == nil {
		since, field = e.CreatedAt, "created_at (last_rotated_at is null)"
	}
	if since == nil || !since.Before(now.Add(-o.RotateAfter)) {
		return ""
	}
	return fmt.Sprintf("%s %s is %s ago, more than %s", field, day(*since), days(now.Sub(*since)), days(o.RotateAfter))
}

func unused(e store.Entity, now time.Time, o Options) string {
	if !live(e) || e.LastUsedAt == nil || !e.LastUsedAt.Before(now.Add(-o.UnusedAfter)) {
		return ""
	}
	return fmt.Sprintf("last_used_at %s is %s ago, more than %s, and status is %s", day(*e.LastUsedAt), days(now.Sub(*e.LastUsedAt)), days(o.UnusedAfter), statusText(e))
}

// neverUsed cannot tell "never used" from "the source does not report
// use": both are a null last_used_at. Hence low severity, and evidence
// that says exactly what was seen.
func neverUsed(e store.Entity, now time.Time, o Options) string {
	if !live(e) || e.LastUsedAt != nil || e.CreatedAt == nil || !e.CreatedAt.Before(now.Add(-o.UnusedAfter)) {
		return ""
	}
	return fmt.Sprintf("last_used_at is null; created %s, %s ago (more than %s); status is %s", day(*e.CreatedAt), days(now.Sub(*e.CreatedAt)), days(o.UnusedAfter), statusText(e))
}

func overprivileged(e store.Entity, _ time.Time, _ Options) string {
	if !live(e) {
		return ""
	}
	var ev []string
	if e.Privilege != nil && *e.Privilege == nhi.Admin {
		s := "privilege admin"
		if len(e.Scopes) > 0 {
			s += " (scopes " + strings.Join(e.Scopes, ", ") + ")"
		}
		ev = append(ev, s)
	}
	for _, r := range e.Relationships {
		if r.Privilege != nil && *r.Privilege == nhi.Admin {
			ev = append(ev, fmt.Sprintf("%s %s %s with privilege admin", r.Type, r.Target.Kind, r.Target.ExternalID))
		}
	}
	return strings.Join(ev, "; ")
}

func activePastExpiry(e store.Entity, now time.Time, _ Options) string {
	if e.Status == nil || *e.Status != nhi.Active || e.ExpiresAt == nil || !e.ExpiresAt.Before(now) {
		return ""
	}
	return fmt.Sprintf("status active but expires_at %s is past", day(*e.ExpiresAt))
}

func expiredPresent(e store.Entity, _ time.Time, _ Options) string {
	if e.Status == nil || (*e.Status != nhi.Expired && *e.Status != nhi.Revoked) {
		return ""
	}
	return fmt.Sprintf("status %s, yet the source still lists it (presence %s)", *e.Status, e.Presence)
}

func thirdPartyWrite(e store.Entity, _ time.Time, _ Options) string {
	if e.ThirdParty == nil || !*e.ThirdParty || !live(e) {
		return ""
	}
	// The broadest privilege the record or any of its relationships grants.
	top, where := nhi.Privilege(""), ""
	consider := func(p *nhi.Privilege, at string) {
		if p != nil && privRank(*p) > privRank(top) {
			top, where = *p, at+"privilege "+string(*p)
		}
	}
	consider(e.Privilege, "")
	for _, r := range e.Relationships {
		consider(r.Privilege, fmt.Sprintf("%s %s %s with ", r.Type, r.Target.Kind, r.Target.ExternalID))
	}
	if privRank(top) < privRank(nhi.Write) {
		return ""
	}
	pub := "publisher unknown"
	if e.Publisher != nil {
		pub = "publisher " + *e.Publisher
	}
	return fmt.Sprintf("third_party true (%s) with %s", pub, where)
}

func privRank(p nhi.Privilege) int {
	return slices.Index(nhi.Privileges(), p) // read 0, write 1, admin 2, unknown -1
}

func statusText(e store.Entity) string {
	if e.Status == nil {
		return "null"
	}
	return string(*e.Status)
}
