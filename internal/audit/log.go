package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Version is the version of the canonical encoding that entries written now
// are hashed over. It is stored with every entry, so a later encoding can
// be introduced without invalidating the entries already written.
const Version = 1

// DefaultMaxDetailsBytes bounds an event's Details, encoded: an audit
// entry records facts (digests, names, a reason), not payloads.
const DefaultMaxDetailsBytes = 8 << 10

// maxFieldBytes bounds the actor name, the action and the object.
const maxFieldBytes = 1024

// maxProblems bounds Report.Problems: past the first hundred, a log is
// plainly not intact and the rest would only bury the first ones.
const maxProblems = 100

// ErrInvalidEvent is wrapped by every error about an event that cannot be
// recorded as given (a missing field, oversized details …), as opposed to
// an error of the database.
var ErrInvalidEvent = errors.New("invalid audit event")

// Options configure a Log. The zero value is usable.
type Options struct {
	// Now is the clock for events without a Time (default time.Now).
	Now func() time.Time
	// Redact replaces secrets in a string (the vault's redactor). It is
	// applied to the actor name, the object and every string in Details —
	// values and keys, at any depth — before anything is hashed or
	// stored. Default: none.
	Redact func(string) string
	// MaxDetailsBytes bounds the encoded Details (default
	// DefaultMaxDetailsBytes).
	MaxDetailsBytes int
}

// Log is the audit log in a store's database (SQLite or PostgreSQL) whose
// schema includes the audit_log table (migration 00002). It is safe for
// concurrent use and holds no state of its own: the chain's head is read
// inside each appending transaction, so several Logs, or processes, on one
// database extend one chain.
type Log struct {
	db         *sql.DB
	now        func() time.Time
	redact     func(string) string
	maxDetails int
}

// New returns the log kept in db.
func New(db *sql.DB, o Options) *Log {
	l := &Log{db: db, now: o.Now, redact: o.Redact, maxDetails: o.MaxDetailsBytes}
	if l.now == nil {
		l.now = time.Now
	}
	if l.redact == nil {
		l.redact = func(s string) string { return s }
	}
	if l.maxDetails <= 0 {
		l.maxDetails = DefaultMaxDetailsBytes
	}
	return l
}

// record is one row of audit_log, exactly as stored and hashed.
type record struct {
	v                     int
	seq                   int64
	at                    int64 // Unix nanoseconds, UTC
	kind, name            string
	action, object, bound string
	details               []byte // canonical JSON object; nil when none
	prevHash, hash        string
	// detailsTree is details decoded, for Entry; detailsErr says why it
	// could not be (a tampered row), which Verify reports through the hash.
	detailsTree map[string]any
	detailsErr  error
}

