package store

import (
	"encoding/json"
	"fmt"
	"maps"
)

// StreamColumns encodes a stream result's list-valued fields as both
// stores keep them in sync_streams: JSON text, or nil (SQL NULL) when
// empty. JSON also escapes what a text column cannot hold.
func StreamColumns(res StreamResult) (errs, nulls *string, err error) {
	if len(res.Errors) > 0 {
		b, err := json.Marshal(res.Errors)
		if err != nil {
			return nil, nil, fmt.Errorf("store: end stream %q: encode errors: %w", res.Stream, err)
		}
		errs = new(string(b))
	}
	if len(res.Nulls) > 0 {
		b, err := json.Marshal(res.Nulls)
		if err != nil {
			return nil, nil, fmt.Errorf("store: end stream %q: encode null counts: %w", res.Stream, err)
		}
		nulls = new(string(b))
	}
	return errs, nulls, nil
}

// ReadStreamColumns is the inverse of StreamColumns: it fills res.Errors
// and res.Nulls of run runID from the columns' text (nil for NULL).
func ReadStreamColumns(res *StreamResult, runID int64, errs, nulls *string) error {
	if errs != nil {
		if err := json.Unmarshal([]byte(*errs), &res.Errors); err != nil {
			return fmt.Errorf("store: run %d stream %s has corrupt errors: %w", runID, res.Stream, err)
		}
	}
	if nulls != nil {
		if err := json.Unmarshal([]byte(*nulls), &res.Nulls); err != nil {
			return fmt.Errorf("store: run %d stream %s has corrupt null counts: %w", runID, res.Stream, err)
		}
	}
	return nil
}

// Recorded is the copy of res a sync run keeps for Commit's Run: the
// caller may reuse its slice and map, and empty ones become nil, as Runs
// reads them back.
func (res StreamResult) Recorded() StreamResult {
	res.Errors = append([]string(nil), res.Errors...)
	if len(res.Errors) == 0 {
		res.Errors = nil
	}
	res.Nulls = maps.Clone(res.Nulls)
	if len(res.Nulls) == 0 {
		res.Nulls = nil
	}
	return res
}
