package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/store"
)

// The statements a run executes, prepared once per run on its transaction.
const (
	// presence_since moves only when presence changes; first_seen and
	// last_seen only ever widen, so a late, older run cannot move them back.
	upsertEntitySQL = `
INSERT INTO entities (id, source, kind, external_id, stream, record, first_seen, last_seen, presence, presence_since, last_run_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'present', ?, ?)
ON CONFLICT (id) DO UPDATE SET
	stream         = excluded.stream,
	record         = excluded.record,
	first_seen     = min(entities.first_seen, excluded.first_seen),
	last_seen      = max(entities.last_seen, excluded.last_seen),
	presence_since = CASE WHEN entities.presence = 'present' THEN entities.presence_since ELSE excluded.presence_since END,
	presence       = 'present',
	last_run_id    = excluded.last_run_id
RETURNING seq`

	upsertRelSQL = `
INSERT INTO relationships (from_seq, type, target_id, target_kind, target_external_id, privilege, ord, first_seen, last_seen, put_seq)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (from_seq, type, target_id) DO UPDATE SET
	target_kind        = excluded.target_kind,
	target_external_id = excluded.target_external_id,
	privilege          = excluded.privilege,
	ord                = excluded.ord,
	first_seen         = min(relationships.first_seen, excluded.first_seen),
	last_seen          = max(relationships.last_seen, excluded.last_seen),
	put_seq            = excluded.put_seq`

	// Relationships this Put did not report are the ones it replaced.
	deleteStaleRelsSQL = `DELETE FROM relationships WHERE from_seq = ? AND put_seq <> ?`

	// One UPDATE per stream end, however many entities the stream has:
	// "not Put in this run" is last_run_id, kept in the row by Put.
	markGoneSQL = `
UPDATE entities SET presence = 'gone', presence_since = ?
WHERE source = ? AND stream = ? AND last_run_id <> ? AND presence <> 'gone'`

	// Only present entities become unverified: one a complete run already
	// found gone stays gone, and one already unverified keeps its since.
	markUnverifiedSQL = `
UPDATE entities SET presence = 'unverified', presence_since = ?
WHERE source = ? AND stream = ? AND last_run_id <> ? AND presence = 'present'`

	insertStreamSQL = `
INSERT INTO sync_streams (run_id, stream, ord, outcome, records, pages, requests, retries, stop_reason, errors, duration_ns, nulls)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

var errFinished = errors.New("store: this sync run was already committed or rolled back; begin a new one")

// syncRun is one open run: a transaction holding the Store's writer slot.
type syncRun struct {
	tx        *sql.Tx
	source    string
	digest    string
	startedAt time.Time // UTC
	started   int64     // startedAt in Unix nanoseconds
	runID     int64
	release   func() // gives the writer slot back; idempotent
	stopWatch func() bool
	ctxEnded  atomic.Bool // BeginSync's context ended: database/sql rolled the run back

	upsertEntity, upsertRel, deleteStaleRels, markGone, markUnverified, insertStream *sql.Stmt

	mu      sync.Mutex // a run's streams may Put from several goroutines
	done    bool
	puts    int64
	streams []store.StreamResult
	ended   map[string]bool
	buf     bytes.Buffer // reused JSON buffer: Put allocates little per record
	enc     *json.Encoder
}

func (s *Store) beginSync(ctx context.Context, source, digest string, startedAt time.Time, started int64) (_ *syncRun, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: begin sync run of %s: %w", source, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	r := &syncRun{
		tx: tx, source: source, digest: digest, startedAt: startedAt, started: started,
		release: sync.OnceFunc(func() { <-s.writer }),
		ended:   map[string]bool{},
	}
	// The run row is written first, inside the transaction, so entities can
	// reference its id; it stays invisible (and is discarded on rollback)
	// until Commit sets its final status.
	if err := tx.QueryRowContext(ctx,
		`INSERT INTO sync_runs (source, spec_digest, started_at, status) VALUES (?, ?, ?, 'running') RETURNING id`,
		source, digest, started).Scan(&r.runID); err != nil {
		return nil, fmt.Errorf("store: record sync run of %s: %w", source, err)
	}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&r.upsertEntity, upsertEntitySQL},
		{&r.upsertRel, upsertRelSQL},
		{&r.deleteStaleRels, deleteStaleRelsSQL},
		{&r.markGone, markGoneSQL},
		{&r.markUnverified, markUnverifiedSQL},
		{&r.insertStream, insertStreamSQL},
	} {
		if *p.stmt, err = tx.PrepareContext(ctx, p.sql); err != nil {
			return nil, fmt.Errorf("store: prepare sync statements: %w", err)
		}
	}
	r.enc = json.NewEncoder(&r.buf)
	r.enc.SetEscapeHTML(false)
	// database/sql rolls the transaction back when ctx ends; give the
	// writer slot back then too, even if the caller never calls Rollback.
	r.stopWatch = context.AfterFunc(ctx, func() {
		r.ctxEnded.Store(true)
		r.release()
	})
	return r, nil
}

// Put implements store.Sync.
func (r *syncRun) Put(ctx context.Context, stream string, rec *nhi.Record) error {
	switch {
	case rec == nil:
		return fmt.Errorf("store: stream %q: Put of a nil record: %w", stream, store.ErrInvalidRecord)
	case stream == "":
		return fmt.Errorf("store: record %s/%s: Put needs the name of the stream that read it: %w", rec.Kind, rec.ExternalID, store.ErrInvalidRecord)
	}
	if err := rec.Validate(); err != nil {
		return fmt.Errorf("store: stream %q: record %s/%s rejected, fix the integration's mapping: %w (%w)", stream, rec.Kind, rec.ExternalID, err, store.ErrInvalidRecord)
	}
	if rec.Source != r.source {
		return fmt.Errorf("store: stream %q: record %s/%s has source %q but this run syncs %q; map it with the run's source: %w",
			stream, rec.Kind, rec.ExternalID, rec.Source, r.source, store.ErrInvalidRecord)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return errFinished
	}
	doc, err := r.encode(rec)
	if err != nil {
		return fmt.Errorf("store: stream %q: record %s/%s cannot be stored as JSON (check its attributes): %w", stream, rec.Kind, rec.ExternalID, err)
	}
	var entity int64
	if err := r.upsertEntity.QueryRowContext(ctx, rec.ID, rec.Source, string(rec.Kind), rec.ExternalID, stream, doc,
		r.started, r.started, r.started, r.runID).Scan(&entity); err != nil {
		return r.txErr(fmt.Sprintf("put %s/%s", rec.Kind, rec.ExternalID), err)
	}
	// put_seq is unique per Put across all runs (run ids only grow), so the
	// relationships this Put did not touch are exactly those with another.
	r.puts++
	seq := r.runID<<32 | r.puts
	for i, rel := range rec.Relationships {
		var priv any
		if rel.Privilege != nil {
			priv = string(*rel.Privilege)
		}
		if _, err := r.upsertRel.ExecContext(ctx, entity, string(rel.Type), targetID(rec.Source, rel.Target),
			string(rel.Target.Kind), rel.Target.ExternalID, priv, i, r.started, r.started, seq); err != nil {
			return r.txErr(fmt.Sprintf("put %s/%s relationship %d (%s)", rec.Kind, rec.ExternalID, i, rel.Type), err)
		}
	}
	if _, err := r.deleteStaleRels.ExecContext(ctx, entity, seq); err != nil {
		return r.txErr(fmt.Sprintf("put %s/%s: replace relationships", rec.Kind, rec.ExternalID), err)
	}
	return nil
}

// targetID is a relationship target's entity id. It keys the edge, so a
// reference built without its ID (not through nhi.NewRef) gets the stable
// one rather than colliding with every other ID-less target.
func targetID(source string, ref nhi.Ref) string {
	if ref.ID != "" {
		return ref.ID
	}
	return nhi.StableID(source, ref.Kind, ref.ExternalID)
}

// encode renders the stored JSON of rec (see store.StoredRecord).
func (r *syncRun) encode(rec *nhi.Record) (string, error) {
	s := store.ToStored(rec)
	r.buf.Reset()
	if err := r.enc.Encode(&s); err != nil {
		return "", err
	}
	return string(bytes.TrimSuffix(r.buf.Bytes(), []byte("\n"))), nil
}

// EndStream implements store.Sync.
func (r *syncRun) EndStream(ctx context.Context, res store.StreamResult) error {
	if res.Stream == "" {
		return errors.New("store: EndStream needs the stream's name")
	}
	if !res.Outcome.Valid() {
		return fmt.Errorf("store: stream %q: outcome %q is not one of complete, partial, failed, denied", res.Stream, res.Outcome)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return errFinished
	}
	if r.ended[res.Stream] {
		return fmt.Errorf("store: stream %q already ended in this run; end each stream once", res.Stream)
	}
	var mark *sql.Stmt
	switch res.Outcome {
	case store.Complete:
		mark = r.markGone
	case store.Denied:
		mark = r.markUnverified
	}
	if mark != nil {
		if _, err := mark.ExecContext(ctx, r.started, r.source, res.Stream, r.runID); err != nil {
			return r.txErr(fmt.Sprintf("end stream %q (%s)", res.Stream, res.Outcome), err)
		}
	}
	errs, nulls, err := store.StreamColumns(res)
	if err != nil {
		return err
	}
	if _, err := r.insertStream.ExecContext(ctx, r.runID, res.Stream, len(r.streams), string(res.Outcome),
		res.Records, res.Pages, res.Requests, res.Retries, res.StopReason, errs, int64(res.Duration), nulls); err != nil {
		return r.txErr(fmt.Sprintf("record stream %q", res.Stream), err)
	}
	r.ended[res.Stream] = true
	r.streams = append(r.streams, res.Recorded())
	return nil
}

// Commit implements store.Sync.
func (r *syncRun) Commit(ctx context.Context, finishedAt time.Time) (store.Run, error) {
	finished, err := nanos(finishedAt)
	if err != nil {
		return store.Run{}, fmt.Errorf("store: Commit finishedAt: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return store.Run{}, errFinished
	}
	run := store.Run{
		ID:         r.runID,
		Source:     r.source,
		SpecDigest: r.digest,
		StartedAt:  r.startedAt,
		FinishedAt: fromNanos(finished),
		Status:     store.RunStatus(r.streams),
		Streams:    append([]store.StreamResult{}, r.streams...),
	}
	if _, err := r.tx.ExecContext(ctx, `UPDATE sync_runs SET finished_at = ?, status = ? WHERE id = ?`,
		finished, run.Status, r.runID); err != nil {
		return store.Run{}, r.txErr("record end of sync run", err)
	}
	err = r.tx.Commit()
	r.finish()
	if err != nil {
		return store.Run{}, fmt.Errorf("store: commit sync run of %s (nothing was applied): %w", r.source, err)
	}
	return run, nil
}

// Rollback implements store.Sync.
func (r *syncRun) Rollback() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil
	}
	err := r.tx.Rollback()
	r.finish()
	if err != nil && !errors.Is(err, sql.ErrTxDone) { // ErrTxDone: ctx ended and it was rolled back already
		return fmt.Errorf("store: roll back sync run of %s: %w", r.source, err)
	}
	return nil
}

// txErr wraps a database error of the run. When the run's context ended,
// database/sql rolled the transaction back and closed its statements; the
// resulting errors ("statement is closed") get that explanation.
// Any database error of a Put may leave that record half-written, so the
// caller should roll the run back (invalid records are refused before any
// write and leave the run usable).
func (r *syncRun) txErr(what string, err error) error {
	if r.ctxEnded.Load() || errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("store: %s: the sync run of %s was rolled back because the context given to BeginSync ended; begin a new run: %w", what, r.source, err)
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// finish marks the run over and frees the writer slot. Called with mu held.
func (r *syncRun) finish() {
	r.done = true
	r.stopWatch()
	r.release()
}
