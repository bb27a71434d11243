package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/stdlib"
)

// writerLockKey is the advisory lock every control-plane write transaction
// takes first (pg_advisory_xact_lock, released at commit or rollback). The
// audit chain, approvals and releases were written for SQLite, where one
// writer at a time is the storage engine's rule (BEGIN IMMEDIATE); taking
// one lock keeps those invariants (one chain head, one release per
// approval) on PostgreSQL without re-deriving each package's isolation
// story. Control-plane transactions are short; inventory syncs and River do
// not use this path, so workers still sync in parallel.
const writerLockKey int64 = 0x5350494e444c45 // "SPINDLE"

// connector hands database/sql connections that speak the packages' SQL:
// '?' placeholders (rebound to $n) and the one-writer rule above.
type connector struct{ base driver.Connector }

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := dc.(*stdlib.Conn)
	if !ok {
		dc.Close()
		return nil, errors.New("postgres: pgx stdlib returned an unexpected connection type")
	}
	return &conn{pc}, nil
}

func (c connector) Driver() driver.Driver { return c.base.Driver() }

// conn embeds pgx's connection (so database/sql sees every optional
// interface it implements) and rewrites queries on the way in.
type conn struct{ *stdlib.Conn }

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(Rebind(query))
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, Rebind(query))
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, Rebind(query), args)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, Rebind(query), args)
}

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil || opts.ReadOnly {
		return tx, err
	}
	if _, err := c.Conn.Conn().Exec(ctx, "SELECT pg_advisory_xact_lock($1)", writerLockKey); err != nil {
		tx.Rollback() //nolint:errcheck // the lock error is the one to report
		return nil, err
	}
	return tx, nil
}

// Rebind rewrites '?' placeholders to PostgreSQL's $1, $2, … in order,
// leaving string literals, quoted identifiers, dollar-quoted bodies and
// comments alone.
func Rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		ch := q[i]
		switch {
		case ch == '\'' || ch == '"':
			j := closing(q, i+1, ch)
			b.WriteString(q[i:j])
			i = j - 1
		case ch == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j - 1
		case ch == '/' && i+1 < len(q) && q[i+1] == '*':
			j := strings.Index(q[i+2:], "*/")
			end := len(q)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			b.WriteString(q[i:end])
			i = end - 1
		case ch == '$':
			if tag, ok := dollarTag(q[i:]); ok {
				j := strings.Index(q[i+len(tag):], tag)
				end := len(q)
				if j >= 0 {
					end = i + len(tag) + j + len(tag)
				}
				b.WriteString(q[i:end])
				i = end - 1
			} else {
				b.WriteByte(ch)
			}
		case ch == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

// closing is the index just past the quote that closes a literal opened
// before start (a doubled quote inside is an escaped quote).
func closing(q string, start int, quote byte) int {
	for j := start; j < len(q); j++ {
		if q[j] == quote {
			if j+1 < len(q) && q[j+1] == quote {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(q)
}

// dollarTag reports the $tag$ opening a dollar-quoted string at s, if any.
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '$':
			return s[:j+1], true
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (j > 1 && c >= '0' && c <= '9'):
		default:
			return "", false
		}
	}
	return "", false
}
