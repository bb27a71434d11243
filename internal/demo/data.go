package demo

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// The vendor's wire records. Nullable fields are pointers without
// omitempty: Acme Cloud sends an explicit null, as many real APIs do, so a
// mapping must cope with a present-but-null field.

type user struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	CreatedAt   time.Time `json:"created_at"`
	Disabled    bool      `json:"disabled"`
}

type serviceAccount struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	OwnerID     *string    `json:"owner_id"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	Status      string     `json:"status"`
}

type apiKey struct {
	ID         string     `json:"id"`
	Label      string     `json:"label"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	Scopes     []string   `json:"scopes"`
	Prefix     string     `json:"prefix"`
}

type webhook struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	CreatedAt time.Time `json:"created_at"`
	Active    bool      `json:"active"`
	CreatedBy string    `json:"created_by"`
}

// keyScopes is the fixed enum of Acme Cloud key scopes, least powerful first.
var keyScopes = []string{"read:users", "read:service_accounts", "read:webhooks", "read:billing",
	"write:users", "write:service_accounts", "write:webhooks", "admin:org"}

// KeyScopes returns the scope values an API key may carry.
func KeyScopes() []string { return slices.Clone(keyScopes) }

var webhookEvents = []string{"user.created", "user.disabled", "service_account.created",
	"service_account.disabled", "key.created", "key.revoked", "invoice.paid"}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Barbara", "Linus", "Margaret", "Dennis", "Radia",
		"Ken", "Frances", "Tim", "Hedy", "Edsger", "Katherine", "Donald", "Joan", "Leslie", "Sophie",
		"John", "Mary"}
	lastNames = []string{"Lovelace", "Hopper", "Turing", "Liskov", "Torvalds", "Hamilton", "Ritchie",
		"Perlman", "Thompson", "Allen", "Berners-Lee", "Lamarr", "Dijkstra", "Johnson", "Knuth",
		"Clarke", "Lamport", "Wilson", "Backus", "Keller"}
	saSystems = []string{"ci", "terraform", "backup", "metrics", "billing-export", "slack-bot",
		"github-actions", "datadog", "etl", "k8s-operator", "scim-sync", "pagerduty"}
	saEnvs      = []string{"prod", "staging", "dev", "shared"}
	keyLabels   = []string{"primary", "secondary", "ci", "rotation", "laptop", "migration", "legacy"}
	hookTargets = []string{"audit", "siem", "chatops", "billing", "provisioning", "alerts"}
)

const (
	day  = 24 * time.Hour
	year = 365 * day
)

// generator draws every value from one PCG stream in a fixed order, so a
// seed fully determines the tenant.
type generator struct {
	rng *rand.Rand
	now time.Time
	ids map[string]bool
}

// newRand returns a PCG generator for seed. stream separates independent
// uses of one seed (data, token) so that changing one never shifts the other.
func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// derivedToken is the default synthetic token: recognisably fake, unique per
// seed.
func derivedToken(seed int64) string {
	r := newRand(seed, 0x70_6b_65_6e) // "tken"
	return fmt.Sprintf("acme_demo_%016x%08x", r.Uint64(), r.Uint32())
}

