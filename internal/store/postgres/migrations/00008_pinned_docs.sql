-- Pinned vendor docs (PostgreSQL). Same shape as SQLite's 00008: the exact
-- bytes of the API document each proposed spec was built from, keyed by
-- their sha256; never rewritten; times are BIGINT Unix nanoseconds.

-- +goose Up
CREATE TABLE pinned_docs (
    sha256    TEXT   PRIMARY KEY,               -- hex sha256 of content
    location  TEXT   NOT NULL,                  -- where it was first read from (a file path or URL)
    size      BIGINT NOT NULL,
    content   BYTEA  NOT NULL,
    pinned_at BIGINT NOT NULL
);

-- +goose StatementBegin
CREATE FUNCTION pinned_docs_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'pinned docs are content-addressed and never rewritten';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER pinned_docs_immutable BEFORE UPDATE ON pinned_docs
    FOR EACH ROW EXECUTE FUNCTION pinned_docs_immutable();

-- +goose Down
DROP TRIGGER pinned_docs_immutable ON pinned_docs;
DROP FUNCTION pinned_docs_immutable();
DROP TABLE pinned_docs;
