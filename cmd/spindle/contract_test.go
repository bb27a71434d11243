package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spindlehq/spindle/internal/apisurface"
	"github.com/spindlehq/spindle/internal/sandbox"
)

// TestContractFailsSilentShrink: two good syncs give every stream a
// history; then the vendor stand-in serves far fewer entities. Every
// stream still completes — the run itself is "ok" — but the contract
// checks see each list shrink past the bound, so sync exits 3, the health
// recorded and shown by integration list is failing, and the audit log
// has the contract.check with the failing checks.
func TestContractFailsSilentShrink(t *testing.T) {
	run := releasedAcme(t)

	ctx := context.Background()
	surf, err := apisurface.Load(ctx, exampleDoc, apisurface.Options{})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(addr string, entities int) *sandbox.Server {
		t.Helper()
		sb, err := sandbox.New(surf, sandbox.Options{Seed: 3, Entities: entities})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := sb.Start(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		return srv
	}
	srv := serve("127.0.0.1:0", 0)
	host := strings.TrimPrefix(srv.Origin(), "http://")
	run(0, srv.Credentials()[0].Value+"\n", "credential", "set", "acme-cloud-credential", "--integration", "acme-cloud", "--host", host, "--as", "olivia")
	run(0, "", "terms", "accept", "acme-cloud", "--as", "olivia")

	// Two good syncs: the first has no history to judge counts by.
	first := run(0, "", "sync", "acme-cloud", "--as", "olivia", "--base-url", srv.URL())
	if !strings.Contains(first.stdout, "contract healthy") {
		t.Errorf("first sync:\n%s", first.stdout)
	}
	run(0, "", "sync", "acme-cloud", "--as", "olivia", "--base-url", srv.URL())
	if h := integrationHealth(t, run(0, "", "integration", "list", "--json").stdout, "acme-cloud"); h != "healthy" {
		t.Errorf("health after two good syncs: %s", h)
	}

	// The same vendor, same credential, same host: far fewer entities.
	srv.Close()
	small := serve(host, 3)
	shrunk := run(3, "", "sync", "acme-cloud", "--as", "olivia", "--base-url", small.URL())
	if !strings.Contains(shrunk.stdout, "status ok") || !strings.Contains(shrunk.stdout, "contract failing") || !strings.Contains(shrunk.stdout, "fail count:") {
		t.Errorf("shrunk sync:\n%s\nstderr:\n%s", shrunk.stdout, shrunk.stderr)
	}
	if !strings.Contains(shrunk.stderr, "contract failing") {
		t.Errorf("shrunk sync stderr:\n%s", shrunk.stderr)
	}
	list := run(0, "", "integration", "list", "--json")
	if h := integrationHealth(t, list.stdout, "acme-cloud"); h != "failing" {
		t.Errorf("health after the shrink: %s\n%s", h, list.stdout)
	}
	table := run(0, "", "integration", "list")
	if !strings.Contains(table.stdout, "failing") || !strings.Contains(table.stdout, "contract checks of run 3 failed") {
		t.Errorf("integration list:\n%s", table.stdout)
	}
	log := run(0, "", "audit", "log", "--action", "contract.check", "--json")
	for _, want := range []string{`"action":"contract.check"`, `"boundary":"production"`, `"health":"failing"`, `"health":"healthy"`, `count:`} {
		if !strings.Contains(log.stdout, want) {
			t.Errorf("audit log lacks %s:\n%s", want, log.stdout)
		}
	}
	run(0, "", "audit", "verify")

	// Back to the full list: the contract holds again and health recovers.
	small.Close()
	full := serve(host, 0)
	run(0, "", "sync", "acme-cloud", "--as", "olivia", "--base-url", full.URL())
	if h := integrationHealth(t, run(0, "", "integration", "list", "--json").stdout, "acme-cloud"); h != "healthy" {
		t.Errorf("health after recovery: %s", h)
	}
}

func integrationHealth(t *testing.T, out, name string) string {
	t.Helper()
	var rows []struct {
		Name   string `json:"name"`
		Health string `json:"health"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("integration list --json: %v\n%s", err, out)
	}
	for _, r := range rows {
		if r.Name == name {
			return r.Health
		}
	}
	t.Fatalf("%s not listed:\n%s", name, out)
	return ""
}
