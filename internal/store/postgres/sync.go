package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/store"
)

// Put buffers records and writes them a batch at a time, each batch as
// one set-based statement: one statement per record would make a run as
// slow as the network's latency. A full batch is sent without waiting for
// the server, which writes it while the next one is encoded; its result is
// read before anything else is sent (the next batch, a stream's end, the
// commit). PostgreSQL aborts a transaction at its first error, so
// deferring the writes loses nothing: any database error ends the run,
// and the next call reports it.
const (
	flushRecords = 2000
	flushBytes   = 4 << 20 // of record JSON: bounds a batch of large records
)

// The statements of a run. The semantics are those of the SQLite store's
// (internal/store/sqlite/sync.go): presence_since moves only when presence
// changes; first_seen and last_seen only widen.
const (
	// One statement writes a batch: its records (each id at most once, see
	// add); the relationships those records no longer report, deleted; and
	// the ones they do, upserted (each (from, type, target) at most once,
	// see prepare). The delete and the upsert touch disjoint rows, as one
	// statement must. put_seq is the batch's mark, as in SQLite's schema.
	upsertBatchSQL = `
WITH e AS (
	INSERT INTO entities (id, source, kind, external_id, stream, record, first_seen, last_seen, presence, presence_since, last_run_id)
	SELECT u.id, $1::text, u.kind, u.external_id, u.stream, u.record, $2::bigint, $2::bigint, 'present', $2::bigint, $3::bigint
	FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) AS u (id, kind, external_id, stream, record)
	ON CONFLICT (id) DO UPDATE SET
		stream         = excluded.stream,
		record         = excluded.record,
		first_seen     = least(entities.first_seen, excluded.first_seen),
		last_seen      = greatest(entities.last_seen, excluded.last_seen),
		presence_since = CASE WHEN entities.presence = 'present' THEN entities.presence_since ELSE excluded.presence_since END,
		presence       = 'present',
		last_run_id    = excluded.last_run_id
	RETURNING id, seq
), rels AS MATERIALIZED (
	SELECT e.seq AS from_seq, u.type, u.target_id, u.target_kind, u.target_external_id, u.privilege, u.ord
	FROM unnest($10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::bigint[])
		AS u (from_id, type, target_id, target_kind, target_external_id, privilege, ord)
	JOIN e ON e.id = u.from_id
), stale AS (
	DELETE FROM relationships r USING e
	WHERE r.from_seq = e.seq
	AND NOT EXISTS (SELECT FROM rels n WHERE n.from_seq = r.from_seq AND n.type = r.type AND n.target_id = r.target_id)
)
INSERT INTO relationships (from_seq, type, target_id, target_kind, target_external_id, privilege, ord, first_seen, last_seen, put_seq)
SELECT from_seq, type, target_id, target_kind, target_external_id, privilege, ord, $2::bigint, $2::bigint, $9::bigint
FROM rels
ON CONFLICT (from_seq, type, target_id) DO UPDATE SET
	target_kind        = excluded.target_kind,
	target_external_id = excluded.target_external_id,
	privilege          = excluded.privilege,
	ord                = excluded.ord,
	first_seen         = least(relationships.first_seen, excluded.first_seen),
	last_seen          = greatest(relationships.last_seen, excluded.last_seen),
	put_seq            = excluded.put_seq`

	markGoneSQL = `
UPDATE entities SET presence = 'gone', presence_since = $1
WHERE source = $2 AND stream = $3 AND last_run_id <> $4 AND presence <> 'gone'`

	markUnverifiedSQL = `
UPDATE entities SET presence = 'unverified', presence_since = $1
WHERE source = $2 AND stream = $3 AND last_run_id <> $4 AND presence = 'present'`

	insertStreamSQL = `
INSERT INTO sync_streams (run_id, stream, ord, outcome, records, pages, requests, retries, stop_reason, errors, duration_ns, nulls)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`
)

var errFinished = errors.New("store: this sync run was already committed or rolled back; begin a new one")

