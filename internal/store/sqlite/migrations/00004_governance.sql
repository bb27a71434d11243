-- Governance (internal/governance): who holds which role, the people's
-- signing keys, proposals, signed decisions on them, and releases — an
-- approved spec digest with the approvals that released it. Times are
-- INTEGER Unix nanoseconds (UTC), except approvals.signed_at, which is kept
-- as the exact RFC 3339 text that was signed.
--
-- The triggers make the database refuse to rewrite history (a proposal's
-- spec, a recorded decision, a release, a public key). They are a guard,
-- not the proof: whoever can drop them is caught by `spindle release
-- verify`, which re-checks digests and signatures offline.

-- +goose Up
CREATE TABLE principal_roles (
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL CHECK (role IN ('admin', 'approver', 'operator', 'viewer', 'agent')),
    granted_by TEXT    NOT NULL,                -- the admin, or '' for the bootstrap admin
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (name, role)
);

CREATE TABLE signing_keys (
    fingerprint TEXT    PRIMARY KEY,            -- SHA256:<base64 of sha256(public key)>, as ssh prints it
    principal   TEXT    NOT NULL,
    public_key  TEXT    NOT NULL,               -- hex of the 32-byte ed25519 public key
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER                         -- NULL: the principal's active key
);
-- One active key per person; retired keys stay to verify old approvals.
CREATE UNIQUE INDEX signing_keys_active ON signing_keys (principal) WHERE retired_at IS NULL;

CREATE TABLE proposals (
    id           INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: a signature names it
    integration  TEXT    NOT NULL,                  -- metadata.name of the spec
    spec_text    BLOB    NOT NULL,                  -- integration.yaml, byte for byte
    spec_digest  TEXT    NOT NULL,                  -- hex sha256 of spec_text
    report_json  TEXT    NOT NULL,                  -- report.json as the build wrote it (informational)
    author       TEXT    NOT NULL,
    author_kind  TEXT    NOT NULL CHECK (author_kind IN ('person', 'agent')),
    base_release INTEGER REFERENCES releases (id),  -- the release current when proposed; NULL: a new integration
    created_at   INTEGER NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('open', 'rejected', 'released', 'superseded')),
    closed_at    INTEGER,
    closed_by    TEXT,                              -- the rejecting person, or 'release:N'
    reason       TEXT                               -- why it closed
);
CREATE INDEX proposals_integration ON proposals (integration, status, id);

-- Decisions on proposals, each signed by the person's key. An approval
-- and a rejection are both here: decision says which.
CREATE TABLE approvals (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    proposal_id     INTEGER NOT NULL REFERENCES proposals (id),
    approver        TEXT    NOT NULL,
    decision        TEXT    NOT NULL CHECK (decision IN ('approve', 'reject')),
    reason          TEXT    NOT NULL DEFAULT '',
    spec_digest     TEXT    NOT NULL,                -- the digest signed
    base_digest     TEXT    NOT NULL,                -- the release it replaces ('' for none), signed
    signed_at       TEXT    NOT NULL,                -- RFC 3339 (nanoseconds, UTC) exactly as signed
    key_fingerprint TEXT    NOT NULL REFERENCES signing_keys (fingerprint),
    signature       TEXT    NOT NULL,                -- base64 ed25519 signature over the canonical message
    UNIQUE (proposal_id, approver)                   -- one decision per person per proposal
);

CREATE TABLE releases (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    integration        TEXT    NOT NULL,
    spec_digest        TEXT    NOT NULL,
    proposal_id        INTEGER NOT NULL UNIQUE REFERENCES proposals (id),
    previous_release   INTEGER REFERENCES releases (id), -- NULL for the first
    required_approvals INTEGER NOT NULL CHECK (required_approvals IN (1, 2)),
    risk               TEXT    NOT NULL,                  -- JSON risk summary against the previous release
    created_at         INTEGER NOT NULL
);
-- A release chain never forks: one successor per release (and one first).
CREATE UNIQUE INDEX releases_chain ON releases (integration, COALESCE(previous_release, 0));

