package findings

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/store"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const day24 = 24 * time.Hour

func ago(d time.Duration) *time.Time { t := now.Add(-d); return &t }
func ptr[T any](v T) *T              { return &v }

// clean is an owned, recently used and rotated, expiring, read-only static
// API key: no rule fires on it. Each case changes what its rule reads.
func clean() store.Entity {
	owner := nhi.NewRef("src", nhi.HumanUser, "u1")
	return store.Entity{Record: nhi.Record{ID: nhi.StableID("src", nhi.APIKey, "k1"), Source: "src", Kind: nhi.APIKey, ExternalID: "k1",
		Status: ptr(nhi.Active), CreatedAt: ago(30 * day24), LastUsedAt: ago(day24), ExpiresAt: ptr(now.Add(300 * day24)),
		Owner: &owner, Scopes: []string{"read:keys"}, Privilege: ptr(nhi.Read), CredentialType: ptr(nhi.Static), ThirdParty: ptr(false)},
		Presence: store.Present}
}

func with(mut func(e *store.Entity)) store.Entity { e := clean(); mut(&e); return e }

func TestCleanHasNoFindings(t *testing.T) {
	if got := Evaluate(clean(), now, Options{}); len(got) != 0 {
		t.Fatalf("the clean key has findings: %+v", got)
	}
}

