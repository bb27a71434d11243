package draft

import (
	"github.com/spindlehq/spindle/internal/names"
	"slices"
	"strings"

	"github.com/spindlehq/spindle/internal/nhi"
)

// The draft's vocabularies are generic English for identity things, in
// snake-case singular words. No vendor's names appear here: a rule that fits
// only one document is a bug.

// kindPhrase is a run of words that names a kind.
type kindPhrase struct {
	words []string
	kind  nhi.Kind
}

// kindVocab maps collection, schema and property names to NHI kinds. It is
// deliberately smaller than the API surface's lexicon: the surface already
// scored the whole operation; this table names what a single identifier
// (a path segment, a records property, an embedded list's property or
// item schema) holds, when the surface's inference is missing or unsure.
//
//   - service account, service principal, service user, robot, machine user → service_account
//   - api key/token, access key, credential, key (an "ssh"/"public" key → ssh_key,
//     a "deploy" key → deploy_key) → api_key
//   - token, access/refresh/personal token → access_token
//   - secret, client secret → secret
//   - grant, consent → oauth_grant
//   - certificate, cert → certificate
//   - oauth app/client, application, app, client → oauth_app (ambiguous:
//     records must show OAuth client traits, see kindTraits)
//   - integration, installation, installed app, extension, plugin, add-on →
//     app_installation: something installed into the account or onto a
//     resource that receives or sends on its behalf; when its records
//     carry a delivery URL the surface's webhook reading wins
//   - webhook, hook, callback, event/webhook subscription → webhook
//   - bot → bot
//
// Longer phrases are tried first, so "ssh key" is not a "key".
var kindVocab = func() []kindPhrase {
	table := []struct {
		kind    nhi.Kind
		phrases string
	}{
		{nhi.ServiceAccount, "service account; serviceaccount; service principal; service user; robot account; robot; machine user; machine identity; workload identity"},
		{nhi.SSHKey, "ssh key; sshkey; ssh public key; public key; authorized key"},
		{nhi.DeployKey, "deploy key; deploykey; deploy token; deployment key"},
		{nhi.APIKey, "api key; apikey; api token; apitoken; access key; app password; signing key; integration key; credential; key"},
		{nhi.AccessToken, "access token; refresh token; personal access token; oauth token; bearer token; token"},
		{nhi.Secret, "client secret; secret"},
		{nhi.OAuthGrant, "oauth grant; app grant; scope grant; consent grant; grant; consent"},
		{nhi.Certificate, "certificate; cert; x509"},
		{nhi.Webhook, "webhook; web hook; webhook subscription; event subscription; event hook; hook; callback"},
		{nhi.AppInstallation, "app installation; installed app; installation; integration; extension; plugin; addon; add on"},
		{nhi.OAuthApp, "oauth app; oauth application; oauth client; connected app; application; app; client"},
		{nhi.Bot, "bot; chatbot"},
	}
	var out []kindPhrase
	for _, e := range table {
		for _, p := range strings.Split(e.phrases, ";") {
			out = append(out, kindPhrase{words: strings.Fields(strings.TrimSpace(p)), kind: e.kind})
		}
	}
	// Longest first: the first match is the most specific.
	slices.SortStableFunc(out, func(a, b kindPhrase) int { return len(b.words) - len(a.words) })
	return out
}()

// fillerWords end identifiers without naming anything ("IntegrationReference",
// "KeyInfo", "TokenList"): the head noun is the word before them.
var fillerWords = map[string]bool{
	"reference": true, "ref": true, "summary": true, "info": true, "object": true, "item": true, "model": true,
	"response": true, "detail": true, "entry": true, "dto": true, "list": true, "data": true, "metadata": true,
	"v1": true, "v2": true, "v3": true, "body": true, "result": true, "collection": true, "page": true,
}

// vocabKind reads the kind an identifier names by its head noun, the last
// word (English puts it last: "client secret" is a secret, "secret
// rotation" is not an identity). A phrase must end at the head: modifiers
// alone name nothing. ok is false when no phrase ends there.
func vocabKind(ident string) (nhi.Kind, bool) {
	ws := words(ident)
	for len(ws) > 1 && fillerWords[ws[len(ws)-1]] {
		ws = ws[:len(ws)-1]
	}
	for _, p := range kindVocab {
		n := len(p.words)
		if n <= len(ws) && slices.Equal(ws[len(ws)-n:], p.words) {
			return p.kind, true
		}
	}
	return "", false
}

// refineKeyKind narrows a generic key kind by its context: "ssh" or a
// record with a public key or fingerprint is an SSH key; "deploy" a deploy
// key.
func refineKeyKind(k nhi.Kind, context []string, recordProps []string) nhi.Kind {
	if k != nhi.APIKey {
		return k
	}
	for _, w := range context {
		switch w {
		case "ssh":
			return nhi.SSHKey
		case "deploy":
			return nhi.DeployKey
		}
	}
	hasPub, hasFP := false, false
	for _, p := range recordProps {
		sn := names.Snake(p)
		hasPub = hasPub || sn == "public_key"
		hasFP = hasFP || strings.Contains(sn, "fingerprint")
	}
	if hasPub && hasFP {
		return nhi.SSHKey
	}
	return k
}

