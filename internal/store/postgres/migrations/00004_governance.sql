-- Governance (internal/governance), PostgreSQL. Same tables as SQLite's
-- 00004: who holds which role, the people's signing keys, proposals,
-- signed decisions on them, and releases — an approved spec digest with
-- the approvals that released it. Times are BIGINT Unix nanoseconds (UTC),
-- except approvals.signed_at, which is kept as the exact RFC 3339 text
-- that was signed.
--
-- The triggers make the database refuse to rewrite history (a proposal's
-- spec, a recorded decision, a release, a public key). They are a guard,
-- not the proof: whoever can drop them is caught by `spindle release
-- verify`, which re-checks digests and signatures offline.

-- +goose Up
CREATE TABLE principal_roles (
    name       TEXT   NOT NULL,
    role       TEXT   NOT NULL CHECK (role IN ('admin', 'approver', 'operator', 'viewer', 'agent')),
    granted_by TEXT   NOT NULL,                 -- the admin, or '' for the bootstrap admin
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (name, role)
);

CREATE TABLE signing_keys (
    fingerprint TEXT   PRIMARY KEY,             -- SHA256:<base64 of sha256(public key)>, as ssh prints it
    principal   TEXT   NOT NULL,
    public_key  TEXT   NOT NULL,                -- hex of the 32-byte ed25519 public key
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT                          -- NULL: the principal's active key
);
-- One active key per person; retired keys stay to verify old approvals.
CREATE UNIQUE INDEX signing_keys_active ON signing_keys (principal) WHERE retired_at IS NULL;

CREATE TABLE proposals (
    id           BIGSERIAL PRIMARY KEY,            -- never reused: a signature names it
    integration  TEXT   NOT NULL,                  -- metadata.name of the spec
    spec_text    BYTEA  NOT NULL,                  -- integration.yaml, byte for byte
    spec_digest  TEXT   NOT NULL,                  -- hex sha256 of spec_text
    report_json  TEXT   NOT NULL,                  -- report.json as the build wrote it (informational)
    author       TEXT   NOT NULL,
    author_kind  TEXT   NOT NULL CHECK (author_kind IN ('person', 'agent')),
    base_release BIGINT,                           -- the release current when proposed; NULL: a new integration (FK below)
    created_at   BIGINT NOT NULL,
    status       TEXT   NOT NULL CHECK (status IN ('open', 'rejected', 'released', 'superseded')),
    closed_at    BIGINT,
    closed_by    TEXT,                             -- the rejecting person, or 'release:N'
    reason       TEXT                              -- why it closed
);
CREATE INDEX proposals_integration ON proposals (integration, status, id);

-- Decisions on proposals, each signed by the person's key. An approval
-- and a rejection are both here: decision says which.
CREATE TABLE approvals (
    id              BIGSERIAL PRIMARY KEY,
    proposal_id     BIGINT NOT NULL REFERENCES proposals (id),
    approver        TEXT   NOT NULL,
    decision        TEXT   NOT NULL CHECK (decision IN ('approve', 'reject')),
    reason          TEXT   NOT NULL DEFAULT '',
    spec_digest     TEXT   NOT NULL,                -- the digest signed
    base_digest     TEXT   NOT NULL,                -- the release it replaces ('' for none), signed
    signed_at       TEXT   NOT NULL,                -- RFC 3339 (nanoseconds, UTC) exactly as signed
    key_fingerprint TEXT   NOT NULL REFERENCES signing_keys (fingerprint),
    signature       TEXT   NOT NULL,                -- base64 ed25519 signature over the canonical message
    UNIQUE (proposal_id, approver)                  -- one decision per person per proposal
);

CREATE TABLE releases (
    id                 BIGSERIAL PRIMARY KEY,
    integration        TEXT   NOT NULL,
    spec_digest        TEXT   NOT NULL,
    proposal_id        BIGINT NOT NULL UNIQUE REFERENCES proposals (id),
    previous_release   BIGINT REFERENCES releases (id), -- NULL for the first
    required_approvals BIGINT NOT NULL CHECK (required_approvals IN (1, 2)),
    risk               TEXT   NOT NULL,                 -- JSON risk summary against the previous release
    created_at         BIGINT NOT NULL
);
-- A release chain never forks: one successor per release (and one first).
CREATE UNIQUE INDEX releases_chain ON releases (integration, COALESCE(previous_release, 0));

-- PostgreSQL checks that a referenced table exists, and proposals and
-- releases refer to each other: this one is added once both exist.
ALTER TABLE proposals ADD CONSTRAINT proposals_base_release_fkey FOREIGN KEY (base_release) REFERENCES releases (id);

CREATE TABLE release_approvals (
    release_id  BIGINT NOT NULL REFERENCES releases (id),
    approval_id BIGINT NOT NULL UNIQUE REFERENCES approvals (id),
    PRIMARY KEY (release_id, approval_id)
);

-- governance_refuse raises its trigger's one argument: the rules below
-- that always refuse share it, each with its own message.
-- +goose StatementBegin
CREATE FUNCTION governance_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
-- +goose StatementEnd

