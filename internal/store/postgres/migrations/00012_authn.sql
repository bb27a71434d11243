-- API tokens, browser sessions and server-custodied signing keys
-- (internal/authn, internal/custody; issue 7): the PostgreSQL twin of the
-- SQLite migration of the same number; see it for what each table holds.
-- Times are BIGINT Unix nanoseconds.

-- +goose Up
CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    token_hash   TEXT   NOT NULL UNIQUE,
    name         TEXT   NOT NULL,
    role         TEXT   NOT NULL CHECK (role IN ('admin', 'approver', 'operator', 'viewer', 'agent')),
    created_by   TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    revoked_by   TEXT
);
CREATE INDEX api_tokens_name ON api_tokens (name);

CREATE TABLE api_sessions (
    id_hash    TEXT   PRIMARY KEY,
    token_id   BIGINT NOT NULL REFERENCES api_tokens (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at   BIGINT
);
CREATE INDEX api_sessions_token ON api_sessions (token_id);

CREATE TABLE authn_keys (
    name       TEXT   PRIMARY KEY,
    secret     BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE custodied_keys (
    fingerprint TEXT   PRIMARY KEY,
    principal   TEXT   NOT NULL,
    ciphertext  BYTEA  NOT NULL,
    recipient   TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX custodied_keys_principal ON custodied_keys (principal);

-- +goose Down
DROP TABLE custodied_keys;
DROP TABLE authn_keys;
DROP TABLE api_sessions;
DROP TABLE api_tokens;
