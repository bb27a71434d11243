-- Per stream of a sync run, how many records came out with each mapped
-- field null (store.StreamResult.Nulls): the contract checks compare these
-- rates against history, since a field that silently turns null is drift.

-- +goose Up
ALTER TABLE sync_streams ADD COLUMN nulls TEXT; -- JSON object {field: count}, NULL when none

-- +goose Down
ALTER TABLE sync_streams DROP COLUMN nulls;