// TestRules: each rule fires (or not) on one change to the clean key,
// including the boundaries of its threshold.
func TestRules(t *testing.T) {
	cases := []struct {
		name string
		rule string
		e    store.Entity
		o    Options
		// fire: the rule fires; evidence must then contain each of these.
		fire     bool
		evidence []string
	}{
		// no owner
		{"owner null, no OWNED_BY", NoOwner, with(func(e *store.Entity) { e.Owner = nil }), Options{}, true, []string{"owner is null", "OWNED_BY"}},
		{"owner only by OWNED_BY", NoOwner, with(func(e *store.Entity) {
			e.Owner = nil
			e.Relationships = []nhi.Relationship{{Type: nhi.OwnedBy, Target: nhi.NewRef("src", nhi.Team, "t1")}}
		}), Options{}, false, nil},
		{"owner null, other relationships only", NoOwner, with(func(e *store.Entity) {
			e.Owner = nil
			e.Relationships = []nhi.Relationship{{Type: nhi.CreatedBy, Target: nhi.NewRef("src", nhi.HumanUser, "u2")}}
		}), Options{}, true, nil},
		{"webhook without owner: not a credential", NoOwner, with(func(e *store.Entity) { e.Kind, e.Owner = nhi.Webhook, nil }), Options{}, false, nil},
		{"service account without owner", NoOwner, with(func(e *store.Entity) { e.Kind, e.Owner, e.CredentialType = nhi.ServiceAccount, nil, nil }), Options{}, true, nil},

		// long-lived secret
		{"static, no expiry", LongLivedSecret, with(func(e *store.Entity) { e.ExpiresAt = nil }), Options{}, true, []string{"expires_at null"}},
		{"password, no expiry", LongLivedSecret, with(func(e *store.Entity) { e.CredentialType, e.ExpiresAt = ptr(nhi.Password), nil }), Options{}, true, []string{"password"}},
		{"federated, no expiry", LongLivedSecret, with(func(e *store.Entity) { e.CredentialType, e.ExpiresAt = ptr(nhi.Federated), nil }), Options{}, false, nil},
		{"credential type unknown, no expiry", LongLivedSecret, with(func(e *store.Entity) { e.CredentialType, e.ExpiresAt = nil, nil }), Options{}, false, nil},
		{"lifetime exactly the maximum", LongLivedSecret, with(func(e *store.Entity) { e.ExpiresAt = ptr(e.CreatedAt.Add(365 * day24)) }), Options{}, false, nil},
		{"lifetime a second over the maximum", LongLivedSecret, with(func(e *store.Entity) { e.ExpiresAt = ptr(e.CreatedAt.Add(365*day24 + time.Second)) }), Options{}, true, []string{"365 days", "more than 365 days"}},
		{"lifetime over a custom maximum", LongLivedSecret, with(func(e *store.Entity) { e.ExpiresAt = ptr(e.CreatedAt.Add(31 * day24)) }), Options{MaxLifetime: 30 * day24}, true, []string{"31 days", "more than 30 days"}},
		{"expiry known, creation unknown", LongLivedSecret, with(func(e *store.Entity) { e.CreatedAt, e.ExpiresAt = nil, ptr(now.Add(5000*day24)) }), Options{}, false, nil},
		{"revoked, no expiry", LongLivedSecret, with(func(e *store.Entity) { e.Status, e.ExpiresAt = ptr(nhi.Revoked), nil }), Options{}, false, nil},

		// not rotated
		{"created 366 days ago, never rotated", NotRotated, with(func(e *store.Entity) { e.CreatedAt = ago(366 * day24) }), Options{}, true, []string{"created_at", "last_rotated_at is null", "366 days"}},
		{"created exactly 365 days ago", NotRotated, with(func(e *store.Entity) { e.CreatedAt = ago(365 * day24) }), Options{}, false, nil},
		{"old but rotated recently", NotRotated, with(func(e *store.Entity) { e.CreatedAt, e.LastRotatedAt = ago(900*day24), ago(10*day24) }), Options{}, false, nil},
		{"rotated long ago", NotRotated, with(func(e *store.Entity) { e.CreatedAt, e.LastRotatedAt = ago(900*day24), ago(400*day24) }), Options{}, true, []string{"last_rotated_at", "400 days"}},
		{"custom rotation period", NotRotated, with(func(e *store.Entity) { e.CreatedAt = ago(31 * day24) }), Options{RotateAfter: 30 * day24}, true, nil},
		{"no dates at all", NotRotated, with(func(e *store.Entity) { e.CreatedAt = nil }), Options{}, false, nil},
		{"old certificate: not a static secret", NotRotated, with(func(e *store.Entity) { e.CreatedAt, e.CredentialType = ago(900*day24), ptr(nhi.CertBased) }), Options{}, false, nil},
		{"old but disabled", NotRotated, with(func(e *store.Entity) { e.CreatedAt, e.Status = ago(900*day24), ptr(nhi.Disabled) }), Options{}, false, nil},

		// unused
		{"last used 91 days ago", Unused, with(func(e *store.Entity) { e.LastUsedAt = ago(91 * day24) }), Options{}, true, []string{"91 days", "status is active"}},
		{"last used exactly 90 days ago", Unused, with(func(e *store.Entity) { e.LastUsedAt = ago(90 * day24) }), Options{}, false, nil},
		{"last used long ago, status unknown", Unused, with(func(e *store.Entity) { e.LastUsedAt, e.Status = ago(200*day24), nil }), Options{}, true, []string{"status is null"}},
		{"last used long ago, disabled", Unused, with(func(e *store.Entity) { e.LastUsedAt, e.Status = ago(200*day24), ptr(nhi.Disabled) }), Options{}, false, nil},
		{"custom unused period", Unused, with(func(e *store.Entity) { e.LastUsedAt = ago(8 * day24) }), Options{UnusedAfter: 7 * day24}, true, nil},
		{"never used: not this rule", Unused, with(func(e *store.Entity) { e.LastUsedAt, e.CreatedAt = nil, ago(400*day24) }), Options{}, false, nil},

		// never used
		{"never used, created 91 days ago", NeverUsed, with(func(e *store.Entity) { e.LastUsedAt, e.CreatedAt = nil, ago(91*day24) }), Options{}, true, []string{"last_used_at is null", "91 days"}},
		{"never used, created exactly 90 days ago", NeverUsed, with(func(e *store.Entity) { e.LastUsedAt, e.CreatedAt = nil, ago(90*day24) }), Options{}, false, nil},
		{"never used, creation unknown", NeverUsed, with(func(e *store.Entity) { e.LastUsedAt, e.CreatedAt = nil, nil }), Options{}, false, nil},
		{"never used, revoked", NeverUsed, with(func(e *store.Entity) { e.LastUsedAt, e.CreatedAt, e.Status = nil, ago(400*day24), ptr(nhi.Revoked) }), Options{}, false, nil},

		// overprivileged
		{"privilege admin", Overprivileged, with(func(e *store.Entity) { e.Privilege, e.Scopes = ptr(nhi.Admin), []string{"admin:org"} }), Options{}, true, []string{"privilege admin", "admin:org"}},
		{"privilege write", Overprivileged, with(func(e *store.Entity) { e.Privilege = ptr(nhi.Write) }), Options{}, false, nil},
		{"admin on a resource", Overprivileged, with(func(e *store.Entity) {
			e.Relationships = []nhi.Relationship{{Type: nhi.CanAccess, Target: nhi.NewRef("src", nhi.Resource, "repo1"), Privilege: ptr(nhi.Admin)}}
		}), Options{}, true, []string{"CAN_ACCESS resource repo1"}},
		{"admin but disabled", Overprivileged, with(func(e *store.Entity) { e.Privilege, e.Status = ptr(nhi.Admin), ptr(nhi.Disabled) }), Options{}, false, nil},

		// active past expiry
		{"active, expired a second ago", ActivePastExpiry, with(func(e *store.Entity) { e.ExpiresAt = ago(time.Second) }), Options{}, true, []string{"status active", "past"}},
		{"active, expires now", ActivePastExpiry, with(func(e *store.Entity) { e.ExpiresAt = ptr(now) }), Options{}, false, nil},
		{"status unknown, past expiry", ActivePastExpiry, with(func(e *store.Entity) { e.ExpiresAt, e.Status = ago(day24), nil }), Options{}, false, nil},

		// expired or revoked still listed
		{"revoked, present", ExpiredPresent, with(func(e *store.Entity) { e.Status = ptr(nhi.Revoked) }), Options{}, true, []string{"status revoked", "presence present"}},
		{"expired, unverified", ExpiredPresent, with(func(e *store.Entity) { e.Status, e.Presence = ptr(nhi.Expired), store.Unverified }), Options{}, true, []string{"presence unverified"}},
		{"disabled", ExpiredPresent, with(func(e *store.Entity) { e.Status = ptr(nhi.Disabled) }), Options{}, false, nil},

		// third party
		{"third party with write", ThirdPartyWrite, with(func(e *store.Entity) { e.ThirdParty, e.Privilege, e.Publisher = ptr(true), ptr(nhi.Write), ptr("Acme") }), Options{}, true, []string{"publisher Acme", "privilege write"}},
		{"third party, admin on a resource", ThirdPartyWrite, with(func(e *store.Entity) {
			e.ThirdParty = ptr(true)
			e.Relationships = []nhi.Relationship{{Type: nhi.CanAccess, Target: nhi.NewRef("src", nhi.Resource, "repo1"), Privilege: ptr(nhi.Admin)}}
		}), Options{}, true, []string{"publisher unknown", "repo1 with privilege admin"}},
		{"third party, read only", ThirdPartyWrite, with(func(e *store.Entity) { e.ThirdParty = ptr(true) }), Options{}, false, nil},
		{"third party, privilege unknown", ThirdPartyWrite, with(func(e *store.Entity) { e.ThirdParty, e.Privilege = ptr(true), nil }), Options{}, false, nil},
		{"first party with admin", ThirdPartyWrite, with(func(e *store.Entity) { e.Privilege = ptr(nhi.Admin) }), Options{}, false, nil},
		{"third party unknown with admin", ThirdPartyWrite, with(func(e *store.Entity) { e.ThirdParty, e.Privilege = nil, ptr(nhi.Admin) }), Options{}, false, nil},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		t.Run(c.rule+"/"+c.name, func(t *testing.T) {
			got := Evaluate(c.e, now, c.o)
			i := slices.IndexFunc(got, func(f Finding) bool { return f.ID == c.rule })
			if (i >= 0) != c.fire {
				t.Fatalf("%s fired %v, want %v; findings %+v", c.rule, i >= 0, c.fire, got)
			}
			if i < 0 {
				return
			}
			covered[c.rule] = true
			f := got[i]
			for _, w := range c.evidence {
				if !strings.Contains(f.Evidence, w) {
					t.Errorf("evidence %q lacks %q", f.Evidence, w)
				}
			}
			if !regexp.MustCompile(`^NHI([1-9]|10):2025$`).MatchString(f.Risk) || f.Title == "" || f.Evidence == "" {
				t.Errorf("finding incomplete: %+v", f)
			}
		})
	}
	for _, r := range IDs() {
		if !covered[r.ID] {
			t.Errorf("no case makes %s fire", r.ID)
		}
	}
}

