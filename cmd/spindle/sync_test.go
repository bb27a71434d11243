package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/sandbox"
)

// TestGovernedPath is the README walkthrough: the agent builds, a person
// proposes nothing but reviews, two approvers sign, an operator provisions
// the credential and accepts the terms, and only then does the released
// digest sync — against a sandbox standing in for the vendor. Every step
// is audited and the chains verify.
func TestGovernedPath(t *testing.T) {
	dir := t.TempDir()
	db, keys := filepath.Join(dir, "spindle.db"), filepath.Join(dir, "keys")
	run := dbRunner(t, db)

	bundle := filepath.Join(dir, "acme")
	run(0, "", "build", exampleDoc, "--out", bundle, "--owner", "identity-team@example.com")
	run(0, "", "role", "grant", "root", "admin")
	for _, p := range [][2]string{{"alice", "approver"}, {"bob", "approver"}, {"olivia", "operator"}} {
		run(0, "", "role", "grant", p[0], p[1], "--as", "root")
	}
	run(0, "", "keys", "create", "alice", "--key-dir", keys)
	run(0, "", "keys", "create", "bob", "--key-dir", keys)

	// The agent's proposal; nobody can sync it yet.
	run(0, "", "propose", bundle)
	run(1, "", "sync", "acme-cloud", "--as", "olivia")
	rev := run(0, "", "review", "1")
	if !strings.Contains(rev.stdout, "new integration") {
		t.Errorf("review:\n%s", rev.stdout)
	}
	// A new integration needs two approvers; the agent can approve nothing.
	run(1, "", "approve", "1", "--as", "agent:heuristic", "--key-dir", keys)
	run(0, "", "approve", "1", "--as", "alice", "--key-dir", keys)
	run(0, "", "approve", "1", "--as", "bob", "--key-dir", keys)
	run(0, "", "release", "verify", "acme-cloud")

	// The vendor stand-in: a sandbox of the same doc on loopback.
	ctx := context.Background()
	surf, err := apisurface.Load(ctx, exampleDoc, apisurface.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(surf, sandbox.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sb.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	token := srv.Credentials()[0].Value
	if token == "" {
		t.Fatalf("no sandbox credential: %+v", srv.Credentials())
	}
	host := strings.TrimPrefix(srv.Origin(), "http://")

	// Refusals before the credential and terms exist, and for the agent.
	run(1, "", "sync", "acme-cloud", "--as", "agent:heuristic", "--base-url", srv.URL())
	run(1, "", "sync", "acme-cloud", "--as", "alice", "--base-url", srv.URL()) // an approver does not run production
	run(0, token+"\n", "credential", "set", "acme-cloud-credential", "--integration", "acme-cloud", "--host", host, "--as", "olivia")
	noTerms := run(1, "", "sync", "acme-cloud", "--as", "olivia", "--base-url", srv.URL())
	if !strings.Contains(noTerms.stderr, "terms accept") {
		t.Errorf("sync without terms: %s", noTerms.stderr)
	}
	run(0, "", "terms", "accept", "acme-cloud", "--as", "olivia")

	// A credential is released only to the host it is bound to.
	run(1, "", "sync", "acme-cloud", "--as", "olivia")

	s := run(0, "", "sync", "acme-cloud", "--as", "olivia", "--base-url", srv.URL())
	if !strings.Contains(s.stdout, "status ok") {
		t.Errorf("sync:\n%s", s.stdout)
	}
	inv := run(0, "", "inventory", "list", "--source", "acme-cloud", "--json")
	if !strings.Contains(inv.stdout, `"kind":"api_key"`) {
		t.Errorf("inventory after sync:\n%.500s", inv.stdout)
	}
	log := run(0, "", "audit", "log", "--action", "sync", "--json")
	for _, want := range []string{`"action":"sync.start"`, `"action":"sync.finish"`, `"boundary":"production"`, `"status":"ok"`} {
		if !strings.Contains(log.stdout, want) {
			t.Errorf("audit log lacks %s:\n%s", want, log.stdout)
		}
	}
	run(0, "", "audit", "verify")
	run(0, "", "release", "verify", "acme-cloud")

	// The secret never appears in anything the commands printed or stored
	// in the audit log.
	all := run(0, "", "audit", "log", "--limit", "0", "--json")
	for _, out := range []string{s.stdout, s.stderr, inv.stdout, all.stdout} {
		if strings.Contains(out, token) {
			t.Fatal("the credential appeared in output")
		}
	}
}

// releasedAcme takes the bundled example through the governed path up to
// its release (build, roles, keys, propose, two approvals) in a fresh
// database, and returns a runner of spindle commands against it.
func releasedAcme(t *testing.T) func(want int, stdin string, args ...string) cliResult {
	t.Helper()
	dir := t.TempDir()
	db, keys := filepath.Join(dir, "spindle.db"), filepath.Join(dir, "keys")
	run := dbRunner(t, db)
	bundle := filepath.Join(dir, "acme")
	run(0, "", "build", exampleDoc, "--out", bundle, "--owner", "identity-team@example.com")
	run(0, "", "role", "grant", "root", "admin")
	for _, p := range [][2]string{{"alice", "approver"}, {"bob", "approver"}, {"olivia", "operator"}} {
		run(0, "", "role", "grant", p[0], p[1], "--as", "root")
	}
	for _, who := range []string{"alice", "bob"} {
		run(0, "", "keys", "create", who, "--key-dir", keys)
	}
	run(0, "", "propose", bundle)
	for _, who := range []string{"alice", "bob"} {
		run(0, "", "approve", "1", "--as", who, "--key-dir", keys)
	}
	return run
}

// dbRunner runs spindle commands with stdin against one database and
// fails the test unless each exits with the code it wants.
func dbRunner(t *testing.T, db string) func(want int, stdin string, args ...string) cliResult {
	return func(want int, stdin string, args ...string) cliResult {
		t.Helper()
		r := spindleIn(t, stdin, append(args, "--db", db)...)
		if r.code != want {
			t.Fatalf("spindle %s: want exit %d, got %s", strings.Join(args, " "), want, r)
		}
		return r
	}
}
