package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spindlehq/spindle/internal/nhi"
	"github.com/spindlehq/spindle/internal/store"
)

// readTx runs f in a read-only REPEATABLE READ transaction: the queries of
// one call see one committed state even while runs commit in between
// (READ COMMITTED would give each query its own).
func (s *Store) readTx(ctx context.Context, f func(pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("store: begin read: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only: nothing to lose
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// limitArg maps "no limit" (zero or negative) to LIMIT NULL.
func limitArg(n int) any {
	if n <= 0 {
		return nil
	}
	return int64(n)
}

func (s *Store) entities(ctx context.Context, q store.Query) ([]store.Entity, error) {
	if q.Kind != "" && !q.Kind.Valid() {
		return nil, fmt.Errorf("store: query kind %q is not a known kind (one of %v)", q.Kind, nhi.Kinds())
	}
	switch q.Presence {
	case "", store.Present, store.Unverified, store.Gone:
	default:
		return nil, fmt.Errorf("store: query presence %q is not one of present, unverified, gone", q.Presence)
	}
	if err := textError(q.Source); err != nil {
		return nil, fmt.Errorf("store: query source %q %w", q.Source, err)
	}
	// Only fixed fragments are concatenated; values are bound. Conditions
	// are built rather than written as "($1 = '' OR col = $1)" so the
	// planner can use the (source, kind, external_id) index.
	var conds []string
	var args []any
	for _, c := range []struct{ col, val string }{
		{"source", q.Source}, {"kind", string(q.Kind)}, {"presence", string(q.Presence)},
	} {
		if c.val != "" {
			args = append(args, c.val)
			conds = append(conds, c.col+" = $"+strconv.Itoa(len(args)))
		}
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	args = append(args, limitArg(q.Limit))
	selected := where + " ORDER BY source, kind, external_id LIMIT $" + strconv.Itoa(len(args)) + "::bigint"

	var out []store.Entity
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT seq, id, source, kind, external_id, stream, record, first_seen, last_seen, presence, presence_since FROM entities`+selected, args...)
		if err != nil {
			return fmt.Errorf("store: list entities: %w", err)
		}
		defer rows.Close()
		index := map[int64]int{}
		for rows.Next() {
			var (
				e                                 store.Entity
				seq                               int64
				id, source, kind, externalID, doc string
				presence                          string
				firstSeen, lastSeen, presenceFrom int64
			)
			if err := rows.Scan(&seq, &id, &source, &kind, &externalID, &e.Stream, &doc, &firstSeen, &lastSeen, &presence, &presenceFrom); err != nil {
				return fmt.Errorf("store: read entity: %w", err)
			}
			rec, err := store.DecodeStored(doc)
			if err != nil {
				return fmt.Errorf("store: entity %s has a corrupt record (restore the database from a backup): %w", id, err)
			}
			e.Record = rec
			e.ID, e.Source, e.Kind, e.ExternalID = id, source, nhi.Kind(kind), externalID
			fs, ls := fromNanos(firstSeen), fromNanos(lastSeen)
			e.FirstSeen, e.LastSeen = &fs, &ls
			e.Presence, e.PresenceSince = store.Presence(presence), fromNanos(presenceFrom)
			index[seq] = len(out)
			out = append(out, e)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: list entities: %w", err)
		}
		if len(out) == 0 {
			return nil
		}
		return relationshipsOf(ctx, tx, out, index, selected, args)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// relationshipsOf fills in the relationships of the entities selected by
// the same conditions, in one query rather than one per entity.
func relationshipsOf(ctx context.Context, tx pgx.Tx, out []store.Entity, index map[int64]int, selected string, args []any) error {
	rows, err := tx.Query(ctx, `
SELECT from_seq, type, target_id, target_kind, target_external_id, privilege, first_seen, last_seen
FROM relationships WHERE from_seq IN (SELECT seq FROM entities`+selected+`)
ORDER BY from_seq, ord`, args...)
	if err != nil {
		return fmt.Errorf("store: list relationships: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			from                int64
			typ, kind           string
			rel                 nhi.Relationship
			priv                *string
			firstSeen, lastSeen int64
		)
		if err := rows.Scan(&from, &typ, &rel.Target.ID, &kind, &rel.Target.ExternalID, &priv, &firstSeen, &lastSeen); err != nil {
			return fmt.Errorf("store: read relationship: %w", err)
		}
		rel.Type, rel.Target.Kind = nhi.RelType(typ), nhi.Kind(kind)
		if priv != nil {
			p := nhi.Privilege(*priv)
			rel.Privilege = &p
		}
		fs, ls := fromNanos(firstSeen), fromNanos(lastSeen)
		rel.FirstSeen, rel.LastSeen = &fs, &ls
		i, ok := index[from]
		if !ok {
			continue // cannot happen within one snapshot; tolerate rather than fail a read
		}
		out[i].Relationships = append(out[i].Relationships, rel)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: list relationships: %w", err)
	}
	return nil
}

func (s *Store) runs(ctx context.Context, source string, limit int) ([]store.Run, error) {
	if err := textError(source); err != nil {
		return nil, fmt.Errorf("store: runs of source %q: it %w", source, err)
	}
	// A run's own row exists (status running) only inside its transaction,
	// so readers never see it; the filter guards against a torn database.
	selected := ` WHERE status <> 'running'`
	var args []any
	if source != "" {
		args = append(args, source)
		selected += ` AND source = $1`
	}
	args = append(args, limitArg(limit))
	selected += ` ORDER BY started_at DESC, id DESC LIMIT $` + strconv.Itoa(len(args)) + `::bigint`

	var out []store.Run
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, source, spec_digest, started_at, finished_at, status FROM sync_runs`+selected, args...)
		if err != nil {
			return fmt.Errorf("store: list runs: %w", err)
		}
		defer rows.Close()
		index := map[int64]int{}
		for rows.Next() {
			var (
				r                 store.Run
				started, finished int64
			)
			if err := rows.Scan(&r.ID, &r.Source, &r.SpecDigest, &started, &finished, &r.Status); err != nil {
				return fmt.Errorf("store: read run: %w", err)
			}
			r.StartedAt, r.FinishedAt = fromNanos(started), fromNanos(finished)
			r.Streams = []store.StreamResult{}
			index[r.ID] = len(out)
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: list runs: %w", err)
		}
		if len(out) == 0 {
			return nil
		}
		srows, err := tx.Query(ctx, `
SELECT run_id, stream, outcome, records, pages, requests, retries, stop_reason, errors, duration_ns, nulls
FROM sync_streams WHERE run_id IN (SELECT id FROM sync_runs`+selected+`)
ORDER BY run_id, ord`, args...)
		if err != nil {
			return fmt.Errorf("store: list run streams: %w", err)
		}
		defer srows.Close()
		for srows.Next() {
			var (
				runID                             int64
				sr                                store.StreamResult
				outcome                           string
				records, pages, requests, retries int64
				errs, nulls                       *string
				duration                          int64
			)
			if err := srows.Scan(&runID, &sr.Stream, &outcome, &records, &pages, &requests, &retries,
				&sr.StopReason, &errs, &duration, &nulls); err != nil {
				return fmt.Errorf("store: read run stream: %w", err)
			}
			sr.Outcome, sr.Duration = store.Outcome(outcome), time.Duration(duration)
			sr.Records, sr.Pages, sr.Requests, sr.Retries = int(records), int(pages), int(requests), int(retries)
			if err := store.ReadStreamColumns(&sr, runID, errs, nulls); err != nil {
				return err
			}
			if i, ok := index[runID]; ok {
				out[i].Streams = append(out[i].Streams, sr)
			}
		}
		return srows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