func TestContextKindsAndGoneHaveNone(t *testing.T) {
	// Everything a rule could object to, on the wrong kind or presence.
	bad := func(k nhi.Kind, p store.Presence) store.Entity {
		return with(func(e *store.Entity) {
			e.Kind, e.Presence, e.Owner, e.ExpiresAt, e.LastUsedAt = k, p, nil, nil, nil
			e.CreatedAt, e.Privilege, e.ThirdParty = ago(900*day24), ptr(nhi.Admin), ptr(true)
		})
	}
	for _, c := range []struct {
		e    store.Entity
		want bool
	}{
		{bad(nhi.HumanUser, store.Present), false},
		{bad(nhi.Team, store.Present), false},
		{bad(nhi.Role, store.Present), false},
		{bad(nhi.Resource, store.Present), false},
		{bad(nhi.APIKey, store.Gone), false},
		{bad(nhi.APIKey, store.Present), true},
		{bad(nhi.APIKey, store.Unverified), true},
	} {
		got := Evaluate(c.e, now, Options{})
		if got == nil {
			t.Errorf("%s/%s: nil findings; want an empty list for JSON", c.e.Kind, c.e.Presence)
		}
		if (len(got) > 0) != c.want {
			t.Errorf("%s/%s: %d findings, want some: %v", c.e.Kind, c.e.Presence, len(got), c.want)
		}
	}
}

