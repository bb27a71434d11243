// Package store keeps the NHI inventory: entities and relationships with
// first_seen/last_seen, and the history of sync runs. A sync is applied as
// one transaction and is cleanup-safe: entities are only marked gone when
// the stream that reported them completed in full, and a stream the vendor
// refused (401/403/404) marks what it knew "unverified" rather than
// deleting it. Implementations: sqlite (embedded default) and postgres
// (shared by several workers); both pass the storetest suite.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/spindlehq/spindle/internal/nhi"
)

// Presence says what the last sync that could see an entity concluded.
type Presence string

const (
	// Present: reported by the last complete run of its stream.
	Present Presence = "present"
	// Unverified: its stream was refused (401/403/404); last known state kept.
	Unverified Presence = "unverified"
	// Gone: a complete run of its stream no longer reported it.
	Gone Presence = "gone"
)

// Outcome is how a stream's run ended.
type Outcome string

const (
	// Complete: every page was read; absent entities may be marked gone.
	Complete Outcome = "complete"
	// Partial: stopped early (max pages, repeated cursor, some fan-out
	// children failed); what was read is kept, nothing is marked gone.
	Partial Outcome = "partial"
	// Failed: an error stopped the stream; nothing is marked gone.
	Failed Outcome = "failed"
	// Denied: the vendor answered 401, 403 or 404; the stream's known
	// entities become unverified.
	Denied Outcome = "denied"
)

// StreamResult is one stream's part of a sync run.
type StreamResult struct {
	Stream     string        `json:"stream"`
	Outcome    Outcome       `json:"outcome"`
	Records    int           `json:"records"`
	Pages      int           `json:"pages"`
	Requests   int           `json:"requests"`
	Retries    int           `json:"retries"`
	StopReason string        `json:"stop_reason,omitempty"`
	Errors     []string      `json:"errors,omitempty"`
	Duration   time.Duration `json:"duration_ns"`
	// Nulls counts, per canonical field the stream's mapping sets (its
	// dotted name, e.g. "owner" or "attributes.email"), the records whose
	// value came out null. Every mapped field is present, zeros included, so
	// a run that counted is told from one that did not. The contract
	// checks compare rates against history: a field that silently goes null
	// is drift.
	Nulls map[string]int `json:"nulls,omitempty"`
}

// Valid reports whether o is one of the four outcomes.
func (o Outcome) Valid() bool {
	switch o {
	case Complete, Partial, Failed, Denied:
		return true
	}
	return false
}

// Run statuses, derived from the stream outcomes by RunStatus.
const (
	RunOK      = "ok"
	RunPartial = "partial"
	RunFailed  = "failed"
)

// RunStatus derives a run's status from its streams, the same way for every
// implementation and for the runtime's report: ok when every stream
// completed (or there were none), failed when none delivered anything
// trustworthy (every stream failed or was denied), partial otherwise.
func RunStatus(streams []StreamResult) string {
	complete, bad := 0, 0
	for _, s := range streams {
		switch s.Outcome {
		case Complete:
			complete++
		case Failed, Denied:
			bad++
		}
	}
	switch {
	case complete == len(streams):
		return RunOK
	case bad == len(streams):
		return RunFailed
	default:
		return RunPartial
	}
}

// ErrInvalidRecord marks a record a store refused before writing anything:
// the run stays usable, and the record is reported like a mapping error.
var ErrInvalidRecord = errors.New("invalid record")

// Run is a recorded sync run.
type Run struct {
	ID         int64          `json:"id"`
	Source     string         `json:"source"`
	SpecDigest string         `json:"spec_digest,omitempty"`
	StartedAt  time.Time      `json:"started_at"`
	FinishedAt time.Time      `json:"finished_at"`
	Status     string         `json:"status"` // ok | partial | failed
	Streams    []StreamResult `json:"streams"`
}

// Entity is a stored record with the store's view of it.
type Entity struct {
	nhi.Record
	Stream        string    `json:"stream"`
	Presence      Presence  `json:"presence"`
	PresenceSince time.Time `json:"presence_since"`
}

// Query filters entities. Zero values match everything.
type Query struct {
	Source   string
	Kind     nhi.Kind
	Presence Presence
	Limit    int
}

// Store is the inventory.
type Store interface {
	// BeginSync opens the transaction a sync run is applied in. Nothing is
	// visible to readers until Commit. ctx governs the whole run: cancelling
	// it rolls the run back. Runs that write the same store are applied one
	// at a time; BeginSync waits (until ctx is done) for the previous run to
	// Commit or Rollback, so always defer Rollback.
	BeginSync(ctx context.Context, source, specDigest string, startedAt time.Time) (Sync, error)
	// Entities lists entities (with their relationships) ordered by source,
	// kind, external_id.
	Entities(ctx context.Context, q Query) ([]Entity, error)
	// Runs lists recorded runs of a source (all sources when ""), newest first.
	Runs(ctx context.Context, source string, limit int) ([]Run, error)
	Close() error
}

// Sync is one open sync run. Its methods may be called from several
// goroutines (streams of a run may be read in parallel).
type Sync interface {
	// Put upserts a record observed by stream at the run's time: first_seen
	// is kept, last_seen advances, presence becomes present, and the
	// record's relationships replace the ones it had (a relationship that
	// persists keeps its first_seen). The store owns the record's and its
	// relationships' first_seen/last_seen: values passed in are ignored.
	// An invalid record (nhi.Record.Validate) or one of another source is
	// rejected with an error naming it, and the run stays usable.
	Put(ctx context.Context, stream string, rec *nhi.Record) error
	// EndStream applies a stream's outcome: Complete marks the stream's
	// entities that this run did not Put as gone; Denied marks all the
	// stream's entities not Put in this run unverified; Partial and Failed
	// change nothing beyond what was Put.
	EndStream(ctx context.Context, res StreamResult) error
	// Commit records the run (its status derived from the stream outcomes)
	// and makes everything visible at once.
	Commit(ctx context.Context, finishedAt time.Time) (Run, error)
	// Rollback discards the run; safe after Commit.
	Rollback() error
}
