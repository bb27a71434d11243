-- The NHI inventory (PostgreSQL). Same shape as SQLite's 00001: times are
-- BIGINT Unix nanoseconds (UTC); the canonical record is kept whole as JSON
-- text (not jsonb, which would reorder keys and change the bytes). The
-- columns entities are listed by sort as bytes (COLLATE "C"), as SQLite's
-- do, whatever the database's locale: listings are the same on both (and
-- the hashed ids compare as bytes, cheaper than a locale's rules).
--
-- Every sync run rewrites each row of its source once (last_seen moves).
-- fillfactor 50 leaves a page room for a second version of each of its
-- rows, so those updates are HOT: no index entry is written or bloated,
-- which about halved a steady-state run's time in BenchmarkPut, for up
-- to twice the table's size.

-- +goose Up
CREATE TABLE sync_runs (
    id          BIGSERIAL PRIMARY KEY,             -- never reused: ids order runs
    source      TEXT   NOT NULL,
    spec_digest TEXT   NOT NULL DEFAULT '',
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,                            -- NULL only inside the run's own transaction
    status      TEXT   NOT NULL CHECK (status IN ('running', 'ok', 'partial', 'failed'))
);
CREATE INDEX sync_runs_source ON sync_runs (source, started_at);

CREATE TABLE sync_streams (
    run_id      BIGINT NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    stream      TEXT   NOT NULL,
    ord         BIGINT NOT NULL,
    outcome     TEXT   NOT NULL CHECK (outcome IN ('complete', 'partial', 'failed', 'denied')),
    records     BIGINT NOT NULL,
    pages       BIGINT NOT NULL,
    requests    BIGINT NOT NULL,
    retries     BIGINT NOT NULL,
    stop_reason TEXT   NOT NULL DEFAULT '',
    errors      TEXT,                              -- JSON array, NULL when none
    duration_ns BIGINT NOT NULL,
    PRIMARY KEY (run_id, stream)
);

CREATE TABLE entities (
    seq            BIGSERIAL PRIMARY KEY,
    id             TEXT COLLATE "C" NOT NULL UNIQUE, -- nhi.StableID(source, kind, external_id)
    source         TEXT COLLATE "C" NOT NULL,
    kind           TEXT COLLATE "C" NOT NULL,
    external_id    TEXT COLLATE "C" NOT NULL,
    stream         TEXT   NOT NULL,
    record         TEXT   NOT NULL,
    first_seen     BIGINT NOT NULL,
    last_seen      BIGINT NOT NULL,
    presence       TEXT   NOT NULL CHECK (presence IN ('present', 'unverified', 'gone')),
    presence_since BIGINT NOT NULL,
    last_run_id    BIGINT NOT NULL REFERENCES sync_runs (id)
) WITH (fillfactor = 50);
CREATE UNIQUE INDEX entities_order ON entities (source, kind, external_id);
CREATE INDEX entities_stream ON entities (source, stream);
CREATE INDEX entities_presence ON entities (presence, source);

CREATE TABLE relationships (
    from_seq           BIGINT NOT NULL REFERENCES entities (seq) ON DELETE CASCADE,
    type               TEXT   NOT NULL,
    target_id          TEXT COLLATE "C" NOT NULL,
    target_kind        TEXT   NOT NULL,
    target_external_id TEXT   NOT NULL,
    privilege          TEXT,
    ord                BIGINT NOT NULL,
    first_seen         BIGINT NOT NULL,
    last_seen          BIGINT NOT NULL,
    put_seq            BIGINT NOT NULL,
    PRIMARY KEY (from_seq, type, target_id)
) WITH (fillfactor = 50);
CREATE VIEW relationship_edges AS
SELECT e.id AS from_id, r.type, r.target_id, r.target_kind, r.target_external_id, r.privilege, r.first_seen, r.last_seen
FROM relationships r JOIN entities e ON e.seq = r.from_seq;

-- +goose Down
DROP VIEW relationship_edges;
DROP TABLE relationships;
DROP TABLE entities;
DROP TABLE sync_streams;
DROP TABLE sync_runs;
