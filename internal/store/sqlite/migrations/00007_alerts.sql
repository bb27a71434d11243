-- Alerting (internal/alert, issue 6): the webhooks a failing contract check
-- is sent to, and the incidents that de-duplicate alerts — one incident per
-- integration and set of failing checks (its fingerprint), opened when the
-- set first fails and resolved when health returns to healthy (or another
-- set of checks fails instead). alert_deliveries records which target was
-- sent which message of an incident, so a target is alerted once per
-- incident and a failed delivery is retried at the next check. A webhook
-- URL can carry a token (Slack's do): it is a secret, shown only as
-- scheme://host/… outside this table. Times are INTEGER Unix nanoseconds.

-- +goose Up
CREATE TABLE alert_targets (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    url        TEXT    NOT NULL,
    format     TEXT    NOT NULL CHECK (format IN ('json', 'slack')),
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL
);

CREATE TABLE alert_incidents (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    integration   TEXT    NOT NULL,
    fingerprint   TEXT    NOT NULL,             -- sha256 of the integration and its sorted failing check ids
    failing       TEXT    NOT NULL,             -- JSON array of the failing check ids
    opened_at     INTEGER NOT NULL,
    resolved_at   INTEGER,                      -- NULL while open
    resolution    TEXT,                         -- healthy, superseded
    last_alert_at INTEGER,
    alerts_sent   INTEGER NOT NULL DEFAULT 0
);
-- At most one open incident per fingerprint.
CREATE UNIQUE INDEX alert_incidents_open ON alert_incidents (integration, fingerprint) WHERE resolved_at IS NULL;

CREATE TABLE alert_deliveries (
    incident_id  INTEGER NOT NULL REFERENCES alert_incidents (id) ON DELETE CASCADE,
    target_id    INTEGER NOT NULL,              -- no foreign key: removing a target keeps the history
    kind         TEXT    NOT NULL CHECK (kind IN ('opened', 'resolved')),
    delivered_at INTEGER NOT NULL,
    PRIMARY KEY (incident_id, target_id, kind)
);

-- +goose Down
DROP TABLE alert_deliveries;
DROP TABLE alert_incidents;
DROP TABLE alert_targets;