CREATE TABLE release_approvals (
    release_id  INTEGER NOT NULL REFERENCES releases (id),
    approval_id INTEGER NOT NULL UNIQUE REFERENCES approvals (id),
    PRIMARY KEY (release_id, approval_id)
);

-- A proposal's content never changes (an edit is a new proposal); only an
-- open proposal's status may move, once.
-- +goose StatementBegin
CREATE TRIGGER proposals_immutable BEFORE UPDATE ON proposals
WHEN NEW.id IS NOT OLD.id OR NEW.integration IS NOT OLD.integration
  OR NEW.spec_text IS NOT OLD.spec_text OR NEW.spec_digest IS NOT OLD.spec_digest
  OR NEW.report_json IS NOT OLD.report_json OR NEW.author IS NOT OLD.author
  OR NEW.author_kind IS NOT OLD.author_kind OR NEW.base_release IS NOT OLD.base_release
  OR NEW.created_at IS NOT OLD.created_at OR OLD.status <> 'open'
BEGIN
    SELECT RAISE(ABORT, 'proposals are immutable once made and final once closed; propose the change again');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER proposals_no_delete BEFORE DELETE ON proposals
BEGIN
    SELECT RAISE(ABORT, 'proposals cannot be deleted: they are the release history');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER approvals_no_update BEFORE UPDATE ON approvals
BEGIN
    SELECT RAISE(ABORT, 'a signed decision cannot be changed');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER approvals_no_delete BEFORE DELETE ON approvals
BEGIN
    SELECT RAISE(ABORT, 'a signed decision cannot be deleted');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER releases_no_update BEFORE UPDATE ON releases
BEGIN
    SELECT RAISE(ABORT, 'a release cannot be changed; release a new proposal');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER releases_no_delete BEFORE DELETE ON releases
BEGIN
    SELECT RAISE(ABORT, 'a release cannot be deleted');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER release_approvals_no_update BEFORE UPDATE ON release_approvals
BEGIN
    SELECT RAISE(ABORT, 'a release''s approvals cannot be changed');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER release_approvals_no_delete BEFORE DELETE ON release_approvals
BEGIN
    SELECT RAISE(ABORT, 'a release''s approvals cannot be deleted');
END;
-- +goose StatementEnd

-- A public key may only be retired, once; it is never edited or removed,
-- because old approvals are verified with it.
-- +goose StatementBegin
CREATE TRIGGER signing_keys_retire_only BEFORE UPDATE ON signing_keys
WHEN NEW.fingerprint IS NOT OLD.fingerprint OR NEW.principal IS NOT OLD.principal
  OR NEW.public_key IS NOT OLD.public_key OR NEW.created_at IS NOT OLD.created_at
  OR OLD.retired_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a signing key can only be retired, once; create a new key instead');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER signing_keys_no_delete BEFORE DELETE ON signing_keys
BEGIN
    SELECT RAISE(ABORT, 'a signing key cannot be deleted: old approvals are verified with it');
END;
-- +goose StatementEnd

-- +goose Down
-- Spindle never migrates down; this destroys the release history, so only
-- ever run it on a throwaway database.
DROP TRIGGER signing_keys_no_delete;
DROP TRIGGER signing_keys_retire_only;
DROP TRIGGER release_approvals_no_delete;
DROP TRIGGER release_approvals_no_update;
DROP TRIGGER releases_no_delete;
DROP TRIGGER releases_no_update;
DROP TRIGGER approvals_no_delete;
DROP TRIGGER approvals_no_update;
DROP TRIGGER proposals_no_delete;
DROP TRIGGER proposals_immutable;
DROP TABLE release_approvals;
DROP TABLE releases;
DROP TABLE approvals;
DROP TABLE proposals;
DROP TABLE signing_keys;
DROP TABLE principal_roles;
