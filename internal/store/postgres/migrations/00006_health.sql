-- Live contract checks (internal/contract, issue 6), PostgreSQL. Same table
-- as SQLite's 00006: one row per check of an integration's sync run — the
-- health it concluded and every check with its evidence. The newest row per
-- integration is its recorded health; older rows are the history. run_id
-- names the sync run that was checked (no foreign key: the history outlives
-- what a purge removes). Times are BIGINT Unix nanoseconds (UTC), as in the
-- inventory.

-- +goose Up
CREATE TABLE integration_health (
    id          BIGSERIAL PRIMARY KEY,              -- never reused: ids order checks
    integration TEXT   NOT NULL,                    -- the spec's metadata.name (the inventory's source)
    run_id      BIGINT NOT NULL,                    -- sync_runs.id of the checked run
    checked_at  BIGINT NOT NULL,
    -- Named, so that a later migration can replace it (00011 adds 'stale').
    health      TEXT   NOT NULL CONSTRAINT integration_health_health_check CHECK (health IN ('healthy', 'degraded', 'failing')),
    checks      TEXT   NOT NULL                     -- JSON array of contract.Finding (text: the bytes as written)
);
CREATE INDEX integration_health_latest ON integration_health (integration, id);

-- +goose Down
DROP TABLE integration_health;
