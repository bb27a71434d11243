-- Schedules (internal/jobs, issue 6): how often the scheduler syncs each
-- integration, and on whose authority. set_by is the person (operator or
-- admin) who set the schedule; every scheduled run re-checks that they may
-- still run production syncs, and is audited as the scheduler acting on
-- their behalf. next_run_at is when the scheduler's tick next enqueues a
-- sync; a schedule whose person lost the right, or whose integration was
-- offboarded, is suspended (suspended_at, suspended_reason) until a person
-- sets it again. base_url, config and bounds are what `schedule set` was
-- given (non-secret: config holds connection.config inputs, bounds the
-- contract bounds, both JSON objects). Times are INTEGER Unix nanoseconds.

-- +goose Up
CREATE TABLE schedules (
    integration      TEXT    PRIMARY KEY,          -- the spec's metadata.name
    interval_ns      INTEGER NOT NULL CHECK (interval_ns > 0),
    set_by           TEXT    NOT NULL,
    base_url         TEXT    NOT NULL DEFAULT '',  -- '' : the released spec's own base URL
    config           TEXT    NOT NULL DEFAULT '{}',
    bounds           TEXT    NOT NULL DEFAULT '{}',
    created_at       INTEGER NOT NULL,
    next_run_at      INTEGER NOT NULL,
    suspended_at     INTEGER,                      -- NULL while active
    suspended_reason TEXT
);
CREATE INDEX schedules_due ON schedules (next_run_at);

-- +goose Down
DROP TABLE schedules;
