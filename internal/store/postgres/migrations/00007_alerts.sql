-- Alerting (internal/alert, issue 6), PostgreSQL. Same tables as SQLite's
-- 00007: the webhooks a failing contract check is sent to, and the
-- incidents that de-duplicate alerts — one incident per integration and set
-- of failing checks (its fingerprint), opened when the set first fails and
-- resolved when health returns to healthy (or another set of checks fails
-- instead). alert_deliveries records which target was sent which message of
-- an incident, so a target is alerted once per incident and a failed
-- delivery is retried at the next check. A webhook URL can carry a token
-- (Slack's do): it is a secret (00011 moves it into vault ciphertext).
-- Times are BIGINT Unix nanoseconds.

-- +goose Up
CREATE TABLE alert_targets (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT   NOT NULL UNIQUE,
    url        TEXT   NOT NULL,
    format     TEXT   NOT NULL CHECK (format IN ('json', 'slack')),
    created_at BIGINT NOT NULL,
    created_by TEXT   NOT NULL
);

CREATE TABLE alert_incidents (
    id            BIGSERIAL PRIMARY KEY,
    integration   TEXT   NOT NULL,
    fingerprint   TEXT   NOT NULL,                -- sha256 of the integration and its sorted failing check ids
    failing       TEXT   NOT NULL,                -- JSON array of the failing check ids
    opened_at     BIGINT NOT NULL,
    resolved_at   BIGINT,                         -- NULL while open
    resolution    TEXT,                           -- healthy, superseded
    last_alert_at BIGINT,
    alerts_sent   BIGINT NOT NULL DEFAULT 0
);
-- At most one open incident per fingerprint.
CREATE UNIQUE INDEX alert_incidents_open ON alert_incidents (integration, fingerprint) WHERE resolved_at IS NULL;

CREATE TABLE alert_deliveries (
    incident_id  BIGINT NOT NULL REFERENCES alert_incidents (id) ON DELETE CASCADE,
    target_id    BIGINT NOT NULL,                 -- no foreign key: removing a target keeps the history
    kind         TEXT   NOT NULL CHECK (kind IN ('opened', 'resolved')),
    delivered_at BIGINT NOT NULL,
    PRIMARY KEY (incident_id, target_id, kind)
);

-- +goose Down
DROP TABLE alert_deliveries;
DROP TABLE alert_incidents;
DROP TABLE alert_targets;
