package store

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/spindlehq/spindle/internal/nhi"
)

// StoredRecord is nhi.Record as both stores keep it in entities.record, so
// an inventory reads the same from either. It has exactly
// the fields of nhi.Record (converting between the two does not compile
// once they drift apart, so a new field cannot be silently dropped), but
// different JSON: nulls are left out, which roughly halves the row, and
// what has columns of its own is not repeated. omitzero (unlike
// omitempty) keeps an empty slice or map, so nil and empty round-trip.
type StoredRecord struct {
	ID             string              `json:"-"`
	Source         string              `json:"-"`
	Kind           nhi.Kind            `json:"-"`
	ExternalID     string              `json:"-"`
	Name           *string             `json:"name,omitzero"`
	Status         *nhi.Status         `json:"status,omitzero"`
	CreatedAt      *time.Time          `json:"created_at,omitzero"`
	UpdatedAt      *time.Time          `json:"updated_at,omitzero"`
	LastUsedAt     *time.Time          `json:"last_used_at,omitzero"`
	ExpiresAt      *time.Time          `json:"expires_at,omitzero"`
	LastRotatedAt  *time.Time          `json:"last_rotated_at,omitzero"`
	Owner          *nhi.Ref            `json:"owner,omitzero"`
	Creator        *nhi.Ref            `json:"creator,omitzero"`
	Scopes         []string            `json:"scopes,omitzero"`
	Privilege      *nhi.Privilege      `json:"privilege,omitzero"`
	CredentialType *nhi.CredentialType `json:"credential_type,omitzero"`
	ThirdParty     *bool               `json:"third_party,omitzero"`
	Publisher      *string             `json:"publisher,omitzero"`
	Environment    *string             `json:"environment,omitzero"`
	FirstSeen      *time.Time          `json:"-"` // column first_seen
	LastSeen       *time.Time          `json:"-"` // column last_seen
	Attributes     map[string]any      `json:"attributes,omitzero"`
	// Relationships live in their own table; here only nil (omitted) or
	// empty ([]) is kept, so that distinction round-trips.
	Relationships []nhi.Relationship `json:"relationships,omitzero"`
}

// ToStored is the stored form of rec: its times in UTC, relationships
// reduced to nil-or-empty, attributes' floats marked as such. rec is not
// modified.
func ToStored(rec *nhi.Record) StoredRecord {
	s := StoredRecord(*rec)
	for _, t := range []**time.Time{&s.CreatedAt, &s.UpdatedAt, &s.LastUsedAt, &s.ExpiresAt, &s.LastRotatedAt} {
		if *t != nil {
			u := (**t).UTC()
			*t = &u
		}
	}
	if s.Relationships != nil {
		s.Relationships = []nhi.Relationship{}
	}
	s.Attributes = AttributesForJSON(s.Attributes) // int64 and float64 stay apart
	return s
}

// DecodeStored parses entities.record back into a record (ID, source, kind,
// external id and first/last_seen are the caller's to fill from columns).
func DecodeStored(doc string) (nhi.Record, error) {
	var s StoredRecord
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber() // only attributes hold untyped numbers
	if err := dec.Decode(&s); err != nil {
		return nhi.Record{}, err
	}
	if s.Attributes != nil {
		AttributesFromJSON(s.Attributes)
	}
	return nhi.Record(s), nil
}
