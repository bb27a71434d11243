-- Alert secrets and warning-level alerts (internal/alert, issue 6),
-- PostgreSQL; the same change as SQLite's 00011.
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

-- +goose Up
ALTER TABLE alert_targets RENAME COLUMN url TO legacy_url;
ALTER TABLE alert_targets ALTER COLUMN legacy_url DROP NOT NULL;
ALTER TABLE alert_targets
    ADD COLUMN url_ciphertext BYTEA,
    ADD COLUMN url_recipient  TEXT NOT NULL DEFAULT '',
    ADD COLUMN endpoint       TEXT NOT NULL DEFAULT '',
    ADD COLUMN min_health     TEXT NOT NULL DEFAULT 'failing' CHECK (min_health IN ('failing', 'degraded')),
    ADD CONSTRAINT alert_targets_one_url CHECK ((url_ciphertext IS NULL) <> (legacy_url IS NULL));

ALTER TABLE alert_incidents ADD COLUMN severity TEXT NOT NULL DEFAULT 'failing' CHECK (severity IN ('failing', 'warning'));

ALTER TABLE integration_health
    DROP CONSTRAINT integration_health_health_check,
    ADD CONSTRAINT integration_health_health_check CHECK (health IN ('healthy', 'degraded', 'failing', 'stale'));

-- +goose Down
-- Sealed URLs cannot be decrypted in SQL: those targets are dropped (add
-- them again after downgrading); legacy rows keep their URL. Stale health
-- rows become failing, warning incidents are dropped.
UPDATE integration_health SET health = 'failing' WHERE health = 'stale';
ALTER TABLE integration_health
    DROP CONSTRAINT integration_health_health_check,
    ADD CONSTRAINT integration_health_health_check CHECK (health IN ('healthy', 'degraded', 'failing'));

DELETE FROM alert_incidents WHERE severity = 'warning';
ALTER TABLE alert_incidents DROP COLUMN severity;

DELETE FROM alert_targets WHERE legacy_url IS NULL;
ALTER TABLE alert_targets
    DROP CONSTRAINT alert_targets_one_url,
    DROP COLUMN url_ciphertext,
    DROP COLUMN url_recipient,
    DROP COLUMN endpoint,
    DROP COLUMN min_health;
ALTER TABLE alert_targets ALTER COLUMN legacy_url SET NOT NULL;
ALTER TABLE alert_targets RENAME COLUMN legacy_url TO url;
