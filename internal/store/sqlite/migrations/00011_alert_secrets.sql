-- Alert secrets and warning-level alerts (internal/alert, issue 6).
--
-- A webhook URL can carry a token (Slack's do), so it is no longer kept in
-- clear: url_ciphertext is its age ciphertext under the vault's identity
-- (vault.Seal), url_recipient the key it was sealed to, endpoint what may be
-- shown (scheme://host/…). A URL stored in clear before this migration moves
-- to legacy_url; SQL cannot encrypt, so the alert package seals it and
-- clears legacy_url the first time it runs with the vault (adding, removing
-- or sending). Exactly one of the two is set.
--
-- min_health is the least severe health a target is told about: failing
-- (the default, as before) or degraded (also degraded and stale, as
-- warning-level incidents). alert_incidents.severity keeps the two kinds of
-- incident apart; integration_health may now record 'stale'.
--
-- SQLite cannot change a column's constraints in place: alert_targets and
-- integration_health are rebuilt, keeping their ids and AUTOINCREMENT
-- counters (alert_deliveries names removed targets by id).

-- +goose Up
CREATE TABLE alert_targets_new (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL UNIQUE,
    url_ciphertext BLOB,                            -- vault.Seal of the URL; NULL only while legacy_url holds it
    url_recipient  TEXT    NOT NULL DEFAULT '',     -- age public key it is sealed to
    endpoint       TEXT    NOT NULL DEFAULT '',     -- scheme://host/… (shown); '' for a legacy row until sealed
    legacy_url     TEXT,                            -- a URL stored in clear before 00011, until sealed
    format         TEXT    NOT NULL CHECK (format IN ('json', 'slack')),
    min_health     TEXT    NOT NULL DEFAULT 'failing' CHECK (min_health IN ('failing', 'degraded')),
    created_at     INTEGER NOT NULL,
    created_by     TEXT    NOT NULL,
    CHECK ((url_ciphertext IS NULL) <> (legacy_url IS NULL))
);
INSERT INTO sqlite_sequence (name, seq) SELECT 'alert_targets_new', seq FROM sqlite_sequence WHERE name = 'alert_targets';
INSERT INTO alert_targets_new (id, name, legacy_url, format, created_at, created_by)
    SELECT id, name, url, format, created_at, created_by FROM alert_targets;
DROP TABLE alert_targets;
ALTER TABLE alert_targets_new RENAME TO alert_targets;

ALTER TABLE alert_incidents ADD COLUMN severity TEXT NOT NULL DEFAULT 'failing' CHECK (severity IN ('failing', 'warning'));

CREATE TABLE integration_health_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    integration TEXT    NOT NULL,
    run_id      INTEGER NOT NULL,
    checked_at  INTEGER NOT NULL,
    health      TEXT    NOT NULL CHECK (health IN ('healthy', 'degraded', 'failing', 'stale')),
    checks      TEXT    NOT NULL
);
INSERT INTO sqlite_sequence (name, seq) SELECT 'integration_health_new', seq FROM sqlite_sequence WHERE name = 'integration_health';
INSERT INTO integration_health_new (id, integration, run_id, checked_at, health, checks)
    SELECT id, integration, run_id, checked_at, health, checks FROM integration_health;
DROP TABLE integration_health;
ALTER TABLE integration_health_new RENAME TO integration_health;
CREATE INDEX integration_health_latest ON integration_health (integration, id);

-- +goose Down
-- Sealed URLs cannot be decrypted in SQL: those targets are dropped (add
-- them again after downgrading); legacy rows keep their URL. Stale health
-- rows become failing, warning incidents are dropped.
CREATE TABLE integration_health_old (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    integration TEXT    NOT NULL,
    run_id      INTEGER NOT NULL,
    checked_at  INTEGER NOT NULL,
    health      TEXT    NOT NULL CHECK (health IN ('healthy', 'degraded', 'failing')),
    checks      TEXT    NOT NULL
);
INSERT INTO sqlite_sequence (name, seq) SELECT 'integration_health_old', seq FROM sqlite_sequence WHERE name = 'integration_health';
INSERT INTO integration_health_old (id, integration, run_id, checked_at, health, checks)
    SELECT id, integration, run_id, checked_at, CASE health WHEN 'stale' THEN 'failing' ELSE health END, checks FROM integration_health;
DROP TABLE integration_health;
ALTER TABLE integration_health_old RENAME TO integration_health;
CREATE INDEX integration_health_latest ON integration_health (integration, id);

DELETE FROM alert_incidents WHERE severity = 'warning';
ALTER TABLE alert_incidents DROP COLUMN severity;

CREATE TABLE alert_targets_old (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    url        TEXT    NOT NULL,
    format     TEXT    NOT NULL CHECK (format IN ('json', 'slack')),
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL
);
INSERT INTO sqlite_sequence (name, seq) SELECT 'alert_targets_old', seq FROM sqlite_sequence WHERE name = 'alert_targets';
INSERT INTO alert_targets_old (id, name, url, format, created_at, created_by)
    SELECT id, name, legacy_url, format, created_at, created_by FROM alert_targets WHERE legacy_url IS NOT NULL;
DROP TABLE alert_targets;
ALTER TABLE alert_targets_old RENAME TO alert_targets;