// syncRun is one open run: a transaction on a pooled connection of its own.
type syncRun struct {
	conn      *pgxpool.Conn
	tx        pgx.Tx
	ctx       context.Context // BeginSync's, ended by Close too: ending it rolls the run back
	unlink    func()          // frees ctx's link to the Store, once the run is over
	source    string
	digest    string
	startedAt time.Time // UTC
	started   int64     // startedAt in Unix nanoseconds
	runID     int64
	stopWatch func() bool
	encoders  sync.Pool // of *encoder: Put encodes outside the lock
	pid       uint32    // the run's server process, for tests that kill it

	mu       sync.Mutex // a run's streams may Put from several goroutines
	done     bool       // Commit or Rollback was called
	released bool       // the transaction is over and the connection given back
	ctxEnded atomic.Bool
	err      error // the database error that aborted the transaction
	// inflight is the batch of records sent but whose result is not read
	// yet; the connection takes nothing else until it is (collect).
	inflight     pgx.BatchResults
	inflightWhat string
	batches      int64
	pending      []pendingEntity
	index        map[string]int // id → its place in pending
	bytes        int
	streams      []store.StreamResult
	ended        map[string]bool
}

// pendingEntity is a Put not yet written.
type pendingEntity struct {
	id, kind, externalID, stream, doc string
	rels                              []pendingRel
}

type pendingRel struct {
	typ, targetID, targetKind, targetExternalID string
	privilege                                   pgtype.Text
	ord                                         int64
}

