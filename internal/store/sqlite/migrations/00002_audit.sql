-- The audit log (internal/audit): append-only and hash-chained. Each row's
-- hash covers its content and the previous row's hash (see audit.Hash for
-- the canonical encoding), so an edit, a deletion or a reordering breaks the
-- chain and `spindle audit verify` finds it. The triggers below make the
-- database itself refuse to change or remove an entry; they are a guard,
-- not the proof — whoever can drop them is caught by the chain instead.

-- +goose Up
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,             -- 1, 2, 3 … without gaps: the chain's order
    v          INTEGER NOT NULL,                -- version of the canonical encoding the hash is over
    at         INTEGER NOT NULL,                -- Unix nanoseconds (UTC); hashed as RFC 3339 text
    actor_kind TEXT    NOT NULL,                -- person, agent, scheduler
    actor_name TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    object     TEXT    NOT NULL,
    boundary   TEXT    NOT NULL,                -- sandbox, production, none
    details    TEXT,                            -- canonical JSON object, already redacted; NULL when none
    prev_hash  TEXT    NOT NULL,                -- '' for seq 1
    hash       TEXT    NOT NULL UNIQUE
);
CREATE INDEX audit_log_actor ON audit_log (actor_name, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_object ON audit_log (object, seq);

-- An entry can only extend the chain: the next seq, linked to the current
-- head. Appends are serialised by SQLite's write lock (every transaction
-- begins IMMEDIATE), so this only ever fires on a bug or a hand-made row.
-- +goose StatementBegin
CREATE TRIGGER audit_log_append_only_insert BEFORE INSERT ON audit_log
WHEN NEW.seq IS NOT COALESCE((SELECT MAX(seq) FROM audit_log), 0) + 1
  OR NEW.prev_hash IS NOT COALESCE((SELECT hash FROM audit_log WHERE seq = NEW.seq - 1), '')
BEGIN
    SELECT RAISE(ABORT, 'audit_log: an entry must extend the chain (next seq, prev_hash = the head''s hash); append through internal/audit');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be changed; record a correcting entry instead');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be deleted');
END;
-- +goose StatementEnd

-- +goose Down
-- Spindle never migrates down; this exists for goose's symmetry and
-- destroys the audit trail, so only ever run it on a throwaway database.
DROP TRIGGER audit_log_no_delete;
DROP TRIGGER audit_log_no_update;
DROP TRIGGER audit_log_append_only_insert;
DROP TABLE audit_log;