// Append records ev in its own transaction and returns the stored entry.
func (l *Log) Append(ctx context.Context, ev Event) (Entry, error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return Entry{}, fmt.Errorf("audit: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	e, err := l.AppendTx(ctx, tx, ev)
	if err != nil {
		return Entry{}, err
	}
	if err := tx.Commit(); err != nil {
		return Entry{}, fmt.Errorf("audit: commit %s: %w", ev.Action, err)
	}
	return e, nil
}

// AppendTx records ev inside tx, so that the change it records and the
// entry commit together or not at all: roll tx back and neither happened,
// and no seq is used up. tx must be a write transaction on the log's
// database. The store's writer lock, held from BEGIN until commit (SQLite's
// BEGIN IMMEDIATE; on PostgreSQL the advisory lock its DB() takes), is
// what orders concurrent appends; without it a concurrent append fails (busy,
// or a duplicate seq) rather than forking the chain.
func (l *Log) AppendTx(ctx context.Context, tx *sql.Tx, ev Event) (Entry, error) {
	r, err := l.prepare(ev)
	if err != nil {
		return Entry{}, err
	}
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&r.seq, &r.prevHash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Entry{}, fmt.Errorf("audit: read the chain's head: %w", err)
	}
	r.seq++
	if r.hash, err = hashOf(r); err != nil {
		return Entry{}, fmt.Errorf("audit: %s: %w", ev.Action, err)
	}
	var details any // NULL when none
	if r.details != nil {
		details = string(r.details)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_log
		(seq, v, at, actor_kind, actor_name, action, object, boundary, details, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.seq, r.v, r.at, r.kind, r.name, r.action, r.object, r.bound, details, r.prevHash, r.hash)
	if err != nil {
		return Entry{}, fmt.Errorf("audit: append %s as seq %d: %w", ev.Action, r.seq, err)
	}
	return r.entry(), nil
}

// prepare validates and normalises ev into a record without its place in
// the chain: redacted, details canonical, time fixed.
func (l *Log) prepare(ev Event) (*record, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("audit: %w: %s", ErrInvalidEvent, fmt.Sprintf(format, args...))
	}
	switch ev.Actor.Kind {
	case ActorPerson, ActorAgent, ActorScheduler:
	default:
		return nil, bad("actor kind %q: set Actor.Kind to %q, %q or %q", ev.Actor.Kind, ActorPerson, ActorAgent, ActorScheduler)
	}
	switch ev.Boundary {
	case BoundarySandbox, BoundaryProduction, BoundaryNone:
	default:
		return nil, bad("boundary %q of %s: set Boundary to %q, %q or %q", ev.Boundary, ev.Action, BoundarySandbox, BoundaryProduction, BoundaryNone)
	}
	for _, f := range []struct{ name, v string }{{"Actor.Name", ev.Actor.Name}, {"Action", ev.Action}, {"Object", ev.Object}} {
		switch {
		case f.v == "" && f.name != "Object":
			return nil, bad("%s is empty: say who acted and what they did", f.name)
		case len(f.v) > maxFieldBytes:
			return nil, bad("%s is %d bytes, over %d: put long values in Details, or a digest of them", f.name, len(f.v), maxFieldBytes)
		case !utf8.ValidString(f.v):
			return nil, bad("%s is not valid UTF-8", f.name)
		}
	}
	t := ev.Time
	if t.IsZero() {
		t = l.now()
	}
	at := t.UnixNano()
	if !time.Unix(0, at).Equal(t) {
		return nil, bad("time %s is outside the storable range (years 1678 to 2262)", t)
	}
	r := &record{v: Version, at: at, kind: ev.Actor.Kind, name: l.redact(ev.Actor.Name), action: ev.Action,
		object: l.redact(ev.Object), bound: ev.Boundary}
	if len(ev.Details) > 0 {
		canon, tree, err := canonicalDetails(ev.Details, l.redact)
		if err != nil {
			return nil, bad("details of %s: %v", ev.Action, err)
		}
		if len(canon) > l.maxDetails {
			return nil, bad("details of %s are %d bytes encoded, over the %d-byte limit: record a digest or a count of large values, not the values",
				ev.Action, len(canon), l.maxDetails)
		}
		r.details, r.detailsTree = canon, tree
	}
	return r, nil
}

// canonicalDetails is d as the canonical JSON object that is hashed and
// stored: passed through JSON once (so structs, numbers and nested values
// take their JSON form and the stored text decodes to the same tree), its
// strings redacted, keys sorted at every depth, no insignificant space,
// no HTML escaping. Encoding its own output again yields the same bytes,
// which is what lets Hash re-derive it from a listed Entry.
func canonicalDetails(d map[string]any, redact func(string) string) ([]byte, map[string]any, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, nil, fmt.Errorf("not encodable as JSON (%v): pass plain values (strings, numbers, booleans, maps, slices)", err)
	}
	tree, err := decodeDetails(raw)
	if err != nil {
		return nil, nil, err
	}
	red, err := redactValue(tree, redact)
	if err != nil {
		return nil, nil, err
	}
	tree = red.(map[string]any)
	canon, err := encodeCanonical(tree)
	if err != nil {
		return nil, nil, err
	}
	return canon, tree, nil
}

// decodeDetails decodes stored details, keeping numbers as their literal
// text (json.Number) so that nothing is rounded on the way back out.
func decodeDetails(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var tree map[string]any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("details are not a JSON object: %w", err)
	}
	return tree, nil
}

func redactValue(v any, redact func(string) string) (any, error) {
	switch v := v.(type) {
	case string:
		return redact(v), nil
	case []any:
		for i := range v {
			r, err := redactValue(v[i], redact)
			if err != nil {
				return nil, err
			}
			v[i] = r
		}
		return v, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, val := range v {
			r, err := redactValue(val, redact)
			if err != nil {
				return nil, err
			}
			rk := redact(k)
			if _, dup := out[rk]; dup {
				// Two keys merging would silently drop a value. Whichever
				// of the two comes second in map order finds the other.
				return nil, fmt.Errorf("a key that holds a secret collides with another key once redacted: do not use secrets as keys")
			}
			out[rk] = r
		}
		return out, nil
	}
	return v, nil
}

