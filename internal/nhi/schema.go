package nhi

import (
	_ "embed"
)

// recordSchema is the JSON Schema (draft 2020-12) of a Record as JSON.
//
//go:embed record.schema.json
var recordSchema []byte

// RecordSchema returns the JSON Schema of a canonical record.
func RecordSchema() []byte { return append([]byte(nil), recordSchema...) }
