-- Integration lifecycle (internal/lifecycle), PostgreSQL. Same table as
-- SQLite's 00005: who owns each integration, how often it must be
-- reviewed, and whether it was offboarded. Owner and cadence are copied
-- from the current release's metadata (owner, review_every), so changing
-- them is a reviewed, signed change like any other; release_id says which
-- release they came from. Times are BIGINT Unix nanoseconds (UTC).

-- +goose Up
CREATE TABLE integration_lifecycle (
    name             TEXT   PRIMARY KEY,               -- the spec's metadata.name (the inventory's source)
    -- Required for production: '' (or the drafts' 'unassigned', which is
    -- kept as written) means nobody answers for it, and sync refuses.
    owner            TEXT   NOT NULL DEFAULT '',
    review_every_ns  BIGINT NOT NULL DEFAULT 7776000000000000 CHECK (review_every_ns > 0), -- 90d
    release_id       BIGINT REFERENCES releases (id),  -- the release owner and cadence were read from; NULL: none yet
    last_reviewed_at BIGINT,                           -- that release's time: approving a release is a review
    updated_at       BIGINT NOT NULL,
    -- Offboarding: credentials revoked, sync refused. It stays in force
    -- while the integration's current release is offboarded_release (NULL:
    -- it had none): only a release approved after it, a person's signed
    -- decision, brings the integration back.
    offboarded_at      BIGINT,
    offboarded_by      TEXT,
    offboarded_release BIGINT REFERENCES releases (id),
    purged_at          BIGINT,                         -- the inventory was deleted (offboard --purge); NULL: kept
    CHECK ((offboarded_at IS NULL) = (offboarded_by IS NULL)),
    CHECK (purged_at IS NULL OR offboarded_at IS NOT NULL)
);

-- +goose Down
DROP TABLE integration_lifecycle;