type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// beginSync opens the run; lock false skips the source's lock, only so a
// test can show that the unique constraints alone prevent duplicates.
func (s *Store) beginSync(ctx context.Context, source, digest string, startedAt time.Time, started int64, lock bool) (_ *syncRun, err error) {
	// The run's context also ends when the Store is closed.
	ctx, cancel := context.WithCancelCause(ctx)
	stopClosing := context.AfterFunc(s.closing, func() { cancel(context.Cause(s.closing)) })
	unlink := func() {
		stopClosing()
		cancel(nil)
	}
	defer func() {
		if err != nil {
			unlink()
		}
	}()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: begin sync run of %s: get a PostgreSQL connection (raise pool_max_conns in the URL if every connection is busy): %w", source, err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		conn.Release()
		return nil, fmt.Errorf("store: begin sync run of %s: %w", source, err)
	}
	defer func() {
		if err == nil {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		tx.Rollback(rctx) //nolint:errcheck // the error that got us here is the one to report
		conn.Release()
	}()
	if lock {
		if err := lockSource(ctx, conn, source); err != nil {
			return nil, err
		}
	}
	r := &syncRun{
		conn: conn, tx: tx, ctx: ctx, unlink: unlink, source: source, digest: digest, startedAt: startedAt, started: started,
		pid:   conn.Conn().PgConn().PID(),
		index: map[string]int{},
		ended: map[string]bool{},
	}
	r.encoders.New = func() any {
		e := &encoder{}
		e.enc = json.NewEncoder(&e.buf)
		e.enc.SetEscapeHTML(false)
		return e
	}
	// The run row is written after the lock is held, so a source's run ids
	// follow the order its runs are applied in. Entities reference it; it
	// stays invisible (and is discarded on rollback) until Commit.
	if err := tx.QueryRow(ctx,
		`INSERT INTO sync_runs (source, spec_digest, started_at, status) VALUES ($1, $2, $3, 'running') RETURNING id`,
		source, digest, started).Scan(&r.runID); err != nil {
		return nil, fmt.Errorf("store: record sync run of %s: %w", source, err)
	}
	// ctx governs the whole run, as database/sql's BeginTx does: when it
	// ends the run is rolled back and its connection (and lock) freed,
	// even if the caller never calls Rollback.
	r.stopWatch = context.AfterFunc(ctx, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.ctxEnded.Store(true)
		r.release()
		r.unlink()
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
	e, err := r.prepare(stream, rec)
	if err != nil {
		return err
	}
	// The writes belong to the run and its context; a Put whose own
	// context has ended still fails, as it would on SQLite.
	if ctx.Err() != nil {
		return fmt.Errorf("store: stream %q: put %s/%s: %w", stream, rec.Kind, rec.ExternalID, context.Cause(ctx))
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.usable(); err != nil {
		return err
	}
	r.add(e)
	if len(r.pending) < flushRecords && r.bytes < flushBytes {
		return nil
	}
	if err := r.collect(); err != nil {
		return err
	}
	b := &pgx.Batch{}
	n := r.queueFlush(b)
	// The batch outlives this call, so the run's context governs it.
	r.inflight, r.inflightWhat = r.tx.SendBatch(r.ctx, b), fmt.Sprintf("write %d records", n)
	return nil
}

// collect reads the result of the batch in flight, if any. Called with mu
// held.
func (r *syncRun) collect() error {
	if r.inflight == nil {
		return nil
	}
	err := r.inflight.Close()
	r.inflight = nil
	if err != nil {
		r.err = r.txErr(r.inflightWhat, err)
		return r.err
	}
	return nil
}

// prepare checks what PostgreSQL would refuse and encodes the record,
// outside the run's lock so that parallel streams encode in parallel.
func (r *syncRun) prepare(stream string, rec *nhi.Record) (pendingEntity, error) {
	bad := func(what, value string, err error) error {
		return fmt.Errorf("store: stream %q: record %s/%s rejected: %s %q %w: %w", stream, rec.Kind, rec.ExternalID, what, value, err, store.ErrInvalidRecord)
	}
	if err := textError(stream); err != nil {
		return pendingEntity{}, bad("stream name", stream, err)
	}
	if err := textError(rec.ExternalID); err != nil {
		return pendingEntity{}, bad("external_id", rec.ExternalID, err)
	}
	e := pendingEntity{id: rec.ID, kind: string(rec.Kind), externalID: rec.ExternalID, stream: stream}
	if len(rec.Relationships) > 0 {
		e.rels = make([]pendingRel, 0, len(rec.Relationships))
	}
	// A record may list one edge twice; as in SQLite, where the second
	// upsert overwrites the first, the last one (and its position) wins.
	// One statement cannot write a row twice, so they are merged here.
	var seen map[[2]string]int
	for i, rel := range rec.Relationships {
		p := pendingRel{typ: string(rel.Type), targetID: targetID(rec.Source, rel.Target), targetKind: string(rel.Target.Kind),
			targetExternalID: rel.Target.ExternalID, ord: int64(i)}
		if err := textError(p.targetID); err != nil {
			return pendingEntity{}, bad(fmt.Sprintf("relationship %d (%s) target id", i, rel.Type), p.targetID, err)
		}
		if err := textError(p.targetExternalID); err != nil {
			return pendingEntity{}, bad(fmt.Sprintf("relationship %d (%s) target external_id", i, rel.Type), p.targetExternalID, err)
		}
		if rel.Privilege != nil {
			if err := textError(string(*rel.Privilege)); err != nil {
				return pendingEntity{}, bad(fmt.Sprintf("relationship %d (%s) privilege", i, rel.Type), string(*rel.Privilege), err)
			}
			p.privilege = pgtype.Text{String: string(*rel.Privilege), Valid: true}
		}
		key := [2]string{p.typ, p.targetID}
		if j, ok := findRel(e.rels, seen, key); ok {
			e.rels[j] = p
			continue
		}
		if len(e.rels) == 8 && seen == nil { // a long list: index it rather than scan it per edge
			seen = make(map[[2]string]int, len(rec.Relationships))
			for j, q := range e.rels {
				seen[[2]string{q.typ, q.targetID}] = j
			}
		}
		if seen != nil {
			seen[key] = len(e.rels)
		}
		e.rels = append(e.rels, p)
	}
	doc, err := r.encode(rec)
	if err != nil {
		return pendingEntity{}, fmt.Errorf("store: stream %q: record %s/%s cannot be stored as JSON (check its attributes): %w (%w)", stream, rec.Kind, rec.ExternalID, err, store.ErrInvalidRecord)
	}
	e.doc = doc
	return e, nil
}

func findRel(rels []pendingRel, seen map[[2]string]int, key [2]string) (int, bool) {
	if seen != nil {
		j, ok := seen[key]
		return j, ok
	}
	for j, q := range rels {
		if q.typ == key[0] && q.targetID == key[1] {
			return j, true
		}
	}
	return 0, false
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
	e := r.encoders.Get().(*encoder)
	defer r.encoders.Put(e)
	s := store.ToStored(rec)
	e.buf.Reset()
	if err := e.enc.Encode(&s); err != nil {
		return "", err
	}
	return string(bytes.TrimSuffix(e.buf.Bytes(), []byte("\n"))), nil
}

// add buffers e. A record Put again before its batch is written replaces
// the earlier Put: both are at the run's time, so writing only the last is
// exactly writing both in order (and one statement cannot write a row
// twice). Called with mu held.
func (r *syncRun) add(e pendingEntity) {
	if i, ok := r.index[e.id]; ok {
		r.bytes += len(e.doc) - len(r.pending[i].doc)
		r.pending[i] = e
		return
	}
	r.index[e.id] = len(r.pending)
	r.pending = append(r.pending, e)
	r.bytes += len(e.doc)
}

// queueFlush queues the writes of the buffered records on b and empties
// the buffer; it returns how many records that is. Called with mu held.
func (r *syncRun) queueFlush(b *pgx.Batch) int {
	n := len(r.pending)
	if n == 0 {
		return 0
	}
	r.batches++
	// Unique per batch across all runs (run ids only grow).
	putSeq := r.runID<<32 | r.batches
	ids := make([]string, n)
	kinds := make([]string, n)
	externalIDs := make([]string, n)
	streams := make([]string, n)
	docs := make([]string, n)
	var (
		relFrom, relTypes, relTargets, relKinds, relExternal []string
		relPrivs                                             []pgtype.Text
		relOrds                                              []int64
	)
	for i, e := range r.pending {
		ids[i], kinds[i], externalIDs[i], streams[i], docs[i] = e.id, e.kind, e.externalID, e.stream, e.doc
		for _, rel := range e.rels {
			relFrom = append(relFrom, e.id)
			relTypes = append(relTypes, rel.typ)
			relTargets = append(relTargets, rel.targetID)
			relKinds = append(relKinds, rel.targetKind)
			relExternal = append(relExternal, rel.targetExternalID)
			relPrivs = append(relPrivs, rel.privilege)
			relOrds = append(relOrds, rel.ord)
		}
	}
	b.Queue(upsertBatchSQL, r.source, r.started, r.runID, ids, kinds, externalIDs, streams, docs,
		putSeq, relFrom, relTypes, relTargets, relKinds, relExternal, relPrivs, relOrds)
	clear(r.pending) // drop the records' strings for the collector
	r.pending = r.pending[:0]
	clear(r.index)
	r.bytes = 0
	return n
}

// send runs b in the run's transaction. Its context ends with either ctx
// or the run's. Any error aborts the transaction, so it sticks: every
// later call reports it. Called with mu held.
func (r *syncRun) send(ctx context.Context, b *pgx.Batch, what string) error {
	if err := r.collect(); err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(r.ctx, func() { cancel(context.Cause(r.ctx)) })
	defer stop()
	if err := r.tx.SendBatch(ctx, b).Close(); err != nil {
		r.err = r.txErr(what, err)
		return r.err
	}
	return nil
}

// EndStream implements store.Sync.
func (r *syncRun) EndStream(ctx context.Context, res store.StreamResult) error {
	if res.Stream == "" {
		return errors.New("store: EndStream needs the stream's name")
	}
	if !res.Outcome.Valid() {
		return fmt.Errorf("store: stream %q: outcome %q is not one of complete, partial, failed, denied", res.Stream, res.Outcome)
	}
	if err := textError(res.Stream); err != nil {
		return fmt.Errorf("store: EndStream: stream name %q %w", res.Stream, err)
	}
	if err := textError(res.StopReason); err != nil {
		return fmt.Errorf("store: end stream %q: stop reason %q %w", res.Stream, res.StopReason, err)
	}
	errs, nulls, err := store.StreamColumns(res)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.usable(); err != nil {
		return err
	}
	if r.ended[res.Stream] {
		return fmt.Errorf("store: stream %q already ended in this run; end each stream once", res.Stream)
	}
	// What was Put is written first: marking compares against it.
	b := &pgx.Batch{}
	r.queueFlush(b)
	switch res.Outcome {
	case store.Complete:
		b.Queue(markGoneSQL, r.started, r.source, res.Stream, r.runID)
	case store.Denied:
		b.Queue(markUnverifiedSQL, r.started, r.source, res.Stream, r.runID)
	}
	b.Queue(insertStreamSQL, r.runID, res.Stream, len(r.streams), string(res.Outcome),
		res.Records, res.Pages, res.Requests, res.Retries, res.StopReason, errs, int64(res.Duration), nulls)
	if err := r.send(ctx, b, fmt.Sprintf("end stream %q (%s)", res.Stream, res.Outcome)); err != nil {
		return err
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
	if err := r.usable(); err != nil {
		return store.Run{}, err
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
	b := &pgx.Batch{}
	r.queueFlush(b)
	b.Queue(`UPDATE sync_runs SET finished_at = $1, status = $2 WHERE id = $3`, finished, run.Status, r.runID)
	if err := r.send(ctx, b, "record the end of the sync run"); err != nil {
		return store.Run{}, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(r.ctx, func() { cancel(context.Cause(r.ctx)) })
	err = r.tx.Commit(ctx)
	stop()
	r.done = true
	r.stopWatch()
	r.release()
	r.unlink()
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return store.Run{}, fmt.Errorf("store: commit sync run of %s (nothing was applied): %w", r.source, err)
		}
		// The connection failed during COMMIT: the server may have
		// committed. Re-running the sync is safe either way.
		return store.Run{}, fmt.Errorf("store: commit sync run of %s: the connection failed, so whether it was applied is unknown (see Runs); re-running the sync is safe: %w", r.source, err)
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
	r.done = true
	r.stopWatch()
	defer r.unlink()
	return r.release()
}

// usable reports why the run can take no more calls, if it cannot.
// Called with mu held.
func (r *syncRun) usable() error {
	switch {
	case r.done:
		return errFinished
	case r.ctxEnded.Load():
		return fmt.Errorf("store: the sync run of %s was rolled back when its context ended (%w); begin a new run", r.source, context.Cause(r.ctx))
	case r.err != nil:
		return fmt.Errorf("store: the sync run of %s failed earlier and PostgreSQL rolled it back; roll it back and begin a new run: %w", r.source, r.err)
	}
	return nil
}

// txErr explains a database error of the run.
func (r *syncRun) txErr(what string, err error) error {
	switch {
	case r.ctxEnded.Load() || r.ctx.Err() != nil:
		return fmt.Errorf("store: %s: the sync run of %s was rolled back when its context ended (%w); begin a new run: %w", what, r.source, context.Cause(r.ctx), err)
	case r.conn.Conn().IsClosed():
		return fmt.Errorf("store: %s: the connection to PostgreSQL was lost, and with it the sync run of %s (the server rolled it back); begin a new run: %w", what, r.source, err)
	}
	return fmt.Errorf("store: %s in the sync run of %s (PostgreSQL rolled the run back; begin a new one): %w", what, r.source, err)
}

// release ends the transaction, if it is still open, and gives the
// connection back (the pool discards it if it broke). Called with mu held;
// idempotent.
func (r *syncRun) release() error {
	if r.released {
		return nil
	}
	r.released = true
	defer r.conn.Release()
	if r.inflight != nil {
		r.inflight.Close() //nolint:errcheck // rolled back either way
		r.inflight = nil
	}
	if r.conn.Conn().IsClosed() {
		return nil // the server rolled back when the connection dropped
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), rollbackTimeout)
	defer cancel()
	if err := r.tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) && !r.conn.Conn().IsClosed() {
		return fmt.Errorf("store: roll back sync run of %s: %w", r.source, err)
	}
	return nil
}
