-- Live contract checks (internal/contract, issue 6): one row per check of
-- an integration's sync run — the health it concluded and every check with
-- its evidence. The newest row per integration is its recorded health;
-- older rows are the history. run_id names the sync run that was checked
-- (no foreign key: the history outlives what a purge removes). Times are
-- INTEGER Unix nanoseconds (UTC), as in the inventory.

-- +goose Up
CREATE TABLE integration_health (
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: ids order checks
    integration TEXT    NOT NULL,                  -- the spec's metadata.name (the inventory's source)
    run_id      INTEGER NOT NULL,                  -- sync_runs.id of the checked run
    checked_at  INTEGER NOT NULL,
    health      TEXT    NOT NULL CHECK (health IN ('healthy', 'degraded', 'failing')),
    checks      TEXT    NOT NULL                   -- JSON array of contract.Finding
);
CREATE INDEX integration_health_latest ON integration_health (integration, id);

-- +goose Down
DROP TABLE integration_health;
