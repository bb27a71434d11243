package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestTokenCommands: create prints the token once on stdout (and never
// elsewhere), list never shows it, revoke takes it away; the rules on who
// may issue and revoke hold.
func TestTokenCommands(t *testing.T) {
	g := newGovEnv(t)
	g.people()
	r := g.run(0, "token", "create", "--role", "approver", "--as", "alice")
	tok := strings.TrimSpace(r.stdout)
	if !regexp.MustCompile(`^spx_[A-Za-z0-9_-]{43}$`).MatchString(tok) || strings.Contains(r.stderr, tok) {
		t.Fatalf("token create: %s", r)
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"token", "create", "--role", "admin", "--as", "alice"}, 1, "does not hold role admin"},
		{[]string{"token", "create", "--role", "viewer", "--for", "vera", "--as", "alice"}, 1, "only an admin"},
		{[]string{"token", "create", "--role", "viewer", "--for", "vera", "--as", "root", "--ttl", "1h"}, 0, ""},
		{[]string{"token", "create", "--role", "agent", "--for", "agent:heuristic", "--as", "root", "--json"}, 0, `"role": "agent"`},
		{[]string{"token", "create", "--role", "boss", "--as", "root"}, 2, "--role"},
		{[]string{"token", "create", "--role", "viewer"}, 2, "--as"},
		{[]string{"token", "revoke", "1", "--as", "vera"}, 1, "only an admin"},
		{[]string{"token", "revoke", "x", "--as", "root"}, 2, "not a token ID"},
		{[]string{"token", "revoke", "1", "--as", "alice"}, 0, "revoked token 1"},
		{[]string{"token", "revoke", "1", "--as", "root"}, 1, "already revoked"},
	}
	for _, c := range cases {
		r := g.run(c.code, c.args...)
		if !strings.Contains(r.stdout+r.stderr, c.want) {
			t.Errorf("spindle %s: want %q in %s", strings.Join(c.args, " "), c.want, r)
		}
	}
	r = g.run(0, "token", "list")
	if strings.Contains(r.stdout, tok) || !strings.Contains(r.stdout, "revoked by alice") {
		t.Fatalf("token list: %s", r)
	}
	var ts []map[string]any
	if err := json.Unmarshal([]byte(g.run(0, "token", "list", "--json").stdout), &ts); err != nil || len(ts) != 3 {
		t.Fatalf("token list --json: %v %v", ts, err)
	}
	db, err := os.ReadFile(g.db)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte(tok)) {
		t.Fatal("the database file holds the plaintext token")
	}
}

// TestServe starts `spindle serve` on a free port with a server-custodied
// key, calls the API with a token, and stops it with the context (the
// signal), gracefully.
func TestServe(t *testing.T) {
	g := newGovEnv(t)
	g.people()
	// (--db directly: g.run adds --key-dir, which --custody server refuses.)
	if r := mustSpindle(t, 1, "keys", "create", "carol", "--custody", "server", "--db", g.db); !strings.Contains(r.stderr, "holds no role") {
		t.Fatalf("a key for someone without a role: %s", r)
	}
	g.run(0, "role", "grant", "carol", "approver", "--as", "root")
	r := mustSpindle(t, 0, "keys", "create", "carol", "--custody", "server", "--db", g.db)
	if !strings.Contains(r.stdout, "kept by the server") {
		t.Fatalf("keys create --custody server: %s", r)
	}
	mustSpindle(t, 2, "keys", "create", "carol", "--custody", "cloud", "--db", g.db)
	mustSpindle(t, 2, "keys", "create", "carol", "--custody", "server", "--key-dir", g.keys, "--db", g.db)
	tok := strings.TrimSpace(g.run(0, "token", "create", "--role", "approver", "--as", "carol").stdout)

	ctx, stop := context.WithCancel(t.Context())
	stderr := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", g.db, "--workers=false"},
			strings.NewReader(""), io.Discard, stderr)
	}()
	re := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+)`)
	var base string
	for base == "" {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s", code, stderr)
		default:
		}
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
		} else {
			time.Sleep(10 * time.Millisecond) // polling for the log line, not a deadline
		}
	}
	req, _ := http.NewRequest("GET", base+"/api/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Contains(body, []byte(`"name":"carol"`)) {
		t.Fatalf("whoami: %d %s", res.StatusCode, body)
	}
	stop()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, stderr)
	}
	if strings.Contains(stderr.String(), tok) {
		t.Fatal("the server log carries the token")
	}
}
