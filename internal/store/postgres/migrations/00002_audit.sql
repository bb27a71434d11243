-- The audit log (internal/audit), PostgreSQL. Same table as SQLite's 00002:
-- append-only and hash-chained, each row's hash covering its content and
-- the previous row's hash (audit.Hash is the canonical encoding). The
-- trigger functions below make the database itself refuse to change or
-- remove an entry; they are a guard, not the proof — whoever can drop
-- them is caught by the chain (`spindle audit verify`) instead.

-- +goose Up
CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,              -- 1, 2, 3 … without gaps: the chain's order
    v          BIGINT NOT NULL,                 -- version of the canonical encoding the hash is over
    at         BIGINT NOT NULL,                 -- Unix nanoseconds (UTC); hashed as RFC 3339 text
    actor_kind TEXT   NOT NULL,                 -- person, agent, scheduler
    actor_name TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    object     TEXT   NOT NULL,
    boundary   TEXT   NOT NULL,                 -- sandbox, production, none
    details    TEXT,                            -- canonical JSON object, already redacted; NULL when none
    prev_hash  TEXT   NOT NULL,                 -- '' for seq 1
    hash       TEXT   NOT NULL UNIQUE
);
CREATE INDEX audit_log_actor ON audit_log (actor_name, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_object ON audit_log (object, seq);

-- An entry can only extend the chain: the next seq, linked to the current
-- head. Appends are serialised by the store's writer lock (every write
-- transaction of DB() takes it first), so this only ever fires on a bug or
-- a hand-made row; two racing hand-made rows still collide on seq.
-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq IS DISTINCT FROM COALESCE((SELECT MAX(seq) FROM audit_log), 0) + 1
       OR NEW.prev_hash IS DISTINCT FROM COALESCE((SELECT hash FROM audit_log WHERE seq = NEW.seq - 1), '') THEN
        RAISE EXCEPTION 'audit_log: an entry must extend the chain (next seq, prev_hash = the head''s hash); append through internal/audit'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_append_only_insert BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only_insert();

-- +goose StatementBegin
CREATE FUNCTION audit_log_no_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: entries cannot be changed; record a correcting entry instead'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_no_update();

-- +goose StatementBegin
CREATE FUNCTION audit_log_no_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: entries cannot be deleted'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_no_delete();
-- TRUNCATE skips row triggers; SQLite has no TRUNCATE, so this keeps the
-- same rule: nothing empties the log.
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_no_delete();

-- +goose Down
-- Spindle never migrates down; this exists for goose's symmetry and
-- destroys the audit trail, so only ever run it on a throwaway database.
DROP TABLE audit_log;
DROP FUNCTION audit_log_no_delete();
DROP FUNCTION audit_log_no_update();
DROP FUNCTION audit_log_append_only_insert();