func generate(o Options) *Vendor {
	g := &generator{rng: newRand(o.Seed, 0x61_63_6d_65), now: o.Now, ids: map[string]bool{}} // "acme"
	v := &Vendor{keys: map[string][]apiKey{}, accIndex: map[string]int{}}

	emails := map[string]bool{}
	for range o.Users {
		first, last := pick(g.rng, firstNames), pick(g.rng, lastNames)
		email := fmt.Sprintf("%s.%s@acme-corp.example", strings.ToLower(first), strings.ToLower(last))
		for n := 2; emails[email]; n++ {
			email = fmt.Sprintf("%s.%s%d@acme-corp.example", strings.ToLower(first), strings.ToLower(last), n)
		}
		emails[email] = true
		v.users = append(v.users, user{
			ID:          g.id("usr_"),
			Email:       email,
			DisplayName: first + " " + last,
			CreatedAt:   g.between(g.now.Add(-5*year), g.now.Add(-30*day)),
			Disabled:    g.chance(0.1),
		})
	}

	names := map[string]bool{}
	for i := range o.ServiceAccounts {
		system, env := pick(g.rng, saSystems), pick(g.rng, saEnvs)
		name := system + "-" + env
		for n := 2; names[name]; n++ {
			name = fmt.Sprintf("%s-%s-%d", system, env, n)
		}
		names[name] = true
		creator := pick(g.rng, v.users)
		sa := serviceAccount{
			ID:          g.id("sa_"),
			Name:        name,
			Description: fmt.Sprintf("Used by %s in %s.", system, env),
			CreatedBy:   creator.ID,
			// Never before its creator existed.
			CreatedAt: g.between(later(creator.CreatedAt, g.now.Add(-3*year)), g.now.Add(-day)),
			Status:    "active",
		}
		// About one in five has no owner: the orphaned identities that
		// inventory is meant to surface.
		if !g.chance(0.2) {
			owner := pick(g.rng, v.users).ID
			sa.OwnerID = &owner
		}
		if g.chance(0.15) {
			sa.Status = "disabled"
		}
		// About one in five was never used; then none of its keys was.
		neverUsed := g.chance(0.2)
		keys := make([]apiKey, 0, o.KeysPerAccount)
		for k := range o.KeysPerAccount {
			key := apiKey{
				ID:        g.id("key_"),
				Label:     fmt.Sprintf("%s-%d", pick(g.rng, keyLabels), k+1),
				CreatedAt: g.between(sa.CreatedAt, g.now.Add(-time.Hour)),
				Scopes:    g.scopes(),
				// Only the first characters of a key, as vendors show it;
				// no full key exists anywhere in the demo.
				Prefix: fmt.Sprintf("%06x", g.rng.Uint32N(1<<24)),
			}
			if !g.chance(0.3) { // the rest never expire
				exp := key.CreatedAt.Add(time.Duration(pick(g.rng, []int{30, 90, 180, 365, 730})) * day)
				key.ExpiresAt = &exp
			}
			// The first key of a used account is always used, so "used"
			// accounts really were.
			if !neverUsed && (k == 0 || !g.chance(0.25)) {
				// Used strictly after creation, no later than now, and never
				// after the key expired.
				end := g.now
				if key.ExpiresAt != nil && key.ExpiresAt.Before(end) {
					end = *key.ExpiresAt
				}
				used := g.between(key.CreatedAt.Add(time.Second), end)
				key.LastUsedAt = &used
			}
			keys = append(keys, key)
		}
		// An account was last used when its most recent key was.
		for _, k := range keys {
			if k.LastUsedAt != nil && (sa.LastUsedAt == nil || k.LastUsedAt.After(*sa.LastUsedAt)) {
				sa.LastUsedAt = k.LastUsedAt
			}
		}
		v.accIndex[sa.ID] = i
		v.accounts = append(v.accounts, sa)
		v.keys[sa.ID] = keys
	}

	for range o.Webhooks {
		creator := pick(g.rng, v.users)
		v.webhooks = append(v.webhooks, webhook{
			ID:        g.id("wh_"),
			URL:       fmt.Sprintf("https://hooks.example.net/%s/%s", pick(g.rng, hookTargets), g.token(12)),
			Events:    g.subset(webhookEvents, 1, 4),
			CreatedAt: g.between(later(creator.CreatedAt, g.now.Add(-3*year)), g.now.Add(-day)),
			Active:    !g.chance(0.2),
			CreatedBy: creator.ID,
		})
	}

	v.counts = map[string]int{
		StreamUsers:              len(v.users),
		StreamServiceAccounts:    len(v.accounts),
		StreamServiceAccountKeys: len(v.accounts) * o.KeysPerAccount,
		StreamWebhooks:           len(v.webhooks),
	}
	return v
}

const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// token returns n random lowercase alphanumerics.
func (g *generator) token(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = idAlphabet[g.rng.IntN(len(idAlphabet))]
	}
	return string(b)
}

// id returns a fresh ID, unique across the tenant.
func (g *generator) id(prefix string) string {
	for {
		id := prefix + g.token(12)
		if !g.ids[id] {
			g.ids[id] = true
			return id
		}
	}
}

// between returns a whole-second time in [a, b] (a when b is not after a).
func (g *generator) between(a, b time.Time) time.Time {
	secs := int64(b.Sub(a) / time.Second)
	if secs <= 0 {
		return a
	}
	return a.Add(time.Duration(g.rng.Int64N(secs+1)) * time.Second)
}

func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }

// scopes gives a key one to three scopes, usually read-only, sometimes
// more: over-privileged keys are part of what the demo shows.
func (g *generator) scopes() []string {
	n := 1 + g.rng.IntN(3)
	if g.chance(0.6) {
		return g.subset(keyScopes[:4], 1, n) // read-only
	}
	return g.subset(keyScopes, 1, n)
}

// subset returns between lo and hi distinct items of from, in from's order.
func (g *generator) subset(from []string, lo, hi int) []string {
	n := min(lo+g.rng.IntN(hi-lo+1), len(from))
	chosen := g.rng.Perm(len(from))[:n]
	slices.Sort(chosen)
	out := make([]string, n)
	for i, c := range chosen {
		out[i] = from[c]
	}
	return out
}

func pick[T any](r *rand.Rand, from []T) T { return from[r.IntN(len(from))] }

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
