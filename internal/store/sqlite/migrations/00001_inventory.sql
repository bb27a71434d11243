-- The NHI inventory. Times are INTEGER Unix nanoseconds (UTC) so they sort
-- and compare cheaply; the canonical record itself is kept whole as JSON.

-- +goose Up
CREATE TABLE sync_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: ids order runs
    source      TEXT    NOT NULL,
    spec_digest TEXT    NOT NULL DEFAULT '',
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,                           -- NULL only inside the run's own transaction
    status      TEXT    NOT NULL CHECK (status IN ('running', 'ok', 'partial', 'failed'))
);
CREATE INDEX sync_runs_source ON sync_runs (source, started_at);

CREATE TABLE sync_streams (
    run_id      INTEGER NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    stream      TEXT    NOT NULL,
    ord         INTEGER NOT NULL,                  -- order the streams ended in
    outcome     TEXT    NOT NULL CHECK (outcome IN ('complete', 'partial', 'failed', 'denied')),
    records     INTEGER NOT NULL,
    pages       INTEGER NOT NULL,
    requests    INTEGER NOT NULL,
    retries     INTEGER NOT NULL,
    stop_reason TEXT    NOT NULL DEFAULT '',
    errors      TEXT,                              -- JSON array, NULL when none
    duration_ns INTEGER NOT NULL,
    PRIMARY KEY (run_id, stream)
);

CREATE TABLE entities (
    -- seq is the row's compact, insertion-ordered key. The stable id is a
    -- hash, so keying relationships by it would scatter every insert across
    -- the table; by seq a run's writes land together.
    seq            INTEGER PRIMARY KEY,
    id             TEXT    NOT NULL UNIQUE,        -- nhi.StableID(source, kind, external_id)
    source         TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    external_id    TEXT    NOT NULL,
    stream         TEXT    NOT NULL,               -- the stream that last reported it
    record         TEXT    NOT NULL,               -- nhi.Record JSON without nulls and without what has a column (see storedRecord)
    first_seen     INTEGER NOT NULL,
    last_seen      INTEGER NOT NULL,
    presence       TEXT    NOT NULL CHECK (presence IN ('present', 'unverified', 'gone')),
    presence_since INTEGER NOT NULL,
    last_run_id    INTEGER NOT NULL REFERENCES sync_runs (id) -- the last run that Put it: what a stream's end compares against
);
CREATE UNIQUE INDEX entities_order ON entities (source, kind, external_id);
CREATE INDEX entities_stream ON entities (source, stream);
CREATE INDEX entities_presence ON entities (presence, source);

CREATE TABLE relationships (
    from_seq           INTEGER NOT NULL REFERENCES entities (seq) ON DELETE CASCADE, -- the entity it is from
    type               TEXT    NOT NULL,
    target_id          TEXT    NOT NULL,
    target_kind        TEXT    NOT NULL,
    target_external_id TEXT    NOT NULL,
    privilege          TEXT,
    ord                INTEGER NOT NULL,           -- position in the record, so order round-trips
    first_seen         INTEGER NOT NULL,
    last_seen          INTEGER NOT NULL,
    put_seq            INTEGER NOT NULL,           -- the Put that last reported it: older ones are dropped
    PRIMARY KEY (from_seq, type, target_id)
) WITHOUT ROWID;
-- The edges by stable id, for ad-hoc SQL and reports.
CREATE VIEW relationship_edges AS
SELECT e.id AS from_id, r.type, r.target_id, r.target_kind, r.target_external_id, r.privilege, r.first_seen, r.last_seen
FROM relationships r JOIN entities e ON e.seq = r.from_seq;

-- No index on target_id yet: nothing queries "what points at X" so far, and
-- on hashed ids it costs about a quarter of Put throughput at a million
-- records. Add it in a migration with the first query that needs it.

-- +goose Down
DROP VIEW relationship_edges;
DROP TABLE relationships;
DROP TABLE entities;
DROP TABLE sync_streams;
DROP TABLE sync_runs;
