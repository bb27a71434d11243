package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"

	"github.com/spindlehq/spindle/internal/store"
	"github.com/spindlehq/spindle/internal/store/postgres"
	"github.com/spindlehq/spindle/internal/store/sqlite"
)

// database is the store a command works on: the SQLite file --db (the
// embedded default) or, with --postgres, a PostgreSQL database that
// several worker processes on several machines share. Either holds the
// inventory and every control-plane table (audit, vault, governance,
// lifecycle, health, alerts, schedules).
type database interface {
	store.Store
	// DB is the handle the control-plane packages take.
	DB() *sql.DB
	// PurgeSourceTx is offboarding's --purge (internal/lifecycle).
	PurgeSourceTx(ctx context.Context, tx *sql.Tx, source string) (int64, error)
}

var (
	_ database = (*sqlite.Store)(nil)
	_ database = (*postgres.Store)(nil)
)

// postgresURL is --postgres, else $SPINDLE_POSTGRES (read here rather than
// as the flag's default, so --help never shows a URL that may hold a
// password). "" means the SQLite file --db.
func (a *app) postgresURL() string {
	if a.pgURL != "" {
		return a.pgURL
	}
	return os.Getenv("SPINDLE_POSTGRES")
}

// haveDB reports whether there is a database to read: PostgreSQL always,
// SQLite when the file exists (reading commands never create one).
func (a *app) haveDB() bool {
	if a.postgresURL() != "" {
		return true
	}
	_, err := os.Stat(a.dbPath)
	return err == nil
}

// openDB opens --postgres when given, else --db. With mustExist a missing
// SQLite file is an error, missing (a format with one %s: the path), so
// reading and deciding commands never create an empty database.
func (a *app) openDB(ctx context.Context, mustExist bool, missing string) (database, error) {
	if u := a.postgresURL(); u != "" {
		return postgres.Open(ctx, u)
	}
	if mustExist {
		if _, err := os.Stat(a.dbPath); err != nil {
			if missing == "" {
				missing = "no database at %s: pass --db (or set SPINDLE_DB), or --postgres"
			}
			return nil, fmt.Errorf(missing, a.dbPath)
		}
	}
	return sqlite.Open(ctx, a.dbPath)
}