func TestOrderAndDeterminism(t *testing.T) {
	e := with(func(e *store.Entity) {
		e.Owner, e.ExpiresAt, e.Privilege = nil, nil, ptr(nhi.Admin)
		e.LastUsedAt, e.CreatedAt = nil, ago(400*day24)
	})
	got := Evaluate(e, now, Options{})
	var ids []string
	for _, f := range got {
		ids = append(ids, f.ID)
	}
	want := []string{Overprivileged, NoOwner, LongLivedSecret, NotRotated, NeverUsed}
	if !slices.Equal(ids, want) {
		t.Errorf("findings %v, want %v (severity, then rule order)", ids, want)
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(Evaluate(e, now, Options{}))
	if string(a) != string(b) {
		t.Error("two evaluations differ")
	}
}

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range IDs() {
		if seen[r.ID] || !strings.HasPrefix(r.ID, "nhi.") || r.Title == "" || r.RiskName == "" || !Known(r.ID) {
			t.Errorf("rule %+v: duplicate, unprefixed, untitled or of an unnamed risk", r)
		}
		seen[r.ID] = true
		if !slices.Contains([]Severity{High, Medium, Low}, r.Severity) {
			t.Errorf("rule %s: severity %q", r.ID, r.Severity)
		}
	}
	if len(seen) < 9 || Known("NHI1") || Known("") {
		t.Errorf("IDs lists %d rules; Known accepts a non-id", len(seen))
	}
}

func TestAssessJSON(t *testing.T) {
	out := Assess([]store.Entity{clean(), with(func(e *store.Entity) { e.Owner = nil })}, now, Options{})
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var raw []map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 2 || raw[0]["external_id"] != "k1" || raw[0]["presence"] != "present" {
		t.Fatalf("the wrapper does not keep the entity's fields flat: %s", b)
	}
	if fs, ok := raw[0]["findings"].([]any); !ok || len(fs) != 0 {
		t.Errorf("clean entity: findings %v, want []", raw[0]["findings"])
	}
	if fs, _ := raw[1]["findings"].([]any); len(fs) != 1 || fs[0].(map[string]any)["id"] != NoOwner {
		t.Errorf("ownerless entity: findings %v", raw[1]["findings"])
	}
}
