-- The credential vault (internal/vault) and vendor terms acceptances,
-- PostgreSQL. Same tables as SQLite's 00003. Secrets are stored only as age
-- ciphertext; everything else here is metadata that may be listed and
-- shown. Times are BIGINT Unix nanoseconds (UTC), as in the inventory.

-- +goose Up
CREATE TABLE vault_credentials (
    name            TEXT   PRIMARY KEY,             -- the vault reference: connection.auth.credential
    integration     TEXT   NOT NULL,                -- the one integration that may use it
    host            TEXT   NOT NULL,                -- the one API host it may be sent to (host[:port])
    token_host      TEXT   NOT NULL DEFAULT '',     -- oauth2 token host when it is not host
    recipient       TEXT   NOT NULL,                -- age public key the ciphertext is encrypted to
    -- NULL once revoked: a revoked secret is destroyed, not kept.
    ciphertext      BYTEA,
    version         BIGINT NOT NULL CHECK (version >= 1), -- rotation (and re-provisioning) increments it
    created_at      BIGINT NOT NULL,
    created_by      TEXT   NOT NULL,
    rotated_at      BIGINT,
    rotated_by      TEXT,
    rotate_every_ns BIGINT NOT NULL CHECK (rotate_every_ns > 0),
    rotate_by       BIGINT NOT NULL,
    last_used_at    BIGINT,
    revoked_at      BIGINT,
    revoked_by      TEXT,
    -- A live credential has its ciphertext; a revoked one has none.
    CHECK ((revoked_at IS NULL) = (ciphertext IS NOT NULL))
);
CREATE INDEX vault_credentials_integration ON vault_credentials (integration);

-- Every acceptance is kept (terms change; who accepted which version is
-- the record). The latest row for an integration is the one in force.
CREATE TABLE vault_terms (
    id          BIGSERIAL PRIMARY KEY,               -- never reused: ids order acceptances
    integration TEXT   NOT NULL,
    vendor      TEXT   NOT NULL DEFAULT '',
    terms       TEXT   NOT NULL DEFAULT '',          -- a URL or a version string
    accepted_at BIGINT NOT NULL,
    accepted_by TEXT   NOT NULL
);
CREATE INDEX vault_terms_integration ON vault_terms (integration, id);

-- +goose Down
DROP TABLE vault_terms;
DROP TABLE vault_credentials;
