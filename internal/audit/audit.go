// Package audit is Spindle's append-only, hash-chained audit log: every
// action — by a person, the agent or the scheduler — with the object it
// touched, the boundary it crossed (sandbox or production) and when. Each
// entry's hash covers its content and the previous entry's hash, so an
// edit, a deletion or a reordering anywhere breaks the chain, and Verify
// finds it offline. Entries are written in the same transaction as the
// change they record, so a change without its entry cannot commit.
package audit

import "time"

// Actor kinds.
const (
	ActorPerson    = "person"
	ActorAgent     = "agent"
	ActorScheduler = "scheduler"
)

// Boundaries.
const (
	BoundarySandbox    = "sandbox"
	BoundaryProduction = "production"
	BoundaryNone       = "none" // governance actions that touch neither
)

// Actor is who acted.
type Actor struct {
	Kind string `json:"kind"` // person, agent, scheduler
	Name string `json:"name"`
}

// Event is one action to record.
type Event struct {
	Actor    Actor  `json:"actor"`
	Action   string `json:"action"`   // e.g. "proposal.approve", "credential.set", "agent.tool.write_spec"
	Object   string `json:"object"`   // e.g. "proposal:12", "integration:okta", "credential:okta"
	Boundary string `json:"boundary"` // sandbox, production, none
	// Details are small, non-secret facts (a digest, a reason). They are
	// redacted before they are hashed and stored.
	Details map[string]any `json:"details,omitempty"`
	Time    time.Time      `json:"time"` // zero: the log's clock
}

// Entry is a stored event with its place in the chain.
type Entry struct {
	Seq      int64  `json:"seq"`
	Event           // embedded
	PrevHash string `json:"prev_hash"` // hex sha256 of the previous entry ("" for the first)
	Hash     string `json:"hash"`      // hex sha256 over the canonical encoding of seq, event and prev_hash
}

// The API is in log.go: New, Log.Append (its own transaction), Log.AppendTx
// (inside the caller's), Log.List, Log.Verify and Log.VerifyHead, Log.Head;
// Hash is the canonical hash of an entry, for verifiers outside this
// package.
