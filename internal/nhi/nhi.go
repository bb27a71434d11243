// Package nhi is Spindle's canonical non-human-identity model: the entity
// kinds, their fields and the relationships between them. Every integration
// maps its vendor's schema into these types; everything downstream (store,
// findings, drift) reads only these.
package nhi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// Kind is an entity kind.
type Kind string

// NHI kinds, then the context kinds they point at.
const (
	ServiceAccount  Kind = "service_account"
	APIKey          Kind = "api_key"
	AccessToken     Kind = "access_token"
	OAuthApp        Kind = "oauth_app"
	OAuthGrant      Kind = "oauth_grant"
	AppInstallation Kind = "app_installation"
	DeployKey       Kind = "deploy_key"
	SSHKey          Kind = "ssh_key"
	Certificate     Kind = "certificate"
	Webhook         Kind = "webhook"
	Secret          Kind = "secret"
	Bot             Kind = "bot"

	HumanUser Kind = "human_user"
	Team      Kind = "team"
	Role      Kind = "role"
	Resource  Kind = "resource"
)

// Kinds lists every kind, NHI kinds first.
var kinds = []Kind{ServiceAccount, APIKey, AccessToken, OAuthApp, OAuthGrant, AppInstallation,
	DeployKey, SSHKey, Certificate, Webhook, Secret, Bot, HumanUser, Team, Role, Resource}

// Kinds returns every valid kind, NHI kinds first.
func Kinds() []Kind { return slices.Clone(kinds) }

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return slices.Contains(kinds, k) }

// IsNHI reports whether k is a non-human identity (not a context kind).
func (k Kind) IsNHI() bool {
	return k.Valid() && slices.Index(kinds, k) < slices.Index(kinds, HumanUser)
}

// Status is an entity's lifecycle state as the vendor reports it.
type Status string

const (
	Active   Status = "active"
	Disabled Status = "disabled"
	Revoked  Status = "revoked"
	Expired  Status = "expired"
)

// Statuses lists the valid statuses.
func Statuses() []Status { return []Status{Active, Disabled, Revoked, Expired} }

// Privilege is the normalised privilege level of an identity or grant.
type Privilege string

const (
	Read  Privilege = "read"
	Write Privilege = "write"
	Admin Privilege = "admin"
)

// Privileges lists the valid privilege levels, least first.
func Privileges() []Privilege { return []Privilege{Read, Write, Admin} }

// CredentialType says how an identity authenticates.
type CredentialType string

const (
	Static    CredentialType = "static"
	Federated CredentialType = "federated"
	Password  CredentialType = "password"
	CertBased CredentialType = "certificate"
)

// CredentialTypes lists the valid credential types.
func CredentialTypes() []CredentialType {
	return []CredentialType{Static, Federated, Password, CertBased}
}

// RelType is a relationship type.
type RelType string

const (
	OwnedBy         RelType = "OWNED_BY"
	CreatedBy       RelType = "CREATED_BY"
	AuthenticatesAs RelType = "AUTHENTICATES_AS"
	MemberOf        RelType = "MEMBER_OF"
	HasRole         RelType = "HAS_ROLE"
	CanAccess       RelType = "CAN_ACCESS"
	InstalledOn     RelType = "INSTALLED_ON"
	BelongsTo       RelType = "BELONGS_TO"
)

// RelTypes lists the valid relationship types.
func RelTypes() []RelType {
	return []RelType{OwnedBy, CreatedBy, AuthenticatesAs, MemberOf, HasRole, CanAccess, InstalledOn, BelongsTo}
}

// Valid reports whether t is a known relationship type.
func (t RelType) Valid() bool { return slices.Contains(RelTypes(), t) }

// Ref points at another entity of the same source.
type Ref struct {
	ID         string `json:"id"`
	Kind       Kind   `json:"kind"`
	ExternalID string `json:"external_id"`
}

// NewRef builds a reference with its stable ID filled in.
func NewRef(source string, kind Kind, externalID string) Ref {
	return Ref{ID: StableID(source, kind, externalID), Kind: kind, ExternalID: externalID}
}

// Relationship is a typed edge from a record to another entity.
type Relationship struct {
	Type      RelType    `json:"type"`
	Target    Ref        `json:"target"`
	Privilege *Privilege `json:"privilege"`
	FirstSeen *time.Time `json:"first_seen"`
	LastSeen  *time.Time `json:"last_seen"`
}