-- A proposal's content never changes (an edit is a new proposal); only an
-- open proposal's status may move, once.
-- +goose StatementBegin
CREATE FUNCTION proposals_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.integration IS DISTINCT FROM OLD.integration
       OR NEW.spec_text IS DISTINCT FROM OLD.spec_text OR NEW.spec_digest IS DISTINCT FROM OLD.spec_digest
       OR NEW.report_json IS DISTINCT FROM OLD.report_json OR NEW.author IS DISTINCT FROM OLD.author
       OR NEW.author_kind IS DISTINCT FROM OLD.author_kind OR NEW.base_release IS DISTINCT FROM OLD.base_release
       OR NEW.created_at IS DISTINCT FROM OLD.created_at OR OLD.status <> 'open' THEN
        RAISE EXCEPTION 'proposals are immutable once made and final once closed; propose the change again'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER proposals_immutable BEFORE UPDATE ON proposals
    FOR EACH ROW EXECUTE FUNCTION proposals_immutable();
CREATE TRIGGER proposals_no_delete BEFORE DELETE ON proposals
    FOR EACH ROW EXECUTE FUNCTION governance_refuse('proposals cannot be deleted: they are the release history');

CREATE TRIGGER approvals_no_update BEFORE UPDATE ON approvals
    FOR EACH ROW EXECUTE FUNCTION governance_refuse('a signed decision cannot be changed');
CREATE TRIGGER approvals_no_delete BEFORE DELETE ON approvals
    FOR EACH ROW EXECUTE FUNCTION governance_refuse('a signed decision cannot be deleted');

CREATE TRIGGER releases_no_update BEFORE UPDATE ON releases
    FOR EACH ROW EXECUTE FUNCTION governance_refuse('a release cannot be changed; release a new proposal');
CREATE TRIGGER releases_no_delete BEFORE DELETE ON releases
    FOR EACH ROW EXECUTE FUNCTION governance_refuse('a release cannot be deleted');

CREATE TRIGGER release_approvals_no_update BEFORE UPDATE ON release_approvals
    FOR EACH ROW EXECUTE FUNCTION governance_refuse('a release''s approvals cannot be changed');
CREATE TRIGGER release_approvals_no_delete BEFORE DELETE ON release_approvals
    FOR EACH ROW EXECUTE FUNCTION governance_refuse('a release''s approvals cannot be deleted');

-- A public key may only be retired, once; it is never edited or removed,
-- because old approvals are verified with it.
-- +goose StatementBegin
CREATE FUNCTION signing_keys_retire_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.fingerprint IS DISTINCT FROM OLD.fingerprint OR NEW.principal IS DISTINCT FROM OLD.principal
       OR NEW.public_key IS DISTINCT FROM OLD.public_key OR NEW.created_at IS DISTINCT FROM OLD.created_at
       OR OLD.retired_at IS NOT NULL THEN
        RAISE EXCEPTION 'a signing key can only be retired, once; create a new key instead'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER signing_keys_retire_only BEFORE UPDATE ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION signing_keys_retire_only();
CREATE TRIGGER signing_keys_no_delete BEFORE DELETE ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION governance_refuse('a signing key cannot be deleted: old approvals are verified with it');

-- TRUNCATE skips row triggers; SQLite has no TRUNCATE, so these keep the
-- same rule: no history table is emptied.
CREATE TRIGGER proposals_no_truncate BEFORE TRUNCATE ON proposals
    FOR EACH STATEMENT EXECUTE FUNCTION governance_refuse('proposals cannot be deleted: they are the release history');
CREATE TRIGGER approvals_no_truncate BEFORE TRUNCATE ON approvals
    FOR EACH STATEMENT EXECUTE FUNCTION governance_refuse('a signed decision cannot be deleted');
CREATE TRIGGER releases_no_truncate BEFORE TRUNCATE ON releases
    FOR EACH STATEMENT EXECUTE FUNCTION governance_refuse('a release cannot be deleted');
CREATE TRIGGER release_approvals_no_truncate BEFORE TRUNCATE ON release_approvals
    FOR EACH STATEMENT EXECUTE FUNCTION governance_refuse('a release''s approvals cannot be deleted');
CREATE TRIGGER signing_keys_no_truncate BEFORE TRUNCATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION governance_refuse('a signing key cannot be deleted: old approvals are verified with it');

-- +goose Down
-- Spindle never migrates down; this destroys the release history, so only
-- ever run it on a throwaway database. Dropping a table drops its triggers.
ALTER TABLE proposals DROP CONSTRAINT proposals_base_release_fkey;
DROP TABLE release_approvals;
DROP TABLE releases;
DROP TABLE approvals;
DROP TABLE proposals;
DROP TABLE signing_keys;
DROP TABLE principal_roles;
DROP FUNCTION signing_keys_retire_only();
DROP FUNCTION proposals_immutable();
DROP FUNCTION governance_refuse();
