// Package postgres is the distributed store: the inventory and every
// control-plane table (audit, vault, governance, lifecycle, health, alerts,
// schedules) in one PostgreSQL database, shared by several worker processes
// on several machines. Schema by goose migrations embedded in the binary,
// numbered like SQLite's so one version means one schema on both.
//
// The control-plane packages take a *sql.DB and were written against
// SQLite; DB() hands them a connection that speaks their SQL ('?'
// placeholders) and serialises write transactions (see writerLockKey).
// The inventory's sync runs and River use the pgx pool directly.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the PostgreSQL store. It is safe for concurrent use, and by
// several processes at once.
type Store struct {
	pool *pgxpool.Pool
	db   *sql.DB
	// closing ends when Close is called; every open sync run's context
	// derives from it, so Close rolls the runs back and frees their
	// connections rather than waiting on them forever (pool.Close waits
	// for every acquired connection).
	closing   context.Context
	closeRuns context.CancelCauseFunc
}

// Open connects to the database at url (postgres://user@host:port/db?…),
// and brings its schema up to date. Several processes may Open the same
// database at once: migrations run under a PostgreSQL advisory lock.
func Open(ctx context.Context, url string) (*Store, error) {
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return nil, errors.New("store: --postgres needs a URL such as postgres://user@host:5432/spindle?sslmode=disable")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors can echo the URL, password included.
		return nil, errors.New("store: the --postgres URL does not parse; expected postgres://user[:password]@host[:port]/database[?sslmode=…]")
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default (4 on two cores) is too few for one process that
		// runs River's producer, several sync runs and the control plane's
		// reads beside a write transaction waiting for the writer lock.
		cfg.MaxConns = 20
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect to PostgreSQL at %s: %w", where(cfg), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect to PostgreSQL at %s (is it running, and does the database exist?): %w", where(cfg), err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: PostgreSQL at %s: %w", where(cfg), err)
	}
	db := sql.OpenDB(connector{stdlib.GetPoolConnector(pool)})
	db.SetMaxIdleConns(0) // the pool keeps the idle connections
	closing, closeRuns := context.WithCancelCause(context.Background())
	return &Store{pool: pool, db: db, closing: closing, closeRuns: closeRuns}, nil
}

// where names the server without credentials.
func where(cfg *pgxpool.Config) string {
	return fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
}

// migrate applies the embedded migrations the database lacks, holding a
// session advisory lock so concurrent starters apply them once.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	// Migrations see SQL as written: no placeholder rewriting, no writer lock.
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
		goose.WithSessionLocker(locker),
	)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > target {
		return fmt.Errorf("database schema version %d is newer than this build knows (%d); run a newer spindle", current, target)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate schema to version %d: %w", target, err)
	}
	return nil
}

// DB is the database/sql handle for the control-plane packages (audit,
// vault, governance, lifecycle, contract, alert, jobs): '?' placeholders,
// write transactions serialised.
func (s *Store) DB() *sql.DB { return s.db }

// Pool is the pgx pool, for River (riverpgxv5) and the inventory.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the connections. Open sync runs are rolled back.
func (s *Store) Close() error {
	s.closeRuns(errors.New("store: closed while the sync run was open"))
	err := s.db.Close()
	s.pool.Close()
	return err
}