// Record is one canonical entity. Pointer fields are nullable: missing is
// null, never "" (the runtime's mapping turns "" into null).
type Record struct {
	ID             string          `json:"id"`
	Source         string          `json:"source"`
	Kind           Kind            `json:"kind"`
	ExternalID     string          `json:"external_id"`
	Name           *string         `json:"name"`
	Status         *Status         `json:"status"`
	CreatedAt      *time.Time      `json:"created_at"`
	UpdatedAt      *time.Time      `json:"updated_at"`
	LastUsedAt     *time.Time      `json:"last_used_at"`
	ExpiresAt      *time.Time      `json:"expires_at"`
	LastRotatedAt  *time.Time      `json:"last_rotated_at"`
	Owner          *Ref            `json:"owner"`
	Creator        *Ref            `json:"creator"`
	Scopes         []string        `json:"scopes"`
	Privilege      *Privilege      `json:"privilege"`
	CredentialType *CredentialType `json:"credential_type"`
	ThirdParty     *bool           `json:"third_party"`
	Publisher      *string         `json:"publisher"`
	Environment    *string         `json:"environment"`
	FirstSeen      *time.Time      `json:"first_seen"`
	LastSeen       *time.Time      `json:"last_seen"`
	Attributes     map[string]any  `json:"attributes"`
	Relationships  []Relationship  `json:"relationships"`
}

// StableID is the entity ID: a hash of source, kind and external ID, so the
// same vendor object always has the same ID across runs and machines.
func StableID(source string, kind Kind, externalID string) string {
	// NUL separators: no field may contain NUL, so no two triples collide.
	buf := make([]byte, 0, len(source)+len(kind)+len(externalID)+2)
	buf = append(append(append(append(append(buf, source...), 0), kind...), 0), externalID...)
	sum := sha256.Sum256(buf)
	var out [4 + 32]byte
	copy(out[:], "nhi_")
	hex.Encode(out[4:], sum[:16])
	return string(out[:])
}

// Validate checks the invariants every stored record must meet.
func (r *Record) Validate() error {
	switch {
	case r.Source == "":
		return fmt.Errorf("record has no source")
	case !r.Kind.Valid():
		return fmt.Errorf("record kind %q is not a known kind (one of %v)", r.Kind, kinds)
	case r.ExternalID == "":
		return fmt.Errorf("record of kind %s has an empty external_id", r.Kind)
	case r.ID != StableID(r.Source, r.Kind, r.ExternalID):
		return fmt.Errorf("record %s/%s has id %q, want the stable id %q", r.Kind, r.ExternalID, r.ID, StableID(r.Source, r.Kind, r.ExternalID))
	}
	if r.Status != nil && !slices.Contains(Statuses(), *r.Status) {
		return fmt.Errorf("record %s/%s: status %q is not one of %v", r.Kind, r.ExternalID, *r.Status, Statuses())
	}
	if r.Privilege != nil && !slices.Contains(Privileges(), *r.Privilege) {
		return fmt.Errorf("record %s/%s: privilege %q is not one of %v", r.Kind, r.ExternalID, *r.Privilege, Privileges())
	}
	if r.CredentialType != nil && !slices.Contains(CredentialTypes(), *r.CredentialType) {
		return fmt.Errorf("record %s/%s: credential_type %q is not one of %v", r.Kind, r.ExternalID, *r.CredentialType, CredentialTypes())
	}
	for _, ref := range []*Ref{r.Owner, r.Creator} {
		if ref != nil && (!ref.Kind.Valid() || ref.ExternalID == "") {
			return fmt.Errorf("record %s/%s: reference %+v needs a valid kind and external_id", r.Kind, r.ExternalID, *ref)
		}
	}
	for i, rel := range r.Relationships {
		if !rel.Type.Valid() {
			return fmt.Errorf("record %s/%s: relationship %d has unknown type %q", r.Kind, r.ExternalID, i, rel.Type)
		}
		if !rel.Target.Kind.Valid() || rel.Target.ExternalID == "" {
			return fmt.Errorf("record %s/%s: relationship %d (%s) needs a target kind and external_id", r.Kind, r.ExternalID, i, rel.Type)
		}
	}
	return nil
}