// encodeCanonical is v in JSON without HTML escaping (so "<" stays "<",
// as a verifier in another language would write it) and without the
// encoder's trailing newline.
func encodeCanonical(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// canonV1 is version 1 of the hashed encoding: a JSON object with exactly
// these members in this order, times as RFC 3339 with nanoseconds in UTC,
// details as their canonical JSON (null when none).
type canonV1 struct {
	V        int             `json:"v"`
	Seq      int64           `json:"seq"`
	Time     string          `json:"time"`
	Actor    Actor           `json:"actor"`
	Action   string          `json:"action"`
	Object   string          `json:"object"`
	Boundary string          `json:"boundary"`
	Details  json.RawMessage `json:"details"`
	PrevHash string          `json:"prev_hash"`
}

// hashOf is the hex SHA-256 of r's canonical encoding.
func hashOf(r *record) (string, error) {
	if r.v != 1 {
		return "", fmt.Errorf("encoding version %d is unknown to this build (it knows 1): verify with a newer spindle", r.v)
	}
	details := json.RawMessage("null")
	if r.details != nil {
		details = r.details
	}
	b, err := encodeCanonical(canonV1{V: r.v, Seq: r.seq, Time: time.Unix(0, r.at).UTC().Format(time.RFC3339Nano),
		Actor: Actor{Kind: r.kind, Name: r.name}, Action: r.action, Object: r.object, Boundary: r.bound,
		Details: details, PrevHash: r.prevHash})
	if err != nil {
		return "", fmt.Errorf("cannot encode the entry (are its details JSON?): %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Hash is the hash e should carry: the hex SHA-256 of its canonical
// encoding (version 1), from its fields as List returns them. It lets a
// verifier outside this package check a listed or exported chain; Verify
// itself hashes the stored text.
func Hash(e Entry) (string, error) {
	r := &record{v: Version, seq: e.Seq, at: e.Time.UnixNano(), kind: e.Actor.Kind, name: e.Actor.Name,
		action: e.Action, object: e.Object, bound: e.Boundary, prevHash: e.PrevHash}
	if len(e.Details) > 0 {
		canon, _, err := canonicalDetails(e.Details, func(s string) string { return s })
		if err != nil {
			return "", err
		}
		r.details = canon
	}
	return hashOf(r)
}

// entry is r as the API returns it.
func (r *record) entry() Entry {
	return Entry{
		Seq: r.seq,
		Event: Event{Actor: Actor{Kind: r.kind, Name: r.name}, Action: r.action, Object: r.object, Boundary: r.bound,
			Details: r.detailsTree, Time: time.Unix(0, r.at).UTC()},
		PrevHash: r.prevHash,
		Hash:     r.hash,
	}
}

// columns are audit_log's columns in the order scan reads them.
const columns = `seq, v, at, actor_kind, actor_name, action, object, boundary, details, prev_hash, hash`

func scan(rows *sql.Rows) (*record, error) {
	r := &record{}
	var details sql.NullString
	if err := rows.Scan(&r.seq, &r.v, &r.at, &r.kind, &r.name, &r.action, &r.object, &r.bound, &details, &r.prevHash, &r.hash); err != nil {
		return nil, fmt.Errorf("audit: read entry: %w", err)
	}
	if details.Valid {
		r.details = []byte(details.String)
		r.detailsTree, r.detailsErr = decodeDetails(r.details)
	}
	return r, nil
}

// Filter selects entries for List. Zero fields select everything.
type Filter struct {
	// Actor is an actor's name ("alice"), or kind and name ("agent:heuristic").
	Actor string
	// Action is an action ("proposal.approve") or a dotted prefix of
	// actions: "agent.tool" selects "agent.tool.write_spec" and the rest.
	Action string
	Object string
	// Boundary is sandbox, production or none.
	Boundary string
	// After selects entries with a greater seq (for paging onwards).
	After int64
	// Limit bounds the entries returned (0: all).
	Limit int
	// Tail, with Limit, selects the newest Limit matches instead of the
	// oldest; they are still returned oldest first.
	Tail bool
}

// List returns the entries f selects, in chain order. It reads the stored
// entries as they are: run Verify to know they are intact.
func (l *Log) List(ctx context.Context, f Filter) ([]Entry, error) {
	var where []string
	var args []any
	if f.Actor != "" {
		where = append(where, `(actor_name = ? OR actor_kind || ':' || actor_name = ?)`)
		args = append(args, f.Actor, f.Actor)
	}
	if f.Action != "" {
		// A dotted prefix, matched without LIKE so that '_' and '%' in an
		// action are literal.
		where = append(where, `(action = ? OR substr(action, 1, ?) = ?)`)
		args = append(args, f.Action, len(f.Action)+1, f.Action+".")
	}
	if f.Object != "" {
		where = append(where, `object = ?`)
		args = append(args, f.Object)
	}
	if f.Boundary != "" {
		where = append(where, `boundary = ?`)
		args = append(args, f.Boundary)
	}
	if f.After > 0 {
		where = append(where, `seq > ?`)
		args = append(args, f.After)
	}
	q := `SELECT ` + columns + ` FROM audit_log`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	switch {
	case f.Limit > 0 && f.Tail:
		q = `SELECT * FROM (` + q + ` ORDER BY seq DESC LIMIT ?) AS tail ORDER BY seq` // PostgreSQL requires the alias
		args = append(args, f.Limit)
	case f.Limit > 0:
		q += ` ORDER BY seq LIMIT ?`
		args = append(args, f.Limit)
	default:
		q += ` ORDER BY seq`
	}
	rows, err := l.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, err
		}
		if r.detailsErr != nil {
			return nil, fmt.Errorf("audit: entry %d: %w; run `spindle audit verify`", r.seq, r.detailsErr)
		}
		out = append(out, r.entry())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return out, nil
}

// Checkpoint is a point of the chain recorded outside the database — the
// head at some moment, written into a ticket, a release or a signed
// approval — for VerifyHead to check the log against later.
type Checkpoint struct {
	Seq  int64  `json:"seq"` // 0: unknown (a bare hash was recorded)
	Hash string `json:"hash"`
}

// String is the form ParseCheckpoint reads: "SEQ:HASH".
func (c Checkpoint) String() string { return strconv.FormatInt(c.Seq, 10) + ":" + c.Hash }

// ParseCheckpoint reads "SEQ:HASH" (as Checkpoint.String and `spindle audit
// verify` print it) or a bare HASH.
func ParseCheckpoint(s string) (Checkpoint, error) {
	var c Checkpoint
	h := s
	if i := strings.IndexByte(s, ':'); i >= 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n < 1 {
			return c, fmt.Errorf("head %q: want SEQ:HASH with SEQ a positive number, or a bare HASH", s)
		}
		c.Seq, h = n, s[i+1:]
	}
	if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size || h != strings.ToLower(h) {
		return Checkpoint{}, fmt.Errorf("head %q: the hash must be 64 lowercase hex digits, as `spindle audit verify` prints it", s)
	}
	c.Hash = h
	return c, nil
}

// Head is the chain's last entry as a Checkpoint ({0, ""} when the log is
// empty). Record it somewhere the database's writers cannot reach.
func (l *Log) Head(ctx context.Context) (Checkpoint, error) {
	var c Checkpoint
	err := l.db.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&c.Seq, &c.Hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("audit: read the chain's head: %w", err)
	}
	return c, nil
}

// Problem is one way in which the stored log is not what was appended.
type Problem struct {
	Seq  int64  `json:"seq"` // the entry where it shows
	What string `json:"what"`
}

// Report is the outcome of verifying the log.
type Report struct {
	OK       bool      `json:"ok"`
	Entries  int64     `json:"entries"`  // entries read
	Head     string    `json:"head"`     // hash of the last entry ("" when empty)
	HeadSeq  int64     `json:"head_seq"` // seq of the last entry
	Problems []Problem `json:"problems,omitempty"`
	// Omitted counts the problems past the first 100, which are left out.
	Omitted int64 `json:"omitted,omitempty"`
}

// Checkpoint is the report's head in the form to record for VerifyHead.
func (r Report) Checkpoint() Checkpoint { return Checkpoint{Seq: r.HeadSeq, Hash: r.Head} }

// Verify reads the whole log in seq order and recomputes every hash. It
// reports an entry whose content was edited (its hash no longer matches),
// deleted entries (a gap in seq, and the next entry's prev_hash no longer
// matching), reordered or renumbered entries (seq is hashed, and the
// links break), and hand-inserted entries with a made-up hash.
//
// What the chain alone cannot show: removing the newest entries leaves a
// shorter chain that is still valid, and someone who can write the
// database can rewrite an entry and recompute every hash after it (a
// forged tail). Both are caught by VerifyHead against a head recorded
// earlier outside the database.
func (l *Log) Verify(ctx context.Context) (Report, error) { return l.verify(ctx, nil) }

// VerifyHead is Verify, and also checks that a head recorded earlier
// ("SEQ:HASH" from Checkpoint.String, or a bare hash) is still part of the
// chain unchanged: this is what detects the truncation and the
// recomputed tail that Verify alone cannot. A malformed head is an error.
func (l *Log) VerifyHead(ctx context.Context, head string) (Report, error) {
	c, err := ParseCheckpoint(head)
	if err != nil {
		return Report{}, fmt.Errorf("audit: %w", err)
	}
	return l.verify(ctx, &c)
}

func (l *Log) verify(ctx context.Context, anchor *Checkpoint) (Report, error) {
	var rep Report
	add := func(seq int64, format string, args ...any) {
		if len(rep.Problems) >= maxProblems {
			rep.Omitted++
			return
		}
		rep.Problems = append(rep.Problems, Problem{Seq: seq, What: fmt.Sprintf(format, args...)})
	}
	// One statement reads one snapshot (SQLite's WAL, PostgreSQL's MVCC)
	// without holding any lock that appends would wait for.
	rows, err := l.db.QueryContext(ctx, `SELECT `+columns+` FROM audit_log ORDER BY seq`)
	if err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}
	defer rows.Close()
	var prevSeq int64
	var prevHash string
	anchorSeen := false
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return rep, err
		}
		rep.Entries++
		switch {
		case r.seq == prevSeq+2:
			add(r.seq, "entry %d is missing: it was deleted, or the entries after it renumbered", prevSeq+1)
		case r.seq > prevSeq+1:
			add(r.seq, "entries %d to %d are missing: they were deleted, or the entries after them renumbered", prevSeq+1, r.seq-1)
		case r.seq < 1:
			add(r.seq, "seq %d is not a position in the chain (it starts at 1): the entry was renumbered or inserted by hand", r.seq)
		}
		switch {
		case r.prevHash == prevHash:
		case prevSeq == 0:
			add(r.seq, "the first entry's prev_hash is %s, not empty: the entries before it were deleted, or it was moved", short(r.prevHash))
		default:
			add(r.seq, "prev_hash %s is not the hash of entry %d (%s): an entry between them was deleted, or the entries were reordered or rewritten",
				short(r.prevHash), prevSeq, short(prevHash))
		}
		if h, err := hashOf(r); err != nil {
			add(r.seq, "cannot recompute its hash: %v", err)
		} else if h != r.hash {
			add(r.seq, "its content does not match its hash: the entry was edited, or moved to another seq, after it was written")
		}
		if anchor != nil && (r.seq == anchor.Seq || anchor.Seq == 0 && r.hash == anchor.Hash) {
			anchorSeen = true
			if r.hash != anchor.Hash {
				add(r.seq, "the recorded head %s is not this entry's hash (%s): the log up to it was rewritten", anchor, short(r.hash))
			}
		}
		prevSeq, prevHash = r.seq, r.hash
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}
	rep.Head, rep.HeadSeq = prevHash, prevSeq
	if anchor != nil && !anchorSeen {
		if anchor.Seq > 0 {
			add(anchor.Seq, "the log ends at seq %d, but a head was recorded at seq %d: the newest entries were deleted (truncated)", prevSeq, anchor.Seq)
		} else {
			add(prevSeq, "the recorded head %s is in no entry: the entries up to it were rewritten, or the log was truncated before it", short(anchor.Hash))
		}
	}
	rep.OK = len(rep.Problems) == 0 && rep.Omitted == 0
	return rep, nil
}

// short abbreviates a hash for messages; the full head is in the report.
func short(h string) string {
	if h == "" {
		return `""`
	}
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}
