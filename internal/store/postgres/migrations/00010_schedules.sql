-- Schedules (internal/jobs, issue 6): the PostgreSQL twin of the SQLite
-- migration of the same number; see it for what each column means. Times
-- are BIGINT Unix nanoseconds.

-- +goose Up
CREATE TABLE schedules (
    integration      TEXT   PRIMARY KEY,
    interval_ns      BIGINT NOT NULL CHECK (interval_ns > 0),
    set_by           TEXT   NOT NULL,
    base_url         TEXT   NOT NULL DEFAULT '',
    config           TEXT   NOT NULL DEFAULT '{}',
    bounds           TEXT   NOT NULL DEFAULT '{}',
    created_at       BIGINT NOT NULL,
    next_run_at      BIGINT NOT NULL,
    suspended_at     BIGINT,
    suspended_reason TEXT
);
CREATE INDEX schedules_due ON schedules (next_run_at);

-- +goose Down
DROP TABLE schedules;