// kindTraits are record properties (snake-case substrings) that corroborate
// a kind: a webhook has a delivery URL, a credential an expiry or a last
// use, an OAuth app a client id or redirect URIs. They lift an unsure
// kind reading over the bar, and they are required for oauth_app, whose
// words ("app", "application", "client") also name hosted applications and
// API clients that hold no OAuth identity.
var kindTraits = map[nhi.Kind][]string{
	nhi.Webhook:         {"url", "endpoint", "callback", "uri", "target", "delivery", "events", "event_types"},
	nhi.APIKey:          {"expire", "expiry", "last_used", "last_access", "token", "key", "secret", "prefix", "hint", "last4", "scope"},
	nhi.AccessToken:     {"expire", "expiry", "last_used", "last_access", "token", "scope", "issuer", "client_id"},
	nhi.Secret:          {"secret", "hash", "expire", "value", "last_used"},
	nhi.OAuthApp:        {"client_id", "redirect", "grant_type", "oauth", "credential", "sign_on", "scope", "callback", "consent"},
	nhi.OAuthGrant:      {"scope", "client_id", "issuer", "user_id", "consent"},
	nhi.SSHKey:          {"fingerprint", "public_key"},
	nhi.DeployKey:       {"fingerprint", "public_key", "read_only"},
	nhi.Certificate:     {"not_after", "not_before", "expire", "fingerprint", "issuer", "serial", "subject", "dns_name"},
	nhi.ServiceAccount:  {"email", "key", "disabled", "unique_id", "client_id"},
	nhi.AppInstallation: {"app", "integration", "vendor", "key", "installed", "config", "parameter"},
	nhi.Bot:             {"bot", "app_id", "token"},
}

// traitsFor returns the record properties that corroborate k.
func traitsFor(k nhi.Kind, props []string) []string {
	var out []string
	for _, p := range props {
		sn := names.Snake(p)
		for _, t := range kindTraits[k] {
			if strings.Contains(sn, t) {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// credentialProps are top-level record properties whose value is itself a
// credential: a record that carries one is a credential holder (an access
// key of a namespace, say), whatever the collection is called.
var credentialProps = map[string]bool{
	"key": true, "api_key": true, "apikey": true, "access_key": true, "secret": true, "secret_key": true,
	"client_secret": true, "token": true, "access_token": true, "auth_token": true, "private_key": true,
	"password": true,
}

// Canonical field vocabularies (snake case). Order is preference.
var (
	nameFields        = []string{"name", "display_name", "label", "title", "client_name", "app_name", "summary", "description"}
	createdFields     = []string{"created_at", "created", "date_created", "creation_date", "created_on", "create_time", "created_date", "created_time", "inserted_at", "issued_at"}
	updatedFields     = []string{"updated_at", "last_updated", "updated", "modified_at", "last_modified", "modified", "date_updated", "updated_on", "update_time", "updated_date", "last_updated_at"}
	lastUsedFields    = []string{"last_used_at", "last_used", "last_used_time", "last_used_on", "last_accessed_at", "last_accessed", "last_access", "last_access_time", "last_seen_at", "last_seen", "last_activity_at", "last_active_at", "last_authenticated_at"}
	expiresFields     = []string{"expires_at", "expires", "expiry", "expiration", "expiration_date", "expiry_date", "expire_time", "expires_on", "valid_before", "valid_until", "valid_to", "not_after"}
	rotatedFields     = []string{"last_rotated_at", "rotated_at", "last_rotated", "rotation_date"}
	scopeFields       = []string{"scopes", "scope", "permissions", "privileges", "permission"}
	ownerFields       = []string{"owner", "owner_id", "owner_uuid", "owned_by", "user_id", "user", "principal_id"}
	creatorFields     = []string{"created_by", "creator", "creator_id", "created_by_id", "author", "author_id"}
	statusFields      = []string{"status", "state", "lifecycle_state"}
	activeBoolFields  = []string{"active", "enabled", "is_active", "is_enabled", "valid", "is_valid"}
	disableBoolFields = []string{"disabled", "temporarily_disabled", "is_disabled", "suspended", "inactive"}
	revokedBoolFields = []string{"revoked", "is_revoked", "deleted", "is_deleted"}
	expiredBoolFields = []string{"expired", "is_expired"}
)

// credentialWords name credentials outright (singular words).
var credentialWords = map[string]bool{
	"key": true, "token": true, "secret": true, "credential": true, "certificate": true, "cert": true,
	"grant": true, "webhook": true, "hook": true, "apikey": true, "password": true,
}

// statusWords map vendor status values (lower-case) to canonical statuses.
// A value not listed maps to null: "pending" or "error" say nothing about
// whether the identity can authenticate.
var statusWords = map[string]nhi.Status{
	"active": nhi.Active, "enabled": nhi.Active, "valid": nhi.Active, "verified": nhi.Active, "live": nhi.Active,
	"approved": nhi.Active, "issued": nhi.Active, "ok": nhi.Active, "healthy": nhi.Active, "ready": nhi.Active,
	"inactive": nhi.Disabled, "disabled": nhi.Disabled, "suspended": nhi.Disabled, "deactivated": nhi.Disabled,
	"paused": nhi.Disabled, "locked": nhi.Disabled, "blocked": nhi.Disabled, "stopped": nhi.Disabled,
	"revoked": nhi.Revoked, "deleted": nhi.Revoked, "removed": nhi.Revoked, "cancelled": nhi.Revoked, "canceled": nhi.Revoked,
	"expired": nhi.Expired,
}

// statusOrder is the order status buckets appear in a mapping expression.
var statusOrder = []nhi.Status{nhi.Active, nhi.Disabled, nhi.Revoked, nhi.Expired}
