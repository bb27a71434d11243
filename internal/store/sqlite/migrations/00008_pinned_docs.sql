-- Pinned vendor docs (internal/drift, issue 6): the exact bytes of the API
-- document each proposed spec was built from, stored by their sha256 (the
-- spec's metadata.source_doc.sha256), so a drift check always has the
-- baseline the release was built against, even after the file or URL at
-- the recorded location changed. Content-addressed: one row per distinct
-- document however many proposals share it; a row is never rewritten, and
-- readers re-hash the content before trusting it. Only the root document
-- of a multi-file doc is stored (see docs/drift.md). Times are INTEGER Unix
-- nanoseconds.

-- +goose Up
CREATE TABLE pinned_docs (
    sha256    TEXT    PRIMARY KEY,              -- hex sha256 of content
    location  TEXT    NOT NULL,                 -- where it was first read from (a file path or URL)
    size      INTEGER NOT NULL,
    content   BLOB    NOT NULL,
    pinned_at INTEGER NOT NULL
);

-- +goose StatementBegin
CREATE TRIGGER pinned_docs_immutable BEFORE UPDATE ON pinned_docs
BEGIN
    SELECT RAISE(ABORT, 'pinned docs are content-addressed and never rewritten');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER pinned_docs_immutable;
DROP TABLE pinned_docs;
