// Package pgtest gives tests a fresh PostgreSQL database of their own on
// the server named by $SPINDLE_TEST_POSTGRES (`.ci/postgres` starts one and
// prints its URL). Without it the test is skipped, unless
// $SPINDLE_REQUIRE_POSTGRES=1 (CI sets it) turns the skip into a failure, so
// CI can never pass by silently skipping PostgreSQL.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// URL creates an empty database for t, drops it when t ends, and returns
// its URL.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("SPINDLE_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("SPINDLE_REQUIRE_POSTGRES") == "1" {
			t.Fatal("SPINDLE_REQUIRE_POSTGRES=1 but SPINDLE_TEST_POSTGRES is unset: start a server with `export SPINDLE_TEST_POSTGRES=$(bash .ci/postgres)`")
		}
		t.Skip("PostgreSQL tests skipped: set SPINDLE_TEST_POSTGRES (`export SPINDLE_TEST_POSTGRES=$(bash .ci/postgres)`)")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("SPINDLE_TEST_POSTGRES does not parse as a URL")
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "spindle_test_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to $SPINDLE_TEST_POSTGRES: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
