-- API tokens, browser sessions and server-custodied signing keys
-- (internal/authn, internal/custody; issue 7). Times are INTEGER Unix
-- nanoseconds.
--
-- api_tokens: a bearer token acts as one principal under one role until it
-- expires or is revoked; the person must still hold that role at each
-- request. Only the sha256 of the token is stored (token_hash): the
-- plaintext is shown once, when it is created.
--
-- api_sessions: a person logged in to the dashboard with a token. id_hash
-- is the sha256 of the session id in the cookie; a session is bound to its
-- token, so revoking the token ends its sessions.
--
-- authn_keys: the server's own random keys (the HMAC key of the sessions'
-- CSRF tokens), shared by every server process on the database.
--
-- custodied_keys: approvers' ed25519 private keys held by the server for
-- approvals from a browser, sealed with the vault's age identity; the
-- public key is governance's signing_keys row of the same fingerprint.

-- +goose Up
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash   TEXT    NOT NULL UNIQUE,          -- hex sha256 of the token
    name         TEXT    NOT NULL,                 -- the person or agent it acts as
    role         TEXT    NOT NULL CHECK (role IN ('admin', 'approver', 'operator', 'viewer', 'agent')),
    created_by   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    revoked_by   TEXT
);
CREATE INDEX api_tokens_name ON api_tokens (name);

CREATE TABLE api_sessions (
    id_hash    TEXT    PRIMARY KEY,                -- hex sha256 of the cookie's session id
    token_id   INTEGER NOT NULL REFERENCES api_tokens (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ended_at   INTEGER                             -- logout
);
CREATE INDEX api_sessions_token ON api_sessions (token_id);

CREATE TABLE authn_keys (
    name       TEXT    PRIMARY KEY,
    secret     BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE custodied_keys (
    fingerprint TEXT    PRIMARY KEY,               -- signing_keys.fingerprint
    principal   TEXT    NOT NULL,
    ciphertext  BLOB    NOT NULL,                  -- vault.Seal of the PEM private key
    recipient   TEXT    NOT NULL,                  -- the age key it is sealed to
    created_at  INTEGER NOT NULL
);
CREATE INDEX custodied_keys_principal ON custodied_keys (principal);

-- +goose Down
DROP TABLE custodied_keys;
DROP TABLE authn_keys;
DROP TABLE api_sessions;
DROP TABLE api_tokens;
